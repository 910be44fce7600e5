//! IG message maps (`messages/HL7 Message - FHIR R4_ ADT_A01 - Sheet1.csv` →
//! [`adt_a01`]), one file per map.
//!
//! Implemented: [`adt_a01`] (ADT^A01, and the events that share its structure and resources:
//! A02, A03, A04, A08) and [`oru_r01`]. The other message types are refused with
//! `ConvertError::UnsupportedMessageType`.

pub mod adt_a01;
mod adt_a03;
pub mod adt_a17;
pub mod adt_a40;
pub mod adt_a47;
pub mod dft_p03;
pub mod mdm_t02;
pub mod oml_o21;
pub mod orm_o01;
pub mod oru_r01;
pub mod rde_o11;
pub mod siu_s12;
pub mod vxu_v04;

use ehrkit_fhir_model::resources::{
    Encounter, EncounterLocation, Location as FhirLocation, MessageHeader, Patient, Practitioner,
};
use ehrkit_fhir_model::{Primitive, Reference, TypedResource};
use ehrkit_hl7v2::Message;

use super::convert::{BundleKind, ConvertError, Out, Role};
use super::datatype::Context;
use super::segment::msh_message_header::{msh_message_header, report_outside_message};
use super::segment::pv1_encounter::{pv1_encounter, EncounterParts};
use crate::{Location, ReportKind};

/// A message map: converts `msg` (trigger event `event`) into `out`.
pub(crate) type MessageMap =
    fn(&Message<'_>, &str, &mut Context<'_>, &mut Out) -> Result<(), ConvertError>;

/// The message map for MSH-9 `code^event`.
pub(crate) fn find(code: &str, event: &str) -> Option<MessageMap> {
    match (code, event) {
        (
            "ADT",
            "A01" | "A02" | "A03" | "A04" | "A05" | "A06" | "A07" | "A08" | "A11" | "A12" | "A13"
            | "A14" | "A28" | "A31",
        ) => Some(adt_a01::convert),
        ("ADT", "A17") => Some(adt_a17::convert),
        ("ADT", "A39" | "A40") => Some(adt_a40::convert),
        ("ADT", "A47") => Some(adt_a47::convert),
        ("ORU", "R01") => Some(oru_r01::convert),
        ("ORM", "O01") => Some(orm_o01::convert),
        ("OML", "O21") => Some(oml_o21::convert),
        ("RDE", "O11") => Some(rde_o11::convert),
        ("SIU", e) if siu_s12::status_for_event(e).is_some() => Some(siu_s12::convert),
        ("MDM", "T01" | "T02" | "T06" | "T10") => Some(mdm_t02::convert),
        ("VXU", "V04") => Some(vxu_v04::convert),
        ("DFT", "P03" | "P11") => Some(dft_p03::convert),
        _ => None,
    }
}

