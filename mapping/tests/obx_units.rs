//! OBX-6 (units) and numbers as real lab feeds write them (issue 12, *Nothing silently lost*).

use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{Converter, Options};
use ehrkit_mapping::Profile;
use serde_json::Value;

/// The Observations of a one-OBX ORU and the report lines.
fn convert(obx: &str) -> (Vec<Value>, Vec<String>) {
    let er7 = format!(
        "MSH|^~\\&|LAB|HOSP|RCV|FAC|20260301123000+0000||ORU^R01|M11|P|2.5.1\r\
         PID|1||123^^^HOSP^MR||DOE^JANE\r\
         OBR|1|P1||CBC^CBC^L\r\
         {obx}\r"
    );
    let msg = Message::parse(er7.as_bytes()).expect("message parses");
    let c = Converter::new(Profile::generic(), Options::default())
        .convert(&msg)
        .expect("message converts");
    let json: Value = serde_json::from_str(&ehrkit_fhir_model::to_string(&c.bundle)).unwrap();
    let observations = json["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .filter(|r| r["resourceType"] == "Observation")
        .collect();
    let lines = c.report.entries().iter().map(|e| e.to_string()).collect();
    (observations, lines)
}

#[test]
fn units_of_a_number_kept_as_text_are_reported_not_dropped() {
    // `5.0 H` is no NM: the text is kept as valueString, which has no place for OBX-6.
    for obx in [
        "OBX|1|NM|2345-7^Glu^LN||5.0 H|mg/dL|||||F",
        "OBX|1|NM|2345-7^Glu^LN||TNP|mg/dL^milligram per deciliter^UCUM|||||F",
        "OBX|1|SN|2345-7^Glu^LN||^abc|mg/dL|||||F",
    ] {
        let (obs, lines) = convert(obx);
        assert!(obs[0]["valueString"].is_string(), "{obx}: {}", obs[0]);
        assert!(
            lines.iter().any(|l| l == "OBX[1]-6: field not mapped"),
            "{obx}: units neither in the Bundle nor in the report:\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn units_of_a_quantity_are_not_reported() {
    let (obs, lines) = convert("OBX|1|NM|2345-7^Glu^LN||5.2|mg/dL|||||F");
    assert_eq!(obs[0]["valueQuantity"]["unit"], "mg/dL");
    assert!(
        !lines.iter().any(|l| l.starts_with("OBX[1]-6")),
        "{lines:?}"
    );
    // The IG's SN string form (`<>`) writes the units into the string.
    let (obs, lines) = convert("OBX|1|SN|2345-7^Glu^LN||<>^5|mg/dL|||||F");
    assert_eq!(obs[0]["valueString"], "<> 5 mg/dL");
    assert!(
        !lines.iter().any(|l| l.starts_with("OBX[1]-6")),
        "{lines:?}"
    );
}

#[test]
fn a_number_padded_with_spaces_is_a_quantity() {
    // Fixed-width lab systems pad numbers (`  5.2`, `140 `): the number is still the result.
    for (obx, value) in [
        ("OBX|1|NM|2345-7^Glu^LN||  5.2|mg/dL|||||F", 5.2),
        ("OBX|1|NM|2951-2^Na^LN||140 |mmol/L|||||F", 140.0),
    ] {
        let (obs, lines) = convert(obx);
        assert_eq!(obs[0]["valueQuantity"]["value"], value, "{obx}: {}", obs[0]);
        assert!(
            !lines.iter().any(|l| l.starts_with("OBX[1]-5")),
            "{obx}: {lines:?}"
        );
    }
}
