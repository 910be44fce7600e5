//! Quirks applied at the end of `PID[Patient]`: identifiers (primary, PID-2 ids, enterprise
//! authorities), names, race codes, Z-segment extensions.

use ehrkit_fhir_model::codes::{IdentifierUse, NameUse};
use ehrkit_fhir_model::resources::Patient;
use ehrkit_fhir_model::{Coding, Extension, ExtensionValue, Identifier, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Cx, Xpn};
use ehrkit_hl7v2::Segment;

use super::{v2_0203, zsegments, ZTarget};
use crate::v2_to_fhir::datatype::{text, Context};
use crate::{Location, Quirk, ReportKind};

const US_CORE_RACE: &str = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race";
const CDC_RACE: &str = "urn:oid:2.16.840.1.113883.6.238";

/// The OMB race categories (CDC Race & Ethnicity code system) and their displays.
const OMB: &[(&str, &str)] = &[
    ("1002-5", "American Indian or Alaska Native"),
    ("2028-9", "Asian"),
    ("2054-5", "Black or African American"),
    ("2076-8", "Native Hawaiian or Other Pacific Islander"),
    ("2106-3", "White"),
];

/// Where one of `Patient.identifier[0..]` came from (PID-2/3/4, in `pid_patient`'s order).
struct Source {
    field: usize,
    authority: Option<String>,
    type_code: Option<String>,
}

/// Applies the Patient quirks of the profile to `p`, converted from `pid` (the
/// `occurrence`-th PID).
pub(crate) fn patient(
    pid: &Segment<'_>,
    occurrence: usize,
    p: &mut Patient,
    ctx: &mut Context<'_>,
) {
    let profile = ctx.profile;
    let identifier_quirks = [
        Quirk::PatientIdInPid2,
        Quirk::Pid2ExternalIdType,
        Quirk::EnterpriseAuthority,
        Quirk::PrimaryIdentifier,
    ];
    let sources = if identifier_quirks.iter().any(|&q| profile.has(q)) {
        sources(pid)
    } else {
        Vec::new()
    };
    let n = sources.len().min(p.identifier.len());

    if profile.has(Quirk::PatientIdInPid2) && !sources.iter().any(|s| s.field == 3) {
        if let Some(system) = &profile.v2.patient_id_system {
            for (s, id) in sources.iter().zip(&mut p.identifier[..n]) {
                if s.authority.is_none() && id.system.is_none() {
                    id.system = Some(Primitive::new(system.clone()));
                    if id.type_.is_none() {
                        id.type_ = Some(Box::new(v2_0203("MR")));
                    }
                }
            }
        }
    }
    if profile.has(Quirk::Pid2ExternalIdType) {
        if let Some(ty) = &profile.v2.pid2_type {
            for (s, id) in sources.iter().zip(&mut p.identifier[..n]) {
                if s.field == 2 && s.type_code.is_none() && id.type_.is_none() {
                    id.type_ = Some(Box::new(v2_0203(ty)));
                }
            }
        }
    }
    if profile.has(Quirk::EnterpriseAuthority) {
        let enterprise: Vec<bool> = sources
            .iter()
            .map(|s| {
                s.authority
                    .as_ref()
                    .is_some_and(|a| profile.v2.enterprise_authorities.contains(a))
            })
            .collect();
        for (e, id) in enterprise.iter().zip(&mut p.identifier[..n]) {
            if *e {
                id.use_ = Some(Primitive::new(IdentifierUse::Official));
            }
        }
        to_front(&mut p.identifier, &enterprise);
    }
    if profile.has(Quirk::PrimaryIdentifier) {
        if let Some(primary) = &profile.v2.primary_identifier {
            let first = sources.iter().position(|s| {
                s.field == 3
                    && (s.authority.as_ref() == Some(primary)
                        || s.type_code.as_ref() == Some(primary))
            });
            if let Some(i) = first.filter(|&i| i < p.identifier.len()) {
                let id = p.identifier.remove(i);
                p.identifier.insert(0, id);
            }
        }
    }
    if profile.has(Quirk::LegalNameWithoutType) {
        legal_name(pid, p);
    }
    if profile.has(Quirk::RaceCodeMap) {
        race(pid, occurrence, p, ctx);
    }
    if profile.has(Quirk::ZSegmentExtensions) {
        zsegments::apply(pid.message(), ZTarget::Patient, &mut p.extension, ctx);
    }
}

