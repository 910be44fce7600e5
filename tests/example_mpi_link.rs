//! Runs the `mpi_link` example as a program: its `--help`, its usage errors and
//! its output contract (`rec_id_a,rec_id_b,score` per MATCH, best first, then
//! with `--truth` `precision=P recall=R f1=F pairs=N seconds=S`), on the
//! authored CSV pair in `tests/data/mpi_link/`.
#![cfg(feature = "identity")]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use ehrkit_testkit::examples::{self, text};

/// Runs the example (see `ehrkit_testkit::examples`: reused from the workspace's test build, or
/// built here with only the features it needs).
fn run(args: &[&OsStr]) -> Output {
    examples::run("mpi_link", &["identity"], args)
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/mpi_link")
        .join(name)
}

/// The MATCH lines of an output as `(a, b)` pairs, checking each line's form
/// (`key,key,probability` with six decimals) and that scores never increase.
fn match_pairs(lines: &[&str]) -> Vec<(String, String)> {
    let mut last = f64::INFINITY;
    lines
        .iter()
        .map(|line| {
            let parts: Vec<&str> = line.split(',').collect();
            assert_eq!(parts.len(), 3, "{line}");
            let (int, frac) = parts[2].split_once('.').expect("decimal score");
            assert!(int == "0" || int == "1", "{line}");
            assert_eq!(frac.len(), 6, "{line}");
            let score: f64 = parts[2].parse().expect("score");
            assert!((0.0..=1.0).contains(&score), "{line}");
            assert!(score <= last, "not best first at {line}");
            last = score;
            (parts[0].to_string(), parts[1].to_string())
        })
        .collect()
}

/// `precision=P recall=R f1=F pairs=N seconds=S` → its fields, checking their order and form.
fn truth_line(line: &str) -> Vec<(String, String)> {
    let fields: Vec<(String, String)> = line
        .split(' ')
        .map(|f| {
            let (k, v) = f.split_once('=').expect("key=value");
            (k.to_string(), v.to_string())
        })
        .collect();
    let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["precision", "recall", "f1", "pairs", "seconds"],
        "{line}"
    );
    let seconds = &fields[4].1;
    assert!(seconds.parse::<f64>().is_ok_and(|s| s >= 0.0), "{line}");
    assert_eq!(
        seconds.split_once('.').map(|(_, f)| f.len()),
        Some(3),
        "{line}"
    );
    fields
}

/// The expected MATCHes of the authored pair, sorted.
fn expected_matches() -> Vec<(String, String)> {
    (0..=5)
        .map(|n| (format!("rec-{n}-org"), format!("rec-{n}-dup-0")))
        .collect()
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

#[test]
fn answers_help() {
    let out = run(&["--help".as_ref()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    assert!(help.contains("Usage: mpi_link"), "{help}");
    assert!(help.contains("<A.csv [B.csv]>..."), "{help}");
    assert!(help.contains("--truth"), "{help}");
}

#[test]
fn usage_errors_exit_2() {
    let a = data("a.csv");
    let b = data("b.csv");
    let missing = data("no_such_file.csv");
    let cases: [Vec<&OsStr>; 4] = [
        vec![],
        vec![a.as_os_str(), b.as_os_str(), a.as_os_str()],
        vec!["--no-such-flag".as_ref(), a.as_os_str()],
        vec![missing.as_os_str()],
    ];
    for args in cases {
        let out = run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn bad_csv_is_a_located_error_without_values() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "rec_id,given_name,surname\nrec-1-org,\"Zebulon,Quixote\nrec-2-org,Ann,Lee\n",
    )
    .expect("write");
    let out = run(&[bad.as_os_str()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert_eq!(
        err.trim_end(),
        format!(
            "mpi_link: {}: CSV line 2: unterminated quoted field or stray quote",
            bad.display()
        )
    );
    assert!(!err.contains("Zebulon"), "{err}");
}

#[test]
fn links_two_files_with_and_without_truth() {
    let (a, b) = (data("a.csv"), data("b.csv"));
    let out = run(&[a.as_os_str(), b.as_os_str()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // stderr is not a terminal: no progress output.
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let plain = text(&out.stdout);
    let lines: Vec<&str> = plain.lines().collect();
    assert_eq!(sorted(match_pairs(&lines)), expected_matches(), "{plain}");

    let out = run(&[a.as_os_str(), b.as_os_str(), "--truth".as_ref()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let scored = text(&out.stdout);
    let lines: Vec<&str> = scored.lines().collect();
    let (last, matches) = lines.split_last().expect("a truth line");
    // The MATCH lines are the same as without --truth; the truth line comes last.
    assert_eq!(matches, plain.lines().collect::<Vec<_>>().as_slice());
    let fields = truth_line(last);
    let value = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
    // 6 of the 7 true pairs found (rec-7 is missed), none wrong: P 1, R 6/7, F1 12/13.
    assert_eq!(value("precision"), Some("1.0000"), "{last}");
    assert_eq!(value("recall"), Some("0.8571"), "{last}");
    assert_eq!(value("f1"), Some("0.9231"), "{last}");
    // The 7 duplicate pairs and rec-0 against rec-10 (same surname and city).
    assert_eq!(value("pairs"), Some("8"), "{last}");
}

#[test]
fn dedupes_one_file_with_truth() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let both = dir.path().join("ab.csv");
    let a = std::fs::read_to_string(data("a.csv")).expect("a.csv");
    let b = std::fs::read_to_string(data("b.csv")).expect("b.csv");
    let b_rows = b.split_once('\n').expect("header").1;
    std::fs::write(&both, format!("{a}{b_rows}")).expect("write");

    let out = run(&[both.as_os_str(), "--truth".as_ref()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let (last, matches) = lines.split_last().expect("a truth line");
    // Each pair once, the earlier row first.
    assert_eq!(sorted(match_pairs(matches)), expected_matches(), "{stdout}");
    let fields = truth_line(last);
    assert_eq!(fields[0].1, "1.0000", "{last}");
    assert_eq!(fields[1].1, "0.8571", "{last}");
    assert_eq!(fields[2].1, "0.9231", "{last}");
}
