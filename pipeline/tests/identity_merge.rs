//! Identity changes that arrive after the first link: an A40 merge (its own resources stored,
//! the retired enterprise id redirecting to the survivor), an A37 unlink (the MPI split and
//! persisted) and a reviewer's decision on a POSSIBLE MATCH (applied to the MPI).

#[path = "common/runtime.rs"]
mod common;

use std::sync::Arc;

use common::{sqlite, started, submit};
use ehrkit_identity::{FsModel, MatchConfig, PatientIndex};
use ehrkit_pipeline::stages::MpiResolver;
use ehrkit_pipeline::store::{AuditEventKind, ReviewStatus, SqliteStore, Store};
use ehrkit_pipeline::{Pipeline, PipelineEvent};
use serde_json::Value;

fn a04(control: &str, mrn: &str, family: &str, given: &str, dob: &str, sex: &str) -> Vec<u8> {
    pid_msg(
        control,
        &format!("{mrn}^^^EPIC^MR||{family}^{given}||{dob}|{sex}|||1 MAIN ST^^MADISON^WI^53703"),
    )
}

/// An A04 whose PID is `PID|1||` followed by `pid`.
fn pid_msg(control: &str, pid: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311081502-0600||ADT^A04|{control}|P|2.5.1\r\
         EVN|A04|20240311081500-0600\r\
         PID|1||{pid}\r"
    )
    .into_bytes()
}

/// An MPI that links automatically only above weight 30 (the default untrained model links
/// every near-identical pair at once), so a close pair is POSSIBLE and goes to review.
fn review_mpi() -> MpiResolver {
    let mut cfg = MatchConfig::default();
    cfg.thresholds.match_probability = 1.0 - 2f64.powi(-30);
    MpiResolver::new(Arc::new(
        PatientIndex::new(FsModel::untrained(cfg)).unwrap(),
    ))
}

const A40: &str = "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240312||ADT^A40^ADT_A39|G3|P|2.5.1\r\
EVN|A40|20240312\r\
PID|1||G1^^^EPIC^MR||ALPHA^ANNA||19800101|F\r\
MRG|G2^^^EPIC^MR||||||ZULU^BORIS\r";

