//! The durable inbox: idempotency key + content hash, crash recovery, concurrency.

use std::sync::Arc;

use ehrkit_pipeline::store::{
    sha256_hex, Accepted, ApplyBatch, IdempotencyKey, InboundMessage, InboxState, Lineage,
    PayloadKind, SqliteOptions, SqliteStore, Store,
};
use proptest::prelude::*;

const ADT: &str = "MSH|^~\\&|EPIC|HOSP|HUB|HUB|20260101120000||ADT^A01|CTRL1|P|2.5\rPID|1||1001^^^EPIC^MR||SMITH^ROBERT||19700314|M\r";
const ADT_CHANGED: &str = "MSH|^~\\&|EPIC|HOSP|HUB|HUB|20260101120000||ADT^A08|CTRL1|P|2.5\rPID|1||1001^^^EPIC^MR||SMITH^BOB||19700314|M\r";

fn v2(control: &str, body: &str) -> InboundMessage {
    InboundMessage::new(
        IdempotencyKey::v2("EPIC", "HOSP", control),
        body.as_bytes().to_vec(),
        PayloadKind::Hl7v2,
        "epic-adt",
    )
    .message_type("ADT^A01")
    .peer("127.0.0.1:5000")
}

fn lineage() -> Lineage {
    Lineage {
        source: "epic-adt".into(),
        profile: None,
        converter_version: "test".into(),
    }
}

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_is_a_duplicate_and_control_id_reuse_is_kept_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let first = store.accept(v2("CTRL1", ADT)).await.unwrap();
    let Accepted::New(id) = first else {
        panic!("first accept: {first:?}")
    };
    // Same key, same bytes: a resend after a lost ACK.
    assert_eq!(
        store.accept(v2("CTRL1", ADT)).await.unwrap(),
        Accepted::Duplicate(id)
    );
    assert_eq!(
        store.accept(v2("CTRL1", ADT)).await.unwrap(),
        Accepted::Duplicate(id)
    );
    // Same key, different content: kept, flagged, pending.
    let reused = store.accept(v2("CTRL1", ADT_CHANGED)).await.unwrap();
    let Accepted::ControlIdReused { id: id2, original } = reused else {
        panic!("reuse: {reused:?}")
    };
    assert_eq!(original, id);
    assert_ne!(id2, id);
    assert!(reused.needs_processing());
    // A resend of the second message is a duplicate of the second.
    assert_eq!(
        store.accept(v2("CTRL1", ADT_CHANGED)).await.unwrap(),
        Accepted::Duplicate(id2)
    );
    // Another facility with the same control id is another key.
    let other = InboundMessage::new(
        IdempotencyKey::v2("EPIC", "CLINIC", "CTRL1"),
        ADT.as_bytes().to_vec(),
        PayloadKind::Hl7v2,
        "epic-adt",
    );
    assert!(matches!(
        store.accept(other).await.unwrap(),
        Accepted::New(_)
    ));

    let m1 = store.message(id).await.unwrap();
    assert_eq!(m1.payload, ADT.as_bytes());
    assert_eq!(m1.duplicates, 2);
    assert!(!m1.control_id_reused);
    assert_eq!(m1.content_hash, sha256_hex(ADT.as_bytes()));
    let m2 = store.message(id2).await.unwrap();
    assert!(m2.control_id_reused);
    assert_eq!(m2.duplicates, 1);

    let s = store.summary().await.unwrap();
    assert_eq!(s.received, 3);
    assert_eq!(s.duplicates, 3);
    assert_eq!(store.pending(100).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fhir_resources_are_idempotent_by_source_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let body = br#"{"resourceType":"Patient","id":"p1","meta":{"versionId":"3"}}"#;
    let msg = |source: &str, version: &str| {
        InboundMessage::new(
            IdempotencyKey::fhir(source, "Patient", "p1", version),
            body.to_vec(),
            PayloadKind::FhirJson,
            source,
        )
    };
    let a = store.accept(msg("athena", "3")).await.unwrap();
    assert!(matches!(a, Accepted::New(_)));
    assert_eq!(
        store.accept(msg("athena", "3")).await.unwrap(),
        Accepted::Duplicate(a.id())
    );
    // A new version at the source, or the same resource from another source, is new.
    assert!(matches!(
        store.accept(msg("athena", "4")).await.unwrap(),
        Accepted::New(_)
    ));
    assert!(matches!(
        store.accept(msg("epic-fhir", "3")).await.unwrap(),
        Accepted::New(_)
    ));
    let m = store.message(a.id()).await.unwrap();
    assert_eq!(m.kind, PayloadKind::FhirJson);
    assert_eq!(m.payload, body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_messages_survive_a_crash_and_are_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let ids = {
        let store = open(&dir);
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                store
                    .accept(v2(&format!("C{i}"), &format!("{ADT}NTE|{i}\r")))
                    .await
                    .unwrap()
                    .id(),
            );
        }
        // Only the first two are processed before the "crash".
        for id in &ids[..2] {
            let r = store.apply(ApplyBatch::new(*id, lineage())).await.unwrap();
            assert!(!r.already_processed);
        }
        ids
        // dropped without marking the others processed
    };
    let store = open(&dir);
    let pending: Vec<_> = store
        .pending(100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(pending, ids[2..].to_vec());
    assert_eq!(
        store.message(ids[0]).await.unwrap().state,
        InboxState::Processed
    );
    // The sender resends an ACKed message after the restart: still a duplicate.
    assert_eq!(
        store
            .accept(v2("C0", &format!("{ADT}NTE|0\r")))
            .await
            .unwrap(),
        Accepted::Duplicate(ids[0])
    );
    // Recovery applies each pending message once; a second recovery pass changes nothing.
    for id in &pending {
        assert!(
            !store
                .apply(ApplyBatch::new(*id, lineage()))
                .await
                .unwrap()
                .already_processed
        );
        assert!(
            store
                .apply(ApplyBatch::new(*id, lineage()))
                .await
                .unwrap()
                .already_processed
        );
    }
    assert!(store.pending(100).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_accepts_keep_every_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut news = 0;
            for i in 0..50 {
                // Each message is sent twice by its sender (a resend), interleaved with others.
                let body = format!("{ADT}NTE|{t}-{i}\r");
                let ctl = format!("T{t}-{i}");
                if let Accepted::New(_) = store.accept(v2(&ctl, &body)).await.unwrap() {
                    news += 1;
                }
                assert!(matches!(
                    store.accept(v2(&ctl, &body)).await.unwrap(),
                    Accepted::Duplicate(_)
                ));
            }
            news
        }));
    }
    let mut news = 0;
    for t in tasks {
        news += t.await.unwrap();
    }
    assert_eq!(news, 400);
    let s = store.summary().await.unwrap();
    assert_eq!(s.received, 400);
    assert_eq!(s.duplicates, 400);
    assert_eq!(store.pending(1000).await.unwrap().len(), 400);
}

