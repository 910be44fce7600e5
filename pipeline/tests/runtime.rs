//! The runtime end to end on a real SQLite store: ordering, idempotency, dead letters and
//! reprocessing, bad input over MLLP, store failures, recovery, merges, sinks.

use std::sync::Arc;
use std::time::Duration;

use ehrkit_mllp::{AckCode, Client};
use ehrkit_pipeline::sink::{Filter, NdjsonSink};
use ehrkit_pipeline::source::{files, mllp};
use ehrkit_pipeline::store::{
    Accepted, FaultInjectingStore, FaultPlan, IdempotencyKey, InboundMessage, PayloadKind,
    SqliteOptions, SqliteStore, Store,
};
use ehrkit_pipeline::{ErrorKind, Pipeline, RetryPolicy, RoutingTable, Stage};

#[path = "common/runtime.rs"]
mod common;
use common::{raw_exchange, sqlite, started};

fn adt(event: &str, control: &str, mrn: &str, family: &str, extra_pv1: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311081502-0600||ADT^{event}^ADT_A01|{control}|P|2.5.1\r\
         EVN|{event}|20240311081500-0600\r\
         PID|1||{mrn}^^^EPIC^MR||{family}^ANNA||19800101|F|||1 MAIN ST^^MADISON^WI^53703\r\
         PV1|1|I|4W^1^A^UCH||||||||||||||||V{mrn}^^^EPIC^VN|||||||||||||||||||||||||20240311081500-0600{extra_pv1}\r"
    )
    .into_bytes()
}

async fn encounter_status(store: &SqliteStore, mrn_key: &str) -> Option<String> {
    let all = store
        .resources_by_type("Encounter", None, 10_000, "test")
        .await
        .unwrap();
    all.into_iter()
        .filter(|r| r.patient_key.as_deref() == Some(mrn_key))
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_one_patient_apply_in_order_while_patients_run_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let p = Pipeline::builder(store.clone())
        .lanes(4)
        .queue_capacity(8)
        .start()
        .await
        .unwrap();
    // 40 patients, each A01 → A08 → A03 (A03 sets PV1-45 discharge: status finished), interleaved.
    for step in 0..3 {
        for n in 0..40 {
            let mrn = format!("M{n}");
            let (ev, extra) = match step {
                0 => ("A01", ""),
                1 => ("A08", ""),
                _ => ("A03", "|20240314110000-0600"),
            };
            let msg = adt(ev, &format!("C{n}-{step}"), &mrn, "ORDER", extra);
            let s = p
                .submit(PayloadKind::Hl7v2, msg, "mllp", None)
                .await
                .unwrap();
            assert!(matches!(s.accepted, Accepted::New(_)));
        }
    }
    p.drain().await;
    for n in [0, 17, 39] {
        assert_eq!(
            encounter_status(&store, &format!("EPIC|M{n}"))
                .await
                .as_deref(),
            Some("finished"),
            "patient {n}: the A03 must be applied last"
        );
    }
    let s = p.summary().await.unwrap();
    assert_eq!((s.received, s.dead_letter, s.source_patients), (120, 0, 40));
    p.shutdown().await;
}

