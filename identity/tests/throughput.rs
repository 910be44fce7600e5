//! Scoring throughput smoke check (ignored by default; run in release:
//! `cargo test -p ehrkit-identity --release --test throughput -- --ignored --nocapture`).
//! Reports wall time and this thread's CPU time (from /proc, when available) so the figure is
//! meaningful on a loaded machine. No timing is asserted: the criterion bench holds the claims.

use std::time::Instant;

use ehrkit_identity::block;
use ehrkit_identity::csv::read_records;
use ehrkit_identity::{Comparison, Field, FsModel, Linker, MatchConfig};

fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[test]
#[ignore = "throughput measurement; run explicitly in release"]
fn scoring_throughput() {
    let Some(dir) = ehrkit_testkit::shared::require(
        "datasets/mpi/splink_datasets/febrl",
        "the throughput check",
    ) else {
        return;
    };
    let a = read_records(&std::fs::read_to_string(dir.join("dataset4a.csv")).unwrap()).unwrap();
    let b = read_records(&std::fs::read_to_string(dir.join("dataset4b.csv")).unwrap()).unwrap();
    let cfg = MatchConfig {
        comparisons: vec![
            Comparison::name(Field::GivenName),
            Comparison::name(Field::FamilyName),
            Comparison::date(Field::BirthDate),
            Comparison::code(Field::Ssn),
            Comparison::exact(Field::StreetNumber),
            Comparison::text(Field::StreetName),
            Comparison::code(Field::Postcode),
        ],
        ..MatchConfig::default()
    };
    let model = FsModel::untrained(cfg);
    let fa = model.features(&a);
    let fb = model.features(&b);
    // Pairs: all of the first 400 x 2500 (mostly non-matches, the realistic workload).
    let pairs: Vec<(usize, usize)> = (0..400)
        .flat_map(|i| (0..2500).map(move |j| (i, j)))
        .collect();
    let c0 = thread_cpu_ns();
    let t0 = Instant::now();
    let mut acc = 0f32;
    for &(i, j) in &pairs {
        acc += model.weight(&fa, i, &fb, j);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = thread_cpu_ns().zip(c0).map(|(x, y)| (x - y) as f64 / 1e9);
    eprintln!(
        "7-field scoring: {} pairs wall {:.3}s ({:.0} pairs/s) cpu {:?}s ({:?} pairs/s) [{acc}]",
        pairs.len(),
        wall,
        pairs.len() as f64 / wall,
        cpu,
        cpu.map(|c| (pairs.len() as f64 / c) as u64)
    );
    let c0 = thread_cpu_ns();
    let t0 = Instant::now();
    let res = Linker::new(MatchConfig::default()).unwrap().link(&a, &b);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = thread_cpu_ns().zip(c0).map(|(x, y)| (x - y) as f64 / 1e9);
    eprintln!(
        "full FEBRL4 run: wall {wall:.3}s cpu {cpu:?}s timings {:?} matches {}",
        res.timings,
        res.matches().count()
    );
    let _ = block;
}