fn links(body: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(body).unwrap();
    v["link"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["type"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Two patients, then an A40 merging G2 into G1.
async fn merged(p: &Pipeline) -> ehrkit_pipeline::store::MessageId {
    submit(p, a04("G1", "G1", "ALPHA", "ANNA", "19800101", "F")).await;
    submit(p, a04("G2", "G2", "ZULU", "BORIS", "19551231", "M")).await;
    p.drain().await;
    let id = submit(p, A40.as_bytes().to_vec()).await;
    p.drain().await;
    id
}

#[tokio::test]
async fn an_a40_stores_its_patients_and_the_retired_id_redirects_to_the_survivor() {
    let (_dir, store, p) = started().await;
    submit(&p, a04("G1", "G1", "ALPHA", "ANNA", "19800101", "F")).await;
    submit(&p, a04("G2", "G2", "ZULU", "BORIS", "19551231", "M")).await;
    p.drain().await;
    let ix = p.index().unwrap().clone();
    let survivor = ix.enterprise_id("EPIC|G1").unwrap();
    let retired = ix.enterprise_id("EPIC|G2").unwrap();
    assert_ne!(survivor, retired);
    let patients_before = store
        .resources_by_type("Patient", None, 100, "test")
        .await
        .unwrap()
        .len();
    assert_eq!(patients_before, 2);

    let a40 = submit(&p, A40.as_bytes().to_vec()).await;
    p.drain().await;
    let s = p.summary().await.unwrap();
    assert_eq!((s.dead_letter, s.enterprise_patients), (0, 1));

    // The merge message's own resources are stored, with lineage to it.
    let lineage = store.lineage(a40).await.unwrap();
    assert!(
        lineage.iter().any(|l| l.resource_type == "Patient"),
        "the A40's Patients are stored: {lineage:?}"
    );
    let patients = store
        .resources_by_type("Patient", None, 100, "test")
        .await
        .unwrap();
    assert_eq!(
        patients.len(),
        2,
        "the A40 updates the two Patients, it adds none"
    );
    let survivor_patient = patients
        .iter()
        .find(|r| r.patient_key.as_deref() == Some("EPIC|G1"))
        .unwrap();
    let merged_patient = patients
        .iter()
        .find(|r| r.patient_key.as_deref() == Some("EPIC|G2"))
        .unwrap();
    assert!(links(&survivor_patient.body).contains(&"replaces".to_string()));
    assert!(
        links(&survivor_patient.body).contains(&"seealso".to_string()),
        "the enterprise link is kept beside the merge link"
    );
    assert!(links(&merged_patient.body).contains(&"replaced-by".to_string()));
    let merged_v: Value = serde_json::from_str(&merged_patient.body).unwrap();
    assert_eq!(merged_v["active"], Value::Bool(false));

    // The retired enterprise id redirects to the survivor, through the store and the pipeline.
    let through_store = store.patient_everything(retired, "test").await.unwrap();
    assert_eq!(through_store.enterprise_id, survivor, "says where it went");
    assert_eq!(through_store.source_patients.len(), 2);
    assert!(through_store
        .resources
        .iter()
        .any(|r| r.patient_key.as_deref() == Some("EPIC|G1")));
    let through_pipeline = p.patient_everything(retired, "test").await.unwrap();
    assert_eq!(through_pipeline.enterprise_id, survivor);
    assert_eq!(
        through_pipeline.resources.len(),
        store
            .patient_everything(survivor, "test")
            .await
            .unwrap()
            .resources
            .len()
    );
    // Applying the same A40 again (a reprocess) changes nothing.
    let before = store.summary().await.unwrap();
    p.shutdown().await;
    let p = Pipeline::builder(store.clone()).start().await.unwrap();
    assert_eq!(
        p.patient_everything(retired, "test")
            .await
            .unwrap()
            .enterprise_id,
        survivor,
        "the redirect survives a restart"
    );
    assert_eq!(store.summary().await.unwrap(), before);
    p.shutdown().await;
}

#[tokio::test]
async fn an_a37_unlinks_two_merged_patients_and_persists_it() {
    let (_dir, store, p) = started().await;
    merged(&p).await;
    assert_eq!(p.summary().await.unwrap().enterprise_patients, 1);
    let a37 = "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240313||ADT^A37^ADT_A37|G5|P|2.5.1\r\
EVN|A37|20240313\r\
PID|1||G1^^^EPIC^MR||ALPHA^ANNA||19800101|F\r\
PID|2||G2^^^EPIC^MR||ZULU^BORIS||19551231|M\r";
    let id = submit(&p, a37.as_bytes().to_vec()).await;
    p.drain().await;
    let s = p.summary().await.unwrap();
    assert_eq!(
        (s.dead_letter, s.source_patients, s.enterprise_patients),
        (0, 2, 2),
        "the A37 is applied, not dead-lettered"
    );
    let ix = p.index().unwrap().clone();
    let (e1, e2) = (
        ix.enterprise_id("EPIC|G1").unwrap(),
        ix.enterprise_id("EPIC|G2").unwrap(),
    );
    assert_ne!(e1, e2);
    // Audited, with the message.
    let audit = store.audit_entries(0, 10_000).await.unwrap();
    assert!(audit.iter().any(|a| a.event.kind == AuditEventKind::Linked
        && a.event.message_id == Some(id)
        && a.event.detail.as_deref().unwrap_or("").contains("unlink")));
    assert!(store.verify_audit().await.unwrap().is_intact());
    p.shutdown().await;
    // Persisted: a restart sees two identities, each with its own records.
    let p = Pipeline::builder(store.clone()).start().await.unwrap();
    let ix = p.index().unwrap().clone();
    assert_ne!(
        ix.enterprise_id("EPIC|G1").unwrap(),
        ix.enterprise_id("EPIC|G2").unwrap()
    );
    let g1 = p
        .patient_everything(ix.enterprise_id("EPIC|G1").unwrap(), "test")
        .await
        .unwrap();
    assert_eq!(g1.source_patients.len(), 1);
    assert_eq!(store.summary().await.unwrap().enterprise_patients, 2);
    p.shutdown().await;
}

/// The value of a Patient's enterprise `link` (`urn:ehrkit:enterprise-id`).
fn enterprise_link(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).unwrap();
    v["link"].as_array()?.iter().find_map(|l| {
        (l["other"]["identifier"]["system"] == ehrkit_pipeline::ENTERPRISE_ID_SYSTEM)
            .then(|| {
                l["other"]["identifier"]["value"]
                    .as_str()
                    .map(str::to_owned)
            })
            .flatten()
    })
}

#[tokio::test]
async fn an_a37_stores_the_two_patients_it_carries_in_the_same_apply() {
    let (_dir, store, p) = started().await;
    merged(&p).await;
    let before: Vec<_> = store
        .resources_by_type("Patient", None, 100, "test")
        .await
        .unwrap();
    assert_eq!(before.len(), 2);
    // The A37 carries updated demographics for G2 (a new family name).
    let a37 = "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240313||ADT^A37^ADT_A37|G6|P|2.5.1\r\
EVN|A37|20240313\r\
PID|1||G1^^^EPIC^MR||ALPHA^ANNA||19800101|F\r\
PID|2||G2^^^EPIC^MR||ZULU-NEW^BORIS||19551231|M\r";
    let id = submit(&p, a37).await;
    p.drain().await;
    assert_eq!(p.summary().await.unwrap().dead_letter, 0);
    // Lineage: both Patients written by the A37's apply.
    let lineage = store.lineage(id).await.unwrap();
    let mut keys: Vec<String> = Vec::new();
    for l in lineage.iter().filter(|l| l.resource_type == "Patient") {
        let r = store
            .resource("Patient", &l.id, "test")
            .await
            .unwrap()
            .unwrap();
        keys.push(r.patient_key.clone().unwrap());
    }
    keys.sort();
    assert_eq!(keys, ["EPIC|G1", "EPIC|G2"], "{lineage:?}");
    let after = store
        .resources_by_type("Patient", None, 100, "test")
        .await
        .unwrap();
    assert_eq!(
        after.len(),
        2,
        "the same two Patients, updated as by an A08"
    );
    let ix = p.index().unwrap().clone();
    for r in &after {
        let key = r.patient_key.as_deref().unwrap();
        assert_eq!(
            enterprise_link(&r.body),
            Some(ix.enterprise_id(key).unwrap().0.to_string()),
            "{key}: linked to the enterprise id the unlink left it with"
        );
        if key == "EPIC|G2" {
            assert!(r.body.contains("ZULU-NEW"), "the A37's demographics");
            assert_eq!(r.message_id, id);
            assert!(r.version > 1, "a new version of the Patient kept before");
        }
    }
    let (e1, e2) = (
        ix.enterprise_id("EPIC|G1").unwrap(),
        ix.enterprise_id("EPIC|G2").unwrap(),
    );
    assert_ne!(e1, e2);
    // The MPI's records hold the A37's demographics too (as after an A08), still apart: the
    // next message about either patient is matched against what the A37 said.
    let g2 = ix.record("EPIC|G2").unwrap();
    assert_eq!(
        g2.names.first().map(|n| n.family.as_str()),
        Some("ZULU-NEW"),
        "{g2:?}"
    );
    assert_eq!(ix.enterprise_id("EPIC|G2").unwrap(), e2);
    assert!(store.dead_letters(false).await.unwrap().is_empty());
    p.shutdown().await;
}

#[tokio::test]
async fn a_review_linked_is_announced_as_a_merge_like_an_a40() {
    let (_dir, store, p) = review_pipeline().await;
    let open = store.possible_matches(true).await.unwrap();
    assert_eq!(open.len(), 1, "precondition: one POSSIBLE MATCH queued");
    let mut events = p.events();
    p.resolve_review(open[0].id, ReviewStatus::Linked, "reviewer-3")
        .await
        .unwrap();
    let survivor = p.index().unwrap().enterprise_id("EPIC|P1").unwrap();
    let mut merges = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let PipelineEvent::Merged {
            message_id,
            review,
            survivor,
            moved,
        } = e
        {
            merges.push((message_id, review, survivor, moved));
        }
    }
    assert_eq!(merges, [(None, Some(open[0].id), survivor, 1)]);
    // An A40 announces its merge the same way, with its message.
    let mut events = p.events();
    submit(&p, pid_msg("P3", "P3^^^EPIC^MR||XRAY^XENA||19990101|F")).await;
    p.drain().await;
    let a40 = "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240312||ADT^A40^ADT_A39|P4|P|2.5.1\r\
EVN|A40|20240312\r\
PID|1||P1^^^EPIC^MR||JOHNSON^MARY||19700312|F\r\
MRG|P3^^^EPIC^MR\r";
    let a40_id = submit(&p, a40).await;
    p.drain().await;
    let mut a40_merges = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let PipelineEvent::Merged {
            message_id, review, ..
        } = e
        {
            a40_merges.push((message_id, review));
        }
    }
    assert_eq!(a40_merges, [(Some(a40_id), None)]);
    p.shutdown().await;
}

