//! The FHIR-server sink against a mock FHIR server that records what it is sent: each applied
//! message goes out as one transaction Bundle of conditional updates; a replay sends the same
//! idempotent requests; a server failing on delivery leads to a dead letter of stage
//! `deliver` (the message stays applied), and reprocessing it delivers without applying again.
#![cfg(feature = "reqwest")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ehrkit_fhir_client::{FhirClient, VendorProfile};
use ehrkit_pipeline::sink::fhir_server::FhirServerSink;
use ehrkit_pipeline::sink::DELIVER_STAGE;
use ehrkit_pipeline::store::{PayloadKind, SqliteStore, Store};
use ehrkit_pipeline::{Pipeline, RetryPolicy};
use ehrkit_testkit::http::{MockServer, Response};
use serde_json::{json, Value};

#[path = "common/runtime.rs"]
mod common;
use common::sqlite;

fn adt(control: &str, mrn: &str, family: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311081502-0600||ADT^A01^ADT_A01|{control}|P|2.5.1\r\
         EVN|A01|20240311081500-0600\r\
         PID|1||{mrn}^^^EPIC^MR||{family}^ANNA||19800101|F|||1 MAIN ST^^MADISON^WI^53703\r\
         PV1|1|I|4W^1^A^UCH||||||||||||||||V{mrn}^^^EPIC^VN|||||||||||||||||||||||||20240311081500-0600\r"
    )
    .into_bytes()
}

