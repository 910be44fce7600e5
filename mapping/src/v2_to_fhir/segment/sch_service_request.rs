//! `SCH[ServiceRequest]`: HL7 v2 SCH (schedule activity information) → FHIR ServiceRequest, the
//! order an appointment is booked for.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-sch-to-servicerequest.html>
//!
//! The `SIU_S12` message map (row 2) writes it only IF SCH-26 OR SCH-27 IS VALUED, and points
//! `Appointment.basedOn` at it. The converter needs one of them with an assigning authority to
//! key the order by; without one `basedOn` stays a logical reference.
//! - `status` `active`, SCH-6 row: `intent` `order` (assignments).
//! - SCH-26 (placer order number, type `PLAC`) → `identifier[1]`, SCH-27 (filler order number,
//!   type `FILL`) → `identifier[2]`, as `SCH[Appointment]` reads them for `basedOn`.
//! - SCH-25 (filler status) is not written here: the IG sends it through
//!   `FillerStatusCodes[Appointment]`, whose codes (`booked`, `noshow`, ...) are Appointment
//!   statuses, not request statuses; it is the Appointment's `status`.

use ehrkit_fhir_model::codes::{RequestIntent, RequestStatus};
use ehrkit_fhir_model::resources::{Appointment, ServiceRequest};
use ehrkit_fhir_model::Primitive;

use super::{mapped_in, unmapped, Row};

const FILE: &str = "segment/sch_service_request.rs";

/// The ServiceRequest of an appointment whose SCH-26/SCH-27 gave `basedOn` identifiers (the
/// Appointment from `SCH[Appointment]`), or `None` when neither is valued, or when none of them
/// has an assigning authority (a system): an order number without one cannot key the ordering
/// system's record (each message would make up a new one), so `basedOn` stays the logical
/// reference `SCH[Appointment]` wrote. No subject yet.
pub fn sch_service_request(appointment: &Appointment) -> Option<ServiceRequest> {
    let identifier: Vec<_> = appointment
        .based_on
        .iter()
        .filter_map(|r| r.identifier.as_deref().cloned())
        .collect();
    if !identifier.iter().any(|i| i.system.is_some()) {
        return None;
    }
    Some(ServiceRequest {
        identifier,
        status: Some(Primitive::new(RequestStatus::Active)),
        intent: Some(Primitive::new(RequestIntent::Order)),
        ..Default::default()
    })
}

/// The spreadsheet rows of `SCH[ServiceRequest]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped_in(FILE, "SCH", "status"),
    mapped_in(FILE, "SCH-6", "intent"),
    unmapped(
        "SCH-25",
        "status",
        "FillerStatusCodes[Appointment] gives Appointment statuses, not request statuses: SCH-25 is the Appointment's status (SCH[Appointment])",
    ),
    mapped_in(FILE, "SCH-26", "identifier[1]"),
    mapped_in(FILE, "SCH-27", "identifier[2]"),
];
