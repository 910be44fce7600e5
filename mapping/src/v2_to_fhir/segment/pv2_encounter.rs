//! `PV2[Encounter]`: HL7 v2 PV2 → more of the FHIR Encounter PV1 started.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-pv2-to-encounter.html>
//!
//! - PV2-1 (prior pending location) → a `location` with status `planned` (`PL[Location]`
//!   levels the caller adds, [`Pv2Parts::planned_location`]).
//! - PV2-3 → `reasonCode`; PV2-8/PV2-9 → the R5 cross-version extensions
//!   `extension-Encounter.plannedStartDate` / `plannedEndDate` (the spreadsheet's second URL
//!   has a stray `v\`, not copied).
//! - PV2-11 → `length` in days (UCUM `d`).
//! - PV2-13 → a `participant` of type `REF` (referrer), a Practitioner the caller adds.
//! - PV2-25 → `priority`: the v2 coding and the `v3-ActPriority` coding through
//!   `EncounterPriority`.
//! - PV2-38 → the `encounter-modeOfArrival` extension (`valueCoding` through
//!   `ModeOfArrivalCode`, else the v2 coding as sent).
//! - PV2-12 (visit description → `text.div`) and PV2-22 (protection indicator → `meta.security`)
//!   are not written (see [`ROWS`]) and are reported when valued.

use ehrkit_fhir_model::resources::{Encounter, EncounterParticipant, Practitioner};
use ehrkit_fhir_model::{CodeableConcept, Coding, Duration, Extension, ExtensionValue, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Pl, Text, Xcn};
use ehrkit_hl7v2::Segment;

use super::pid_patient::vocab_coding;
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept,
    dtm,
    nm_quantity::decimal,
    pl_location::{pl_location, Level},
    text,
    xcn_practitioner::xcn_practitioner,
    Context,
};
use crate::v2_to_fhir::vocab::generated::{ENCOUNTER_PRIORITY, MODE_OF_ARRIVAL_CODE};
use crate::Location;
use crate::ReportKind;

const FILE: &str = "segment/pv2_encounter.rs";

/// `extension-Encounter.plannedStartDate` (R5 element as an R4 extension).
pub const PLANNED_START: &str =
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedStartDate";
/// `extension-Encounter.plannedEndDate` (R5 element as an R4 extension).
pub const PLANNED_END: &str =
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedEndDate";
/// `encounter-modeOfArrival`.
pub const MODE_OF_ARRIVAL: &str = "http://hl7.org/fhir/StructureDefinition/encounter-modeOfArrival";

/// Fields this map reads.
const MAPPED_FIELDS: &[usize] = &[1, 3, 8, 9, 11, 13, 25, 38];

/// What PV2 adds besides Encounter elements: resources the caller adds.
#[derive(Debug, Clone, Default)]
pub struct Pv2Parts {
    /// PV2-13 Practitioners, one per participant this map appended to the Encounter (in order,
    /// after PV1's).
    pub practitioners: Vec<(Practitioner, Location)>,
    /// PV2-1 levels, coarsest first: the caller adds them and appends a `location` with status
    /// `planned` pointing at the finest.
    pub planned_location: Vec<Level>,
}

