//! HL7 v2 parsing: ehrkit-hl7v2 against the peer crates on the same inputs, in the same run.
//!
//! Workload per message: a full structural parse, then reading the same 10 fields (MSH-3, MSH-7,
//! MSH-9.1, MSH-9.2, MSH-10, MSH-12, PID-3.1, PID-5.1, PID-5.2, PID-7). Inputs: a small ADT^A01
//! (built here), a 1.5 KB ORU^R01 (`hl7v2/tests/data/oru_r01_lab.hl7`) and a ~50 KB ORU with many
//! OBX segments (generated here). ehrkit is measured three ways: `Message::parse` (fresh index), a
//! reused `Parser` with `&str` paths, and a reused `Parser` with paths parsed once (`get_path`).
//! Run: `cargo bench --bench hl7v2_parse --features hl7v2`.

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ehrkit::hl7v2::{Message, Parser, Path};

const PATHS_DASH: [&str; 10] = [
    "MSH-3", "MSH-7", "MSH-9.1", "MSH-9.2", "MSH-10", "MSH-12", "PID-3.1", "PID-5.1", "PID-5.2",
    "PID-7",
];
const PATHS_DOT: [&str; 10] = [
    "MSH.3", "MSH.7", "MSH.9.1", "MSH.9.2", "MSH.10", "MSH.12", "PID.3.1", "PID.5.1", "PID.5.2",
    "PID.7",
];
const PATHS_RUST_HL7: [&str; 10] = [
    "MSH.F3",
    "MSH.F7",
    "MSH.F9.C1",
    "MSH.F9.C2",
    "MSH.F10",
    "MSH.F12",
    "PID.F3.C1",
    "PID.F5.C1",
    "PID.F5.C2",
    "PID.F7",
];

fn small_adt() -> String {
    [
        "MSH|^~\\&|EPIC|UCH|LAB|UCH|20250314083015||ADT^A01^ADT_A01|8234119|P|2.5.1",
        "EVN|A01|20250314083000",
        "PID|1||E3826471^^^EPIC^MR~1000472931^^^MPI^PI||SANTOS^MARIA^J||19761102|F|||1420 Larimer St^^DENVER^CO^80202",
        "PV1|1|I|4WEST^412^B|E|||1234567890^WELBY^MARCUS",
    ]
    .join("\r")
        + "\r"
}

fn many_obx() -> String {
    let mut s = String::from(
        "MSH|^~\\&|MONITOR|ICU|EPIC|UCH|20250314101512||ORU^R01^ORU_R01|VIT-000417|P|2.5.1\r\
         PID|1||E3826471^^^EPIC^MR||SANTOS^MARIA^J||19761102|F\r\
         OBR|1|ORD1^EPIC|FIL1^MON|8716-3^Vital signs^LN|||20250314090000\r",
    );
    let mut i = 1;
    while s.len() < 50 * 1024 {
        if i % 10 == 0 {
            s.push_str(&format!(
                "OBX|{i}|TX|8251-1^Comment^LN||Reading {i} artefact\\.br\\lead \\T\\ probe checked||||||F|||20250314090000\r"
            ));
        } else {
            s.push_str(&format!(
                "OBX|{i}|NM|8867-4^Heart rate^LN|{i}|{}|/min^/min^UCUM|60-100|N|||F|||20250314090000|||||20250314090100\r",
                60 + i % 40
            ));
        }
        i += 1;
    }
    s
}

fn inputs() -> Vec<(&'static str, String)> {
    let oru = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/hl7v2/tests/data/oru_r01_lab.hl7"
    ))
    .expect("hl7v2/tests/data/oru_r01_lab.hl7");
    vec![
        ("adt_small", small_adt()),
        ("oru_1_5k", oru),
        ("oru_50k_many_obx", many_obx()),
    ]
}

fn ehrkit_fresh(input: &[u8]) -> usize {
    let m = Message::parse(input).expect("ehrkit parses");
    PATHS_DASH
        .iter()
        .map(|p| m.get(p).map_or(0, |v| v.len()))
        .sum()
}

