//! The FHIR R4 examples: the npm package `hl7.fhir.r4.examples@4.0.1` (5306 example resources
//! plus the R4 definitions, CC0).
//!
//! [`package`] returns its unpacked `package/` folder: `$FHIR_R4_PACKAGE` when set, else a copy
//! fetched with `npm pack` and unpacked with `tar` into `target/tmp/fhir-r4-examples/` on first
//! use (kept for later runs). When npm cannot fetch it (no npm, no registry), it prints
//! `NOTICE: npm could not fetch hl7.fhir.r4.examples@4.0.1, skipping` and returns `None`, so a
//! test skips:
//!
//! ```no_run
//! #[test]
//! fn all_r4_examples_roundtrip() {
//!     let Some(pkg) = ehrkit_testkit::r4_examples::package() else { return };
//!     for file in ehrkit_testkit::r4_examples::json_files(&pkg) {
//!         let _bytes = std::fs::read(file).unwrap();
//!     }
//! }
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The npm package spec fetched.
pub const PACKAGE: &str = "hl7.fhir.r4.examples@4.0.1";
/// The file `npm pack` writes for [`PACKAGE`].
const TARBALL: &str = "hl7.fhir.r4.examples-4.0.1.tgz";
/// The environment variable naming an already unpacked `package/` folder (skips npm).
pub const ENV: &str = "FHIR_R4_PACKAGE";
/// How many example resources ([`json_files`]) the package holds.
pub const EXAMPLE_COUNT: usize = 5306;

/// The unpacked package folder (holding `package.json` and the `*.json` examples), or `None`
/// after printing a notice when npm cannot fetch it. Fetched at most once per process.
pub fn package() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    static FETCHED: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = FETCHED.get_or_init(fetch).clone();
    if found.is_none() {
        eprintln!("NOTICE: npm could not fetch {PACKAGE}, skipping");
    }
    found
}

fn fetch() -> Option<PathBuf> {
    let dir = crate::cache::target_tmp().join("fhir-r4-examples");
    let pkg = dir.join("package");
    if pkg.join("package.json").is_file() {
        return Some(pkg);
    }
    if dir.exists() {
        // An incomplete copy from an older fetcher that unpacked in place: start again.
        let _ = std::fs::remove_dir_all(&dir);
    }
    crate::cache::unpack_once(&dir, |staging| {
        let out = Command::new("npm")
            .args(["pack", PACKAGE])
            .current_dir(staging)
            .output()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if !out.status.success() {
            return Err(format!("npm pack failed ({})", out.status));
        }
        crate::cache::untar(&staging.join(TARBALL), staging)
    })
    .ok()?;
    pkg.join("package.json").is_file().then_some(pkg)
}

/// The example files of an unpacked package folder: every `*.json` directly inside it except
/// `package.json` and dot-files, sorted.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| {
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        n.ends_with(".json") && n != "package.json" && !n.starts_with('.') && p.is_file()
    });
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_files_skip_the_manifest_and_dot_files() {
        let dir = crate::cache::target_tmp().join(format!("testkit-r4-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub.json")).unwrap();
        for f in [
            "package.json",
            ".index.json",
            "b.json",
            "a.json",
            "notes.txt",
        ] {
            std::fs::write(dir.join(f), b"{}").unwrap();
        }
        let names: Vec<_> = json_files(&dir)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.json", "b.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Fetches the real package when npm can (skips with the notice otherwise).
    #[test]
    fn fetches_the_r4_examples() {
        let Some(pkg) = package() else { return };
        let manifest = std::fs::read_to_string(pkg.join("package.json")).unwrap();
        assert!(manifest.contains("hl7.fhir.r4.examples"), "{manifest}");
        assert_eq!(json_files(&pkg).len(), EXAMPLE_COUNT);
        assert!(pkg.join("Patient-example.json").is_file());
        // Second call: the cached copy, same folder.
        assert_eq!(package(), Some(pkg));
    }
}
