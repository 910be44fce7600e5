//! `ORC[MedicationRequest]`: HL7 v2 ORC (common order of a pharmacy order) → FHIR
//! MedicationRequest.
//!
//! The IG 1.0.0 has no `ORC[MedicationRequest]` map; this follows `ORC[ServiceRequest]`
//! (<https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-orc-to-servicerequest.html>),
//! which it reuses, and Microsoft FHIR-Converter's RDE/ORM pharmacy outputs: ORC-2 / ORC-3 →
//! `identifier` (`PLAC` / `FILL`), ORC-4 → `groupIdentifier` (the requisition), ORC-5 (else
//! ORC-1) → `status` through the request-status map, then to the MedicationRequest status
//! codes (`revoked` → `cancelled`), ORC-9 → `authoredOn` (ORC-1 `NW`), ORC-12 → `requester`,
//! ORC-16 → `statusReason`. ORC-29 (location code) has no MedicationRequest element and is
//! reported. No coverage rows: the IG has no spreadsheet for this map.

use ehrkit_fhir_model::codes::{MedicationRequestIntent, MedicationrequestStatus, RequestStatus};
use ehrkit_fhir_model::resources::{Medication, MedicationRequest, Practitioner};
use ehrkit_fhir_model::{ExtensionValue, Primitive};
use ehrkit_hl7v2::Segment;

use super::orc_service_request::orc_service_request;
use crate::v2_to_fhir::datatype::Context;
use crate::{Location, ReportKind};

/// A MedicationRequest being built from an order group, its Medication, and the requester.
#[derive(Debug, Clone, Default)]
pub struct MedicationParts {
    /// The request (no subject, encounter, medication or requester reference yet).
    pub request: MedicationRequest,
    /// The Medication (code, form) the request references, when the order names one.
    pub medication: Option<Medication>,
    /// The requester as a Practitioner, and where it was read.
    pub requester: Option<(Practitioner, Location)>,
}

/// Converts the `occurrence`-th ORC of a message into the start of a MedicationRequest with
/// intent `intent`.
pub fn orc_medication_request(
    orc: &Segment<'_>,
    occurrence: usize,
    intent: MedicationRequestIntent,
    ctx: &mut Context<'_>,
) -> MedicationParts {
    let parts = orc_service_request(orc, occurrence, ctx);
    let sr = parts.request;
    let status = sr
        .status
        .and_then(|s| s.value)
        .map(|s| match s {
            RequestStatus::Draft => MedicationrequestStatus::Draft,
            RequestStatus::Active => MedicationrequestStatus::Active,
            RequestStatus::OnHold => MedicationrequestStatus::OnHold,
            RequestStatus::Revoked => MedicationrequestStatus::Cancelled,
            RequestStatus::Completed => MedicationrequestStatus::Completed,
            RequestStatus::EnteredInError => MedicationrequestStatus::EnteredInError,
            _ => MedicationrequestStatus::Unknown,
        })
        .unwrap_or(MedicationrequestStatus::Unknown);
    let mut mr = MedicationRequest {
        identifier: sr.identifier,
        group_identifier: sr.requisition,
        status: Some(Primitive::new(status)),
        intent: Some(Primitive::new(intent)),
        authored_on: sr.authored_on,
        ..Default::default()
    };
    for ext in sr.extension {
        if let Some(ExtensionValue::CodeableConcept(c)) = ext.value {
            mr.status_reason = Some(c);
        }
    }
    if !sr.location_code.is_empty() {
        ctx.report(
            ReportKind::UnmappedField,
            Location::segment("ORC", occurrence).field(29),
        );
    }
    MedicationParts {
        request: mr,
        medication: None,
        requester: parts.requester,
    }
}