#[tokio::test]
async fn an_a37_splits_two_records_the_mpi_linked_by_itself() {
    let (_dir, _store, p) = started().await;
    // Same person data under two MRNs: the MPI links them (MATCH).
    let twin = "TWIN^ALEX||19900505|M|||5 ELM ST^^MADISON^WI^53703";
    submit(&p, pid_msg("T1", &format!("T1^^^EPIC^MR||{twin}"))).await;
    submit(&p, pid_msg("T2", &format!("T2^^^CERNER^MR||{twin}"))).await;
    p.drain().await;
    let ix = p.index().unwrap().clone();
    assert_eq!(
        ix.enterprise_id("EPIC|T1").unwrap(),
        ix.enterprise_id("CERNER|T2").unwrap(),
        "precondition: linked by MATCH"
    );
    let a37 = "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240313||ADT^A37^ADT_A37|T3|P|2.5.1\r\
EVN|A37|20240313\r\
PID|1||T1^^^EPIC^MR||TWIN^ALEX||19900505|M\r\
PID|2||T2^^^CERNER^MR||TWIN^ALEX||19900505|M\r";
    submit(&p, a37.as_bytes().to_vec()).await;
    p.drain().await;
    assert_ne!(
        ix.enterprise_id("EPIC|T1").unwrap(),
        ix.enterprise_id("CERNER|T2").unwrap()
    );
    assert_eq!(p.summary().await.unwrap().enterprise_patients, 2);
    p.shutdown().await;
}

