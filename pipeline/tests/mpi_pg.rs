//! The shared MPI on a real PostgreSQL (from the test kit; skipped with a notice when it
//! cannot be had): several resolvers, each standing for a processor process with its own
//! connection and local index, take the decisions one index would take.
#![cfg(feature = "postgres")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ehrkit_identity::{EnterpriseId, FsModel, MatchConfig, PatientIndex, PatientRecord};
use ehrkit_pipeline::identity_pg::PgMpiResolver;
use ehrkit_pipeline::stages::{IdentityResolver, MergeRequest, MpiResolver};
use ehrkit_pipeline::ErrorKind;
use ehrkit_testkit::service_or_skip;
use ehrkit_testkit::services::Postgres;

/// Person `p` as seen by `source` (its own key and identifier; formats differ by source).
fn person(source: &str, p: usize) -> PatientRecord {
    let families = [
        "Nakamura",
        "Okafor",
        "Lindqvist",
        "Alvarez",
        "Kowalski",
        "Haddad",
    ];
    let givens = [
        "Haruto", "Adaeze", "Ingrid", "Mateo", "Zofia", "Layla", "Omar",
    ];
    let family = format!("{}{}", families[p % families.len()], p / families.len());
    let given = givens[p % givens.len()];
    let (y, m, d) = (1940 + (p * 7) % 60, 1 + p % 12, 1 + (p * 3) % 28);
    let ssn = format!("{:03}-{:02}-{:04}", 100 + p, 10 + p % 90, 1000 + p);
    let (dob, ssn, family) = if source == "CERNER" {
        (
            format!("{m:02}/{d:02}/{y}"),
            ssn.replace('-', ""),
            family.to_uppercase(),
        )
    } else {
        (format!("{y}-{m:02}-{d:02}"), ssn, family)
    };
    let id = format!("{}{p:04}", &source[..1]);
    PatientRecord::builder(format!("{source}|{id}"))
        .name(&family, given)
        .birth_date_str(&dob)
        .ssn(&ssn)
        .identifier(source, "MR", &id)
        .build()
}

fn eid(r: &dyn IdentityResolver, rec: &PatientRecord) -> EnterpriseId {
    r.resolve(std::slice::from_ref(rec), &[]).unwrap().linked[0]
        .assignment
        .enterprise_id
}

