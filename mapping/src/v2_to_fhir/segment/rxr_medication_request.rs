//! `RXR[MedicationRequest]`: HL7 v2 RXR (pharmacy route) → FHIR MedicationRequest dosage.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-rxr-to-medicationrequest.html>
//!
//! The first RXR of an order fills `dosageInstruction[0]`, each further RXR its own dosage
//! instruction: RXR-1 → `route`, RXR-2 → `site`, RXR-4 → `method`, RXR-5 →
//! `additionalInstruction` (CWE → CodeableConcept; the HL7 tables' system names resolve through
//! the profile's systems). RXR-3, RXR-6 are reported when present.

use ehrkit_fhir_model::Dosage;
use ehrkit_hl7v2::datatypes::Cwe;
use ehrkit_hl7v2::Segment;

use super::orc_medication_request::MedicationParts;
use super::orc_service_request::report_unmapped_fields;
use super::{mapped_in, Row};
use crate::v2_to_fhir::datatype::{cwe_codeable_concept::cwe_codeable_concept, Context};
use crate::Location;

const FILE: &str = "segment/rxr_medication_request.rs";

/// Fields this map reads.
const MAPPED_FIELDS: &[usize] = &[1, 2, 4, 5];

/// Applies the `occurrence`-th RXR of a message (the `nth` of its order, from 0) to `parts`.
pub fn rxr_medication_request(
    rxr: &Segment<'_>,
    occurrence: usize,
    nth: usize,
    parts: &mut MedicationParts,
    ctx: &mut Context<'_>,
) {
    let at = |field: usize| Location::segment("RXR", occurrence).field(field);
    let cwe = |f: usize, ctx: &mut Context<'_>| {
        rxr.field(f)
            .first::<Cwe<'_>>()
            .and_then(|c| cwe_codeable_concept(&c, ctx, &at(f)))
            .map(Box::new)
    };
    let route = cwe(1, ctx);
    let site = cwe(2, ctx);
    let method = cwe(4, ctx);
    let mut extra = Vec::new();
    for (r, c) in rxr.field(5).repetitions::<Cwe<'_>>().enumerate() {
        extra.extend(cwe_codeable_concept(&c, ctx, &at(5).repetition(r + 1)));
    }
    let dosages = &mut parts.request.dosage_instruction;
    while dosages.len() <= nth {
        dosages.push(Dosage::default());
    }
    let d = &mut dosages[nth];
    d.route = route;
    d.site = site;
    d.method = method;
    d.additional_instruction.extend(extra);
    report_unmapped_fields(rxr, occurrence, &[MAPPED_FIELDS], ctx);
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

/// The spreadsheet rows of `RXR[MedicationRequest]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("RXR-1", "dosageInstruction.route"),
    mapped("RXR-2", "dosageInstruction.site"),
    mapped("RXR-4", "dosageInstruction.method"),
    mapped("RXR-5", "dosageInstruction.additionalInstruction"),
];
