//! `SN[Range]`: HL7 v2 SN → FHIR Range (`^2^-^5`).
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-sn-to-range.html>
//!
//! SN.2 → `low.value`, SN.4 → `high.value`. A comparator other than `=` (SN.1) or a separator
//! (SN.3) puts the whole value in the `originalText` extension, as the IG says; a comparator
//! cannot be expressed on a Range, so it is also reported ([`ReportKind::UnmappedComponent`]).

use ehrkit_fhir_model::{Primitive, Quantity, Range};
use ehrkit_hl7v2::datatypes::Sn;

use super::nm_quantity::decimal;
use super::sn::original_text;
use super::{has_text, text, Context};
use crate::{Location, ReportKind};

/// Converts one SN found at `at`. `None` when neither number is valued.
pub fn sn_range(sn: &Sn<'_>, ctx: &mut Context<'_>, at: &Location) -> Option<Range> {
    if sn.is_empty() || sn.is_null() {
        return None;
    }
    let bound = |d: Option<ehrkit_fhir_model::Decimal>| {
        d.map(|d| {
            Box::new(Quantity {
                value: Some(Primitive::new(d)),
                ..Default::default()
            })
        })
    };
    let low = bound(decimal(sn.num1(), ctx, &at.clone().component(2)));
    let high = bound(decimal(sn.num2(), ctx, &at.clone().component(4)));
    if low.is_none() && high.is_none() {
        return None;
    }
    let comparator = text(sn.comparator()).filter(|c| c != "=");
    let mut range = Range {
        low,
        high,
        ..Default::default()
    };
    if comparator.is_some() {
        ctx.report(ReportKind::UnmappedComponent, at.clone().component(1));
    }
    if comparator.is_some() || has_text(sn.separator_suffix()) {
        range.extension.extend(original_text(sn));
    }
    Some(range)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    #[test]
    fn low_and_high() {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let at = Location::segment("OBX", 1).field(5);
        let r = sn_range(&Sn::parse(b"^2^-^5", &Delimiters::default()), &mut ctx, &at).unwrap();
        assert_eq!(r.low.unwrap().value.unwrap().value.unwrap().as_str(), "2");
        assert_eq!(r.high.unwrap().value.unwrap().value.unwrap().as_str(), "5");
        assert_eq!(r.extension.len(), 1);
        let r = sn_range(&Sn::parse(b">^2", &Delimiters::default()), &mut ctx, &at).unwrap();
        assert!(r.high.is_none());
        assert_eq!(
            ctx.report.entries()[0].to_string(),
            "OBX[1]-5.1: component not mapped"
        );
    }
}
