//! `DG1[Condition]`: HL7 v2 DG1 → FHIR Condition.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-dg1-to-condition.html>
//!
//! - DG1-3 → `code` (`CWE[CodeableConcept]`); DG1-4 (description, deprecated) → `code.text`
//!   when DG1-3 gives none.
//! - DG1-5 → `onsetDateTime`.
//! - DG1-16 → `asserter`, a Practitioner (`XCN[Practitioner]`): the caller adds it
//!   ([`ConditionParts::asserter`]).
//! - DG1-19 → `recordedDate` and the `condition-assertedDate` extension (the spreadsheet's
//!   `DG1[Condition]` sheet writes the URL as `http://www.hl7.org/fhir/extension-condition-asserteddate`,
//!   not a valid canonical; the core URL its `DG1[Encounter]` sheet gives is used).
//! - DG1-20 → `identifier` (`EI`): the Condition's business key.
//! - DG1-21 `D` (delete) → `verificationStatus` `entered-in-error`.
//! - DG1-22 (parent diagnosis, `EI[Condition]`) → the `condition-dueTo` extension referencing the
//!   Condition with that identifier: the message map points it at the DG1 of this message that
//!   has it (DG1-20), else at a Condition carrying only that identifier, written as shared
//!   reference data (`POST` + `ifNoneExist`: created when the server lacks it, never
//!   overwriting the one it has) ([`ConditionParts::due_to`]).
//!
//! DG1-6 and DG1-15 belong to `DG1[Encounter]` ([`super::dg1_encounter`]); the caller says
//! whether that map read them.

use ehrkit_fhir_model::resources::{Condition, ConditionOnset, Practitioner};
use ehrkit_fhir_model::{
    CodeableConcept, Coding, Extension, ExtensionValue, Identifier, Primitive,
};
use ehrkit_hl7v2::datatypes::{Cwe, Ei, Text, Xcn};
use ehrkit_hl7v2::Segment;

use super::{mapped_in, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, dtm, ei_identifier::ei_identifier, text,
    xcn_practitioner::xcn_practitioner, Context,
};
use crate::{DataProblem, Location, ReportKind};

const FILE: &str = "segment/dg1_condition.rs";

/// The core extension for the date the condition was first asserted.
pub const ASSERTED_DATE: &str = "http://hl7.org/fhir/StructureDefinition/condition-assertedDate";

/// Fields this map reads (DG1-1, the set id, numbers the segment).
const MAPPED_FIELDS: &[usize] = &[1, 3, 4, 5, 16, 19, 20, 21];

/// The core extension pointing at the condition this one is due to.
pub const DUE_TO: &str = "http://hl7.org/fhir/StructureDefinition/condition-dueTo";

/// A Condition and the Practitioner asserting it.
#[derive(Debug, Clone)]
pub struct ConditionParts {
    /// The Condition (no id, no subject yet).
    pub condition: Condition,
    /// DG1-16, to be added by the caller and referenced from `condition.asserter`.
    pub asserter: Option<(Practitioner, Location)>,
    /// DG1-22: the identifier of the parent diagnosis, for the caller to resolve into a
    /// `condition-dueTo` reference.
    pub due_to: Option<Identifier>,
}

