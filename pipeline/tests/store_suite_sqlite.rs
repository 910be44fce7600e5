//! The shared store suite (`tests/common/store_suite.rs`) on SQLite: the same assertions
//! `tests/postgres_store.rs` makes on PostgreSQL.

#[path = "common/store_suite.rs"]
mod suite;

use std::sync::Arc;

use ehrkit_pipeline::store::{Encryption, EncryptionKey, SqliteOptions, SqliteStore};
use suite::DynStore;

fn open(dir: &tempfile::TempDir, opts: SqliteOptions) -> DynStore {
    Arc::new(SqliteStore::open(dir.path().join("store.db"), opts).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_duplicate_and_control_id_reuse() {
    let dir = tempfile::tempdir().unwrap();
    suite::accept_duplicate_and_control_id_reuse(open(&dir, SqliteOptions::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tasks_over_two_handles_accept_one_message_once() {
    let dir = tempfile::tempdir().unwrap();
    // Two handles on one file, as two processes would open it (PgStore: two pools).
    let stores = vec![
        open(&dir, SqliteOptions::default()),
        open(&dir, SqliteOptions::default()),
    ];
    suite::concurrent_accept_of_one_key(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_first_applies_write_once() {
    let dir = tempfile::tempdir().unwrap();
    // Two handles on one file, as two processes would open it (PgStore: two pools).
    let stores = vec![
        open(&dir, SqliteOptions::default()),
        open(&dir, SqliteOptions::default()),
    ];
    suite::racing_first_applies_write_once(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_lineage() {
    let dir = tempfile::tempdir().unwrap();
    suite::versions_and_lineage(open(&dir, SqliteOptions::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_and_reprocess() {
    let dir = tempfile::tempdir().unwrap();
    suite::dead_letters_and_reprocess(open(&dir, SqliteOptions::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_and_rollback() {
    let dir = tempfile::tempdir().unwrap();
    suite::profiles_and_rollback(open(&dir, SqliteOptions::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries() {
    let dir = tempfile::tempdir().unwrap();
    suite::queries(open(&dir, SqliteOptions::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_chain_verifies_and_an_updated_row_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, SqliteOptions::default());
    let path = dir.path().join("store.db");
    suite::audit_chain_and_tampering(store, move || {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'nobody' WHERE seq = 3;",
        )
        .unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encryption_seals_payloads_and_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let enc = Encryption::new(EncryptionKey::new(1, [7u8; 32]));
    let store = open(&dir, SqliteOptions::default().encryption(enc));
    let path = dir.path().join("store.db");
    suite::encryption_seals_payloads_and_bodies(store, move || {
        let c = rusqlite::Connection::open(&path).unwrap();
        let mut out = String::new();
        for sql in [
            "SELECT payload FROM inbox",
            "SELECT body FROM resource_versions",
            "SELECT record FROM source_patients",
        ] {
            let mut st = c.prepare(sql).unwrap();
            let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap();
            for b in rows {
                out.push_str(&String::from_utf8_lossy(&b.unwrap()));
            }
        }
        out
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_links_messages_received_and_review_pairs() {
    let dir = tempfile::tempdir().unwrap();
    suite::save_links_messages_received_and_review_pairs(open(&dir, SqliteOptions::default()))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_message_ends_processed() {
    let dir = tempfile::tempdir().unwrap();
    suite::redelivered_message_ends_processed(open(&dir, SqliteOptions::default())).await;
}
