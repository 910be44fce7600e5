//! `CX[Identifier]`: HL7 v2 CX → FHIR Identifier.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-cx-to-identifier.html>
//!
//! - CX.1 → `value`.
//! - CX.4 (assigning authority, HD) → `system` through the profile's
//!   [`Systems`](crate::Systems) (the IG: "IF CX.4 IN the identifier registry" → system). An
//!   authority nobody knows gets the profile's fallback URI and is reported
//!   ([`DataProblem::UnknownSystem`]); the IG's alternative (an assigner Organization) comes
//!   with the segment maps that create Organizations.
//! - CX.5 → `type.coding` through the IG map `IdentifierType` (HL7 table 0203); a code the map
//!   does not list is kept with system `…/v2-0203` and reported.
//! - CX.7 / CX.8 (DT) → `period.start` / `period.end`.
//! - CX.2, CX.3 (check digit extensions), CX.6, CX.9–CX.12 are reported when valued.

use ehrkit_fhir_model::{CodeableConcept, Coding, Identifier, Period, Primitive};
use ehrkit_hl7v2::datatypes::{Cx, Hd};

use super::dtm::read_date;
use super::{has_text, report_past_last, report_unmapped, text, text_ref, Context};
use crate::v2_to_fhir::vocab::{generated::IDENTIFIER_TYPE, Translation};
use crate::{Authority, DataProblem, Location, ProfileTranslation, ReportKind, SystemSource};

/// Converts one CX repetition found at `at`. `None` when CX.1 is not valued (an identifier
/// without a value is reported as [`DataProblem::MissingRequired`] when anything else is there).
pub fn cx_identifier(cx: &Cx<'_>, ctx: &mut Context<'_>, at: &Location) -> Option<Identifier> {
    if cx.is_empty() || cx.is_null() {
        return None;
    }
    let Some(value) = text(cx.id_number()) else {
        ctx.report(
            ReportKind::DataQuality(DataProblem::MissingRequired),
            at.clone().component(1),
        );
        return None;
    };
    let mut id = Identifier {
        value: Some(Primitive::new(value)),
        ..Default::default()
    };
    if let Some(hd) = cx.assigning_authority() {
        id.system = system_of(&hd, ctx, &at.clone().component(4)).map(Primitive::new);
    }
    if let Some(code) = text_ref(cx.identifier_type_code()) {
        id.type_ = Some(Box::new(identifier_type(
            &code,
            ctx,
            &at.clone().component(5),
        )));
    }
    let start = read_date(cx.effective_date(), ctx, at.clone().component(7));
    let end = read_date(cx.expiration_date(), ctx, at.clone().component(8));
    if start.is_some() || end.is_some() {
        id.period = Some(Box::new(Period {
            start: start.map(Primitive::new),
            end: end.map(Primitive::new),
            ..Default::default()
        }));
    }
    // Components past the last one written are absent: one scan, not one per number.
    let count = cx.component_count();
    report_unmapped(
        ctx,
        at,
        [2, 3, 6, 9, 10, 11, 12].map(|n| (n, n <= count && has_text(cx.component(n)))),
    );
    report_past_last(ctx, at, cx.component_count(), 12, |n| cx.component(n));
    Some(id)
}

/// The identifier system of an assigning authority (HD), reporting an unknown one at `at`.
pub(crate) fn system_of(hd: &Hd<'_>, ctx: &mut Context<'_>, at: &Location) -> Option<String> {
    // Only looked up: borrowed from the message.
    let (ns, uid, ty) = (
        text_ref(hd.namespace_id()),
        text_ref(hd.universal_id()),
        text_ref(hd.universal_id_type()),
    );
    let uri = ctx.systems.identifier_system(Authority {
        namespace: ns.as_deref(),
        universal_id: uid.as_deref(),
        universal_id_type: ty.as_deref(),
    })?;
    let (uri, source) = (uri.uri.into_owned(), uri.source);
    if source == SystemSource::Fallback {
        ctx.report(
            ReportKind::DataQuality(DataProblem::UnknownSystem),
            at.clone(),
        );
    }
    Some(uri)
}

