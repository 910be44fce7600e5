//! Versioned transformations (issue 15 item 10): a site saves profile v1, ingests, saves v2 (a
//! new source time zone), reprocesses the messages of a time range with v2, then rolls back to
//! v1 and reprocesses again: resources get new versions recording the profile version each
//! time, and nothing is duplicated.

use std::sync::Arc;
use std::time::Duration;

#[path = "common/runtime.rs"]
mod common;

use common::sqlite;
use ehrkit_mapping::Profile;
use ehrkit_pipeline::stages::{DefaultNormalizer, Input, Normalized, Normalizer};
use ehrkit_pipeline::store::{
    now_ms, IdempotencyKey, InboundMessage, InboxState, MessageId, PayloadKind, ProfileRef,
    SqliteStore, Store, StoredResource,
};
use ehrkit_pipeline::{ErrorKind, Pipeline, Route, RoutingTable, SkipReason, Stage, StageError};
use serde_json::Value;

const V1: &str = "extends = \"generic\"\nname = \"site\"\nversion = \"1\"\n";
const V2: &str =
    "extends = \"generic\"\nname = \"site\"\nversion = \"2\"\nsource_time_zone = \"America/New_York\"\n";

/// An A01 whose times carry no offset (the profile's time zone decides).
fn a01(control: &str, mrn: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311081502||ADT^A01^ADT_A01|{control}|P|2.5.1\r\
         EVN|A01|20240311081500\r\
         PID|1||{mrn}^^^EPIC^MR||RANGE^ROSA||19800101|F\r\
         PV1|1|I|4W^1^A^UCH||||||||||||||||V{mrn}^^^EPIC^VN|||||||||||||||||||||||||20240311081500\r"
    )
    .into_bytes()
}

fn profile_of(r: &StoredResource) -> Option<String> {
    r.lineage.profile.as_ref().map(|p| p.version.clone())
}

fn encounter_start(r: &StoredResource) -> String {
    let v: Value = serde_json::from_str(&r.body).unwrap();
    v["period"]["start"].as_str().unwrap_or_default().to_owned()
}

async fn encounters(store: &SqliteStore) -> Vec<StoredResource> {
    store
        .resources_by_type("Encounter", None, 1000, "test")
        .await
        .unwrap()
}

