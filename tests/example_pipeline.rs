//! Runs the README's main command, the `pipeline` example, as a program: its stage-by-stage
//! output and its last line (the store's totals as one JSON object), with real values from the
//! bundled data, and a second run on the same store that applies nothing twice.
#![cfg(feature = "pipeline")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn example() -> PathBuf {
    ehrkit_testkit::examples::binary("pipeline", &["pipeline"])
}

struct Run {
    stdout: String,
    last: serde_json::Value,
}

fn run(store: Option<&Path>) -> Run {
    let mut cmd = Command::new(example());
    if let Some(s) = store {
        cmd.arg("--store").arg(s);
    }
    let out = cmd.output().expect("run the pipeline example");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let last_line = stdout.lines().last().expect("some output");
    let last: serde_json::Value = serde_json::from_str(last_line).expect("last line is JSON");
    let keys: Vec<&str> = last
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec![
        "received",
        "duplicates",
        "dead_letter",
        "resources",
        "source_patients",
        "enterprise_patients",
        "possible_matches",
    ];
    want.sort();
    let mut got = keys.clone();
    got.sort();
    assert_eq!(got, want, "{last_line}");
    assert!(
        last_line.starts_with("{\"received\":") && last_line.contains("\"possible_matches\":"),
        "key order as documented: {last_line}"
    );
    Run { stdout, last }
}

fn n(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("{k} is a count: {v}"))
}

#[test]
fn runs_the_whole_flow_on_bundled_data_and_a_rerun_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(Some(dir.path()));
    let s = &first.last;
    // 16 distinct v2 messages over MLLP (7 Epic ADT with one resend, 5 Oracle ORU, 5 Veradigm
    // SIU... minus the resend) + 6 FHIR resources = 22 kept; the resend is the duplicate.
    assert_eq!(n(s, "received"), 22, "{s}");
    assert_eq!(n(s, "duplicates"), 1, "{s}");
    // The malformed ORU (no PID segment) is the one dead letter.
    assert_eq!(n(s, "dead_letter"), 1, "{s}");
    // 16 source patients (truth file), 9 people.
    assert_eq!(n(s, "source_patients"), 16, "{s}");
    assert_eq!(n(s, "enterprise_patients"), 9, "{s}");
    // Two Daniel Kims born the same day in two Wisconsin cities: queued for review, not linked.
    assert_eq!(n(s, "possible_matches"), 1, "{s}");
    let resources = n(s, "resources");
    assert!(
        resources >= 16 + 5 * 3,
        "a Patient per source patient and the clinical resources: {s}"
    );
    for section in [
        "== 1. Ingestion",
        "== 2. Normalization",
        "== 3. Identity",
        "== 4. Store",
        "== Unified patients",
        "== Dead letters",
        "== Duplicates",
        "== Audit trail",
        "== Metrics",
    ] {
        assert!(
            first.stdout.contains(section),
            "missing {section}:\n{}",
            first.stdout
        );
    }
    // Santos is one enterprise patient across Epic, Oracle Health and the athenahealth export.
    let santos = first
        .stdout
        .lines()
        .find(|l| l.contains("EPIC|E3826471") && l.trim_start().starts_with("enterprise"))
        .unwrap_or_else(|| panic!("no unified line for EPIC|E3826471:\n{}", first.stdout));
    assert!(
        santos.contains("CERNER|5510021") && santos.contains("|88213"),
        "{santos}"
    );
    assert!(
        first
            .stdout
            .contains("stage convert kind missing_data at PID"),
        "{}",
        first.stdout
    );
    assert!(first.stdout.contains("resend of"), "{}", first.stdout);
    assert!(first.stdout.contains("chain intact"), "{}", first.stdout);

    // Again on the same store: every message is a duplicate, nothing changes.
    let second = run(Some(dir.path()));
    let t = &second.last;
    assert_eq!(n(t, "received"), 22, "{t}");
    assert_eq!(
        n(t, "duplicates"),
        1 + 23,
        "all 17 MLLP messages and 6 resources again: {t}"
    );
    assert_eq!(n(t, "resources"), resources, "{t}");
    for k in [
        "dead_letter",
        "source_patients",
        "enterprise_patients",
        "possible_matches",
    ] {
        assert_eq!(n(t, k), n(s, k), "{k}: {t}");
    }
    assert!(
        second.stdout.contains("received 0, duplicates 23"),
        "{}",
        second.stdout
    );
}

#[test]
fn default_store_is_fresh_each_run() {
    let a = run(None);
    let b = run(None);
    assert_eq!(a.last, b.last);
    assert_eq!(n(&a.last, "duplicates"), 1);
}
