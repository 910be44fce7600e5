//! Runs the `bulk_export` example as a program: its `--help`, its usage errors, and one real
//! export against a loopback Bulk Data server (`ehrkit-testkit`'s `MockServer`): kick-off
//! `202` + `Content-Location`, a status poll `202` with `X-Progress`, then the manifest, then the
//! NDJSON downloads. Checks the stdout contract line by line and the files written to `--out`.
#![cfg(feature = "reqwest")]

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output};

use ehrkit_testkit::examples::text;

use ehrkit_testkit::http::{MockServer, Response};
use serde_json::json;

/// The example's executable (see `ehrkit_testkit::examples`: reused from the workspace's test
/// build, or built here with only the features it needs).
fn example() -> PathBuf {
    ehrkit_testkit::examples::binary("bulk_export", &["reqwest"])
}

fn run(args: &[&OsStr]) -> Output {
    Command::new(example())
        .args(args)
        // A token from the environment would change the requests.
        .env_remove("EHRKIT_BULK_TOKEN")
        .output()
        .expect("run bulk_export")
}

#[test]
fn answers_help() {
    let out = run(&["--help".as_ref()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    assert!(help.contains("Usage: bulk_export"), "{help}");
    for option in [
        "--fhir-base <URL>",
        "--out <DIR>",
        "--type <T1,T2>",
        "--since <INSTANT>",
        "--client-id <ID>",
        "--key <key.pem>",
        "--resume <STATUS_URL>",
        "--max-file-size <BYTES>",
        "--token-to-other-origins",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let cases: &[&[&str]] = &[
        &[],
        // --out is required.
        &["--fhir-base", "http://127.0.0.1:9/fhir"],
        // --fhir-base is required.
        &["--out", "x"],
        // --client-id needs --key, and --key needs --client-id.
        &[
            "--fhir-base",
            "http://127.0.0.1:9/fhir",
            "--out",
            "x",
            "--client-id",
            "c",
        ],
        &[
            "--fhir-base",
            "http://127.0.0.1:9/fhir",
            "--out",
            "x",
            "--key",
            "k.pem",
        ],
        // Unknown signing algorithm.
        &[
            "--fhir-base",
            "http://127.0.0.1:9/fhir",
            "--out",
            "x",
            "--alg",
            "HS256",
        ],
        &[
            "--fhir-base",
            "http://127.0.0.1:9/fhir",
            "--out",
            "x",
            "--max-file-size",
            "big",
        ],
        &["--no-such-flag"],
    ];
    for args in cases {
        let args: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
        let out = run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains("try '--help'"), "{args:?}: {stderr}");
    }
}

const PATIENTS: &str = concat!(
    r#"{"resourceType":"Patient","id":"p1"}"#,
    "\n",
    r#"{"resourceType":"Patient","id":"p2","name":[{"family":"Chalmers"}]}"#,
    "\n",
    r#"{"resourceType":"Patient","id":"p3"}"#,
    "\n",
);
const OBSERVATIONS: &str = concat!(
    r#"{"resourceType":"Observation","id":"o1","status":"final"}"#,
    "\n",
    r#"{"resourceType":"Observation","id":"o2","status":"final"}"#,
    "\n",
);
const OUTCOMES: &str = concat!(
    r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing"}]}"#,
    "\n",
);
const TRANSACTION_TIME: &str = "2026-11-22T10:15:00.123Z";

/// A Bulk Data server on loopback: kick-off at `/fhir/$export`, status at `/status/1` (one
/// `202` with `X-Progress`, then the manifest), files under `/files/`.
fn bulk_server() -> MockServer {
    let server = MockServer::start();
    let base = server.base().to_owned();
    server.respond(
        "GET",
        "/fhir/$export",
        Response::new(202).header("Content-Location", &format!("{base}/status/1")),
    );
    let manifest = json!({
        "transactionTime": TRANSACTION_TIME,
        "request": format!("{base}/fhir/$export?_type=Patient,Observation"),
        "requiresAccessToken": false,
        "output": [
            {"type": "Patient", "url": format!("{base}/files/patient.ndjson"), "count": 3},
            {"type": "Observation", "url": format!("{base}/files/obs.ndjson"), "count": 2},
        ],
        "error": [
            {"type": "OperationOutcome", "url": format!("{base}/files/err.ndjson")},
        ],
    });
    server.sequence(
        "GET",
        "/status/1",
        [
            Response::new(202)
                .header("X-Progress", "50% done")
                .header("Retry-After", "1"),
            Response::new(200).json(&manifest),
        ],
    );
    let ndjson = |body: &'static str| {
        Response::new(200)
            .header("Content-Type", "application/fhir+ndjson")
            .body(body)
    };
    server.respond("GET", "/files/patient.ndjson", ndjson(PATIENTS));
    // Compressed on the wire: the file on disk is the decoded NDJSON.
    server.respond("GET", "/files/obs.ndjson", ndjson(OBSERVATIONS).gzip());
    server.respond("GET", "/files/err.ndjson", ndjson(OUTCOMES));
    server
}

#[test]
fn exports_downloads_and_reports_per_type() {
    let server = bulk_server();
    let dir = tempfile::tempdir().expect("tmp dir");
    let out_dir = dir.path().join("export");
    let fhir_base = server.url("/fhir");
    let out = run(&[
        "--fhir-base".as_ref(),
        fhir_base.as_ref(),
        "--type".as_ref(),
        "Patient,Observation".as_ref(),
        "--since".as_ref(),
        "2026-01-01T00:00:00Z".as_ref(),
        "--out".as_ref(),
        out_dir.as_os_str(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");

    // The kick-off carried the arguments.
    let kickoff = server.requests_to("/fhir/$export");
    assert_eq!(kickoff.len(), 1);
    assert_eq!(
        kickoff[0].query_param("_type").as_deref(),
        Some("Patient,Observation")
    );
    assert_eq!(
        kickoff[0].query_param("_since").as_deref(),
        Some("2026-01-01T00:00:00Z")
    );
    assert_eq!(kickoff[0].header("prefer"), Some("respond-async"));
    assert_eq!(kickoff[0].bearer(), None, "no token was given");
    assert_eq!(server.hits("GET", "/status/1"), 2);

    // The stdout contract.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 10, "{stdout}");
    assert_eq!(
        lines[0],
        "export accepted; status URL (use --resume to continue later):"
    );
    assert_eq!(lines[1], format!("  {}", server.url("/status/1")));
    // `[<elapsed>s] <X-Progress>; next poll in <Retry-After>`: the elapsed time is the
    // machine's, the rest is the server's.
    let progress = lines[2]
        .strip_prefix('[')
        .and_then(|l| l.split_once("s] "))
        .unwrap_or_else(|| panic!("progress line: {}", lines[2]));
    assert!(
        progress.0.trim().parse::<u64>().is_ok(),
        "elapsed seconds: {}",
        lines[2]
    );
    assert_eq!(progress.1, "50% done; next poll in 1.0s");
    assert_eq!(
        lines[3],
        "export complete: 2 output, 1 error, 0 deleted file(s); requiresAccessToken=false"
    );
    assert_eq!(lines[4], format!("downloaded into {}:", out_dir.display()));
    // Sorted by key; `(errors: …)` sorts first.
    assert_eq!(
        lines[5],
        "  (errors: OperationOutcome)                1 lines in 1 file(s)"
    );
    assert_eq!(
        lines[6],
        "  Observation                               2 lines in 1 file(s)"
    );
    assert_eq!(
        lines[7],
        "  Patient                                   3 lines in 1 file(s)"
    );
    assert_eq!(lines[8], format!("transactionTime: {TRANSACTION_TIME}"));
    assert_eq!(
        lines[9],
        format!("(use --since {TRANSACTION_TIME} for the next incremental export)")
    );

    // Not a terminal: one plain progress line per file on stderr, in completion order.
    let mut done: Vec<&str> = stderr
        .lines()
        .map(|l| {
            let rest = l
                .strip_prefix("downloaded ")
                .unwrap_or_else(|| panic!("stderr line: {l}"));
            let (count, file) = rest.split_once(" files (").expect("files (");
            assert!(count.ends_with("/3"), "{l}");
            file
        })
        .collect();
    done.sort_unstable();
    assert_eq!(
        done,
        [
            "Observation.0001.ndjson: 2 records)",
            "Patient.0000.ndjson: 3 records)",
            "error.0000.ndjson: 1 records)",
        ],
        "{stderr}"
    );

    // The files: decoded NDJSON named `<Type>.<n>.ndjson` / `error.<n>.ndjson`, nothing else.
    let read = |name: &str| std::fs::read_to_string(out_dir.join(name)).expect(name);
    assert_eq!(read("Patient.0000.ndjson"), PATIENTS);
    assert_eq!(read("Observation.0001.ndjson"), OBSERVATIONS);
    assert_eq!(read("error.0000.ndjson"), OUTCOMES);
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Observation.0001.ndjson",
            "Patient.0000.ndjson",
            "error.0000.ndjson"
        ]
    );
}

#[test]
fn refused_kick_off_is_an_error_exit_without_the_query() {
    let server = MockServer::start();
    server.respond(
        "GET",
        "/fhir/$export",
        Response::new(400).fhir_json(&json!({
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "invalid", "diagnostics": "bad _type"}],
        })),
    );
    let dir = tempfile::tempdir().expect("tmp dir");
    let fhir_base = server.url("/fhir");
    let out = run(&[
        "--fhir-base".as_ref(),
        fhir_base.as_ref(),
        "--type".as_ref(),
        "Nonsense".as_ref(),
        "--since".as_ref(),
        "2026-01-01T00:00:00Z".as_ref(),
        "--out".as_ref(),
        dir.path().join("out").as_os_str(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("400"), "{stderr}");
    // Errors name the path, never the query (which can carry search parameters).
    assert!(!stderr.contains("_since"), "{stderr}");
    assert!(!stderr.contains("Nonsense"), "{stderr}");
    assert_eq!(server.hits("GET", "/fhir/$export"), 1);
    assert!(!dir.path().join("out").exists(), "nothing downloaded");
}
