//! Behaviour every [`Store`] backend must have, written once over `Arc<dyn Store>` and run
//! on SQLite (`tests/store_suite_sqlite.rs`) and PostgreSQL (`tests/postgres_store.rs`).
//! Each function takes fresh, empty stores; backend-specific steps (editing a row behind the
//! store's back, reading raw table bytes) come in as closures.

#![allow(dead_code)]

use std::sync::Arc;

use ehrkit_identity::{EnterpriseId, PatientRecord};
use ehrkit_pipeline::store::{
    Accepted, ApplyBatch, ApplyMode, AuditEventKind, AuditVerification, DeadLetterStatus,
    IdempotencyKey, InboundMessage, InboxState, Lineage, MessageId, NewDeadLetter, PatientLink,
    PayloadKind, ProfileRef, ResourceWrite, Store, StoreError,
};

/// A store shared as the runtime shares it.
pub type DynStore = Arc<dyn Store>;

pub const ADT: &str = "MSH|^~\\&|EPIC|HOSP|HUB|HUB|20260101120000||ADT^A01|CTRL1|P|2.5\rPID|1||1001^^^EPIC^MR||SMITH^ROBERT||19700314|M\r";
pub const ADT_CHANGED: &str = "MSH|^~\\&|EPIC|HOSP|HUB|HUB|20260101120000||ADT^A08|CTRL1|P|2.5\rPID|1||1001^^^EPIC^MR||SMITH^BOB||19700314|M\r";

pub fn v2(control: &str, body: &str) -> InboundMessage {
    InboundMessage::new(
        IdempotencyKey::v2("EPIC", "HOSP", control),
        body.as_bytes().to_vec(),
        PayloadKind::Hl7v2,
        "epic-adt",
    )
    .message_type("ADT^A01")
    .peer("127.0.0.1:5000")
}

pub fn lineage(profile_version: Option<&str>) -> Lineage {
    Lineage {
        source: "epic-adt".into(),
        profile: profile_version.map(|v| ProfileRef {
            name: "epic-adt".into(),
            version: v.into(),
        }),
        converter_version: "suite".into(),
    }
}

pub fn res(t: &str, id: &str, body: &str, patient: Option<&str>) -> ResourceWrite {
    ResourceWrite {
        resource_type: t.into(),
        id: id.into(),
        body: body.into(),
        patient_key: patient.map(Into::into),
    }
}

pub fn rec(key: &str, family: &str, given: &str) -> PatientRecord {
    PatientRecord::builder(key)
        .name(family, given)
        .birth_date_str("19700314")
        .identifier("EPIC", "MR", "1001")
        .build()
}

async fn accept_new(store: &DynStore, control: &str, body: &str) -> MessageId {
    match store.accept(v2(control, body)).await.unwrap() {
        Accepted::New(id) => id,
        other => panic!("expected a new message, got {other:?}"),
    }
}

/// Resend → Duplicate of the original; same key, other bytes → ControlIdReused, kept,
/// flagged and pending; the summary counts both.
pub async fn accept_duplicate_and_control_id_reuse(store: DynStore) {
    let id = accept_new(&store, "CTRL1", ADT).await;
    assert_eq!(
        store.accept(v2("CTRL1", ADT)).await.unwrap(),
        Accepted::Duplicate(id)
    );
    let reused = store.accept(v2("CTRL1", ADT_CHANGED)).await.unwrap();
    let Accepted::ControlIdReused { id: id2, original } = reused else {
        panic!("reuse: {reused:?}")
    };
    assert_eq!(original, id);
    assert_ne!(id2, id);
    assert_eq!(
        store.accept(v2("CTRL1", ADT_CHANGED)).await.unwrap(),
        Accepted::Duplicate(id2)
    );
    let m1 = store.message(id).await.unwrap();
    assert_eq!(m1.payload, ADT.as_bytes());
    assert_eq!(m1.duplicates, 1);
    assert!(!m1.control_id_reused);
    assert_eq!(m1.state, InboxState::Pending);
    let m2 = store.message(id2).await.unwrap();
    assert!(m2.control_id_reused);
    assert_eq!(m2.payload, ADT_CHANGED.as_bytes());
    let pending: Vec<MessageId> = store
        .pending(10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(pending, vec![id, id2]);
    assert!(matches!(
        store.message(MessageId(id2.0 + 1000)).await,
        Err(StoreError::NotFound { .. })
    ));
    let s = store.summary().await.unwrap();
    assert_eq!((s.received, s.duplicates), (2, 2));
    let kinds: Vec<AuditEventKind> = store
        .audit_entries(1, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            AuditEventKind::Received,
            AuditEventKind::Duplicate,
            AuditEventKind::ControlIdReused,
            AuditEventKind::Duplicate
        ]
    );
}

