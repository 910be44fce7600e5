#![no_main]
//! Parses anything as a FHIR resource; whatever parses must write back to
//! JSON that re-parses to the same value and the same bytes.
use ehrkit_fhir_model::{from_slice, to_vec, Resource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = from_slice::<Resource>(data) {
        let out = to_vec(&r);
        let again: Resource = from_slice(&out).expect("written JSON re-parses");
        assert_eq!(again, r);
        assert_eq!(to_vec(&again), out);
    }
});
