//! VXU_V04: an NTE after an OBX is that Observation's note (IG `VXU_V04` rows 11.3
//! `PERSON_OBSERVATION.NTE` and 12.6.3 `ORDER.OBSERVATION.NTE` → `Observation.note`).

use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{Converter, Options};
use ehrkit_mapping::Profile;
use serde_json::Value;

fn convert(er7: &str) -> (Vec<Value>, Vec<String>) {
    let msg = Message::parse(er7.as_bytes()).expect("message parses");
    let c = Converter::new(Profile::generic(), Options::default())
        .convert(&msg)
        .expect("message converts");
    let json: Value = serde_json::from_str(&ehrkit_fhir_model::to_string(&c.bundle)).unwrap();
    (
        json["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"].clone())
            .filter(|r| r["resourceType"] == "Observation")
            .collect(),
        c.report.entries().iter().map(|e| e.to_string()).collect(),
    )
}

#[test]
fn notes_after_obx_are_observation_notes() {
    let (obs, lines) = convert(concat!(
        "MSH|^~\\&|EHR|CLINIC|IIS|STATE|20260301123000-0500||VXU^V04^VXU_V04|M97|P|2.5.1\r",
        "PID|1||777^^^CLINIC^MR||KID^AMY||20200101|F\r",
        "OBX|1|CE|59784-9^Disease with immunity^LN||38907003^Varicella^SCT||||||F\r",
        "NTE|1||history of chickenpox\r",
        "ORC|RE||IZ-1^EHR\r",
        "RXA|0|1|20260215||08^HepB^CVX|0.5|mL^mL^UCUM||||||||LOT1|||||CP|A\r",
        "OBX|1|CE|64994-7^Eligibility^LN|1|V02^VFC eligible^HL70064||||||F\r",
        "ZOB|1|site\r",
        "NTE|1||eligibility checked\r",
    ));
    let notes: Vec<&Value> = obs.iter().map(|o| &o["note"][0]["text"]).collect();
    assert_eq!(
        notes,
        ["history of chickenpox", "eligibility checked"],
        "{}",
        lines.join("\n")
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("NTE[")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn a_note_of_an_obx_that_is_not_written_is_reported() {
    // An ORC without RXA writes no Immunization: its OBXs are reported, and their NTEs too.
    // An NTE after the RXA (no OBX before it) has no target either.
    let (_, lines) = convert(concat!(
        "MSH|^~\\&|EHR|CLINIC|IIS|STATE|20260301123000-0500||VXU^V04^VXU_V04|M98|P|2.5.1\r",
        "PID|1||777^^^CLINIC^MR||KID^AMY||20200101|F\r",
        "ORC|RE||IZ-1^EHR\r",
        "OBX|1|CE|64994-7^Eligibility^LN|1|V02^VFC eligible^HL70064||||||F\r",
        "NTE|1||not written\r",
        "ORC|RE||IZ-2^EHR\r",
        "RXA|0|1|20260215||08^HepB^CVX|0.5|mL^mL^UCUM||||||||LOT1|||||CP|A\r",
        "NTE|1||after the RXA\r",
    ));
    for at in [
        "OBX[1]: segment not mapped",
        "NTE[1]: segment not mapped",
        "NTE[2]: segment not mapped",
    ] {
        assert!(lines.iter().any(|l| l == at), "{at}:\n{}", lines.join("\n"));
    }
}