/// 8 tasks accept the same message at once through `stores` (several pools or processes):
/// exactly one is New, the 7 others Duplicate of it.
pub async fn concurrent_accept_of_one_key(stores: Vec<DynStore>) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move { s.accept(v2("RACE", ADT)).await }));
    }
    let mut news = Vec::new();
    let mut dups = Vec::new();
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Accepted::New(id) => news.push(id),
            Accepted::Duplicate(id) => dups.push(id),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(news.len(), 1, "exactly one accept keeps the message");
    assert_eq!(dups.len(), 7);
    assert!(dups.iter().all(|d| *d == news[0]));
    let s = stores[0].summary().await.unwrap();
    assert_eq!((s.received, s.duplicates), (1, 7));
    assert!(matches!(
        stores[0].verify_audit().await.unwrap(),
        AuditVerification::Intact { rows: 8, .. }
    ));
}

/// Two First applies of one message race through two stores: one writes, the other finds
/// it processed and writes nothing; a third First apply later also writes nothing. Ten
/// messages, so that the two applies of at least some of them really overlap.
pub async fn racing_first_applies_write_once(stores: Vec<DynStore>) {
    for n in 0..10 {
        let id = accept_new(&stores[0], &format!("APPLY{n}"), ADT).await;
        let batch = || {
            let mut b = ApplyBatch::new(id, lineage(None));
            b.resources.push(res(
                "Patient",
                &format!("p{n}"),
                "{\"a\":1}",
                Some("EPIC|1001"),
            ));
            b.resources.push(res(
                "Encounter",
                &format!("e{n}"),
                "{\"b\":1}",
                Some("EPIC|1001"),
            ));
            b
        };
        let (a, b) = (stores[0].clone(), stores[1 % stores.len()].clone());
        let (b1, b2) = (batch(), batch());
        let t1 = tokio::spawn(async move { a.apply(b1).await });
        let t2 = tokio::spawn(async move { b.apply(b2).await });
        let (r1, r2) = (t1.await.unwrap().unwrap(), t2.await.unwrap().unwrap());
        assert_eq!(
            [r1.already_processed, r2.already_processed]
                .iter()
                .filter(|x| **x)
                .count(),
            1,
            "{r1:?} / {r2:?}"
        );
        let applied = if r1.already_processed { &r2 } else { &r1 };
        assert_eq!(applied.resources.len(), 2);
        assert!(applied
            .resources
            .iter()
            .all(|o| o.version == 1 && o.changed));
        // Recovery: applied again in First mode → nothing written.
        let again = stores[0].apply(batch()).await.unwrap();
        assert!(again.already_processed);
        assert!(again.resources.is_empty());
        assert_eq!(stores[0].lineage(id).await.unwrap().len(), 2);
        assert_eq!(
            stores[0].message(id).await.unwrap().state,
            InboxState::Processed
        );
    }
    let stored = stores[0]
        .audit_entries(1, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event.kind == AuditEventKind::Stored)
        .count();
    assert_eq!(stored, 10);
    let s = stores[0].summary().await.unwrap();
    assert_eq!(s.resources, 20);
    assert!(matches!(
        stores[0].verify_audit().await.unwrap(),
        AuditVerification::Intact { .. }
    ));
}

