//! `SN[Ratio]`: HL7 v2 SN → FHIR Ratio (`^1^:^128`, `^1^/^2`).
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-sn-to-ratio.html>
//!
//! SN.1 → `numerator.comparator` (not `=`), SN.2 → `numerator.value`, SN.4 →
//! `denominator.value`; with a separator or second number the whole value is also kept in the
//! `originalText` extension, as the IG says.

use ehrkit_fhir_model::{Primitive, Quantity, Ratio};
use ehrkit_hl7v2::datatypes::Sn;

use super::nm_quantity::decimal;
use super::sn::original_text;
use super::sn_quantity::comparator;
use super::{has_text, Context};
use crate::Location;

/// Converts one SN found at `at`. `None` when neither number is valued.
pub fn sn_ratio(sn: &Sn<'_>, ctx: &mut Context<'_>, at: &Location) -> Option<Ratio> {
    if sn.is_empty() || sn.is_null() {
        return None;
    }
    let num = decimal(sn.num1(), ctx, &at.clone().component(2));
    let den = decimal(sn.num2(), ctx, &at.clone().component(4));
    if num.is_none() && den.is_none() {
        return None;
    }
    let mut ratio = Ratio {
        numerator: num.map(|d| {
            Box::new(Quantity {
                value: Some(Primitive::new(d)),
                ..Default::default()
            })
        }),
        denominator: den.map(|d| {
            Box::new(Quantity {
                value: Some(Primitive::new(d)),
                ..Default::default()
            })
        }),
        ..Default::default()
    };
    if let Some(c) = comparator(sn, ctx, at) {
        let n = ratio.numerator.get_or_insert_with(Default::default);
        n.comparator = Some(Primitive::new(c));
    }
    if has_text(sn.separator_suffix()) || has_text(sn.num2()) {
        ratio.extension.extend(original_text(sn));
    }
    Some(ratio)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    #[test]
    fn titer() {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let at = Location::segment("OBX", 1).field(5);
        let r = sn_ratio(
            &Sn::parse(b"<^1^:^128", &Delimiters::default()),
            &mut ctx,
            &at,
        )
        .unwrap();
        let n = r.numerator.unwrap();
        assert_eq!(n.value.unwrap().value.unwrap().as_str(), "1");
        assert_eq!(
            n.comparator.unwrap().value,
            Some(ehrkit_fhir_model::codes::QuantityComparator::Lt)
        );
        assert_eq!(
            r.denominator
                .unwrap()
                .value
                .unwrap()
                .value
                .unwrap()
                .as_str(),
            "128"
        );
        assert!(ctx.report.is_empty());
    }
}
