//! End-to-end tests of the reqwest client against a mock Bulk Data server:
//! `ehrkit-testkit`'s loopback server (127.0.0.1:0), reproducing what
//! real servers do (202 + Content-Location, X-Progress, every Retry-After
//! form, 429, transient 500, manifest paging, deleted/error arrays, gzip,
//! a 307 to a second origin, cancel).
#![cfg(feature = "reqwest")]

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ehrkit_bulk_data::client::{BulkClient, ClientConfig, NoAuth, StaticToken, TokenProvider};
use ehrkit_bulk_data::{Error, NdjsonErrorKind};
use ehrkit_bulk_data::{ExportLevel, ExportRequest, FileKind, PollConfig, Progress, WaitReason};

mod support;
use support::{gzip, resp, serve, serve_with, InFlight, Req};

/// Millisecond-scale polling for tests.
fn fast_poll() -> PollConfig {
    PollConfig::default()
        .wait_range(Duration::from_millis(2), Duration::from_millis(40))
        .initial_backoff(Duration::from_millis(5))
        .deadline(Some(Duration::from_secs(20)))
}

fn manifest_json(base: &str, requires: bool, output: &str, extra: &str) -> String {
    format!(
        r#"{{"transactionTime":"2026-11-22T00:00:00.123Z","request":"{base}/fhir/$export",
        "requiresAccessToken":{requires},"output":[{output}],"error":[]{extra}}}"#
    )
}

/// A client without authorisation for the server at `base`, with fast polling and `retries`
/// transient errors allowed per file.
fn file_client(base: &str, retries: u32) -> BulkClient<NoAuth> {
    BulkClient::with_config(
        format!("{base}/fhir").parse().unwrap(),
        NoAuth,
        ClientConfig::default().poll(fast_poll().max_transient_errors(retries)),
    )
    .unwrap()
}

/// The code of an OperationOutcome's first issue.
fn code(oo: &ehrkit_bulk_data::OperationOutcome) -> &str {
    oo.issue[0]
        .code
        .as_ref()
        .and_then(|c| c.value.as_ref())
        .map_or("", |c| c.as_code())
}

const PATIENTS: &str = "{\"resourceType\":\"Patient\",\"id\":\"p1\"}\n{\"resourceType\":\"Patient\",\"id\":\"p2\"}\n{\"resourceType\":\"Patient\",\"id\":\"p3\"}\n";

