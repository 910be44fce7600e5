//! `RXO[MedicationRequest]`: HL7 v2 RXO (pharmacy/treatment order) → FHIR MedicationRequest.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-rxo-to-medicationrequest.html>
//!
//! - `intent` `original-order` (set by the message map when it starts the request).
//! - RXO-1 → the Medication's `code` (the request references the Medication).
//! - RXO-2 / RXO-3 → `dosageInstruction[0].doseAndRate[0].doseRange.low` / `.high` (type
//!   `ordered`), RXO-4 their unit (text, else code; UCUM → system and code).
//! - RXO-5 → the Medication's `form`.
//! - RXO-11 / RXO-12 → `dispenseRequest.quantity`; RXO-13 → `numberOfRepeatsAllowed`.
//! - RXO-14 → `requester` (Practitioner) when ORC-12 gave none.
//! - The other rows are listed in [`ROWS`] and reported when present.

use ehrkit_fhir_model::resources::{Medication, MedicationRequestDispenseRequest};
use ehrkit_fhir_model::{
    CodeableConcept, Coding, Dosage, DosageDoseAndRate, DosageDoseAndRateDose, Primitive, Quantity,
    Range,
};
use ehrkit_hl7v2::datatypes::{Cwe, Text, Xcn};
use ehrkit_hl7v2::Segment;

use super::orc_medication_request::MedicationParts;
use super::orc_service_request::report_unmapped_fields;
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, nm_quantity::decimal, text,
    xcn_practitioner::xcn_practitioner, Context,
};
use crate::{DataProblem, Location, ReportKind};

const FILE: &str = "segment/rxo_medication_request.rs";
const UCUM: &str = "http://unitsofmeasure.org";

/// Fields this map reads.
const MAPPED_FIELDS: &[usize] = &[1, 2, 3, 4, 5, 11, 12, 13, 14];

/// Applies the `occurrence`-th RXO of a message to `parts`.
pub fn rxo_medication_request(
    rxo: &Segment<'_>,
    occurrence: usize,
    parts: &mut MedicationParts,
    ctx: &mut Context<'_>,
) {
    let at = |field: usize| Location::segment("RXO", occurrence).field(field);
    medication_code(rxo, 1, 5, parts, ctx, &at);
    if let Some(range) = dose_range(rxo, 2, 3, 4, ctx, &at) {
        dosage(parts).dose_and_rate.push(DosageDoseAndRate {
            type_: Some(Box::new(CodeableConcept::from_coding(Coding::with_code(
                "http://terminology.hl7.org/CodeSystem/dose-rate-type",
                "ordered",
            )))),
            dose: Some(range),
            ..Default::default()
        });
    }
    dispense(rxo, 11, 12, 13, parts, ctx, &at);
    if parts.requester.is_none() {
        parts.requester = rxo
            .field(14)
            .first::<Xcn<'_>>()
            .and_then(|x| xcn_practitioner(&x, ctx, &at(14).repetition(1)))
            .map(|p| (p, at(14).repetition(1)));
    }
    report_unmapped_fields(rxo, occurrence, &[MAPPED_FIELDS], ctx);
}

/// The request's first dosage instruction (created when absent).
pub(crate) fn dosage(parts: &mut MedicationParts) -> &mut Dosage {
    if parts.request.dosage_instruction.is_empty() {
        parts.request.dosage_instruction.push(Dosage::default());
    }
    &mut parts.request.dosage_instruction[0]
}

/// Field `code` (CWE) → the Medication's code, field `form` (CWE) → its form.
pub(crate) fn medication_code(
    seg: &Segment<'_>,
    code: usize,
    form: usize,
    parts: &mut MedicationParts,
    ctx: &mut Context<'_>,
    at: &dyn Fn(usize) -> Location,
) {
    let c = seg
        .field(code)
        .first::<Cwe<'_>>()
        .and_then(|c| cwe_codeable_concept(&c, ctx, &at(code)));
    let f = seg
        .field(form)
        .first::<Cwe<'_>>()
        .and_then(|c| cwe_codeable_concept(&c, ctx, &at(form)));
    if c.is_none() && f.is_none() {
        return;
    }
    let m = parts.medication.get_or_insert_with(Medication::default);
    if c.is_some() {
        m.code = c.map(Box::new);
    }
    if f.is_some() {
        m.form = f.map(Box::new);
    }
}

/// An NM field as a quantity with the units of a CWE field (text, else code; UCUM → coded).
pub(crate) fn quantity(
    seg: &Segment<'_>,
    value: usize,
    units: usize,
    ctx: &mut Context<'_>,
    at: &dyn Fn(usize) -> Location,
) -> Option<Quantity> {
    let v = decimal(seg.field(value).first::<Text<'_>>(), ctx, &at(value))?;
    let mut q = Quantity {
        value: Some(Primitive::new(v)),
        ..Default::default()
    };
    if let Some(u) = seg.field(units).first::<Cwe<'_>>() {
        let code = text(u.identifier());
        q.unit = text(u.text()).or_else(|| code.clone()).map(Primitive::new);
        let is_ucum = text(u.name_of_coding_system())
            .and_then(|s| ctx.systems.coding_system(&s).map(|x| x.uri == UCUM))
            .unwrap_or(false);
        if is_ucum {
            q.system = Some(Primitive::new(UCUM.to_owned()));
            q.code = code.map(Primitive::new);
        }
    }
    Some(q)
}

