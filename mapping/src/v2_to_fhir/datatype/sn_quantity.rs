//! `SN[Quantity]`: HL7 v2 SN → FHIR Quantity (`>^100`, `<=^0.5`, `^7`).
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-sn-to-quantity.html>
//!
//! - SN.1 → `comparator` (`<`, `<=`, `>=`, `>`; `=` or empty: none). `<>` has no FHIR
//!   comparator: reported ([`DataProblem::InvalidValue`]) and left out.
//! - SN.2 → `value`.
//! - When SN.3 or SN.4 is valued (a range, ratio or categorical result: the segment map should
//!   have chosen [`sn_range`](super::sn_range) or [`sn_ratio`](super::sn_ratio)), the whole value
//!   is kept in the `originalText` extension, as the IG says.

use ehrkit_fhir_model::codes::QuantityComparator;
use ehrkit_fhir_model::{Primitive, Quantity};
use ehrkit_hl7v2::datatypes::Sn;

use super::nm_quantity::decimal;
use super::sn::original_text;
use super::{has_text, text, Context};
use crate::{DataProblem, Location, ReportKind};

/// Converts one SN found at `at`. `None` when nothing is valued.
pub fn sn_quantity(sn: &Sn<'_>, ctx: &mut Context<'_>, at: &Location) -> Option<Quantity> {
    if sn.is_empty() || sn.is_null() {
        return None;
    }
    let mut q = Quantity {
        value: decimal(sn.num1(), ctx, &at.clone().component(2)).map(Primitive::new),
        ..Default::default()
    };
    q.comparator = comparator(sn, ctx, at).map(Primitive::new);
    if has_text(sn.separator_suffix()) || has_text(sn.num2()) {
        q.extension.extend(original_text(sn));
    }
    (q.value.is_some() || !q.extension.is_empty()).then_some(q)
}

/// SN.1 as a FHIR comparator; `<>` (and anything else unknown) is reported at SN.1.
pub(crate) fn comparator(
    sn: &Sn<'_>,
    ctx: &mut Context<'_>,
    at: &Location,
) -> Option<QuantityComparator> {
    let c = text(sn.comparator())?;
    if c == "=" {
        return None;
    }
    let found = QuantityComparator::from_code(&c);
    if found.is_none() {
        ctx.report(
            ReportKind::DataQuality(DataProblem::InvalidValue),
            at.clone().component(1),
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    fn run(raw: &[u8]) -> (Option<Quantity>, Vec<String>) {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let q = sn_quantity(
            &Sn::parse(raw, &Delimiters::default()),
            &mut ctx,
            &Location::segment("OBX", 1).field(5),
        );
        (
            q,
            ctx.report.entries().iter().map(|e| e.to_string()).collect(),
        )
    }

    #[test]
    fn comparator_and_value() {
        let (q, report) = run(b">^100");
        let q = q.unwrap();
        assert_eq!(q.comparator.unwrap().value, Some(QuantityComparator::Gt));
        assert_eq!(q.value.unwrap().value.unwrap().as_str(), "100");
        assert!(q.extension.is_empty() && report.is_empty());
        let (q, _) = run(b"=^5");
        assert!(q.unwrap().comparator.is_none());
    }

    #[test]
    fn not_equal_is_reported_and_ranges_keep_their_text() {
        let (q, report) = run(b"<>^5");
        assert!(q.unwrap().comparator.is_none());
        assert_eq!(report, ["OBX[1]-5.1: value not valid for its FHIR element"]);
        let (q, _) = run(b"^2^-^5");
        let ext = &q.unwrap().extension[0];
        assert_eq!(
            ext.value,
            Some(ehrkit_fhir_model::ExtensionValue::String(Primitive::new(
                "2 - 5".to_owned()
            )))
        );
    }
}
