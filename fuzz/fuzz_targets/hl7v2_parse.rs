//! Fuzz the HL7 v2 parser: parse (lenient and strict), walk every path, write back (zero-copy, batch
//! and owned writer) and compare with the input; escape-encode then decode every value. Never panics
//! except on a violated property (see `ehrkit_hl7v2::fuzzing::check_roundtrip`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrkit_hl7v2::fuzzing::check_roundtrip(data);
});
