//! The `../shared` folder beside the workspace: HL7 v2 corpora, MPI data sets, FHIR packages.
//!
//! It is not part of the repository, so every test that reads it must skip, with a printed
//! notice, when it is absent:
//!
//! ```no_run
//! #[test]
//! fn corpus_parses() {
//!     let Some(dir) = ehrkit_testkit::shared::require("corpus/hl7v2", "the corpus test") else {
//!         return; // printed "NOTICE: ../shared absent, skipping the corpus test"
//!     };
//!     for file in ehrkit_testkit::shared::files(&dir, &["hl7", "txt"]) {
//!         let _bytes = std::fs::read(file).unwrap();
//!     }
//! }
//! ```
//!
//! The folder is found as `$EHRKIT_SHARED` when that variable is set, otherwise as `shared`
//! next to the workspace root (the checkout's parent folder: `<root>/../shared`).

use std::path::{Path, PathBuf};

/// The environment variable that overrides where `../shared` is.
pub const ENV: &str = "EHRKIT_SHARED";

/// The workspace root (the folder holding the workspace `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // testkit/ is a direct member of the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Where the shared folder is expected: `$EHRKIT_SHARED`, or `<workspace root>/../shared`.
/// It may not exist; see [`root`].
pub fn location() -> PathBuf {
    location_from(std::env::var_os(ENV))
}

fn location_from(var: Option<std::ffi::OsString>) -> PathBuf {
    match var {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join("..").join("shared"),
    }
}

/// The shared folder, when it exists.
pub fn root() -> Option<PathBuf> {
    let p = location();
    p.is_dir().then_some(p)
}

/// `relative` inside the shared folder (`"corpus/hl7v2"`, `"fhir/us-core-7.0.0.tgz"`), when it
/// exists (file or folder). No notice: see [`require`] for tests.
pub fn path(relative: &str) -> Option<PathBuf> {
    let p = root()?.join(relative);
    p.exists().then_some(p)
}

/// [`path`] for a test: when the path is missing, prints
/// `NOTICE: ../shared absent, skipping <what>` (or `NOTICE: ../shared/<relative> absent,
/// skipping <what>` when only that part is missing) and returns `None`.
pub fn require(relative: &str, what: &str) -> Option<PathBuf> {
    let found = path(relative);
    if found.is_none() {
        eprintln!("{}", notice(relative, what, root().is_some()));
    }
    found
}

fn notice(relative: &str, what: &str, root_present: bool) -> String {
    if root_present {
        format!("NOTICE: ../shared/{relative} absent, skipping {what}")
    } else {
        format!("NOTICE: ../shared absent, skipping {what}")
    }
}

/// Evaluates to the path of `$relative` inside `../shared`, or prints the skip notice and
/// `return`s from the enclosing function (a test returning `()`).
///
/// ```no_run
/// # fn test() {
/// let dir = ehrkit_testkit::shared_or_skip!("datasets/mpi/splink_datasets", "MPI conformance");
/// # }
/// ```
#[macro_export]
macro_rules! shared_or_skip {
    ($relative:expr, $what:expr) => {
        match $crate::shared::require($relative, $what) {
            ::core::option::Option::Some(p) => p,
            ::core::option::Option::None => return,
        }
    };
}

/// The files under `dir` (recursively) whose extension is one of `extensions` (without the
/// dot, compared exactly; empty: every file), sorted by path. Unreadable folders are skipped.
pub fn files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect(dir, extensions, &mut out);
    out.sort();
    out
}

fn collect(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for p in rd.flatten().map(|e| e.path()) {
        if p.is_dir() {
            collect(&p, extensions, out);
        } else if extensions.is_empty()
            || p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
        {
            out.push(p);
        }
    }
}

/// A `.tgz` package inside the shared folder (`"fhir/us-core-7.0.0.tgz"`), unpacked once into
/// the cargo target directory (`target/tmp/<file stem>/`); returns that folder (npm packages
/// hold a `package/` folder inside). `None` with a notice when the package is absent or
/// `tar` cannot unpack it.
pub fn unpacked(relative_tgz: &str, what: &str) -> Option<PathBuf> {
    let tgz = require(relative_tgz, what)?;
    let stem = Path::new(relative_tgz)
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.trim_end_matches(".tgz").trim_end_matches(".tar.gz"))
        .unwrap_or("package");
    let dest = crate::cache::target_tmp().join(stem);
    match crate::cache::unpack_once(&dest, |staging| crate::cache::untar(&tgz, staging)) {
        Ok(()) => Some(dest),
        Err(e) => {
            eprintln!("NOTICE: could not unpack ../shared/{relative_tgz} ({e}), skipping {what}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_text() {
        assert_eq!(
            notice("corpus/hl7v2", "the PID corpus test", false),
            "NOTICE: ../shared absent, skipping the PID corpus test"
        );
        assert_eq!(
            notice("corpus/nope", "x", true),
            "NOTICE: ../shared/corpus/nope absent, skipping x"
        );
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
        assert!(manifest.contains("\"testkit\""));
    }

    #[test]
    fn env_override_wins_and_empty_is_ignored() {
        assert_eq!(
            location_from(Some("/data/shared".into())),
            PathBuf::from("/data/shared")
        );
        let default = workspace_root().join("..").join("shared");
        assert_eq!(location_from(Some("".into())), default);
        assert_eq!(location_from(None), default);
    }

    #[test]
    fn missing_paths_are_none() {
        assert_eq!(path("no/such/thing-ehrkit-testkit"), None);
        assert_eq!(require("no/such/thing-ehrkit-testkit", "a test"), None);
    }

    /// Runs only where `../shared` is present (it is beside the checkout here and in CI).
    #[test]
    fn finds_the_shared_corpus_when_present() {
        let Some(dir) = require("corpus/hl7v2", "the locator check") else {
            return;
        };
        assert!(dir.is_dir());
        assert!(path("DESIGN.md").is_some_and(|p| p.is_file()));
        let hl7 = files(&dir, &["hl7", "txt"]);
        assert!(!hl7.is_empty());
        assert!(hl7.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert!(hl7.iter().all(|p| p.starts_with(&dir)));
    }

    /// Runs only where `../shared` is present.
    #[test]
    fn unpacks_the_us_core_package_once() {
        let Some(dir) = unpacked("fhir/us-core-7.0.0.tgz", "the unpack check") else {
            return;
        };
        assert!(dir.ends_with("us-core-7.0.0"));
        assert!(dir.join("package/package.json").is_file());
        let examples = files(&dir.join("package/example"), &["json"]);
        assert_eq!(examples.len(), 214, "US Core 7.0.0 has 214 examples");
        assert_eq!(unpacked("fhir/us-core-7.0.0.tgz", "again"), Some(dir));
        assert_eq!(unpacked("fhir/absent.tgz", "an absent package"), None);
    }

    #[test]
    fn files_recurse_filter_and_sort() {
        let dir = crate::cache::target_tmp().join(format!("testkit-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("b/c")).unwrap();
        for f in ["z.hl7", "a.txt", "b/c/m.hl7", "b/skip.json", "noext"] {
            std::fs::write(dir.join(f), b"x").unwrap();
        }
        let rel = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| {
                    p.strip_prefix(&dir)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/")
                })
                .collect()
        };
        assert_eq!(
            rel(files(&dir, &["hl7", "txt"])),
            ["a.txt", "b/c/m.hl7", "z.hl7"]
        );
        assert_eq!(files(&dir, &[]).len(), 5);
        assert!(files(&dir.join("absent"), &[]).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