/// MPI changes outside a message (`save_links`): the record keeps its first source, the
/// events are audited; `messages_received` lists the inbox by time; a possible match is not
/// queued again in the other direction.
pub async fn save_links_messages_received_and_review_pairs(store: DynStore) {
    let m1 = accept_new(&store, "L1", ADT).await;
    let mut b = ApplyBatch::new(m1, lineage(None));
    b.patients.push(PatientLink {
        record: rec("A|1", "SMITH", "ROBERT"),
        enterprise_id: EnterpriseId(1),
        source: "a".into(),
    });
    b.possible_matches
        .push(ehrkit_pipeline::store::NewPossibleMatch {
            source_key: "A|1".into(),
            enterprise_id: EnterpriseId(1),
            candidate_key: "B|2".into(),
            candidate_enterprise_id: EnterpriseId(2),
            weight: 3.0,
        });
    store.apply(b).await.unwrap();
    let m2 = accept_new(&store, "L2", ADT_CHANGED).await;
    let mut b = ApplyBatch::new(m2, lineage(None));
    b.possible_matches
        .push(ehrkit_pipeline::store::NewPossibleMatch {
            source_key: "B|2".into(),
            enterprise_id: EnterpriseId(2),
            candidate_key: "A|1".into(),
            candidate_enterprise_id: EnterpriseId(1),
            weight: 3.0,
        });
    store.apply(b).await.unwrap();
    assert_eq!(store.possible_matches(false).await.unwrap().len(), 1);

    store
        .save_links(
            vec![PatientLink {
                record: rec("A|1", "SMITH", "ROBERT"),
                enterprise_id: EnterpriseId(9),
                source: "reviewer".into(),
            }],
            None,
            vec![
                ehrkit_pipeline::store::AuditEvent::new(AuditEventKind::Linked, "alice")
                    .entity("E9"),
            ],
        )
        .await
        .unwrap();
    let sp = store.source_patients(EnterpriseId(9)).await.unwrap();
    assert_eq!(sp.len(), 1);
    assert_eq!(sp[0].source, "a");
    assert!(store
        .source_patients(EnterpriseId(1))
        .await
        .unwrap()
        .is_empty());
    let last = store.audit_entries(1, 1000).await.unwrap();
    assert_eq!(last.last().unwrap().event.actor, "alice");

    let ids = store.messages_received(0, i64::MAX, 10).await.unwrap();
    assert_eq!(ids, vec![m1, m2]);
    assert_eq!(
        store.messages_received(0, i64::MAX, 1).await.unwrap(),
        vec![m1]
    );
    assert!(store.messages_received(0, 1, 10).await.unwrap().is_empty());
}

