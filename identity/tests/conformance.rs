//! Conformance on the shared MPI benchmark data (`../shared/datasets/mpi/`): FEBRL4 link, FEBRL3
//! dedupe, fake_1000 with clerical labels. Skipped with a notice when the data is absent.
//!
//! The floors asserted here are the goals; they hold in the debug test profile too (the
//! work is bounded: 5 000 records a side).

use std::path::PathBuf;

use ehrkit_identity::csv::read_records;
use ehrkit_identity::eval::{febrl_entity, PairMetrics};
use ehrkit_identity::{DeterministicRule, Linker, MatchConfig, PatientRecord, Verdict};

fn data_dir() -> Option<PathBuf> {
    ehrkit_testkit::shared::require("datasets/mpi/splink_datasets", "the MPI conformance test")
}

fn load(dir: &std::path::Path, name: &str) -> Vec<PatientRecord> {
    let text = std::fs::read_to_string(dir.join(name)).expect("read dataset");
    read_records(&text).expect("parse dataset")
}

#[test]
fn febrl4_link() {
    let Some(dir) = data_dir() else { return };
    let a = load(&dir, "febrl/dataset4a.csv");
    let b = load(&dir, "febrl/dataset4b.csv");
    assert_eq!((a.len(), b.len()), (5000, 5000));
    let res = Linker::new(MatchConfig::default()).unwrap().link(&a, &b);
    let la: Vec<&str> = a.iter().map(|r| febrl_entity(&r.key)).collect();
    let lb: Vec<&str> = b.iter().map(|r| febrl_entity(&r.key)).collect();
    // Blocking recall.
    let cands = ehrkit_identity::block(
        &res.model.config.blocking,
        &res.left_features,
        res.right_features.as_ref(),
    )
    .0;
    let kept = cands
        .pairs
        .iter()
        .filter(|(x, y)| la[*x as usize] == lb[*y as usize])
        .count();
    let blocking_recall = kept as f64 / 5000.0;
    let m = PairMetrics::from_labels(
        res.matches().map(|p| (p.left as usize, p.right as usize)),
        &la,
        Some(&lb),
    );
    eprintln!(
        "FEBRL4: candidates={} blocking_recall={:.5} precision={:.5} recall={:.5} f1={:.5} prior={:e} timings={:?}",
        res.blocking.candidate_pairs, blocking_recall, m.precision(), m.recall(), m.f1(), res.model.prior, res.timings
    );
    for r in &res.blocking.rules {
        eprintln!(
            "  rule {:<32} pairs={:>6} new={:>6} skipped_blocks={}",
            r.name, r.pairs, r.new_pairs, r.skipped_blocks
        );
    }
    let found: std::collections::HashSet<(u32, u32)> =
        res.matches().map(|p| (p.left, p.right)).collect();
    let mut by_rule: std::collections::BTreeMap<String, usize> = Default::default();
    for &(x, y) in &cands.pairs {
        if la[x as usize] == lb[y as usize] && !found.contains(&(x, y)) {
            let sp = ehrkit_identity::ScoredPair {
                left: x,
                right: y,
                weight: 0.0,
                probability: 0.0,
                verdict: Verdict::NoMatch,
            };
            *by_rule
                .entry(res.explain(&sp).rule.unwrap_or_else(|| "none".into()))
                .or_default() += 1;
        }
    }
    eprintln!("FEBRL4 false negatives by rule: {by_rule:?}");
    assert!(
        blocking_recall >= 0.999,
        "blocking recall {blocking_recall}"
    );
    assert!(m.precision() >= 0.999, "precision {}", m.precision());
    assert!(m.f1() >= 0.995, "f1 {}", m.f1());

    // Without the clinical guard rules (twin / generation), as Splink would run.
    let cfg = MatchConfig {
        rules: DeterministicRule::defaults().into_iter().take(2).collect(),
        ..MatchConfig::default()
    };
    let res = Linker::new(cfg).unwrap().link(&a, &b);
    let m = PairMetrics::from_labels(
        res.matches().map(|p| (p.left as usize, p.right as usize)),
        &la,
        Some(&lb),
    );
    eprintln!(
        "FEBRL4 without guard rules: precision={:.5} recall={:.5} f1={:.5}",
        m.precision(),
        m.recall(),
        m.f1()
    );
    assert!(m.precision() >= 0.999 && m.f1() >= 0.999, "{m:?}");
}

