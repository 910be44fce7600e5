//! `OBX[Observation]`: HL7 v2 OBX → FHIR Observation.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-obx-to-observation.html>
//!
//! - OBX-3 → `code` (CWE); absent: the data-absent-reason `unknown` and a report (FHIR requires
//!   a code).
//! - OBX-5 by OBX-2: `NM` → `valueQuantity` (OBX-6 units; UCUM → system and code); `ST`, `TX`,
//!   `FT` → `valueString` (escapes decoded; FT formatting commands are not laid out yet);
//!   `CWE`/`CE`/`CNE`/`IS` → `valueCodeableConcept`; `SN` → `valueRatio` (separator `:` or `/`),
//!   `valueRange` (`-`), else `valueQuantity`; `DTM`/`DT`/`TS` → `valueDateTime`. Other value
//!   types and further OBX-5 repetitions are reported.
//! - OBX-7 → `referenceRange.text`; OBX-8 → `interpretation` (IG map `InterpretationCodes`);
//!   OBX-11 → `status` (IG map `ObservationResultStatusCodesInterpretation`; absent or unmapped:
//!   `unknown`, reported); OBX-14 → `effectiveDateTime`.
//! - `subject`, `encounter` are set by the message map. The other rows are listed in [`ROWS`]
//!   and reported when present.

use ehrkit_fhir_model::codes::ObservationStatus;
use ehrkit_fhir_model::resources::{Observation, ObservationReferenceRange, ObservationValue};
use ehrkit_fhir_model::{CodeableConcept, Coding, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Sn, Text};
use ehrkit_hl7v2::Segment;

use super::pid_patient::{translate, vocab_coding};
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, dtm, nm_quantity::nm_quantity, sn_quantity,
    sn_range, sn_ratio, text, Context,
};
use crate::v2_to_fhir::vocab::generated::{
    INTERPRETATION_CODES, OBSERVATION_RESULT_STATUS_CODES_INTERPRETATION,
};
use crate::{DataProblem, Location, ReportKind};

const FILE: &str = "segment/obx_observation.rs";
const UCUM: &str = "http://unitsofmeasure.org";

/// Fields this map reads (OBX-1, the set id, carries no data; OBX-2 selects the value type).
const MAPPED_FIELDS: &[usize] = &[1, 2, 3, 5, 6, 7, 8, 11, 14];