/// Adds the `occurrence`-th PV2 to `e` (the Encounter of the PV1 before it).
pub fn pv2_encounter(
    pv2: &Segment<'_>,
    occurrence: usize,
    e: &mut Encounter,
    ctx: &mut Context<'_>,
) -> Pv2Parts {
    let at = |field: usize| Location::segment("PV2", occurrence).field(field);
    let mut parts = Pv2Parts {
        planned_location: pv2
            .field(1)
            .first::<Pl<'_>>()
            .map(|pl| pl_location(&pl, ctx, &at(1)))
            .unwrap_or_default(),
        ..Default::default()
    };
    for (r, cwe) in pv2.field(3).repetitions::<Cwe<'_>>().enumerate() {
        e.reason_code
            .extend(cwe_codeable_concept(&cwe, ctx, &at(3).repetition(r + 1)));
    }
    for (field, url) in [(8, PLANNED_START), (9, PLANNED_END)] {
        if let Some(d) = dtm::read_date_time(pv2.field(field).first::<Text<'_>>(), ctx, at(field)) {
            e.extension.push(Extension {
                url: Some(url.to_owned()),
                value: Some(ExtensionValue::DateTime(Primitive::new(d))),
                ..Default::default()
            });
        }
    }
    if let Some(days) = decimal(pv2.field(11).first::<Text<'_>>(), ctx, &at(11)) {
        e.length = Some(Box::new(Duration {
            value: Some(Primitive::new(days)),
            unit: Some(Primitive::new("d".to_owned())),
            system: Some(Primitive::new("http://unitsofmeasure.org".to_owned())),
            code: Some(Primitive::new("d".to_owned())),
            ..Default::default()
        }));
    }
    for (r, xcn) in pv2.field(13).repetitions::<Xcn<'_>>().enumerate() {
        let at_r = at(13).repetition(r + 1);
        if let Some(p) = xcn_practitioner(&xcn, ctx, &at_r) {
            e.participant.push(EncounterParticipant {
                type_: vec![CodeableConcept {
                    coding: vec![Coding::with_code(
                        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                        "REF",
                    )],
                    text: Some(Primitive::new("referrer".to_owned())),
                    ..Default::default()
                }],
                ..Default::default()
            });
            parts.practitioners.push((p, at_r));
        }
    }
    if let Some(cwe) = pv2.field(25).first::<Cwe<'_>>() {
        let mut cc = cwe_codeable_concept(&cwe, ctx, &at(25));
        if let Some(code) = text(cwe.identifier()) {
            if let Some(c) = vocab_coding(&ENCOUNTER_PRIORITY, &code, ctx, &at(25)) {
                cc.get_or_insert_with(CodeableConcept::default)
                    .coding
                    .push(c);
            }
        }
        e.priority = cc.map(Box::new);
    }
    if let Some(cwe) = pv2.field(38).first::<Cwe<'_>>() {
        let coding = text(cwe.identifier())
            .and_then(|code| vocab_coding(&MODE_OF_ARRIVAL_CODE, &code, ctx, &at(38)))
            .or_else(|| {
                cwe_codeable_concept(&cwe, ctx, &at(38)).and_then(|cc| cc.coding.into_iter().next())
            });
        if let Some(coding) = coding {
            e.extension.push(Extension {
                url: Some(MODE_OF_ARRIVAL.to_owned()),
                value: Some(ExtensionValue::Coding(Box::new(coding))),
                ..Default::default()
            });
        }
    }

    for f in 1..=pv2.field_count() {
        let field = pv2.field(f);
        if !MAPPED_FIELDS.contains(&f) && field.repetition_count() > 0 && !field.is_null() {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    parts
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

/// The spreadsheet rows of `PV2[Encounter]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("PV2-1", "location[5].location(Location)"),
    mapped("PV2-1", "location[5].status"),
    mapped("PV2-3", "reasonCode[1]"),
    mapped("PV2-8", "extension[1].url"),
    mapped("PV2-8", "extension[1].valueDateTime"),
    mapped("PV2-9", "extension[2].url"),
    mapped("PV2-9", "extension[2].valueDateTime"),
    mapped("PV2-11", "length"),
    unmapped(
        "PV2-12",
        "text.div",
        "the converter writes no narrative (a generated div would need XHTML escaping rules the \
         IG does not give); the field is reported as unmapped when present",
    ),
    mapped("PV2-13", "participant.individual(Practitioner)"),
    mapped("PV2-13", "participant.type.coding.code"),
    mapped("PV2-13", "participant.type.coding.system"),
    mapped("PV2-13", "participant.type.text"),
    unmapped(
        "PV2-22",
        "meta.security",
        "the IG names Yes/NoIndicator → ID[Coding] but no security-label code for `Y`; the \
         field is reported as unmapped when present",
    ),
    mapped("PV2-25", "priority"),
    mapped("PV2-38", "extension[1].url"),
    mapped("PV2-38", "extension[1].valueCoding"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Message;

    #[test]
    fn reason_planned_dates_length_referrer_priority_arrival() {
        let profile = crate::Profile::generic();
        let msg = Message::parse(
            b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rPV2|||R07.9^Chest pain^I10|||||202603011300-0500|202603041000-0500||3|Observation stay|REF1^SENDER^SUE|||||||||Y|||2|||||||||||||A\r",
        )
        .unwrap();
        let mut ctx = Context::new(&profile);
        let mut e = Encounter::default();
        let parts = pv2_encounter(&msg.segment("PV2", 1).unwrap(), 1, &mut e, &mut ctx);
        assert_eq!(e.reason_code.len(), 1);
        assert_eq!(e.extension.len(), 3);
        assert_eq!(e.extension[0].url.as_deref(), Some(PLANNED_START));
        assert_eq!(e.extension[2].url.as_deref(), Some(MODE_OF_ARRIVAL));
        assert_eq!(
            e.length
                .as_ref()
                .unwrap()
                .code
                .as_ref()
                .unwrap()
                .value
                .as_deref(),
            Some("d")
        );
        assert_eq!(parts.practitioners.len(), 1);
        assert_eq!(e.participant.len(), 1);
        let priority = e.priority.unwrap();
        assert_eq!(
            priority
                .coding
                .last()
                .unwrap()
                .code
                .as_ref()
                .unwrap()
                .value
                .as_deref(),
            Some("UR")
        );
        let report: Vec<String> = ctx.report.entries().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            report,
            ["PV2[1]-12: field not mapped", "PV2[1]-22: field not mapped"]
        );
    }
}