#[tokio::test]
async fn a_resend_is_a_duplicate_and_a_reused_control_id_is_kept_and_flagged() {
    let (_dir, _store, p) = started().await;
    let m = adt("A01", "X1", "D1", "DUP", "");
    p.submit(PayloadKind::Hl7v2, m.clone(), "mllp", None)
        .await
        .unwrap();
    p.drain().await;
    let before = p.summary().await.unwrap();
    let again = p.submit(PayloadKind::Hl7v2, m, "mllp", None).await.unwrap();
    assert!(matches!(again.accepted, Accepted::Duplicate(_)));
    let other = p
        .submit(
            PayloadKind::Hl7v2,
            adt("A08", "X1", "D1", "DUPE", ""),
            "mllp",
            None,
        )
        .await
        .unwrap();
    assert!(matches!(other.accepted, Accepted::ControlIdReused { .. }));
    p.drain().await;
    let after = p.summary().await.unwrap();
    assert_eq!(after.duplicates, before.duplicates + 1);
    assert_eq!(after.received, before.received + 1);
    assert_eq!(
        after.resources, before.resources,
        "the A08 updates, it adds nothing"
    );
    assert_eq!(p.stats().control_id_reused, 1);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_over_mllp_is_a_nak_or_a_dead_letter_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let routing =
        RoutingTable::new().sender("EPIC", None, "epic", ehrkit_mapping::Profile::generic());
    let p = Pipeline::builder(store.clone())
        .router(routing)
        .start()
        .await
        .unwrap();
    let server = mllp::bind(p.clone(), "127.0.0.1:0", "mllp").await.unwrap();
    let mut c = Client::builder(server.local_addr().to_string())
        .max_attempts(1)
        .build();

    // Not HL7 at all: the MLLP server refuses it before the pipeline.
    let reply = raw_exchange(server.local_addr(), b"this is not an HL7 message").await;
    assert!(
        reply.contains("MSA|AR") || reply.contains("MSA|AE"),
        "{reply:?}"
    );
    // Unknown message type.
    let zzz = b"MSH|^~\\&|EPIC|UCH|HUB|HUB|20240101||ZZZ^Z01|T1|P|2.5.1\rPID|1||1^^^EPIC^MR\r";
    let ack = c.send(zzz).await.unwrap();
    assert_eq!(ack.code, AckCode::AE);
    assert!(
        ack.text
            .as_deref()
            .unwrap_or("")
            .contains("unsupported_type"),
        "{:?}",
        ack.text
    );
    // Unknown sender, no routing entry, no default.
    let lab = b"MSH|^~\\&|LABX|ELSEWHERE|HUB|HUB|20240101||ORU^R01|T2|P|2.5.1\rPID|1||1^^^LAB^MR\r";
    let ack = c.send(lab).await.unwrap();
    assert_eq!(ack.code, AckCode::AE);
    assert!(
        ack.text.as_deref().unwrap_or("").contains("unknown_sender"),
        "{:?}",
        ack.text
    );
    // Structurally broken (no PID) but a valid header: kept, ACKed, then a dead letter.
    let broken = b"MSH|^~\\&|EPIC|UCH|HUB|HUB|20240101||ADT^A01|T3|P|2.5.1\rPDI|1||1^^^EPIC^MR\r";
    let ack = c.send(broken).await.unwrap();
    assert_eq!(ack.code, AckCode::AA);
    c.close().await;
    p.drain().await;
    let dead = store.dead_letters(true).await.unwrap();
    assert_eq!(dead.len(), 1);
    let f = &dead[0].failure;
    assert_eq!(
        (f.stage.as_str(), f.error_kind.as_str()),
        ("convert", "missing_data")
    );
    assert!(f.location.as_deref().unwrap_or("").contains("PID"), "{f:?}");
    assert!(!f.reason.contains("EPIC|1"), "no identifiers in the reason");
    let st = p.stats();
    assert_eq!(
        (st.naks, st.dead_letters),
        (2, 1),
        "two refusals counted (the server's own AR is outside the pipeline)"
    );
    assert_eq!(p.summary().await.unwrap().received, 1);
    server.shutdown().await;
    p.shutdown().await;
}

