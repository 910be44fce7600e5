//! Fuzz properties of `ehrkit-fhir-model`, shared by the `fhir_json` fuzz
//! target and the crate's seed test (`fhir-model/tests/fuzz_seeds.rs`), both
//! of which include this file by path. Uses the crate's public API only.

use ehrkit_fhir_model::{from_slice, to_vec, Resource};

/// Parses `data` as any resource; if that works, the written JSON must
/// re-parse to the same value and write back to the same bytes. Returns
/// whether `data` parsed; panics when the property does not hold.
pub fn roundtrip_is_stable(data: &[u8]) -> bool {
    let Ok(r) = from_slice::<Resource>(data) else {
        return false;
    };
    let out = to_vec(&r);
    let again: Resource = match from_slice(&out) {
        Ok(again) => again,
        Err(e) => panic!("written JSON does not re-parse: {e}"),
    };
    assert_eq!(again, r, "re-parsed value differs");
    assert_eq!(to_vec(&again), out, "second write differs");
    true
}
