//! Fuzz the vendor-FHIR Normalizer of ehrkit-mapping: any resource JSON ehrkit-fhir-model
//! accepts normalizes under every built-in profile (and one with every quirk and operation)
//! without panicking, deterministically, into resources that read back, with valid ids, every
//! change accounted for, and nothing left to change (see `check` in `fuzz/props/normalize.rs`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../props/normalize.rs"]
mod props;

fuzz_target!(|data: &[u8]| {
    props::check(data);
});