/// A FHIR server answering transactions with a `transaction-response` (every entry `200 OK`)
/// while `up`, a 500 with an OperationOutcome otherwise; it keeps every Bundle it receives.
fn fhir_server(up: Arc<AtomicBool>) -> (MockServer, Arc<Mutex<Vec<Value>>>) {
    let server = MockServer::start();
    let got: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    server.on("POST", "/fhir*", move |req| {
        let bundle = req.json().unwrap();
        if !up.load(Ordering::SeqCst) {
            return Response::new(500).fhir_json(&json!({"resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "exception", "diagnostics": "database unavailable"}]}));
        }
        let n = bundle["entry"].as_array().map_or(0, Vec::len);
        g.lock().unwrap().push(bundle);
        let entries: Vec<Value> = (0..n)
            .map(|i| json!({"response": {"status": "200 OK", "location": format!("Resource/{i}/_history/1")}}))
            .collect();
        Response::ok().fhir_json(
            &json!({"resourceType": "Bundle", "type": "transaction-response", "entry": entries}),
        )
    });
    (server, got)
}

fn sink(server: &MockServer) -> FhirServerSink {
    let client = FhirClient::builder(&server.url("/fhir"))
        .profile(VendorProfile::generic())
        .build()
        .unwrap();
    FhirServerSink::new(client)
}

/// A store and a pipeline delivering to `server` (retried quickly).
async fn with_sink(server: &MockServer) -> (tempfile::TempDir, Arc<SqliteStore>, Pipeline) {
    let dir = tempfile::tempdir().unwrap();
    let st = sqlite(&dir);
    let p = Pipeline::builder(st.clone())
        .sink(sink(server))
        .retry(fast_retry())
        .start()
        .await
        .unwrap();
    (dir, st, p)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_of_conditional_puts_and_a_replay_sends_the_same() {
    let up = Arc::new(AtomicBool::new(true));
    let (server, got) = fhir_server(up);
    let (_dir, st, p) = with_sink(&server).await;
    p.submit(PayloadKind::Hl7v2, adt("C1", "M1", "ABLE"), "mllp", None)
        .await
        .unwrap();
    p.drain().await;
    let bundles = got.lock().unwrap().clone();
    assert_eq!(bundles.len(), 1, "one transaction per applied message");
    let b = &bundles[0];
    assert_eq!(b["type"], "transaction");
    let entries = b["entry"].as_array().unwrap();
    assert!(entries.len() >= 2, "Patient and Encounter at least");
    for e in entries {
        assert_eq!(e["request"]["method"], "PUT", "{e}");
        let url = e["request"]["url"].as_str().unwrap();
        let rt = e["resource"]["resourceType"].as_str().unwrap();
        assert!(url.starts_with(rt), "{url}");
        let has_identifier = e["resource"]["identifier"].as_array().is_some_and(|ids| {
            ids.iter()
                .any(|i| i["system"].is_string() && i["value"].is_string())
        });
        if has_identifier {
            assert!(
                url.starts_with(&format!("{rt}?identifier=")),
                "a resource with an identifier is written by a conditional update: {url}"
            );
            assert!(e["resource"].get("id").is_none());
        } else {
            assert_eq!(
                url,
                format!("{rt}/{}", e["resource"]["id"].as_str().unwrap())
            );
        }
    }
    let patient = entries
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Patient")
        .unwrap();
    assert!(patient["request"]["url"].as_str().unwrap().contains("M1"));

    // A replay of the same changes (what a redelivery does) sends the same requests.
    use ehrkit_pipeline::sink::{Change, Sink};
    let changes: Vec<Change> = {
        let mut out = Vec::new();
        for t in ["Patient", "Encounter"] {
            for r in st.resources_by_type(t, None, 100, "test").await.unwrap() {
                out.push(Change {
                    resource_type: r.resource_type,
                    id: r.id,
                    version: r.version,
                    body: r.body,
                    patient_key: r.patient_key,
                    enterprise_id: None,
                    message_id: r.message_id,
                });
            }
        }
        out
    };
    let s = sink(&server);
    s.deliver(&changes).await.unwrap();
    s.deliver(&changes).await.unwrap();
    let bundles = got.lock().unwrap().clone();
    assert_eq!(bundles.len(), 3);
    assert_eq!(bundles[1], bundles[2], "the same idempotent requests");
    let urls = |b: &Value| -> Vec<String> {
        b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["request"]["url"].as_str().unwrap().to_owned())
            .collect()
    };
    for u in urls(&bundles[1]) {
        assert!(urls(&bundles[0]).contains(&u), "{u}");
    }
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_is_a_deliver_dead_letter_and_reprocess_delivers_once() {
    let up = Arc::new(AtomicBool::new(false));
    let (server, got) = fhir_server(up.clone());
    let (_dir, st, p) = with_sink(&server).await;
    p.submit(PayloadKind::Hl7v2, adt("D1", "M9", "BAKER"), "mllp", None)
        .await
        .unwrap();
    p.drain().await;
    // Applied and stored, not delivered: a dead letter of stage `deliver`.
    let before = p.summary().await.unwrap();
    assert!(before.resources >= 2);
    let dls = st.dead_letters(true).await.unwrap();
    assert_eq!(dls.len(), 1, "{dls:?}");
    let dl = &dls[0];
    assert_eq!(dl.failure.stage, DELIVER_STAGE);
    assert_eq!(dl.failure.error_kind, "sink");
    assert_eq!(dl.failure.location.as_deref(), Some("fhir-server"));
    assert_eq!(dl.failure.attempts, 2);
    // No PHI: neither the patient's name nor the server's diagnostics.
    assert!(!dl.failure.reason.contains("BAKER") && !dl.failure.reason.contains("database"));
    assert!(dl.failure.reason.contains("500"), "{}", dl.failure.reason);
    assert!(got.lock().unwrap().is_empty());
    let history_before = st
        .resources_by_type("Patient", None, 10, "test")
        .await
        .unwrap();

    // Reprocessing while the server is still down keeps the dead letter open.
    assert!(p.reprocess(dl.id, "ops").await.is_err());
    assert_eq!(st.dead_letters(true).await.unwrap().len(), 1);

    // After the fix: reprocess delivers, and applies nothing again.
    up.store(true, Ordering::SeqCst);
    p.reprocess(dl.id, "ops").await.unwrap();
    let bundles = got.lock().unwrap().clone();
    assert_eq!(bundles.len(), 1);
    let n = bundles[0]["entry"].as_array().unwrap().len();
    assert_eq!(n as u64, before.resources, "every resource of the message");
    assert!(st.dead_letters(true).await.unwrap().is_empty());
    let message = dl.failure.message_id.unwrap();
    assert_eq!(
        st.message(message).await.unwrap().state,
        ehrkit_pipeline::store::InboxState::Processed,
        "the message is processed again once delivered"
    );
    let after = p.summary().await.unwrap();
    assert_eq!(after.resources, before.resources);
    assert_eq!(after.dead_letter, 0);
    let history_after = st
        .resources_by_type("Patient", None, 10, "test")
        .await
        .unwrap();
    assert_eq!(
        history_before.iter().map(|r| r.version).collect::<Vec<_>>(),
        history_after.iter().map(|r| r.version).collect::<Vec<_>>(),
        "no new versions"
    );
    p.shutdown().await;
}
