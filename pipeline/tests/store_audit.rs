//! The audit trail: every event recorded, hash chain verified, tampering detected and named,
//! FHIR AuditEvent export.

use ehrkit_pipeline::store::{
    AuditEvent, AuditEventKind, AuditVerification, IdempotencyKey, InboundMessage, NewDeadLetter,
    PayloadKind, SqliteOptions, SqliteStore, Store,
};

const ADT: &[u8] =
    b"MSH|^~\\&|EPIC|HOSP|||||ADT^A01|C1|P|2.5\rPID|1||1001^^^EPIC^MR||SMITH^ROBERT||19700314\r";

async fn populated(dir: &tempfile::TempDir) -> SqliteStore {
    let store = SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap();
    let msg = || {
        InboundMessage::new(
            IdempotencyKey::v2("EPIC", "HOSP", "C1"),
            ADT.to_vec(),
            PayloadKind::Hl7v2,
            "epic-adt",
        )
        .message_type("ADT^A01")
        .peer("10.1.2.3:4000")
    };
    let id = store.accept(msg()).await.unwrap().id();
    store.accept(msg()).await.unwrap(); // duplicate
    store
        .dead_letter(NewDeadLetter {
            message_id: Some(id),
            stage: "convert".into(),
            error_kind: "UnknownTrigger".into(),
            location: Some("MSH-9".into()),
            attempts: 1,
            reason: "no map for trigger".into(),
        })
        .await
        .unwrap();
    store
        .append_audit(vec![AuditEvent::new(
            AuditEventKind::Delivered,
            "ndjson-sink",
        )
        .message(id)
        .entity("Patient/p1")])
        .await
        .unwrap();
    store.resource("Patient", "p1", "alice").await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_recorded_in_order_without_clinical_content() {
    let dir = tempfile::tempdir().unwrap();
    let store = populated(&dir).await;
    let entries = store.audit_entries(1, 100).await.unwrap();
    let kinds: Vec<_> = entries.iter().map(|e| e.event.kind).collect();
    assert_eq!(
        kinds,
        [
            AuditEventKind::Received,
            AuditEventKind::Duplicate,
            AuditEventKind::DeadLettered,
            AuditEventKind::Delivered,
            AuditEventKind::Read,
        ]
    );
    assert_eq!(entries[0].event.actor, "10.1.2.3:4000");
    assert_eq!(entries[4].event.actor, "alice");
    assert_eq!(entries[4].event.entity.as_deref(), Some("Patient/p1"));
    let seqs: Vec<_> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    // No demographic value from the message anywhere in the trail or its export.
    let all = serde_json::to_string(&entries).unwrap()
        + &entries
            .iter()
            .map(|e| e.to_fhir().to_string())
            .collect::<String>();
    for phi in ["SMITH", "ROBERT", "19700314"] {
        assert!(!all.contains(phi), "{phi} leaked into the audit trail");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_verifies_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let head = {
        let store = populated(&dir).await;
        match store.verify_audit().await.unwrap() {
            AuditVerification::Intact { rows, head } => {
                assert_eq!(rows, 5);
                head
            }
            other => panic!("{other:?}"),
        }
    };
    // Reopen: the chain continues from the stored head.
    let store = SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap();
    store
        .append_audit(vec![AuditEvent::new(AuditEventKind::Read, "bob")])
        .await
        .unwrap();
    let entries = store.audit_entries(6, 10).await.unwrap();
    assert_eq!(entries[0].prev_hash, head);
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { rows: 6, .. }
    ));
}

