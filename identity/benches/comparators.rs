//! String comparators: this crate's byte-level Jaro-Winkler / bounded edit distances against the
//! `strsim` crate on the same name pairs (FEBRL4 given names and surnames when `../shared` is
//! present, else a built-in list).
//!
//! `cargo bench -p ehrkit-identity --bench comparators`

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ehrkit_identity::compare::{jaro_winkler, osa_bounded};

fn names() -> Vec<String> {
    let text = ehrkit_testkit::shared::require(
        "datasets/mpi/splink_datasets/febrl/dataset4a.csv",
        "FEBRL names (using built-in names)",
    )
    .and_then(|p| std::fs::read_to_string(p).ok());
    match text {
        Some(t) => t
            .lines()
            .skip(1)
            .take(500)
            .flat_map(|l| {
                let f: Vec<&str> = l.split(',').map(str::trim).collect();
                [f[1].to_string(), f[2].to_string()]
            })
            .filter(|s| !s.is_empty())
            .collect(),
        None => [
            "mitchell",
            "michell",
            "green",
            "greene",
            "catherine",
            "kathryn",
            "jon",
            "john",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    }
}

fn bench(c: &mut Criterion) {
    let n = names();
    let pairs: Vec<(&str, &str)> = n
        .iter()
        .zip(n.iter().skip(1).chain(n.iter().take(1)))
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let mut g = c.benchmark_group("jaro_winkler");
    g.throughput(Throughput::Elements(pairs.len() as u64));
    g.bench_function("ehrkit", |b| {
        b.iter(|| {
            pairs
                .iter()
                .map(|(x, y)| jaro_winkler(x.as_bytes(), y.as_bytes()))
                .sum::<f64>()
        })
    });
    g.bench_function("strsim", |b| {
        b.iter(|| {
            pairs
                .iter()
                .map(|(x, y)| strsim::jaro_winkler(x, y))
                .sum::<f64>()
        })
    });
    g.finish();
    let mut g = c.benchmark_group("damerau_osa_le2");
    g.throughput(Throughput::Elements(pairs.len() as u64));
    g.bench_function("ehrkit_bounded", |b| {
        b.iter(|| {
            pairs
                .iter()
                .filter(|(x, y)| osa_bounded(x.as_bytes(), y.as_bytes(), 2).is_some())
                .count()
        })
    });
    g.bench_function("strsim", |b| {
        b.iter(|| {
            pairs
                .iter()
                .filter(|(x, y)| strsim::osa_distance(x, y) <= 2)
                .count()
        })
    });
    g.finish();
    black_box(());
}

criterion_group!(benches, bench);
criterion_main!(benches);
