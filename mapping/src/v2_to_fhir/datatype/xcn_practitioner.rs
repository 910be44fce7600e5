//! `XCN[Practitioner]`: HL7 v2 XCN → FHIR Practitioner.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-xcn-to-practitioner.html>
//!
//! - XCN.1 → `identifier.value`, XCN.9 (assigning authority) → its `system` (as CX.4, through
//!   the profile's systems), XCN.13 → its `type` (IG map `IdentifierType`).
//! - XCN.2 (FN) → `name.family`; XCN.3, XCN.4 → `name.given`; XCN.5, XCN.21 → `name.suffix`;
//!   XCN.6 → `name.prefix`.
//! - XCN.7 (degree), XCN.8, XCN.10–12, XCN.14–20, XCN.22–25 are reported when valued (the
//!   qualification, name use and period rows are not written yet).

use ehrkit_fhir_model::resources::Practitioner;
use ehrkit_fhir_model::{HumanName, Identifier, Primitive};
use ehrkit_hl7v2::datatypes::Xcn;

use super::cx_identifier::{identifier_type, system_of};
use super::{report_past_last, report_unmapped, text, text_ref, Context};
use crate::{DataProblem, Location, ReportKind};

/// Converts one XCN repetition found at `at`. `None` when neither an id nor a name is valued.
pub fn xcn_practitioner(
    xcn: &Xcn<'_>,
    ctx: &mut Context<'_>,
    at: &Location,
) -> Option<Practitioner> {
    if xcn.is_empty() || xcn.is_null() {
        return None;
    }
    let mut p = Practitioner::default();
    if let Some(value) = text(xcn.id_number()) {
        let mut id = Identifier {
            value: Some(Primitive::new(value)),
            ..Default::default()
        };
        if let Some(hd) = xcn.assigning_authority() {
            id.system = system_of(&hd, ctx, &at.clone().component(9)).map(Primitive::new);
        }
        if let Some(code) = text_ref(xcn.identifier_type_code()) {
            id.type_ = Some(Box::new(identifier_type(
                &code,
                ctx,
                &at.clone().component(13),
            )));
        }
        p.identifier.push(id);
    }
    let s = |v: Option<String>| v.map(Primitive::new);
    let name = HumanName {
        family: s(text(xcn.surname())),
        given: [
            text(xcn.given_name()),
            text(xcn.second_and_further_given_names_or_initials_thereof()),
        ]
        .into_iter()
        .flatten()
        .map(Primitive::new)
        .collect(),
        prefix: text(xcn.prefix()).map(Primitive::new).into_iter().collect(),
        suffix: [text(xcn.suffix()), text(xcn.professional_suffix())]
            .into_iter()
            .flatten()
            .map(Primitive::new)
            .collect(),
        ..Default::default()
    };
    if name != HumanName::default() {
        p.name.push(name);
    }
    if p.identifier.is_empty() && p.name.is_empty() {
        ctx.report(
            ReportKind::DataQuality(DataProblem::MissingRequired),
            at.clone().component(1),
        );
        return None;
    }
    let valued = |n: usize| xcn.component(n).is_some();
    report_unmapped(
        ctx,
        at,
        [7, 8, 10, 11, 12, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24, 25].map(|n| (n, valued(n))),
    );
    report_past_last(ctx, at, xcn.component_count(), 25, |n| xcn.component(n));
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    #[test]
    fn id_system_type_and_name() {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let xcn = Xcn::parse(
            b"1234567890^WELBY^MARCUS^J^JR^DR^MD^^NPI^L^^^NPI",
            &Delimiters::default(),
        );
        let at = Location::segment("PV1", 1).field(7);
        let p = xcn_practitioner(&xcn, &mut ctx, &at).unwrap();
        let id = &p.identifier[0];
        assert_eq!(
            id.value.as_ref().unwrap().value.as_deref(),
            Some("1234567890")
        );
        assert_eq!(
            id.system.as_ref().unwrap().value.as_deref(),
            Some("http://hl7.org/fhir/sid/us-npi")
        );
        let n = &p.name[0];
        assert_eq!(n.family.as_ref().unwrap().value.as_deref(), Some("WELBY"));
        assert_eq!(n.given.len(), 2);
        assert_eq!(n.prefix[0].value.as_deref(), Some("DR"));
        // XCN.7 (degree) and XCN.10 (name type) are not carried: reported, by location.
        let reported: Vec<String> = ctx
            .report
            .entries()
            .iter()
            .map(|e| e.location.to_string())
            .collect();
        assert!(reported.contains(&"PV1[1]-7.7".to_owned()), "{reported:?}");
        assert!(reported.contains(&"PV1[1]-7.10".to_owned()), "{reported:?}");
    }

    #[test]
    fn empty_gives_none() {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let xcn = Xcn::parse(b"^^^^^^^^^L", &Delimiters::default());
        assert!(xcn_practitioner(&xcn, &mut ctx, &Location::segment("PV1", 1).field(7)).is_none());
        assert_eq!(ctx.report.len(), 1);
    }
}
