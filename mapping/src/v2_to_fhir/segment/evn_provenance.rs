//! `EVN[Provenance]`: HL7 v2 EVN (event type) → FHIR Provenance.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-evn-to-provenance.html>
//!
//! - `activity.coding.display`: the message type and event (`ADT^A01`; the spreadsheet's
//!   assignment `"event - :"+MSG.1+"^"+MSG.2` is read as the message code and event).
//! - EVN-2 → `recorded` (an `instant`: it needs an offset, its own or the profile's zone). When
//!   EVN-2 cannot give one, the caller falls back to MSH-7; without either, FHIR's required
//!   `recorded` cannot be written and the message map leaves the Provenance out (reported).
//! - EVN-4 → `reason` (`CWE[CodeableConcept]` plus the `v3-ActReason` coding through the IG map
//!   `EventReason`); `U` → a reason carrying only the `data-absent-reason` extension (`unknown`;
//!   that extension's value is a `code`, so `valueCode`, not the spreadsheet's
//!   `valueCodeableConcept`).
//! - EVN-5 → `agent.who`, a Practitioner (`XCN[Practitioner]`), added by the caller. Without
//!   EVN-5 the IG's message maps use `MSH[Provenance-Operator]` (the sending facility as an
//!   Organization); the message map does that.
//! - EVN-6 → `occurredDateTime`.
//! - EVN-7 → `location`, a Location identified by the HD (`HD[Location]`), added by the caller.
//! - `target`: the IG points at the MessageHeader; the message map points at the resources the
//!   event is about (the Patient and Encounter), which every Bundle type has.
//! - EVN-1 (event type code, deprecated: MSH-9.2 says it) and EVN-3 (planned date) have no row
//!   and are reported when valued.

use ehrkit_fhir_model::resources::{
    Location as FhirLocation, Practitioner, Provenance, ProvenanceOccurred,
};
use ehrkit_fhir_model::{CodeableConcept, Coding, Extension, ExtensionValue, Instant, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Hd, Text, Xcn};
use ehrkit_hl7v2::Segment;

use super::{mapped_in, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, dtm, hd_identifier::hd_identifier, text,
    xcn_practitioner::xcn_practitioner, Context,
};
use crate::v2_to_fhir::vocab::generated::EVENT_REASON;
use crate::v2_to_fhir::vocab::Translation;
use crate::{DataProblem, Location, ProfileTranslation, ReportKind};

const FILE: &str = "segment/evn_provenance.rs";

/// `http://hl7.org/fhir/StructureDefinition/data-absent-reason`.
pub const DATA_ABSENT_REASON: &str = "http://hl7.org/fhir/StructureDefinition/data-absent-reason";

/// Fields this map reads.
const MAPPED_FIELDS: &[usize] = &[2, 4, 5, 6, 7];

/// A Provenance and the resources its agent and location point to.
#[derive(Debug, Clone)]
pub struct ProvenanceParts {
    /// The Provenance: no id, target or agent yet; `recorded` when EVN-2 gave an instant.
    pub provenance: Provenance,
    /// EVN-5, the operator, with its location.
    pub operator: Option<(Practitioner, Location)>,
    /// EVN-7 as a Location and its identity key (the HD as written).
    pub location: Option<(FhirLocation, String)>,
}

