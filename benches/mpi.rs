//! MPI benchmarks: Fellegi-Sunter scoring throughput (candidate pairs per second, 7-field
//! comparison, features precomputed) and the whole FEBRL4 link run (features, blocking, EM,
//! scoring). Needs `../shared/datasets/mpi/` beside the repository; prints a notice and does
//! nothing without it.
//!
//! `cargo bench --features identity --bench mpi`

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ehrkit::identity::csv::read_records;
use ehrkit::identity::{Comparison, Field, FsModel, Linker, MatchConfig, PatientRecord};

fn febrl4() -> Option<(Vec<PatientRecord>, Vec<PatientRecord>)> {
    let dir =
        ehrkit_testkit::shared::require("datasets/mpi/splink_datasets/febrl", "the MPI benches")?;
    let read = |n: &str| {
        read_records(&std::fs::read_to_string(dir.join(n)).expect("read FEBRL file"))
            .expect("parse FEBRL file")
    };
    Some((read("dataset4a.csv"), read("dataset4b.csv")))
}

fn seven_fields() -> MatchConfig {
    MatchConfig {
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
    }
}

fn bench(c: &mut Criterion) {
    let Some((a, b)) = febrl4() else { return };
    // Scoring: 200 x 1000 cross pairs (mostly non-matches, like a blocked workload) plus the
    // true pairs of those rows.
    let model = FsModel::untrained(seven_fields());
    let fa = model.features(&a);
    let fb = model.features(&b);
    let pairs: Vec<(usize, usize)> = (0..200)
        .flat_map(|i| (0..1000).map(move |j| (i, j)))
        .collect();
    let mut g = c.benchmark_group("mpi_scoring");
    g.throughput(Throughput::Elements(pairs.len() as u64));
    g.bench_function("weight_7_fields", |bn| {
        bn.iter(|| {
            let mut s = 0f32;
            for &(i, j) in &pairs {
                s += model.weight(&fa, i, &fb, j);
            }
            black_box(s)
        })
    });
    g.bench_function("score_7_fields_with_rules", |bn| {
        bn.iter(|| {
            let mut n = 0u32;
            for &(i, j) in &pairs {
                n += u32::from(model.score(&fa, i, &fb, j).rule.is_some());
            }
            black_box(n)
        })
    });
    let full = FsModel::untrained(MatchConfig::default());
    let ga = full.features(&a);
    let gb = full.features(&b);
    g.bench_function("score_default_13_fields", |bn| {
        bn.iter(|| {
            let mut s = 0f32;
            for &(i, j) in &pairs {
                s += full.score(&ga, i, &gb, j).weight;
            }
            black_box(s)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("mpi_febrl4");
    g.sample_size(10);
    g.bench_function("full_link_run", |bn| {
        bn.iter(|| {
            let linker = Linker::new(MatchConfig::default()).expect("default config is valid");
            black_box(linker.link(&a, &b).pairs.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
