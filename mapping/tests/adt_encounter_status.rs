//! Issue 12, ADT family: where `Encounter.status` comes from, decided by the IG's rows.
//!
//! The IG message maps `ADT_A01`, `ADT_A02`, `ADT_A05`, `ADT_A06` and `ADT_A17` send PV1 to
//! `PV1[Encounter]` and have no `MSH[Encounter]` row: the status is PV1-45 valued → `finished`
//! (row `PV1-45`), else PV1-2 through `PatientClass[EncounterStatus]` (row `PV1-2`). Only
//! `ADT_A11` (row 1: `MSH[Encounter]`, MSH-9 through `Event[EncounterStatus]`) takes the status
//! from the event; the converter applies it to the cancel events A11, A12 and A13.
//!
//! Messages written for these tests: `tests/data/adt/a04_outpatient_registration.hl7`,
//! `a08_preadmit_update.hl7`, `a01_with_discharge_date.hl7`.

mod common;
use common::{all, convert_transaction as convert};

use ehrkit_fhir_model::resources::Encounter;
use ehrkit_mapping::v2_to_fhir::Conversion;

fn data(name: &str) -> String {
    common::data("adt", name)
}

fn encounter_status(c: &Conversion) -> String {
    let encounters: Vec<Encounter> = all(&c.bundle);
    assert_eq!(encounters.len(), 1, "one Encounter");
    encounters[0]
        .status
        .as_ref()
        .and_then(|s| s.value.as_ref())
        .map(|s| s.as_code().to_owned())
        .expect("Encounter.status")
}

#[test]
fn a04_outpatient_registration_is_in_progress_from_pv1_2() {
    // PV1-2 `O` → `in-progress` (PatientClass[EncounterStatus]); the event A04 (`planned` in
    // Event[EncounterStatus]) is not used: ADT_A01's map has no MSH[Encounter] row.
    let c = convert(&data("a04_outpatient_registration.hl7"));
    assert_eq!(encounter_status(&c), "in-progress");
}

#[test]
fn a08_update_of_a_preadmit_is_planned_from_pv1_2() {
    // PV1-2 `P` → `planned`; A08 alone would say nothing (`unknown`).
    let c = convert(&data("a08_preadmit_update.hl7"));
    assert_eq!(encounter_status(&c), "planned");
}

#[test]
fn a01_with_a_discharge_date_is_finished_from_pv1_45() {
    let c = convert(&data("a01_with_discharge_date.hl7"));
    assert_eq!(encounter_status(&c), "finished");
}

#[test]
fn record_and_visit_events_follow_pv1_cancel_events_follow_the_event() {
    let base = data("a04_outpatient_registration.hl7");
    for (event, expected) in [
        ("A01", "in-progress"),
        ("A02", "in-progress"),
        ("A04", "in-progress"),
        ("A05", "in-progress"),
        ("A08", "in-progress"),
        ("A28", "in-progress"),
        ("A31", "in-progress"),
        // ADT_A11 row 1 (MSH[Encounter]): the event decides.
        ("A11", "cancelled"),
        ("A13", "in-progress"),
    ] {
        let raw = base
            .replace("ADT^A04^ADT_A01", &format!("ADT^{event}"))
            .replace("EVN|A04", &format!("EVN|{event}"));
        let c = convert(&raw);
        assert_eq!(encounter_status(&c), expected, "{event}");
    }
    // A preadmit (PV1-2 `P`) cancelled by A11 stays cancelled: the event wins there.
    let raw = data("a08_preadmit_update.hl7")
        .replace("ADT^A08^ADT_A01", "ADT^A11^ADT_A09")
        .replace("EVN|A08", "EVN|A11");
    assert_eq!(encounter_status(&convert(&raw)), "cancelled");
}
