//! `EI[Identifier-System]`: HL7 v2 EI → FHIR Identifier (value and system).
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-ei-system-to-identifier.html>
//!
//! - EI.1 → `value`.
//! - EI.2–EI.4 (the assigning authority, an HD) → `system`. The IG leaves "EI.2 or EI.3" to the
//!   implementation; here the profile's [`Systems`](crate::Systems) decides (overrides, well-known
//!   authorities, then EI.3 by its type EI.4, then EI.2 under the fallback base, reported).
//!   EI.4 is read as the type of EI.3 (`ISO` → `urn:oid:`), not written to `Identifier.type`
//!   (a universal id type such as `ISO` is not an identifier type of HL7 table 0203).

use ehrkit_fhir_model::{Identifier, Primitive};
use ehrkit_hl7v2::datatypes::Ei;

use super::cx_identifier::system_of;
use super::{report_past_last, text, Context};
use crate::{DataProblem, Location, ReportKind};

/// Converts one EI found at `at` (the `Identifier` of an order, a specimen, a document…).
/// `None` when EI.1 is not valued (reported when an authority is there without it).
pub fn ei_identifier(ei: &Ei<'_>, ctx: &mut Context<'_>, at: &Location) -> Option<Identifier> {
    if ei.is_empty() || ei.is_null() {
        return None;
    }
    let Some(value) = text(ei.entity_identifier()) else {
        ctx.report(
            ReportKind::DataQuality(DataProblem::MissingRequired),
            at.clone().component(1),
        );
        return None;
    };
    report_past_last(ctx, at, ei.component_count(), 4, |n| ei.component(n));
    let system = ei.assigning_authority().and_then(|hd| {
        crate::quirks::ei_system(ctx.profile, text(hd.namespace_id()).as_deref())
            .or_else(|| system_of(&hd, ctx, &at.clone().component(2)))
    });
    Some(Identifier {
        value: Some(Primitive::new(value)),
        system: system.map(Primitive::new),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    fn run(raw: &[u8]) -> (Option<Identifier>, Vec<String>) {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let id = ei_identifier(
            &Ei::parse(raw, &Delimiters::default()),
            &mut ctx,
            &Location::segment("OBR", 1).field(3),
        );
        (
            id,
            ctx.report.entries().iter().map(|e| e.to_string()).collect(),
        )
    }

    #[test]
    fn order_number_with_oid() {
        let (id, report) = run(b"ORD-778^LAB^1.2.840.114350^ISO");
        let id = id.unwrap();
        assert_eq!(id.value.unwrap().value.as_deref(), Some("ORD-778"));
        assert_eq!(
            id.system.unwrap().value.as_deref(),
            Some("urn:oid:1.2.840.114350")
        );
        assert!(report.is_empty());
    }

    #[test]
    fn namespace_only_falls_back_and_is_reported() {
        let (id, report) = run(b"ORD-1^LAB");
        assert_eq!(
            id.unwrap().system.unwrap().value.as_deref(),
            Some("urn:ehrkit:unknown-system:identifier:LAB")
        );
        assert_eq!(
            report,
            ["OBR[1]-3.2: unknown coding or identifier system; fallback URI used"]
        );
        let (id, report) = run(b"^LAB");
        assert!(id.is_none());
        assert_eq!(report, ["OBR[1]-3.1: required value absent"]);
    }
}
