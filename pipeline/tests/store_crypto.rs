//! Encryption at rest: round trip, nothing readable in the file, wrong and missing keys,
//! rotation with re-encryption.

use ehrkit_identity::{EnterpriseId, FsModel, MatchConfig, PatientIndex, PatientRecord};
use ehrkit_pipeline::store::{
    ApplyBatch, Encryption, EncryptionKey, IdempotencyKey, InboundMessage, Lineage, MpiState,
    PatientLink, PayloadKind, ResourceWrite, SqliteOptions, SqliteStore, Store, StoreError,
};

const ADT: &[u8] =
    b"MSH|^~\\&|EPIC|HOSP|||||ADT^A01|C1|P|2.5\rPID|1||1001^^^EPIC^MR||ZEBEDEE^QUINTUS||19700314\r";
const BODY: &str = r#"{"resourceType":"Patient","id":"p1","name":[{"family":"Zebedee"}]}"#;

fn opts(active: u32, key: u8, old: &[(u32, u8)]) -> SqliteOptions {
    let mut e = Encryption::new(EncryptionKey::new(active, [key; 32]));
    for (id, k) in old {
        e = e.with_old_key(EncryptionKey::new(*id, [*k; 32]));
    }
    SqliteOptions::default().encryption(e)
}

/// Writes one message, one resource and one MPI record; returns the message id.
async fn fill(store: &SqliteStore) -> ehrkit_pipeline::store::MessageId {
    let id = store
        .accept(InboundMessage::new(
            IdempotencyKey::v2("EPIC", "HOSP", "C1"),
            ADT.to_vec(),
            PayloadKind::Hl7v2,
            "epic",
        ))
        .await
        .unwrap()
        .id();
    let index = PatientIndex::new(FsModel::untrained(MatchConfig::default())).unwrap();
    let record = PatientRecord::builder("EPIC|1001")
        .name("Zebedee", "Quintus")
        .build();
    let eid = index.upsert(record.clone()).unwrap().enterprise_id;
    let mut b = ApplyBatch::new(
        id,
        Lineage {
            source: "epic".into(),
            profile: None,
            converter_version: "t".into(),
        },
    );
    b.resources.push(ResourceWrite {
        resource_type: "Patient".into(),
        id: "p1".into(),
        body: BODY.into(),
        patient_key: Some("EPIC|1001".into()),
    });
    b.patients.push(PatientLink {
        record,
        enterprise_id: eid,
        source: "epic".into(),
    });
    b.mpi_state = Some(MpiState(index.snapshot().unwrap()));
    store.apply(b).await.unwrap();
    id
}

