#![no_main]
//! Bulk export manifest parser: never panics; parse → serialise → parse is
//! the identity. Also exercises the OperationOutcome and Retry-After parsers.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ehrkit_bulk_data::fuzzing::check_manifest(data);
});
