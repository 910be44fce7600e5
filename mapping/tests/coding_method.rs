//! DG1-2 / PR1-2 (diagnosis / procedure coding method) in v2.3-style feeds (issue 12).
//!
//! Older senders write the code alone in DG1-3 / PR1-3 (`401.9`, no CWE.3) and name its
//! coding system in the (deprecated) DG1-2 / PR1-2 (`I9C`, `C4`). The code then came out
//! without a system and DG1-2 was reported: the system is known. When DG1-3 / PR1-3 name no
//! system and DG1-2 / PR1-2 is a coding system the registry knows, it is the coding's system.

use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{Converter, Options};
use ehrkit_mapping::Profile;
use serde_json::Value;

fn convert(segments: &str) -> (Vec<Value>, Vec<String>) {
    let er7 = format!(
        "MSH|^~\\&|ADT|HOSP|RCV|FAC|20260301123000-0500||ADT^A08|M101|P|2.3\r\
         EVN|A08\r\
         PID|1||1^^^HOSP^MR||DOE^J\r\
         PV1|1|O\r\
         {segments}"
    );
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
            .filter(|r| matches!(r["resourceType"].as_str(), Some("Condition" | "Procedure")))
            .collect(),
        c.report.entries().iter().map(|e| e.to_string()).collect(),
    )
}

#[test]
fn the_coding_method_names_the_system_of_a_bare_code() {
    let (r, lines) =
        convert("DG1|1|I9C|401.9|Hypertension|20260101|A\rPR1|1|C4|99213|Office visit|20260101\r");
    assert_eq!(
        r[0]["code"]["coding"][0]["system"],
        "http://hl7.org/fhir/sid/icd-9-cm"
    );
    assert_eq!(r[0]["code"]["coding"][0]["code"], "401.9");
    assert_eq!(
        r[1]["code"]["coding"][0]["system"],
        "http://www.ama-assn.org/go/cpt"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("DG1[1]-2") || l.starts_with("PR1[1]-2")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn an_unknown_method_or_a_code_with_its_own_system_leaves_the_method_reported() {
    let (r, lines) = convert("DG1|1|XYZ|401.9|Hypertension\rDG1|2|I9C|E11.9^Diabetes^I10\r");
    assert!(
        r[0]["code"]["coding"][0].get("system").is_none(),
        "{}",
        r[0]
    );
    assert_eq!(
        r[1]["code"]["coding"][0]["system"],
        "http://hl7.org/fhir/sid/icd-10"
    );
    for at in ["DG1[1]-2: field not mapped", "DG1[2]-2: field not mapped"] {
        assert!(lines.iter().any(|l| l == at), "{at}:\n{}", lines.join("\n"));
    }
}
