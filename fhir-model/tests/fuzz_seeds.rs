//! Runs every seed of the `fhir_json` fuzz target through the same property.
use std::path::Path;

use ehrkit_fhir_model::{from_slice, to_vec, Resource};

/// The fuzz property: parse; if that works, write, re-parse, and the value
/// and the bytes must be stable.
fn check(data: &[u8]) -> bool {
    let Ok(r) = from_slice::<Resource>(data) else {
        return false;
    };
    let out = to_vec(&r);
    let again: Resource = from_slice(&out).expect("written JSON re-parses");
    assert_eq!(again, r);
    assert_eq!(to_vec(&again), out);
    true
}

#[test]
fn fuzz_seeds_hold_the_property() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/seeds/fhir_json"
    ));
    let mut n = 0;
    let mut parsed = 0;
    for e in std::fs::read_dir(dir).expect("seed dir") {
        let data = std::fs::read(e.expect("entry").path()).expect("seed");
        n += 1;
        if check(&data) {
            parsed += 1;
        }
    }
    assert!(n >= 5, "seeds present");
    assert!(parsed >= 3, "most seeds are valid resources");
}
