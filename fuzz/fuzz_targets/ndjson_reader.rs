#![no_main]
//! NDJSON reader: never panics; accepted records agree with serde_json on
//! `resourceType` and survive write → read (see `ehrkit_bulk_data::fuzzing`).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrkit_bulk_data::fuzzing::check_ndjson(data);
});
