//! `CQ[Quantity]`: HL7 v2 CQ → FHIR Quantity.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-cq-to-quantity.html>
//!
//! - CQ.1 (NM) → `value` (see [`nm_quantity::decimal`](super::nm_quantity::decimal)).
//! - CQ.2 (CWE) → `unit`: its text (CWE.2), else its code (CWE.1), as the IG's `CWE[string]`.
//!   Beyond the IG, when the units' coding system resolves to UCUM (`http://unitsofmeasure.org`)
//!   the code and system are written too, as FHIR Quantity expects for coded units.

use ehrkit_fhir_model::{Primitive, Quantity};
use ehrkit_hl7v2::datatypes::Cq;

use super::nm_quantity::decimal;
use super::{text, Context};
use crate::Location;

const UCUM: &str = "http://unitsofmeasure.org";

/// Converts one CQ found at `at`. `None` when neither quantity nor units are valued.
pub fn cq_quantity(cq: &Cq<'_>, ctx: &mut Context<'_>, at: &Location) -> Option<Quantity> {
    if cq.is_empty() || cq.is_null() {
        return None;
    }
    let mut q = Quantity {
        value: decimal(cq.quantity(), ctx, &at.clone().component(1)).map(Primitive::new),
        ..Default::default()
    };
    if let Some(units) = cq.units() {
        let code = text(units.identifier());
        q.unit = text(units.text())
            .or_else(|| code.clone())
            .map(Primitive::new);
        let is_ucum = text(units.name_of_coding_system())
            .and_then(|s| ctx.systems.coding_system(&s).map(|u| u.uri == UCUM))
            .unwrap_or(false);
        if is_ucum {
            q.system = Some(Primitive::new(UCUM.to_owned()));
            q.code = code.map(Primitive::new);
        }
    }
    (q.value.is_some() || q.unit.is_some()).then_some(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    fn run(raw: &[u8]) -> Option<Quantity> {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        cq_quantity(
            &Cq::parse(raw, &Delimiters::default()),
            &mut ctx,
            &Location::segment("TQ1", 1).field(2),
        )
    }

    #[test]
    fn ucum_units_are_coded() {
        let q = run(b"250^mg&milligram&UCUM").unwrap();
        assert_eq!(q.value.unwrap().value.unwrap().as_str(), "250");
        assert_eq!(q.unit.unwrap().value.as_deref(), Some("milligram"));
        assert_eq!(q.system.unwrap().value.as_deref(), Some(UCUM));
        assert_eq!(q.code.unwrap().value.as_deref(), Some("mg"));
    }

    #[test]
    fn local_units_are_text_only() {
        let q = run(b"2^TAB&&99UNITS").unwrap();
        assert_eq!(q.unit.unwrap().value.as_deref(), Some("TAB"));
        assert!(q.system.is_none() && q.code.is_none());
        assert!(run(b"").is_none());
    }
}
