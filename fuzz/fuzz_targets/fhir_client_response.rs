#![no_main]
//! FHIR REST responses from a hostile server: Bundle / resource / OperationOutcome
//! interpretation, paging (caps, repeated `next`, same origin), the throttle classifier and
//! retry decisions, and search-parameter round trips never panic and keep their promises
//! (see `fuzz/props/fhir_client.rs`).
use libfuzzer_sys::fuzz_target;

#[path = "../props/fhir_client.rs"]
mod props;

fuzz_target!(|data: &[u8]| {
    props::check_response(data);
});
