//! HL7 v2 → FHIR R4 (issue 12): bytes → parsed → Bundle → JSON, in messages/s, with the parse
//! alone in the same run, and the batch API on 1 and 2 threads.
//!
//! Inputs: a 255-byte ADT^A01 (`benches/data/v2_to_fhir_adt_a01.hl7`), the 1.5 KB ORU^R01 the
//! parser bench uses (`hl7v2/tests/data/oru_r01_lab.hl7`) and a ~50 KB ORU^R01 with many OBX
//! (NM and FT values, NTEs; generated here). For each: `parse` (`Message::parse`),
//! `parse+convert` (the Bundle) and `parse+convert+json` (the Bundle written as FHIR JSON).
//! The batch group converts 256 distinct copies of the 1.5 KB ORU with
//! `Converter::convert_batch` in a rayon pool of 1 and of 2 threads (results dropped in the pool).
//!
//! Goals (issue 12): ≥ 20,000 ORU (1.5 KB) bundles/s on one core including JSON, conversion
//! ≤ 10× the parse, ≥ 1.8× on two cores with the batch API.
//! Run: `cargo bench --bench v2_to_fhir -- --warm-up-time 1 --measurement-time 3`.

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ehrkit::hl7v2::Message;
use ehrkit::mapping::v2_to_fhir::rayon::prelude::*;
use ehrkit::mapping::v2_to_fhir::{rayon, Converter, Options};
use ehrkit::mapping::Profile;

fn read(path: &str) -> Vec<u8> {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn big_oru() -> Vec<u8> {
    let mut s = String::from(
        "MSH|^~\\&|MONITOR|ICU|EPIC|UCH|20250314101512-0600||ORU^R01^ORU_R01|VIT-000417|P|2.5.1\r\
         PID|1||E3826471^^^EPIC^MR||SANTOS^MARIA^J||19761102|F\r\
         PV1|1|I|ICU^12^A||||1234567890^WELBY^MARCUS\r\
         OBR|1|ORD1^EPIC|FIL1^MON|8716-3^Vital signs^LN|||20250314090000-0600||||||||||||||||||F\r",
    );
    let mut i = 1;
    while s.len() < 50 * 1024 {
        if i % 10 == 0 {
            s.push_str(&format!(
                "OBX|{i}|FT|8251-1^Comment^LN||Reading {i} artefact\\.br\\\\.in+2\\lead \\T\\ probe checked||||||F|||20250314090000-0600\r\
                 NTE|1||Checked by the night nurse\r"
            ));
        } else {
            s.push_str(&format!(
                "OBX|{i}|NM|8867-4^Heart rate^LN|{i}|{}|/min^/min^UCUM|60-100|N|||F|||20250314090000-0600\r",
                60 + i % 40
            ));
        }
        i += 1;
    }
    s.into_bytes()
}

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("adt_a01_250b", read("benches/data/v2_to_fhir_adt_a01.hl7")),
        ("oru_r01_1_5k", read("hl7v2/tests/data/oru_r01_lab.hl7")),
        ("oru_r01_50k", big_oru()),
    ]
}

fn converter() -> Converter {
    Converter::new(Profile::generic(), Options::default())
}

fn single(c: &mut Criterion) {
    let converter = converter();
    for (name, raw) in inputs() {
        // Every input converts (a bench of an error path would measure nothing).
        let msg = Message::parse(&raw).expect("bench input parses");
        let bundle = converter
            .convert(&msg)
            .expect("bench input converts")
            .bundle;
        assert!(!bundle.entry.is_empty());

        let mut g = c.benchmark_group(format!("v2_to_fhir/{name}"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("parse", |b| {
            b.iter(|| black_box(Message::parse(black_box(&raw)).unwrap()))
        });
        g.bench_function("parse+convert", |b| {
            b.iter(|| {
                let msg = Message::parse(black_box(&raw)).unwrap();
                black_box(converter.convert(&msg).unwrap())
            })
        });
        g.bench_function("parse+convert+json", |b| {
            b.iter(|| {
                let msg = Message::parse(black_box(&raw)).unwrap();
                let c = converter.convert(&msg).unwrap();
                black_box(ehrkit::fhir_model::to_vec(&c.bundle))
            })
        });
        g.finish();
    }
}

fn batch(c: &mut Criterion) {
    let converter = converter();
    let oru = String::from_utf8(read("hl7v2/tests/data/oru_r01_lab.hl7")).unwrap();
    let batch: Vec<Vec<u8>> = (0..256)
        .map(|i| {
            oru.replacen("LAB20250314-000417", &format!("LAB20250314-{i:06}"), 1)
                .into_bytes()
        })
        .collect();
    let mut g = c.benchmark_group("v2_to_fhir/batch_oru_r01_1_5k");
    g.throughput(Throughput::Elements(batch.len() as u64));
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        g.bench_with_input(
            BenchmarkId::new("convert_batch", format!("{threads}_threads")),
            &batch,
            |b, batch| {
                b.iter(|| {
                    // The results are dropped inside the pool, in parallel, as a pipeline
                    // worker would: dropping 256 Bundles serially on the calling thread
                    // would be measured as conversion and hide the second core.
                    pool.install(|| {
                        let out = converter.convert_batch(batch);
                        assert!(out.iter().all(Result::is_ok));
                        let n = out.len();
                        out.into_par_iter().for_each(|r| drop(black_box(r)));
                        n
                    })
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, single, batch);
criterion_main!(benches);
