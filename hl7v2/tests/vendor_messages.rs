//! Vendor-flavoured messages authored under `tests/data/`: Epic-style PID-3 repetitions with assigning
//! authorities, Z-segments, `\.br\` in OBX-5, LF line ends, HL7 nulls, a 1.5 KB lab ORU.

use ehrkit_hl7v2::escape::{DecodeOptions, Formatting};
use ehrkit_hl7v2::{Message, OwnedMessage, ParseOptions, Value};

const EPIC_ADT: &[u8] = include_bytes!("data/adt_a01_epic.hl7");
const LAB_ORU: &[u8] = include_bytes!("data/oru_r01_lab.hl7");
const LF_MIX: &[u8] = include_bytes!("data/lf_vendor_mix.hl7");

#[test]
fn epic_pid3_repetitions_with_assigning_authorities() {
    let m = Message::parse(EPIC_ADT).unwrap();
    assert_eq!(m.repetitions("PID-3"), 3);
    let ids: Vec<(String, String, String)> = (1..=3)
        .map(|r| {
            let g = |c: u32| m.get(&format!("PID-3({r}).{c}")).unwrap().into_owned();
            (g(1), g(4), g(5))
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("E3826471".into(), "EPIC".into(), "MR".into()),
            ("1000472931".into(), "MPI".into(), "PI".into()),
            ("999-45-6789".into(), "SSA".into(), "SS".into()),
        ]
    );
    assert_eq!(m.get("PID-3(1).6").as_deref(), Some("UCHEALTH"));
    assert_eq!(m.get("MSH-4.2").as_deref(), Some("1.2.840.114350.1.13.861"));
    assert_eq!(m.get("MSH-15").as_deref(), Some("AL"));
    // Non-ASCII UTF-8 name, second name repetition, escaped address.
    assert_eq!(m.get("PID-5(1).2").as_deref(), Some("MARÍA"));
    assert_eq!(m.get("PID-5(2).7").as_deref(), Some("M"));
    assert_eq!(m.get("PID-11.1").as_deref(), Some("1420 Larimer St&Apt 5B"));
    assert_eq!(m.raw("PID-11.1"), Some(&b"1420 Larimer St\\T\\Apt 5B"[..]));
    // HL7 null in NK1-6; the Z-segment is kept and addressable.
    assert_eq!(m.value("NK1-6").unwrap(), Value::Null);
    assert_eq!(m.get("ZPD-2.2").as_deref(), Some("ACTIVE"));
    let names: Vec<&str> = m.segments().map(|s| s.name()).collect();
    assert_eq!(names.last(), Some(&"ZPD"));
    assert_eq!(OwnedMessage::from_message(&m).to_bytes(), EPIC_ADT);
}

#[test]
fn formatted_text_in_obx5() {
    let m = Message::parse(EPIC_ADT).unwrap();
    let kept = m.get("OBX-5").unwrap();
    assert!(kept.contains("\\.br\\Troponin pending|ECG"), "{kept}");
    let text = m
        .decoded(
            "OBX-5",
            &DecodeOptions::default().formatting(Formatting::Text),
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        text,
        "Presented via ED with chest pain.\nTroponin pending|ECG: sinus rhythm.\nAllergy: penicillin & sulfa."
    );
    let as_text = Message::parse_with(
        EPIC_ADT,
        ParseOptions::default().formatting(Formatting::Text),
    )
    .unwrap();
    assert_eq!(as_text.get("OBX-5").unwrap(), text);
}

#[test]
fn lab_oru_many_values() {
    let m = Message::parse(LAB_ORU).unwrap();
    assert!((1400..1600).contains(&LAB_ORU.len()));
    assert_eq!(m.get("MSH-9.3").as_deref(), Some("ORU_R01"));
    assert_eq!(m.get("MSH-18").as_deref(), Some("UNICODE UTF-8"));
    assert_eq!(
        m.segment("OBX", 1).unwrap().get("5").as_deref(),
        Some("112")
    );
    assert_eq!(m.get("OBX(4)-3.2").as_deref(), Some("Sodium"));
    assert_eq!(
        m.get("OBX-23.6.2").as_deref(),
        Some("2.16.840.1.113883.4.7")
    );
    assert_eq!(
        m.get("NTE-3").as_deref(),
        Some("Reference ranges per CLIA lab 05D0123456; see \\\\lab\\ranges for details.")
    );
    assert_eq!(m.segments().filter(|s| s.name() == "OBX").count(), 8);
}

#[test]
fn lf_terminated_meditech_style() {
    let m = Message::parse(LF_MIX).unwrap();
    assert_eq!(m.segment_count(), 6);
    assert_eq!(
        m.get("OBX(2)-5").as_deref(),
        Some("Line one\\.br\\Line two with ^ caret and ~ tilde")
    );
    assert_eq!(m.value("ZMT-3").unwrap(), Value::Null);
    assert_eq!(m.value("ZMT-4").unwrap(), Value::Empty);
    assert_eq!(m.value("ZMT-5").unwrap(), Value::Absent);
    assert!(Message::parse_with(LF_MIX, ParseOptions::default().strict(true)).is_err());
    let mut o = OwnedMessage::from_message(&m);
    o.set("ZMT-2.2", "new^value").unwrap();
    let bytes = o.to_bytes();
    assert!(bytes.ends_with(b"ZMT|1|custom^new\\S\\value|\"\"|\n"));
    assert_eq!(
        Message::parse(&bytes).unwrap().get("ZMT-2.2").as_deref(),
        Some("new^value")
    );
}