#[tokio::test]
async fn a_fhir_resource_failing_validation_is_a_dead_letter_with_its_path() {
    let (_dir, store, p) = started().await;
    // Observation.status and .code are required.
    let bad = br#"{"resourceType":"Observation","id":"o1","meta":{"versionId":"1"},"subject":{"reference":"Patient/p1"}}"#;
    let s = p
        .submit(PayloadKind::FhirJson, bad.to_vec(), "athena", None)
        .await
        .unwrap();
    assert!(matches!(s.accepted, Accepted::New(_)));
    p.drain().await;
    let dead = store.dead_letters(true).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].failure.stage.as_str(),
            dead[0].failure.error_kind.as_str()
        ),
        ("convert", "invalid")
    );
    assert!(
        dead[0]
            .failure
            .location
            .as_deref()
            .unwrap_or("")
            .starts_with('$'),
        "{:?}",
        dead[0].failure
    );
    assert_eq!(p.stats().dead_letters, 1);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_naks_then_dead_letters_and_reprocessing_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let plan = FaultPlan::new();
    let store = Arc::new(FaultInjectingStore::new(
        SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap(),
        plan.clone(),
    ));
    let p = Pipeline::builder(store.clone())
        .retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        })
        .start()
        .await
        .unwrap();
    let server = mllp::bind(p.clone(), "127.0.0.1:0", "mllp").await.unwrap();
    let mut c = Client::builder(server.local_addr().to_string())
        .max_attempts(1)
        .build();
    plan.fail_accept(true);
    let ack = c.send(adt("A01", "F1", "FD1", "DISK", "")).await.unwrap();
    assert_eq!(ack.code, AckCode::AR, "not kept: the sender must resend");
    assert_eq!(p.summary().await.unwrap().received, 0);
    plan.fail_accept(false);
    plan.fail_apply(true);
    let ack = c.send(adt("A01", "F1", "FD1", "DISK", "")).await.unwrap();
    assert_eq!(ack.code, AckCode::AA);
    p.drain().await;
    let dead = store.dead_letters(true).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].failure.stage.as_str(),
            dead[0].failure.error_kind.as_str(),
            dead[0].failure.attempts
        ),
        ("store", "store_io", 3)
    );
    assert!(p.stats().retries >= 2);
    // The disk is fixed: reprocess, twice; the second changes nothing.
    plan.fail_apply(false);
    p.reprocess(dead[0].id, "test").await.unwrap();
    let s1 = p.summary().await.unwrap();
    assert_eq!(s1.dead_letter, 0);
    assert!(s1.resources > 0);
    p.reprocess(dead[0].id, "test").await.unwrap();
    assert_eq!(p.summary().await.unwrap().resources, s1.resources);
    c.close().await;
    server.shutdown().await;
    p.shutdown().await;
}

#[tokio::test]
async fn messages_kept_before_a_crash_are_applied_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    for n in 0..5 {
        let key = IdempotencyKey::v2("EPIC", "UCH", format!("R{n}"));
        let m = InboundMessage::new(
            key,
            adt("A01", &format!("R{n}"), &format!("R{n}"), "RECOVER", ""),
            PayloadKind::Hl7v2,
            "EPIC/UCH",
        );
        store.accept(m).await.unwrap();
    }
    assert_eq!(store.pending(100).await.unwrap().len(), 5);
    let p = Pipeline::builder(store.clone()).start().await.unwrap();
    p.drain().await;
    assert!(store.pending(100).await.unwrap().is_empty());
    assert_eq!(p.summary().await.unwrap().source_patients, 5);
    p.shutdown().await;
    // A second start finds nothing to do and changes nothing.
    let before = store.summary().await.unwrap();
    let p = Pipeline::builder(store.clone()).start().await.unwrap();
    p.drain().await;
    assert_eq!(store.summary().await.unwrap(), before);
    p.shutdown().await;
}

#[tokio::test]
async fn an_a40_merges_two_enterprise_identities_and_the_mpi_survives_a_restart() {
    let (_dir, store, p) = started().await;
    let a = adt("A01", "G1", "G1", "ALPHA", "");
    let b = "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311081502-0600||ADT^A04|G2|P|2.5.1\rPID|1||G2^^^EPIC^MR||ZULU^BORIS||19551231|M\r".as_bytes().to_vec();
    p.submit(PayloadKind::Hl7v2, a, "mllp", None).await.unwrap();
    p.submit(PayloadKind::Hl7v2, b, "mllp", None).await.unwrap();
    p.drain().await;
    assert_eq!(p.summary().await.unwrap().enterprise_patients, 2);
    let merge = "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240312||ADT^A40^ADT_A39|G3|P|2.5.1\rEVN|A40|20240312\rPID|1||G1^^^EPIC^MR||ALPHA^ANNA\rMRG|G2^^^EPIC^MR\r";
    p.submit(PayloadKind::Hl7v2, merge.as_bytes().to_vec(), "mllp", None)
        .await
        .unwrap();
    p.drain().await;
    let s = p.summary().await.unwrap();
    assert_eq!(
        (s.source_patients, s.enterprise_patients, s.dead_letter),
        (2, 1, 0)
    );
    assert_eq!(p.stats().mpi_merge, 1);
    p.shutdown().await;
    let p = Pipeline::builder(store.clone()).start().await.unwrap();
    let ix = p.index().unwrap();
    assert_eq!(
        ix.resolve(ix.enterprise_id("EPIC|G1").unwrap()).unwrap(),
        ix.resolve(ix.enterprise_id("EPIC|G2").unwrap()).unwrap()
    );
    // A new patient after the restart gets a new enterprise id, never a reused one.
    let c = "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240313||ADT^A04|G4|P|2.5.1\rPID|1||G9^^^EPIC^MR||QUEBEC^CARLA||19990909|F\r";
    p.submit(PayloadKind::Hl7v2, c.as_bytes().to_vec(), "mllp", None)
        .await
        .unwrap();
    p.drain().await;
    assert_eq!(p.summary().await.unwrap().enterprise_patients, 2);
    p.shutdown().await;
}

