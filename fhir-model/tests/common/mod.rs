//! Shared helpers for the conformance tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::{from_slice_with, to_vec, ParseOptions, Resource};

/// The unpacked `hl7.fhir.r4.examples@4.0.1` package, downloaded with `npm pack`
/// into the cargo target dir on first use. `None` (with a notice) when npm
/// cannot fetch it.
pub fn r4_package() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("FHIR_R4_PACKAGE") {
        return Some(PathBuf::from(p));
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fhir-r4-examples");
    let pkg = dir.join("package");
    if pkg.join("package.json").exists() {
        return Some(pkg);
    }
    std::fs::create_dir_all(&dir).ok()?;
    let ok = Command::new("npm")
        .args(["pack", "hl7.fhir.r4.examples@4.0.1"])
        .current_dir(&dir)
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("tar")
            .args(["xzf", "hl7.fhir.r4.examples-4.0.1.tgz"])
            .current_dir(&dir)
            .status()
            .is_ok_and(|s| s.success());
    if ok && pkg.join("package.json").exists() {
        Some(pkg)
    } else {
        eprintln!("NOTICE: npm could not fetch hl7.fhir.r4.examples@4.0.1, skipping");
        None
    }
}

/// The JSON example files of a package directory, sorted.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| {
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        n.ends_with(".json") && n != "package.json" && !n.starts_with('.')
    });
    v.sort();
    v
}

/// Parses as a typed resource, writes back, compares as JSON values
/// (numbers by written text). `Err(description)` on any difference;
/// otherwise the number of lenient-parse issues.
pub fn roundtrip(bytes: &[u8]) -> Result<usize, String> {
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
/// Prints how many files had lenient-parse issues.
pub fn roundtrip_all(files: &[PathBuf]) -> (usize, Vec<String>) {
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