/// The sources of the identifiers `pid_patient` wrote from PID-2/3/4, in its order: a CX
/// becomes an identifier exactly when it is valued and has a CX.1 (see `cx_identifier`).
fn sources(pid: &Segment<'_>) -> Vec<Source> {
    let mut out = Vec::new();
    for f in [2, 3, 4] {
        for cx in pid.field(f).repetitions::<Cx<'_>>() {
            if cx.is_empty() || cx.is_null() || text(cx.id_number()).is_none() {
                continue;
            }
            out.push(Source {
                field: f,
                authority: cx
                    .assigning_authority()
                    .and_then(|hd| text(hd.namespace_id())),
                type_code: text(cx.identifier_type_code()),
            });
        }
    }
    out
}

/// Moves the identifiers flagged in `flags` (aligned with the first ones) to the front, in order.
fn to_front(ids: &mut Vec<Identifier>, flags: &[bool]) {
    let mut flagged = Vec::new();
    let mut rest = Vec::new();
    for (i, id) in std::mem::take(ids).into_iter().enumerate() {
        if flags.get(i).copied().unwrap_or(false) {
            flagged.push(id);
        } else {
            rest.push(id);
        }
    }
    flagged.extend(rest);
    *ids = flagged;
}

/// [`Quirk::LegalNameWithoutType`]: no PID-5 repetition typed `L` → the first untyped PID-5 name
/// is `official`.
fn legal_name(pid: &Segment<'_>, p: &mut Patient) {
    let reps: Vec<Xpn<'_>> = pid.field(5).repetitions::<Xpn<'_>>().collect();
    if reps
        .iter()
        .any(|x| text(x.name_type_code()).as_deref() == Some("L"))
    {
        return;
    }
    let Some(untyped) = reps
        .iter()
        .find(|x| text(x.name_type_code()).is_none() && text(x.surname()).is_some())
    else {
        return;
    };
    let family = text(untyped.surname());
    let given = text(untyped.given_name());
    let found = p.name.iter_mut().find(|n| {
        n.use_.is_none()
            && n.family.as_ref().and_then(|f| f.value.clone()) == family
            && n.given.first().and_then(|g| g.value.clone()) == given
    });
    if let Some(name) = found {
        name.use_ = Some(Primitive::new(NameUse::Official));
    }
}

/// [`Quirk::RaceCodeMap`]: PID-10 through the site's race codes into the US Core race
/// extension; a code the table does not know is reported.
fn race(pid: &Segment<'_>, occurrence: usize, p: &mut Patient, ctx: &mut Context<'_>) {
    let mut parts = Vec::new();
    let mut texts = Vec::new();
    for (r, cwe) in pid.field(10).repetitions::<Cwe<'_>>().enumerate() {
        let Some(code) = text(cwe.identifier()) else {
            continue;
        };
        let at = Location::segment("PID", occurrence)
            .field(10)
            .repetition(r + 1)
            .component(1);
        let cdc = match ctx.profile.v2.race_codes.get(&code) {
            Some(c) => c.clone(),
            None if OMB.iter().any(|(c, _)| *c == code) => code,
            None => {
                ctx.report(ReportKind::VocabularyMiss { map: "RaceCodes" }, at);
                continue;
            }
        };
        let omb = OMB.iter().find(|(c, _)| *c == cdc);
        let display = omb
            .map(|(_, d)| (*d).to_owned())
            .or_else(|| text(cwe.text()));
        // US Core requires the text: the display, else the code.
        texts.push(display.clone().unwrap_or_else(|| cdc.clone()));
        parts.push(Extension {
            url: Some(
                if omb.is_some() {
                    "ombCategory"
                } else {
                    "detailed"
                }
                .to_owned(),
            ),
            value: Some(ExtensionValue::Coding(Box::new(Coding {
                system: Some(Primitive::new(CDC_RACE.to_owned())),
                code: Some(Primitive::new(cdc)),
                display: display.map(Primitive::new),
                ..Default::default()
            }))),
            ..Default::default()
        });
    }
    if parts.is_empty() {
        return;
    }
    texts.dedup();
    parts.push(Extension {
        url: Some("text".to_owned()),
        value: Some(ExtensionValue::String(Primitive::new(texts.join(", ")))),
        ..Default::default()
    });
    p.extension.push(Extension {
        url: Some(US_CORE_RACE.to_owned()),
        extension: parts,
        ..Default::default()
    });
}
