//! HL7 batches (FHS/BHS … BTS/FTS) from files and over MLLP: each message of a batch is kept
//! under its own idempotency key; a malformed one is kept and dead-lettered alone.

#[path = "common/runtime.rs"]
mod common;

use common::{raw_exchange, recorded, sqlite, started};
use ehrkit_pipeline::source::batch::{submit_batch, CountMismatch};
use ehrkit_pipeline::source::{files, mllp};
use ehrkit_pipeline::store::{
    Accepted, AuditEventKind, InboxState, PayloadKind, SqliteStore, Store,
};
use ehrkit_pipeline::Pipeline;

fn adt(control: &str, mrn: &str) -> String {
    format!(
        "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311081502-0600||ADT^A04|{control}|P|2.5.1\r\
         EVN|A04|20240311081500-0600\r\
         PID|1||{mrn}^^^EPIC^MR||BATCH^BETTY||19800101|F\r"
    )
}

/// A batch file: three good messages, one without PID (fails conversion) and one without a
/// control id (cannot be keyed: refused by the parser).
fn batch(sep: &str) -> String {
    let no_pid = "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311||ADT^A04|B4|P|2.5.1\rEVN|A04|20240311\r";
    let no_control =
        "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311||ADT^A04||P|2.5.1\rPID|1||B5^^^EPIC^MR||X^Y\r";
    let body = [
        adt("B1", "B1"),
        adt("B2", "B2"),
        no_pid.into(),
        no_control.into(),
        adt("B3", "B3"),
    ]
    .concat();
    format!("FHS|^~\\&|EPIC|UCH|HUB|HUB|20240311\rBHS|^~\\&|EPIC|UCH|HUB|HUB|20240311\r{body}BTS|5\rFTS|1\r")
        .replace('\r', sep)
}

async fn check_batch_outcome(store: &SqliteStore) {
    let s = store.summary().await.unwrap();
    assert_eq!(
        (s.received, s.dead_letter, s.source_patients),
        (5, 2, 3),
        "five messages kept apart; the two bad ones dead-lettered, the others applied"
    );
    let dead = store.dead_letters(true).await.unwrap();
    let stages: Vec<&str> = dead.iter().map(|d| d.failure.stage.as_str()).collect();
    assert!(
        stages.contains(&"convert") && stages.contains(&"parse"),
        "{stages:?}"
    );
    for d in &dead {
        let id = d
            .failure
            .message_id
            .expect("kept, so it can be inspected and reprocessed");
        let m = store.message(id).await.unwrap();
        assert_eq!(m.state, InboxState::DeadLettered);
    }
    // No message carries the envelope: the last one ends with its own PID.
    for id in 1..=5 {
        let m = store
            .message(ehrkit_pipeline::store::MessageId(id))
            .await
            .unwrap();
        let text = String::from_utf8(m.payload).unwrap();
        assert!(text.starts_with("MSH|"), "{text:?}");
        assert!(!text.contains("BTS") && !text.contains("FTS") && !text.contains("BHS"));
    }
}

#[tokio::test]
async fn a_batch_file_is_split_into_its_messages_and_a_bad_one_dead_letters_alone() {
    for sep in ["\r", "\r\n"] {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(&dir);
        let p = Pipeline::builder(store.clone()).start().await.unwrap();
        let path = dir.path().join("batch.hl7");
        std::fs::write(&path, batch(sep)).unwrap();
        let report = files::ingest_file(&p, &path, "files").await.unwrap();
        p.drain().await;
        assert!(report.refused.is_empty(), "{:?}", report.refused);
        assert_eq!(report.submitted.len(), 5);
        check_batch_outcome(&store).await;
        // The same file again: every message is a resend.
        let again = files::ingest_file(&p, &path, "files").await.unwrap();
        p.drain().await;
        assert!(again
            .submitted
            .iter()
            .all(|s| matches!(s.accepted, Accepted::Duplicate(_))));
        let s = store.summary().await.unwrap();
        assert_eq!((s.received, s.duplicates, s.dead_letter), (5, 5, 2));
        p.shutdown().await;
    }
}

#[tokio::test]
async fn an_mllp_payload_holding_a_batch_is_split_and_acked_once_kept() {
    let (_dir, store, p) = started().await;
    let server = mllp::bind(p.clone(), "127.0.0.1:0", "mllp").await.unwrap();
    let addr = mllp::local_addr(&server);
    let ack = raw_exchange(addr, batch("\r").as_bytes()).await;
    assert!(ack.contains("MSA|AA"), "{ack}");
    p.drain().await;
    check_batch_outcome(&store).await;
    // Resent after a lost ACK: nothing applied twice.
    let ack = raw_exchange(addr, batch("\r").as_bytes()).await;
    assert!(ack.contains("MSA|AA"), "{ack}");
    p.drain().await;
    let s = store.summary().await.unwrap();
    assert_eq!((s.received, s.duplicates, s.dead_letter), (5, 5, 2));
    server.shutdown().await;
    p.shutdown().await;
}

#[tokio::test]
async fn a_single_message_is_not_a_batch() {
    let (_dir, _store, p) = started().await;
    let s = p
        .submit(
            PayloadKind::Hl7v2,
            adt("S1", "S1").into_bytes(),
            "mllp",
            None,
        )
        .await
        .unwrap();
    assert!(matches!(s.accepted, Accepted::New(_)));
    assert!(!ehrkit_pipeline::source::batch::is_batch(
        adt("S1", "S1").as_bytes()
    ));
    assert!(ehrkit_pipeline::source::batch::is_batch(
        batch("\r").as_bytes()
    ));
    p.shutdown().await;
}

