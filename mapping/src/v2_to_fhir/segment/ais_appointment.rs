//! `AIS[Appointment]`: HL7 v2 AIS (appointment information — service) → FHIR Appointment.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-ais-to-appointment.html>
//!
//! - AIS-3 → `serviceType`.
//! - AIS-4 (start) and AIS-7 (duration, in AIS-8 units; minutes when absent) → a period. The IG
//!   writes it to `participant.period`, but a service has no participant of its own (FHIR
//!   requires an actor or a type on each): the period gives the Appointment's `start` and `end`
//!   when neither SCH-11 nor TQ1 does. AIS-5 (a start offset, relative to a start the message
//!   does not give) is reported.
//! - AIS-10 (filler status) → the Appointment's `status` when SCH-25 is absent and the trigger
//!   event does not fix it (IG map `FillerStatusCodes[Appointment]`).
//!
//! AIS-1 (set id) and AIS-2 (segment action code) carry no data; the other fields are reported.

use ehrkit_fhir_model::codes::AppointmentStatus;
use ehrkit_fhir_model::{CodeableConcept, Period};
use ehrkit_hl7v2::datatypes::Cwe;
use ehrkit_hl7v2::Segment;

use super::pid_patient::translate;
use super::sch_appointment::{report_fields, resource_period};
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{cwe_codeable_concept::cwe_codeable_concept, text, Context};
use crate::v2_to_fhir::vocab::generated::FILLER_STATUS_CODES_APPOINTMENT;
use crate::Location;

const FILE: &str = "segment/ais_appointment.rs";

/// What an AIS gives the Appointment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceParts {
    /// AIS-3.
    pub service_type: Option<CodeableConcept>,
    /// AIS-4 + AIS-7.
    pub period: Option<Period>,
    /// AIS-10 through `FillerStatusCodes[Appointment]`.
    pub status: Option<AppointmentStatus>,
}

/// Converts the `occurrence`-th AIS of a message.
pub fn ais_appointment(
    ais: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> ServiceParts {
    let at = |field: usize| Location::segment("AIS", occurrence).field(field);
    let service_type = ais
        .field(3)
        .first::<Cwe<'_>>()
        .and_then(|c| cwe_codeable_concept(&c, ctx, &at(3)));
    let period = resource_period(ais, at, [4, 5, 7, 8], ctx);
    let status = ais
        .field(10)
        .first::<Cwe<'_>>()
        .and_then(|c| text(c.identifier()))
        .and_then(|code| translate(&FILLER_STATUS_CODES_APPOINTMENT, &code, ctx, &at(10)))
        .and_then(|c| AppointmentStatus::from_code(&c));
    report_fields(ais, &[1, 2, 3, 4, 5, 7, 8, 10], ctx, at);
    ServiceParts {
        service_type,
        period,
        status,
    }
}

/// The spreadsheet rows of `AIS[Appointment]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped_in(FILE, "AIS-3", "serviceType"),
    mapped_in(FILE, "AIS-4", "participant.period.start"),
    unmapped(
        "AIS-5",
        "participant.period.start",
        "an offset from a start the message does not give; reported when present",
    ),
    mapped_in(FILE, "AIS-7", "participant.period.end"),
    mapped_in(FILE, "AIS-10", "status"),
];