/// Two records similar enough to be POSSIBLE but not MATCH.
const P1: &str = "P1^^^EPIC^MR||JOHNSON^MARY||19700312|F|||1 MAIN ST^^MADISON^WI^53703";
const P2: &str = "P2^^^CERNER^MR||JOHNSTON^MARY||19700312|F|||9 OAK AVE^^MADISON^WI^53703";

/// A pipeline whose MPI sends P1 and P2 to review, after both were submitted.
async fn review_pipeline() -> (tempfile::TempDir, Arc<SqliteStore>, Pipeline) {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let p = Pipeline::builder(store.clone())
        .identity(review_mpi())
        .start()
        .await
        .unwrap();
    submit(&p, pid_msg("P1", P1)).await;
    submit(&p, pid_msg("P2", P2)).await;
    p.drain().await;
    (dir, store, p)
}

#[tokio::test]
async fn a_review_linked_merges_the_two_identities() {
    let (_dir, store, p) = review_pipeline().await;
    let open = store.possible_matches(true).await.unwrap();
    assert_eq!(open.len(), 1, "precondition: one POSSIBLE MATCH queued");
    let ix = p.index().unwrap().clone();
    let (e1, e2) = (
        ix.enterprise_id("EPIC|P1").unwrap(),
        ix.enterprise_id("CERNER|P2").unwrap(),
    );
    assert_ne!(e1, e2);
    let resolved = p
        .resolve_review(open[0].id, ReviewStatus::Linked, "reviewer-1")
        .await
        .unwrap();
    assert_eq!(resolved.status, ReviewStatus::Linked);
    assert_eq!(
        ix.resolve(ix.enterprise_id("EPIC|P1").unwrap()).unwrap(),
        ix.resolve(ix.enterprise_id("CERNER|P2").unwrap()).unwrap()
    );
    let s = p.summary().await.unwrap();
    assert_eq!((s.enterprise_patients, s.possible_matches), (1, 0));
    let survivor = ix.enterprise_id("EPIC|P1").unwrap();
    let all = p.patient_everything(survivor, "test").await.unwrap();
    assert_eq!(all.source_patients.len(), 2);
    assert_eq!(
        all.resources
            .iter()
            .filter(|r| r.resource_type == "Patient")
            .count(),
        2
    );
    // Both former ids give the same person.
    for e in [e1, e2] {
        assert_eq!(
            p.patient_everything(e, "test")
                .await
                .unwrap()
                .source_patients
                .len(),
            2
        );
    }
    let audit = store.audit_entries(0, 10_000).await.unwrap();
    assert!(audit.iter().any(|a| a.event.actor == "reviewer-1"
        && a.event.detail.as_deref().unwrap_or("").contains("merge")));
    p.shutdown().await;
    // Persisted.
    let p = Pipeline::builder(store.clone()).start().await.unwrap();
    let ix = p.index().unwrap();
    assert_eq!(
        ix.resolve(ix.enterprise_id("EPIC|P1").unwrap()).unwrap(),
        ix.resolve(ix.enterprise_id("CERNER|P2").unwrap()).unwrap()
    );
    assert_eq!(store.summary().await.unwrap().enterprise_patients, 1);
    p.shutdown().await;
}