#[tokio::test]
async fn full_export_flow() {
    // Second origin (a "CDN"): must never see an Authorization header.
    let cdn_violation = Arc::new(AtomicUsize::new(0));
    let v2 = cdn_violation.clone();
    let in_flight = Arc::new(InFlight::default());
    let (cdn, cdn_log) = serve_with(
        Arc::new(move |r: &Req| {
            if r.header("authorization").is_some() {
                v2.fetch_add(1, Ordering::SeqCst);
                return resp(403, &[], "Authorization leaked across origins");
            }
            assert_eq!(r.path(), "/cdn/obs.ndjson");
            resp(
            200,
            &[("Content-Type", "application/fhir+ndjson")],
            "{\"resourceType\":\"Observation\",\"id\":\"o1\"}\r\n\r\n{\"resourceType\":\"Observation\",\"id\":\"o2\"}\r\n",
        )
        }),
        Some(in_flight.clone()),
    );

    let polls = Arc::new(AtomicUsize::new(0));
    let base_cell: Arc<Mutex<String>> = Arc::default();
    let (p2, bc, cdn2) = (polls.clone(), base_cell.clone(), cdn.clone());
    let (base, log) = serve_with(
        Arc::new(move |r: &Req| {
            let base = bc.lock().unwrap().clone();
            let authed = r.header("authorization") == Some("Bearer tok-1");
            match (r.method.as_str(), r.path()) {
                ("GET", "/fhir/$export") => {
                    assert_eq!(r.header("prefer"), Some("respond-async"));
                    assert_eq!(r.header("accept"), Some("application/fhir+json"));
                    assert!(authed);
                    resp(202, &[("Content-Location", "/status/1")], "")
                }
                ("GET", "/status/1") => {
                    let n = p2.fetch_add(1, Ordering::SeqCst);
                    let now = SystemTime::now();
                    match n {
                        0 => resp(202, &[("X-Progress", "10%"), ("Retry-After", "1")], ""),
                        1 => {
                            let d = httpdate::fmt_http_date(now + Duration::from_secs(3600));
                            resp(202, &[("X-Progress", "30%"), ("Retry-After", &d)], "")
                        }
                        2 => {
                            let ms = (now + Duration::from_millis(10))
                                .duration_since(UNIX_EPOCH)
                                .unwrap()
                                .as_millis()
                                .to_string();
                            resp(202, &[("Retry-After", &ms)], "")
                        }
                        3 => resp(202, &[("Retry-After", "after lunch")], ""),
                        4 => resp(429, &[("Retry-After", "2")], ""),
                        5 => resp(500, &[], "upstream hiccup"),
                        _ => {
                            let out = format!(
                                r#"{{"type":"Patient","url":"{base}/files/patient.ndjson","count":3}},
                               {{"type":"Observation","url":"{base}/files/obs.ndjson","count":2}}"#
                            );
                            let extra = format!(
                                r#","error":[{{"type":"OperationOutcome","url":"{base}/files/err.ndjson"}}],
                               "link":[{{"relation":"next","url":"{base}/manifest/2"}}]"#
                            );
                            let m = manifest_json(&base, true, &out, "")
                                .replace(r#","error":[]"#, &extra);
                            resp(200, &[("Content-Type", "application/json")], m)
                        }
                    }
                }
                ("GET", "/manifest/2") => {
                    assert!(authed);
                    let out = format!(
                        r#"{{"type":"Observation","url":"{base}/files/obs2.ndjson.gz","count":2}}"#
                    );
                    let extra = format!(
                        r#","deleted":[{{"type":"Bundle","url":"{base}/files/deleted.ndjson"}}]"#
                    );
                    resp(200, &[], manifest_json(&base, true, &out, &extra))
                }
                ("GET", p) if p.starts_with("/files/") => {
                    if !authed {
                        return resp(401, &[], "");
                    }
                    match p {
                    "/files/patient.ndjson" => {
                        assert!(r.header("accept-encoding").unwrap_or("").contains("gzip"));
                        resp(200, &[("Content-Encoding", "gzip")], gzip(PATIENTS.as_bytes()))
                    }
                    "/files/obs.ndjson" => {
                        let loc = format!("{cdn2}/cdn/obs.ndjson?sig=abc");
                        resp(307, &[("Location", &loc)], "")
                    }
                    "/files/obs2.ndjson.gz" => resp(
                        200,
                        &[("Content-Type", "application/gzip")],
                        gzip(b"{\"resourceType\":\"Observation\",\"id\":\"o3\"}\n{\"resourceType\":\"Observation\",\"id\":\"o4\"}"),
                    ),
                    "/files/err.ndjson" => resp(
                        200,
                        &[],
                        "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":\"not-found\",\"diagnostics\":\"Patient/p9 gone\"}]}\n",
                    ),
                    "/files/deleted.ndjson" => resp(
                        200,
                        &[],
                        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"request\":{\"method\":\"DELETE\",\"url\":\"Patient/p0\"}}]}\n",
                    ),
                    _ => resp(404, &[], ""),
                }
                }
                _ => resp(404, &[], ""),
            }
        }),
        Some(in_flight.clone()),
    );
    *base_cell.lock().unwrap() = base.clone();

    let client = BulkClient::with_config(
        format!("{base}/fhir").parse().unwrap(),
        StaticToken::new("tok-1"),
        ClientConfig::default()
            .poll(fast_poll())
            .parallel_downloads(2),
    )
    .unwrap();
    let started = Instant::now();
    let mut job = client
        .kick_off(
            &ExportRequest::new(ExportLevel::System)
                .types(["Patient", "Observation"])
                .type_filter("Observation?category=laboratory")
                .type_filter("Patient?active=true"),
        )
        .await
        .unwrap();
    assert_eq!(job.status_url().as_str(), format!("{base}/status/1"));
    let mut seen: Vec<Progress> = Vec::new();
    let manifest = client
        .wait(&mut job, |p| seen.push(p.clone()))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));

    // Polling behaviour.
    assert_eq!(seen.len(), 6);
    assert_eq!(seen[0].x_progress.as_deref(), Some("10%"));
    assert_eq!(
        seen[0].next_poll_in,
        Duration::from_millis(40),
        "1 s clamped to max"
    );
    assert_eq!(seen[1].x_progress.as_deref(), Some("30%"));
    assert_eq!(
        seen[1].next_poll_in,
        Duration::from_millis(40),
        "HTTP-date +1 h clamped"
    );
    assert!(
        seen[2].next_poll_in <= Duration::from_millis(12),
        "epoch-ms is a timestamp"
    );
    assert!(seen[2].next_poll_in >= Duration::from_millis(2));
    assert_eq!(
        seen[3].next_poll_in,
        Duration::from_millis(5),
        "garbage → backoff"
    );
    assert_eq!(seen[4].reason, WaitReason::RateLimited);
    assert_eq!(seen[5].reason, WaitReason::Transient(Some(500)));
    assert_eq!(
        seen[5].next_poll_in,
        Duration::from_millis(10),
        "backoff doubled"
    );

    // Kick-off query carried both _typeFilter values.
    let kick = log.requests()[0].clone();
    let url = url::Url::parse(&format!("{base}{}", kick.target())).unwrap();
    let tf: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == "_typeFilter")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(
        tf,
        ["Observation?category=laboratory", "Patient?active=true"]
    );

    // Manifest merged over two pages.
    assert_eq!(manifest.next_since(), "2026-11-22T00:00:00.123Z");
    assert_eq!(manifest.output.len(), 3);
    assert_eq!(manifest.error.len(), 1);
    assert_eq!(manifest.deleted.len(), 1);
    assert!(manifest.next_page().is_none());

    // Downloads.
    let dir = tempfile::tempdir().unwrap();
    let mut files = client.download_all(&manifest, dir.path()).await.unwrap();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let summary: Vec<(String, u64)> = files
        .iter()
        .map(|f| {
            (
                f.path.file_name().unwrap().to_string_lossy().into_owned(),
                f.records,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("Observation.0001.ndjson".to_owned(), 2),
            ("Observation.0002.ndjson".to_owned(), 2),
            ("Patient.0000.ndjson".to_owned(), 3),
            ("deleted.0000.ndjson".to_owned(), 1),
            ("error.0000.ndjson".to_owned(), 1),
        ]
    );
    assert_eq!(std::fs::read_to_string(&files[2].path).unwrap(), PATIENTS);
    assert_eq!(files[3].kind, FileKind::Deleted);
    // Five files, two at a time: parallel, and bounded.
    assert_eq!(in_flight.max.load(Ordering::SeqCst), 2);

    let outcomes = client.error_outcomes(&manifest).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(code(&outcomes[0]), "not-found");

    // The CDN got exactly one request, without Authorization; every file
    // request on the FHIR origin carried the token.
    assert_eq!(cdn_violation.load(Ordering::SeqCst), 0);
    let cdn_reqs = cdn_log.requests();
    assert_eq!(cdn_reqs.len(), 1);
    assert!(cdn_reqs[0].header("authorization").is_none());
    let file_reqs: Vec<Req> = log
        .requests()
        .iter()
        .filter(|r| r.path().starts_with("/files/"))
        .cloned()
        .collect();
    assert_eq!(file_reqs.len(), 6);
    assert!(file_reqs
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer tok-1")));
}

/// A server whose manifest says requiresAccessToken=false: downloads must
/// carry no Authorization header at all (status polls still do).
#[tokio::test]
async fn no_authorization_when_not_required() {
    let base_cell: Arc<Mutex<String>> = Arc::default();
    let bc = base_cell.clone();
    let (base, log) = serve(Arc::new(move |r: &Req| {
        let base = bc.lock().unwrap().clone();
        match r.path() {
            "/fhir/Patient/$export" => {
                resp(202, &[("Content-Location", &format!("{base}/st"))], "")
            }
            "/st" => {
                let out = format!(r#"{{"type":"Patient","url":"{base}/open/p.ndjson","count":3}}"#);
                resp(200, &[], manifest_json(&base, false, &out, ""))
            }
            "/open/p.ndjson" => {
                if r.header("authorization").is_some() {
                    return resp(400, &[], "unexpected Authorization");
                }
                resp(200, &[], PATIENTS)
            }
            _ => resp(404, &[], ""),
        }
    }));
    *base_cell.lock().unwrap() = base.clone();
    let client = BulkClient::with_config(
        format!("{base}/fhir/").parse().unwrap(),
        StaticToken::new("tok-2"),
        ClientConfig::default().poll(fast_poll()),
    )
    .unwrap();
    let mut job = client
        .kick_off(&ExportRequest::new(ExportLevel::Patient))
        .await
        .unwrap();
    let m = client.wait(&mut job, |_| {}).await.unwrap();
    assert!(!m.requires_access_token);
    let mut ids = Vec::new();
    let n = client
        .download(&m, &m.output[0], FileKind::Output, |rec| {
            let v: serde_json::Value = rec.deserialize()?;
            ids.push(v["id"].as_str().unwrap_or("").to_owned());
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(ids, ["p1", "p2", "p3"]);
    let reqs = log.requests();
    let st = reqs.iter().find(|r| r.path() == "/st").unwrap();
    assert_eq!(st.header("authorization"), Some("Bearer tok-2"));
    let dl = reqs.iter().find(|r| r.path() == "/open/p.ndjson").unwrap();
    assert!(dl.header("authorization").is_none());
}

/// POST kick-off at Group level with a Parameters body, then cancel.
#[tokio::test]
async fn post_kickoff_and_cancel() {
    let cancelled = Arc::new(AtomicUsize::new(0));
    let c2 = cancelled.clone();
    let (base, log) = serve(Arc::new(move |r: &Req| {
        match (r.method.as_str(), r.path()) {
            ("POST", "/fhir/Group/grp-1/$export") => {
                assert_eq!(r.header("content-type"), Some("application/fhir+json"));
                resp(202, &[("Content-Location", "../../../status/9")], "")
            }
            ("GET", "/status/9") if c2.load(Ordering::SeqCst) == 0 => {
                resp(202, &[("X-Progress", "running")], "")
            }
            ("GET", "/status/9") => resp(
                404,
                &[],
                r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}"#,
            ),
            ("DELETE", "/status/9") => {
                c2.fetch_add(1, Ordering::SeqCst);
                resp(202, &[], "")
            }
            _ => resp(404, &[], ""),
        }
    }));
    let client = BulkClient::with_config(
        format!("{base}/fhir/").parse().unwrap(),
        NoAuth,
        ClientConfig::default().poll(fast_poll()),
    )
    .unwrap();
    let req = ExportRequest::new(ExportLevel::Group("grp-1".into()))
        .post()
        .types(["Patient"])
        .patient("Patient/123")
        .type_filter("Patient?gender=female")
        .type_filter("Patient?active=true")
        .since("2026-01-01T00:00:00Z")
        .include_associated_data(["LatestProvenanceResources"])
        .organize_output_by("Patient")
        .allow_partial_manifests(false);
    let job = client.kick_off(&req).await.unwrap();
    assert_eq!(job.status_url().path(), "/status/9");
    let body: serde_json::Value = serde_json::from_slice(&log.requests()[0].body).unwrap();
    assert_eq!(body["resourceType"], "Parameters");
    let names: Vec<&str> = body["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "_since",
            "_type",
            "patient",
            "_typeFilter",
            "_typeFilter",
            "includeAssociatedData",
            "organizeOutputBy",
            "allowPartialManifests"
        ]
    );
    assert!(log.requests()[0].header("authorization").is_none());

    client.cancel(&job).await.unwrap();
    assert_eq!(cancelled.load(Ordering::SeqCst), 1);
    // Polling a cancelled job: 404 with an OperationOutcome, surfaced typed.
    let mut job2 = client.resume(job.status_url().clone());
    match client.wait(&mut job2, |_| {}).await {
        Err(Error::Server {
            status: 404,
            stage: "status",
            outcome: Some(oo),
        }) => assert_eq!(code(&oo), "not-found"),
        other => panic!("{other:?}"),
    }
}

/// Token provider that hands out a stale token until asked to refresh.
#[derive(Default)]
struct Rotating {
    refreshes: AtomicUsize,
}

impl TokenProvider for Rotating {
    async fn token(&self) -> ehrkit_bulk_data::Result<Option<String>> {
        let n = self.refreshes.load(Ordering::SeqCst);
        Ok(Some(format!("tok-v{n}")))
    }
    async fn refresh(&self, _rejected: Option<&str>) -> ehrkit_bulk_data::Result<Option<String>> {
        let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Some(format!("tok-v{n}")))
    }
}

/// 401 → refresh → retry; 429 on kick-off waited out; resume from a saved
/// status URL; deadline.
#[tokio::test]
async fn refresh_429_kickoff_resume_and_deadline() {
    let kicks = Arc::new(AtomicUsize::new(0));
    let k2 = kicks.clone();
    let (base, _log) = serve(Arc::new(move |r: &Req| {
        if r.header("authorization") != Some("Bearer tok-v1") {
            return resp(401, &[], "");
        }
        match r.path() {
            "/fhir/$export" => {
                if k2.fetch_add(1, Ordering::SeqCst) == 0 {
                    resp(429, &[("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")], "")
                } else {
                    resp(202, &[("Content-Location", "/never-done")], "")
                }
            }
            "/never-done" => resp(202, &[("Retry-After", "1")], ""),
            "/done" => resp(
                200,
                &[],
                r#"{"transactionTime":"2026-01-01T00:00:00Z","request":"x","requiresAccessToken":true,"output":[]}"#,
            ),
            _ => resp(404, &[], ""),
        }
    }));
    let tokens = Arc::new(Rotating::default());
    let client = BulkClient::with_config(
        format!("{base}/fhir").parse().unwrap(),
        tokens.clone(),
        ClientConfig::default().poll(fast_poll().deadline(Some(Duration::from_millis(150)))),
    )
    .unwrap();
    let mut job = client
        .kick_off(&ExportRequest::new(ExportLevel::System))
        .await
        .unwrap();
    assert_eq!(
        kicks.load(Ordering::SeqCst),
        2,
        "429 waited out, then resent"
    );
    assert_eq!(
        tokens.refreshes.load(Ordering::SeqCst),
        1,
        "one refresh after 401"
    );
    let t = Instant::now();
    assert!(matches!(
        client.wait(&mut job, |_| {}).await,
        Err(Error::DeadlineExceeded(_))
    ));
    assert!(t.elapsed() < Duration::from_secs(5));

    let mut resumed = client.resume(format!("{base}/done").parse().unwrap());
    let m = client.wait(&mut resumed, |_| {}).await.unwrap();
    assert!(m.output.is_empty());
}

/// Per-file checks: wrong type, wrong count, truncated gzip, kick-off error.
#[tokio::test]
async fn file_checks_and_errors() {
    let (base, _log) = serve(Arc::new(|r: &Req| match r.path() {
        "/fhir/$export" => resp(
            400,
            &[],
            r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-supported","diagnostics":"_typeFilter"}]}"#,
        ),
        "/f/wrongtype" => resp(
            200,
            &[],
            PATIENTS
                .replace("p2\"", "p2\",\"x\":1")
                .replace("\"Patient\",\"id\":\"p3\"", "\"Observation\",\"id\":\"o\""),
        ),
        "/f/count" => resp(200, &[], PATIENTS),
        "/f/truncgz" => {
            let g = gzip(PATIENTS.as_bytes());
            resp(
                200,
                &[("Content-Encoding", "gzip")],
                g[..g.len() - 12].to_vec(),
            )
        }
        "/f/cut" => resp(200, &[], &PATIENTS[..PATIENTS.len() - 5]),
        "/f/zlib" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(PATIENTS.as_bytes()).unwrap();
            resp(200, &[("Content-Encoding", "deflate")], e.finish().unwrap())
        }
        "/f/rawdeflate" => {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(PATIENTS.as_bytes()).unwrap();
            resp(200, &[("Content-Encoding", "deflate")], e.finish().unwrap())
        }
        "/f/br" => resp(200, &[("Content-Encoding", "br")], PATIENTS),
        _ => resp(404, &[], ""),
    }));
    let client = BulkClient::with_config(
        format!("{base}/fhir").parse().unwrap(),
        NoAuth,
        ClientConfig::default().poll(fast_poll()),
    )
    .unwrap();
    match client
        .kick_off(&ExportRequest::new(ExportLevel::System))
        .await
    {
        Err(Error::Server {
            status: 400,
            outcome: Some(oo),
            ..
        }) => {
            assert_eq!(code(&oo), "not-supported");
        }
        other => panic!("{other:?}"),
    }
    let m: ehrkit_bulk_data::Manifest = serde_json::from_str(&format!(
        r#"{{"transactionTime":"t","request":"r","requiresAccessToken":false,"output":[
        {{"type":"Patient","url":"{base}/f/wrongtype"}},
        {{"type":"Patient","url":"{base}/f/count","count":4}},
        {{"type":"Patient","url":"{base}/f/truncgz"}},
        {{"type":"Patient","url":"{base}/f/cut"}},
        {{"type":"Patient","url":"{base}/f/missing"}},
        {{"type":"Patient","url":"{base}/f/zlib","count":3}},
        {{"type":"Patient","url":"{base}/f/rawdeflate","count":3}},
        {{"type":"Patient","url":"{base}/f/br"}}],"error":[]}}"#
    ))
    .unwrap();
    let dl = |i: usize| client.download(&m, &m.output[i], FileKind::Output, |_| Ok(()));
    match dl(0).await {
        Err(Error::Ndjson {
            location,
            kind: NdjsonErrorKind::UnexpectedType { expected, found },
        }) => {
            assert_eq!(
                (expected.as_str(), found.as_str()),
                ("Patient", "Observation")
            );
            assert_eq!(location.line, 3);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        dl(1).await,
        Err(Error::CountMismatch {
            expected: 4,
            found: 3,
            ..
        })
    ));
    assert!(
        dl(2).await.is_err(),
        "truncated gzip must not pass silently"
    );
    assert!(matches!(
        dl(3).await,
        Err(Error::Ndjson {
            kind: NdjsonErrorKind::Truncated,
            ..
        })
    ));
    assert!(matches!(
        dl(4).await,
        Err(Error::Server { status: 404, .. })
    ));
    // Content-Encoding: deflate, zlib-wrapped (per RFC 9110) and raw (seen in the wild).
    assert_eq!(dl(5).await.unwrap(), 3);
    assert_eq!(dl(6).await.unwrap(), 3);
    // An encoding we cannot decode is an error, not garbage records.
    assert!(matches!(dl(7).await, Err(Error::Protocol(_))));
}

