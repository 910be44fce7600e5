//! `XAD[Address]`: HL7 v2 XAD → FHIR Address.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-xad-to-address.html>
//!
//! - XAD.1 (SAD: street or mailing address, street name, dwelling number), XAD.2 and XAD.19 →
//!   `line`, in that order.
//! - XAD.3 `city`, XAD.4 `state`, XAD.5 `postalCode`, XAD.6 `country` (as given), XAD.9 →
//!   `district` (its code, or its text).
//! - XAD.7: `M` and `SH` → `type` through `AddressType[Type]`; `BA`, `BI`, `C`, `B`, `H`, `O` →
//!   `use` through `AddressType[Use]` (as the IG's conditions say); any other code is reported
//!   as a vocabulary miss (the IG's `iso21090-AD-use` and v2-0190 extensions are not written).
//! - XAD.13 / XAD.14 → `period`. XAD.8, XAD.10–XAD.12, XAD.15–XAD.18, XAD.20–XAD.23 are
//!   reported when valued.

use ehrkit_fhir_model::codes::{AddressType, AddressUse};
use ehrkit_fhir_model::{Address, Period, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Xad};

use super::dtm::read_date_time;
use super::xtn_contact_point::translate;
use super::{has_text, report_past_last, report_unmapped, text, text_ref, Context};
use crate::v2_to_fhir::vocab::generated::{ADDRESS_TYPE_TYPE, ADDRESS_TYPE_USE};
use crate::{Location, ReportKind};

/// Converts one XAD repetition found at `at`. `None` when no address part is valued.
pub fn xad_address(xad: &Xad<'_>, ctx: &mut Context<'_>, at: &Location) -> Option<Address> {
    if xad.is_empty() || xad.is_null() {
        return None;
    }
    let mut line = Vec::new();
    if let Some(sad) = xad.street_address() {
        line.extend(
            [
                text(sad.street_or_mailing_address()),
                text(sad.street_name()),
                text(sad.dwelling_number()),
            ]
            .into_iter()
            .flatten(),
        );
    }
    line.extend(text(xad.other_designation()));
    line.extend(text(xad.addressee()));
    let district = xad.county_parish_code().and_then(|t| {
        let cwe = Cwe::parse_in_component(t.raw(), t.delimiters());
        text(cwe.identifier()).or_else(|| text(cwe.text()))
    });
    let mut address = Address {
        line: line.into_iter().map(Primitive::new).collect(),
        city: text(xad.city()).map(Primitive::new),
        state: text(xad.state_or_province()).map(Primitive::new),
        postal_code: text(xad.zip_or_postal_code()).map(Primitive::new),
        country: text(xad.country()).map(Primitive::new),
        district: district.map(Primitive::new),
        ..Default::default()
    };
    let empty = address.line.is_empty()
        && address.city.is_none()
        && address.state.is_none()
        && address.postal_code.is_none()
        && address.country.is_none()
        && address.district.is_none();
    if empty {
        return None;
    }
    if let Some(code) = text_ref(xad.address_type()) {
        let profile: &crate::Profile = ctx.profile;
        let code = crate::quirks::display_code(profile, ADDRESS_TYPE_USE.name, &code);
        let at7 = at.clone().component(7);
        match code {
            "M" | "SH" => {
                address.type_ = translate(&ADDRESS_TYPE_TYPE, code, ctx, &at7)
                    .and_then(AddressType::from_code)
                    .map(Primitive::new);
            }
            "BA" | "BI" | "C" | "B" | "H" | "O" => {
                address.use_ = translate(&ADDRESS_TYPE_USE, code, ctx, &at7)
                    .and_then(AddressUse::from_code)
                    .map(Primitive::new);
            }
            _ => ctx.report(
                ReportKind::VocabularyMiss {
                    map: ADDRESS_TYPE_USE.name,
                },
                at7,
            ),
        }
    }
    let start = read_date_time(
        xad.effective_date().and_then(|t| t.time()),
        ctx,
        at.clone().component(13),
    );
    let end = read_date_time(
        xad.expiration_date().and_then(|t| t.time()),
        ctx,
        at.clone().component(14),
    );
    if start.is_some() || end.is_some() {
        address.period = Some(Box::new(Period {
            start: start.map(Primitive::new),
            end: end.map(Primitive::new),
            ..Default::default()
        }));
    }
    // Components past the last one written are absent: one scan, not one per number.
    let count = xad.component_count();
    report_unmapped(
        ctx,
        at,
        [8, 10, 11, 12, 15, 16, 17, 18, 20, 21, 22, 23]
            .map(|n| (n, n <= count && has_text(xad.component(n)))),
    );
    report_past_last(ctx, at, xad.component_count(), 23, |n| xad.component(n));
    Some(address)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    fn run(raw: &[u8]) -> (Option<Address>, Vec<String>) {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let a = xad_address(
            &Xad::parse(raw, &Delimiters::default()),
            &mut ctx,
            &Location::segment("PID", 1).field(11).repetition(1),
        );
        (
            a,
            ctx.report.entries().iter().map(|e| e.to_string()).collect(),
        )
    }

    fn strs(v: &[Primitive<String>]) -> Vec<&str> {
        v.iter().filter_map(|p| p.value.as_deref()).collect()
    }

    #[test]
    fn home_address() {
        let (a, report) = run(b"123 MAIN ST&MAIN ST&123^APT 4^MADISON^WI^53703^USA^H^^DANE");
        let a = a.unwrap();
        assert_eq!(strs(&a.line), ["123 MAIN ST", "MAIN ST", "123", "APT 4"]);
        assert_eq!(a.city.unwrap().value.as_deref(), Some("MADISON"));
        assert_eq!(a.postal_code.unwrap().value.as_deref(), Some("53703"));
        assert_eq!(a.district.unwrap().value.as_deref(), Some("DANE"));
        assert_eq!(a.use_.unwrap().value, Some(AddressUse::Home));
        assert!(a.type_.is_none());
        assert!(report.is_empty(), "{report:?}");
    }

    #[test]
    fn mailing_is_a_type_and_other_codes_are_reported() {
        let (a, _) = run(b"PO BOX 9^^MADISON^WI^53701^^M");
        let a = a.unwrap();
        assert_eq!(a.type_.unwrap().value, Some(AddressType::Postal));
        assert!(a.use_.is_none());
        let (a, report) = run(b"1 ELM^^X^^^^L");
        assert!(a.unwrap().use_.is_none());
        assert_eq!(
            report,
            ["PID[1]-11(1).7: code not in the IG map AddressType[Use]"]
        );
        assert_eq!(run(b"^^^^^^H").0, None);
    }
}
