//! The workspace's examples (`examples/*.rs` of the root crate `ehrkit`) as programs, for tests
//! that check their command-line contract.
//!
//! A test asks for an example with the umbrella features it needs. The executable that
//! `cargo test --workspace` already built beside the test binaries
//! (`target/<profile>/examples/`) is used as it is when it is newer than every source it is
//! built from (the example, each member crate's `src/`, the manifests and `Cargo.lock`), so a
//! workspace run builds nothing twice; otherwise (the test runs alone, or a source changed) it
//! is built here with exactly the named features, once per process.
//!
//! ```no_run
//! let bin = ehrkit_testkit::examples::binary("hl7v2_query", &["hl7v2"]);
//! let out = std::process::Command::new(bin).arg("--help").output().unwrap();
//! assert!(out.status.success());
//! ```
//!

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use crate::shared::workspace_root;

/// The path of example `name`'s executable, built with the umbrella `features` (and no default
/// features) when it is missing or older than any of its sources ([`newest_source`]).
///
/// # Panics
/// When cargo cannot be run or the build fails (a test helper: the failure is the test's).
pub fn binary(name: &str, features: &[&str]) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let profile_dir = profile_dir();
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let source = newest_source(&workspace_root(), name);
    if is_stale(&bin, &source) {
        build(name, features, &profile_dir);
    }
    assert!(bin.exists(), "cargo built no {}", bin.display());
    built.insert(name.to_owned(), bin.clone());
    bin
}

/// Runs example `name` (built with the umbrella `features` as [`binary`] does) with `args` and
/// waits for it, capturing stdout and stderr.
///
/// # Panics
/// When the example cannot be built or started (a test helper: the failure is the test's).
pub fn run<I, S>(name: &str, features: &[&str], args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(binary(name, features))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run example {name}: {e}"))
}

/// Captured output as text (invalid UTF-8 replaced), for assertions and failure messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether `bin` is missing or older than `source`.
pub fn is_stale(bin: &Path, source: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(bin), modified(source)) {
        (None, _) => true,
        (Some(b), Some(s)) => s > b,
        (Some(_), None) => false,
    }
}

/// The most recently modified of the files example `name` is built from: `examples/<name>.rs`,
/// the root `Cargo.toml` and `Cargo.lock`, `src/` of the root crate, and `Cargo.toml` and `src/`
/// of every member crate folder (a library change makes the example stale too).
pub fn newest_source(root: &Path, name: &str) -> PathBuf {
    fn walk(dir: &Path, best: &mut Option<(std::time::SystemTime, PathBuf)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, best);
            } else {
                consider(&p, best);
            }
        }
    }
    fn consider(p: &Path, best: &mut Option<(std::time::SystemTime, PathBuf)>) {
        if let Ok(t) = std::fs::metadata(p).and_then(|m| m.modified()) {
            if best.as_ref().is_none_or(|(b, _)| t > *b) {
                *best = Some((t, p.to_path_buf()));
            }
        }
    }
    let example = root.join("examples").join(format!("{name}.rs"));
    let mut best = None;
    consider(&example, &mut best);
    consider(&root.join("Cargo.toml"), &mut best);
    consider(&root.join("Cargo.lock"), &mut best);
    walk(&root.join("src"), &mut best);
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let dir = e.path();
            let skip = dir
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.') || n == "target" || n == "fuzz");
            if skip || !dir.join("Cargo.toml").is_file() {
                continue;
            }
            consider(&dir.join("Cargo.toml"), &mut best);
            walk(&dir.join("src"), &mut best);
        }
    }
    best.map(|(_, p)| p).unwrap_or(example)
}

/// `target/<profile>`: the parent of the `deps` folder holding the running test binary.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("test binaries live in target/<profile>/deps")
}

fn build(name: &str, features: &[&str], profile_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "--quiet", "-p", "ehrkit", "--example", name])
        .arg("--no-default-features");
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("cargo runs");
    assert!(status.success(), "cargo build --example {name} failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staleness_compares_modification_times() {
        let dir = std::env::temp_dir().join(format!("ehrkit-testkit-ex-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (bin, src) = (dir.join("bin"), dir.join("src.rs"));
        assert!(is_stale(&bin, &src), "a missing binary is stale");
        std::fs::write(&src, "fn main() {}").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&bin, "").unwrap();
        assert!(
            !is_stale(&bin, &src),
            "a binary newer than its source is fresh"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&src, "fn main() { }").unwrap();
        assert!(
            is_stale(&bin, &src),
            "an edited source makes the binary stale"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_library_change_makes_the_example_stale() {
        let root = std::env::temp_dir().join(format!("ehrkit-testkit-ws-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for d in ["examples", "src", "lib_a/src/inner", "target/debug"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "Cargo.toml",
            "examples/demo.rs",
            "src/lib.rs",
            "lib_a/Cargo.toml",
        ] {
            std::fs::write(root.join(f), "").unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        let bin = root.join("target/debug/demo");
        std::fs::write(&bin, "").unwrap();
        assert!(!is_stale(&bin, &newest_source(&root, "demo")));
        std::thread::sleep(std::time::Duration::from_millis(20));
        // A file deep in a member crate's src/ changes; target/ and other folders do not count.
        std::fs::write(root.join("target/debug/other"), "").unwrap();
        assert!(!is_stale(&bin, &newest_source(&root, "demo")));
        std::fs::write(root.join("lib_a/src/inner/x.rs"), "// changed").unwrap();
        assert_eq!(
            newest_source(&root, "demo"),
            root.join("lib_a/src/inner/x.rs")
        );
        assert!(is_stale(&bin, &newest_source(&root, "demo")));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
