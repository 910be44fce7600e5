//! `TQ1[MedicationRequest]`: HL7 v2 TQ1 (timing/quantity of a pharmacy order) → FHIR
//! MedicationRequest.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-tq1-to-medicationrequest.html>
//!
//! - TQ1-2 (CQ) → `dosageInstruction[0].doseAndRate.doseQuantity` (when RXO/RXE gave no dose).
//! - TQ1-4 (TM) → `dosageInstruction[0].timing.repeat.timeOfDay` (the IG's `timing.event` is a
//!   dateTime; a time of day belongs in `timeOfDay`).
//! - TQ1-7 / TQ1-8 → `timing.repeat.boundsPeriod`; TQ1-13 → `timing.repeat.duration` and
//!   `durationUnit`; TQ1-14 → `timing.repeat.countMax` (as in `TQ1[ServiceRequest]`).
//! - TQ1-9 → `priority` (IG map `ExtendedPriorityCodes`).
//! - TQ1-10 → `dosageInstruction[0].additionalInstruction.text`; TQ1-11 → `dosageInstruction[0].text`.
//! - TQ1-3, TQ1-5, TQ1-6 are listed in [`ROWS`] and reported when present.

use ehrkit_fhir_model::codes::RequestPriority;
use ehrkit_fhir_model::{
    CodeableConcept, DosageDoseAndRate, DosageDoseAndRateDose, Primitive, Timing,
};
use ehrkit_hl7v2::datatypes::{Cq, Cwe, Text};
use ehrkit_hl7v2::Segment;

use super::orc_medication_request::MedicationParts;
use super::orc_service_request::report_unmapped_fields;
use super::pid_patient::translate;
use super::rxo_medication_request::dosage;
use super::tq1_service_request::timing_repeat;
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{cq_quantity::cq_quantity, text, Context};
use crate::v2_to_fhir::vocab::generated::EXTENDED_PRIORITY_CODES;
use crate::Location;

const FILE: &str = "segment/tq1_medication_request.rs";

/// Fields this map reads (TQ1-1, the set id, carries no data).
const MAPPED_FIELDS: &[usize] = &[1, 2, 4, 7, 8, 9, 10, 11, 13, 14];

/// Applies the `occurrence`-th TQ1 of a message to `parts`.
pub fn tq1_medication_request(
    tq1: &Segment<'_>,
    occurrence: usize,
    parts: &mut MedicationParts,
    ctx: &mut Context<'_>,
) {
    let at = |field: usize| Location::segment("TQ1", occurrence).field(field);
    let dose = tq1
        .field(2)
        .first::<Cq<'_>>()
        .and_then(|q| cq_quantity(&q, ctx, &at(2)));
    let (repeat, valued) = timing_repeat(tq1, ctx, &at);
    if let Some(code) = tq1
        .field(9)
        .first::<Cwe<'_>>()
        .and_then(|c| text(c.identifier()))
    {
        parts.request.priority = translate(&EXTENDED_PRIORITY_CODES, &code, ctx, &at(9))
            .and_then(|c| RequestPriority::from_code(&c))
            .map(Primitive::new);
    }
    let conditions: Vec<String> = tq1
        .field(10)
        .repetitions::<Text<'_>>()
        .filter_map(|t| text(Some(t)))
        .collect();
    let note = text(tq1.field(11).first::<Text<'_>>());
    let d = dosage(parts);
    if let Some(q) = dose {
        if d.dose_and_rate.is_empty() {
            d.dose_and_rate.push(DosageDoseAndRate {
                dose: Some(DosageDoseAndRateDose::Quantity(Box::new(q))),
                ..Default::default()
            });
        } else {
            ctx.report(crate::ReportKind::UnmappedField, at(2));
        }
    }
    if valued {
        d.timing = Some(Box::new(Timing {
            repeat: Some(Box::new(repeat)),
            ..Default::default()
        }));
    }
    for c in conditions {
        d.additional_instruction.push(CodeableConcept {
            text: Some(Primitive::new(c)),
            ..Default::default()
        });
    }
    if let Some(n) = note {
        d.text = Some(Primitive::new(n));
    }
    report_unmapped_fields(tq1, occurrence, &[MAPPED_FIELDS], ctx);
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; the field is reported as unmapped when present";
const DERIVED: &str = "the IG derives bounds from TQ1-7/8 ± TQ1-6; date arithmetic on partial v2 timestamps is not done: reported when present";

/// The spreadsheet rows of `TQ1[MedicationRequest]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("TQ1-2", "dosageInstruction.doseAndRate.doseQuantity"),
    unmapped(
        "TQ1-3",
        "dosageInstruction.timing",
        "RPT (repeat pattern) → Timing is not converted yet; reported when present",
    ),
    unmapped(
        "TQ1-4",
        "dosageInstruction.timing.event",
        "Timing.event is a dateTime and TQ1-4 a time of day: written to timing.repeat.timeOfDay instead",
    ),
    unmapped("TQ1-5", "dosageInstruction.timing.repeat.offset", NOT_YET),
    unmapped("TQ1-6", "occurrenceTiming.boundsDuration", NOT_YET),
    unmapped("TQ1-6", "occurrenceTiming.boundsPeriod.end", DERIVED),
    unmapped("TQ1-6", "occurneceTiming.boundsPeriod.start", DERIVED),
    mapped("TQ1-7", "dosageInstruction.timing.repeat.boundsPeriod.start"),
    mapped("TQ1-8", "dosageInstruction.timing.repeat.boundsPeriod.end"),
    mapped("TQ1-9", "priority"),
    mapped("TQ1-10", "dosageInstruction.additionalInstruction.text"),
    mapped("TQ1-11", "text"),
    mapped("TQ1-13", "dosageInstruction.timing.repeat.duration"),
    mapped("TQ1-13", "dosageInstruction.timing.repeat.durationUnit"),
    mapped("TQ1-14", "dosageInstruction.timing.repeat.countMax"),
];