/// File servers shed load like any other: a 503 (S3's `SlowDown`, Azure's `ServerBusy`) or a
/// 429 with `Retry-After` on a file URL. Hours of export must not be lost to one busy answer:
/// the download waits (clamped like polls) and asks again, a bounded number of times.
#[tokio::test]
async fn a_busy_file_server_is_waited_out_not_fatal() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h2 = hits.clone();
    let (base, log) = serve(Arc::new(move |r: &Req| match r.path() {
        "/files/p.ndjson" => match h2.fetch_add(1, Ordering::SeqCst) {
            0 => resp(
                503,
                &[("Retry-After", "1")],
                "<Error><Code>SlowDown</Code></Error>",
            ),
            1 => resp(429, &[("Retry-After", "garbage")], ""),
            _ => resp(200, &[], PATIENTS),
        },
        "/files/down.ndjson" => resp(503, &[], ""),
        _ => resp(404, &[], ""),
    }));
    let client = file_client(&base, 3);
    let m: ehrkit_bulk_data::Manifest = serde_json::from_str(&format!(
        r#"{{"transactionTime":"t","request":"r","requiresAccessToken":false,"output":[
        {{"type":"Patient","url":"{base}/files/p.ndjson","count":3}},
        {{"type":"Patient","url":"{base}/files/down.ndjson"}}],"error":[]}}"#
    ))
    .unwrap();
    let n = client
        .download(&m, &m.output[0], FileKind::Output, |_| Ok(()))
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    // A server that stays down: an error after the configured number of retries.
    let err = client
        .download(&m, &m.output[1], FileKind::Output, |_| Ok(()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Server { status: 503, .. }), "{err:?}");
    let down = log
        .requests()
        .iter()
        .filter(|r| r.path() == "/files/down.ndjson")
        .count();
    assert_eq!(down, 4, "the first try and three retries");
}

