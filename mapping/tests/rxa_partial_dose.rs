//! RXA-20 `PA` (partially administered) (issue 12, VXU_V04; *Nothing silently lost*).
//!
//! The IG's `CompletionStatus` map sends `PA` to `completed`, like `CP`: on its own that says a
//! partial dose was a full one. FHIR R4 says it with `isSubpotent` and the
//! `immunization-subpotent-reason` code `partial`; a full dose says nothing of the kind.

use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{Converter, Options};
use ehrkit_mapping::Profile;
use serde_json::Value;

fn immunization(completion: &str) -> Value {
    let er7 = format!(
        "MSH|^~\\&|EHR|CLINIC|IIS|STATE|20260301123000-0500||VXU^V04^VXU_V04|M60|P|2.5.1\r\
         PID|1||777^^^CLINIC^MR||KID^AMY||20200101|F\r\
         ORC|RE||IZ-1^EHR\r\
         RXA|0|1|20260215||08^HepB^CVX|0.5|mL^mL^UCUM|||||||||||||{completion}|A\r"
    );
    let msg = Message::parse(er7.as_bytes()).expect("message parses");
    let c = Converter::new(Profile::generic(), Options::default())
        .convert(&msg)
        .expect("message converts");
    let json: Value = serde_json::from_str(&ehrkit_fhir_model::to_string(&c.bundle)).unwrap();
    json["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .find(|r| r["resourceType"] == "Immunization")
        .expect("Immunization")
}

#[test]
fn a_partially_administered_dose_is_subpotent() {
    let imm = immunization("PA");
    assert_eq!(imm["status"], "completed");
    assert_eq!(imm["isSubpotent"], true, "{imm}");
    assert_eq!(
        imm["subpotentReason"][0]["coding"][0]["system"],
        "http://terminology.hl7.org/CodeSystem/immunization-subpotent-reason"
    );
    assert_eq!(imm["subpotentReason"][0]["coding"][0]["code"], "partial");
}

#[test]
fn a_complete_dose_says_nothing_of_potency() {
    let imm = immunization("CP");
    assert_eq!(imm["status"], "completed");
    assert!(imm.get("isSubpotent").is_none(), "{imm}");
    assert!(imm.get("subpotentReason").is_none(), "{imm}");
}
