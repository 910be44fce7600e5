//! Fuzz the HL7 v2 parser: parse (lenient and strict), walk every path, write back (zero-copy, batch
//! and owned writer) and compare with the input; escape-encode then decode every value. Never panics
//! except on a violated property (see `fuzz/props/hl7v2.rs`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../props/hl7v2.rs"]
mod props;

fuzz_target!(|data: &[u8]| {
    props::check_roundtrip(data);
});
