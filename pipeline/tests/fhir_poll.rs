//! The FHIR API polling source against a mock imitating Epic's FHIR R4 search: Bundles of type
//! `searchset` with `search.mode`, an OperationOutcome entry (mode `outcome`) as Epic adds to
//! results, `next` links carrying an opaque session parameter, a 429 with `Retry-After`, a
//! re-poll returning an already kept version and an updated one, and a restart that resumes
//! from the saved watermark.
#![cfg(feature = "reqwest")]

#[path = "common/runtime.rs"]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{recorded, sqlite, started};
use ehrkit_fhir_client::{FhirClient, SearchParams, VendorProfile};
use ehrkit_pipeline::source::fhir_poll::{FhirPollSource, FileWatermarks};
use ehrkit_pipeline::stages::{fhir_storage_id, DefaultParser, Header, Parser};
use ehrkit_pipeline::store::{PayloadKind, Store};
use ehrkit_pipeline::{ErrorKind, Pipeline, Stage, StageError};
use ehrkit_testkit::http::{MockServer, Response};
use serde_json::{json, Value};

const BASE: &str = "/api/FHIR/R4";

fn patient(id: &str, version: &str, updated: &str, family: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "id": id,
        "meta": {"versionId": version, "lastUpdated": updated},
        "identifier": [{"use": "usual", "system": "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14", "value": format!("MRN-{id}")}],
        "name": [{"use": "official", "family": family, "given": ["Anna"]}],
        "gender": "female",
        "birthDate": "1980-01-01"
    })
}

fn searchset(origin: &str, resources: &[Value], next: Option<&str>, outcome: bool) -> Value {
    let mut entries: Vec<Value> = resources
        .iter()
        .map(|r| {
            json!({
                "fullUrl": format!("{origin}{BASE}/Patient/{}", r["id"].as_str().unwrap()),
                "resource": r,
                "search": {"mode": "match"}
            })
        })
        .collect();
    if outcome {
        // Epic adds an OperationOutcome about the search to its results.
        entries.push(json!({
            "resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "information",
              "code": "informational", "details": {"coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369", "code": "4119"}]}}]},
            "search": {"mode": "outcome"}
        }));
    }
    // The `self` link echoes the parameters applied (here the sort the source asks for).
    let mut link = vec![
        json!({"relation": "self", "url": format!("{origin}{BASE}/Patient?_sort=_lastUpdated")}),
    ];
    if let Some(n) = next {
        link.push(json!({"relation": "next", "url": format!("{origin}{n}")}));
    }
    json!({"resourceType": "Bundle", "type": "searchset", "total": resources.len(), "link": link, "entry": entries})
}

/// An Epic client that does not retry (a failed page fails the poll at once).
fn epic_without_retries(server: &MockServer) -> FhirClient {
    FhirClient::builder(&server.url(BASE))
        .profile(
            VendorProfile::epic().retry(ehrkit_fhir_client::RetryPolicy::default().max_attempts(1)),
        )
        .build()
        .unwrap()
}

/// A source polling `Patient` for `epic-fhir`, watermarks in `dir`.
fn patient_source(p: &Pipeline, client: FhirClient, dir: &tempfile::TempDir) -> FhirPollSource {
    FhirPollSource::new(
        p.clone(),
        client,
        "epic-fhir",
        FileWatermarks::open(dir.path().join("marks.json")).unwrap(),
    )
    .resource_type("Patient")
}