/// Adds the Encounter of the `pv1`-th PV1, its Practitioners and Locations; returns the
/// Encounter reference. `pv1` locates reports and keys an Encounter without a visit number by
/// its own position (the second visit of an A17 is not the first one's duplicate).
pub(crate) fn add_encounter(
    parts: EncounterParts,
    pv1: usize,
    patient: &Reference,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Reference {
    let mut encounter = parts.encounter;
    for (i, (practitioner, at)) in parts.practitioners.into_iter().enumerate() {
        let r = out.add_own(
            practitioner,
            practitioner_id,
            |p| &p.identifier,
            Role::Shared,
            ctx,
            &at,
        );
        if let Some(p) = encounter.participant.get_mut(i) {
            p.individual = Some(Box::new(r));
        }
    }
    let mut parent: Option<Reference> = None;
    for level in parts.location {
        let mut location = level.location;
        location.part_of = parent.take().map(Box::new);
        parent = Some(out.add_keyed(
            location,
            location_id,
            &level.key,
            ctx,
            &Location::segment("PV1", pv1).field(3),
        ));
    }
    if let Some(finest) = parent {
        encounter.location.push(EncounterLocation {
            location: Some(Box::new(finest)),
            status: Some(Primitive::new(parts.location_status)),
            ..Default::default()
        });
    }
    for other in parts.other_locations {
        let mut parent: Option<Reference> = None;
        for level in other.levels {
            let mut location = level.location;
            location.part_of = parent.take().map(Box::new);
            parent = Some(out.add_keyed(
                location,
                location_id,
                &level.key,
                ctx,
                &Location::segment("PV1", pv1).field(other.field),
            ));
        }
        if let Some(finest) = parent {
            encounter.location.push(EncounterLocation {
                location: Some(Box::new(finest)),
                status: Some(Primitive::new(other.status)),
                extension: other.extension,
                ..Default::default()
            });
        }
    }
    if let Some((place, key)) = parts.destination {
        let r = out.add_keyed(
            place,
            location_id,
            &key,
            ctx,
            &Location::segment("PV1", pv1).field(37),
        );
        encounter
            .hospitalization
            .get_or_insert_with(Default::default)
            .destination = Some(Box::new(r));
    }
    encounter.subject = Some(Box::new(patient.clone()));
    out.add_own(
        encounter,
        encounter_id,
        |e| &e.identifier,
        Role::Record,
        ctx,
        &Location::segment("PV1", pv1),
    )
}

/// The Encounter of the message's first PV1 for `patient` (status from PV1 alone: the message's
/// event says nothing about the visit). Without a patient the PV1 is reported: an Encounter
/// needs its subject.
pub(crate) fn first_visit(
    msg: &Message<'_>,
    patient: &Option<Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Option<Reference> {
    let pv1 = msg.segment("PV1", 1)?;
    match patient {
        Some(p) => {
            let parts = pv1_encounter(&pv1, 1, None, ctx);
            Some(add_encounter(parts, 1, p, ctx, out))
        }
        None => {
            ctx.report(ReportKind::UnmappedSegment, Location::segment("PV1", 1));
            None
        }
    }
}

/// The MessageHeader of a `message` Bundle (first entry, `focus` on `focus`); for the other
/// Bundle types, the MSH fields they do not carry are reported.
pub(crate) fn finish(
    msg: &Message<'_>,
    focus: Vec<Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) {
    let Some(msh) = msg.segment("MSH", 1) else {
        return;
    };
    if out.kind() == BundleKind::Message {
        let mut header: MessageHeader = msh_message_header(&msh, ctx);
        header.focus = focus;
        let id = out.message_id("MessageHeader");
        header.id = Some(id.clone());
        out.add_first(header.into_resource(), "MessageHeader", id);
    } else {
        report_outside_message(&msh, ctx);
    }
}

/// Reports every segment the map does not convert: Z-segments as such, the others as unmapped
/// (each occurrence, by its position among segments with its id).
pub(crate) fn report_other_segments(msg: &Message<'_>, mapped: &[&str], ctx: &mut Context<'_>) {
    let mut seen = Occurrences::default();
    for seg in msg.segments() {
        let name = seg.name();
        let n = seen.next(name);
        if mapped.contains(&name) || crate::quirks::z_segment_handled(&seg, n, ctx) {
            continue;
        }
        let kind = if name.starts_with('Z') {
            ReportKind::ZSegment
        } else {
            ReportKind::UnmappedSegment
        };
        ctx.report(kind, Location::segment(name, n));
    }
}

/// Counts the segments of a message by id as it is read: [`next`](Occurrences::next) gives each
/// segment's occurrence (1-based) among those with its id, the number reports and positional
/// keys use. Names are borrowed from the message: no allocation per segment type.
#[derive(Default)]
pub(crate) struct Occurrences<'m>(Vec<(&'m str, usize)>);

impl<'m> Occurrences<'m> {
    /// The occurrence of the segment named `name` just read.
    pub(crate) fn next(&mut self, name: &'m str) -> usize {
        match self.0.iter_mut().find(|(s, _)| *s == name) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.0.push((name, 1));
                1
            }
        }
    }
}

pub(crate) fn patient_id(r: &mut Patient) -> &mut Option<String> {
    &mut r.id
}
fn practitioner_id(r: &mut Practitioner) -> &mut Option<String> {
    &mut r.id
}
fn location_id(r: &mut FhirLocation) -> &mut Option<String> {
    &mut r.id
}
fn encounter_id(r: &mut Encounter) -> &mut Option<String> {
    &mut r.id
}
