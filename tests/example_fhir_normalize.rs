//! Runs the `fhir_normalize` example as a program: `--help`, usage and input errors (exit 2,
//! nothing on stdout), and its output contract (canonical resources one per line on stdout,
//! the change list on stderr with paths and rule names, never values).
#![cfg(feature = "mapping")]

use std::path::{Path, PathBuf};
use std::process::Output;

use ehrkit_testkit::examples::{self, text};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("mapping/tests/data/quirks/fhir")
        .join(rel)
}

fn run(args: &[&str]) -> Output {
    examples::run("fhir_normalize", &["mapping"], args)
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).expect("stdout line is JSON")
}

#[test]
fn answers_help() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in ["--profile", "--routes", "--base-url"] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
}

#[test]
fn usage_and_input_errors_exit_2_with_nothing_on_stdout() {
    let file = data("epic/pair-patient.json");
    let file = file.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let not_json = dir.path().join("not.json");
    std::fs::write(&not_json, "MSH|^~\\&|not FHIR\r").unwrap();
    let not_fhir = dir.path().join("not-fhir.json");
    std::fs::write(&not_fhir, r#"{"resourceType":"Patient","gender":17}"#).unwrap();
    let bad_site = dir.path().join("bad.toml");
    std::fs::write(&bad_site, "base = \"nobody\"\n").unwrap();
    let routes = dir.path().join("routes.toml");
    std::fs::write(
        &routes,
        "[[route]]\nbase = \"https://a.test/fhir\"\nprofile = \"epic\"\n",
    )
    .unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["/nonexistent/file.json"],
        vec!["--profile", "no-such-profile", file],
        vec!["--profile", bad_site.to_str().unwrap(), file],
        vec!["--profile", "/nonexistent/site.toml", file],
        vec![not_json.to_str().unwrap()],
        vec![not_fhir.to_str().unwrap()],
        vec!["--routes", routes.to_str().unwrap(), file],
        vec![
            "--routes",
            routes.to_str().unwrap(),
            "--base-url",
            "https://elsewhere.test/fhir",
            file,
        ],
    ];
    for args in cases {
        let out = run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed {}",
            text(&out.stdout)
        );
        assert!(!out.stderr.is_empty(), "{args:?} gave no reason");
    }
}

#[test]
fn prints_the_canonical_resource_and_the_changes_without_values() {
    let site = data("epic/site.toml");
    let out = run(&[
        "--profile",
        site.to_str().unwrap(),
        data("epic/pair-patient.json").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1);
    let p = json(lines[0]);
    assert_eq!(p["resourceType"], "Patient");
    let mrn = p["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["system"] == "https://fhir.valley-health.test/sid/mrn")
        .expect("the MRN under the site's system");
    assert_eq!(mrn["value"], "203177");
    assert_eq!(mrn["type"]["coding"][0]["code"], "MR");

    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("fhir_normalize: change: Patient/eq081-VQEgP8drUUqCWzHfw3 Patient.identifier[1].system: concept-map (epic-identifier-type-text)"),
        "{stderr}"
    );
    for line in stderr.lines() {
        assert!(
            line.starts_with("fhir_normalize: change: ")
                || line.starts_with("fhir_normalize: note: "),
            "{line}"
        );
        for value in [
            "203177",
            "Z6130",
            "TQUINT22",
            "000-00-0001",
            "Quint",
            "Orchard",
        ] {
            assert!(!line.contains(value), "value {value} on stderr: {line}");
        }
    }
    // Same input, same bytes.
    let again = run(&[
        "--profile",
        site.to_str().unwrap(),
        data("epic/pair-patient.json").to_str().unwrap(),
    ]);
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn lifted_resources_follow_on_their_own_lines_and_routes_pick_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let routes = dir.path().join("routes.toml");
    std::fs::write(
        &routes,
        "[[route]]\nbase = \"https://fhir-ehr.cerner.test/r4/tenant\"\nprofile = \"oracle_health\"\n",
    )
    .unwrap();
    let file = data("oracle_health/oracle-contained-locations.json");
    let out = run(&[
        "--routes",
        routes.to_str().unwrap(),
        "--base-url",
        "https://fhir-ehr.cerner.test/r4/tenant/",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let types: Vec<String> = stdout
        .lines()
        .map(|l| json(l)["resourceType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["Encounter", "Location"]);
    // The explicit profile overrides the route: generic leaves the contained Location alone.
    let out = run(&[
        "--routes",
        routes.to_str().unwrap(),
        "--base-url",
        "https://fhir-ehr.cerner.test/r4/tenant/",
        "--profile",
        "generic",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 1);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn every_builtin_profile_name_is_accepted() {
    let file = data("epic/pair-lab.json");
    for name in [
        "generic",
        "epic",
        "oracle_health",
        "athenahealth",
        "veradigm",
    ] {
        let out = run(&["--profile", name, file.to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).lines().count(), 1, "{name}");
    }
}
