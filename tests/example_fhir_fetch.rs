//! Runs the `fhir_fetch` example as a program against loopback mock FHIR servers
//! (ehrkit-testkit's `MockServer`): NDJSON on stdout, then
//! `resources=N pages=N retries=N throttled=N` on stderr; exit 1 on an error retries could not
//! fix, 2 on a usage error.
#![cfg(feature = "reqwest")]

use std::path::PathBuf;
use std::process::{Command, Output};

use ehrkit_testkit::examples::text;

use ehrkit_testkit::http::{MockServer, Request, Response};
use serde_json::{json, Value};

/// The example's executable (see `ehrkit_testkit::examples`: reused from the workspace's test
/// build, or built with only the `reqwest` feature).
fn example() -> PathBuf {
    ehrkit_testkit::examples::binary("fhir_fetch", &["reqwest"])
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(example());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run fhir_fetch")
}

fn lines(out: &Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is JSON"))
        .collect()
}

fn summary(out: &Output) -> String {
    text(&out.stderr)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

fn bundle(ids: &[&str], next: Option<String>) -> Value {
    let entries: Vec<Value> = ids
        .iter()
        .map(|id| json!({"resource": {"resourceType": "Observation", "id": id}, "search": {"mode": "match"}}))
        .collect();
    let mut b = json!({"resourceType": "Bundle", "type": "searchset", "entry": entries});
    if let Some(n) = next {
        b["link"] = json!([{"relation": "next", "url": n}]);
    }
    b
}

#[test]
fn help_and_usage_errors() {
    let out = run(&["--help"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    for opt in [
        "--base <URL>",
        "--vendor <NAME>",
        "--token-env <VAR>",
        "<QUERY>...",
    ] {
        assert!(help.contains(opt), "{help}");
    }
    for args in [
        &["--base", "http://127.0.0.1:9/"][..],
        &[
            "--base",
            "http://127.0.0.1:9/",
            "--vendor",
            "nope",
            "Patient/1",
        ][..],
        &[
            "--base",
            "http://127.0.0.1:9/",
            "--token-env",
            "EHRKIT_FHIR_FETCH_UNSET",
            "Patient/1",
        ][..],
        &["--base", "http://127.0.0.1:9/", "a/b/c/d/e"][..],
    ] {
        let out = run(args, &[]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn epic_search_and_read_as_ndjson_with_a_token() {
    let server = MockServer::start();
    server.on("GET", "/Observation", |r: &Request| {
        match r.query_param("category").as_deref() {
            None => Response::new(400).fhir_json(&json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "required"}]})),
            Some("laboratory") => Response::new(200).fhir_json(&bundle(&["lab1"], None)),
            Some("vital-signs") => Response::new(200).fhir_json(&bundle(&["vs1", "lab1"], None)),
            Some(_) => Response::new(200).fhir_json(&bundle(&[], None)),
        }
    });
    server.respond(
        "GET",
        "/Patient/123",
        Response::new(200).fhir_json(&json!({"resourceType": "Patient", "id": "123"})),
    );
    let out = run(
        &[
            "--base",
            server.base(),
            "--vendor",
            "epic",
            "--token-env",
            "FHIR_FETCH_TEST_TOKEN",
            "Observation?patient=123",
            "Patient/123",
        ],
        &[("FHIR_FETCH_TEST_TOKEN", "tok-1")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got: Vec<String> = lines(&out)
        .iter()
        .map(|v| {
            format!(
                "{}/{}",
                v["resourceType"].as_str().unwrap(),
                v["id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(got, ["Observation/lab1", "Observation/vs1", "Patient/123"]);
    let categories = ehrkit::fhir_client::EPIC_OBSERVATION_CATEGORIES.len();
    assert_eq!(
        summary(&out),
        format!("resources=3 pages={categories} retries=0 throttled=0")
    );
    assert!(server
        .requests()
        .iter()
        .all(|r| r.bearer() == Some("tok-1")));
}

#[test]
fn athena_free_text_throttle_is_retried_and_paging_is_followed() {
    let server = MockServer::start();
    let base = server.base().to_owned();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    server.on("GET", "/Observation", move |r: &Request| {
        if r.query_param("ah-practice").as_deref() != Some("Organization/a-1.Practice-7") {
            return Response::new(400).fhir_json(&json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "required"}]}));
        }
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return Response::new(429).fhir_json(&json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "throttled", "diagnostics": "Try in another 1 seconds"}]}));
        }
        if r.query_param("page").is_some() {
            Response::new(200).fhir_json(&bundle(&["b"], None))
        } else {
            Response::new(200).fhir_json(&bundle(&["a"], Some(format!("{base}/Observation?page=2"))))
        }
    });
    let out = run(
        &[
            "--base",
            server.base(),
            "--vendor",
            "athenahealth",
            "--practice",
            "7",
            "Observation?patient=1&category=vital-signs",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(lines(&out).len(), 2);
    assert_eq!(summary(&out), "resources=2 pages=2 retries=1 throttled=1");
}

#[test]
fn an_error_retries_cannot_fix_exits_1_after_the_rest() {
    let server = MockServer::start();
    server.respond("GET", "/Patient/gone", Response::new(404).fhir_json(&json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found", "diagnostics": "Patient Jane Roe"}]})));
    server.respond(
        "GET",
        "/Patient/ok",
        Response::new(200)
            .header("content-type", "application/json+fhir")
            .body(r#"{"resourceType":"Patient","id":"ok"}"#),
    );
    let out = run(
        &["--base", server.base(), "Patient/gone", "Patient/ok"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(lines(&out).len(), 1);
    let err = text(&out.stderr);
    assert!(err.contains("error: server answered 404"), "{err}");
    assert!(!err.contains("Jane"), "no PHI from diagnostics: {err}");
    assert_eq!(summary(&out), "resources=1 pages=0 retries=0 throttled=0");
}

#[test]
fn a_practice_given_in_one_query_goes_with_every_request_and_a_repeating_next_is_survived() {
    let server = MockServer::start();
    let base = server.base().to_owned();
    server.on("GET", "/*", move |r: &Request| {
        if r.query_param("ah-practice").as_deref() != Some("Organization/a-1.Practice-9") {
            return Response::new(400).fhir_json(&json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "required"}]}));
        }
        match r.path() {
            "/Patient/a-1.E-5" => Response::new(200).fhir_json(&json!({"resourceType": "Patient", "id": "a-1.E-5"})),
            // Always the same next link.
            _ => Response::new(200).fhir_json(&bundle(&["x"], Some(format!("{base}/Observation?page=2")))),
        }
    });
    let out = run(
        &[
            "--base",
            server.base(),
            "--vendor",
            "athenahealth",
            "Patient/a-1.E-5",
            "Observation?patient=a-1.E-5&category=laboratory&ah-practice=Organization/a-1.Practice-9",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The read came first, before the query naming the practice: it had it too.
    assert_eq!(lines(&out).len(), 3, "{}", text(&out.stdout));
    assert_eq!(summary(&out), "resources=3 pages=2 retries=0 throttled=0");
    assert!(text(&out.stderr).contains("warning: 1 search(es) stopped early"));
}
