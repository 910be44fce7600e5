//! `RXE[MedicationRequest]`: HL7 v2 RXE (pharmacy/treatment encoded order) → FHIR
//! MedicationRequest and Medication.
//!
//! The IG 1.0.0 has no RXE segment map. This follows the RXO map
//! (<https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-rxo-to-medicationrequest.html>)
//! for the fields the two segments share, and Microsoft FHIR-Converter's RDE_O11 template for the
//! rest (facts only):
//! - RXE-2 (give code) → the Medication's `code`; RXE-6 (give dosage form) → its `form`.
//! - RXE-3 / RXE-4 (give amount min/max) with RXE-5 (give units) →
//!   `dosageInstruction[0].doseAndRate[0]`: `doseQuantity` when only RXE-3 is valued, else
//!   `doseRange`.
//! - RXE-7 (provider's administration instructions) → `dosageInstruction[0].additionalInstruction`.
//! - RXE-10 / RXE-11 (dispense amount, units) → `dispenseRequest.quantity`; RXE-12 (refills) →
//!   `dispenseRequest.numberOfRepeatsAllowed`.
//! - RXE-15 (prescription number) → `identifier` (value only: the v2 field has no authority).
//! - RXE-27 (give indication) → `reasonCode`.
//! - Every other valued field (RXE-1 TQ, RXE-13 DEA, RXE-21 give per, RXE-25/26 strength, …) is
//!   reported. No coverage rows: the IG has no spreadsheet for this map.

use ehrkit_fhir_model::{DosageDoseAndRate, DosageDoseAndRateDose, Identifier, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Text};
use ehrkit_hl7v2::Segment;

use super::orc_medication_request::MedicationParts;
use super::orc_service_request::report_unmapped_fields;
use super::rxo_medication_request::{dispense, dosage, dose_range, medication_code, quantity};
use crate::v2_to_fhir::datatype::{cwe_codeable_concept::cwe_codeable_concept, text, Context};
use crate::Location;

/// Fields this map reads.
const MAPPED_FIELDS: &[usize] = &[2, 3, 4, 5, 6, 7, 10, 11, 12, 15, 27];

/// Applies the `occurrence`-th RXE of a message to `parts`.
pub fn rxe_medication_request(
    rxe: &Segment<'_>,
    occurrence: usize,
    parts: &mut MedicationParts,
    ctx: &mut Context<'_>,
) {
    let at = |field: usize| Location::segment("RXE", occurrence).field(field);
    medication_code(rxe, 2, 6, parts, ctx, &at);
    let dose = if rxe.field(4).text().is_some() {
        dose_range(rxe, 3, 4, 5, ctx, &at)
    } else {
        quantity(rxe, 3, 5, ctx, &at).map(|q| DosageDoseAndRateDose::Quantity(Box::new(q)))
    };
    let mut instructions = Vec::new();
    for (r, c) in rxe.field(7).repetitions::<Cwe<'_>>().enumerate() {
        instructions.extend(cwe_codeable_concept(&c, ctx, &at(7).repetition(r + 1)));
    }
    if dose.is_some() || !instructions.is_empty() {
        let d = dosage(parts);
        if let Some(dose) = dose {
            d.dose_and_rate.insert(
                0,
                DosageDoseAndRate {
                    dose: Some(dose),
                    ..Default::default()
                },
            );
        }
        d.additional_instruction.extend(instructions);
    }
    dispense(rxe, 10, 11, 12, parts, ctx, &at);
    if let Some(rx) = text(rxe.field(15).first::<Text<'_>>()) {
        parts.request.identifier.push(Identifier {
            value: Some(Primitive::new(rx)),
            ..Default::default()
        });
    }
    for (r, c) in rxe.field(27).repetitions::<Cwe<'_>>().enumerate() {
        if let Some(c) = cwe_codeable_concept(&c, ctx, &at(27).repetition(r + 1)) {
            parts.request.reason_code.push(c);
        }
    }
    report_unmapped_fields(rxe, occurrence, &[MAPPED_FIELDS], ctx);
}
