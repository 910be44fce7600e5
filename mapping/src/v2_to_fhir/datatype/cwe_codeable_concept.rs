//! `CWE[CodeableConcept]`: HL7 v2 CWE (also CE, CNE) → FHIR CodeableConcept.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-cwe-to-codeableconcept.html>
//!
//! Each valued triplet (CWE.1–3 with .7 and .14, CWE.4–6 with .8 and .17, CWE.10–12 with .13
//! and .20) becomes one `coding`: code, display, version, and the system from the coding system
//! OID (`urn:oid:`, preferred when given) or the coding system name through the profile's
//! [`Systems`](crate::Systems). CWE.9 (original text) becomes `text`. A coding system nobody
//! knows gets the profile's fallback URI and is reported ([`DataProblem::UnknownSystem`]).
//! CWE.15, .16, .18, .19, .21, .22 (value set OIDs and versions) are reported when valued.

use ehrkit_fhir_model::{CodeableConcept, Coding, Primitive};
use ehrkit_hl7v2::datatypes::{Coding as V2Coding, Cwe};

use super::{has_text, report_past_last, report_unmapped, text, text_ref, Context};
use crate::{DataProblem, Location, ReportKind, SystemSource};

/// Converts one CWE repetition found at `at`. `None` when nothing is valued.
pub fn cwe_codeable_concept(
    cwe: &Cwe<'_>,
    ctx: &mut Context<'_>,
    at: &Location,
) -> Option<CodeableConcept> {
    if cwe.is_empty() || cwe.is_null() {
        return None;
    }
    // Component numbers of (system name) per triplet, for report locations. A triplet whose
    // code and text (CWE.4/.5, CWE.10/.11) lie past the last component is absent: not read.
    let written = cwe.component_count();
    let alternate = if written >= 4 { cwe.alternate() } else { None };
    let second = if written >= 10 {
        cwe.second_alternate()
    } else {
        None
    };
    let triplets = [(cwe.primary(), 3), (alternate, 6), (second, 12)];
    let mut cc = CodeableConcept::default();
    for (coding, system_component) in triplets {
        if let Some(c) = coding {
            cc.coding
                .push(coding_of(&c, ctx, &at.clone().component(system_component)));
        }
    }
    cc.text = text(cwe.original_text()).map(Primitive::new);
    crate::quirks::codeable_concept(&mut cc, ctx, at);
    report_unmapped(
        ctx,
        at,
        [15, 16, 18, 19, 21, 22].map(|n| (n, n <= written && has_text(cwe.component(n)))),
    );
    report_past_last(ctx, at, cwe.component_count(), 22, |n| cwe.component(n));
    (!cc.coding.is_empty() || cc.text.is_some()).then_some(cc)
}

fn coding_of(c: &V2Coding<'_>, ctx: &mut Context<'_>, system_at: &Location) -> Coding {
    // Only looked up: borrowed from the message.
    let oid = text_ref(c.coding_system_oid);
    let name = text_ref(c.coding_system);
    let quirk =
        crate::quirks::coding_system(ctx.profile, name.as_deref(), oid.is_some(), system_at);
    let system = match (&oid, &name) {
        _ if quirk.is_some() => quirk.map(|u| (u, SystemSource::Profile)),
        (Some(oid), _) => ctx
            .systems
            .coding_system(oid)
            .map(|u| (u.uri.into_owned(), u.source)),
        (None, Some(name)) => ctx
            .systems
            .coding_system(name)
            .map(|u| (u.uri.into_owned(), u.source)),
        (None, None) => None,
    };
    if let Some((_, SystemSource::Fallback)) = &system {
        ctx.report(
            ReportKind::DataQuality(DataProblem::UnknownSystem),
            system_at.clone(),
        );
    }
    Coding {
        system: system.map(|(uri, _)| Primitive::new(uri)),
        version: text(c.coding_system_version_id).map(Primitive::new),
        code: text(c.identifier).map(Primitive::new),
        display: text(c.text).map(Primitive::new),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    fn run(raw: &[u8]) -> (Option<CodeableConcept>, Vec<String>) {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let cwe = Cwe::parse(raw, &Delimiters::default());
        let cc = cwe_codeable_concept(&cwe, &mut ctx, &Location::segment("OBX", 1).field(3));
        (
            cc,
            ctx.report.entries().iter().map(|e| e.to_string()).collect(),
        )
    }

    fn s(p: &Option<Primitive<String>>) -> Option<&str> {
        p.as_ref().and_then(|p| p.value.as_deref())
    }

    #[test]
    fn triplets_become_codings() {
        let (cc, report) = run(b"2345-7^Glucose^LN^GLU^Glucose (local)^99LAB^2.76^^Blood sugar");
        let cc = cc.unwrap();
        assert_eq!(cc.coding.len(), 2);
        assert_eq!(s(&cc.coding[0].system), Some("http://loinc.org"));
        assert_eq!(s(&cc.coding[0].code), Some("2345-7"));
        assert_eq!(s(&cc.coding[0].display), Some("Glucose"));
        assert_eq!(s(&cc.coding[0].version), Some("2.76"));
        assert_eq!(
            s(&cc.coding[1].system),
            Some("urn:ehrkit:unknown-system:codesystem:99LAB")
        );
        assert_eq!(s(&cc.text), Some("Blood sugar"));
        assert_eq!(
            report,
            ["OBX[1]-3.6: unknown coding or identifier system; fallback URI used"]
        );
    }

    #[test]
    fn the_oid_wins_and_escapes_are_decoded() {
        let (cc, _) = run(br"F^Fish \T\ chips^L^^^^^^^^^^^2.16.840.1.113883.6.1");
        let cc = cc.unwrap();
        assert_eq!(
            s(&cc.coding[0].system),
            Some("urn:oid:2.16.840.1.113883.6.1")
        );
        assert_eq!(s(&cc.coding[0].display), Some("Fish & chips"));
    }

    #[test]
    fn nothing_valued_is_none() {
        assert_eq!(run(b"").0, None);
        assert_eq!(run(b"\"\"").0, None);
        assert_eq!(run(b"^^^").0, None);
    }
}
