//! `AL1[AllergyIntolerance]`: HL7 v2 AL1 → FHIR AllergyIntolerance.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-al1-to-allergyintolerance.html>
//!
//! - `clinicalStatus` is `active` (IG assignment).
//! - AL1-2 (allergen type, HL7 table 0127) → `category` through `AllergenType[AllergyIntoleranceCategory]`
//!   and `type` through `AllergyType`; the CWE itself goes to the category's `alternate-codes`
//!   extension, so a type with no FHIR category (`MA`, `MC`) is still carried.
//! - AL1-3 → `code` (`CWE[CodeableConcept]`).
//! - AL1-4 (severity, table 0128) → `criticality` through
//!   `AllergySeverity[AllergyIntolerance.criticality]` (`SV` → `high`, `MI` → `low`; `MO` and `U`
//!   have no equivalent), the CWE in the criticality's `alternate-codes` extension, and
//!   `reaction.severity` through `AllergySeverity[AllergyIntolerance.reaction.severity]` when
//!   there is a reaction to carry it (FHIR requires a reaction's manifestation).
//! - AL1-5 repetitions → `reaction.manifestation.text`, one reaction.
//! - AL1-6 → `onsetDateTime`.
//!
//! The AllergyIntolerance has no business identifier (AL1 carries none): its id comes from the
//! message and the segment's position, so two AL1s naming the same allergen stay two resources.

use ehrkit_fhir_model::codes::{
    AllergyIntoleranceCategory, AllergyIntoleranceCriticality, AllergyIntoleranceSeverity,
    AllergyIntoleranceType,
};
use ehrkit_fhir_model::resources::{
    AllergyIntolerance, AllergyIntoleranceOnset, AllergyIntoleranceReaction,
};
use ehrkit_fhir_model::{
    CodeableConcept, Coding, ElementExt, Extension, ExtensionValue, Primitive,
};
use ehrkit_hl7v2::datatypes::{Cwe, Text};
use ehrkit_hl7v2::Segment;

use super::{mapped_in, Row};
use crate::v2_to_fhir::datatype::{cwe_codeable_concept::cwe_codeable_concept, dtm, text, Context};
use crate::v2_to_fhir::vocab::generated::{
    ALLERGEN_TYPE_ALLERGY_INTOLERANCE_CATEGORY, ALLERGY_SEVERITY_ALLERGY_INTOLERANCE_CRITICALITY,
    ALLERGY_SEVERITY_ALLERGY_INTOLERANCE_REACTION_SEVERITY, ALLERGY_TYPE,
};
use crate::v2_to_fhir::vocab::{ConceptMap, Translation};
use crate::{DataProblem, Location, ProfileTranslation, ReportKind};

const FILE: &str = "segment/al1_allergy_intolerance.rs";

/// `http://hl7.org/fhir/StructureDefinition/alternate-codes`: the v2 code beside a FHIR code.
pub(crate) const ALTERNATE_CODES: &str = "http://hl7.org/fhir/StructureDefinition/alternate-codes";

/// Fields this map reads (AL1-1, the set id, numbers the segment).
const MAPPED_FIELDS: &[usize] = &[1, 2, 3, 4, 5, 6];