async fn ids(store: &SqliteStore, t: &str) -> Vec<String> {
    let mut v: Vec<String> = store
        .resources_by_type(t, None, 1000, "test")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_time_range_is_reprocessed_with_a_new_profile_and_rolled_back_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let v1 = ProfileRef {
        name: "site".into(),
        version: "1".into(),
    };
    store.save_profile(v1.clone(), V1.into()).await.unwrap();
    let p = Pipeline::builder(store.clone())
        .router(RoutingTable::accept_all(Profile::from_toml(V1).unwrap()))
        .start()
        .await
        .unwrap();

    // One message before the range, two inside.
    p.submit(PayloadKind::Hl7v2, a01("R0", "R0"), "mllp", None)
        .await
        .unwrap();
    p.drain().await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let from = now_ms();
    for n in 1..=2 {
        p.submit(
            PayloadKind::Hl7v2,
            a01(&format!("R{n}"), &format!("R{n}")),
            "mllp",
            None,
        )
        .await
        .unwrap();
    }
    p.drain().await;
    let to = now_ms() + 1;
    let before = store.summary().await.unwrap();
    let mut ids_v1 = std::collections::HashMap::new();
    for t in ["Patient", "Encounter", "Location"] {
        ids_v1.insert(t, ids(&store, t).await);
    }
    let enc_v1 = encounters(&store).await;
    assert_eq!(enc_v1.len(), 3);
    assert!(enc_v1
        .iter()
        .all(|r| profile_of(r).as_deref() == Some("1") && r.version == 1));

    // v2: the sender's zone is now known.
    store
        .save_profile(
            ProfileRef {
                name: "site".into(),
                version: "2".into(),
            },
            V2.into(),
        )
        .await
        .unwrap();
    store
        .activate_profile(&ProfileRef {
            name: "site".into(),
            version: "2".into(),
        })
        .await
        .unwrap();
    let report = p.reprocess_range(from, to, "site", "admin").await.unwrap();
    assert_eq!(report.reprocessed.len(), 2, "{report:?}");
    assert!(report.failed.is_empty());
    assert_eq!(
        report.profile.as_ref().map(|p| p.version.as_str()),
        Some("2")
    );
    let after_v2 = store.summary().await.unwrap();
    assert_eq!(
        (after_v2.received, after_v2.dead_letter),
        (before.received, before.dead_letter),
        "nothing new received, nothing failed"
    );
    // No duplicates: every resource v1 wrote keeps its id (a new version, not a new row).
    // v2 may add resources v1 could not write (a Provenance needs EVN-2 as an instant, which
    // only a known time zone gives), never a second copy of one.
    for t in ["Patient", "Encounter", "Location"] {
        assert_eq!(ids(&store, t).await, ids_v1[t], "{t}");
    }
    let enc_v2 = encounters(&store).await;
    assert_eq!(enc_v2.len(), 3);
    for r in &enc_v2 {
        let in_range = r.patient_key.as_deref() != Some("EPIC|R0");
        if in_range {
            assert_eq!(profile_of(r).as_deref(), Some("2"), "{}", r.id);
            assert_eq!(r.version, 2, "a new version, not a new resource");
            assert!(
                encounter_start(r).ends_with("-04:00") || encounter_start(r).ends_with("-05:00"),
                "v2 applies New York time: {}",
                encounter_start(r)
            );
        } else {
            assert_eq!(profile_of(r).as_deref(), Some("1"), "outside the range");
            assert_eq!(r.version, 1);
        }
    }
    let changed_start = enc_v2
        .iter()
        .find(|r| r.patient_key.as_deref() == Some("EPIC|R1"))
        .map(encounter_start)
        .unwrap();

    // Roll back to v1 and reprocess: v1 content again, as a third version; still no duplicates.
    let back = store.rollback_profile("site").await.unwrap();
    assert_eq!(back.profile.version, "1");
    let report = p.reprocess_range(from, to, "site", "admin").await.unwrap();
    assert_eq!(report.reprocessed.len(), 2);
    let after_v1 = store.summary().await.unwrap();
    assert_eq!(after_v1.resources, after_v2.resources, "no duplicates");
    for t in ["Patient", "Encounter", "Location"] {
        assert_eq!(ids(&store, t).await, ids_v1[t], "{t}");
    }
    for r in encounters(&store).await {
        if r.patient_key.as_deref() == Some("EPIC|R1") {
            assert_eq!(profile_of(&r).as_deref(), Some("1"));
            assert_eq!(r.version, 3);
            let first = enc_v1.iter().find(|x| x.id == r.id).unwrap();
            assert_eq!(r.body, first.body, "back to the v1 content");
            assert_ne!(encounter_start(&r), changed_start);
        }
    }
    // Reprocessing again with the same version writes nothing new.
    let history_before = store
        .resource_history("Encounter", &enc_v1[1].id, "test")
        .await
        .unwrap()
        .len();
    p.reprocess_range(from, to, "site", "admin").await.unwrap();
    assert_eq!(
        store
            .resource_history("Encounter", &enc_v1[1].id, "test")
            .await
            .unwrap()
            .len(),
        history_before
    );
    p.shutdown().await;
}

/// The default normalizer, except that a message carrying a `ZV2` segment needs profile
/// version 2 (as a message type a newer mapping supports would), and that FHIR resources
/// depend on the profile when `fhir_uses_profile`.
struct NeedsV2 {
    fhir_uses_profile: bool,
}

impl Normalizer for NeedsV2 {
    fn normalize(&self, input: Input<'_>, route: &Route) -> Result<Normalized, StageError> {
        let marked = input.payload.windows(4).any(|w| w == b"\rZV2");
        if marked && route.profile.version == "1" {
            return Err(StageError::new(
                Stage::Convert,
                ErrorKind::UnsupportedType,
                "needs profile version 2",
            )
            .at("ZV2"));
        }
        DefaultNormalizer.normalize(input, route)
    }

    fn uses_profile(&self, kind: PayloadKind) -> bool {
        kind == PayloadKind::Hl7v2 || self.fhir_uses_profile
    }
}

const FHIR_PATIENT: &str = r#"{"resourceType":"Patient","id":"f1","meta":{"versionId":"1"},
"identifier":[{"system":"urn:oid:1.2.3","value":"F1"}],"name":[{"family":"FHIRSON","given":["Fay"]}],
"birthDate":"1975-05-05"}"#;

struct Range {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    p: Pipeline,
    from: i64,
    to: i64,
    applied: MessageId,
    dead: MessageId,
    pending: MessageId,
    fhir: MessageId,
}

