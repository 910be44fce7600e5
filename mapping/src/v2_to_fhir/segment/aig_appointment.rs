//! `AIG[Appointment]`: HL7 v2 AIG (appointment information — general resource) → a participant
//! of the FHIR Appointment.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-aig-to-appointment.html>
//!
//! - AIG-3 (resource id, CWE) → the participant's actor: a Location identified by the CWE
//!   (`CWE[Identifier]`: CWE.1 the value, the coding system CWE.3 the system), as the IG writes;
//!   CWE.2 becomes the Location's `name`.
//! - AIG-4 (resource type) → `participant.type`.
//! - AIG-8 (start) and AIG-11 (duration, in AIG-12 units; minutes when absent) →
//!   `participant.period`; AIG-9 (start offset) is reported.
//! - AIG-14 (filler status, table 0278) → `participant.status` (see
//!   [`participation_status`](super::sch_appointment)); absent: from the Appointment's status.
//!
//! AIG-1 (set id) and AIG-2 (segment action code) carry no data; other fields are reported.

use ehrkit_fhir_model::codes::AppointmentStatus;
use ehrkit_fhir_model::resources::{AppointmentParticipant, Location as FhirLocation};
use ehrkit_fhir_model::{Identifier, Primitive};
use ehrkit_hl7v2::datatypes::Cwe;
use ehrkit_hl7v2::Segment;

use super::sch_appointment::{
    participant_status, report_fields, resource_period, Actor, ResourceParticipant,
};
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{cwe_codeable_concept::cwe_codeable_concept, text, Context};
use crate::SystemSource;
use crate::{DataProblem, Location, ReportKind};

const FILE: &str = "segment/aig_appointment.rs";

/// Converts the `occurrence`-th AIG of a message into a participant of an Appointment whose
/// status is `appointment`.
pub fn aig_appointment(
    aig: &Segment<'_>,
    occurrence: usize,
    appointment: Option<&AppointmentStatus>,
    ctx: &mut Context<'_>,
) -> ResourceParticipant {
    let at = |field: usize| Location::segment("AIG", occurrence).field(field);
    let actor = aig.field(3).first::<Cwe<'_>>().and_then(|c| {
        let value = text(c.identifier())?;
        let system = text(c.name_of_coding_system()).and_then(|s| {
            let u = ctx
                .systems
                .coding_system(&s)
                .map(|u| (u.uri.into_owned(), u.source))?;
            if u.1 == SystemSource::Fallback {
                ctx.report(
                    ReportKind::DataQuality(DataProblem::UnknownSystem),
                    at(3).component(3),
                );
            }
            Some(u.0)
        });
        Some(Actor::Location(FhirLocation {
            identifier: vec![Identifier {
                value: Some(Primitive::new(value)),
                system: system.map(Primitive::new),
                ..Default::default()
            }],
            name: text(c.text()).map(Primitive::new),
            ..Default::default()
        }))
    });
    let participant = AppointmentParticipant {
        type_: aig
            .field(4)
            .first::<Cwe<'_>>()
            .and_then(|c| cwe_codeable_concept(&c, ctx, &at(4)))
            .into_iter()
            .collect(),
        period: resource_period(aig, at, [8, 9, 11, 12], ctx).map(Box::new),
        status: Some(Primitive::new(participant_status(
            aig,
            14,
            appointment,
            ctx,
            at(14),
        ))),
        ..Default::default()
    };
    report_fields(aig, &[1, 2, 3, 4, 8, 9, 11, 12, 14], ctx, at);
    ResourceParticipant {
        participant,
        actor,
        at: at(3),
    }
}

/// The spreadsheet rows of `AIG[Appointment]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped_in(FILE, "AIG-3", "participant.actor(Location.identifier)"),
    mapped_in(FILE, "AIG-4", "participant.type"),
    mapped_in(FILE, "AIG-8", "participant.period.start"),
    unmapped(
        "AIG-9",
        "participant.period.start",
        "an offset from a start the message does not give; reported when present",
    ),
    mapped_in(FILE, "AIG-11", "participant.period.end"),
];
