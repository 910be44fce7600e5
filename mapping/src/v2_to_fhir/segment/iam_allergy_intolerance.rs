//! `IAM[AllergyIntolerance]`: HL7 v2 IAM (patient adverse reaction information) → FHIR
//! AllergyIntolerance.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-iam-to-allergyintolerance.html>
//!
//! - `clinicalStatus` is `active` unless IAM-17 gives one (`CWE[CodeableConcept]`).
//! - IAM-2, IAM-4: as AL1-2 and AL1-4 ([`super::al1_allergy_intolerance`]): category, type,
//!   criticality, reaction severity, the v2 codes in `alternate-codes` extensions.
//! - IAM-3 → `code`; IAM-27's codings are appended to it (both rows target `code[1]`).
//! - IAM-5 repetitions → `reaction.manifestation.text`.
//! - IAM-7 → `identifier` (the allergy's unique id, `EI`), the business key of the resource.
//! - IAM-11 → `onsetDateTime`, else IAM-12 → `onsetString`; IAM-13 → `recordedDate`.
//! - IAM-14/IAM-15 → `recorder`: IAM-15 absent → a Practitioner named IAM-14; `SEL` → the
//!   Patient; another relationship → a RelatedPerson named IAM-14 with IAM-15 as relationship.
//!   The caller adds the recorder and sets the reference ([`IamParts::recorder`]).

use ehrkit_fhir_model::resources::{
    AllergyIntolerance, AllergyIntoleranceOnset, AllergyIntoleranceReaction, Practitioner,
    RelatedPerson,
};
use ehrkit_fhir_model::{CodeableConcept, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Ei, Text, Xpn};
use ehrkit_hl7v2::Segment;

use super::al1_allergy_intolerance::{active, allergen_type, severity};
use super::{mapped_in, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, dtm, ei_identifier::ei_identifier, text,
    xpn_human_name::xpn_human_name, Context,
};
use crate::{DataProblem, Location, ReportKind};

const FILE: &str = "segment/iam_allergy_intolerance.rs";

/// Fields this map reads (IAM-1, the set id, numbers the segment).
const MAPPED_FIELDS: &[usize] = &[1, 2, 3, 4, 5, 7, 11, 12, 13, 14, 15, 17, 27];

/// Who recorded the allergy (IAM-14/15), to be added by the caller.
#[derive(Debug, Clone)]
pub enum Recorder {
    /// The patient themself (IAM-15 `SEL`).
    Patient,
    /// A practitioner (IAM-15 absent).
    Practitioner(Practitioner),
    /// Someone related to the patient (the caller sets `patient`).
    RelatedPerson(RelatedPerson),
}

/// An AllergyIntolerance and its recorder.
#[derive(Debug, Clone)]
pub struct IamParts {
    /// The AllergyIntolerance (no id, no patient yet).
    pub allergy: AllergyIntolerance,
    /// IAM-14/15, when valued.
    pub recorder: Option<Recorder>,
}