/// A 401 on a file costs one token refresh, even when the retried request is then redirected
/// within the origin (Oracle Health and Epic serve files through a `Binary` URL that may
/// redirect) or answered "busy": later hops use the refreshed token, they do not refresh again.
#[tokio::test]
async fn one_401_on_a_file_is_one_refresh_whatever_follows() {
    let (base, _log) = serve(Arc::new(move |r: &Req| {
        let fresh = r.header("authorization") == Some("Bearer tok-v1");
        match r.path() {
            _ if !fresh => resp(401, &[], ""),
            "/files/a.ndjson" => resp(302, &[("Location", "/files/a2.ndjson")], ""),
            "/files/a2.ndjson" => resp(200, &[], PATIENTS),
            _ => resp(404, &[], ""),
        }
    }));
    let tokens = Arc::new(Rotating::default());
    let client = BulkClient::with_config(
        format!("{base}/fhir").parse().unwrap(),
        tokens.clone(),
        ClientConfig::default().poll(fast_poll()),
    )
    .unwrap();
    let m: ehrkit_bulk_data::Manifest = serde_json::from_str(&format!(
        r#"{{"transactionTime":"t","request":"r","requiresAccessToken":true,"output":[
        {{"type":"Patient","url":"{base}/files/a.ndjson","count":3}}],"error":[]}}"#
    ))
    .unwrap();
    let n = client
        .download(&m, &m.output[0], FileKind::Output, |_| Ok(()))
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
}