/// Converts the `occurrence`-th EVN of a message of type `message_type` (`ADT^A01`).
pub fn evn_provenance(
    evn: &Segment<'_>,
    occurrence: usize,
    message_type: &str,
    ctx: &mut Context<'_>,
) -> ProvenanceParts {
    let at = |field: usize| Location::segment("EVN", occurrence).field(field);
    let mut p = Provenance {
        activity: Some(Box::new(CodeableConcept {
            coding: vec![Coding {
                display: Some(Primitive::new(message_type.to_owned())),
                ..Default::default()
            }],
            ..Default::default()
        })),
        ..Default::default()
    };

    p.recorded = read_instant(evn.field(2).first::<Text<'_>>(), ctx, &at(2));

    if let Some(cwe) = evn.field(4).first::<Cwe<'_>>() {
        let code = text(cwe.identifier());
        if code.as_deref() == Some("U") {
            p.reason.push(CodeableConcept {
                extension: vec![Extension {
                    url: Some(DATA_ABSENT_REASON.to_owned()),
                    value: Some(ExtensionValue::Code(Primitive::new("unknown".to_owned()))),
                    ..Default::default()
                }],
                ..Default::default()
            });
        } else {
            let mut cc = cwe_codeable_concept(&cwe, ctx, &at(4));
            if let Some(code) = code {
                let act = match ctx.profile.translate(&EVENT_REASON, &code) {
                    ProfileTranslation::Override(o) => Some(Coding::with_code(&o.system, &o.code)),
                    ProfileTranslation::Ig(Translation::Mapped(c)) => {
                        Some(Coding::with_code(c.system, c.code).display(c.display))
                    }
                    _ => {
                        // The v2 code is kept in the reason's own coding.
                        None
                    }
                };
                if let Some(act) = act {
                    cc.get_or_insert_with(CodeableConcept::default)
                        .coding
                        .push(act);
                }
            }
            p.reason.extend(cc);
        }
    }

    let operator = evn.field(5).first::<Xcn<'_>>().and_then(|x| {
        let at5 = at(5).repetition(1);
        xcn_practitioner(&x, ctx, &at5).map(|p| (p, at5))
    });
    if evn.field(5).repetition_count() > 1 {
        ctx.report(ReportKind::UnmappedField, at(5).repetition(2));
    }

    p.occurred = dtm::read_date_time(evn.field(6).first::<Text<'_>>(), ctx, at(6))
        .map(|d| ProvenanceOccurred::DateTime(Primitive::new(d)));

    let location = evn
        .field(7)
        .first::<Hd<'_>>()
        .filter(|hd| !hd.is_empty() && !hd.is_null())
        .and_then(|hd| {
            let identifier = hd_identifier(&hd, ctx);
            if identifier.is_empty() {
                return None;
            }
            let location = FhirLocation {
                name: text(hd.namespace_id()).map(Primitive::new),
                identifier,
                ..Default::default()
            };
            let raw = String::from_utf8_lossy(hd.raw());
            Some((location, format!("evn-7:{}:{raw}", raw.len())))
        });

    for f in 1..=evn.field_count() {
        let field = evn.field(f);
        if !MAPPED_FIELDS.contains(&f) && field.repetition_count() > 0 && !field.is_null() {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    ProvenanceParts {
        provenance: p,
        operator,
        location,
    }
}

/// A DTM component as an `instant`, problems reported at `at`.
pub(crate) fn read_instant(
    t: Option<Text<'_>>,
    ctx: &mut Context<'_>,
    at: &Location,
) -> Option<Primitive<Instant>> {
    let t = t.filter(|t| !t.is_null() && !t.is_empty())?;
    let Ok(v) = t.dtm() else {
        ctx.report(
            ReportKind::DataQuality(DataProblem::InvalidDateTime),
            at.clone(),
        );
        return None;
    };
    match dtm::instant(&v, ctx.profile.source_time_zone) {
        Ok(c) => {
            if let Some(p) = c.problem {
                ctx.report(ReportKind::DataQuality(p), at.clone());
            }
            Some(Primitive::new(c.value))
        }
        Err(p) => {
            ctx.report(ReportKind::DataQuality(p), at.clone());
            None
        }
    }
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

/// The spreadsheet rows of `EVN[Provenance]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("EVN", "activity.coding.display"),
    mapped("EVN-2", "recorded"),
    mapped("EVN-4", "reason"),
    mapped("EVN-4", "reason.extension[1].url"),
    mapped("EVN-4", "reason.extension[1].valueCodeableConcept"),
    mapped("EVN-5", "agent.who(Practitioner)"),
    mapped("EVN-6", "occurredDateTime"),
    mapped("EVN-7", "location(Location)"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Message;

    #[test]
    fn recorded_reason_operator_location() {
        let profile = crate::Profile::generic();
        let msg = Message::parse(
            b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rEVN|A01|202603011200-0500||01^Patient request^HL70062|OP77^CLERK^ANN|202603011155-0500|EAST^1.2.3.4^ISO\r",
        )
        .unwrap();
        let mut ctx = Context::new(&profile);
        let parts = evn_provenance(&msg.segment("EVN", 1).unwrap(), 1, "ADT^A01", &mut ctx);
        let p = parts.provenance;
        assert_eq!(
            p.recorded.unwrap().value.unwrap().as_str(),
            "2026-03-01T12:00:00-05:00"
        );
        let codes: Vec<_> = p.reason[0]
            .coding
            .iter()
            .map(|c| c.code.as_ref().unwrap().value.clone().unwrap())
            .collect();
        assert_eq!(codes, ["01", "PATRQT"]);
        assert!(parts.operator.is_some());
        assert!(parts.location.is_some());
        assert!(matches!(p.occurred, Some(ProvenanceOccurred::DateTime(_))));
        let report: Vec<String> = ctx.report.entries().iter().map(|e| e.to_string()).collect();
        assert_eq!(report, ["EVN[1]-1: field not mapped"]);
    }

    #[test]
    fn unknown_reason_and_zoneless_time() {
        let profile = crate::Profile::generic();
        let msg =
            Message::parse(b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rEVN||202603011200||U\r")
                .unwrap();
        let mut ctx = Context::new(&profile);
        let parts = evn_provenance(&msg.segment("EVN", 1).unwrap(), 1, "ADT^A01", &mut ctx);
        assert!(parts.provenance.recorded.is_none());
        assert_eq!(
            parts.provenance.reason[0].extension[0].url.as_deref(),
            Some(DATA_ABSENT_REASON)
        );
        let report: Vec<String> = ctx.report.entries().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            report,
            ["EVN[1]-2: timestamp without offset and no source time zone; day kept"]
        );
    }
}
