//! Versioned transformations (issue 15 item 10): a site saves profile v1, ingests, saves v2 (a
//! new source time zone), reprocesses the messages of a time range with v2, then rolls back to
//! v1 and reprocesses again: resources get new versions recording the profile version each
//! time, and nothing is duplicated.

use std::sync::Arc;
use std::time::Duration;

use ehrkit_mapping::Profile;
use ehrkit_pipeline::store::{
    now_ms, PayloadKind, ProfileRef, SqliteOptions, SqliteStore, Store, StoredResource,
};
use ehrkit_pipeline::{Pipeline, RoutingTable};
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
    let store =
        Arc::new(SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap());
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
