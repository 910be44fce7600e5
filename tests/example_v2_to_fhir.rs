//! Runs the `v2_to_fhir` example as a program: `--help`, usage and input errors (exit 2), and
//! its output contract (one Bundle per line on stdout, the located report on stderr, no values
//! from the message in the report).
#![cfg(feature = "mapping")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ehrkit_testkit::examples::text;

fn example() -> PathBuf {
    ehrkit_testkit::examples::binary("v2_to_fhir", &["mapping"])
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("mapping/tests/data")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(example())
        .args(args)
        .output()
        .expect("run v2_to_fhir")
}

fn bundle(line: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(line).expect("stdout line is JSON");
    assert_eq!(v["resourceType"], "Bundle", "{line}");
    v
}

#[test]
fn answers_help() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in ["--profile", "--bundle-type", "--tz", "--all"] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
}

#[test]
fn usage_and_input_errors_exit_2_with_nothing_on_stdout() {
    let file = data("adt_a01_visit.hl7");
    let file = file.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let not_hl7 = dir.path().join("not.hl7");
    std::fs::write(&not_hl7, "this is not an HL7 message\n").unwrap();
    let unsupported = dir.path().join("unsupported.hl7");
    std::fs::write(
        &unsupported,
        "MSH|^~\\&|A|B|C|D|202601010000||ZZZ^Z99|1|P|2.5\rPID|1||1^^^X^MR\r",
    )
    .unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["/nonexistent/file.hl7"],
        vec!["--bundle-type", "bogus", file],
        vec!["--tz", "Not/AZone", file],
        vec!["--profile", "no-such-profile", file],
        vec![not_hl7.to_str().unwrap()],
        vec![unsupported.to_str().unwrap()],
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
    // The unsupported type is named, so the user knows what to add.
    let out = run(&[unsupported.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("ZZZ"), "{}", text(&out.stderr));
}

#[test]
fn converts_the_first_message_to_one_bundle_line_and_reports_locations_only() {
    let out = run(&[data("adt_a01_visit.hl7").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one Bundle line");
    let b = bundle(lines[0]);
    assert_eq!(b["type"], "transaction");
    let patient = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == "Patient")
        .expect("a Patient entry");
    let ids: Vec<&str> = patient["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["value"].as_str())
        .collect();
    assert!(ids.contains(&"555-44-4444"), "{ids:?}");
    assert_eq!(patient["birthDate"], "1962-03-20");

    // The report: located lines, never a value from the message.
    let stderr = text(&out.stderr);
    assert!(
        !stderr.is_empty(),
        "the sample has unmapped parts to report"
    );
    for line in stderr.lines() {
        assert!(line.starts_with("v2_to_fhir: message 1: "), "{line}");
        for phi in ["EVERYWOMAN", "FERNWOOD", "555-44-4444", "19620320"] {
            assert!(!line.contains(phi), "value {phi} in the report: {line}");
        }
    }
    assert!(
        stderr.contains("ZPI"),
        "the Z-segment is reported:\n{stderr}"
    );

    // Same input, same bytes: ids are deterministic.
    let again = run(&[data("adt_a01_visit.hl7").to_str().unwrap()]);
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn all_converts_every_message_and_bundle_type_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let both = dir.path().join("two.hl7");
    let mut bytes = std::fs::read(data("adt_a01_visit.hl7")).unwrap();
    if !bytes.ends_with(b"\r") && !bytes.ends_with(b"\n") {
        bytes.push(b'\r');
    }
    bytes.extend(std::fs::read(data("adt_a03_discharge.hl7")).unwrap());
    std::fs::write(&both, bytes).unwrap();
    let both = both.to_str().unwrap();

    let first_only = run(&[both]);
    assert!(first_only.status.success(), "{}", text(&first_only.stderr));
    assert_eq!(text(&first_only.stdout).lines().count(), 1);

    let out = run(&["--all", "--bundle-type", "message", both]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let bundles: Vec<serde_json::Value> = stdout.lines().map(bundle).collect();
    assert_eq!(bundles.len(), 2, "one Bundle per message");
    for b in &bundles {
        assert_eq!(b["type"], "message");
        assert_eq!(b["entry"][0]["resource"]["resourceType"], "MessageHeader");
    }
    // The report numbers the messages: the second one's Z-segment-free entries say "message 2".
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("v2_to_fhir: message 1: ")),
        "{stderr}"
    );
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn patient_identifier_types(line: &str) -> Vec<String> {
    let b = bundle(line);
    let patient = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == "Patient")
        .expect("a Patient entry")
        .clone();
    patient["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["type"]["coding"][0]["code"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_builtin_profile_name_and_every_example_site_file_is_accepted() {
    let sample = data("adt_a01_visit.hl7");
    let sample = sample.to_str().unwrap();
    for name in [
        "generic",
        "epic",
        "oracle_health",
        "veradigm",
        "meditech",
        "athenahealth",
        "eclinicalworks",
        "nextgen",
    ] {
        let out = run(&["--profile", name, sample]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).lines().count(), 1, "{name}");
    }
    let mut sites = 0;
    for entry in std::fs::read_dir(repo("mapping/profiles/examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let out = run(&["--profile", path.to_str().unwrap(), sample]);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
        bundle(text(&out.stdout).lines().next().unwrap());
        sites += 1;
    }
    assert_eq!(sites, 7, "one site file per vendor");
}

#[test]
fn a_vendor_profile_changes_the_output_and_the_unknown_name_lists_the_built_ins() {
    let file = repo("mapping/tests/data/quirks/epic/mrn-type-code.hl7");
    let file = file.to_str().unwrap();
    let generic = run(&["--profile", "generic", file]);
    assert!(generic.status.success(), "{}", text(&generic.stderr));
    let epic = run(&["--profile", "epic", file]);
    assert!(epic.status.success(), "{}", text(&epic.stderr));
    let types = |o: &Output| patient_identifier_types(text(&o.stdout).lines().next().unwrap());
    assert!(
        types(&generic).contains(&"MRN".to_owned()),
        "{:?}",
        types(&generic)
    );
    assert!(
        !types(&epic).contains(&"MRN".to_owned()),
        "{:?}",
        types(&epic)
    );
    // The generic run reports the unknown type code; the Epic one does not.
    assert!(text(&generic.stderr).contains("PID[1]-3(1).5"));
    assert!(!text(&epic.stderr).contains("PID[1]-3(1).5"));

    let out = run(&["--profile", "no-such-vendor", file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("eclinicalworks"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_site_file_that_requires_a_time_zone_refuses_an_offsetless_feed_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    std::fs::write(
        &site,
        "extends = \"epic\"\nname = \"site\"\nquirks = [\"require-source-time-zone\"]\n",
    )
    .unwrap();
    let file = repo("mapping/tests/data/quirks/all/require-source-time-zone.hl7");
    let (site, file) = (site.to_str().unwrap(), file.to_str().unwrap());
    let out = run(&["--profile", site, file]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("MSH[1]-7"),
        "{}",
        text(&out.stderr)
    );
    // --tz supplies the zone: converted.
    let out = run(&["--profile", site, "--tz", "America/Chicago", file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
