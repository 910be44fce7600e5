#![no_main]
//! SMART discovery and token-response JSON: parse → serialize → parse is stable (unknown and
//! wrongly typed fields kept), CapabilityStatement / OAuth error / discovery state machine never
//! panic.
use libfuzzer_sys::fuzz_target;

#[path = "../props/smart_auth.rs"]
mod props;

fuzz_target!(|data: &[u8]| {
    props::check_json(data);
});
