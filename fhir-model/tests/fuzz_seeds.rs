//! Runs every seed of the `fhir_json` fuzz target through the same property.
use std::path::Path;

#[path = "../../fuzz/props/fhir_model.rs"]
mod props;

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
        if props::roundtrip_is_stable(&data) {
            parsed += 1;
        }
    }
    assert!(n >= 5, "seeds present");
    assert!(parsed >= 3, "most seeds are valid resources");
}