#[test]
fn febrl3_dedupe() {
    let Some(dir) = data_dir() else { return };
    let a = load(&dir, "febrl/dataset3.csv");
    assert_eq!(a.len(), 5000);
    let res = Linker::new(MatchConfig::default()).unwrap().dedupe(&a);
    let la: Vec<&str> = a.iter().map(|r| febrl_entity(&r.key)).collect();
    let m = PairMetrics::from_labels(
        res.matches().map(|p| (p.left as usize, p.right as usize)),
        &la,
        None,
    );
    eprintln!(
        "FEBRL3: candidates={} tp={} predicted={} actual={} precision={:.5} recall={:.5} f1={:.5} timings={:?}",
        res.blocking.candidate_pairs, m.true_positives, m.predicted, m.actual, m.precision(), m.recall(), m.f1(), res.timings
    );
    let cl = res.clusters();
    let mut cpairs = Vec::new();
    for i in 0..cl.len() {
        for j in i + 1..cl.len() {
            if cl[i] == cl[j] {
                cpairs.push((i, j));
            }
        }
    }
    let cm = PairMetrics::from_labels(cpairs, &la, None);
    eprintln!(
        "FEBRL3 clustered pairwise p={:.5} r={:.5} f1={:.5}",
        cm.precision(),
        cm.recall(),
        cm.f1()
    );
    assert_eq!(m.actual, 6538);
    assert!(m.precision() >= 0.999, "precision {}", m.precision());
    assert!(m.f1() >= 0.985, "f1 {}", m.f1());
    assert!(cm.f1() >= 0.985, "clustered f1 {}", cm.f1());
}

#[test]
fn fake_1000_dedupe_and_labels() {
    let Some(dir) = data_dir() else { return };
    let recs = load(&dir, "fake_1000.csv");
    assert_eq!(recs.len(), 1000);
    let text = std::fs::read_to_string(dir.join("fake_1000.csv")).unwrap();
    let cluster: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().to_string())
        .collect();
    let res = Linker::new(MatchConfig::default()).unwrap().dedupe(&recs);
    let m = PairMetrics::from_labels(
        res.matches().map(|p| (p.left as usize, p.right as usize)),
        &cluster,
        None,
    );
    // Clerical labels: score every labelled pair directly (not only blocked ones).
    let labels = std::fs::read_to_string(dir.join("fake_1000_labels.csv")).unwrap();
    let row_of: std::collections::HashMap<&str, usize> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.key.as_str(), i))
        .collect();
    let (mut tp, mut fp, mut fneg, mut tn) = (0, 0, 0, 0);
    for l in labels.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        let (x, y) = (row_of[f[0]], row_of[f[2]]);
        let truth = f[4].parse::<f64>().unwrap() >= 0.5;
        let s = res
            .model
            .score(&res.left_features, x, &res.left_features, y);
        let pred = s.verdict == Verdict::Match;
        match (pred, truth) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            (false, false) => tn += 1,
        }
    }
    let lp = tp as f64 / (tp + fp) as f64;
    let lr = tp as f64 / (tp + fneg) as f64;
    let lf1 = 2.0 * lp * lr / (lp + lr);
    eprintln!(
        "fake_1000: candidates={} pairwise precision={:.4} recall={:.4} f1={:.4}; labels tp={tp} fp={fp} fn={fneg} tn={tn} precision={lp:.4} recall={lr:.4} f1={lf1:.4}",
        res.blocking.candidate_pairs, m.precision(), m.recall(), m.f1()
    );
    let cands = ehrkit_identity::block(&res.model.config.blocking, &res.left_features, None).0;
    let kept = cands
        .pairs
        .iter()
        .filter(|(x, y)| cluster[*x as usize] == cluster[*y as usize])
        .count();
    let poss = PairMetrics::from_labels(
        res.pairs
            .iter()
            .map(|p| (p.left as usize, p.right as usize)),
        &cluster,
        None,
    );
    eprintln!(
        "fake_1000 blocking recall {:.4}; at possible threshold p={:.4} r={:.4}",
        kept as f64 / 2031.0,
        poss.precision(),
        poss.recall()
    );
    let cl = res.clusters();
    let mut cpairs = Vec::new();
    for i in 0..cl.len() {
        for j in i + 1..cl.len() {
            if cl[i] == cl[j] {
                cpairs.push((i, j));
            }
        }
    }
    let cm = PairMetrics::from_labels(cpairs, &cluster, None);
    eprintln!(
        "fake_1000 clustered pairwise p={:.4} r={:.4} f1={:.4}",
        cm.precision(),
        cm.recall(),
        cm.f1()
    );
    assert_eq!(m.actual, 2031);
    assert_eq!(tp + fp + fneg + tn, 3176);
    // Floors a little under the measured figures (precision 1.0, clustered F1 0.89).
    assert!(
        m.precision() >= 0.99,
        "pairwise precision {}",
        m.precision()
    );
    assert!(lp >= 0.99, "label precision {lp}");
    assert!(cm.f1() >= 0.85, "clustered f1 {}", cm.f1());
}
