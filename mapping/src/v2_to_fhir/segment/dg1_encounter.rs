//! `DG1[Encounter]`: HL7 v2 DG1 → FHIR `Encounter.diagnosis`.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-dg1-to-encounter.html>
//!
//! The Condition rows (`diagnosis.condition(Condition.…)`) are the Condition written by
//! `DG1[Condition]` ([`super::dg1_condition`]), referenced from `diagnosis.condition`. This map
//! adds what belongs to the Encounter:
//! - DG1-6 (diagnosis type, HL7 table 0052) → `diagnosis.use`: the v2 coding
//!   (`CWE[CodeableConcept]`) and, through the IG map `DiagnosisType`, the
//!   `diagnosis-role` coding (`A` → `AD`, …; `F` and `W` have none, the v2 code is kept).
//! - DG1-15 (diagnosis priority) → `diagnosis.rank` (a positive integer; `0` or text is
//!   reported).

use std::num::NonZeroU32;

use ehrkit_fhir_model::resources::EncounterDiagnosis;
use ehrkit_fhir_model::{CodeableConcept, Coding, Primitive, Reference};
use ehrkit_hl7v2::datatypes::{Cwe, Text};
use ehrkit_hl7v2::Segment;

use super::{mapped_in, Row};
use crate::v2_to_fhir::datatype::{cwe_codeable_concept::cwe_codeable_concept, text, Context};
use crate::v2_to_fhir::vocab::generated::DIAGNOSIS_TYPE;
use crate::v2_to_fhir::vocab::Translation;
use crate::{DataProblem, Location, ProfileTranslation, ReportKind};

const FILE: &str = "segment/dg1_encounter.rs";

/// The DG1 fields this map reads (the caller passes them to `dg1_condition` as handled).
pub const FIELDS: &[usize] = &[6, 15];

/// `Encounter.diagnosis` for the `occurrence`-th DG1, pointing at its Condition.
pub fn dg1_encounter(
    dg1: &Segment<'_>,
    occurrence: usize,
    condition: Reference,
    ctx: &mut Context<'_>,
) -> EncounterDiagnosis {
    let at = |field: usize| Location::segment("DG1", occurrence).field(field);
    let mut d = EncounterDiagnosis::new(condition);
    if let Some(cwe) = dg1.field(6).first::<Cwe<'_>>() {
        let mut cc = cwe_codeable_concept(&cwe, ctx, &at(6));
        if let Some(code) = text(cwe.identifier()) {
            let role = match ctx.profile.translate(&DIAGNOSIS_TYPE, &code) {
                ProfileTranslation::Override(o) => Some(Coding::with_code(&o.system, &o.code)),
                ProfileTranslation::Ig(Translation::Mapped(c)) => {
                    Some(Coding::with_code(c.system, c.code).display(c.display))
                }
                _ => None,
            };
            if let Some(role) = role {
                cc.get_or_insert_with(CodeableConcept::default)
                    .coding
                    .push(role);
            }
        }
        d.use_ = cc.map(Box::new);
    }
    if let Some(t) = dg1
        .field(15)
        .first::<Text<'_>>()
        .filter(|t| !t.is_null() && !t.is_empty())
    {
        match text(Some(t))
            .and_then(|v| v.parse::<u32>().ok())
            .and_then(NonZeroU32::new)
        {
            Some(n) => d.rank = Some(Primitive::new(n)),
            None => ctx.report(ReportKind::DataQuality(DataProblem::InvalidValue), at(15)),
        }
    }
    d
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const CONDITION: &str = "segment/dg1_condition.rs";

/// The spreadsheet rows of `DG1[Encounter]`: the Condition rows are written by
/// `DG1[Condition]`, referenced from `diagnosis.condition`.
pub static ROWS: &[Row] = &[
    mapped_in(CONDITION, "DG1-3", "diagnosis.condition(Condition.code)"),
    mapped_in(
        CONDITION,
        "DG1-4",
        "diagnosis.condition(Condition.code.text)",
    ),
    mapped_in(
        CONDITION,
        "DG1-5",
        "diagnosis.condition(Condition.onsetDateTime)",
    ),
    mapped("DG1-6", "diagnosis.use"),
    mapped("DG1-15", "diagnosis.rank"),
    mapped_in(
        CONDITION,
        "DG1-16",
        "diagnosis.condition(Condition.asserter(Practitioner)",
    ),
    mapped_in(
        CONDITION,
        "DG1-19",
        "diagnosis.condition(Condition.extension[1].url)",
    ),
    mapped_in(
        CONDITION,
        "DG1-19",
        "diagnosis.condition(Condition.extension[1].valueDateTime)",
    ),
    mapped_in(
        CONDITION,
        "DG1-19",
        "diagnosis.condition(Condition.recordedDate)",
    ),
    mapped_in(
        CONDITION,
        "DG1-20",
        "diagnosis.condition(Condition.identifier)",
    ),
    mapped_in(
        CONDITION,
        "DG1-21",
        "diagnosis.condition(Condition.verificationStatus.coding.code)",
    ),
    mapped_in(
        CONDITION,
        "DG1-21",
        "diagnosis.condition(Condition.verificationStatus.coding.system",
    ),
    mapped_in(
        CONDITION,
        "DG1-22",
        "diagnosis.condition(Condition.extension[1].uri)",
    ),
    mapped_in(
        CONDITION,
        "DG1-22",
        "diagnosis.condition(Condition.extension[1].valueReference(Condition))",
    ),
];
