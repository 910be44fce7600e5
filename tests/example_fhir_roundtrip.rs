//! Runs the `fhir_roundtrip` example as a program: its `--help`, its usage
//! errors and its output contract (`OK`/`DIFF`/`ERROR` lines, then
//! `ok=N diff=N error=N`).
#![cfg(feature = "fhir-model")]

use std::ffi::OsStr;
use std::process::Output;

use ehrkit_testkit::examples::{self, text};

/// Runs the example (see `ehrkit_testkit::examples`: reused from the workspace's test build, or
/// built here with only the features it needs).
fn run(args: &[&OsStr]) -> Output {
    examples::run("fhir_roundtrip", &["fhir-model"], args)
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