/// Converts the `occurrence`-th OBX of a message.
pub fn obx_observation(obx: &Segment<'_>, occurrence: usize, ctx: &mut Context<'_>) -> Observation {
    let at = |field: usize| Location::segment("OBX", occurrence).field(field);
    let code = match obx
        .field(3)
        .first::<Cwe<'_>>()
        .and_then(|c| cwe_codeable_concept(&c, ctx, &at(3)))
    {
        Some(c) => c,
        None => {
            ctx.report(ReportKind::DataQuality(DataProblem::MissingRequired), at(3));
            data_absent()
        }
    };
    let mut o = Observation {
        code: Some(Box::new(code)),
        ..Default::default()
    };

    let value_type = obx.field(2).text().map(|t| t.trim().to_ascii_uppercase());
    let five = obx.field(5);
    if five.repetition_count() > 0 && !five.is_null() {
        o.value = value(obx, value_type.as_deref(), ctx, &at(5).repetition(1));
        for r in 2..=five.repetition_count() {
            if five.repetition_raw(r).is_some_and(|raw| !raw.is_empty()) {
                ctx.report(ReportKind::UnmappedField, at(5).repetition(r));
            }
        }
    }

    if value_type.as_deref() != Some("NM") && obx.field(6).text().is_some() {
        // Units of SN ranges and ratios are not carried yet.
        ctx.report(ReportKind::UnmappedField, at(6));
    }
    if let Some(range) = text(obx.field(7).first::<Text<'_>>()) {
        o.reference_range.push(ObservationReferenceRange {
            text: Some(Primitive::new(range)),
            ..Default::default()
        });
    }
    for (r, cwe) in obx.field(8).repetitions::<Cwe<'_>>().enumerate() {
        if let Some(code) = text(cwe.identifier()) {
            let at_r = at(8).repetition(r + 1);
            if let Some(c) = vocab_coding(&INTERPRETATION_CODES, &code, ctx, &at_r) {
                o.interpretation.push(CodeableConcept::from_coding(c));
            }
        }
    }
    let status = obx
        .field(11)
        .text()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .and_then(|s| {
            translate(
                &OBSERVATION_RESULT_STATUS_CODES_INTERPRETATION,
                &s,
                ctx,
                &at(11),
            )
        });
    if obx.field(11).text().is_none() {
        ctx.report(
            ReportKind::DataQuality(DataProblem::MissingRequired),
            at(11),
        );
    }
    o.status = Some(Primitive::new(
        status
            .and_then(|s| ObservationStatus::from_code(&s))
            .unwrap_or(ObservationStatus::Unknown),
    ));
    if let Some(t) = dtm::read_date_time(obx.field(14).first::<Text<'_>>(), ctx, at(14)) {
        o.effective =
            Some(ehrkit_fhir_model::resources::ObservationEffective::DateTime(Primitive::new(t)));
    }

    for f in 1..=obx.field_count() {
        let field = obx.field(f);
        if !MAPPED_FIELDS.contains(&f)
            && !crate::quirks::consumes_field(ctx.profile, obx, f)
            && field.repetition_count() > 0
            && !field.is_null()
        {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    o
}

/// OBX-5 (first repetition) by value type.
fn value(
    obx: &Segment<'_>,
    value_type: Option<&str>,
    ctx: &mut Context<'_>,
    at: &Location,
) -> Option<ObservationValue> {
    let five = obx.field(5);
    match value_type {
        Some("NM") => {
            let mut q = nm_quantity(five.first::<Text<'_>>(), ctx, at)?;
            if let Some(units) = obx.field(6).first::<Cwe<'_>>() {
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
            Some(ObservationValue::Quantity(Box::new(q)))
        }
        Some("ST" | "TX" | "FT") => {
            text(five.first::<Text<'_>>()).map(|s| ObservationValue::String(Primitive::new(s)))
        }
        Some("CWE" | "CE" | "CNE" | "IS") => five
            .first::<Cwe<'_>>()
            .and_then(|c| cwe_codeable_concept(&c, ctx, at))
            .map(|c| ObservationValue::CodeableConcept(Box::new(c))),
        Some("SN") => {
            let sn = five.first::<Sn<'_>>()?;
            match text(sn.separator_suffix()).as_deref() {
                Some(":" | "/") => {
                    sn_ratio::sn_ratio(&sn, ctx, at).map(|r| ObservationValue::Ratio(Box::new(r)))
                }
                Some("-") => {
                    sn_range::sn_range(&sn, ctx, at).map(|r| ObservationValue::Range(Box::new(r)))
                }
                _ => sn_quantity::sn_quantity(&sn, ctx, at)
                    .map(|q| ObservationValue::Quantity(Box::new(q))),
            }
        }
        Some("DTM" | "DT" | "TS") => dtm::read_date_time(five.first::<Text<'_>>(), ctx, at.clone())
            .map(|d| ObservationValue::DateTime(Primitive::new(d))),
        _ => {
            ctx.report(ReportKind::UnmappedField, at.clone());
            None
        }
    }
}

/// `code` when the source has none: data-absent-reason `unknown`.
pub(crate) fn data_absent() -> CodeableConcept {
    CodeableConcept::from_coding(Coding::with_code(
        "http://terminology.hl7.org/CodeSystem/data-absent-reason",
        "unknown",
    ))
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; the field is reported as unmapped when present";
const VALUE_TYPE: &str =
    "this OBX-2 value type is not converted yet; the value is reported as unmapped";
const PERFORMER: &str =
    "performers (Organization, PractitionerRole) are not written yet; reported when present";

/// The spreadsheet rows of `OBX[Observation]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("OBX-3", "code"),
    unmapped("OBX-4", "$this", NOT_YET),
    mapped("OBX-5", "valueQuantity.value"),
    mapped("OBX-5", "valueString"),
    unmapped("OBX-5", "valueCodeableConcept[1]", VALUE_TYPE),
    mapped("OBX-5", "valueCodeableConcept"),
    unmapped("OBX-5", "valuePeriod", VALUE_TYPE),
    mapped("OBX-5", "valueDateTime"),
    unmapped("OBX-5", "valueRange", VALUE_TYPE),
    unmapped("OBX-5", "valueTime", VALUE_TYPE),
    mapped("OBX-5", "valueRatio[1]"),
    mapped("OBX-5", "valueRange[1]"),
    mapped("OBX-5", "valueQuantity[1]"),
    unmapped("OBX-5", "valueSampedData", VALUE_TYPE),
    unmapped("OBX-5", "extension[1].url", VALUE_TYPE),
    unmapped("OBX-5", "extension[1].valueAttachment", VALUE_TYPE),
    mapped("OBX-6", "valueQuantity[1]"),
    unmapped("OBX-6", "valueRange[1].low", NOT_YET),
    unmapped("OBX-6", "valueRange[1].high", NOT_YET),
    unmapped("OBX-6", "valueRatio[1].numerator", NOT_YET),
    unmapped("OBX-6", "valueRatio[1].denominator", NOT_YET),
    mapped("OBX-7", "referenceRange.text"),
    mapped("OBX-8", "interpretation"),
    unmapped("OBX-10", "extension[2].uri", NOT_YET),
    unmapped("OBX-10", "extension[2].valueCodeableConcept", NOT_YET),
    mapped("OBX-11", "status"),
    unmapped("OBX-11", "status.extension[1].url", NOT_YET),
    unmapped(
        "OBX-11",
        "status.extension[1].valueCodeableConcept.coding.code",
        NOT_YET,
    ),
    unmapped(
        "OBX-11",
        "status.extension[1].valueCodeableConcept.coding.system",
        NOT_YET,
    ),
    unmapped("OBX-11", "dataAbsentReason.coding[2].code", NOT_YET),
    unmapped("OBX-11", "dataAbsentReason.coding[2].system", NOT_YET),
    mapped("OBX-14", "effectiveDateTime"),
    unmapped("OBX-15", "performer[2](Organization)", PERFORMER),
    unmapped("OBX-15", "performer[2](PractitionerRole)", PERFORMER),
    unmapped(
        "OBX-16",
        "performer[1](PractitionerRole.practitioner(Practitioner))",
        PERFORMER,
    ),
    unmapped(
        "OBX-16",
        "performer[1](PractitionerRole.code.coding.code)",
        PERFORMER,
    ),
    unmapped(
        "OBX-16",
        "performer[1](PractitionerRole.code.coding.system)",
        PERFORMER,
    ),
    unmapped("OBX-17", "method", NOT_YET),
    unmapped("OBX-18", "device(Device.identifier)", NOT_YET),
    unmapped("OBX-19", "extension[2].url", NOT_YET),
    unmapped("OBX-19", "extension[2].valueDateTime", NOT_YET),
    unmapped("OBX-20", "bodySite", NOT_YET),
    unmapped("OBX-21", "identifier", NOT_YET),
    unmapped("OBX-21", "identifier.type.coding.code", NOT_YET),
    unmapped("OBX-23", "performer[2](Organization)", PERFORMER),
    unmapped(
        "OBX-23",
        "performer[2](PractitionerRole[1].organization(Organization))",
        PERFORMER,
    ),
    unmapped("OBX-24", "performer[2](Organization.address)", PERFORMER),
    unmapped(
        "OBX-24",
        "performer[2](PractitionerRole[1].organization(Organization.address))",
        PERFORMER,
    ),
    unmapped(
        "OBX-25",
        "performer[2](PractitionerRole[1].practitioner)",
        PERFORMER,
    ),
    unmapped(
        "OBX-25",
        "performer[2](PractitionerRole[1].code.coding.code)",
        PERFORMER,
    ),
    unmapped(
        "OBX-25",
        "performer[2](PractitionerRole[1].code.coding.system)",
        PERFORMER,
    ),
    unmapped("OBX-29", "category[1].coding.code", NOT_YET),
    unmapped("OBX-29", "category[1].coding.system", NOT_YET),
    unmapped("OBX-30", "extension[2].url", NOT_YET),
    unmapped(
        "OBX-30",
        "extension[2].valueCodeableConcept.coding.code",
        NOT_YET,
    ),
    unmapped(
        "OBX-30",
        "extension[2].valueCodeableConcept.coding.system",
        NOT_YET,
    ),
    unmapped("OBX-33", "extension[1].uri", NOT_YET),
    unmapped(
        "OBX-33",
        "extension[1].valueReference(Group.member.entity(Specimen.identifier[1])",
        NOT_YET,
    ),
    unmapped("OBX-33", "extension[2].uri", NOT_YET),
    unmapped(
        "OBX-33",
        "extension[2].valueReference(Group.member.entity(Specimen.identifier[2]))",
        NOT_YET,
    ),
    unmapped("OBX-33", "specimen(Specimen.identifier[1])", NOT_YET),
    unmapped("OBX-33", "specimen(Specimen.identifier[2])", NOT_YET),
];
