//! The Bulk `$export` source against a mock Bulk Data server as the IG describes it: kick-off
//! answered `202 Accepted` with `Content-Location`, status polls answered `202` with
//! `Retry-After` and `X-Progress` until a `200` with the manifest, NDJSON files. A second
//! export applies nothing twice; an export interrupted by a failed download resumes its saved
//! status URL without a new kick-off and skips the file already kept.
#![cfg(feature = "reqwest")]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use ehrkit_bulk_data::client::{BulkClient, ClientConfig, NoAuth};
use ehrkit_bulk_data::{ExportLevel, ExportRequest, PollConfig};
use ehrkit_pipeline::source::bulk::BulkSource;
use ehrkit_pipeline::source::fhir_poll::FileWatermarks;
use ehrkit_pipeline::store::{SqliteOptions, SqliteStore};
use ehrkit_pipeline::Pipeline;
use ehrkit_testkit::http::{MockServer, Response};
use serde_json::json;

const PATIENTS: &str = concat!(
    r#"{"resourceType":"Patient","id":"b1","meta":{"versionId":"3","lastUpdated":"2024-05-01T09:00:00Z"},"identifier":[{"system":"urn:oid:1.2.3.4","value":"B1"}],"name":[{"family":"Able","given":["Anna"]}],"gender":"female","birthDate":"1980-01-01"}"#,
    "\n",
    r#"{"resourceType":"Patient","id":"b2","meta":{"versionId":"1","lastUpdated":"2024-05-01T09:00:01Z"},"identifier":[{"system":"urn:oid:1.2.3.4","value":"B2"}],"name":[{"family":"Baker","given":["Bo"]}],"gender":"male","birthDate":"1975-06-30"}"#,
    "\n"
);
const OBSERVATIONS: &str = concat!(
    r#"{"resourceType":"Observation","id":"o1","meta":{"versionId":"1","lastUpdated":"2024-05-01T09:01:00Z"},"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"718-7"}],"text":"Hemoglobin"},"subject":{"reference":"Patient/b1"},"valueQuantity":{"value":13.2,"unit":"g/dL"}}"#,
    "\r\n",
    r#"{"resourceType":"Observation","id":"o2","meta":{"versionId":"1","lastUpdated":"2024-05-01T09:02:00Z"},"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"718-7"}],"text":"Hemoglobin"},"subject":{"reference":"Patient/b2"},"valueQuantity":{"value":15.1,"unit":"g/dL"}}"#,
    "\r\n",
    r#"{"resourceType":"Observation","id":"o3","meta":{"versionId":"2","lastUpdated":"2024-05-01T09:03:00Z"},"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}],"text":"HbA1c"},"subject":{"reference":"Patient/b2"},"valueQuantity":{"value":5.4,"unit":"%"}}"#,
    "\r\n"
);

struct Mock {
    server: MockServer,
    kickoffs: Arc<AtomicUsize>,
    observations_fail: Arc<AtomicBool>,
}

fn bulk_server() -> Mock {
    let server = MockServer::start();
    let kickoffs = Arc::new(AtomicUsize::new(0));
    let observations_fail = Arc::new(AtomicBool::new(false));
    let status_url = server.url("/status/job-1");
    let k = kickoffs.clone();
    server.on("GET", "/fhir/$export", move |req| {
        assert_eq!(req.header("prefer"), Some("respond-async"));
        k.fetch_add(1, Ordering::SeqCst);
        Response::new(202).header("Content-Location", &status_url)
    });
    let polls = Arc::new(AtomicUsize::new(0));
    let manifest = json!({
        "transactionTime": "2024-05-01T10:00:00Z",
        "request": server.url("/fhir/$export"),
        "requiresAccessToken": false,
        "output": [
            {"type": "Patient", "url": server.url("/files/Patient.ndjson"), "count": 2},
            {"type": "Observation", "url": server.url("/files/Observation.ndjson"), "count": 3}
        ],
        "error": []
    });
    server.on("GET", "/status/job-1", move |_| {
        // Every other poll is still running (the IG's 202 with Retry-After and X-Progress).
        if polls.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            Response::new(202)
                .header("Retry-After", "1")
                .header("X-Progress", "50% complete")
        } else {
            Response::ok().json(&manifest)
        }
    });
    server.respond(
        "GET",
        "/files/Patient.ndjson",
        Response::ok()
            .header("content-type", "application/fhir+ndjson")
            .text(PATIENTS),
    );
    let fail = observations_fail.clone();
    server.on("GET", "/files/Observation.ndjson", move |_| {
        if fail.load(Ordering::SeqCst) {
            return Response::new(500);
        }
        Response::ok()
            .header("content-type", "application/fhir+ndjson")
            .text(OBSERVATIONS)
            .gzip()
    });
    Mock {
        server,
        kickoffs,
        observations_fail,
    }
}

