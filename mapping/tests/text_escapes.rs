//! Highlighting and formatting escapes in ST and TX values (issue 12, *Datatypes*: escapes
//! decoded).
//!
//! `\H\` and `\N\` (start and end highlighting) are escape sequences of every text type, and
//! transcription systems send `\.br\` line breaks in TX as well as FT. Plain text has no
//! highlighting: the sequences must not reach `valueString` or a document as literal
//! backslashes.

use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{Converter, Options};
use ehrkit_mapping::Profile;
use serde_json::Value;

fn bundle(er7: &str) -> Value {
    let msg = Message::parse(er7.as_bytes()).expect("message parses");
    let c = Converter::new(Profile::generic(), Options::default())
        .convert(&msg)
        .expect("message converts");
    serde_json::from_str(&ehrkit_fhir_model::to_string(&c.bundle)).unwrap()
}

fn resources(b: &Value, ty: &str) -> Vec<Value> {
    b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .filter(|r| r["resourceType"] == ty)
        .collect()
}

#[test]
fn st_and_tx_values_drop_highlighting_and_lay_out_line_breaks() {
    let b = bundle(concat!(
        "MSH|^~\\&|LAB|HOSP|RCV|FAC|20260301123000+0000||ORU^R01|M30|P|2.5.1\r",
        "PID|1||123^^^HOSP^MR||DOE^JANE\r",
        "OBR|1|P1||RPT^Report^L\r",
        "OBX|1|ST|x^st^L||a \\H\\critical\\N\\ value||||||F\r",
        "OBX|2|TX|x^tx^L||IMPRESSION:\\.br\\No acute \\T\\ stable||||||F\r",
    ));
    let obs = resources(&b, "Observation");
    assert_eq!(obs[0]["valueString"], "a critical value");
    assert_eq!(obs[1]["valueString"], "IMPRESSION:\nNo acute & stable");
}

#[test]
fn mdm_tx_text_drops_highlighting_and_lays_out_line_breaks() {
    use base64::Engine as _;
    let b = bundle(concat!(
        "MSH|^~\\&|DOC|HOSP|RCV|FAC|20260301123000-0500||MDM^T02^MDM_T02|M31|P|2.5\r",
        "EVN|T02|20260301123000-0500\r",
        "PID|1||123^^^HOSP^MR||DOE^JANE\r",
        "PV1|1|O\r",
        "TXA|1|CN^Consult note^L|TX|||20260301100000-0500||||||DOC-1^HOSP|||||AU||AV\r",
        "OBX|1|TX|||\\H\\HISTORY\\N\\\\.br\\Line \\F\\ two||||||F\r",
    ));
    let docs = resources(&b, "DocumentReference");
    let data = docs[0]["content"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|c| c["attachment"]["data"].as_str())
        .expect("text attachment");
    let text = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    assert_eq!(String::from_utf8(text).unwrap(), "HISTORY\nLine | two");
}
