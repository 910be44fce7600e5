//! `AIP[Appointment]`: HL7 v2 AIP (appointment information — personnel resource) → a
//! participant of the FHIR Appointment.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-aip-to-appointment.html>
//!
//! - AIP-3 (XCN) → the participant's actor, a Practitioner (`XCN[Practitioner]`).
//! - AIP-4 (resource type) → `participant.type`.
//! - AIP-6 (start) and AIP-9 (duration, in AIP-10 units; minutes when absent) →
//!   `participant.period`; AIP-7 (start offset) is reported.
//! - AIP-12 (filler status, table 0278) → `participant.status`; absent: from the Appointment's
//!   status.
//!
//! AIP-1 (set id) and AIP-2 (segment action code) carry no data; other fields are reported.

use ehrkit_fhir_model::codes::AppointmentStatus;
use ehrkit_fhir_model::resources::AppointmentParticipant;
use ehrkit_fhir_model::Primitive;
use ehrkit_hl7v2::datatypes::{Cwe, Xcn};
use ehrkit_hl7v2::Segment;

use super::sch_appointment::{
    participant_status, report_fields, resource_period, Actor, ResourceParticipant,
};
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, xcn_practitioner::xcn_practitioner, Context,
};
use crate::Location;

const FILE: &str = "segment/aip_appointment.rs";

/// Converts the `occurrence`-th AIP of a message into a participant of an Appointment whose
/// status is `appointment`.
pub fn aip_appointment(
    aip: &Segment<'_>,
    occurrence: usize,
    appointment: Option<&AppointmentStatus>,
    ctx: &mut Context<'_>,
) -> ResourceParticipant {
    let at = |field: usize| Location::segment("AIP", occurrence).field(field);
    let actor = aip
        .field(3)
        .first::<Xcn<'_>>()
        .and_then(|x| xcn_practitioner(&x, ctx, &at(3).repetition(1)))
        .map(Actor::Practitioner);
    for r in 2..=aip.field(3).repetition_count() {
        ctx.report(crate::ReportKind::UnmappedField, at(3).repetition(r));
    }
    let participant = AppointmentParticipant {
        type_: aip
            .field(4)
            .first::<Cwe<'_>>()
            .and_then(|c| cwe_codeable_concept(&c, ctx, &at(4)))
            .into_iter()
            .collect(),
        period: resource_period(aip, at, [6, 7, 9, 10], ctx).map(Box::new),
        status: Some(Primitive::new(participant_status(
            aip,
            12,
            appointment,
            ctx,
            at(12),
        ))),
        ..Default::default()
    };
    report_fields(aip, &[1, 2, 3, 4, 6, 7, 9, 10, 12], ctx, at);
    ResourceParticipant {
        participant,
        actor,
        at: at(3),
    }
}

/// The spreadsheet rows of `AIP[Appointment]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped_in(FILE, "AIP-3", "participant.actor[1]"),
    mapped_in(FILE, "AIP-4", "participant.type[1]"),
    mapped_in(FILE, "AIP-6", "participant.period.start"),
    unmapped(
        "AIP-7",
        "participant.period.start",
        "an offset from a start the message does not give; reported when present",
    ),
    mapped_in(FILE, "AIP-9", "participant.period.end"),
    mapped_in(FILE, "AIP-12", "participant.status[1]"),
];
