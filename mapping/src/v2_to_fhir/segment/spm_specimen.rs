//! `SPM[Specimen]`: HL7 v2 SPM → FHIR Specimen.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-spm-to-specimen.html>
//!
//! - SPM-2 (EIP) → `identifier`: the placer's (type `PGN`) and the filler's (type `FGN`), as the
//!   IG's `EIP[Identifier-PlacerAssignedIdentifier]` / `-FillerAssignedIdentifier`.
//! - SPM-4 → `type`; SPM-6 → `container.additiveCodeableConcept` (R4: `container.additive`);
//!   SPM-7 → `collection.method`; SPM-8 → `collection.bodySite`; SPM-12 (CQ) →
//!   `collection.quantity`; SPM-14 → `note.text`.
//! - SPM-17 (DR) → `collection.collectedDateTime`, or `collectedPeriod` when SPM-17.2 is valued.
//! - SPM-18 → `receivedTime`; SPM-20 → `status` (IG map `Yes/NoIndicator[AvailabilityStatus]`).
//! - SPM-24 → `condition`; SPM-27 → `container.type`.
//! - SPM-30 (CX) → `accessionIdentifier`; SPM-31 (CX) → `identifier`; SPM-32 (EI) →
//!   `identifier` of type `SHIP`.
//! - SPM-3 (parent specimens) is listed in [`ROWS`] and reported when present; so is every
//!   field the IG does not map. `subject` and `request` are set by the message map.

use ehrkit_fhir_model::codes::SpecimenStatus;
use ehrkit_fhir_model::resources::{
    Specimen, SpecimenCollection, SpecimenCollectionCollected, SpecimenContainer,
    SpecimenContainerAdditive,
};
use ehrkit_fhir_model::{Annotation, CodeableConcept, Period, Primitive};
use ehrkit_hl7v2::datatypes::{Cq, Cwe, Cx, Dr, Ei, Eip, Text};
use ehrkit_hl7v2::Segment;

use super::orc_service_request::{field_text, report_unmapped_fields, typed_ei};
use super::pid_patient::translate;
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cq_quantity::cq_quantity, cwe_codeable_concept::cwe_codeable_concept,
    cx_identifier::cx_identifier, dtm, Context,
};
use crate::v2_to_fhir::vocab::generated::YES_NO_INDICATOR_AVAILABILITY_STATUS;
use crate::Location;

const FILE: &str = "segment/spm_specimen.rs";

/// Fields this map reads (SPM-1, the set id, carries no data).
const MAPPED_FIELDS: &[usize] = &[1, 2, 4, 6, 7, 8, 12, 14, 17, 18, 20, 24, 27, 30, 31, 32];