fn epic(server: &MockServer) -> FhirClient {
    FhirClient::builder(&server.url(BASE))
        .profile(VendorProfile::epic())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_429_repoll_and_restart() {
    let server = MockServer::start();
    let page2_calls = Arc::new(AtomicUsize::new(0));
    // What the server holds; a "changes" phase answers `_lastUpdated` queries.
    let changes: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
    {
        let page2_calls = page2_calls.clone();
        let changes = changes.clone();
        let origin = server.url("");
        server.on("GET", &format!("{BASE}/Patient"), move |req| {
            let srv = origin.as_str();
            if req.query_param("sessionID").is_some() {
                // Page 2: throttled once (Retry-After in seconds), then served.
                if page2_calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Response::new(429).header("Retry-After", "1");
                }
                let body = searchset(
                    srv,
                    &[patient("e3", "1", "2024-03-01T10:00:05Z", "Cole")],
                    None,
                    true,
                );
                return Response::ok().fhir_json(&body);
            }
            match req.query_param("_lastUpdated") {
                None => {
                    let body = searchset(
                        srv,
                        &[
                            patient("e1", "1", "2024-03-01T10:00:00Z", "Able"),
                            patient("e2", "1", "2024-03-01T10:00:02Z", "Baker"),
                        ],
                        Some(&format!("{BASE}/Patient?sessionID=7f3a&page=2")),
                        false,
                    );
                    Response::ok().fhir_json(&body)
                }
                Some(_) => {
                    let now = changes.lock().unwrap().clone();
                    Response::ok().fhir_json(&searchset(srv, &now, None, false))
                }
            }
        });
    }

    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let marks = dir.path().join("watermarks.json");
    let p = Pipeline::builder(store.clone()).start().await.unwrap();
    let client = epic(&server);
    let source = FhirPollSource::new(
        p.clone(),
        client.clone(),
        "epic-fhir",
        FileWatermarks::open(&marks).unwrap(),
    )
    .resource_type("Patient");

    // 1. First poll: two pages, the second after a 429.
    let r1 = source.poll_once().await.unwrap();
    assert!(r1.is_complete(), "{:?}", r1.failures);
    assert_eq!((r1.pages, r1.new, r1.duplicates), (2, 3, 0));
    assert_eq!(page2_calls.load(Ordering::SeqCst), 2, "429 retried once");
    assert_eq!(client.stats().throttled, 1);
    let first = &server.requests_to(&format!("{BASE}/Patient"))[0];
    assert_eq!(first.query_param("_lastUpdated"), None);
    assert_eq!(first.query_param("_sort").as_deref(), Some("_lastUpdated"));
    assert_eq!(
        source
            .watermark("Patient", &SearchParams::new())
            .unwrap()
            .as_deref(),
        Some("2024-03-01T10:00:05Z")
    );
    p.drain().await;
    let stored = store
        .resources_by_type("Patient", None, 100, "test")
        .await
        .unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(p.summary().await.unwrap().dead_letter, 0);

    // 2. Re-poll: the boundary version again (same versionId) and e1 updated.
    *changes.lock().unwrap() = vec![
        patient("e3", "1", "2024-03-01T10:00:05Z", "Cole"),
        patient("e1", "2", "2024-03-02T08:30:00Z", "Able-Smith"),
    ];
    server.clear_requests();
    let r2 = source.poll_once().await.unwrap();
    assert_eq!((r2.pages, r2.new, r2.duplicates), (1, 1, 1));
    let req = &server.requests_to(&format!("{BASE}/Patient"))[0];
    assert_eq!(
        req.query_param("_lastUpdated").as_deref(),
        Some("ge2024-03-01T10:00:05Z")
    );
    p.drain().await;
    let e1 = fhir_storage_id("epic-fhir", "Patient", "e1");
    let history = store
        .resource_history("Patient", &e1, "test")
        .await
        .unwrap();
    assert_eq!(history.len(), 2, "the new version is applied");
    assert!(history[1].body.contains("Able-Smith"));
    let s = p.summary().await.unwrap();
    assert_eq!((s.received, s.duplicates, s.resources), (4, 1, 3));
    p.shutdown().await;
    drop(source);

    // 3. Restart: a new pipeline and source on the same store and watermark file resume from
    // the saved watermark; what comes back is a duplicate.
    *changes.lock().unwrap() = vec![patient("e1", "2", "2024-03-02T08:30:00Z", "Able-Smith")];
    server.clear_requests();
    let p = Pipeline::builder(store.clone()).start().await.unwrap();
    let source = FhirPollSource::new(
        p.clone(),
        epic(&server),
        "epic-fhir",
        FileWatermarks::open(&marks).unwrap(),
    )
    .resource_type("Patient");
    let r3 = source.poll_once().await.unwrap();
    assert_eq!((r3.new, r3.duplicates), (0, 1));
    let req = &server.requests_to(&format!("{BASE}/Patient"))[0];
    assert_eq!(
        req.query_param("_lastUpdated").as_deref(),
        Some("ge2024-03-02T08:30:00Z")
    );
    p.drain().await;
    let s = p.summary().await.unwrap();
    assert_eq!((s.received, s.resources), (4, 3));
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_the_server_fails_is_asked_again_from_the_last_kept_page() {
    let server = MockServer::start();
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    {
        let fail = fail.clone();
        let base_url = server.url(BASE);
        server.on("GET", &format!("{BASE}/Patient"), move |req| {
            let page = |rs: Vec<Value>, next: Option<String>| {
                let mut link = vec![json!({"relation": "self",
                    "url": format!("{base_url}/Patient?_sort=_lastUpdated")})];
                if let Some(n) = next {
                    link.push(json!({"relation": "next", "url": n}));
                }
                let entry: Vec<Value> = rs
                    .into_iter()
                    .map(|r| json!({"resource": r, "search": {"mode": "match"}}))
                    .collect();
                json!({"resourceType": "Bundle", "type": "searchset", "link": link, "entry": entry})
            };
            if req.query_param("sessionID").is_some() {
                if fail.load(Ordering::SeqCst) {
                    // Epic answers an internal error with an OperationOutcome.
                    return Response::new(500).fhir_json(&json!({"resourceType": "OperationOutcome",
                        "issue": [{"severity": "fatal", "code": "exception", "diagnostics": "Patient Anna Able: lookup failed"}]}));
                }
                return Response::ok().fhir_json(&page(
                    vec![patient("f3", "1", "2024-04-01T00:00:09Z", "Cole")],
                    None,
                ));
            }
            if req.query_param("_lastUpdated").as_deref() == Some("ge2024-04-01T00:00:01Z") {
                // Asked again from page 1's newest: page 1's last resource and the rest.
                return Response::ok().fhir_json(&page(
                    vec![
                        patient("f2", "1", "2024-04-01T00:00:01Z", "Baker"),
                        patient("f3", "1", "2024-04-01T00:00:09Z", "Cole"),
                    ],
                    None,
                ));
            }
            Response::ok().fhir_json(&page(
                vec![
                    patient("f1", "1", "2024-04-01T00:00:00Z", "Able"),
                    patient("f2", "1", "2024-04-01T00:00:01Z", "Baker"),
                ],
                Some(format!("{base_url}/Patient?sessionID=1&page=2")),
            ))
        });
    }
    let (dir, _store, p) = started().await;
    let source = patient_source(&p, epic(&server), &dir);
    let r1 = source.poll_once().await.unwrap();
    assert_eq!(r1.failures.len(), 1);
    assert_eq!(r1.failures[0].status, 500);
    // No PHI from the server's diagnostics in the error text.
    assert!(!r1.failures[0].error.to_string().contains("Anna"));
    assert_eq!(r1.new, 2);
    assert_eq!(
        source
            .watermark("Patient", &SearchParams::new())
            .unwrap()
            .as_deref(),
        Some("2024-04-01T00:00:01Z"),
        "the watermark names the last page fully kept, not the failed one"
    );
    fail.store(false, Ordering::SeqCst);
    let r2 = source.poll_once().await.unwrap();
    assert!(r2.is_complete());
    assert_eq!((r2.new, r2.duplicates), (1, 1));
    p.drain().await;
    assert_eq!(p.summary().await.unwrap().resources, 3);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_polls_at_its_interval_until_shutdown() {
    let server = MockServer::start();
    let origin = server.url("");
    server.on("GET", &format!("{BASE}/Patient"), move |_| {
        Response::ok().fhir_json(&searchset(
            &origin,
            &[patient("r1", "1", "2024-06-01T12:00:00Z", "Run")],
            None,
            false,
        ))
    });
    let (dir, _store, p) = started().await;
    let source = patient_source(&p, epic(&server), &dir);
    let path = format!("{BASE}/Patient");
    let shutdown = async {
        assert!(
            server
                .wait_for_hits("GET", &path, 3, std::time::Duration::from_secs(30))
                .await
        );
    };
    source
        .run(std::time::Duration::from_millis(20), shutdown)
        .await
        .unwrap();
    p.drain().await;
    let s = p.summary().await.unwrap();
    // The same version polled again: kept once; the second poll (done before the third
    // began) found a duplicate; the third was abandoned by the shutdown.
    assert_eq!((s.received, s.resources), (1, 1));
    assert!(s.duplicates >= 1, "{s:?}");
    let later = server.requests_to(&path);
    assert!(later[1..]
        .iter()
        .all(|r| r.query_param("_lastUpdated").as_deref() == Some("ge2024-06-01T12:00:00Z")));
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_confirm_the_sort_moves_the_watermark_only_at_the_end() {
    // The `self` link does not show `_sort` (the server ignored it), and page 2 holds an older
    // resource than page 1: saving after page 1 would skip it after a failure of page 2.
    let server = MockServer::start();
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    {
        let fail = fail.clone();
        let origin = server.url("");
        server.on("GET", &format!("{BASE}/Patient"), move |req| {
            let page = |rs: Vec<Value>, next: Option<&str>| {
                let mut b = searchset(&origin, &rs, next, false);
                b["link"][0]["url"] = json!(format!("{origin}{BASE}/Patient"));
                b
            };
            if req.query_param("sessionID").is_some() {
                if fail.load(Ordering::SeqCst) {
                    return Response::new(503);
                }
                return Response::ok().fhir_json(&page(
                    vec![patient("u3", "1", "2024-07-01T00:00:01Z", "Older")],
                    None,
                ));
            }
            Response::ok().fhir_json(&page(
                vec![
                    patient("u1", "1", "2024-07-01T00:00:05Z", "Able"),
                    patient("u2", "1", "2024-07-01T00:00:09Z", "Baker"),
                ],
                Some(&format!("{BASE}/Patient?sessionID=9&page=2")),
            ))
        });
    }
    let (dir, _store, p) = started().await;
    let client = epic_without_retries(&server);
    let source = patient_source(&p, client, &dir);
    let r1 = source.poll_once().await.unwrap();
    assert_eq!((r1.new, r1.failures.len()), (2, 1));
    assert_eq!(
        source.watermark("Patient", &SearchParams::new()).unwrap(),
        None,
        "no watermark from an unconfirmed sort before the search ends"
    );
    server.clear_requests();
    fail.store(false, Ordering::SeqCst);
    let r2 = source.poll_once().await.unwrap();
    assert!(r2.is_complete());
    assert_eq!(
        (r2.new, r2.duplicates),
        (1, 2),
        "the older resource is not skipped"
    );
    assert_eq!(
        server.requests_to(&format!("{BASE}/Patient"))[0].query_param("_lastUpdated"),
        None
    );
    assert_eq!(
        source
            .watermark("Patient", &SearchParams::new())
            .unwrap()
            .as_deref(),
        Some("2024-07-01T00:00:09Z")
    );
    p.drain().await;
    assert_eq!(p.summary().await.unwrap().resources, 3);
    p.shutdown().await;
}

/// The default parser, refusing FHIR resources that name the family `REFUSED` (as a site's
/// parser refusing what it cannot key would).
struct Picky;

impl Parser for Picky {
    fn header(
        &self,
        kind: PayloadKind,
        payload: &[u8],
        endpoint: &str,
    ) -> Result<Header, StageError> {
        if payload.windows(7).any(|w| w == b"REFUSED") {
            return Err(StageError::new(
                Stage::Parse,
                ErrorKind::Invalid,
                "refused by the site",
            ));
        }
        DefaultParser::default().header(kind, payload, endpoint)
    }
}

#[test]
fn the_poll_counters_say_what_the_report_says() {
    let server = MockServer::start();
    let fail_page2 = Arc::new(std::sync::atomic::AtomicBool::new(true));
    {
        let origin = server.url("");
        let fail_page2 = fail_page2.clone();
        server.on("GET", &format!("{BASE}/Patient"), move |req| {
            let srv = origin.as_str();
            if req.query_param("sessionID").is_some() {
                if fail_page2.swap(false, Ordering::SeqCst) {
                    return Response::new(500);
                }
                return Response::ok().fhir_json(&searchset(srv, &[], None, false));
            }
            match req.query_param("_lastUpdated") {
                None => Response::ok().fhir_json(&searchset(
                    srv,
                    &[
                        patient("m1", "1", "2024-05-01T00:00:00Z", "Able"),
                        patient("m2", "1", "2024-05-01T00:00:01Z", "Baker"),
                    ],
                    Some(&format!("{BASE}/Patient?sessionID=5&page=2")),
                    false,
                )),
                Some(_) => Response::ok().fhir_json(&searchset(
                    srv,
                    &[
                        // Kept already: a duplicate.
                        patient("m2", "1", "2024-05-01T00:00:01Z", "Baker"),
                        // Same version, other content: kept and flagged.
                        patient("m1", "1", "2024-05-01T00:00:00Z", "Able-Changed"),
                        patient("m3", "1", "2024-05-01T00:00:02Z", "Cole"),
                        patient("m4", "1", "2024-05-01T00:00:03Z", "REFUSED"),
                    ],
                    None,
                    true,
                )),
            }
        });
    }
    let ((r1, r2), metrics) = recorded(|| async {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(&dir);
        let p = Pipeline::builder(store.clone())
            .parser(Picky)
            .start()
            .await
            .unwrap();
        let client = epic_without_retries(&server);
        let source = patient_source(&p, client, &dir);
        let r1 = source.poll_once().await.unwrap();
        let r2 = source.poll_once().await.unwrap();
        p.drain().await;
        p.shutdown().await;
        (r1, r2)
    });
    // What the reports say, first.
    assert_eq!(
        (r1.pages, r1.new, r1.failures.len()),
        (1, 2, 1),
        "page 2 failed"
    );
    assert_eq!(r1.failures[0].status, 500);
    assert_eq!(
        (r2.pages, r2.new, r2.duplicates, r2.reused, r2.refused),
        (1, 1, 1, 1, 1)
    );
    assert!(r2.is_complete());
    // The counters, with their documented labels.
    let c = |outcome: &str| {
        metrics.counter(&format!(
            "ehrkit_pipeline_fhir_poll_resources_total{{source=epic-fhir,outcome={outcome}}}"
        ))
    };
    assert_eq!(
        (c("new"), c("duplicate"), c("reused"), c("refused")),
        (3, 1, 1, 1),
        "{metrics:?}"
    );
    assert_eq!(
        metrics.counter("ehrkit_pipeline_fhir_poll_pages_total{source=epic-fhir}"),
        2
    );
    assert_eq!(
        metrics.counter("ehrkit_pipeline_fhir_poll_failures_total{source=epic-fhir,status=500}"),
        1
    );
    // The pipeline's own counters saw the same resources.
    assert_eq!(
        metrics.counter("ehrkit_pipeline_duplicates_total{source=epic-fhir}"),
        1,
        "{metrics:?}"
    );
}

const PRACTICE: &str = "Organization/a-1.Practice-195900";

/// A mock of athenahealth's search whose `next` links drop `ah-practice` (the server wants it
/// on every request); a `_lastUpdated` poll gets one more page.
fn athena_server() -> MockServer {
    let server = MockServer::start();
    let origin = server.url("");
    server.on("GET", &format!("{BASE}/Patient"), move |req| {
        let srv = origin.as_str();
        if req.query_param("ah-practice").as_deref() != Some(PRACTICE) {
            return Response::new(403).fhir_json(&json!({"resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "forbidden", "diagnostics": "ah-practice required"}]}));
        }
        if req.query_param("page").is_some() {
            return Response::ok().fhir_json(&searchset(
                srv,
                &[patient("a2", "1", "2024-08-01T00:00:02Z", "Baker")],
                None,
                false,
            ));
        }
        Response::ok().fhir_json(&searchset(
            srv,
            &[patient("a1", "1", "2024-08-01T00:00:01Z", "Able")],
            Some(&format!("{BASE}/Patient?page=2&session=77")),
            false,
        ))
    });
    server
}

/// A poll source of endpoint `athena` on `client`, its watermarks under `dir`.
fn athena_source(p: &Pipeline, dir: &tempfile::TempDir, client: FhirClient) -> FhirPollSource {
    FhirPollSource::new(
        p.clone(),
        client,
        "athena",
        FileWatermarks::open(dir.path().join("marks.json")).unwrap(),
    )
}

async fn poll_athena(server: &MockServer, source: &FhirPollSource) {
    let path = format!("{BASE}/Patient");
    for round in 0..2 {
        server.clear_requests();
        let r = source.poll_once().await.unwrap();
        assert!(r.is_complete(), "round {round}: {:?}", r.failures);
        assert_eq!(r.pages, 2, "round {round}");
        let seen = server.requests_to(&path);
        assert_eq!(seen.len(), 2);
        for req in &seen {
            assert_eq!(
                req.query_param("ah-practice").as_deref(),
                Some(PRACTICE),
                "round {round}: every page carries the practice"
            );
        }
        assert_eq!(
            seen[0].query_param("_lastUpdated").is_some(),
            round == 1,
            "the second round polls from the watermark"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn athenahealths_practice_given_in_a_query_is_kept_on_every_page_and_poll() {
    let server = athena_server();
    let (dir, _store, p) = started().await;
    let client = FhirClient::builder(&server.url(BASE))
        .profile(VendorProfile::athenahealth(None))
        .build()
        .unwrap();
    let params = SearchParams::new().param("ah-practice", PRACTICE);
    let source = athena_source(&p, &dir, client).query("Patient", params);
    poll_athena(&server, &source).await;
    p.drain().await;
    assert_eq!(p.summary().await.unwrap().resources, 2);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoints_extra_parameters_are_kept_on_every_page_and_poll() {
    let server = athena_server();
    let (dir, _store, p) = started().await;
    // The generic profile knows nothing of athenahealth: the endpoint's setting carries it.
    let client = FhirClient::builder(&server.url(BASE)).build().unwrap();
    let source = athena_source(&p, &dir, client)
        .extra_params(SearchParams::new().param("ah-practice", PRACTICE))
        .resource_type("Patient");
    poll_athena(&server, &source).await;
    // The watermark is looked up by the query's own parameters (the source adds its
    // endpoint's to the key itself).
    assert_eq!(
        source
            .watermark("Patient", &SearchParams::new())
            .unwrap()
            .as_deref(),
        Some("2024-08-01T00:00:02Z")
    );
    p.drain().await;
    assert_eq!(p.summary().await.unwrap().resources, 2);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_querys_own_value_wins_over_the_endpoints_on_every_page() {
    let server = athena_server();
    let (dir, _store, p) = started().await;
    let client = FhirClient::builder(&server.url(BASE))
        .profile(VendorProfile::athenahealth(None))
        .build()
        .unwrap();
    // The endpoint names another practice; this query names the one the server serves. Every
    // page of the query, the next page included, must stay with the query's practice.
    let source = athena_source(&p, &dir, client)
        .extra_params(SearchParams::new().param("ah-practice", "Organization/a-1.Practice-999"))
        .query(
            "Patient",
            SearchParams::new().param("ah-practice", PRACTICE),
        );
    poll_athena(&server, &source).await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_practices_under_one_endpoint_name_keep_a_watermark_each() {
    let server = athena_server();
    let (dir, _store, p) = started().await;
    let marks = dir.path().join("marks.json");
    let source = |practice: &str| {
        FhirPollSource::new(
            p.clone(),
            FhirClient::builder(&server.url(BASE)).build().unwrap(),
            "athena",
            FileWatermarks::open(&marks).unwrap(),
        )
        .extra_params(SearchParams::new().param("ah-practice", practice))
        .resource_type("Patient")
    };
    let served = source(PRACTICE);
    poll_athena(&server, &served).await;
    // Another practice, same endpoint name and watermark file: nothing polled for it yet, so
    // it has no watermark (sharing the first one's would skip its older resources).
    let other = source("Organization/a-1.Practice-999");
    assert_eq!(
        other.watermark("Patient", &SearchParams::new()).unwrap(),
        None
    );
    assert!(served
        .watermark("Patient", &SearchParams::new())
        .unwrap()
        .is_some());
    p.shutdown().await;
}
