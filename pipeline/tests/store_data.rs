//! Resources with version history and lineage, queries, the MPI snapshot and review queue,
//! dead letters, versioned profiles and the summary.

use ehrkit_identity::{EnterpriseId, FsModel, MatchConfig, PatientIndex, PatientRecord};
use ehrkit_pipeline::store::{
    Accepted, ApplyBatch, ApplyMode, DeadLetterStatus, IdempotencyKey, InboundMessage, InboxState,
    Lineage, MessageId, MpiState, NewDeadLetter, NewPossibleMatch, PatientLink, PayloadKind,
    ProfileRef, ResourceWrite, ReviewStatus, SqliteOptions, SqliteStore, Store, StoreError,
    Summary,
};

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap()
}

/// A new store in a new temporary directory (keep the directory alive as long as the store).
fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    (dir, store)
}

async fn accept(store: &SqliteStore, source: &str, control: &str) -> MessageId {
    let msg = InboundMessage::new(
        IdempotencyKey::v2(source, "HOSP", control),
        format!("MSH|^~\\&|{source}|HOSP|||||ADT^A01|{control}|P|2.5\r").into_bytes(),
        PayloadKind::Hl7v2,
        source,
    );
    match store.accept(msg).await.unwrap() {
        Accepted::New(id) => id,
        other => panic!("{other:?}"),
    }
}

fn lineage(source: &str, profile_version: &str) -> Lineage {
    Lineage {
        source: source.into(),
        profile: Some(ProfileRef {
            name: format!("{source}-profile"),
            version: profile_version.into(),
        }),
        converter_version: "ehrkit-mapping 0.1.0".into(),
    }
}

