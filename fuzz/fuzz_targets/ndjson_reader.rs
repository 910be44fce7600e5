#![no_main]
//! NDJSON reader: never panics; accepted records agree with serde_json on
//! `resourceType` and survive write → read (see `fuzz/props/bulk_data.rs`).
use libfuzzer_sys::fuzz_target;

#[path = "../props/bulk_data.rs"]
mod props;

fuzz_target!(|data: &[u8]| {
    props::check_ndjson(data);
});
