#![no_main]
//! Bulk export manifest parser: never panics; parse → serialise → parse is
//! the identity. Also exercises the OperationOutcome and Retry-After parsers
//! (see `fuzz/props/bulk_data.rs`).
use libfuzzer_sys::fuzz_target;

#[path = "../props/bulk_data.rs"]
mod props;

fuzz_target!(|data: &[u8]| {
    props::check_manifest(data);
});