/// Two handles on one file (two processes, or one process opening the store twice) append
/// to one chain: each reads the chain head inside its own write transaction, so alternating
/// appends link to each other's rows instead of forking (or colliding on a sequence number).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_file_append_to_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let a = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let b = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    for i in 0..6 {
        let (store, actor) = if i % 2 == 0 { (&a, "a") } else { (&b, "b") };
        let control = format!("TWO{i}");
        store
            .accept(
                InboundMessage::new(
                    IdempotencyKey::v2("EPIC", "HOSP", control.as_str()),
                    ADT.to_vec(),
                    PayloadKind::Hl7v2,
                    "epic-adt",
                )
                .peer(actor),
            )
            .await
            .unwrap();
        store
            .append_audit(vec![AuditEvent::new(AuditEventKind::Read, actor)])
            .await
            .unwrap();
    }
    // Both handles at once, too.
    let (x, y) = tokio::join!(
        a.append_audit(vec![AuditEvent::new(AuditEventKind::Read, "a")]),
        b.append_audit(vec![AuditEvent::new(AuditEventKind::Read, "b")]),
    );
    x.unwrap();
    y.unwrap();
    for store in [&a, &b] {
        assert!(
            matches!(
                store.verify_audit().await.unwrap(),
                AuditVerification::Intact { rows: 14, .. }
            ),
            "{:?}",
            store.verify_audit().await
        );
    }
    let actors: Vec<String> = a
        .audit_entries(1, 100)
        .await
        .unwrap()
        .into_iter()
        .take(4)
        .map(|e| e.event.actor)
        .collect();
    assert_eq!(actors, ["a", "a", "b", "b"]);
}

fn raw(dir: &tempfile::TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.path().join("store.db")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_refuses_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let _store = populated(&dir).await;
    let c = raw(&dir);
    assert!(c
        .execute("UPDATE audit_log SET actor = 'x' WHERE seq = 2", [])
        .is_err());
    assert!(c
        .execute("DELETE FROM audit_log WHERE seq = 2", [])
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_row_is_named_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = populated(&dir).await;
    let c = raw(&dir);
    // Someone with file access drops the guard and rewrites who read the record.
    c.execute_batch("DROP TRIGGER audit_log_no_update").unwrap();
    c.execute("UPDATE audit_log SET actor = 'nobody' WHERE seq = 5", [])
        .unwrap();
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Broken {
            seq: 5,
            reason: "hash mismatch"
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recomputed_hash_breaks_the_next_link() {
    let dir = tempfile::tempdir().unwrap();
    let store = populated(&dir).await;
    let c = raw(&dir);
    c.execute_batch("DROP TRIGGER audit_log_no_update").unwrap();
    c.execute(
        "UPDATE audit_log SET detail = 'edited', hash = '00' || substr(hash, 3) WHERE seq = 2",
        [],
    )
    .unwrap();
    let v = store.verify_audit().await.unwrap();
    assert!(
        matches!(v, AuditVerification::Broken { seq: 2, .. }),
        "{v:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_row_is_a_sequence_gap() {
    let dir = tempfile::tempdir().unwrap();
    let store = populated(&dir).await;
    let c = raw(&dir);
    c.execute_batch("DROP TRIGGER audit_log_no_delete").unwrap();
    c.execute("DELETE FROM audit_log WHERE seq = 3", [])
        .unwrap();
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Broken {
            seq: 4,
            reason: "sequence gap"
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_is_a_fhir_audit_event_that_the_model_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = populated(&dir).await;
    let entries = store.audit_entries(1, 100).await.unwrap();
    let dl = entries[2].to_fhir();
    assert_eq!(dl["resourceType"], "AuditEvent");
    assert_eq!(dl["subtype"][0]["code"], "dead-lettered");
    assert_eq!(dl["outcome"], "4");
    assert_eq!(dl["action"], "E");
    assert!(dl["recorded"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        dl["entity"][0]["what"]["identifier"]["value"],
        entries[2].event.message_id.unwrap().0.to_string()
    );
    let read = entries[4].to_fhir();
    assert_eq!(read["action"], "R");
    assert_eq!(read["agent"][0]["who"]["display"], "alice");
    assert_eq!(read["agent"][0]["requestor"], true);
    // Every export reads strictly (no unknown element, no invalid code) as a typed R4
    // AuditEvent.
    for e in &entries {
        let typed = e
            .to_audit_event()
            .unwrap_or_else(|err| panic!("seq {}: {err}", e.seq));
        assert_eq!(
            typed.id.as_deref(),
            Some(format!("audit-{}", e.seq).as_str())
        );
    }
}