#[tokio::test]
async fn a_review_distinct_keeps_them_apart_and_is_not_proposed_again() {
    let (_dir, store, p) = review_pipeline().await;
    let open = store.possible_matches(true).await.unwrap();
    assert_eq!(open.len(), 1);
    p.resolve_review(open[0].id, ReviewStatus::Distinct, "reviewer-2")
        .await
        .unwrap();
    assert_eq!(p.summary().await.unwrap().enterprise_patients, 2);
    // Updates of either record (in both directions) do not queue the pair again.
    submit(&p, pid_msg("P1b", P1)).await;
    submit(&p, pid_msg("P2b", P2)).await;
    p.drain().await;
    assert!(
        store.possible_matches(true).await.unwrap().is_empty(),
        "a pair decided distinct is not proposed again"
    );
    assert_eq!(p.summary().await.unwrap().enterprise_patients, 2);
    // Resolving twice is refused, not applied twice.
    assert!(p
        .resolve_review(open[0].id, ReviewStatus::Linked, "reviewer-2")
        .await
        .is_err());
    assert_eq!(p.summary().await.unwrap().enterprise_patients, 2);
    p.shutdown().await;
}

#[tokio::test]
async fn an_a40_with_an_unknown_prior_patient_is_dead_lettered_and_changes_nothing() {
    let (_dir, store, p) = started().await;
    submit(&p, a04("U1", "U1", "UNIFORM", "UMA", "19800101", "F")).await;
    p.drain().await;
    let before = p.index().unwrap().record("EPIC|U1").unwrap();
    let a40 = "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240312||ADT^A40^ADT_A39|U3|P|2.5.1\r\
EVN|A40|20240312\r\
PID|1||U1^^^EPIC^MR||RENAMED^UMA||19800101|F\r\
MRG|U99^^^EPIC^MR\r";
    submit(&p, a40.as_bytes().to_vec()).await;
    p.drain().await;
    let dead = store.dead_letters(true).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].failure.stage.as_str(),
            dead[0].failure.location.as_deref()
        ),
        ("identity", Some("MRG-1"))
    );
    assert_eq!(
        p.index().unwrap().record("EPIC|U1").unwrap(),
        before,
        "the survivor's record is not updated by a merge that failed"
    );
    p.shutdown().await;
}