/// Converts the `occurrence`-th AL1 of a message. The caller sets `patient` and the id.
pub fn al1_allergy_intolerance(
    al1: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> AllergyIntolerance {
    let at = |field: usize| Location::segment("AL1", occurrence).field(field);
    let mut a = AllergyIntolerance {
        clinical_status: Some(Box::new(active())),
        ..Default::default()
    };
    if let Some(cwe) = al1.field(2).first::<Cwe<'_>>() {
        allergen_type(&cwe, &mut a, ctx, &at(2));
    }
    a.code = al1
        .field(3)
        .first::<Cwe<'_>>()
        .and_then(|c| cwe_codeable_concept(&c, ctx, &at(3)))
        .map(Box::new);
    if a.code.is_none() {
        ctx.report(ReportKind::DataQuality(DataProblem::MissingRequired), at(3));
    }
    let manifestations: Vec<CodeableConcept> = al1
        .field(5)
        .repetitions::<Text<'_>>()
        .filter_map(|t| text(Some(t)))
        .map(|t| CodeableConcept {
            text: Some(Primitive::new(t)),
            ..Default::default()
        })
        .collect();
    if !manifestations.is_empty() {
        a.reaction.push(AllergyIntoleranceReaction {
            manifestation: manifestations,
            ..Default::default()
        });
    }
    if let Some(cwe) = al1.field(4).first::<Cwe<'_>>() {
        severity(&cwe, &mut a, ctx, &at(4));
    }
    a.onset = dtm::read_date(al1.field(6).first::<Text<'_>>(), ctx, at(6))
        .map(|d| AllergyIntoleranceOnset::DateTime(Primitive::new(d)));

    for f in 1..=al1.field_count() {
        let field = al1.field(f);
        if !MAPPED_FIELDS.contains(&f) && field.repetition_count() > 0 && !field.is_null() {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    a
}

/// `clinicalStatus` = `active` (AL1 and IAM assignment).
pub(crate) fn active() -> CodeableConcept {
    CodeableConcept::from_coding(Coding::with_code(
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
        "active",
    ))
}

/// The FHIR coding for `code` through `map` (profile overrides first), without reporting a
/// miss (the callers keep the v2 code in an extension, so nothing is lost).
pub(crate) fn lookup(map: &ConceptMap, code: &str, ctx: &Context<'_>) -> Option<String> {
    match ctx.profile.translate(map, code) {
        ProfileTranslation::Override(o) => Some(o.code.clone()),
        ProfileTranslation::Ig(Translation::Mapped(c)) => Some(c.code.to_owned()),
        _ => None,
    }
}

/// An `alternate-codes` extension holding `cc`.
fn alternate(cc: CodeableConcept) -> Box<ElementExt> {
    Box::new(ElementExt {
        extension: vec![Extension {
            url: Some(ALTERNATE_CODES.to_owned()),
            value: Some(ExtensionValue::CodeableConcept(Box::new(cc))),
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// AL1-2 / IAM-2 (allergen type, table 0127) → `category` (+ the v2 code in `alternate-codes`)
/// and `type`.
pub(crate) fn allergen_type(
    cwe: &Cwe<'_>,
    a: &mut AllergyIntolerance,
    ctx: &mut Context<'_>,
    at: &Location,
) {
    let code = text(cwe.identifier());
    let category = code
        .as_deref()
        .and_then(|c| lookup(&ALLERGEN_TYPE_ALLERGY_INTOLERANCE_CATEGORY, c, ctx))
        .and_then(|c| AllergyIntoleranceCategory::from_code(&c));
    let original = cwe_codeable_concept(cwe, ctx, at);
    if category.is_some() || original.is_some() {
        a.category.push(Primitive {
            value: category,
            ext: original.map(alternate),
        });
    }
    a.type_ = code
        .as_deref()
        .and_then(|c| lookup(&ALLERGY_TYPE, c, ctx))
        .and_then(|c| AllergyIntoleranceType::from_code(&c))
        .map(Primitive::new);
}

/// AL1-4 / IAM-4 (severity, table 0128) → `criticality` (+ the v2 code in `alternate-codes`)
/// and, when `a` has a reaction, its `severity`. A code neither map knows is reported.
pub(crate) fn severity(
    cwe: &Cwe<'_>,
    a: &mut AllergyIntolerance,
    ctx: &mut Context<'_>,
    at: &Location,
) {
    let code = text(cwe.identifier());
    let criticality = code
        .as_deref()
        .and_then(|c| lookup(&ALLERGY_SEVERITY_ALLERGY_INTOLERANCE_CRITICALITY, c, ctx))
        .and_then(|c| AllergyIntoleranceCriticality::from_code(&c));
    let reaction_severity = code
        .as_deref()
        .and_then(|c| {
            lookup(
                &ALLERGY_SEVERITY_ALLERGY_INTOLERANCE_REACTION_SEVERITY,
                c,
                ctx,
            )
        })
        .and_then(|c| AllergyIntoleranceSeverity::from_code(&c));
    if let Some(code) = &code {
        if criticality.is_none() && reaction_severity.is_none() && code != "U" {
            ctx.report(
                ReportKind::VocabularyMiss {
                    map: ALLERGY_SEVERITY_ALLERGY_INTOLERANCE_CRITICALITY.name,
                },
                at.clone(),
            );
        }
    }
    let original = cwe_codeable_concept(cwe, ctx, at);
    if criticality.is_some() || original.is_some() {
        a.criticality = Some(Primitive {
            value: criticality,
            ext: original.map(alternate),
        });
    }
    if let (Some(s), Some(r)) = (reaction_severity, a.reaction.first_mut()) {
        r.severity = Some(Primitive::new(s));
    }
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

/// The spreadsheet rows of `AL1[AllergyIntolerance]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("AL1", "clinicalStatus.coding.code"),
    mapped("AL1", "clinicalStatus.coding.system"),
    mapped("AL1-2", "category"),
    mapped("AL1-2", "category.extension[1].url"),
    mapped("AL1-2", "category.extension[1].valueCodeableConcept"),
    mapped("AL1-2", "type"),
    mapped("AL1-3", "code"),
    mapped("AL1-4", "criticality"),
    mapped("AL1-4", "criticality.extension[1].url"),
    mapped("AL1-4", "criticality.extension[1].valueCodeableConcept"),
    mapped("AL1-4", "reaction.severity"),
    mapped("AL1-5", "reaction.manifestation.text"),
    mapped("AL1-6", "onsetDateTime"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Message;

    fn convert(msg: &[u8]) -> (AllergyIntolerance, Vec<String>) {
        let profile = crate::Profile::generic();
        let msg = Message::parse(msg).unwrap();
        let al1 = msg.segment("AL1", 1).unwrap();
        let mut ctx = Context::new(&profile);
        let a = al1_allergy_intolerance(&al1, 1, &mut ctx);
        (
            a,
            ctx.report.entries().iter().map(|e| e.to_string()).collect(),
        )
    }

    #[test]
    fn drug_allergy_severe() {
        let (a, report) = convert(
            b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rAL1|1|DA^Drug allergy^HL70127|7980^Penicillin G^RXNORM|SV^Severe^HL70128|Hives~Wheezing|20200114\r",
        );
        assert_eq!(
            a.category[0].value,
            Some(AllergyIntoleranceCategory::Medication)
        );
        assert_eq!(
            a.type_.unwrap().value,
            Some(AllergyIntoleranceType::Allergy)
        );
        let crit = a.criticality.unwrap();
        assert_eq!(crit.value, Some(AllergyIntoleranceCriticality::High));
        assert_eq!(
            crit.ext.unwrap().extension[0].url.as_deref(),
            Some(ALTERNATE_CODES)
        );
        assert_eq!(a.reaction[0].manifestation.len(), 2);
        assert_eq!(
            a.reaction[0].severity.as_ref().unwrap().value,
            Some(AllergyIntoleranceSeverity::Severe)
        );
        let code = a.code.unwrap();
        assert_eq!(
            code.coding[0].system.as_ref().unwrap().value.as_deref(),
            Some("http://www.nlm.nih.gov/research/umls/rxnorm")
        );
        assert!(report.is_empty(), "{report:?}");
    }

    #[test]
    fn moderate_has_no_criticality_but_keeps_the_code_and_reaction_severity() {
        let (a, report) =
            convert(b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rAL1|1|FA|PEANUT|MO|Swelling\r");
        let crit = a.criticality.unwrap();
        assert_eq!(crit.value, None);
        assert!(crit.ext.is_some());
        assert_eq!(
            a.reaction[0].severity.as_ref().unwrap().value,
            Some(AllergyIntoleranceSeverity::Moderate)
        );
        assert!(report.is_empty(), "{report:?}");
    }

    #[test]
    fn unknown_severity_code_is_reported() {
        let (_, report) =
            convert(b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rAL1|1|DA|X|ZZ||||EXTRA\r");
        assert_eq!(
            report,
            [
                "AL1[1]-4: code not in the IG map AllergySeverity[AllergyIntolerance.criticality]",
                "AL1[1]-8: field not mapped"
            ]
        );
    }
}
