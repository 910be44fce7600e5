//! Storage failures: a full database and injected I/O errors are typed errors the runtime can
//! NAK on; nothing half-kept; the store keeps working once space is back.

use std::sync::Arc;

use ehrkit_pipeline::store::{
    Accepted, ApplyBatch, FaultInjectingStore, FaultPlan, IdempotencyKey, InboundMessage, Lineage,
    PayloadKind, ResourceWrite, SqliteOptions, SqliteStore, Store, StoreError,
};

fn msg(ctl: &str, size: usize) -> InboundMessage {
    InboundMessage::new(
        IdempotencyKey::v2("EPIC", "HOSP", ctl),
        vec![b'x'; size],
        PayloadKind::Hl7v2,
        "epic",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_is_an_io_error_and_nothing_of_it_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    // Room for the schema and a little more: 40 pages of 4 KiB.
    let store = SqliteStore::open(&path, SqliteOptions::default().max_pages(40)).unwrap();
    let mut kept = 0;
    let mut full = None;
    for i in 0..200 {
        match store.accept(msg(&format!("C{i}"), 3000)).await {
            Ok(Accepted::New(_)) => kept += 1,
            Ok(other) => panic!("{other:?}"),
            Err(e) => {
                full = Some(e);
                break;
            }
        }
    }
    let err = full.expect("the database filled up");
    assert!(err.is_io(), "{err:?}");
    assert_eq!(err.io_kind(), Some(std::io::ErrorKind::StorageFull));
    assert!(!err.to_string().contains("xxx"), "no payload in the error");
    // What was acknowledged is there, the failed message is not, and the chain is intact.
    let s = store.summary().await.unwrap();
    assert_eq!(s.received, kept);
    assert_eq!(store.pending(1000).await.unwrap().len() as u64, kept);
    assert!(store.verify_audit().await.unwrap().is_intact());
    // Still failing while full, never panicking; small writes may still fit.
    assert!(store.accept(msg("again", 20_000)).await.is_err());
    drop(store);
    // Space is back (no cap): the sender's retry is kept.
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert!(matches!(
        store.accept(msg("again", 20_000)).await.unwrap(),
        Accepted::New(_)
    ));
    assert_eq!(store.summary().await.unwrap().received, kept + 1);
    assert!(store.verify_audit().await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_request_does_not_fail_its_group() {
    // Many concurrent accepts share a transaction; an apply that fails in the middle (unknown
    // message) rolls back alone.
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap());
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            if i % 8 == 0 {
                let mut b = ApplyBatch::new(
                    ehrkit_pipeline::store::MessageId(1_000_000 + i),
                    Lineage {
                        source: "s".into(),
                        profile: None,
                        converter_version: "t".into(),
                    },
                );
                b.resources.push(ResourceWrite {
                    resource_type: "Patient".into(),
                    id: format!("p{i}"),
                    body: "{}".into(),
                    patient_key: None,
                });
                assert!(matches!(
                    store.apply(b).await,
                    Err(StoreError::NotFound { .. })
                ));
            } else {
                store.accept(msg(&format!("G{i}"), 10)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let s = store.summary().await.unwrap();
    assert_eq!((s.received, s.resources), (56, 0));
    assert!(store.verify_audit().await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_fail_writes_as_a_full_disk_would() {
    let dir = tempfile::tempdir().unwrap();
    let plan = FaultPlan::new();
    let store = FaultInjectingStore::new(
        SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap(),
        plan.clone(),
    );
    let id = store.accept(msg("1", 10)).await.unwrap().id();
    plan.fail_accept(true);
    let e = store.accept(msg("2", 10)).await.unwrap_err();
    assert_eq!(e.io_kind(), Some(std::io::ErrorKind::StorageFull));
    plan.fail_accept(false);
    plan.fail_next_writes(2);
    assert!(store.accept(msg("2", 10)).await.is_err());
    let lineage = Lineage {
        source: "s".into(),
        profile: None,
        converter_version: "t".into(),
    };
    assert!(store
        .apply(ApplyBatch::new(id, lineage.clone()))
        .await
        .unwrap_err()
        .is_io());
    // The countdown is spent: writes pass again, and reads always did.
    assert!(matches!(
        store.accept(msg("2", 10)).await.unwrap(),
        Accepted::New(_)
    ));
    plan.fail_writes(true);
    assert!(store
        .apply(ApplyBatch::new(id, lineage.clone()))
        .await
        .is_err());
    assert_eq!(
        store.pending(10).await.unwrap().len(),
        2,
        "reads still work"
    );
    plan.fail_writes(false);
    store.apply(ApplyBatch::new(id, lineage)).await.unwrap();
    assert_eq!(plan.injected(), 4);
    assert_eq!(store.inner().summary().await.unwrap().received, 2);
}