fn client(m: &Mock) -> BulkClient<NoAuth> {
    let poll = PollConfig::default()
        .wait_range(
            std::time::Duration::from_millis(10),
            std::time::Duration::from_millis(50),
        )
        .max_transient_errors(1);
    BulkClient::with_config(
        m.server.url("/fhir/").parse().unwrap(),
        NoAuth,
        ClientConfig::default().poll(poll),
    )
    .unwrap()
}

async fn pipeline(dir: &tempfile::TempDir) -> (Pipeline, Arc<SqliteStore>) {
    let store =
        Arc::new(SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap());
    (
        Pipeline::builder(store.clone()).start().await.unwrap(),
        store,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_is_kept_once_and_the_next_export_applies_nothing_twice() {
    let m = bulk_server();
    let dir = tempfile::tempdir().unwrap();
    let (p, _store) = pipeline(&dir).await;
    let source = BulkSource::new(
        p.clone(),
        client(&m),
        "epic-bulk",
        FileWatermarks::open(dir.path().join("state.json")).unwrap(),
    );
    let req = ExportRequest::new(ExportLevel::System).types(["Patient", "Observation"]);
    let r1 = source.run(&req).await.unwrap();
    assert_eq!((r1.files, r1.new, r1.duplicates, r1.refused), (2, 5, 0, 0));
    assert!(!r1.resumed);
    assert_eq!(r1.transaction_time, "2024-05-01T10:00:00Z");
    p.drain().await;
    let s1 = p.summary().await.unwrap();
    assert_eq!((s1.received, s1.resources, s1.dead_letter), (5, 5, 0));
    assert_eq!(source.pending_status_url().unwrap(), None);
    assert_eq!(
        source.next_since().unwrap().as_deref(),
        Some("2024-05-01T10:00:00Z")
    );

    // The next export asks `_since` the last transactionTime; the server (imitating one that
    // ignores it) sends the same files: every resource is a duplicate.
    let r2 = source.run(&req).await.unwrap();
    assert_eq!((r2.new, r2.duplicates), (0, 5));
    let kicks = m.server.requests_to("/fhir/$export");
    assert_eq!(kicks.len(), 2);
    assert_eq!(kicks[0].query_param("_since"), None);
    assert_eq!(
        kicks[1].query_param("_since").as_deref(),
        Some("2024-05-01T10:00:00Z")
    );
    p.drain().await;
    let s2 = p.summary().await.unwrap();
    assert_eq!((s2.received, s2.resources, s2.duplicates), (5, 5, 5));
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_export_resumes_its_status_url_and_skips_kept_files() {
    let m = bulk_server();
    m.observations_fail.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let (p, _store) = pipeline(&dir).await;
    let state = dir.path().join("state.json");
    let source = BulkSource::new(
        p.clone(),
        client(&m),
        "epic-bulk",
        FileWatermarks::open(&state).unwrap(),
    );
    let req = ExportRequest::new(ExportLevel::System);
    assert!(source.run(&req).await.is_err(), "the second file fails");
    assert_eq!(
        source.pending_status_url().unwrap(),
        Some(m.server.url("/status/job-1"))
    );
    p.drain().await;
    assert_eq!(
        p.summary().await.unwrap().received,
        2,
        "the Patient file is kept"
    );
    drop(source);

    // A new process: the saved export is resumed, not kicked off again.
    m.observations_fail.store(false, Ordering::SeqCst);
    let source = BulkSource::new(
        p.clone(),
        client(&m),
        "epic-bulk",
        FileWatermarks::open(&state).unwrap(),
    );
    let r = source.run(&req).await.unwrap();
    assert!(r.resumed);
    assert_eq!(m.kickoffs.load(Ordering::SeqCst), 1);
    assert_eq!(
        (r.skipped_files, r.files, r.new, r.duplicates),
        (1, 1, 3, 0)
    );
    p.drain().await;
    let s = p.summary().await.unwrap();
    assert_eq!((s.received, s.resources, s.dead_letter), (5, 5, 0));
    p.shutdown().await;
}
