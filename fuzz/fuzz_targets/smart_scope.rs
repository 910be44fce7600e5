#![no_main]
//! SMART scope parser: parse → format → parse is the identity, v1/v2 mappings keep coverage,
//! errors carry an in-bounds offset, nothing panics.
use libfuzzer_sys::fuzz_target;

#[path = "../props/smart_auth.rs"]
mod props;

fuzz_target!(|data: &[u8]| {
    props::check_scope(data);
});