#[test]
fn threads_without_a_runtime_can_accept_concurrently() {
    // Several OS threads, each with its own small runtime, share one store.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    for i in 0..25 {
                        let r = store
                            .accept(v2(&format!("X{t}-{i}"), &format!("{ADT}NTE|{t}{i}\r")))
                            .await
                            .unwrap();
                        assert!(matches!(r, Accepted::New(_)));
                    }
                })
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(store.summary()).unwrap().received, 100);
}

fn key_strategy() -> impl Strategy<Value = IdempotencyKey> {
    let part = "[a-zA-Z0-9|:^~ ]{0,6}";
    prop_oneof![
        (part, part, part).prop_map(|(a, f, c)| IdempotencyKey::v2(a, f, c)),
        (part, part, part, part).prop_map(|(s, t, i, v)| IdempotencyKey::fhir(s, t, i, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Canonical keys are injective: two keys share a canonical form only when equal, so
    /// `|` or `:` inside a part cannot make two senders' keys collide.
    #[test]
    fn canonical_key_is_injective(a in key_strategy(), b in key_strategy()) {
        prop_assert_eq!(a == b, a.canonical() == b.canonical());
    }

    /// The outcome of accept depends exactly on (key, hash): same key and payload is a
    /// duplicate of the first, same key and another payload is a flagged reuse, another key
    /// is new.
    #[test]
    fn accept_outcome_follows_key_and_hash(
        k1 in key_strategy(),
        k2 in key_strategy(),
        p1 in proptest::collection::vec(any::<u8>(), 0..40),
        p2 in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let m = |k: &IdempotencyKey, p: &Vec<u8>| InboundMessage::new(k.clone(), p.clone(), PayloadKind::Hl7v2, "s");
            let first = store.accept(m(&k1, &p1)).await.unwrap();
            prop_assert!(matches!(first, Accepted::New(_)));
            let second = store.accept(m(&k2, &p2)).await.unwrap();
            if k1 != k2 {
                prop_assert!(matches!(second, Accepted::New(_)));
            } else if sha256_hex(&p1) == sha256_hex(&p2) {
                prop_assert_eq!(second, Accepted::Duplicate(first.id()));
            } else {
                prop_assert_eq!(second, Accepted::ControlIdReused { id: second.id(), original: first.id() });
            }
            let expect_kept = if k1 == k2 && p1 == p2 { 1 } else { 2 };
            prop_assert_eq!(store.summary().await.unwrap().received, expect_kept);
            Ok(())
        })?;
    }
}

/// `messages_received` (reprocessing a time range) reads the inbox through the
/// `inbox (received_at, id)` index, and a store created before that index (schema version 1)
/// gets it when it is opened again, keeping its content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_at_range_uses_its_index_and_old_stores_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = open(&dir);
        store.accept(v2("OLD1", ADT)).await.unwrap().id()
    };
    let raw = || rusqlite::Connection::open(dir.path().join("store.db")).unwrap();
    // Back to what version 1 left.
    raw()
        .execute_batch("DROP INDEX inbox_received; PRAGMA user_version = 1;")
        .unwrap();
    let store = open(&dir);
    let c = raw();
    let version: u32 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
    let plan: Vec<String> = {
        let mut st = c
            .prepare(
                "EXPLAIN QUERY PLAN SELECT id FROM inbox WHERE received_at >= ?1 AND received_at < ?2 ORDER BY received_at, id LIMIT ?3",
            )
            .unwrap();
        let rows = st
            .query_map(rusqlite::params![0, i64::MAX, 10], |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert!(
        plan.iter().any(|p| p.contains("inbox_received")),
        "{plan:?}"
    );
    assert_eq!(
        store.messages_received(0, i64::MAX, 10).await.unwrap(),
        [id]
    );
}
