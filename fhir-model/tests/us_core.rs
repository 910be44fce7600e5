//! Round-trip of the 214 US Core 7.0.0 examples in `../shared/fhir`.
mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn us_core_examples_roundtrip() {
    let tgz = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fhir/us-core-7.0.0.tgz"
    ));
    if !tgz.exists() {
        eprintln!("NOTICE: ../shared absent, skipping the US Core round-trip");
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("us-core-7.0.0");
    let examples = dir.join("package").join("example");
    if !examples.exists() {
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let st = Command::new("tar")
            .arg("xzf")
            .arg(tgz)
            .current_dir(&dir)
            .status();
        if !st.is_ok_and(|s| s.success()) {
            eprintln!("NOTICE: `tar` could not unpack the US Core package, skipping");
            return;
        }
    }
    let files = common::json_files(&examples);
    assert_eq!(files.len(), 214, "US Core 7.0.0 has 214 examples");
    let (ok, bad) = common::roundtrip_all(&files);
    for b in &bad {
        eprintln!("{b}");
    }
    eprintln!("US Core examples: {ok}/{} round-trip", files.len());
    assert!(bad.is_empty());
}
