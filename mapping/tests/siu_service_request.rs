//! Issue 12, SIU: the order an appointment is booked for. IG `SIU_S12` rows 2 (`SCH` →
//! `ServiceRequest[1..n]`, `SCH[ServiceRequest]`) and 5.2.1 (`AIS` → `AIS[ServiceRequest]`),
//! both IF SCH-26 OR SCH-27 IS VALUED, with `Appointment.basedOn` pointing at the request.
//!
//! Message written for this test: `tests/data/siu_mdm_vxu_dft/siu_s12_with_placer_order.hl7`.

mod common;
use common::{all, convert_transaction as convert, request_of};

use ehrkit_fhir_model::resources::{Appointment, ServiceRequest};
use ehrkit_fhir_model::ServiceRequestOccurrence;

fn data(name: &str) -> String {
    common::data("siu_mdm_vxu_dft", name)
}

fn values(sr: &ServiceRequest) -> Vec<String> {
    sr.identifier
        .iter()
        .filter_map(|i| i.value.as_ref()?.value.clone())
        .collect()
}

#[test]
fn sch_26_27_give_the_service_request_the_appointment_is_based_on() {
    let c = convert(&data("siu_s12_with_placer_order.hl7"));
    let requests: Vec<ServiceRequest> = all(&c.bundle);
    assert_eq!(requests.len(), 1, "one ServiceRequest for SCH-26/27");
    let sr = &requests[0];
    // SCH-26 (placer), SCH-27 (filler), AIS-3 (identifier[1] of AIS[ServiceRequest]).
    let ids = values(sr);
    for v in ["PLC-4411", "FLR-7702", "24627-2"] {
        assert!(ids.iter().any(|i| i == v), "{v} in {ids:?}");
    }
    let json = ehrkit_fhir_model::to_string(sr);
    assert!(json.contains(r#""status":"active""#), "{json}");
    assert!(json.contains(r#""intent":"order""#), "{json}");
    // AIS-4 + AIS-7 (45 min) → occurrencePeriod.
    let Some(ServiceRequestOccurrence::Period(p)) = &sr.occurrence else {
        panic!("occurrencePeriod: {json}");
    };
    assert!(p.start.is_some() && p.end.is_some(), "{json}");
    assert!(
        json.contains("2026-03-12T09:30:00-05:00") && json.contains("2026-03-12T10:15:00-05:00")
    );
    assert!(sr.subject.is_some());

    let appointment: Vec<Appointment> = all(&c.bundle);
    let sr_url = format!("urn:uuid:{}", sr.id.as_deref().unwrap());
    assert_eq!(appointment[0].based_on.len(), 1);
    assert_eq!(
        appointment[0].based_on[0]
            .reference
            .as_ref()
            .and_then(|r| r.value.as_deref()),
        Some(sr_url.as_str())
    );
    // The order is the ordering system's record: created when the server lacks it, never
    // overwritten by a scheduling message.
    let (request, method) = request_of(&c.bundle, sr.id.as_deref());
    assert_eq!(method, "POST");
    // Searched by the placer order number, never by the service code (shared by every order
    // for that service).
    let query = request
        .if_none_exist
        .as_ref()
        .and_then(|q| q.value.clone())
        .unwrap();
    assert!(query.ends_with("|PLC-4411"), "{query}");
}

#[test]
fn without_sch_26_27_there_is_no_service_request() {
    let raw = data("siu_s12_with_placer_order.hl7")
        .replace("PLC-4411^CLINICORD^2.16.840.1.113883.3.9901.5^ISO", "")
        .replace("|FLR-7702^RADIOLOGY^2.16.840.1.113883.3.9901.6^ISO", "");
    let c = convert(&raw);
    assert!(all::<ServiceRequest>(&c.bundle).is_empty());
    assert!(all::<Appointment>(&c.bundle)[0].based_on.is_empty());
}

#[test]
fn an_order_number_without_an_authority_stays_a_logical_reference() {
    // SCH-26 `Booked` (a status sent in the wrong field, as some feeds do) and no SCH-27: no
    // authority to key an order by, so no ServiceRequest record is made up; `basedOn` keeps the
    // identifier as a logical reference.
    let raw = data("siu_s12_with_placer_order.hl7")
        .replace(
            "PLC-4411^CLINICORD^2.16.840.1.113883.3.9901.5^ISO",
            "Booked",
        )
        .replace("|FLR-7702^RADIOLOGY^2.16.840.1.113883.3.9901.6^ISO", "");
    let c = convert(&raw);
    assert!(all::<ServiceRequest>(&c.bundle).is_empty());
    let a = &all::<Appointment>(&c.bundle)[0];
    assert_eq!(a.based_on.len(), 1);
    assert!(a.based_on[0].reference.is_none() && a.based_on[0].identifier.is_some());
}
