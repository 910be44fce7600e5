#![no_main]
//! Parses anything as a FHIR resource; whatever parses must write back to
//! JSON that re-parses to the same value and the same bytes.
use libfuzzer_sys::fuzz_target;

#[path = "../props/fhir_model.rs"]
mod props;

fuzz_target!(|data: &[u8]| {
    props::roundtrip_is_stable(data);
});