#[tokio::test]
async fn ndjson_sink_is_readable_by_bulk_data_and_subscriptions_filter() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let p = Pipeline::builder(store.clone())
        .sink(NdjsonSink::new(out.path()).unwrap())
        .start()
        .await
        .unwrap();
    let mut only_enc = p.subscribe(Filter::all().types(["Encounter"]).patient_key("EPIC|S2"));
    for n in 1..=3 {
        p.submit(
            PayloadKind::Hl7v2,
            adt("A01", &format!("S{n}"), &format!("S{n}"), "SINK", ""),
            "mllp",
            None,
        )
        .await
        .unwrap();
    }
    p.drain().await;
    let c = tokio::time::timeout(Duration::from_secs(5), only_enc.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.resource_type.as_str(), c.patient_key.as_deref()),
        ("Encounter", Some("EPIC|S2"))
    );
    let f = std::fs::File::open(out.path().join("Patient.ndjson")).unwrap();
    let mut reader = ehrkit_bulk_data::NdjsonReader::new(std::io::BufReader::new(f));
    let mut n = 0;
    while let Some(r) = reader.next_record() {
        assert_eq!(r.unwrap().resource_type(), "Patient");
        n += 1;
    }
    assert_eq!(n, 3);
    p.shutdown().await;
}

#[tokio::test]
async fn fhir_files_are_idempotent_by_source_and_version() {
    let (_dir, store, p) = started().await;
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/data/pipeline_athena_export.ndjson");
    let r1 = files::ingest_file(&p, &data, "athena-export")
        .await
        .unwrap();
    p.drain().await;
    let s1 = p.summary().await.unwrap();
    assert!(r1.refused.is_empty());
    assert_eq!(s1.received as usize, r1.submitted.len());
    assert_eq!(
        s1.dead_letter,
        0,
        "{:?}",
        store.dead_letters(true).await.unwrap()
    );
    let r2 = files::ingest_file(&p, &data, "athena-export")
        .await
        .unwrap();
    p.drain().await;
    assert!(r2
        .submitted
        .iter()
        .all(|s| matches!(s.accepted, Accepted::Duplicate(_))));
    let s2 = p.summary().await.unwrap();
    assert_eq!((s2.received, s2.resources), (s1.received, s1.resources));
    // The Condition is found under its patient's enterprise identity.
    let ix = p.index().unwrap();
    let eid = ix
        .enterprise_id("urn:oid:2.16.840.1.113883.3.564.195900|88213")
        .unwrap();
    let everything = store.patient_everything(eid, "test").await.unwrap();
    assert!(everything
        .resources
        .iter()
        .any(|r| r.resource_type == "Condition"));
    let _ = Stage::Convert;
    let _ = ErrorKind::Invalid;
    p.shutdown().await;
}

/// A sink that holds every delivery until the test opens it: the lane stays busy.
struct GateSink(Arc<tokio::sync::Semaphore>);

