//! NTEs separated from their OBX or OBR by a Z-segment or a PRT (issue 12, ORU_R01, ORM_O01).
//!
//! Z-segments may stand anywhere in a message (site-defined), and v2.7+ puts `{PRT}` between an
//! OBX and its `{NTE}` (`OBSERVATION: OBX {PRT} {NTE}`). Neither ends the OBX's group: the note
//! after them is still the Observation's, not a stray segment.

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
    let resources = json["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .collect();
    (
        resources,
        c.report.entries().iter().map(|e| e.to_string()).collect(),
    )
}

fn notes_of(resources: &[Value], ty: &str) -> Vec<Vec<String>> {
    resources
        .iter()
        .filter(|r| r["resourceType"] == ty)
        .map(|r| {
            r["note"]
                .as_array()
                .map(|n| {
                    n.iter()
                        .map(|n| n["text"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn an_obx_note_after_a_z_segment_or_a_prt_is_the_observations() {
    let (resources, lines) = convert(concat!(
        "MSH|^~\\&|LAB|HOSP|RCV|FAC|20260301123000+0000||ORU^R01^ORU_R01|M40|P|2.8\r",
        "PID|1||123^^^HOSP^MR||DOE^JANE\r",
        "OBR|1|P1||CBC^CBC^L\r",
        "OBX|1|NM|2345-7^Glu^LN||5|mg/dL|||||F\r",
        "ZOX|1|site\r",
        "NTE|1||after a Z-segment\r",
        "OBX|2|NM|2345-7^Glu^LN||6|mg/dL|||||F\r",
        "PRT|1|AD|RO^Responsible Observer^HL70912|1234^DOC^A\r",
        "NTE|1||after a PRT\r",
    ));
    assert_eq!(
        notes_of(&resources, "Observation"),
        [
            vec!["after a Z-segment".to_owned()],
            vec!["after a PRT".to_owned()]
        ],
        "{}",
        lines.join("\n")
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("NTE[")),
        "{}",
        lines.join("\n")
    );
    // The Z-segment and the PRT are still reported.
    assert!(lines.iter().any(|l| l == "ZOX[1]: Z-segment not mapped"));
    assert!(lines.iter().any(|l| l.starts_with("PRT[1]")));
}

#[test]
fn an_order_note_after_a_z_segment_is_the_orders() {
    let (resources, lines) = convert(concat!(
        "MSH|^~\\&|EHR|HOSP|LIS|LAB|20260301123000+0000||ORM^O01|M41|P|2.5\r",
        "PID|1||123^^^HOSP^MR||DOE^JANE\r",
        "ORC|NW|ORD1^EHR\r",
        "OBR|1|ORD1^EHR||85025^CBC^C4\r",
        "ZOR|1|site\r",
        "NTE|1||fasting\r",
    ));
    assert_eq!(
        notes_of(&resources, "ServiceRequest"),
        [vec!["fasting".to_owned()]],
        "{}",
        lines.join("\n")
    );
}

#[test]
fn an_appointment_note_after_a_z_segment_is_the_appointments() {
    let (resources, lines) = convert(concat!(
        "MSH|^~\\&|SCHED|CLINIC|RCV|FAC|20260301123000-0500||SIU^S12^SIU_S12|M43|P|2.5\r",
        "SCH|APT1^SCHED|FILL1^SCHED|||||Checkup^Routine^L|ROUTINE^Routine^HL70276|30|MIN|^^30^202603101000-0500^202603101030-0500\r",
        "ZSC|1|site\r",
        "NTE|1||appt note\r",
        "PID|1||123^^^CLINIC^MR||DOE^JANE\r",
        "RGS|1|A\r",
        "AIS|1|A|99213^Office visit^C4|202603101000-0500\r",
        "ZAI|1|site\r",
        "NTE|1||ais note\r",
    ));
    let appointment = resources
        .iter()
        .find(|r| r["resourceType"] == "Appointment")
        .expect("Appointment");
    assert_eq!(
        appointment["comment"],
        "appt note\nais note",
        "{}",
        lines.join("\n")
    );
    assert!(!lines.iter().any(|l| l.starts_with("NTE[")), "{lines:?}");
}
