//! The incremental index: enterprise ids, queries, updates, merge/unmerge, persistence, threads.

use std::sync::Arc;

use ehrkit_identity::Error;
use ehrkit_identity::{
    Address, Comparison, Field, FsModel, IndexSnapshot, MatchConfig, PatientIndex, PatientRecord,
    Verdict,
};

fn rec(
    key: &str,
    family: &str,
    given: &str,
    dob: &str,
    ssn: &str,
    mrn: (&str, &str),
) -> PatientRecord {
    PatientRecord::builder(key)
        .name(family, given)
        .birth_date_str(dob)
        .ssn(ssn)
        .identifier(mrn.0, "MR", mrn.1)
        .address(Address {
            lines: vec![format!("4 {family} Road")],
            city: "Salem".into(),
            postcode: "01970".into(),
            ..Address::default()
        })
        .build()
}

fn index() -> PatientIndex {
    PatientIndex::new(FsModel::untrained(MatchConfig::default())).unwrap()
}

#[test]
fn enterprise_ids_are_assigned_and_stable() {
    let idx = index();
    let a = idx
        .upsert(rec(
            "EPIC|1",
            "Smith",
            "Robert",
            "1970-03-14",
            "123456789",
            ("EPIC", "1"),
        ))
        .unwrap();
    assert!(a.created);
    let b = idx
        .upsert(rec(
            "CERNER|9",
            "Smith",
            "Bob",
            "1970-03-14",
            "123456789",
            ("CERNER", "9"),
        ))
        .unwrap();
    assert!(!b.created);
    assert_eq!(a.enterprise_id, b.enterprise_id);
    let c = idx
        .upsert(rec(
            "EPIC|2",
            "Walker",
            "Alice",
            "1990-10-10",
            "987654321",
            ("EPIC", "2"),
        ))
        .unwrap();
    assert!(c.created);
    assert_ne!(c.enterprise_id, a.enterprise_id);
    // Update keeps the id even when demographics change.
    let u = idx
        .upsert(rec(
            "EPIC|2",
            "Walker-Jones",
            "Alice",
            "1990-10-10",
            "987654321",
            ("EPIC", "2"),
        ))
        .unwrap();
    assert!(u.updated);
    assert_eq!(u.enterprise_id, c.enterprise_id);
    assert_eq!(
        idx.record("EPIC|2").unwrap().names[0].family,
        "Walker-Jones"
    );
    assert_eq!(idx.len(), 3);
    let mut members = idx.members(a.enterprise_id).unwrap();
    members.sort();
    assert_eq!(members, vec!["CERNER|9".to_string(), "EPIC|1".to_string()]);
    assert!(matches!(
        idx.upsert(PatientRecord::builder("").build()),
        Err(Error::EmptyKey)
    ));
}

#[test]
fn query_ranks_candidates() {
    let idx = index();
    idx.upsert(rec(
        "A|1",
        "Smith",
        "Robert",
        "1970-03-14",
        "123456789",
        ("A", "1"),
    ))
    .unwrap();
    idx.upsert(rec("A|2", "Smith", "Roberta", "1971-03-14", "", ("A", "2")))
        .unwrap();
    idx.upsert(rec("A|3", "Smyth", "Rob", "1970-03-14", "", ("A", "3")))
        .unwrap();
    let q = rec("B|7", "Smith", "Robert", "1970-03-14", "", ("B", "7"));
    let c = idx.query(&q, 10).unwrap();
    assert!(c.len() >= 2);
    assert_eq!(c[0].key, "A|1");
    assert_eq!(c[0].score.verdict, Verdict::Match);
    assert!(c.windows(2).all(|w| w[0].score.verdict > w[1].score.verdict
        || (w[0].score.verdict == w[1].score.verdict && w[0].score.weight >= w[1].score.weight)));
    let e = idx.explain(&q, "A|1").unwrap();
    assert_eq!(e.score, c[0].score);
    // Query does not change the index.
    assert_eq!(idx.len(), 3);
}

#[test]
fn identifier_conflict_vetoes_auto_link() {
    let idx = index();
    let a = idx
        .upsert(rec(
            "EPIC|1",
            "Smith",
            "Robert",
            "1970-03-14",
            "123456789",
            ("EPIC", "1"),
        ))
        .unwrap();
    // Same demographics, a different MRN from the same authority: never the same patient.
    let b = idx
        .upsert(rec(
            "EPIC|2",
            "Smith",
            "Robert",
            "1970-03-14",
            "123456789",
            ("EPIC", "2"),
        ))
        .unwrap();
    assert!(b.created);
    assert_ne!(a.enterprise_id, b.enterprise_id);
}

#[test]
fn merge_and_unmerge() {
    let idx = index();
    let a = idx
        .upsert(rec(
            "A|1",
            "Khan",
            "Omar",
            "1960-01-01",
            "111111111",
            ("A", "1"),
        ))
        .unwrap()
        .enterprise_id;
    let b = idx
        .upsert(rec("B|1", "Lopez", "Maria", "1961-06-06", "", ("B", "1")))
        .unwrap()
        .enterprise_id;
    assert_ne!(a, b);
    let m = idx.merge(a, b).unwrap();
    assert_eq!(idx.enterprise_id("B|1").unwrap(), a);
    assert_eq!(idx.resolve(b).unwrap(), a);
    assert_eq!(idx.members(b).unwrap().len(), 2);
    assert!(matches!(idx.merge(a, a), Err(Error::SelfMerge(_))));
    assert!(matches!(
        idx.merge(a, b),
        Err(Error::UnknownEnterpriseId(_))
    ));
    idx.unmerge(m).unwrap();
    assert_eq!(idx.enterprise_id("B|1").unwrap(), b);
    assert_eq!(idx.resolve(b).unwrap(), b);
    assert!(matches!(idx.unmerge(m), Err(Error::UnknownMerge(_))));
    // Split and move.
    let s = idx.split_record("A|1").unwrap();
    assert_ne!(s, a);
    idx.move_record("A|1", b).unwrap();
    assert_eq!(idx.enterprise_id("A|1").unwrap(), b);
}

