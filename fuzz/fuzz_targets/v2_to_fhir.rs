//! Fuzz the HL7 v2 → FHIR converter of ehrkit-mapping: any message the parser accepts converts
//! (or is refused with a typed error) for every Bundle type, deterministically, into a Bundle
//! whose JSON reads back and whose references resolve. Never panics except on a violated
//! property (see `check_convert` in `fuzz/props/mapping.rs`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../props/mapping.rs"]
mod props;

fuzz_target!(|data: &[u8]| {
    props::check_convert(data);
});