/// Profile v1 active; in the range: an applied A01, a message dead-lettered under v1, a
/// message kept but still pending, and a FHIR Patient. Then v2 is saved and activated.
async fn range(fhir_uses_profile: bool) -> Range {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    store
        .save_profile(
            ProfileRef {
                name: "site".into(),
                version: "1".into(),
            },
            V1.into(),
        )
        .await
        .unwrap();
    let p = Pipeline::builder(store.clone())
        .router(RoutingTable::accept_all(Profile::from_toml(V1).unwrap()))
        .normalizer(NeedsV2 { fhir_uses_profile })
        .start()
        .await
        .unwrap();
    let from = now_ms();
    let submit = |kind: PayloadKind, payload: Vec<u8>, endpoint: &'static str| {
        let p = p.clone();
        async move {
            p.submit(kind, payload, endpoint, None)
                .await
                .unwrap()
                .accepted
                .id()
        }
    };
    let applied = submit(PayloadKind::Hl7v2, a01("S1", "S1"), "mllp").await;
    let mut marked = a01("S2", "S2");
    marked.extend_from_slice(b"ZV2|1\r");
    let dead = submit(PayloadKind::Hl7v2, marked, "mllp").await;
    let fhir = submit(
        PayloadKind::FhirJson,
        FHIR_PATIENT.as_bytes().to_vec(),
        "fhir",
    )
    .await;
    p.drain().await;
    // Kept but not handed to the lanes (as after a crash before processing).
    let pending = store
        .accept(InboundMessage::new(
            IdempotencyKey::v2("EPIC", "UCH", "S3"),
            a01("S3", "S3"),
            PayloadKind::Hl7v2,
            "mllp",
        ))
        .await
        .unwrap()
        .id();
    let to = now_ms() + 1;
    assert_eq!(
        store.message(dead).await.unwrap().state,
        InboxState::DeadLettered
    );
    assert_eq!(store.dead_letters(true).await.unwrap().len(), 1);
    let v2 = ProfileRef {
        name: "site".into(),
        version: "2".into(),
    };
    store.save_profile(v2.clone(), V2.into()).await.unwrap();
    store.activate_profile(&v2).await.unwrap();
    Range {
        _dir: dir,
        store,
        p,
        from,
        to,
        applied,
        dead,
        pending,
        fhir,
    }
}

#[tokio::test]
async fn a_range_reprocesses_its_dead_letters_and_says_why_it_skips_the_rest() {
    let r = range(false).await;
    let dl = r.store.dead_letters(true).await.unwrap()[0].id;
    let report =
        r.p.reprocess_range(r.from, r.to, "site", "admin")
            .await
            .unwrap();
    let mut reprocessed = report.reprocessed.clone();
    reprocessed.sort();
    assert_eq!(reprocessed, [r.applied, r.dead], "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    // The dead letter applied with v2 and left the open dead letters.
    assert_eq!(report.dead_letters_closed, [dl]);
    assert!(r.store.dead_letters(true).await.unwrap().is_empty());
    assert_eq!(r.store.summary().await.unwrap().dead_letter, 0);
    assert_eq!(
        r.store.message(r.dead).await.unwrap().state,
        InboxState::Processed
    );
    let lineage = r.store.lineage(r.dead).await.unwrap();
    assert!(
        lineage.iter().any(|l| l.resource_type == "Patient"
            && l.lineage.profile.as_ref().map(|p| p.version.as_str()) == Some("2")),
        "{lineage:?}"
    );
    // Skipped, each with its reason: the pending one is left to the normal path, the FHIR
    // Patient does not depend on the profile.
    let mut skipped = report.skipped.clone();
    skipped.sort_by_key(|s| s.0);
    let mut expected = vec![
        (r.pending, SkipReason::Pending),
        (r.fhir, SkipReason::ProfileNotUsed),
    ];
    expected.sort_by_key(|s| s.0);
    assert_eq!(skipped, expected);
    assert_eq!(report.skipped_for(SkipReason::Pending), 1);
    // No PHI in the report.
    let text = format!("{report:?}");
    assert!(
        !text.contains("RANGE") && !text.contains("FHIRSON"),
        "{text}"
    );
    assert_eq!(
        r.store.message(r.pending).await.unwrap().state,
        InboxState::Pending,
        "not applied by the range"
    );
    // The normal path applies it.
    assert_eq!(r.p.recover().await.unwrap(), 1);
    r.p.drain().await;
    assert_eq!(
        r.store.message(r.pending).await.unwrap().state,
        InboxState::Processed
    );
    r.p.shutdown().await;
}

#[tokio::test]
async fn a_range_reprocesses_fhir_records_when_the_normalizer_uses_the_profile() {
    let r = range(true).await;
    let report =
        r.p.reprocess_range(r.from, r.to, "site", "admin")
            .await
            .unwrap();
    assert!(report.reprocessed.contains(&r.fhir), "{report:?}");
    assert_eq!(report.skipped, [(r.pending, SkipReason::Pending)]);
    let lineage = r.store.lineage(r.fhir).await.unwrap();
    let last = lineage.last().unwrap();
    assert_eq!(
        last.lineage.profile.as_ref().map(|p| p.version.as_str()),
        Some("2"),
        "{lineage:?}"
    );
    r.p.shutdown().await;
}