/// A new version only when the body changes; history and lineage per application.
pub async fn versions_and_lineage(store: DynStore) {
    let m1 = accept_new(&store, "V1", ADT).await;
    let mut b = ApplyBatch::new(m1, lineage(Some("1")));
    b.resources
        .push(res("Observation", "o1", "{\"v\":1}", Some("EPIC|1001")));
    let a = store.apply(b).await.unwrap();
    assert_eq!((a.resources[0].version, a.resources[0].changed), (1, true));

    // Same body again (reprocess): no new version, lineage still records it.
    let mut b = ApplyBatch::new(m1, lineage(Some("1")));
    b.mode = ApplyMode::Reprocess;
    b.resources
        .push(res("Observation", "o1", "{\"v\":1}", Some("EPIC|1001")));
    let a = store.apply(b).await.unwrap();
    assert!(!a.already_processed);
    assert_eq!((a.resources[0].version, a.resources[0].changed), (1, false));

    // Changed body from another message: version 2.
    let m2 = accept_new(&store, "V2", ADT_CHANGED).await;
    let mut b = ApplyBatch::new(m2, lineage(Some("2")));
    b.resources
        .push(res("Observation", "o1", "{\"v\":2}", Some("EPIC|1001")));
    // The same resource twice in one batch with one body: one new version.
    b.resources
        .push(res("Observation", "o1", "{\"v\":2}", Some("EPIC|1001")));
    let a = store.apply(b).await.unwrap();
    assert_eq!((a.resources[0].version, a.resources[0].changed), (2, true));
    assert_eq!((a.resources[1].version, a.resources[1].changed), (2, false));

    let hist = store
        .resource_history("Observation", "o1", "tester")
        .await
        .unwrap();
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[0].body, "{\"v\":1}");
    assert_eq!(hist[1].body, "{\"v\":2}");
    assert_eq!(hist[1].message_id, m2);
    assert_eq!(
        hist[1].lineage.profile.as_ref().map(|p| p.version.as_str()),
        Some("2")
    );
    let cur = store
        .resource("Observation", "o1", "tester")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((cur.version, cur.body.as_str()), (2, "{\"v\":2}"));
    assert!(store
        .resource("Observation", "nope", "tester")
        .await
        .unwrap()
        .is_none());
    let lin = store.lineage(m1).await.unwrap();
    assert_eq!(lin.len(), 2);
    assert!(lin[0].changed && !lin[1].changed);
    assert_eq!(store.lineage(m2).await.unwrap().len(), 2);
    assert_eq!(store.summary().await.unwrap().resources, 1);
    // Unknown message: typed error, nothing written.
    let err = store
        .apply(ApplyBatch::new(MessageId(m2.0 + 1000), lineage(None)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

/// Dead letter a message (not pending any more), dead-letter it again (updated, not
/// duplicated), reprocess it and mark the dead letter reprocessed.
pub async fn dead_letters_and_reprocess(store: DynStore) {
    let id = accept_new(&store, "DL1", ADT).await;
    let f = |attempts| NewDeadLetter {
        message_id: Some(id),
        stage: "convert".into(),
        error_kind: "UnknownMessageType".into(),
        location: Some("MSH-9".into()),
        attempts,
        reason: "no map".into(),
    };
    let dl = store.dead_letter(f(1)).await.unwrap();
    assert_eq!(
        store.message(id).await.unwrap().state,
        InboxState::DeadLettered
    );
    assert!(store.pending(10).await.unwrap().is_empty());
    let again = store.dead_letter(f(3)).await.unwrap();
    assert_eq!(again, dl);
    let open = store.dead_letters(true).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].failure.attempts, 3);
    assert_eq!(open[0].failure.location.as_deref(), Some("MSH-9"));
    assert_eq!(store.summary().await.unwrap().dead_letter, 1);
    // A failure with no message (bad framing) is kept too.
    let orphan = store
        .dead_letter(NewDeadLetter {
            message_id: None,
            stage: "parse".into(),
            error_kind: "Framing".into(),
            location: None,
            attempts: 1,
            reason: "no MSH".into(),
        })
        .await
        .unwrap();
    assert_ne!(orphan, dl);

    // First mode on a dead-lettered message does nothing; Reprocess applies it.
    let mut b = ApplyBatch::new(id, lineage(Some("2")));
    b.resources.push(res("Patient", "p1", "{}", None));
    assert!(store.apply(b.clone()).await.unwrap().already_processed);
    b.mode = ApplyMode::Reprocess;
    let a = store.apply(b).await.unwrap();
    assert_eq!(a.resources.len(), 1);
    store.mark_reprocessed(dl, "alice").await.unwrap();
    let d = store.dead_letter_by_id(dl).await.unwrap();
    assert_eq!(d.status, DeadLetterStatus::Reprocessed);
    assert_eq!(store.dead_letters(true).await.unwrap().len(), 1);
    assert_eq!(store.dead_letters(false).await.unwrap().len(), 2);
    assert_eq!(
        store.message(id).await.unwrap().state,
        InboxState::Processed
    );
    assert!(matches!(
        store.mark_reprocessed(dl_plus(dl), "alice").await,
        Err(StoreError::NotFound { .. })
    ));
    let last = store.audit_entries(1, 1000).await.unwrap();
    let last = last.last().unwrap();
    assert_eq!(last.event.kind, AuditEventKind::Reprocessed);
    assert_eq!(last.event.actor, "alice");
    assert_eq!(last.event.message_id, Some(id));
}

