//! `NM[Quantity]`: HL7 v2 NM → FHIR Quantity (its `value`).
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-nm-to-quantity.html>
//!
//! The number is written as a canonical FHIR `decimal` (no `+`, no leading zeros; trailing zeros
//! kept, they carry the precision). Spaces around the number (fixed-width feeds) are ignored.
//! A value that is not an NM is reported
//! ([`DataProblem::InvalidNumber`]) and gives `None`.

use ehrkit_fhir_model::{Decimal, Primitive, Quantity};
use ehrkit_hl7v2::datatypes::{Nm, Text};

use super::Context;
use crate::{DataProblem, Location, ReportKind};

/// An NM component as a FHIR decimal, reporting a bad number at `at`. `None` when absent, empty
/// or the HL7 null (not reported) or not a number (reported).
pub fn decimal(t: Option<Text<'_>>, ctx: &mut Context<'_>, at: &Location) -> Option<Decimal> {
    let t = t.filter(|t| !t.is_null() && !t.is_empty())?;
    // Fixed-width systems pad numbers with spaces (`  5.2`): the number is still the value.
    let d = t
        .nm()
        .ok()
        .or_else(|| {
            let raw = t.raw();
            let trimmed = raw.trim_ascii();
            (trimmed.len() != raw.len() && !trimmed.is_empty())
                .then(|| Nm::parse(trimmed).ok())
                .flatten()
        })
        .and_then(|n| Decimal::new(&n.decimal()));
    if d.is_none() {
        ctx.report(
            ReportKind::DataQuality(DataProblem::InvalidNumber),
            at.clone(),
        );
    }
    d
}

/// Converts an NM found at `at` into a Quantity with only its value.
pub fn nm_quantity(t: Option<Text<'_>>, ctx: &mut Context<'_>, at: &Location) -> Option<Quantity> {
    Some(Quantity {
        value: Some(Primitive::new(decimal(t, ctx, at)?)),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    #[test]
    fn canonical_decimal_and_bad_numbers() {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let d = Delimiters::default();
        let at = Location::segment("OBX", 1).field(5);
        let q = nm_quantity(Some(Text::new(b"+007.50", &d)), &mut ctx, &at).unwrap();
        assert_eq!(q.value.unwrap().value.unwrap().as_str(), "7.50");
        assert!(nm_quantity(Some(Text::new(b"7,5", &d)), &mut ctx, &at).is_none());
        assert!(nm_quantity(Some(Text::new(b"\"\"", &d)), &mut ctx, &at).is_none());
        let report: Vec<_> = ctx.report.entries().iter().map(|e| e.to_string()).collect();
        assert_eq!(report, ["OBX[1]-5: not a valid HL7 v2 number"]);
    }
}
