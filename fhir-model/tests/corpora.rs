//! Round-trip of the example corpora: all 5306 examples of
//! `hl7.fhir.r4.examples@4.0.1` (fetched with npm by `ehrkit-testkit`) and
//! the 214 US Core 7.0.0 examples in `../shared/fhir`. Each skips with a
//! notice when its corpus is unavailable.

use std::path::PathBuf;

use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::{from_slice_with, to_vec, ParseOptions, Resource};
use ehrkit_testkit::{r4_examples, shared};

/// Parses as a typed resource, writes back, compares as JSON values
/// (numbers by written text). `Err(description)` on any difference;
/// otherwise the number of lenient-parse issues.
fn roundtrip(bytes: &[u8]) -> Result<usize, String> {
    let original = Value::parse(bytes).map_err(|e| format!("original is not JSON: {e}"))?;
    let parsed = from_slice_with::<Resource>(bytes, &ParseOptions::default())
        .map_err(|e| format!("ERROR {e}"))?;
    let out = to_vec(&parsed.value);
    let back = Value::parse(&out).map_err(|e| format!("output is not JSON: {e}"))?;
    if let Some(path) = original.first_difference(&back) {
        return Err(format!("DIFF {path}"));
    }
    Ok(parsed.issues.len())
}

/// Round-trips every file on two threads; returns (passed, failures).
/// Prints which files had lenient-parse issues.
fn roundtrip_all(files: &[PathBuf]) -> (usize, Vec<String>) {
    let half = files.len().div_ceil(2);
    let run = |chunk: &[PathBuf]| {
        let mut ok = 0;
        let mut bad = Vec::new();
        for f in chunk {
            let bytes = std::fs::read(f).expect("read example");
            match roundtrip(&bytes) {
                Ok(0) => ok += 1,
                Ok(n) => {
                    ok += 1;
                    eprintln!("note: {} parsed with {n} issue(s)", f.display());
                }
                Err(e) => bad.push(format!("{}: {e}", f.display())),
            }
        }
        (ok, bad)
    };
    let (a, b) = std::thread::scope(|s| {
        let h = s.spawn(|| run(&files[..half]));
        let b = run(&files[half..]);
        (h.join().expect("worker"), b)
    });
    let mut bad = a.1;
    bad.extend(b.1);
    (a.0 + b.0, bad)
}

#[test]
fn all_r4_examples_roundtrip() {
    let Some(pkg) = r4_examples::package() else {
        return;
    };
    let files = r4_examples::json_files(&pkg);
    assert_eq!(files.len(), 5306, "the package holds 5306 examples");
    let (ok, bad) = roundtrip_all(&files);
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

#[test]
fn us_core_examples_roundtrip() {
    let Some(dir) = shared::unpacked("fhir/us-core-7.0.0.tgz", "the US Core round-trip") else {
        return;
    };
    let files = r4_examples::json_files(&dir.join("package").join("example"));
    assert_eq!(files.len(), 214, "US Core 7.0.0 has 214 examples");
    let (ok, bad) = roundtrip_all(&files);
    for b in &bad {
        eprintln!("{b}");
    }
    eprintln!("US Core examples: {ok}/{} round-trip", files.len());
    assert!(bad.is_empty());
}