/// A message applied, then dead-lettered by a sink (stage `deliver`), then delivered again
/// without applying again (the runtime's redelivery) and marked reprocessed: it ends
/// processed, not dead, and no dead letter is open for it any more.
pub async fn redelivered_message_ends_processed(store: DynStore) {
    let id = accept_new(&store, "RD1", ADT).await;
    let mut b = ApplyBatch::new(id, lineage(None));
    b.resources.push(res("Patient", "rd1", "{}", None));
    assert!(!store.apply(b).await.unwrap().already_processed);
    let dl = store
        .dead_letter(NewDeadLetter {
            message_id: Some(id),
            stage: "deliver".into(),
            error_kind: "Sink".into(),
            location: Some("fhir-server".into()),
            attempts: 3,
            reason: "server answered 503".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        store.message(id).await.unwrap().state,
        InboxState::DeadLettered
    );
    // Redelivered (no apply), then marked reprocessed.
    store.mark_reprocessed(dl, "alice").await.unwrap();
    assert_eq!(
        store.message(id).await.unwrap().state,
        InboxState::Processed
    );
    assert!(store.dead_letters(true).await.unwrap().is_empty());
    assert!(store.pending(10).await.unwrap().is_empty());
    assert_eq!(store.summary().await.unwrap().dead_letter, 0);
    // A recovery run does not apply it again.
    let again = ApplyBatch::new(id, lineage(None));
    assert!(store.apply(again).await.unwrap().already_processed);
    // A dead letter of a message that was never applied, marked reprocessed after its
    // Reprocess apply, ends processed too.
    let id2 = accept_new(&store, "RD2", ADT).await;
    let dl2 = store
        .dead_letter(NewDeadLetter {
            message_id: Some(id2),
            stage: "convert".into(),
            error_kind: "UnknownMessageType".into(),
            location: None,
            attempts: 1,
            reason: "no map".into(),
        })
        .await
        .unwrap();
    let mut b = ApplyBatch::new(id2, lineage(None));
    b.mode = ApplyMode::Reprocess;
    store.apply(b).await.unwrap();
    store.mark_reprocessed(dl2, "alice").await.unwrap();
    assert_eq!(
        store.message(id2).await.unwrap().state,
        InboxState::Processed
    );
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { .. }
    ));
}

fn dl_plus(d: ehrkit_pipeline::store::DeadLetterId) -> ehrkit_pipeline::store::DeadLetterId {
    ehrkit_pipeline::store::DeadLetterId(d.0 + 1000)
}

/// Profiles: first version active, later ones saved inactive, activate, rollback, conflicts.
pub async fn profiles_and_rollback(store: DynStore) {
    let p = |v: &str| ProfileRef {
        name: "epic-adt".into(),
        version: v.into(),
    };
    store.save_profile(p("1"), "one".into()).await.unwrap();
    store.save_profile(p("2"), "two".into()).await.unwrap();
    store.save_profile(p("3"), "three".into()).await.unwrap();
    // Same body again: no-op; another body: conflict.
    store.save_profile(p("2"), "two".into()).await.unwrap();
    assert!(matches!(
        store.save_profile(p("2"), "other".into()).await,
        Err(StoreError::ProfileConflict { .. })
    ));
    let active = store.active_profile("epic-adt").await.unwrap().unwrap();
    assert_eq!(active.profile.version, "1");
    store.activate_profile(&p("3")).await.unwrap();
    assert_eq!(
        store
            .active_profile("epic-adt")
            .await
            .unwrap()
            .unwrap()
            .body,
        "three"
    );
    let back = store.rollback_profile("epic-adt").await.unwrap();
    assert_eq!(back.profile.version, "2");
    assert!(back.active);
    let back = store.rollback_profile("epic-adt").await.unwrap();
    assert_eq!(back.profile.version, "1");
    assert!(matches!(
        store.rollback_profile("epic-adt").await,
        Err(StoreError::NoEarlierProfile { .. })
    ));
    let versions: Vec<(String, bool)> = store
        .profile_versions("epic-adt")
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.profile.version, s.active))
        .collect();
    assert_eq!(
        versions,
        vec![
            ("1".to_string(), true),
            ("2".to_string(), false),
            ("3".to_string(), false)
        ]
    );
    assert!(matches!(
        store.activate_profile(&p("9")).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.profile(&p("9")).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.active_profile("none").await.unwrap().is_none());
}

