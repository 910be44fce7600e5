//! `OBR[Specimen]`: HL7 v2 OBR (observation request) → FHIR Specimen.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-obr-to-specimen.html>
//!
//! The specimen an OBR describes in its own fields (message maps `ORU_R01` row 4.2.2,
//! `OML_O21` row 6.4.1), next to the Specimens of its SPMs:
//! - OBR-7 → `collection.collectedDateTime`, or `collection.collectedPeriod.start` when OBR-8 is
//!   valued; OBR-8 → `collection.collectedPeriod.end`.
//! - OBR-9 (CQ) → `collection.quantity`.
//! - OBR-14 → `receivedTime`.
//! - OBR-10 (XCN) → `collection.collector`, a Practitioner (`obr_collector`, added by the
//!   message map).
//! - OBR-2 (the accession number only "if the placer number is also the accession identifier",
//!   which the message does not say), OBR-13 (fasting, only when the text
//!   says so), OBR-15 (SPS, withdrawn from v2.7) and OBR-39 are listed in [`ROWS`] and not
//!   written; the message map reports the fields no map of the OBR reads.
//!
//! No Specimen when none of OBR-7, 8, 9, 14 is valued and OBR-10 names no collector: it would
//! carry no fact. `subject` is set by the message map.

use ehrkit_fhir_model::resources::{
    Practitioner, Specimen, SpecimenCollection, SpecimenCollectionCollected,
};
use ehrkit_fhir_model::{Period, Primitive};
use ehrkit_hl7v2::datatypes::{Cq, Text, Xcn};
use ehrkit_hl7v2::Segment;

use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cq_quantity::cq_quantity, dtm, xcn_practitioner::xcn_practitioner, Context,
};
use crate::{Location, ReportKind};

const FILE: &str = "segment/obr_specimen.rs";

/// Fields this map reads.
pub(crate) const MAPPED_FIELDS: &[usize] = &[7, 8, 9, 10, 14];

/// The Specimen the `occurrence`-th OBR of a message describes, if it describes one.
pub fn obr_specimen(
    obr: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> Option<Specimen> {
    let at = |field: usize| Location::segment("OBR", occurrence).field(field);
    let start = dtm::read_date_time(obr.field(7).first::<Text<'_>>(), ctx, at(7));
    let end = dtm::read_date_time(obr.field(8).first::<Text<'_>>(), ctx, at(8));
    let collection = SpecimenCollection {
        collected: match (start, end) {
            (Some(s), None) => Some(SpecimenCollectionCollected::DateTime(Primitive::new(s))),
            (None, None) => None,
            (s, e) => Some(SpecimenCollectionCollected::Period(Box::new(Period {
                start: s.map(Primitive::new),
                end: e.map(Primitive::new),
                ..Default::default()
            }))),
        },
        quantity: obr
            .field(9)
            .first::<Cq<'_>>()
            .and_then(|q| cq_quantity(&q, ctx, &at(9)))
            .map(Box::new),
        ..Default::default()
    };
    let mut s = Specimen::default();
    if collection != SpecimenCollection::default() {
        s.collection = Some(Box::new(collection));
    }
    s.received_time =
        dtm::read_date_time(obr.field(14).first::<Text<'_>>(), ctx, at(14)).map(Primitive::new);
    (s != Specimen::default()).then_some(s)
}

/// OBR-10 (collector, XCN, first repetition) → the Practitioner of
/// `collection.collector(Practitioner)`, and where it was read; the message map adds it and
/// sets the reference (a Specimen is written for a collector alone too). Further repetitions
/// are reported (`collector` is 0..1).
pub(crate) fn obr_collector(
    obr: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> Option<(Practitioner, Location)> {
    let at = Location::segment("OBR", occurrence).field(10);
    let field = obr.field(10);
    for r in 2..=field.repetition_count() {
        ctx.report(ReportKind::UnmappedField, at.clone().repetition(r));
    }
    let xcn = field.first::<Xcn<'_>>()?;
    let at = at.repetition(1);
    xcn_practitioner(&xcn, ctx, &at).map(|p| (p, at))
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; reported when valued";

/// The spreadsheet rows of `OBR[Specimen]` and how this map handles each.
pub static ROWS: &[Row] = &[
    unmapped(
        "OBR-2",
        "accessionIdentifier",
        "only if the placer number is also the accession number, which the message does not say; OBR-2 is the requests' and reports' PLAC identifier",
    ),
    mapped("OBR-7", "collection.collectedDateTime"),
    mapped("OBR-7", "collection.collectedPeriod.start"),
    mapped("OBR-8", "collection.collectedPeriod.end"),
    mapped("OBR-9", "collection.quantity"),
    mapped("OBR-10", "collection.collector(Practitioner)"),
    unmapped(
        "OBR-13",
        "collection.fastingStatusCodeableConcept",
        "only if the text represents a fasting status, which needs reading free text; reported",
    ),
    unmapped(
        "OBR-13",
        "collection.fastingStatusDuration",
        "only if the text represents a fasting duration, which needs reading free text; reported",
    ),
    mapped("OBR-14", "receivedTime"),
    unmapped(
        "OBR-15",
        "$this",
        "SPS (withdrawn from v2.7; SPM carries the specimen source) is not converted; reported",
    ),
    unmapped("OBR-39", "note", NOT_YET),
];