#[async_trait::async_trait]
impl ehrkit_pipeline::sink::Sink for GateSink {
    fn name(&self) -> &str {
        "gate"
    }
    async fn deliver(
        &self,
        _changes: &[ehrkit_pipeline::sink::Change],
    ) -> Result<(), ehrkit_pipeline::sink::SinkError> {
        let _pass = self.0.acquire().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_dropped_while_its_lane_is_full_leaves_drain_and_shutdown_working() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let p = Pipeline::builder(store.clone())
        .lanes(1)
        .queue_capacity(1)
        .sink(GateSink(gate.clone()))
        .start()
        .await
        .unwrap();
    // The first message occupies the lane (its delivery waits at the gate) ...
    common::submit(&p, adt("A01", "G1", "G100", "GATE", "")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ... the second fills the lane's queue ...
    tokio::time::timeout(
        Duration::from_secs(10),
        common::submit(&p, adt("A08", "G2", "G100", "GATE", "")),
    )
    .await
    .expect("room for one in the queue");
    // ... and the third waits for room: its caller gives up (a connection dropped, a
    // processor stopped) and the submit future is dropped.
    let third = tokio::time::timeout(
        Duration::from_millis(300),
        common::submit(&p, adt("A08", "G3", "G100", "GATE", "")),
    )
    .await;
    assert!(third.is_err(), "the third waits while the lane is full");
    gate.add_permits(1_000);
    tokio::time::timeout(Duration::from_secs(20), p.drain())
        .await
        .expect("drain returns: the dropped submit counted nothing in flight");
    // The dropped one was kept before it waited: still pending, for recovery on the next
    // start (its sender, never ACKed, resends it and finds it kept).
    assert_eq!(store.pending(10).await.unwrap().len(), 1);
    tokio::time::timeout(Duration::from_secs(20), p.shutdown())
        .await
        .expect("shutdown returns");
}

/// Older systems send ISO 8859-1 (`MÜLLER` as the byte 0xDC) without declaring it in MSH-18.
/// Without a profile that names the character set, such a message is kept and ACKed, then a
/// dead letter with the encoding error and its byte offset (never guessed, never a NAK the
/// sender cannot act on); once the route's profile says `undeclared_charset = "8859/1"`,
/// reprocessing it stores the name as sent.
#[tokio::test]
async fn an_undeclared_latin1_message_is_a_dead_letter_until_its_profile_names_the_charset() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let mut latin1 = adt("A01", "L1", "LAT1", "M\u{dc}LLER", "");
    // The builder wrote UTF-8 (0xC3 0x9C); the sender writes one byte.
    let at = latin1.windows(2).position(|w| w == [0xC3, 0x9C]).unwrap();
    latin1.splice(at..at + 2, [0xDC]);
    assert!(std::str::from_utf8(&latin1).is_err());

    let routing =
        RoutingTable::new().sender("EPIC", None, "epic", ehrkit_mapping::Profile::generic());
    let p = Pipeline::builder(store.clone())
        .router(routing)
        .start()
        .await
        .unwrap();
    let server = mllp::bind(p.clone(), "127.0.0.1:0", "mllp").await.unwrap();
    let mut c = Client::builder(server.local_addr().to_string())
        .max_attempts(1)
        .build();
    let ack = c.send(latin1.clone()).await.unwrap();
    assert_eq!(ack.code, AckCode::AA, "kept: {:?}", ack.text);
    c.close().await;
    p.drain().await;
    let dead = store.dead_letters(true).await.unwrap();
    assert_eq!(dead.len(), 1);
    let f = &dead[0].failure;
    assert_eq!(
        (f.stage.as_str(), f.error_kind.as_str()),
        ("convert", "malformed")
    );
    assert!(f.reason.contains("UTF-8"), "{f:?}");
    assert!(
        !f.reason.contains("LLER"),
        "no message text in the reason: {f:?}"
    );
    server.shutdown().await;
    p.shutdown().await;

    // The site names the sender's character set; the dead letter is reprocessed.
    let mut profile = ehrkit_mapping::Profile::generic();
    profile.undeclared_charset = Some("8859/1".into());
    profile.version = "2".into();
    let routing = RoutingTable::new().sender("EPIC", None, "epic", profile);
    let p = Pipeline::builder(store.clone())
        .router(routing)
        .start()
        .await
        .unwrap();
    p.reprocess(dead[0].id, "test").await.unwrap();
    let s = p.summary().await.unwrap();
    assert_eq!((s.dead_letter, s.source_patients), (0, 1));
    let patients = store
        .resources_by_type("Patient", None, 10, "test")
        .await
        .unwrap();
    let family = serde_json::from_str::<serde_json::Value>(&patients[0].body).unwrap()["name"][0]
        ["family"]
        .clone();
    assert_eq!(family, "M\u{dc}LLER");
    p.shutdown().await;
}