/// Minimum (`low`) and maximum (`high`) amounts with their units as a dose: a range, or a
/// quantity when only the minimum is valued.
pub(crate) fn dose_range(
    seg: &Segment<'_>,
    low: usize,
    high: usize,
    units: usize,
    ctx: &mut Context<'_>,
    at: &dyn Fn(usize) -> Location,
) -> Option<DosageDoseAndRateDose> {
    let lo = quantity(seg, low, units, ctx, at);
    let hi = quantity(seg, high, units, ctx, at);
    match (lo, hi) {
        (None, None) => None,
        (lo, hi) => Some(DosageDoseAndRateDose::Range(Box::new(Range {
            low: lo.map(Box::new),
            high: hi.map(Box::new),
            ..Default::default()
        }))),
    }
}

/// Dispense amount and units → `dispenseRequest.quantity`; refills → `numberOfRepeatsAllowed`.
pub(crate) fn dispense(
    seg: &Segment<'_>,
    amount: usize,
    units: usize,
    refills: usize,
    parts: &mut MedicationParts,
    ctx: &mut Context<'_>,
    at: &dyn Fn(usize) -> Location,
) {
    let q = quantity(seg, amount, units, ctx, at);
    let n = text(seg.field(refills).first::<Text<'_>>());
    let n = n.and_then(|n| match n.parse::<u32>() {
        Ok(n) => Some(n),
        Err(_) => {
            ctx.report(
                ReportKind::DataQuality(DataProblem::InvalidNumber),
                at(refills),
            );
            None
        }
    });
    if q.is_none() && n.is_none() {
        return;
    }
    let d = parts
        .request
        .dispense_request
        .get_or_insert_with(|| Box::new(MedicationRequestDispenseRequest::default()));
    if q.is_some() {
        d.quantity = q.map(Box::new);
    }
    if n.is_some() {
        d.number_of_repeats_allowed = n.map(Primitive::new);
    }
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; the field is reported as unmapped when present";
const STRENGTH: &str =
    "Medication.ingredient strength is not written yet; the field is reported when present";

/// The spreadsheet rows of `RXO[MedicationRequest]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("RXO", "intent=\"original-order\""),
    mapped("RXO-1", "medication(Medication.code)"),
    mapped("RXO-2", "dosageInstruction.doseAndRate[1].doseRange.low.value"),
    mapped("RXO-2", "dosageInstruction.doseAndRate[1].type"),
    mapped("RXO-3", "dosageInstruction.doseAndRate[1].doseRange.high.value"),
    mapped("RXO-4", "dosageInstruction.doseAndRate[1].doseRange.low.code"),
    mapped("RXO-4", "dosageInstruction.doseAndRate[1].doseRange.low.unit"),
    mapped("RXO-4", "dosageInstruction.doseAndRate[1].doseRange.high.code"),
    mapped("RXO-4", "dosageInstruction.doseAndRate[1].doseRange.high.unit"),
    mapped("RXO-5", "medication(Medication.doseForm)"),
    unmapped("RXO-9", "substitution.allowedCodeableConcept", NOT_YET),
    mapped("RXO-11", "dispenseRequest.quantity.value"),
    mapped("RXO-12", "dispenseRequest.quantity.code"),
    mapped("RXO-12", "dispenseRequest.quantity.unit"),
    mapped("RXO-13", "dispenseRequest.numberOfRepeatsAllowed"),
    mapped("RXO-14", "requester(Practitioner)"),
    unmapped(
        "RXO-18",
        "medicationReference(Medication.ingredient.strength.numerator.value",
        STRENGTH,
    ),
    unmapped(
        "RXO-19",
        "medicationReference(Medication.ingredient.strength.numerator.code",
        STRENGTH,
    ),
    unmapped(
        "RXO-19",
        "medicationReference(Medication.ingredient.strength.numerator.unit",
        STRENGTH,
    ),
    unmapped(
        "RXE-19",
        "dosageInstruction.maxDosePerPeriod.numerator",
        "a row of the RXO sheet that names RXE-19 (RXO has no field 19 of this meaning); RXE is converted by rxe_medication_request.rs",
    ),
    unmapped(
        "RXE-19",
        "dosageInstruction.maxDosePerPeriod.denominator.value",
        "a row of the RXO sheet that names RXE-19 (RXO has no field 19 of this meaning); RXE is converted by rxe_medication_request.rs",
    ),
    unmapped(
        "RXE-19",
        "dosageInstruction.maxDosePerPeriod.denominator.code",
        "a row of the RXO sheet that names RXE-19 (RXO has no field 19 of this meaning); RXE is converted by rxe_medication_request.rs",
    ),
    unmapped(
        "RXO-25",
        "medicationReference(Medication.ingredient.strength.denominator.value",
        STRENGTH,
    ),
    unmapped(
        "RXO-26",
        "medicationReference(Medication.ingredient.strength.denominator.code",
        STRENGTH,
    ),
    unmapped(
        "RXO-26",
        "medicationReference(Medication.ingredient.strength.denominator.unit",
        STRENGTH,
    ),
];