fn file_contains(dir: &tempfile::TempDir, needle: &[u8]) -> bool {
    let mut all = Vec::new();
    for name in ["store.db", "store.db-wal"] {
        if let Ok(b) = std::fs::read(dir.path().join(name)) {
            all.extend(b);
        }
    }
    all.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_values_round_trip_and_never_reach_the_file_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let store = SqliteStore::open(&path, opts(1, 7, &[])).unwrap();
        let id = fill(&store).await;
        assert_eq!(store.message(id).await.unwrap().payload, ADT);
        let r = store.resource("Patient", "p1", "t").await.unwrap().unwrap();
        assert_eq!(r.body, BODY);
        let snap = store.load_mpi().await.unwrap().unwrap();
        assert_eq!(snap.records[0].0.names[0].family, "Zebedee");
        // Query metadata stays plain and usable.
        assert_eq!(
            store
                .patient_everything(EnterpriseId(1), "t")
                .await
                .unwrap()
                .resources
                .len(),
            1
        );
    }
    assert!(!file_contains(&dir, b"ZEBEDEE"));
    assert!(!file_contains(&dir, b"Zebedee"));
    assert!(file_contains(&dir, b"EPIC|1001"), "keys stay queryable");

    // The same database written without encryption does hold the name in clear (so the check
    // above can fail).
    let plain = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(plain.path().join("store.db"), SqliteOptions::default()).unwrap();
    fill(&store).await;
    drop(store);
    assert!(file_contains(&plain, b"ZEBEDEE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_key_is_a_typed_error_naming_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let id = {
        let store = SqliteStore::open(&path, opts(1, 7, &[])).unwrap();
        fill(&store).await
    };
    // Same key id, other key material.
    let store = SqliteStore::open(&path, opts(1, 8, &[])).unwrap();
    match store.message(id).await {
        Err(StoreError::Decrypt { table, row, key_id }) => {
            assert_eq!((table, row.as_str(), key_id), ("inbox", "1", 1));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.resource("Patient", "p1", "t").await,
        Err(StoreError::Decrypt {
            table: "resource_versions",
            ..
        })
    ));
    match store.load_mpi().await {
        Err(
            e @ StoreError::Decrypt {
                table: "source_patients",
                ..
            },
        ) => {
            // The row is named without the source patient key (an MRN).
            assert!(!e.to_string().contains("1001"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    drop(store);
    // No key at all.
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert!(matches!(
        store.message(id).await,
        Err(StoreError::MissingKey { key_id: 1, .. })
    ));
    // Counts need no key.
    assert_eq!(store.summary().await.unwrap().resources, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_moved_to_another_row_does_not_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path, opts(1, 7, &[])).unwrap();
    let first = fill(&store).await;
    let second = store
        .accept(InboundMessage::new(
            IdempotencyKey::v2("EPIC", "HOSP", "C2"),
            b"MSH|other".to_vec(),
            PayloadKind::Hl7v2,
            "epic",
        ))
        .await
        .unwrap()
        .id();
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute(
        "UPDATE inbox SET payload = (SELECT payload FROM inbox WHERE id = ?1) WHERE id = ?2",
        [first.0, second.0],
    )
    .unwrap();
    assert!(matches!(
        store.message(second).await,
        Err(StoreError::Decrypt { .. })
    ));
    assert_eq!(store.message(first).await.unwrap().payload, ADT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_reads_old_rows_and_reencrypt_retires_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let id = {
        let store = SqliteStore::open(&path, opts(1, 7, &[])).unwrap();
        fill(&store).await
    };
    // Rotate: key 2 active, key 1 kept for reading.
    let store = SqliteStore::open(&path, opts(2, 9, &[(1, 7)])).unwrap();
    assert_eq!(store.message(id).await.unwrap().payload, ADT);
    let new = store
        .accept(InboundMessage::new(
            IdempotencyKey::v2("EPIC", "HOSP", "C9"),
            b"MSH|new".to_vec(),
            PayloadKind::Hl7v2,
            "epic",
        ))
        .await
        .unwrap()
        .id();
    // inbox row 1, one resource version, one MPI record (the new message is already on key 2).
    assert_eq!(store.reencrypt().await.unwrap(), 3);
    assert_eq!(store.reencrypt().await.unwrap(), 0);
    drop(store);
    // Old key gone: everything still reads.
    let store = SqliteStore::open(&path, opts(2, 9, &[])).unwrap();
    assert_eq!(store.message(id).await.unwrap().payload, ADT);
    assert_eq!(store.message(new).await.unwrap().payload, b"MSH|new");
    assert_eq!(
        store
            .resource("Patient", "p1", "t")
            .await
            .unwrap()
            .unwrap()
            .body,
        BODY
    );
    assert_eq!(store.load_mpi().await.unwrap().unwrap().records.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_encryption_on_encrypts_plain_rows_with_reencrypt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let id = {
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        fill(&store).await
    };
    let store = SqliteStore::open(&path, opts(1, 7, &[])).unwrap();
    assert_eq!(
        store.message(id).await.unwrap().payload,
        ADT,
        "plain rows read"
    );
    assert_eq!(store.reencrypt().await.unwrap(), 3);
    drop(store);
    let c = rusqlite::Connection::open(&path).unwrap();
    let plain: i64 = c
        .query_row(
            "SELECT (SELECT COUNT(*) FROM inbox WHERE key_id IS NULL) + (SELECT COUNT(*) FROM resource_versions WHERE key_id IS NULL) + (SELECT COUNT(*) FROM source_patients WHERE key_id IS NULL)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(plain, 0);
    let store = SqliteStore::open(&path, opts(1, 7, &[])).unwrap();
    assert_eq!(store.message(id).await.unwrap().payload, ADT);
}

#[test]
fn debug_output_never_shows_key_material() {
    let k = EncryptionKey::new(3, [0xAB; 32]);
    let s = format!("{:?}", Encryption::new(k));
    assert!(s.contains("id: 3"));
    assert!(!s.to_lowercase().contains("ab, ") && !s.contains("171"));
}