/// A connection that drops in the middle of a file (a load balancer's idle cut, a CDN node
/// restarting) must not cost the export: the file is asked for again, the records already
/// given are read past, and the caller sees every record exactly once, in order, also through
/// gzip and with the records count checked.
#[tokio::test]
async fn a_download_cut_mid_body_is_asked_again_and_gives_each_record_once() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h2 = hits.clone();
    let gz_hits = Arc::new(AtomicUsize::new(0));
    let g2 = gz_hits.clone();
    let (base, _log) = serve(Arc::new(move |r: &Req| match r.path() {
        // Cut inside the second record, then inside the third, then whole.
        "/files/p.ndjson" => match h2.fetch_add(1, Ordering::SeqCst) {
            0 => resp(200, &[], PATIENTS).cut_after(50),
            1 => resp(200, &[], PATIENTS).cut_after(PATIENTS.len() - 5),
            _ => resp(200, &[], PATIENTS),
        },
        "/files/p.ndjson.gz" => match g2.fetch_add(1, Ordering::SeqCst) {
            0 => resp(200, &[], PATIENTS).gzip().cut_after(30),
            _ => resp(200, &[], PATIENTS).gzip(),
        },
        _ => resp(404, &[], ""),
    }));
    let client = file_client(&base, 3);
    let m: ehrkit_bulk_data::Manifest = serde_json::from_str(&format!(
        r#"{{"transactionTime":"t","request":"r","requiresAccessToken":false,"output":[
        {{"type":"Patient","url":"{base}/files/p.ndjson","count":3}},
        {{"type":"Patient","url":"{base}/files/p.ndjson.gz","count":3}}],"error":[]}}"#
    ))
    .unwrap();
    for (i, hits) in [(0, &hits), (1, &gz_hits)] {
        let mut ids = Vec::new();
        let n = client
            .download(&m, &m.output[i], FileKind::Output, |rec| {
                let v: serde_json::Value = serde_json::from_str(rec.json()).unwrap();
                ids.push(v["id"].as_str().unwrap().to_owned());
                Ok(())
            })
            .await
            .unwrap_or_else(|e| panic!("file {i}: {e}"));
        assert_eq!(n, 3, "file {i}");
        assert_eq!(
            ids,
            ["p1", "p2", "p3"],
            "file {i}: each record once, in order"
        );
        assert!(
            hits.load(Ordering::SeqCst) >= 2,
            "file {i} was asked for again"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

/// If the file comes back different after a cut (a server that regenerated it), the records
/// read past no longer match those given: the download stops rather than mix two versions.
/// A connection that keeps dropping ends with the transport error after the retries.
#[tokio::test]
async fn a_file_that_changes_between_attempts_or_keeps_dropping_is_an_error() {
    const OTHER: &str = "{\"resourceType\":\"Patient\",\"id\":\"x9\"}\n{\"resourceType\":\"Patient\",\"id\":\"p2\"}\n{\"resourceType\":\"Patient\",\"id\":\"p3\"}\n";
    let hits = Arc::new(AtomicUsize::new(0));
    let h2 = hits.clone();
    let (base, log) = serve(Arc::new(move |r: &Req| match r.path() {
        "/files/p.ndjson" => match h2.fetch_add(1, Ordering::SeqCst) {
            0 => resp(200, &[], PATIENTS).cut_after(50),
            _ => resp(200, &[], OTHER),
        },
        "/files/flaky.ndjson" => resp(200, &[], PATIENTS).cut_after(50),
        _ => resp(404, &[], ""),
    }));
    let client = file_client(&base, 2);
    let m: ehrkit_bulk_data::Manifest = serde_json::from_str(&format!(
        r#"{{"transactionTime":"t","request":"r","requiresAccessToken":false,"output":[
        {{"type":"Patient","url":"{base}/files/p.ndjson"}},
        {{"type":"Patient","url":"{base}/files/flaky.ndjson"}}],"error":[]}}"#
    ))
    .unwrap();
    let mut given = 0;
    let err = client
        .download(&m, &m.output[0], FileKind::Output, |_| {
            given += 1;
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Protocol(msg) if msg.contains("changed")),
        "{err:?}"
    );
    assert_eq!(given, 1, "only the record before the cut was given");

    let mut given = 0;
    let err = client
        .download(&m, &m.output[1], FileKind::Output, |_| {
            given += 1;
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Http { .. }), "{err:?}");
    assert_eq!(given, 1, "the first record once, however often it was read");
    let tries = log
        .requests()
        .iter()
        .filter(|r| r.path() == "/files/flaky.ndjson")
        .count();
    assert_eq!(tries, 3, "the first try and two retries");
}
