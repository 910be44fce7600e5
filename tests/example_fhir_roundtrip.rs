//! Runs the `fhir_roundtrip` example as a program: its `--help`, its usage
//! errors and its output contract (`OK`/`DIFF`/`ERROR` lines, then
//! `ok=N diff=N error=N`).
#![cfg(feature = "fhir-model")]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The example binary: built by `cargo test` next to the test binaries
/// (`target/<profile>/examples/`), or built here when this test runs alone
/// (`--test example_fhir_roundtrip`) and it is missing or older than its source.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("fhir_roundtrip{}", std::env::consts::EXE_SUFFIX));
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fhir_roundtrip.rs");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&bin).is_none_or(|b| modified(&source).is_some_and(|s| s > b)) {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--example", "fhir_roundtrip"])
            .args(["--no-default-features", "--features", "fhir-model"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(
            status.success(),
            "cargo build --example fhir_roundtrip failed"
        );
    }
    bin
}

fn run(args: &[&OsStr]) -> Output {
    Command::new(example())
        .args(args)
        .output()
        .expect("run fhir_roundtrip")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn answers_help() {
    let out = run(&["--help".as_ref()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    assert!(help.contains("Usage: fhir_roundtrip"), "{help}");
    assert!(help.contains("--out <DIR>"), "{help}");
    assert!(help.contains("<PATH>..."), "{help}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [&[][..], &["--out"][..], &["--no-such-flag", "x.json"][..]] {
        let args: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
        let out = run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn reports_each_file_then_the_counts() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let inputs = dir.path().join("in");
    std::fs::create_dir_all(inputs.join("sub")).expect("dirs");
    let write = |name: &str, json: &str| std::fs::write(inputs.join(name), json).expect("write");
    write(
        "a_patient.json",
        r#"{"resourceType":"Patient","id":"p1","birthDate":"1974-12","name":[{"family":"Chalmers"}]}"#,
    );
    // An empty array carries no data and is not written back.
    write(
        "b_empty.json",
        r#"{"resourceType":"Patient","id":"p2","name":[]}"#,
    );
    write("c_broken.json", r#"{"resourceType":"Patient","#);
    write(
        "sub/d_obs.json",
        r#"{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueQuantity":{"value":1.50}}"#,
    );
    write("ignored.txt", "not json");
    let out_dir = dir.path().join("out");

    let out = run(&[inputs.as_os_str(), "--out".as_ref(), out_dir.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let p = |name: &str| inputs.join(name).display().to_string();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert_eq!(lines[0], format!("OK {}", p("a_patient.json")));
    assert_eq!(lines[1], format!("DIFF {} $.name", p("b_empty.json")));
    assert!(
        lines[2].starts_with(&format!("ERROR {}: ", p("c_broken.json"))),
        "{stdout}"
    );
    assert_eq!(lines[3], format!("OK {}", p("sub/d_obs.json")));
    assert_eq!(lines[4], "ok=2 diff=1 error=1");
    // stderr is not a terminal: no progress output.
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    // --out holds what was written, flat by file name.
    let written = std::fs::read_to_string(out_dir.join("d_obs.json")).expect("output");
    assert!(written.contains(r#""value":1.50"#), "{written}");
    assert!(!out_dir.join("c_broken.json").exists());

    // All OK: exit 0.
    let out = run(&[inputs.join("a_patient.json").as_os_str()]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        format!("OK {}\nok=1 diff=0 error=0\n", p("a_patient.json"))
    );
}
