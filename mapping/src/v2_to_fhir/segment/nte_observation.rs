//! `NTE[Observation]`: HL7 v2 NTE (after an OBX) → an `Observation.note`.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-nte-to-observation.html>
//!
//! NTE-3 (FT, repeating) → `note.text`, the repetitions one per line, each with its formatting
//! commands laid out (`FT[string]`). NTE-5 (author) and NTE-6 (time) are not written
//! yet; they and NTE-2/4/7+ are reported when present.

use ehrkit_fhir_model::{Annotation, Primitive};
use ehrkit_hl7v2::datatypes::Ft;
use ehrkit_hl7v2::Segment;

use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::ft_text::{ft_text, Layout};
use crate::v2_to_fhir::datatype::Context;
use crate::{Location, ReportKind};

const FILE: &str = "segment/nte_observation.rs";

/// Converts the `occurrence`-th NTE of a message; `None` when NTE-3 has no text.
pub fn nte_observation(
    nte: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> Option<Annotation> {
    let at = |field: usize| Location::segment("NTE", occurrence).field(field);
    let lines: Vec<String> = nte
        .field(3)
        .repetitions::<Ft<'_>>()
        .filter_map(|ft| ft_text(&ft, &Layout::default()))
        .collect();
    for f in 2..=nte.field_count() {
        let field = nte.field(f);
        if f != 3 && field.repetition_count() > 0 && !field.is_null() {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    (!lines.is_empty()).then(|| Annotation {
        text: Some(Primitive::new(lines.join("\n"))),
        ..Default::default()
    })
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; the field is reported as unmapped when present";

/// The spreadsheet rows of `NTE[Observation]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("NTE-3", "note.text"),
    unmapped("NTE-5", "note.authorReference(Practitioner)", NOT_YET),
    unmapped("NTE-6", "note.time", NOT_YET),
];