/// `$everything` across two sources of one enterprise id, resources by type since a time,
/// source patients, and `Read` audit events for each query.
pub async fn queries(store: DynStore) {
    let m1 = accept_new(&store, "Q1", ADT).await;
    let mut b = ApplyBatch::new(m1, lineage(None));
    b.resources
        .push(res("Patient", "pa", "{\"p\":\"a\"}", Some("A|1")));
    b.resources
        .push(res("Observation", "oa", "{\"o\":\"a\"}", Some("A|1")));
    b.resources.push(res("Organization", "org", "{}", None));
    b.patients.push(PatientLink {
        record: rec("A|1", "SMITH", "ROBERT"),
        enterprise_id: EnterpriseId(7),
        source: "a".into(),
    });
    store.apply(b).await.unwrap();
    let before_second = store
        .resources_by_type("Observation", None, 10, "t")
        .await
        .unwrap()[0]
        .stored_at;
    // Make the second write's time strictly later.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let m2 = accept_new(&store, "Q2", ADT_CHANGED).await;
    let mut b = ApplyBatch::new(m2, lineage(None));
    b.resources
        .push(res("Patient", "pb", "{\"p\":\"b\"}", Some("B|9")));
    b.resources
        .push(res("Observation", "ob", "{\"o\":\"b\"}", Some("B|9")));
    b.patients.push(PatientLink {
        record: rec("B|9", "SMITH", "BOB"),
        enterprise_id: EnterpriseId(7),
        source: "b".into(),
    });
    b.patients.push(PatientLink {
        record: rec("C|3", "JONES", "ANN"),
        enterprise_id: EnterpriseId(8),
        source: "c".into(),
    });
    store.apply(b).await.unwrap();

    let e = store
        .patient_everything(EnterpriseId(7), "dr-who")
        .await
        .unwrap();
    assert_eq!(e.enterprise_id, EnterpriseId(7));
    let keys: Vec<&str> = e.source_patients.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, vec!["A|1", "B|9"]);
    let ids: Vec<String> = e
        .resources
        .iter()
        .map(|r| format!("{}/{}", r.resource_type, r.id))
        .collect();
    assert_eq!(
        ids,
        vec![
            "Observation/oa",
            "Observation/ob",
            "Patient/pa",
            "Patient/pb"
        ]
    );
    let all = store
        .resources_by_type("Observation", None, 10, "t")
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let later = store
        .resources_by_type("Observation", Some(before_second + 1), 10, "t")
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].id, "ob");
    assert_eq!(
        store
            .resources_by_type("Observation", None, 1, "t")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.source_patients(EnterpriseId(8)).await.unwrap()[0].source,
        "c"
    );
    let s = store.summary().await.unwrap();
    assert_eq!(
        (s.resources, s.source_patients, s.enterprise_patients),
        (5, 3, 2)
    );
    let reads = store
        .audit_entries(1, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.kind == AuditEventKind::Read)
        .collect::<Vec<_>>();
    assert_eq!(reads.len(), 5);
    assert_eq!(reads[0].event.actor, "t");
    assert!(reads.iter().any(|r| r.event.actor == "dr-who"));
    let linked = store
        .audit_entries(1, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.kind == AuditEventKind::Linked)
        .count();
    assert_eq!(linked, 3);
}

