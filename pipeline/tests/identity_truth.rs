//! Identity across sources on the bundled data of the `pipeline` example: the enterprise
//! linking's precision and recall against `examples/data/pipeline_truth.csv` (who is who).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use ehrkit_pipeline::source::files;
use ehrkit_pipeline::store::{SqliteOptions, SqliteStore};
use ehrkit_pipeline::Pipeline;

/// Unordered pairs of keys that share a group.
fn pairs(groups: &BTreeMap<String, Vec<String>>) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for keys in groups.values() {
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                let (x, y) = if a < b { (a, b) } else { (b, a) };
                out.insert((x.clone(), y.clone()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enterprise_linking_matches_the_truth_file() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap());
    let p = Pipeline::builder(store).start().await.unwrap();
    for (file, endpoint) in [
        ("pipeline_epic_adt.hl7", "epic"),
        ("pipeline_oracle_oru.hl7", "oracle"),
        ("pipeline_veradigm_siu.hl7", "veradigm"),
        ("pipeline_athena_export.ndjson", "athena-export"),
    ] {
        files::ingest_file(&p, &data.join(file), endpoint)
            .await
            .unwrap();
    }
    p.drain().await;

    let truth_text = std::fs::read_to_string(data.join("pipeline_truth.csv")).unwrap();
    let mut truth: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut person_of: BTreeMap<String, String> = BTreeMap::new();
    for line in truth_text.lines().skip(1).filter(|l| !l.is_empty()) {
        let (key, person) = line.rsplit_once(',').unwrap();
        truth
            .entry(person.to_owned())
            .or_default()
            .push(key.to_owned());
        person_of.insert(key.to_owned(), person.to_owned());
    }
    let index = p.index().unwrap();
    let snap = index.snapshot().unwrap();
    let mut predicted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (rec, eid) in &snap.records {
        assert!(
            person_of.contains_key(&rec.key),
            "{} is missing from the truth file",
            rec.key
        );
        predicted
            .entry(index.resolve(*eid).unwrap().0.to_string())
            .or_default()
            .push(rec.key.clone());
    }
    assert_eq!(
        snap.records.len(),
        person_of.len(),
        "every source patient reached the MPI"
    );
    let (t, pr) = (pairs(&truth), pairs(&predicted));
    let tp = t.intersection(&pr).count() as f64;
    let precision = tp / pr.len() as f64;
    let recall = tp / t.len() as f64;
    println!("identity on the bundled truth: {} true pairs, {} predicted, precision {precision:.3}, recall {recall:.3}", t.len(), pr.len());
    // Measured: every true pair linked (name, date-format and address variants, nicknames,
    // SSN with and without dashes), no false link (two Daniel Kims born the same day in two
    // cities stay apart).
    assert_eq!(t.len(), 9);
    assert!(precision >= 1.0, "precision {precision}");
    assert!(recall >= 1.0, "recall {recall}");
    p.shutdown().await;
}