fn res(t: &str, id: &str, body: &str, patient: Option<&str>) -> ResourceWrite {
    ResourceWrite {
        resource_type: t.into(),
        id: id.into(),
        body: body.into(),
        patient_key: patient.map(str::to_string),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_only_when_content_changes_with_lineage_per_version() {
    let (_dir, store) = fresh();
    let obs_v1 = r#"{"resourceType":"Observation","id":"o1","status":"preliminary"}"#;
    let obs_v2 = r#"{"resourceType":"Observation","id":"o1","status":"final"}"#;

    let m1 = accept(&store, "CERNER", "1").await;
    let mut b = ApplyBatch::new(m1, lineage("CERNER", "1"));
    b.resources
        .push(res("Observation", "o1", obs_v1, Some("CERNER|77")));
    let out = store.apply(b).await.unwrap();
    assert_eq!(
        (out.resources[0].version, out.resources[0].changed),
        (1, true)
    );

    // Same content from another message: no new version, lineage still records it.
    let m2 = accept(&store, "CERNER", "2").await;
    let mut b = ApplyBatch::new(m2, lineage("CERNER", "1"));
    b.resources
        .push(res("Observation", "o1", obs_v1, Some("CERNER|77")));
    let out = store.apply(b).await.unwrap();
    assert_eq!(
        (out.resources[0].version, out.resources[0].changed),
        (1, false)
    );

    // Changed content: version 2 with its own lineage.
    let m3 = accept(&store, "CERNER", "3").await;
    let mut b = ApplyBatch::new(m3, lineage("CERNER", "2"));
    b.resources
        .push(res("Observation", "o1", obs_v2, Some("CERNER|77")));
    let out = store.apply(b).await.unwrap();
    assert_eq!(
        (out.resources[0].version, out.resources[0].changed),
        (2, true)
    );

    let hist = store
        .resource_history("Observation", "o1", "test")
        .await
        .unwrap();
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[0].body, obs_v1);
    assert_eq!(hist[0].message_id, m1);
    assert_eq!(hist[1].body, obs_v2);
    assert_eq!(hist[1].message_id, m3);
    assert_eq!(
        hist[1].lineage.profile.as_ref().unwrap().version,
        "2",
        "the profile version that produced version 2"
    );
    assert_eq!(hist[1].lineage.converter_version, "ehrkit-mapping 0.1.0");

    let cur = store
        .resource("Observation", "o1", "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((cur.version, cur.body.as_str()), (2, obs_v2));

    let l2 = store.lineage(m2).await.unwrap();
    assert_eq!(l2.len(), 1);
    assert_eq!((l2[0].version, l2[0].changed), (1, false));
    let l3 = store.lineage(m3).await.unwrap();
    assert_eq!(
        (l3[0].id.as_str(), l3[0].version, l3[0].changed),
        ("o1", 2, true)
    );
    assert_eq!(store.summary().await.unwrap().resources, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprocessing_with_a_new_profile_and_rolling_back_never_duplicates() {
    let (_dir, store) = fresh();
    let v1 = ProfileRef {
        name: "epic-adt".into(),
        version: "1".into(),
    };
    let v2 = ProfileRef {
        name: "epic-adt".into(),
        version: "2".into(),
    };
    store
        .save_profile(v1.clone(), "dates = 'us'".into())
        .await
        .unwrap();
    store
        .save_profile(v2.clone(), "dates = 'iso'".into())
        .await
        .unwrap();
    // Saving the same version again is a no-op; with another body it is refused.
    store
        .save_profile(v1.clone(), "dates = 'us'".into())
        .await
        .unwrap();
    assert!(matches!(
        store.save_profile(v1.clone(), "changed".into()).await,
        Err(StoreError::ProfileConflict { .. })
    ));
    // The first saved version is active until another is activated.
    assert_eq!(
        store
            .active_profile("epic-adt")
            .await
            .unwrap()
            .unwrap()
            .profile,
        v1
    );
    store.activate_profile(&v2).await.unwrap();
    assert_eq!(
        store
            .active_profile("epic-adt")
            .await
            .unwrap()
            .unwrap()
            .profile,
        v2
    );
    let versions = store.profile_versions("epic-adt").await.unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions[1].active && !versions[0].active);
    assert_eq!(store.profile(&v2).await.unwrap().body, "dates = 'iso'");

    // Apply with v1, reprocess with v2 (different output), roll back and reprocess again.
    let m = accept(&store, "EPIC", "9").await;
    let out_v1 = r#"{"resourceType":"Patient","id":"p1","birthDate":"1970-03-14"}"#;
    let out_v2 = r#"{"resourceType":"Patient","id":"p1","birthDate":"1970-14-03"}"#;
    for (body, profile, mode) in [
        (out_v1, "1", ApplyMode::First),
        (out_v2, "2", ApplyMode::Reprocess),
    ] {
        let mut b = ApplyBatch::new(m, lineage("EPIC", profile));
        b.mode = mode;
        b.resources.push(res("Patient", "p1", body, Some("EPIC|1")));
        store.apply(b).await.unwrap();
    }
    let back = store.rollback_profile("epic-adt").await.unwrap();
    assert_eq!(back.profile, v1);
    assert!(back.active);
    assert!(matches!(
        store.rollback_profile("epic-adt").await,
        Err(StoreError::NoEarlierProfile { .. })
    ));
    let mut b = ApplyBatch::new(m, lineage("EPIC", "1"));
    b.mode = ApplyMode::Reprocess;
    b.resources
        .push(res("Patient", "p1", out_v1, Some("EPIC|1")));
    let out = store.apply(b).await.unwrap();
    assert_eq!(out.resources[0].version, 3);
    // A First-mode apply of an already processed message writes nothing.
    let mut again = ApplyBatch::new(m, lineage("EPIC", "1"));
    again.resources.push(res("Patient", "p2", out_v1, None));
    assert!(store.apply(again).await.unwrap().already_processed);

    let s = store.summary().await.unwrap();
    assert_eq!(s.resources, 1, "one resource whatever the reprocessing");
    let hist = store.resource_history("Patient", "p1", "t").await.unwrap();
    let profiles: Vec<_> = hist
        .iter()
        .map(|h| h.lineage.profile.as_ref().unwrap().version.as_str())
        .collect();
    assert_eq!(profiles, ["1", "2", "1"]);
    assert_eq!(store.lineage(m).await.unwrap().len(), 3);
}

fn rec(
    key: &str,
    family: &str,
    given: &str,
    dob: &str,
    authority: &str,
    id: &str,
) -> PatientRecord {
    PatientRecord::builder(key)
        .name(family, given)
        .birth_date_str(dob)
        .identifier(authority, "MR", id)
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpi_snapshot_round_trips_and_everything_spans_sources() {
    let dir = tempfile::tempdir().unwrap();
    let index = PatientIndex::new(FsModel::untrained(MatchConfig::default())).unwrap();
    let a = PatientRecord::builder("EPIC|1001")
        .name("Smith", "Robert")
        .birth_date_str("1970-03-14")
        .ssn("123-45-6789")
        .identifier("EPIC", "MR", "1001")
        .build();
    let b = PatientRecord::builder("CERNER|77")
        .name("SMITH", "Bob")
        .birth_date_str("03/14/1970")
        .ssn("123456789")
        .identifier("CERNER", "MR", "77")
        .build();
    let c = rec("EPIC|2002", "Jones", "Alice", "1985-07-01", "EPIC", "2002");
    {
        let store = open(&dir);
        for (r, src, ctl) in [(&a, "EPIC", "a"), (&b, "CERNER", "b"), (&c, "EPIC", "c")] {
            let m = accept(&store, src, ctl).await;
            let asg = index.upsert(r.clone()).unwrap();
            let mut batch = ApplyBatch::new(m, lineage(src, "1"));
            batch.patients.push(PatientLink {
                record: r.clone(),
                enterprise_id: asg.enterprise_id,
                source: src.into(),
            });
            batch.mpi_state = Some(MpiState(index.snapshot().unwrap()));
            batch.resources.push(res(
                "Patient",
                &r.key.replace('|', "-"),
                &format!(
                    r#"{{"resourceType":"Patient","id":"{}"}}"#,
                    r.key.replace('|', "-")
                ),
                Some(&r.key),
            ));
            batch.resources.push(res(
                "Encounter",
                &format!("enc-{ctl}"),
                r#"{"resourceType":"Encounter"}"#,
                Some(&r.key),
            ));
            store.apply(batch).await.unwrap();
        }
    }
    let store = open(&dir);
    let snap = store.load_mpi().await.unwrap().expect("saved");
    let reloaded = PatientIndex::from_snapshot(snap).unwrap();
    assert_eq!(reloaded.len(), 3);
    let before = index.snapshot().unwrap();
    let after = reloaded.snapshot().unwrap();
    assert_eq!(before.records, after.records);
    assert_eq!(before.next_eid, after.next_eid);

    let eid_a = before.records[0].1;
    let eid_c = before.records[2].1;
    let everything = store
        .patient_everything(eid_a, "clinician-app")
        .await
        .unwrap();
    let keys: Vec<_> = everything
        .source_patients
        .iter()
        .map(|s| s.key.as_str())
        .collect();
    // Bob Smith from Cerner (nickname, US date, same SSN) is Robert Smith from Epic.
    assert_eq!(before.records[1].1, eid_a, "the index links them");
    assert_eq!(keys, ["CERNER|77", "EPIC|1001"]);
    assert_eq!(everything.resources.len(), 4, "both sources' resources");
    assert!(everything
        .resources
        .iter()
        .all(|r| r.patient_key.as_deref() != Some("EPIC|2002")));
    let other = store
        .patient_everything(eid_c, "clinician-app")
        .await
        .unwrap();
    assert_eq!(other.resources.len(), 2);

    let s = store.summary().await.unwrap();
    assert_eq!(s.source_patients, 3);
    assert_eq!(s.enterprise_patients, 2);
    assert_eq!(s.resources, 6);

    let encs = store
        .resources_by_type("Encounter", None, 10, "t")
        .await
        .unwrap();
    assert_eq!(encs.len(), 3);
    let later = store
        .resources_by_type("Encounter", Some(encs[2].stored_at + 1), 10, "t")
        .await
        .unwrap();
    assert!(later.is_empty());
    assert_eq!(
        store
            .resources_by_type("Encounter", None, 2, "t")
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn possible_matches_are_queued_once_listed_and_resolved() {
    let (_dir, store) = fresh();
    let m = accept(&store, "EPIC", "1").await;
    let pm = NewPossibleMatch {
        source_key: "EPIC|1".into(),
        enterprise_id: EnterpriseId(1),
        candidate_key: "ATHENA|9".into(),
        candidate_enterprise_id: EnterpriseId(2),
        weight: 3.5,
    };
    let mut b = ApplyBatch::new(m, lineage("EPIC", "1"));
    b.possible_matches.push(pm.clone());
    b.possible_matches.push(pm.clone()); // queued twice by mistake: kept once
    store.apply(b).await.unwrap();
    let open_items = store.possible_matches(true).await.unwrap();
    assert_eq!(open_items.len(), 1);
    assert_eq!(open_items[0].pair, pm);
    assert_eq!(store.summary().await.unwrap().possible_matches, 1);
    let r = store
        .resolve_possible_match(open_items[0].id, ReviewStatus::Linked, "reviewer-1")
        .await
        .unwrap();
    assert_eq!(r.status, ReviewStatus::Linked);
    assert_eq!(r.resolved_by.as_deref(), Some("reviewer-1"));
    assert!(store.possible_matches(true).await.unwrap().is_empty());
    assert_eq!(store.possible_matches(false).await.unwrap().len(), 1);
    assert_eq!(store.summary().await.unwrap().possible_matches, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_lifecycle_list_inspect_reprocess() {
    let (_dir, store) = fresh();
    let m = accept(&store, "VERADIGM", "bad").await;
    let failure = NewDeadLetter {
        message_id: Some(m),
        stage: "parse".into(),
        error_kind: "MissingSegment".into(),
        location: Some("segment 1".into()),
        attempts: 3,
        reason: "MSH-9 is empty".into(),
    };
    let id = store.dead_letter(failure.clone()).await.unwrap();
    assert_eq!(
        store.message(m).await.unwrap().state,
        InboxState::DeadLettered
    );
    assert!(
        store.pending(10).await.unwrap().is_empty(),
        "no longer pending"
    );
    let listed = store.dead_letters(true).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].failure, failure);
    assert_eq!(store.summary().await.unwrap().dead_letter, 1);

    // Failing again (another attempt) updates the same dead letter.
    let mut again = failure.clone();
    again.attempts = 4;
    again.stage = "convert".into();
    assert_eq!(store.dead_letter(again).await.unwrap(), id);
    let d = store.dead_letter_by_id(id).await.unwrap();
    assert_eq!(
        (d.failure.attempts, d.failure.stage.as_str()),
        (4, "convert")
    );

    // Fixed: reprocess the message, then mark the dead letter reprocessed.
    let mut b = ApplyBatch::new(m, lineage("VERADIGM", "2"));
    b.mode = ApplyMode::Reprocess;
    b.resources.push(res("Appointment", "a1", "{}", None));
    store.apply(b).await.unwrap();
    store.mark_reprocessed(id, "ops").await.unwrap();
    assert_eq!(
        store.dead_letter_by_id(id).await.unwrap().status,
        DeadLetterStatus::Reprocessed
    );
    assert!(store.dead_letters(true).await.unwrap().is_empty());
    assert_eq!(store.dead_letters(false).await.unwrap().len(), 1);
    assert_eq!(store.message(m).await.unwrap().state, InboxState::Processed);
    assert!(matches!(
        store
            .mark_reprocessed(ehrkit_pipeline::store::DeadLetterId(999), "ops")
            .await,
        Err(StoreError::NotFound { .. })
    ));
    // A failure before the inbox (no message) is kept too.
    store
        .dead_letter(NewDeadLetter {
            message_id: None,
            stage: "parse".into(),
            error_kind: "NotHl7".into(),
            location: None,
            attempts: 1,
            reason: "no MSH segment".into(),
        })
        .await
        .unwrap();
    let s = store.summary().await.unwrap();
    assert_eq!(
        s,
        Summary {
            received: 1,
            duplicates: 0,
            dead_letter: 1,
            resources: 1,
            source_patients: 0,
            enterprise_patients: 0,
            possible_matches: 0,
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_serializes_to_the_examples_json_keys_in_order() {
    let (_dir, store) = fresh();
    let s = store.summary().await.unwrap();
    assert_eq!(
        serde_json::to_string(&s).unwrap(),
        r#"{"received":0,"duplicates":0,"dead_letter":0,"resources":0,"source_patients":0,"enterprise_patients":0,"possible_matches":0}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_of_an_unknown_message_is_a_typed_error_and_writes_nothing() {
    let (_dir, store) = fresh();
    let mut b = ApplyBatch::new(MessageId(42), lineage("EPIC", "1"));
    b.resources.push(res("Patient", "p", "{}", None));
    assert!(matches!(
        store.apply(b).await,
        Err(StoreError::NotFound {
            what: "message",
            ..
        })
    ));
    assert_eq!(store.summary().await.unwrap().resources, 0);
    assert!(matches!(
        store.message(MessageId(42)).await,
        Err(StoreError::NotFound { .. })
    ));
}
