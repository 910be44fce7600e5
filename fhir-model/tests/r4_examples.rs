//! Round-trip of all 5306 examples of `hl7.fhir.r4.examples@4.0.1`.
mod common;

#[test]
fn all_r4_examples_roundtrip() {
    let Some(pkg) = common::r4_package() else {
        return;
    };
    let files = common::json_files(&pkg);
    assert_eq!(files.len(), 5306, "the package holds 5306 examples");
    let (ok, bad) = common::roundtrip_all(&files);
    for b in bad.iter().take(30) {
        eprintln!("{b}");
    }
    eprintln!("R4 examples: {ok}/{} round-trip", files.len());
    assert!(
        bad.is_empty(),
        "{} of {} examples failed",
        bad.len(),
        files.len()
    );
}