/// `Identifier.type` from an HL7 table 0203 code through the IG map (and profile overrides).
pub(crate) fn identifier_type(code: &str, ctx: &mut Context<'_>, at: &Location) -> CodeableConcept {
    let code = &*crate::quirks::identifier_type_code(ctx.profile, code);
    let coding = match ctx.profile.translate(&IDENTIFIER_TYPE, code) {
        ProfileTranslation::Override(o) => Coding {
            system: Some(Primitive::new(o.system.clone())),
            code: Some(Primitive::new(o.code.clone())),
            display: o.display.clone().map(Primitive::new),
            ..Default::default()
        },
        ProfileTranslation::Ig(Translation::Mapped(c)) => Coding {
            system: Some(Primitive::new(c.system.to_owned())),
            code: Some(Primitive::new(c.code.to_owned())),
            display: (!c.display.is_empty()).then(|| Primitive::new(c.display.to_owned())),
            ..Default::default()
        },
        _ => {
            ctx.report(
                ReportKind::VocabularyMiss {
                    map: IDENTIFIER_TYPE.name,
                },
                at.clone(),
            );
            Coding {
                system: Some(Primitive::new(
                    "http://terminology.hl7.org/CodeSystem/v2-0203".to_owned(),
                )),
                code: Some(Primitive::new(code.to_owned())),
                ..Default::default()
            }
        }
    };
    CodeableConcept {
        coding: vec![coding],
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    fn run(profile: &crate::Profile, raw: &[u8]) -> (Option<Identifier>, Vec<String>) {
        let mut ctx = Context::new(profile);
        let cx = Cx::parse(raw, &Delimiters::default());
        let id = cx_identifier(
            &cx,
            &mut ctx,
            &Location::segment("PID", 1).field(3).repetition(1),
        );
        (
            id,
            ctx.report.entries().iter().map(|e| e.to_string()).collect(),
        )
    }

    fn s(p: &Option<Primitive<String>>) -> Option<&str> {
        p.as_ref().and_then(|p| p.value.as_deref())
    }

    #[test]
    fn oid_authority_and_mapped_type() {
        let (id, report) = run(
            &crate::Profile::generic(),
            b"E1234^^^UCH&2.16.840.1.113883.19.5&ISO^MR^^20200101",
        );
        let id = id.unwrap();
        assert_eq!(s(&id.value), Some("E1234"));
        assert_eq!(s(&id.system), Some("urn:oid:2.16.840.1.113883.19.5"));
        let ty = &id.type_.unwrap().coding[0];
        assert_eq!(s(&ty.code), Some("MR"));
        assert_eq!(
            s(&ty.system),
            Some("http://terminology.hl7.org/CodeSystem/v2-0203")
        );
        let start = id.period.unwrap().start.unwrap().value.unwrap();
        assert_eq!(start.as_str(), "2020-01-01");
        assert!(report.is_empty(), "{report:?}");
    }

    #[test]
    fn well_known_authority() {
        let (id, _) = run(&crate::Profile::generic(), b"123456789^^^SSA^SS");
        assert_eq!(
            s(&id.unwrap().system),
            Some("http://hl7.org/fhir/sid/us-ssn")
        );
    }

    #[test]
    fn unknown_authority_and_type_are_kept_and_reported() {
        let (id, report) = run(&crate::Profile::generic(), b"X9^^^LOCALHOSP^ZZ^FAC");
        let id = id.unwrap();
        assert_eq!(
            s(&id.system),
            Some("urn:ehrkit:unknown-system:identifier:LOCALHOSP")
        );
        assert_eq!(s(&id.type_.unwrap().coding[0].code), Some("ZZ"));
        assert_eq!(
            report,
            [
                "PID[1]-3(1).4: unknown coding or identifier system; fallback URI used",
                "PID[1]-3(1).5: code not in the IG map IdentifierType",
                "PID[1]-3(1).6: component not mapped",
            ]
        );
        // The profile knows the authority: no report for it.
        let site = crate::Profile::generic()
            .identifier_system("LOCALHOSP", "https://fhir.local.test/sid/mrn");
        let (id, report) = run(&site, b"X9^^^LOCALHOSP");
        assert_eq!(
            s(&id.unwrap().system),
            Some("https://fhir.local.test/sid/mrn")
        );
        assert!(report.is_empty());
    }

    #[test]
    fn a_cx_without_an_id_is_reported_not_emitted() {
        let (id, report) = run(&crate::Profile::generic(), b"^^^SSA^SS");
        assert!(id.is_none());
        assert_eq!(report, ["PID[1]-3(1).1: required value absent"]);
        assert_eq!(run(&crate::Profile::generic(), b"").0, None);
    }
}