/// Converts the `occurrence`-th SPM of a message.
pub fn spm_specimen(spm: &Segment<'_>, occurrence: usize, ctx: &mut Context<'_>) -> Specimen {
    let at = |field: usize| Location::segment("SPM", occurrence).field(field);
    let mut s = Specimen::default();

    if let Some(eip) = spm.field(2).first::<Eip<'_>>() {
        let a = at(2).repetition(1);
        if let Some(id) = typed_ei(
            eip.placer_assigned_identifier(),
            "PGN",
            ctx,
            &a.clone().component(1),
        ) {
            s.identifier.push(id);
        }
        if let Some(id) = typed_ei(
            eip.filler_assigned_identifier(),
            "FGN",
            ctx,
            &a.component(2),
        ) {
            s.identifier.push(id);
        }
    }
    for (r, cx) in spm.field(31).repetitions::<Cx<'_>>().enumerate() {
        if let Some(id) = cx_identifier(&cx, ctx, &at(31).repetition(r + 1)) {
            s.identifier.push(id);
        }
    }
    for (r, ei) in spm.field(32).repetitions::<Ei<'_>>().enumerate() {
        if let Some(id) = typed_ei(Some(ei), "SHIP", ctx, &at(32).repetition(r + 1)) {
            s.identifier.push(id);
        }
    }
    s.accession_identifier = spm
        .field(30)
        .first::<Cx<'_>>()
        .and_then(|cx| cx_identifier(&cx, ctx, &at(30).repetition(1)))
        .map(Box::new);

    let cwe = |f: usize, ctx: &mut Context<'_>| -> Option<CodeableConcept> {
        spm.field(f)
            .first::<Cwe<'_>>()
            .and_then(|c| cwe_codeable_concept(&c, ctx, &at(f)))
    };
    s.type_ = cwe(4, ctx).map(Box::new);

    let mut collection = SpecimenCollection {
        method: cwe(7, ctx).map(Box::new),
        body_site: cwe(8, ctx).map(Box::new),
        quantity: spm
            .field(12)
            .first::<Cq<'_>>()
            .and_then(|q| cq_quantity(&q, ctx, &at(12)))
            .map(Box::new),
        ..Default::default()
    };
    if let Some(dr) = spm.field(17).first::<Dr<'_>>() {
        let start = dtm::read_date_time(
            dr.range_start_date_time().and_then(|t| t.time()),
            ctx,
            at(17).component(1),
        );
        let end = dtm::read_date_time(
            dr.range_end_date_time().and_then(|t| t.time()),
            ctx,
            at(17).component(2),
        );
        collection.collected = match (start, end) {
            (Some(s), None) => Some(SpecimenCollectionCollected::DateTime(Primitive::new(s))),
            (None, None) => None,
            (s, e) => Some(SpecimenCollectionCollected::Period(Box::new(Period {
                start: s.map(Primitive::new),
                end: e.map(Primitive::new),
                ..Default::default()
            }))),
        };
    }
    if collection != SpecimenCollection::default() {
        s.collection = Some(Box::new(collection));
    }

    let container = SpecimenContainer {
        type_: cwe(27, ctx).map(Box::new),
        additive: cwe(6, ctx).map(|c| SpecimenContainerAdditive::CodeableConcept(Box::new(c))),
        ..Default::default()
    };
    if container != SpecimenContainer::default() {
        s.container.push(container);
    }

    if let Some(note) = field_text(spm, 14) {
        s.note.push(Annotation {
            text: Some(Primitive::new(note)),
            ..Default::default()
        });
    }
    s.received_time =
        dtm::read_date_time(spm.field(18).first::<Text<'_>>(), ctx, at(18)).map(Primitive::new);
    if let Some(code) = field_text(spm, 20) {
        s.status = translate(&YES_NO_INDICATOR_AVAILABILITY_STATUS, &code, ctx, &at(20))
            .and_then(|c| SpecimenStatus::from_code(&c))
            .map(Primitive::new);
    }
    for (r, c) in spm.field(24).repetitions::<Cwe<'_>>().enumerate() {
        if let Some(c) = cwe_codeable_concept(&c, ctx, &at(24).repetition(r + 1)) {
            s.condition.push(c);
        }
    }
    report_unmapped_fields(spm, occurrence, &[MAPPED_FIELDS], ctx);
    s
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

/// The spreadsheet rows of `SPM[Specimen]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("SPM-2", "identifier[1]"),
    mapped("SPM-2", "identifier[2]"),
    unmapped(
        "SPM-3",
        "parent[1](Specimen.identifier[1])",
        "parent Specimens are not written yet; reported when present",
    ),
    unmapped(
        "SPM-3",
        "parent[1](Specimen.identifier[2])",
        "parent Specimens are not written yet; reported when present",
    ),
    mapped("SPM-4", "type"),
    mapped("SPM-6", "container.additiveCodeableConcept"),
    mapped("SPM-7", "collection.method"),
    mapped("SPM-8", "collection.bodySite"),
    mapped("SPM-12", "collection.quantity"),
    mapped("SPM-14", "note(Annotation.text)"),
    mapped("SPM-17", "collection.collectedPeriod"),
    mapped("SPM-17", "collection.collectedDateTime"),
    mapped("SPM-18", "receivedTime"),
    mapped("SPM-20", "status"),
    mapped("SPM-24", "condition"),
    mapped("SPM-27", "container.type"),
    mapped("SPM-30", "accessionIdentifier"),
    mapped("SPM-31", "identifier[2]"),
    mapped("SPM-32", "identifier[3]"),
    mapped("SPM-32", "identifier[3].type.coding.code"),
    mapped(
        "SPM-32",
        "identifier[3].type.coding.system=\"http://terminology.hl7.org/CodeSystem/v2-0203\"",
    ),
];
