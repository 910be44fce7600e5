//! XTN.3 `CP` (cellular or mobile phone) (issue 12, `XTN[ContactPoint]`).
//!
//! The IG's `TelecommunicationEquipmentType` map sends `CP` to `mobile` of the
//! *contact-point-use* system, while the XTN map puts XTN.3 in `ContactPoint.system`, where
//! `mobile` is no code: the phone lost its system and its being a mobile, unreported. A mobile
//! phone is `system` `phone`, `use` `mobile`.

use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{Converter, Options};
use ehrkit_mapping::Profile;
use serde_json::Value;

fn telecom(pid13: &str) -> (Vec<Value>, Vec<String>) {
    let er7 = format!(
        "MSH|^~\\&|ADT|HOSP|RCV|FAC|20260301123000-0500||ADT^A08|M90|P|2.5.1\r\
         EVN|A08\r\
         PID|1||1^^^HOSP^MR||DOE^JANE||19800101|F|||||{pid13}\r\
         PV1|1|O\r"
    );
    let msg = Message::parse(er7.as_bytes()).expect("message parses");
    let c = Converter::new(Profile::generic(), Options::default())
        .convert(&msg)
        .expect("message converts");
    let json: Value = serde_json::from_str(&ehrkit_fhir_model::to_string(&c.bundle)).unwrap();
    let patient = json["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .find(|r| r["resourceType"] == "Patient")
        .unwrap();
    (
        patient["telecom"].as_array().cloned().unwrap_or_default(),
        c.report.entries().iter().map(|e| e.to_string()).collect(),
    )
}

#[test]
fn a_cell_phone_is_a_mobile_phone() {
    let (t, lines) = telecom("^^CP^^^608^5553434");
    assert_eq!(t[0]["system"], "phone", "{t:?}");
    assert_eq!(t[0]["use"], "mobile", "{t:?}");
    assert_eq!(t[0]["value"], "608 5553434");
    assert!(
        !lines.iter().any(|l| l.starts_with("PID[1]-13")),
        "{lines:?}"
    );
}

#[test]
fn a_cell_phone_with_a_use_code_keeps_mobile_and_reports_the_use() {
    // `PRN` (home) next to `CP`: ContactPoint has one use; `mobile` is kept, XTN.2 reported.
    let (t, lines) = telecom("^PRN^CP^^^608^5553434");
    assert_eq!(t[0]["system"], "phone", "{t:?}");
    assert_eq!(t[0]["use"], "mobile", "{t:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "PID[1]-13(1).2: component not mapped"),
        "{lines:?}"
    );
}

#[test]
fn other_equipment_types_are_unchanged() {
    let (t, lines) = telecom("^PRN^PH^^^608^5551212~^WPN^FX^^^608^5550000");
    assert_eq!(t[0]["system"], "phone");
    assert_eq!(t[0]["use"], "home");
    assert_eq!(t[1]["system"], "fax");
    assert_eq!(t[1]["use"], "work");
    assert!(
        !lines.iter().any(|l| l.starts_with("PID[1]-13")),
        "{lines:?}"
    );
}
