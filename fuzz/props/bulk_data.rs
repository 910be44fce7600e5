//! Fuzz properties of `ehrkit-bulk-data`, shared by the fuzz targets
//! (`fuzz/fuzz_targets/ndjson_reader.rs`, `bulk_manifest.rs`, through
//! `#[path = "../props/bulk_data.rs"] mod props;`) and the crate's
//! `tests/fuzz_seeds.rs` (through `#[path = "../../fuzz/props/bulk_data.rs"]`),
//! so seeds run the exact same check without cargo-fuzz. Plain Rust over the
//! crate's public API. Each function panics when a property is violated and
//! must never panic otherwise.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use ehrkit_bulk_data::fhir_model::from_slice;
use ehrkit_bulk_data::{
    parse_retry_after, Manifest, NdjsonReader, NdjsonWriter, OperationOutcome, ReaderOptions,
};

/// A plausible FHIR resource type name: an ASCII capital letter followed by
/// ASCII letters or digits, at most 64 bytes (what the reader promises).
fn is_valid_type_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_uppercase()
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric())
}

/// The first top-level `resourceType` as serde_json sees it (a reference
/// implementation for the scanner): `Ok(Some(s))` if the line is a JSON object
/// whose first `resourceType` member is a string.
struct FirstResourceType(Option<Option<String>>);

impl<'de> serde::Deserialize<'de> for FirstResourceType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FirstResourceType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut first: Option<Option<String>> = None;
                while let Some(k) = m.next_key::<String>()? {
                    if k == "resourceType" && first.is_none() {
                        let v: serde_json::Value = m.next_value()?;
                        first = Some(v.as_str().map(str::to_owned));
                    } else {
                        m.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(FirstResourceType(first))
            }
        }
        d.deserialize_map(V)
    }
}

/// NDJSON reader property: never panics; every accepted record is within the
/// line limit, has a valid type name that agrees with serde_json whenever the
/// line is valid JSON; records serde_json accepts survive write → read.
pub fn check_ndjson(data: &[u8]) {
    let max = 4096;
    let mut r = NdjsonReader::with_options(data, ReaderOptions::default().max_line_len(max));
    let mut kept: Vec<(String, String)> = Vec::new();
    let mut steps = 0usize;
    while let Some(rec) = r.next_record() {
        steps += 1;
        assert!(steps <= data.len() + 1, "reader does not make progress");
        let Ok(rec) = rec else { continue };
        assert!(rec.json().len() <= max);
        assert!(is_valid_type_name(rec.resource_type()));
        if let Ok(FirstResourceType(first)) = serde_json::from_str(rec.json()) {
            assert_eq!(
                first.flatten().as_deref(),
                Some(rec.resource_type()),
                "scanner disagrees with serde_json"
            );
            kept.push((rec.resource_type().to_owned(), rec.json().to_owned()));
        }
    }
    // Round-trip what was valid.
    let mut w = NdjsonWriter::new(Vec::new());
    for (_, json) in &kept {
        w.write_raw(json).expect("accepted record is writable");
    }
    let out = w.finish().expect("Vec never fails");
    let mut r = NdjsonReader::new(&out[..]);
    for (rt, json) in &kept {
        let rec = r.next_record().expect("record").expect("valid record");
        assert_eq!(rec.resource_type(), rt);
        assert_eq!(rec.json(), json);
    }
    assert!(r.next_record().is_none());
}

/// Manifest parser property: never panics; a parsed manifest serialises and
/// parses back to the same value. Also feeds the input to the OperationOutcome
/// parser (fhir-model's, as the client uses it) and the `Retry-After`
/// parser (neither may panic).
pub fn check_manifest(data: &[u8]) {
    let _ = from_slice::<OperationOutcome>(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_retry_after(s, std::time::SystemTime::UNIX_EPOCH);
        let _ = parse_retry_after(s, std::time::SystemTime::now());
    }
    if let Ok(m) = Manifest::from_json(data) {
        let again = serde_json::to_vec(&m).expect("manifest serialises");
        let m2 = Manifest::from_json(&again).expect("re-parse");
        assert_eq!(m, m2);
        assert_eq!(m.next_page(), m2.next_page());
    }
}
