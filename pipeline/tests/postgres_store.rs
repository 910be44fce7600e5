//! `PgStore` against a real PostgreSQL on loopback (testkit starts one per test; without
//! PostgreSQL installed each test prints a NOTICE and skips). The behaviour is the shared
//! suite's (`tests/common/store_suite.rs`, also run on SQLite), plus what only a server
//! shared by several processes has: concurrent migrations, two pools racing, a restart.

#![cfg(feature = "postgres")]

#[path = "common/store_suite.rs"]
mod suite;

use std::sync::Arc;
use std::time::Duration;

use ehrkit_pipeline::store::{
    Accepted, ApplyBatch, Encryption, EncryptionKey, NewDeadLetter, PgOptions, PgStore,
    SqliteOptions, SqliteStore, Store,
};
use ehrkit_testkit::service_or_skip;
use ehrkit_testkit::services::Postgres;
use suite::DynStore;

async fn store(pg: &Postgres) -> PgStore {
    PgStore::connect(&pg.url(), PgOptions::default().pool_size(4))
        .await
        .expect("connect")
}

async fn dyn_store(pg: &Postgres) -> DynStore {
    Arc::new(store(pg).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_duplicate_and_control_id_reuse() {
    let pg = service_or_skip!(Postgres::start());
    suite::accept_duplicate_and_control_id_reuse(dyn_store(&pg).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tasks_over_two_pools_accept_one_message_once() {
    let pg = service_or_skip!(Postgres::start());
    let stores = vec![dyn_store(&pg).await, dyn_store(&pg).await];
    suite::concurrent_accept_of_one_key(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_first_applies_write_once() {
    let pg = service_or_skip!(Postgres::start());
    let stores = vec![dyn_store(&pg).await, dyn_store(&pg).await];
    suite::racing_first_applies_write_once(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_lineage() {
    let pg = service_or_skip!(Postgres::start());
    suite::versions_and_lineage(dyn_store(&pg).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_and_reprocess() {
    let pg = service_or_skip!(Postgres::start());
    suite::dead_letters_and_reprocess(dyn_store(&pg).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_and_rollback() {
    let pg = service_or_skip!(Postgres::start());
    suite::profiles_and_rollback(dyn_store(&pg).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries() {
    let pg = service_or_skip!(Postgres::start());
    suite::queries(dyn_store(&pg).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_chain_verifies_and_an_updated_row_is_named() {
    let pg = service_or_skip!(Postgres::start());
    let s = dyn_store(&pg).await;
    // The log refuses updates and deletes through SQL.
    let tamper = || {
        // Someone with database rights disables the guard and rewrites who read the record.
        pg.psql(
            "BEGIN; ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update; \
             UPDATE audit_log SET actor = 'nobody' WHERE seq = 3; \
             ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update; COMMIT;",
        )
        .expect("tamper");
    };
    suite::audit_chain_and_tampering(s, tamper).await;
    assert!(pg
        .psql("UPDATE audit_log SET actor = 'x' WHERE seq = 1")
        .unwrap_err()
        .contains("append-only"));
    assert!(pg
        .psql("DELETE FROM audit_log WHERE seq = 1")
        .unwrap_err()
        .contains("append-only"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encryption_seals_payloads_bodies_and_records() {
    let pg = service_or_skip!(Postgres::start());
    let enc = Encryption::new(EncryptionKey::new(1, [7u8; 32]));
    let s: DynStore = Arc::new(
        PgStore::connect(&pg.url(), PgOptions::default().encryption(enc))
            .await
            .unwrap(),
    );
    let raw = || {
        pg.psql(
            "SELECT encode(payload, 'escape') FROM inbox \
             UNION ALL SELECT encode(body, 'escape') FROM resource_versions \
             UNION ALL SELECT encode(record, 'escape') FROM source_patients",
        )
        .unwrap()
    };
    suite::encryption_seals_payloads_and_bodies(s, raw).await;
    assert_eq!(
        pg.psql("SELECT DISTINCT key_id FROM resource_versions")
            .unwrap(),
        "1"
    );
    // Without the key the rows are named, not garbled.
    let plain = store(&pg).await;
    let err = plain.pending(10).await;
    assert!(err.is_ok(), "nothing pending");
    let err = plain.resource("Patient", "p1", "t").await.unwrap_err();
    assert_eq!(err.kind_name(), "MissingKey");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_json_is_the_same_as_sqlites() {
    let pg = service_or_skip!(Postgres::start());
    let dir = tempfile::tempdir().unwrap();
    let lite: DynStore =
        Arc::new(SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap());
    let a = suite::scenario_summary(lite).await;
    let b = suite::scenario_summary(dyn_store(&pg).await).await;
    assert_eq!(a, b);
    assert_eq!(
        b,
        r#"{"received":3,"duplicates":1,"dead_letter":1,"resources":2,"source_patients":2,"enterprise_patients":2,"possible_matches":1}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_starting_at_once_migrate_once() {
    let pg = service_or_skip!(Postgres::start());
    let url = pg.url();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            PgStore::connect(&url, PgOptions::default().pool_size(1)).await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("every process connects");
    }
    assert_eq!(
        pg.psql(
            "SELECT string_agg(component || ':' || version, ',' ORDER BY version) FROM ehrkit_schema"
        )
        .unwrap(),
        "store:1,store:2"
    );
    // A newer schema than this build knows is refused.
    pg.psql("INSERT INTO ehrkit_schema VALUES ('store', 99, '0099_future', 0)")
        .unwrap();
    let err = PgStore::connect(&url, PgOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind_name(), "SchemaTooNew");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_keep_one_valid_chain() {
    let pg = service_or_skip!(Postgres::start());
    let stores = [dyn_store(&pg).await, dyn_store(&pg).await];
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = stores[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let id = s
                .accept(suite::v2(&format!("C{i}"), suite::ADT))
                .await
                .unwrap()
                .id();
            let mut b = ApplyBatch::new(id, suite::lineage(None));
            // Every message touches the same two resources, in opposite orders.
            let (x, y) = if i % 2 == 0 { ("a", "b") } else { ("b", "a") };
            b.resources
                .push(suite::res("Group", x, &format!("{{\"i\":{i}}}"), None));
            b.resources
                .push(suite::res("Group", y, &format!("{{\"i\":{i}}}"), None));
            s.apply(b).await.unwrap()
        }));
    }
    let mut versions = Vec::new();
    for t in tasks {
        let a = t.await.unwrap();
        versions.push(a.resources[0].version);
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=40).collect::<Vec<i64>>());
    // 40 distinct bodies: each resource got 40 versions, numbered without a gap or a repeat.
    let hist = stores[0].resource_history("Group", "a", "t").await.unwrap();
    let numbers: Vec<i64> = hist.iter().map(|r| r.version).collect();
    assert_eq!(numbers, (1..=40).collect::<Vec<i64>>());
    // 40 Received, 40 Stored, 1 Read (the history above).
    let v = stores[1].verify_audit().await.unwrap();
    assert!(
        matches!(
            v,
            ehrkit_pipeline::store::AuditVerification::Intact { rows: 81, .. }
        ),
        "{v:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_is_a_transient_io_error_and_the_pool_recovers() {
    let mut pg = service_or_skip!(Postgres::start());
    let s = PgStore::connect(
        &pg.url(),
        PgOptions::default()
            .pool_size(2)
            .connect_timeout(Duration::from_secs(2))
            .acquire_timeout(Duration::from_secs(3)),
    )
    .await
    .unwrap();
    let first = s.accept(suite::v2("R1", suite::ADT)).await.unwrap();
    pg.stop();
    // During the outage: every call fails, as a transient I/O error (the runtime NAKs and
    // retries; nothing is dead-lettered for it).
    for control in ["R2", "R3"] {
        let err = s.accept(suite::v2(control, suite::ADT)).await.unwrap_err();
        assert!(err.is_io(), "{err:?}");
    }
    let err = s.summary().await.unwrap_err();
    assert!(err.is_io(), "{err:?}");
    pg.restart().expect("restart");
    // Back: the pool replaces its dead connections. A connection that died unnoticed may
    // fail one more call (also an I/O error) before it is dropped.
    let mut accepted = None;
    for _ in 0..5 {
        match s.accept(suite::v2("R2", suite::ADT)).await {
            Ok(a) => {
                accepted = Some(a);
                break;
            }
            Err(e) => {
                assert!(e.is_io(), "{e:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    assert!(matches!(accepted, Some(Accepted::New(_))), "{accepted:?}");
    // What was committed before the restart is kept.
    assert_eq!(
        s.accept(suite::v2("R1", suite::ADT)).await.unwrap(),
        Accepted::Duplicate(first.id())
    );
    let sum = s.summary().await.unwrap();
    assert_eq!((sum.received, sum.duplicates), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_links_messages_received_and_review_pairs() {
    let pg = service_or_skip!(Postgres::start());
    suite::save_links_messages_received_and_review_pairs(dyn_store(&pg).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_message_ends_processed() {
    let pg = service_or_skip!(Postgres::start());
    suite::redelivered_message_ends_processed(dyn_store(&pg).await).await;
}

/// A store created before the `inbox (received_at)` index (schema version 1) gets it when a
/// newer build connects; what it held is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_store_gets_the_received_at_index() {
    let pg = service_or_skip!(Postgres::start());
    let s = store(&pg).await;
    let id = s.accept(suite::v2("OLD1", suite::ADT)).await.unwrap().id();
    drop(s);
    // Back to what version 1 left.
    pg.psql(
        "DROP INDEX inbox_received; DELETE FROM ehrkit_schema WHERE component = 'store' AND version > 1",
    )
    .unwrap();
    let s = store(&pg).await;
    assert_eq!(
        pg.psql("SELECT indexdef FROM pg_indexes WHERE indexname = 'inbox_received'")
            .unwrap(),
        "CREATE INDEX inbox_received ON public.inbox USING btree (received_at, id)"
    );
    assert_eq!(
        pg.psql("SELECT max(version) FROM ehrkit_schema WHERE component = 'store'")
            .unwrap(),
        "2"
    );
    assert_eq!(s.messages_received(0, i64::MAX, 10).await.unwrap(), [id]);
}

/// A column changed or dropped behind the store's back is a typed error naming the column,
/// not a panic in the row decoder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_drift_is_an_error_naming_the_column() {
    let pg = service_or_skip!(Postgres::start());
    let s = store(&pg).await;
    let id = s
        .accept(suite::v2("DRIFT1", suite::ADT))
        .await
        .unwrap()
        .id();
    let dl = s
        .dead_letter(NewDeadLetter {
            message_id: Some(id),
            stage: "convert".into(),
            error_kind: "UnknownMessageType".into(),
            location: None,
            attempts: 2,
            reason: "no map".into(),
        })
        .await
        .unwrap();
    drop(s);
    // A column of another type.
    pg.psql("ALTER TABLE dead_letters ALTER COLUMN attempts TYPE TEXT")
        .unwrap();
    let s = store(&pg).await;
    let err = s.dead_letter_by_id(dl).await.unwrap_err();
    assert_eq!(err.kind_name(), "Schema", "{err:?}");
    assert!(err.to_string().contains("attempts"), "{err}");
    let err = s.dead_letters(true).await.unwrap_err();
    assert_eq!(err.kind_name(), "Schema", "{err:?}");
    // A missing column.
    pg.psql("ALTER TABLE inbox DROP COLUMN message_type")
        .unwrap();
    let s = store(&pg).await;
    let err = s.message(id).await.unwrap_err();
    assert_eq!(err.kind_name(), "Schema", "{err:?}");
    assert!(err.to_string().contains("message_type"), "{err}");
}
