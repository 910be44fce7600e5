//! `AIL[Appointment]`: HL7 v2 AIL (appointment information — location resource) → a participant
//! of the FHIR Appointment.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-ail-to-appointment.html>
//!
//! - AIL-3 (PL) → the participant's actor: the finest of the place's Locations (`PL[Location]`,
//!   one per level, chained by `partOf`).
//! - AIL-6 (start) and AIL-9 (duration, in AIL-10 units; minutes when absent) →
//!   `participant.period`; AIL-7 (start offset) is reported.
//! - AIL-12 (filler status, table 0278) → `participant.status`; absent: from the Appointment's
//!   status.
//!
//! AIL-1 (set id) and AIL-2 (segment action code) carry no data; other fields (AIL-4 location
//! type, AIL-5 location group) are reported.

use ehrkit_fhir_model::codes::AppointmentStatus;
use ehrkit_fhir_model::resources::AppointmentParticipant;
use ehrkit_fhir_model::Primitive;
use ehrkit_hl7v2::datatypes::Pl;
use ehrkit_hl7v2::Segment;

use super::sch_appointment::{
    participant_status, report_fields, resource_period, Actor, ResourceParticipant,
};
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{pl_location::pl_location, Context};
use crate::Location;

const FILE: &str = "segment/ail_appointment.rs";

/// Converts the `occurrence`-th AIL of a message into a participant of an Appointment whose
/// status is `appointment`.
pub fn ail_appointment(
    ail: &Segment<'_>,
    occurrence: usize,
    appointment: Option<&AppointmentStatus>,
    ctx: &mut Context<'_>,
) -> ResourceParticipant {
    let at = |field: usize| Location::segment("AIL", occurrence).field(field);
    let actor = ail
        .field(3)
        .first::<Pl<'_>>()
        .map(|pl| pl_location(&pl, ctx, &at(3)))
        .filter(|levels| !levels.is_empty())
        .map(Actor::Place);
    let participant = AppointmentParticipant {
        period: resource_period(ail, at, [6, 7, 9, 10], ctx).map(Box::new),
        status: Some(Primitive::new(participant_status(
            ail,
            12,
            appointment,
            ctx,
            at(12),
        ))),
        ..Default::default()
    };
    report_fields(ail, &[1, 2, 3, 6, 7, 9, 10, 12], ctx, at);
    ResourceParticipant {
        participant,
        actor,
        at: at(3),
    }
}

/// The spreadsheet rows of `AIL[Appointment]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped_in(FILE, "AIL-3", "participant.actor[1]"),
    mapped_in(FILE, "AIL-6", "participant.period.start"),
    unmapped(
        "AIL-7",
        "participant.period.start",
        "an offset from a start the message does not give; reported when present",
    ),
    mapped_in(FILE, "AIL-9", "participant.period.end"),
];