#[tokio::test]
async fn a_batch_the_reader_refuses_is_split_at_segments_and_the_stray_part_dead_letters() {
    let (dir, store, p) = started().await;
    // A stray segment between the batch header and the first message: the batch reader
    // refuses the whole input.
    let input = format!(
        "BHS|^~\\&|EPIC|UCH\rZZZ|stray\r{}{}BTS|2\r",
        adt("C1", "C1"),
        adt("C2", "C2")
    );
    assert!(ehrkit_hl7v2::batch::BatchFile::parse(input.as_bytes()).is_err());
    let path = dir.path().join("damaged.hl7");
    std::fs::write(&path, &input).unwrap();
    let report = files::ingest_file(&p, &path, "files").await.unwrap();
    p.drain().await;
    assert!(report.refused.is_empty());
    let s = store.summary().await.unwrap();
    assert_eq!((s.received, s.dead_letter, s.source_patients), (3, 1, 2));
    let dead = store.dead_letters(true).await.unwrap();
    assert_eq!(dead[0].failure.stage, "parse");
    p.shutdown().await;
}

/// Two batches in one file, with the trailers given (`BTS|n` of each batch, `FTS|n`).
fn two_batches(bts1: &str, bts2: &str, fts: &str) -> String {
    format!(
        "FHS|^~\\&|EPIC|UCH|HUB|HUB|20240311\r\
         BHS|^~\\&|EPIC|UCH\r{}{}BTS|{bts1}\r\
         BHS|^~\\&|EPIC|UCH\r{}BTS|{bts2}\r\
         FTS|{fts}\r",
        adt("K1", "K1"),
        adt("K2", "K2"),
        adt("K3", "K3"),
    )
}

/// Audit rows about batch counts.
async fn count_audits(store: &SqliteStore) -> Vec<String> {
    store
        .audit_entries(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.event.kind == AuditEventKind::Received)
        .filter_map(|a| a.event.detail)
        .filter(|d| d.starts_with("batch count mismatch"))
        .collect()
}

#[test]
fn trailer_counts_that_match_give_no_warning() {
    let ((report, audits), metrics) = recorded(|| async {
        let (_dir, store, p) = started().await;
        let input = two_batches("2", "1", "2");
        let report = submit_batch(&p, input.as_bytes(), "mllp", None)
            .await
            .unwrap();
        p.drain().await;
        let s = store.summary().await.unwrap();
        assert_eq!((s.received, s.dead_letter, s.source_patients), (3, 0, 3));
        let audits = count_audits(&store).await;
        p.shutdown().await;
        (report, audits)
    });
    assert!(
        report.count_mismatches.is_empty(),
        "{:?}",
        report.count_mismatches
    );
    assert!(audits.is_empty(), "{audits:?}");
    assert!(
        !metrics
            .counters
            .keys()
            .any(|k| k.starts_with("ehrkit_pipeline_batch_count_mismatches_total")),
        "{metrics:?}"
    );
}

#[test]
fn trailer_counts_that_do_not_match_keep_every_message_and_warn() {
    // The first batch says 3 messages and holds 2; the file says 3 batches and holds 2. An
    // empty BTS-1 (second batch) is not checked.
    let ((report, audits), metrics) = recorded(|| async {
        let (_dir, store, p) = started().await;
        let input = two_batches("3", "", "3");
        let report = submit_batch(&p, input.as_bytes(), "mllp", None)
            .await
            .unwrap();
        p.drain().await;
        let s = store.summary().await.unwrap();
        assert_eq!(
            (s.received, s.dead_letter, s.source_patients),
            (3, 0, 3),
            "nothing lost: every message present is applied"
        );
        let audits = count_audits(&store).await;
        assert!(store.verify_audit().await.unwrap().is_intact());
        p.shutdown().await;
        (report, audits)
    });
    assert_eq!(
        report.count_mismatches,
        [
            CountMismatch {
                trailer: "BTS",
                batch: 1,
                declared: Some(3),
                found: 2
            },
            CountMismatch {
                trailer: "FTS",
                batch: 0,
                declared: Some(3),
                found: 2
            },
        ]
    );
    assert_eq!(
        audits,
        [
            "batch count mismatch: BTS-1 of batch 1 (messages) declares 3, found 2",
            "batch count mismatch: FTS-1 (batches) declares 3, found 2",
        ]
    );
    assert_eq!(
        metrics.counter("ehrkit_pipeline_batch_count_mismatches_total{source=mllp,trailer=BTS}"),
        1,
        "{metrics:?}"
    );
    assert_eq!(
        metrics.counter("ehrkit_pipeline_batch_count_mismatches_total{source=mllp,trailer=FTS}"),
        1
    );
}

#[tokio::test]
async fn a_batch_file_with_a_short_count_reports_it_and_a_count_that_is_not_a_number_too() {
    let (dir, store, p) = started().await;
    let path = dir.path().join("short.hl7");
    std::fs::write(&path, two_batches("2", "x", "2")).unwrap();
    let report = files::ingest_file(&p, &path, "files").await.unwrap();
    p.drain().await;
    assert_eq!(report.submitted.len(), 3);
    assert_eq!(
        report.batch_warnings,
        [(
            path.clone(),
            CountMismatch {
                trailer: "BTS",
                batch: 2,
                declared: None,
                found: 1
            }
        )]
    );
    assert_eq!(store.summary().await.unwrap().source_patients, 3);
    p.shutdown().await;
}