#[test]
fn persists_and_reloads() {
    let idx = index();
    for (i, (f, g)) in [("Stone", "Emma"), ("Stone", "Emily"), ("Reyes", "Carlos")]
        .iter()
        .enumerate()
    {
        idx.upsert(rec(
            &format!("S|{i}"),
            f,
            g,
            "1988-08-08",
            "",
            ("S", &i.to_string()),
        ))
        .unwrap();
    }
    let e0 = idx.enterprise_id("S|0").unwrap();
    let e2 = idx.enterprise_id("S|2").unwrap();
    let m = idx.merge(e0, e2).unwrap();
    let json = idx.to_json().unwrap();
    let back = PatientIndex::from_json(&json).unwrap();
    assert_eq!(back.len(), 3);
    for k in ["S|0", "S|1", "S|2"] {
        assert_eq!(
            back.enterprise_id(k).unwrap(),
            idx.enterprise_id(k).unwrap()
        );
    }
    let q = rec("Q", "Stone", "Emma", "1988-08-08", "", ("Q", "1"));
    assert_eq!(back.query(&q, 5).unwrap(), idx.query(&q, 5).unwrap());
    back.unmerge(m).unwrap();
    assert_eq!(back.enterprise_id("S|2").unwrap(), e2);
    // New ids after reload do not reuse old ones.
    let n = back
        .upsert(rec("N", "Zhou", "Wei", "2000-01-01", "", ("N", "1")))
        .unwrap();
    assert!(n.enterprise_id.0 > e2.0.max(e0.0));
    assert!(matches!(
        PatientIndex::from_json("{"),
        Err(Error::SnapshotJson { .. })
    ));
}

#[test]
fn shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PatientIndex>();
    let idx = Arc::new(index());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let idx = Arc::clone(&idx);
            std::thread::spawn(move || {
                for i in 0..25 {
                    let k = format!("T{t}|{i}");
                    idx.upsert(rec(
                        &k,
                        "Doe",
                        &format!("P{t}x{i}"),
                        "1975-05-05",
                        "",
                        ("T", &k),
                    ))
                    .unwrap();
                    let _ = idx
                        .query(&rec("q", "Doe", "P", "1975-05-05", "", ("Q", "1")), 3)
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(idx.len(), 100);
}

#[test]
fn retrain_on_loaded_records() {
    let idx = index();
    let names = ["Anna", "Ben", "Cara", "Dan", "Eve", "Finn", "Gus", "Hana"];
    for (i, g) in names.iter().enumerate() {
        idx.upsert(rec(
            &format!("R|{i}"),
            "Moss",
            g,
            &format!("19{:02}-01-0{}", 50 + i, 1 + i % 8),
            "",
            ("R", &i.to_string()),
        ))
        .unwrap();
        idx.upsert(rec(
            &format!("R2|{i}"),
            "Moss",
            g,
            &format!("19{:02}-01-0{}", 50 + i, 1 + i % 8),
            "",
            ("R2", &i.to_string()),
        ))
        .unwrap();
    }
    let before: Vec<_> = (0..names.len())
        .map(|i| idx.enterprise_id(&format!("R|{i}")).unwrap())
        .collect();
    idx.retrain().unwrap();
    assert!(idx.model().unwrap().training_report.is_some());
    let after: Vec<_> = (0..names.len())
        .map(|i| idx.enterprise_id(&format!("R|{i}")).unwrap())
        .collect();
    assert_eq!(before, after);
    let c = idx
        .query(&rec("x", "Moss", "Anna", "1950-01-01", "", ("X", "1")), 3)
        .unwrap();
    assert!(c.iter().any(|c| c.key == "R|0"));
}

#[test]
fn loading_a_model_outside_the_limits_is_an_error() {
    // An m table without a row per comparison used to panic while the weights were compiled.
    let model = FsModel::untrained(MatchConfig::default());
    let mut v = serde_json::to_value(&model).unwrap();
    v["m"].as_array_mut().unwrap().pop();
    let e = serde_json::from_value::<FsModel>(v).unwrap_err();
    assert!(e.to_string().contains("model parameters do not fit"), "{e}");

    // 17 comparisons used to load, then panic in the first score.
    let mut cfg = MatchConfig::default();
    for _ in 0..4 {
        cfg.comparisons.push(Comparison::exact(Field::Sex));
    }
    assert!(matches!(
        cfg.validate(),
        Err(Error::ComparisonCount { count: 17 })
    ));
    // (Building an index from it, or loading its JSON: tests/config_limits.rs.)
    let snapshot = IndexSnapshot {
        model: FsModel::untrained(cfg),
        records: Vec::new(),
        next_eid: 0,
        retired: Default::default(),
        merges: Vec::new(),
    };
    assert!(matches!(
        PatientIndex::from_snapshot(snapshot),
        Err(Error::ComparisonCount { count: 17 })
    ));
}