/// Converts the `occurrence`-th DG1 of a message. `encounter_fields` lists the fields the
/// caller handles itself: DG1-6 and DG1-15 when `DG1[Encounter]` reads them (there is an
/// Encounter), DG1-22 when it resolves [`ConditionParts::due_to`] (only then is `due_to` set).
/// The others present and not mapped here are reported.
pub fn dg1_condition(
    dg1: &Segment<'_>,
    occurrence: usize,
    encounter_fields: &[usize],
    ctx: &mut Context<'_>,
) -> ConditionParts {
    let at = |field: usize| Location::segment("DG1", occurrence).field(field);
    let mut c = Condition::default();

    let cwe = dg1.field(3).first::<Cwe<'_>>();
    let mut code = cwe
        .as_ref()
        .and_then(|cwe| cwe_codeable_concept(cwe, ctx, &at(3)));
    // DG1-2 (coding method) names the system of a bare DG1-3 code (v2.3-style senders).
    let method_read = super::system_from_coding_method(
        &mut code,
        cwe.as_ref(),
        dg1.field(2).first::<Text<'_>>(),
        ctx,
    );
    if let Some(description) = text(dg1.field(4).first::<Text<'_>>()) {
        let cc = code.get_or_insert_with(CodeableConcept::default);
        if cc.text.is_none() {
            cc.text = Some(Primitive::new(description));
        } else {
            ctx.report(ReportKind::UnmappedField, at(4));
        }
    }
    if code.is_none() {
        ctx.report(ReportKind::DataQuality(DataProblem::MissingRequired), at(3));
    }
    c.code = code.map(Box::new);

    c.onset = dtm::read_date_time(dg1.field(5).first::<Text<'_>>(), ctx, at(5))
        .map(|d| ConditionOnset::DateTime(Primitive::new(d)));

    let asserter = dg1.field(16).first::<Xcn<'_>>().and_then(|x| {
        let at16 = at(16).repetition(1);
        xcn_practitioner(&x, ctx, &at16).map(|p| (p, at16))
    });

    if let Some(d) = dtm::read_date_time(dg1.field(19).first::<Text<'_>>(), ctx, at(19)) {
        c.extension.push(Extension {
            url: Some(ASSERTED_DATE.to_owned()),
            value: Some(ExtensionValue::DateTime(Primitive::new(d.clone()))),
            ..Default::default()
        });
        c.recorded_date = Some(Primitive::new(d));
    }

    if let Some(ei) = dg1.field(20).first::<Ei<'_>>() {
        c.identifier.extend(ei_identifier(&ei, ctx, &at(20)));
    }

    if let Some(action) = text(dg1.field(21).first::<Text<'_>>()) {
        if action == "D" {
            c.verification_status =
                Some(Box::new(CodeableConcept::from_coding(Coding::with_code(
                    "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "entered-in-error",
                ))));
        }
    }

    let due_to = if encounter_fields.contains(&22) {
        dg1.field(22)
            .first::<Ei<'_>>()
            .and_then(|ei| ei_identifier(&ei, ctx, &at(22)))
    } else {
        None
    };

    for f in 1..=dg1.field_count() {
        let field = dg1.field(f);
        if !MAPPED_FIELDS.contains(&f)
            && !encounter_fields.contains(&f)
            && (f != 2 || !method_read)
            && field.repetition_count() > 0
            && !field.is_null()
        {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    ConditionParts {
        condition: c,
        asserter,
        due_to,
    }
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

/// The spreadsheet rows of `DG1[Condition]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("DG1-3", "code[1]"),
    mapped("DG1-4", "code[1].text"),
    mapped("DG1-5", "onsetDateTime"),
    mapped("DG1-16", "asserter(Practitioner)"),
    mapped("DG1-19", "extension[1].url"),
    mapped("DG1-19", "extension[1].valueDateTime"),
    mapped("DG1-19", "recordedDate"),
    mapped("DG1-20", "identifier"),
    mapped("DG1-21", "verificationStatus.coding.code"),
    mapped("DG1-21", "verificationStatus.coding.system"),
    mapped("DG1-22", "extension[2].url"),
    mapped("DG1-22", "extension[2].valueReference(Condition)"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Message;

    #[test]
    fn icd10_diagnosis_with_clinician_and_delete_action() {
        let profile = crate::Profile::generic();
        let msg = Message::parse(
            b"MSH|^~\\&|A|B|C|D|2026||ADT^A08|1|P|2.5.1\rDG1|1||J18.9^Pneumonia, unspecified organism^I10||20260301|A|||||||||1|1234^WELBY^MARCUS^^^DR||||DX-55^EPIC|D|PARENT-1\r",
        )
        .unwrap();
        let mut ctx = Context::new(&profile);
        let parts = dg1_condition(&msg.segment("DG1", 1).unwrap(), 1, &[6, 15, 22], &mut ctx);
        let c = parts.condition;
        let code = c.code.unwrap();
        assert_eq!(
            code.coding[0].system.as_ref().unwrap().value.as_deref(),
            Some("http://hl7.org/fhir/sid/icd-10")
        );
        assert_eq!(
            code.coding[0].code.as_ref().unwrap().value.as_deref(),
            Some("J18.9")
        );
        assert!(matches!(c.onset, Some(ConditionOnset::DateTime(_))));
        assert!(parts.asserter.is_some());
        assert_eq!(
            c.verification_status.unwrap().coding[0]
                .code
                .as_ref()
                .unwrap()
                .value
                .as_deref(),
            Some("entered-in-error")
        );
        let report: Vec<String> = ctx.report.entries().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            parts.due_to.unwrap().value.unwrap().value.as_deref(),
            Some("PARENT-1")
        );
        assert!(
            !report.iter().any(|r| r.starts_with("DG1[1]-22")),
            "{report:?}"
        );
        assert!(!report
            .iter()
            .any(|r| r.starts_with("DG1[1]-6:") || r.starts_with("DG1[1]-15:")));
    }
}