/// Groups of keys sharing an enterprise id (the linking, whatever the id numbers).
fn partition(eids: &BTreeMap<String, EnterpriseId>) -> BTreeSet<BTreeSet<String>> {
    let mut by: BTreeMap<EnterpriseId, BTreeSet<String>> = BTreeMap::new();
    for (k, e) in eids {
        by.entry(*e).or_default().insert(k.clone());
    }
    by.into_values().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_of_one_process_is_matched_by_another_and_upserts_are_idempotent() {
    let pg = service_or_skip!(Postgres::start());
    let a = PgMpiResolver::connect(&pg.url()).await.unwrap();
    let b = PgMpiResolver::connect(&pg.url()).await.unwrap();
    let epic = person("EPIC", 1);
    let cerner = person("CERNER", 1);
    let first = a.resolve(std::slice::from_ref(&epic), &[]).unwrap().linked[0]
        .assignment
        .clone();
    assert!(first.created);
    // B never saw EPIC's record except through the log: it joins the same person.
    let second = b
        .resolve(std::slice::from_ref(&cerner), &[])
        .unwrap()
        .linked[0]
        .assignment
        .clone();
    assert_eq!(second.enterprise_id, first.enterprise_id);
    assert!(!second.created && !second.updated, "a MATCH, not a new id");
    // The same record again (a redelivered message), from either process: same id, an update.
    for r in [&a as &dyn IdentityResolver, &b] {
        let again = r.resolve(std::slice::from_ref(&epic), &[]).unwrap().linked[0]
            .assignment
            .clone();
        assert_eq!(again.enterprise_id, first.enterprise_id);
        assert!(again.updated && !again.created);
    }
    // A third process started later replays the log and agrees.
    let c = PgMpiResolver::connect(&pg.url()).await.unwrap();
    assert_eq!(eid(&c, &cerner), first.enterprise_id);
    let other = eid(&c, &person("EPIC", 2));
    assert_ne!(other, first.enterprise_id);
    assert_eq!(
        pg.psql("SELECT count(*) FROM mpi_log WHERE op = 'upsert'")
            .unwrap(),
        "6"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_concurrent_processes_link_like_one_index() {
    let pg = service_or_skip!(Postgres::start());
    // 60 people, each in EPIC and CERNER, and 20 only in EPIC: 140 records.
    let mut records: Vec<PatientRecord> = Vec::new();
    for p in 0..60 {
        records.push(person("EPIC", p));
        records.push(person("CERNER", p));
    }
    for p in 60..80 {
        records.push(person("EPIC", p));
    }
    // One index, one at a time: the reference.
    let single = MpiResolver::new(Arc::new(
        PatientIndex::new(FsModel::untrained(MatchConfig::default())).unwrap(),
    ));
    let reference: BTreeMap<String, EnterpriseId> = records
        .iter()
        .map(|r| (r.key.clone(), eid(&single, r)))
        .collect();
    assert_eq!(
        partition(&reference).len(),
        80,
        "the fixture links as meant"
    );

    let mut resolvers = Vec::new();
    for _ in 0..4 {
        resolvers.push(PgMpiResolver::connect(&pg.url()).await.unwrap());
    }
    // Four threads (four processes), the two records of a person in different ones, at once.
    let decided: BTreeMap<String, EnterpriseId> = std::thread::scope(|s| {
        let handles: Vec<_> = resolvers
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mine: Vec<&PatientRecord> = records
                    .iter()
                    .enumerate()
                    .filter(|(n, _)| (n * 3 + n / 2) % 4 == i)
                    .map(|(_, rec)| rec)
                    .collect();
                s.spawn(move || {
                    mine.into_iter()
                        .map(|rec| (rec.key.clone(), eid(r, rec)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(decided.len(), records.len());
    assert_eq!(
        partition(&decided),
        partition(&reference),
        "the same people as one index"
    );
    // Every process now sees every decision: each one resolves every record to the same id.
    for r in &resolvers {
        for rec in &records {
            assert_eq!(eid(r, rec), decided[&rec.key], "{}", rec.key);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_by_one_process_holds_in_another_and_a_restart_pauses_then_resumes() {
    let mut pg = service_or_skip!(Postgres::start());
    let a = PgMpiResolver::connect(&pg.url()).await.unwrap();
    let b = PgMpiResolver::connect(&pg.url()).await.unwrap();
    let one = eid(&a, &person("EPIC", 10));
    let two = eid(&a, &person("EPIC", 11));
    assert_ne!(one, two);
    // B merges 11 into 10 (an A40); A's next decision about person 11 follows it.
    let out = b
        .resolve(
            &[],
            &[MergeRequest {
                survivor: person("EPIC", 10).key,
                retired: person("EPIC", 11).key,
            }],
        )
        .unwrap();
    assert!(out.merged);
    assert_eq!(eid(&a, &person("CERNER", 11)), one);

    // The database goes away: a transient store_io error of the identity stage, no panic.
    pg.stop();
    let err = tokio::task::block_in_place(|| a.resolve(&[person("EPIC", 12)], &[])).unwrap_err();
    assert_eq!(err.kind, ErrorKind::StoreIo);
    assert!(err.kind.is_transient());
    assert!(
        !err.reason.contains("E0012") && !err.reason.contains("Nakamura"),
        "no PHI in {}",
        err.reason
    );
    pg.restart().unwrap();
    // Back: A reconnects, replays the whole log, and nothing of the failed call was kept.
    let twelve = eid(&a, &person("EPIC", 12));
    assert_eq!(eid(&b, &person("CERNER", 12)), twelve);
    assert_eq!(eid(&b, &person("EPIC", 11)), one);
}