/// An ORU with two PATIENT_RESULT groups: each patient is linked in the MPI, and each result is
/// stored under the patient whose group carries it, never under the first patient.
#[tokio::test]
async fn each_patient_of_a_two_patient_oru_is_linked_and_owns_only_their_results() {
    let (_dir, store, p) = started().await;
    let oru = "MSH|^~\\&|BEAKER|UCH|HUB|HUB|20240315101500-0500||ORU^R01^ORU_R01|R2|P|2.5.1\r\
PID|1||G1^^^EPIC^MR||ALPHA^ANNA||19800101|F\r\
OBR|1|O1^EPIC|L1^BEAKER|2345-7^Glucose^LN|||20240315071500-0500\r\
OBX|1|NM|2345-7^Glucose^LN||105|mg/dL^^UCUM|||||F\r\
PID|2||G2^^^EPIC^MR||ZULU^BORIS||19551231|M\r\
OBR|1|O2^EPIC|L2^BEAKER|2093-3^Cholesterol^LN|||20240315071500-0500\r\
OBX|1|NM|2093-3^Cholesterol^LN||180|mg/dL^^UCUM|||||F\r";
    submit(&p, oru.as_bytes().to_vec()).await;
    p.drain().await;
    assert_eq!(p.summary().await.unwrap().dead_letter, 0);
    let ix = p.index().unwrap().clone();
    let (e1, e2) = (
        ix.enterprise_id("EPIC|G1").expect("first patient linked"),
        ix.enterprise_id("EPIC|G2").expect("second patient linked"),
    );
    assert_ne!(e1, e2);
    let mut owners: Vec<(String, String)> = Vec::new();
    for rt in ["Patient", "Observation", "DiagnosticReport"] {
        for r in store
            .resources_by_type(rt, None, 100, "test")
            .await
            .unwrap()
        {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            let what = match rt {
                "Patient" => v["name"][0]["family"].as_str().unwrap().to_owned(),
                _ => format!("{rt} {}", v["code"]["coding"][0]["code"].as_str().unwrap()),
            };
            owners.push((what, r.patient_key.clone().unwrap_or_default()));
        }
    }
    owners.sort();
    assert_eq!(
        owners,
        [
            ("ALPHA".to_owned(), "EPIC|G1".to_owned()),
            ("DiagnosticReport 2093-3".to_owned(), "EPIC|G2".to_owned()),
            ("DiagnosticReport 2345-7".to_owned(), "EPIC|G1".to_owned()),
            ("Observation 2093-3".to_owned(), "EPIC|G2".to_owned()),
            ("Observation 2345-7".to_owned(), "EPIC|G1".to_owned()),
            ("ZULU".to_owned(), "EPIC|G2".to_owned()),
        ]
    );
    p.shutdown().await;
}

/// The same patient's PID repeated for a later order group, around another patient's group:
/// the repeat is that patient again (one Patient), and each result still goes to its own.
#[tokio::test]
async fn a_pid_repeated_later_in_an_oru_is_the_same_patient_again() {
    let (_dir, store, p) = started().await;
    let oru = "MSH|^~\\&|BEAKER|UCH|HUB|HUB|20240315101500-0500||ORU^R01^ORU_R01|R3|P|2.5.1\r\
PID|1||G1^^^EPIC^MR||ALPHA^ANNA||19800101|F\r\
OBR|1|O1^EPIC|L1^BEAKER|2345-7^Glucose^LN|||20240315071500-0500\r\
OBX|1|NM|2345-7^Glucose^LN||105|mg/dL^^UCUM|||||F\r\
PID|2||G2^^^EPIC^MR||ZULU^BORIS||19551231|M\r\
OBR|1|O2^EPIC|L2^BEAKER|2093-3^Cholesterol^LN|||20240315071500-0500\r\
OBX|1|NM|2093-3^Cholesterol^LN||180|mg/dL^^UCUM|||||F\r\
PID|3||G1^^^EPIC^MR||ALPHA^ANNA||19800101|F\r\
OBR|1|O3^EPIC|L3^BEAKER|2951-2^Sodium^LN|||20240315071500-0500\r\
OBX|1|NM|2951-2^Sodium^LN||140|mmol/L^^UCUM|||||F\r";
    submit(&p, oru.as_bytes().to_vec()).await;
    p.drain().await;
    assert_eq!(p.summary().await.unwrap().dead_letter, 0);
    let mut owners: Vec<(String, String)> = Vec::new();
    for rt in ["Patient", "Observation"] {
        for r in store
            .resources_by_type(rt, None, 100, "test")
            .await
            .unwrap()
        {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            let what = match rt {
                "Patient" => v["name"][0]["family"].as_str().unwrap().to_owned(),
                _ => v["code"]["coding"][0]["code"].as_str().unwrap().to_owned(),
            };
            owners.push((what, r.patient_key.clone().unwrap_or_default()));
        }
    }
    owners.sort();
    let expect: Vec<(String, String)> = [
        ("2093-3", "EPIC|G2"),
        ("2345-7", "EPIC|G1"),
        ("2951-2", "EPIC|G1"),
        ("ALPHA", "EPIC|G1"),
        ("ZULU", "EPIC|G2"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(owners, expect);
    p.shutdown().await;
}
