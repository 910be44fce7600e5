//! `DLN[Identifier]`: HL7 v2 DLN (driver's license) → FHIR Identifier.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-dln-to-identifier.html>
//!
//! DLN.1 → `value` with `type` `DL` (HL7 table 0203); DLN.2 (issuing state, province or
//! country, CWE) → `system`, through the profile's [`Systems`](crate::Systems) with the
//! jurisdiction's code (or text) as the authority name: a profile maps `WI` to that state's
//! license system; an unknown one gets the fallback URI and is reported. DLN.3 → `period.end`.

use ehrkit_fhir_model::{CodeableConcept, Coding, Identifier, Period, Primitive};
use ehrkit_hl7v2::datatypes::Dln;

use super::dtm::read_date;
use super::{text, Context};
use crate::{Authority, DataProblem, Location, ReportKind, SystemSource};

/// Converts one DLN found at `at`. `None` when DLN.1 is not valued (reported when anything else
/// is there).
pub fn dln_identifier(dln: &Dln<'_>, ctx: &mut Context<'_>, at: &Location) -> Option<Identifier> {
    if dln.is_empty() || dln.is_null() {
        return None;
    }
    let Some(value) = text(dln.license_number()) else {
        ctx.report(
            ReportKind::DataQuality(DataProblem::MissingRequired),
            at.clone().component(1),
        );
        return None;
    };
    let mut id = Identifier {
        value: Some(Primitive::new(value)),
        type_: Some(Box::new(CodeableConcept {
            coding: vec![Coding {
                system: Some(Primitive::new(
                    "http://terminology.hl7.org/CodeSystem/v2-0203".to_owned(),
                )),
                code: Some(Primitive::new("DL".to_owned())),
                ..Default::default()
            }],
            ..Default::default()
        })),
        ..Default::default()
    };
    let jurisdiction = dln
        .issuing_state_province_country()
        .and_then(|c| text(c.identifier()).or_else(|| text(c.text())));
    if let Some(j) = jurisdiction {
        if let Some(u) = ctx.systems.identifier_system(Authority {
            namespace: Some(&j),
            ..Authority::default()
        }) {
            let (uri, source) = (u.uri.into_owned(), u.source);
            if source == SystemSource::Fallback {
                ctx.report(
                    ReportKind::DataQuality(DataProblem::UnknownSystem),
                    at.clone().component(2),
                );
            }
            id.system = Some(Primitive::new(uri));
        }
    }
    if let Some(end) = read_date(dln.expiration_date(), ctx, at.clone().component(3)) {
        id.period = Some(Box::new(Period {
            end: Some(Primitive::new(end)),
            ..Default::default()
        }));
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    #[test]
    fn license_with_a_known_and_an_unknown_jurisdiction() {
        let site = crate::Profile::generic().identifier_system("WI", "https://dmv.wi.test/dl");
        let mut ctx = Context::new(&site);
        let at = Location::segment("PID", 1).field(20);
        let d = Delimiters::default();
        let id = dln_identifier(&Dln::parse(b"S1234567^WI^20300101", &d), &mut ctx, &at).unwrap();
        assert_eq!(
            id.system.unwrap().value.as_deref(),
            Some("https://dmv.wi.test/dl")
        );
        assert_eq!(
            id.period.unwrap().end.unwrap().value.unwrap().as_str(),
            "2030-01-01"
        );
        assert!(ctx.report.is_empty());
        let id = dln_identifier(&Dln::parse(b"X1^ZZ", &d), &mut ctx, &at).unwrap();
        assert_eq!(
            id.system.unwrap().value.as_deref(),
            Some("urn:ehrkit:unknown-system:identifier:ZZ")
        );
        assert_eq!(
            ctx.report.entries()[0].to_string(),
            "PID[1]-20.2: unknown coding or identifier system; fallback URI used"
        );
    }
}