fn ehrkit_reused(parser: &mut Parser, input: &[u8]) -> usize {
    let m = parser.parse(input).expect("ehrkit parses");
    PATHS_DASH
        .iter()
        .map(|p| m.get(p).map_or(0, |v| v.len()))
        .sum()
}

/// The documented fast API: a reused `Parser` and paths parsed once (`Message::get_path`).
fn ehrkit_reused_paths(parser: &mut Parser, paths: &[Path], input: &[u8]) -> usize {
    let m = parser.parse(input).expect("ehrkit parses");
    paths
        .iter()
        .map(|p| m.get_path(p).map_or(0, |v| v.len()))
        .sum()
}

fn hl7_parser(input: &str) -> usize {
    let m = hl7_parser::Message::parse(input).expect("hl7-parser parses");
    PATHS_DOT
        .iter()
        .map(|p| m.query(*p).map_or(0, |v| v.raw_value().len()))
        .sum()
}

fn rust_hl7(input: &str) -> usize {
    let m = rusthl7::message::Message::try_from(input).expect("rust-hl7 parses");
    PATHS_RUST_HL7.iter().map(|p| m.query(*p).len()).sum()
}

fn er7(input: &str) -> usize {
    let m = er7::parse(input).expect("er7 parses");
    PATHS_DASH
        .iter()
        .map(|p| m.query(p).ok().flatten().map_or(0, |v| v.len()))
        .sum()
}

fn hl7_2(input: &str) -> usize {
    let m = hl7_2::parse(input).expect("hl7-2 parses");
    PATHS_DASH
        .iter()
        .map(|p| m.get(p).ok().flatten().map_or(0, |v| v.len()))
        .sum()
}

fn bench(c: &mut Criterion) {
    for (name, text) in inputs() {
        let bytes = text.as_bytes();
        // Same work, same answers: every parser must find the same total length of the 10 values
        // (ehrkit decodes escapes; the 10 fields here hold none, so raw and decoded agree).
        let expected = ehrkit_fresh(bytes);
        let mut parser = Parser::new();
        let paths: Vec<Path> = PATHS_DASH
            .iter()
            .map(|p| p.parse().expect("valid path"))
            .collect();
        for (peer, got) in [
            (
                "ehrkit-hl7v2 (reused Parser)",
                ehrkit_reused(&mut parser, bytes),
            ),
            (
                "ehrkit-hl7v2 (reused Parser, parsed paths)",
                ehrkit_reused_paths(&mut parser, &paths, bytes),
            ),
            ("hl7-parser", hl7_parser(&text)),
            ("rust-hl7", rust_hl7(&text)),
            ("er7", er7(&text)),
            ("hl7-2", hl7_2(&text)),
        ] {
            if got != expected {
                eprintln!("note: {peer} read {got} bytes of values on {name}, ehrkit {expected}");
            }
        }
        let mut g = c.benchmark_group(format!("hl7v2_parse/{name}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(BenchmarkId::from_parameter("ehrkit-hl7v2"), |b| {
            b.iter(|| ehrkit_fresh(black_box(bytes)))
        });
        g.bench_function(BenchmarkId::from_parameter("ehrkit-hl7v2-reused"), |b| {
            b.iter(|| ehrkit_reused(&mut parser, black_box(bytes)))
        });
        g.bench_function(
            BenchmarkId::from_parameter("ehrkit-hl7v2-reused-paths"),
            |b| b.iter(|| ehrkit_reused_paths(&mut parser, &paths, black_box(bytes))),
        );
        g.bench_function(BenchmarkId::from_parameter("hl7-parser"), |b| {
            b.iter(|| hl7_parser(black_box(&text)))
        });
        g.bench_function(BenchmarkId::from_parameter("rust-hl7"), |b| {
            b.iter(|| rust_hl7(black_box(&text)))
        });
        g.bench_function(BenchmarkId::from_parameter("er7"), |b| {
            b.iter(|| er7(black_box(&text)))
        });
        g.bench_function(BenchmarkId::from_parameter("hl7-2"), |b| {
            b.iter(|| hl7_2(black_box(&text)))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
