//! `XON[Organization]`: HL7 v2 XON → FHIR Organization.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-xon-to-organization.html>
//!
//! - XON.1 → `name`.
//! - XON.10 → `identifier.value`; XON.3 (the older numeric id) when XON.10 is not valued.
//! - XON.6 (assigning authority, an HD) → `identifier.system` through the profile's
//!   [`Systems`](crate::Systems) (the IG's `HD[uri]`); the `assigner` Organization of the same
//!   row is not written (the system already names the authority).
//! - XON.7 → `identifier.type` through the IG map `IdentifierType`.
//! - XON.2 (name type), XON.4/XON.5 (check digit and scheme: identifier extensions in the IG, not
//!   written), XON.8, XON.9 are reported when valued.

use ehrkit_fhir_model::resources::Organization;
use ehrkit_fhir_model::{Identifier, Primitive};
use ehrkit_hl7v2::datatypes::Xon;

use super::cx_identifier::{identifier_type, system_of};
use super::{has_text, report_past_last, report_unmapped, text, text_ref, Context};
use crate::Location;

/// Converts one XON repetition found at `at`. `None` when neither a name nor an id is valued.
pub fn xon_organization(
    xon: &Xon<'_>,
    ctx: &mut Context<'_>,
    at: &Location,
) -> Option<Organization> {
    if xon.is_empty() || xon.is_null() {
        return None;
    }
    let mut o = Organization {
        name: text(xon.organization_name()).map(Primitive::new),
        ..Default::default()
    };
    let value = text(xon.organization_identifier()).or_else(|| text(xon.id_number()));
    if let Some(value) = value {
        let mut id = Identifier {
            value: Some(Primitive::new(value)),
            ..Default::default()
        };
        if let Some(hd) = xon.assigning_authority() {
            id.system = system_of(&hd, ctx, &at.clone().component(6)).map(Primitive::new);
        }
        if let Some(code) = text_ref(xon.identifier_type_code()) {
            id.type_ = Some(Box::new(identifier_type(
                &code,
                ctx,
                &at.clone().component(7),
            )));
        }
        o.identifier.push(id);
    }
    // XON.3 is read only when XON.10 is empty: when both are valued, XON.3 is not carried.
    let both = has_text(xon.organization_identifier()) && has_text(xon.id_number());
    report_unmapped(
        ctx,
        at,
        [
            (2, has_text(xon.organization_name_type_code())),
            (3, both),
            (4, has_text(xon.identifier_check_digit())),
            (5, has_text(xon.check_digit_scheme())),
            (8, xon.assigning_facility().is_some_and(|h| !h.is_empty())),
            (9, has_text(xon.name_representation_code())),
        ],
    );
    report_past_last(ctx, at, xon.component_count(), 10, |n| xon.component(n));
    (o.name.is_some() || !o.identifier.is_empty()).then_some(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    #[test]
    fn name_identifier_system_and_type() {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let xon = Xon::parse(
            b"Blue Cross of Wisconsin^L^^^^BCBS&2.16.840.1.113883.3.99&ISO^XX^^^BCBSWI01",
            &Delimiters::default(),
        );
        let o = xon_organization(&xon, &mut ctx, &Location::segment("IN1", 1).field(4)).unwrap();
        assert_eq!(
            o.name.unwrap().value.as_deref(),
            Some("Blue Cross of Wisconsin")
        );
        let id = &o.identifier[0];
        assert_eq!(
            id.value.as_ref().unwrap().value.as_deref(),
            Some("BCBSWI01")
        );
        assert_eq!(
            id.system.as_ref().unwrap().value.as_deref(),
            Some("urn:oid:2.16.840.1.113883.3.99")
        );
        let ty = id.type_.as_ref().unwrap();
        assert_eq!(
            ty.coding[0].code.as_ref().unwrap().value.as_deref(),
            Some("XX")
        );
        let report: Vec<String> = ctx.report.entries().iter().map(|e| e.to_string()).collect();
        assert_eq!(report, ["IN1[1]-4.2: component not mapped"]);
    }

    #[test]
    fn empty_gives_nothing() {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let xon = Xon::parse(b"", &Delimiters::default());
        assert!(xon_organization(&xon, &mut ctx, &Location::segment("IN1", 1)).is_none());
    }
}