/// Builds some audit rows and checks the chain; then `tamper` edits row 3 behind the store's
/// back and verification names it.
pub async fn audit_chain_and_tampering(store: DynStore, tamper: impl FnOnce()) {
    let id = accept_new(&store, "AU1", ADT).await;
    store.accept(v2("AU1", ADT)).await.unwrap();
    let mut b = ApplyBatch::new(id, lineage(None));
    b.resources.push(res("Patient", "p", "{}", None));
    store.apply(b).await.unwrap();
    store.resource("Patient", "p", "alice").await.unwrap();
    let entries = store.audit_entries(1, 100).await.unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0].prev_hash, "0".repeat(64));
    assert_eq!(entries[1].prev_hash, entries[0].hash);
    let AuditVerification::Intact { rows, head } = store.verify_audit().await.unwrap() else {
        panic!("chain should verify")
    };
    assert_eq!(rows, 4);
    assert_eq!(head, entries[3].hash);
    tamper();
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Broken {
            seq: 3,
            reason: "hash mismatch"
        }
    );
}

/// With encryption configured, `raw` (the table bytes as the database holds them, as text)
/// shows neither the payload nor the resource body; the store still reads them back.
pub async fn encryption_seals_payloads_and_bodies(store: DynStore, raw: impl Fn() -> String) {
    let id = accept_new(&store, "ENC1", ADT).await;
    let mut b = ApplyBatch::new(id, lineage(None));
    b.resources.push(res(
        "Patient",
        "p1",
        "{\"name\":\"SECRETFAMILYNAME\"}",
        Some("EPIC|1001"),
    ));
    b.patients.push(PatientLink {
        record: rec("EPIC|1001", "SECRETFAMILYNAME", "ROBERT"),
        enterprise_id: EnterpriseId(1),
        source: "epic-adt".into(),
    });
    store.apply(b).await.unwrap();
    let dump = raw();
    assert!(!dump.is_empty(), "the raw dump read nothing");
    assert!(!dump.contains("SECRETFAMILYNAME"), "plain text at rest");
    assert!(!dump.contains("SMITH^ROBERT"), "plain payload at rest");
    assert_eq!(store.message(id).await.unwrap().payload, ADT.as_bytes());
    let r = store.resource("Patient", "p1", "t").await.unwrap().unwrap();
    assert!(r.body.contains("SECRETFAMILYNAME"));
    let e = store
        .patient_everything(EnterpriseId(1), "t")
        .await
        .unwrap();
    assert_eq!(e.resources.len(), 1);
}

/// A fixed scenario whose summary JSON is compared across backends.
pub async fn scenario_summary(store: DynStore) -> String {
    let m1 = accept_new(&store, "S1", ADT).await;
    store.accept(v2("S1", ADT)).await.unwrap();
    store.accept(v2("S1", ADT_CHANGED)).await.unwrap();
    let m3 = accept_new(&store, "S3", ADT).await;
    let mut b = ApplyBatch::new(m1, lineage(None));
    b.resources.push(res("Patient", "p1", "{}", Some("K|1")));
    b.resources.push(res("Encounter", "e1", "{}", Some("K|1")));
    b.patients.push(PatientLink {
        record: rec("K|1", "A", "B"),
        enterprise_id: EnterpriseId(1),
        source: "s".into(),
    });
    b.patients.push(PatientLink {
        record: rec("K|2", "A", "C"),
        enterprise_id: EnterpriseId(2),
        source: "s".into(),
    });
    b.possible_matches
        .push(ehrkit_pipeline::store::NewPossibleMatch {
            source_key: "K|2".into(),
            enterprise_id: EnterpriseId(2),
            candidate_key: "K|1".into(),
            candidate_enterprise_id: EnterpriseId(1),
            weight: 7.5,
        });
    store.apply(b).await.unwrap();
    store
        .dead_letter(NewDeadLetter {
            message_id: Some(m3),
            stage: "route".into(),
            error_kind: "NoRoute".into(),
            location: None,
            attempts: 1,
            reason: "no route".into(),
        })
        .await
        .unwrap();
    let pm = store.possible_matches(true).await.unwrap();
    assert_eq!(pm.len(), 1);
    assert_eq!(pm[0].pair.weight, 7.5);
    serde_json::to_string(&store.summary().await.unwrap()).unwrap()
}
