//! The conditional-update URL of a record (`PUT Patient?identifier=system|value`, issue 12,
//! *Ids and Bundle*) when the identifier holds a FHIR search delimiter.
//!
//! A server percent-decodes the query, then splits a token on `,` (OR), `|` (system|code) and
//! `$` (composite): FHIR R4's "Escaping Search Parameters" says those and `\` are escaped with
//! `\` inside a value. Unescaped, an MRN `C,D` asks for "`…|C` OR `D` in any system", and the
//! conditional update can overwrite another patient whose identifier is `D`.

use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{Converter, Options};
use ehrkit_mapping::Profile;
use serde_json::Value;

fn patient_url(cx1: &str) -> String {
    let er7 = format!(
        "MSH|^~\\&|ADT|HOSP|RCV|FAC|20260301123000-0500||ADT^A08|M103|P|2.5.1\r\
         EVN|A08\r\
         PID|1||{cx1}^^^2.16.840.1.113883.19.5&2.16.840.1.113883.19.5&ISO^MR||DOE^J\r\
         PV1|1|O\r"
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
        .find(|e| e["resource"]["resourceType"] == "Patient")
        .and_then(|e| e["request"]["url"].as_str())
        .unwrap()
        .to_owned()
}

/// The query value as a server reads it: percent-decoded.
fn decoded(url: &str) -> String {
    let q = url.split_once("identifier=").unwrap().1;
    let bytes = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&q[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn search_delimiters_in_an_identifier_are_escaped() {
    // `\F\` is a `|` in the value, `\E\` a backslash.
    let url = patient_url("C,D$E\\F\\G\\E\\H");
    assert_eq!(
        decoded(&url),
        "urn:oid:2.16.840.1.113883.19.5|C\\,D\\$E\\|G\\\\H",
        "{url}"
    );
}

#[test]
fn a_plain_identifier_is_unchanged() {
    let url = patient_url("123-45");
    assert_eq!(
        url,
        "Patient?identifier=urn:oid:2.16.840.1.113883.19.5|123-45"
    );
}
