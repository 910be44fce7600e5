//! `PL[Location]`: HL7 v2 PL → FHIR Locations (one per level of the place).
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-pl-to-location.html>
//!
//! Each valued level becomes a Location with `mode` `instance`, the level's HD as `identifier`
//! (`HD[Identifier]`) and the IG's physical type (`location-physical-type`): bed `bd` (PL.3),
//! room `ro` (PL.2), floor `lvl` (PL.8), point of care (PL.1, no type: the IG's assignment is an
//! unresolved placeholder), building `bu` (PL.7), facility `si` (PL.4). Each level is `partOf`
//! the next coarser valued one, in the order bed → room → floor → point of care → building →
//! facility (the IG's building row points at itself; putting the building between the point of
//! care and the facility keeps one chain). PL.9 → the finest level's `description`.
//! PL.5, PL.6, PL.10 and PL.11 are reported when valued (not written yet).
//!
//! A level's identity is its whole path (facility … level), not its own identifier: room `12`
//! on two wards is two rooms.

use ehrkit_fhir_model::codes::LocationMode;
use ehrkit_fhir_model::resources::Location;
use ehrkit_fhir_model::{CodeableConcept, Coding, Primitive};
use ehrkit_hl7v2::datatypes::{Hd, Pl};

use super::hd_identifier::hd_identifier;
use super::{report_past_last, report_unmapped, text, Context};

/// One level of a place, coarsest first in [`pl_location`]'s result.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// The Location (no id, no `partOf`: the message map sets them).
    pub location: Location,
    /// The level's identity within the message's namespace: its path from the coarsest level.
    pub key: String,
}

/// Converts one PL found at `at` into its levels, coarsest (facility) first, finest last.
/// Empty when no level is valued.
pub fn pl_location(pl: &Pl<'_>, ctx: &mut Context<'_>, at: &crate::Location) -> Vec<Level> {
    if pl.is_empty() || pl.is_null() {
        return Vec::new();
    }
    let levels: [(Option<Hd<'_>>, Option<&str>, &str); 6] = [
        (pl.facility(), Some("si"), "facility"),
        (pl.building(), Some("bu"), "building"),
        (pl.point_of_care(), None, "point-of-care"),
        (pl.floor(), Some("lvl"), "floor"),
        (pl.room(), Some("ro"), "room"),
        (pl.bed(), Some("bd"), "bed"),
    ];
    let mut out: Vec<Level> = Vec::new();
    let mut path = String::new();
    for (hd, physical, kind) in levels {
        let Some(hd) = hd.filter(|h| !h.is_empty() && !h.is_null()) else {
            continue;
        };
        let identifier = hd_identifier(&hd, ctx);
        if identifier.is_empty() {
            continue;
        }
        let own = String::from_utf8_lossy(hd.raw());
        path.push_str(&format!("/{kind}:{}:{own}", own.len()));
        out.push(Level {
            location: Location {
                identifier,
                mode: Some(Primitive::new(LocationMode::Instance)),
                physical_type: physical.map(|code| {
                    Box::new(CodeableConcept::from_coding(Coding::with_code(
                        "http://terminology.hl7.org/CodeSystem/location-physical-type",
                        code,
                    )))
                }),
                ..Default::default()
            },
            key: path.clone(),
        });
    }
    if let (Some(finest), Some(d)) = (out.last_mut(), text(pl.location_description())) {
        finest.location.description = Some(Primitive::new(d));
    }
    let valued = |n: usize| pl.component(n).is_some();
    report_unmapped(ctx, at, [5, 6, 10, 11].map(|n| (n, valued(n))));
    report_past_last(ctx, at, pl.component_count(), 11, |n| pl.component(n));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    #[test]
    fn levels_coarsest_first_with_paths() {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let pl = Pl::parse(b"4WEST^412^B^UWHOSP^^N", &Delimiters::default());
        let at = crate::Location::segment("PV1", 1).field(3);
        let levels = pl_location(&pl, &mut ctx, &at);
        let kinds: Vec<Option<&str>> = levels
            .iter()
            .map(|l| {
                l.location
                    .physical_type
                    .as_ref()
                    .and_then(|t| t.coding[0].code.as_ref())
                    .and_then(|c| c.value.as_deref())
            })
            .collect();
        assert_eq!(kinds, [Some("si"), None, Some("ro"), Some("bd")]);
        assert!(levels[3].key.starts_with(&levels[2].key));
        // Room 412 of another ward is another room.
        let other = Pl::parse(b"5EAST^412^B^UWHOSP", &Delimiters::default());
        let other = pl_location(&other, &mut ctx, &at);
        assert_ne!(other[2].key, levels[2].key);
        // PL.6 (person location type) is not carried: reported.
        assert_eq!(ctx.report.len(), 1);
        assert_eq!(ctx.report.entries()[0].location.to_string(), "PV1[1]-3.6");
    }
}
