//! `NTE[ServiceRequest]`: HL7 v2 NTE (after an ORC, OBR or TQ1 of an order) → a
//! `ServiceRequest.note`.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-nte-to-servicerequest.html>
//!
//! The same rows as `NTE[Observation]` (see [`nte_observation`](super::nte_observation)): NTE-3
//! repetitions → `note.text`, one per line; NTE-5 (author) and NTE-6 (time) are not written yet
//! and, with NTE-2/4/7+, reported when present.

use ehrkit_fhir_model::Annotation;
use ehrkit_hl7v2::Segment;

use super::nte_observation::nte_observation;
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::Context;

const FILE: &str = "segment/nte_service_request.rs";

/// Converts the `occurrence`-th NTE of a message; `None` when NTE-3 has no text.
pub fn nte_service_request(
    nte: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> Option<Annotation> {
    nte_observation(nte, occurrence, ctx)
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; the field is reported as unmapped when present";

/// The spreadsheet rows of `NTE[ServiceRequest]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("NTE-3", "note.text"),
    unmapped("NTE-5", "note.authorReference(Practitioner)", NOT_YET),
    unmapped("NTE-6", "note.time", NOT_YET),
];
