//! `AIS[ServiceRequest]`: HL7 v2 AIS (appointment information — service) → the FHIR
//! ServiceRequest of `SCH[ServiceRequest]`.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-ais-to-servicerequest.html>
//!
//! The `SIU_S12` message map (row 5.2.1) applies it only IF SCH-26 OR SCH-27 IS VALUED; the
//! converter applies the first AIS to the request of SCH-26/27 (the IG leaves aligning
//! repeating AIS and SCH-26/27 to the implementer; every AIS-3 is also the Appointment's
//! `serviceType`).
//! - AIS-3 → `identifier[1]` (`CWE[Identifier]`: the code as value, its coding system as
//!   system).
//! - AIS-4 (start) and AIS-7 (duration, AIS-8 units) → `occurrencePeriod`, as
//!   `AIS[Appointment]` reads them.
//! - AIS-5 (start offset) and AIS-11/AIS-12 (supplemental service information) are reported by
//!   `AIS[Appointment]` when present.

use ehrkit_fhir_model::resources::{ServiceRequest, ServiceRequestOccurrence};
use ehrkit_fhir_model::Identifier;

use super::ais_appointment::ServiceParts;
use super::{mapped_in, unmapped, Row};

const FILE: &str = "segment/ais_service_request.rs";

/// Adds what an AIS (read by `AIS[Appointment]` into `service`) gives the ServiceRequest.
pub fn ais_service_request(service: &ServiceParts, sr: &mut ServiceRequest) {
    if let Some(coding) = service
        .service_type
        .as_ref()
        .and_then(|cc| cc.coding.first())
    {
        if coding
            .code
            .as_ref()
            .and_then(|c| c.value.as_ref())
            .is_some()
        {
            sr.identifier.push(Identifier {
                system: coding.system.clone(),
                value: coding.code.clone(),
                ..Default::default()
            });
        }
    }
    if let Some(period) = &service.period {
        sr.occurrence = Some(ServiceRequestOccurrence::Period(Box::new(period.clone())));
    }
}

/// The spreadsheet rows of `AIS[ServiceRequest]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped_in(FILE, "AIS-3", "identifier[1]"),
    mapped_in(FILE, "AIS-4", "occurrencePeriod.start"),
    unmapped(
        "AIS-5",
        "occurrencePeriod.start",
        "an offset from a start the message does not give; reported when present",
    ),
    mapped_in(FILE, "AIS-7", "occurrencePeriod.end"),
    unmapped(
        "AIS-11",
        "identifier[2]",
        "supplemental service information is a code, not an order identifier; reported when present",
    ),
    unmapped(
        "AIS-12",
        "identifier[3]",
        "supplemental service information is a code, not an order identifier; reported when present",
    ),
];