/// Converts the `occurrence`-th IAM of a message.
pub fn iam_allergy_intolerance(
    iam: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> IamParts {
    let at = |field: usize| Location::segment("IAM", occurrence).field(field);
    let mut a = AllergyIntolerance {
        clinical_status: Some(Box::new(
            iam.field(17)
                .first::<Cwe<'_>>()
                .and_then(|c| cwe_codeable_concept(&c, ctx, &at(17)))
                .unwrap_or_else(active),
        )),
        ..Default::default()
    };
    if let Some(cwe) = iam.field(2).first::<Cwe<'_>>() {
        allergen_type(&cwe, &mut a, ctx, &at(2));
    }
    let mut code = iam
        .field(3)
        .first::<Cwe<'_>>()
        .and_then(|c| cwe_codeable_concept(&c, ctx, &at(3)));
    if let Some(extra) = iam
        .field(27)
        .first::<Cwe<'_>>()
        .and_then(|c| cwe_codeable_concept(&c, ctx, &at(27)))
    {
        let cc = code.get_or_insert_with(CodeableConcept::default);
        cc.coding.extend(extra.coding);
        if cc.text.is_none() {
            cc.text = extra.text;
        }
    }
    if code.is_none() {
        ctx.report(ReportKind::DataQuality(DataProblem::MissingRequired), at(3));
    }
    a.code = code.map(Box::new);
    let manifestations: Vec<CodeableConcept> = iam
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
    if let Some(cwe) = iam.field(4).first::<Cwe<'_>>() {
        severity(&cwe, &mut a, ctx, &at(4));
    }
    if let Some(ei) = iam.field(7).first::<Ei<'_>>() {
        a.identifier.extend(ei_identifier(&ei, ctx, &at(7)));
    }
    a.onset = match dtm::read_date(iam.field(11).first::<Text<'_>>(), ctx, at(11)) {
        Some(d) => Some(AllergyIntoleranceOnset::DateTime(Primitive::new(d))),
        None => text(iam.field(12).first::<Text<'_>>())
            .map(|s| AllergyIntoleranceOnset::String(Primitive::new(s))),
    };
    if iam.field(11).text().is_some() && iam.field(12).text().is_some() {
        // IAM-12 is read only when IAM-11 is not valued.
        ctx.report(ReportKind::UnmappedField, at(12));
    }
    a.recorded_date =
        dtm::read_date_time(iam.field(13).first::<Text<'_>>(), ctx, at(13)).map(Primitive::new);

    let recorder = recorder(iam, ctx, &at(14), &at(15));

    for f in 1..=iam.field_count() {
        let field = iam.field(f);
        if !MAPPED_FIELDS.contains(&f) && field.repetition_count() > 0 && !field.is_null() {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    IamParts {
        allergy: a,
        recorder,
    }
}

fn recorder(
    iam: &Segment<'_>,
    ctx: &mut Context<'_>,
    at14: &Location,
    at15: &Location,
) -> Option<Recorder> {
    let relationship = iam.field(15).first::<Cwe<'_>>();
    let relationship_code = relationship.as_ref().and_then(|c| text(c.identifier()));
    if relationship_code.as_deref() == Some("SEL") {
        return Some(Recorder::Patient);
    }
    let name = iam
        .field(14)
        .first::<Xpn<'_>>()
        .and_then(|x| xpn_human_name(&x, ctx, at14));
    match relationship {
        None => name.map(|n| {
            Recorder::Practitioner(Practitioner {
                name: vec![n],
                ..Default::default()
            })
        }),
        Some(cwe) => {
            let rel = cwe_codeable_concept(&cwe, ctx, at15);
            if name.is_none() && rel.is_none() {
                return None;
            }
            Some(Recorder::RelatedPerson(RelatedPerson {
                name: name.into_iter().collect(),
                relationship: rel.into_iter().collect(),
                ..Default::default()
            }))
        }
    }
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

/// The spreadsheet rows of `IAM[AllergyIntolerance]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("IAM-2", "category"),
    mapped("IAM-2", "category.extension[1].url"),
    mapped("IAM-2", "category.extension[1].valueCodeableConcept"),
    mapped("IAM-2", "type"),
    mapped("IAM-3", "code[1]"),
    mapped("IAM-4", "reaction.severity"),
    mapped("IAM-4", "criticality"),
    mapped("IAM-4", "criticality.extension[1].url"),
    mapped("IAM-4", "criticality.extension[1].valueCodeableConcept"),
    mapped("IAM-5", "reaction.manifestation.text"),
    mapped("IAM-7", "identifier"),
    mapped("IAM-11", "onsetDateTime"),
    mapped("IAM-12", "onsetString"),
    mapped("IAM-13", "recordedDate"),
    mapped("IAM-14", "recorder.reference(Practitioner.name)"),
    mapped("IAM-14", "recorder.reference(Patient[1].name)"),
    mapped("IAM-14", "recorder.reference(RelatedPerson.name)"),
    mapped("IAM-15", "recorder.reference(RelatedPerson.relationship)"),
    mapped("IAM-17", "clinicalStatus"),
    mapped("IAM-27", "code[1]"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Message;

    #[test]
    fn iam_with_identifier_and_family_recorder() {
        let profile = crate::Profile::generic();
        let msg = Message::parse(
            b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rIAM|1|DA^Drug allergy^HL70127|70618^Penicillin^RXNORM|MI^Mild^HL70128|Rash|A|ALG-77^EPIC||||20190301||20240105083000-0500|DOE^MARY|MTH^Mother^HL70063\r",
        )
        .unwrap();
        let mut ctx = Context::new(&profile);
        let parts = iam_allergy_intolerance(&msg.segment("IAM", 1).unwrap(), 1, &mut ctx);
        let a = parts.allergy;
        assert_eq!(
            a.identifier[0].value.as_ref().unwrap().value.as_deref(),
            Some("ALG-77")
        );
        assert!(matches!(
            a.onset,
            Some(AllergyIntoleranceOnset::DateTime(_))
        ));
        assert!(a.recorded_date.is_some());
        assert!(
            matches!(parts.recorder, Some(Recorder::RelatedPerson(ref r)) if r.relationship.len() == 1)
        );
        let report: Vec<String> = ctx.report.entries().iter().map(|e| e.to_string()).collect();
        // IAM-6 (action code) has no row in the IG map.
        assert!(
            report.contains(&"IAM[1]-6: field not mapped".to_owned()),
            "{report:?}"
        );
    }
}
