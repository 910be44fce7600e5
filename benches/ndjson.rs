//! NDJSON throughput: ehrkit raw-record iteration vs the usual
//! `BufRead::lines()` + `serde_json::Value`, on a generated ~110 MB file of
//! FHIR-like resources (and its gzip form), and the typed path (each record
//! read into an `ehrkit-fhir-model` resource). The files are generated into the
//! target directory at bench start and reused by later runs.
//!
//! Run: `cargo bench --bench ndjson --features bulk-data`
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ehrkit::bulk_data::fhir_model::Resource;
use ehrkit::bulk_data::ndjson::{NdjsonReader, ReaderOptions};

const TARGET_BYTES: u64 = 110 * 1024 * 1024;

fn data_dir() -> PathBuf {
    // target/<profile>/deps/<bench-exe> → target/ehrkit-bench-data
    let exe = std::env::current_exe().expect("current exe");
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    let dir = target.join("ehrkit-bench-data");
    std::fs::create_dir_all(&dir).expect("create bench data dir");
    dir
}

/// Deterministic FHIR-like records: Patients, Observations with nested
/// codings, the odd long narrative, escapes and non-ASCII text.
fn generate(path: &Path) {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path).expect("create"));
    let mut written = 0u64;
    let mut i = 0u64;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while written < TARGET_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let line = if i.is_multiple_of(10) {
            format!(
                r#"{{"resourceType":"Patient","id":"pat-{i}","meta":{{"lastUpdated":"2026-01-0{}T10:00:00Z"}},"identifier":[{{"system":"urn:oid:2.16.840.1.113883.4.1","value":"{:09}"}}],"name":[{{"family":"Müller-{}","given":["Zoë","A\"B"]}}],"gender":"female","birthDate":"19{:02}-0{}-1{}","address":[{{"line":["{} Main St"],"city":"Springfield","postalCode":"{:05}"}}],"text":{{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>"}}}}"#,
                x % 9 + 1,
                x % 1_000_000_000,
                x % 997,
                x % 100,
                x % 9 + 1,
                x % 10,
                x % 9999,
                x % 99999,
                "narrative ".repeat((x % 40) as usize)
            )
        } else {
            format!(
                r#"{{"resourceType":"Observation","id":"obs-{i}","status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}}]}}],"code":{{"coding":[{{"system":"http://loinc.org","code":"{}-{}","display":"Hemoglobin [Mass/volume] in Blood"}}]}},"subject":{{"reference":"Patient/pat-{}"}},"effectiveDateTime":"2026-02-1{}T08:{:02}:00+01:00","valueQuantity":{{"value":{}.{},"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"}},"note":[{{"text":"{}"}}]}}"#,
                x % 99999,
                x % 9,
                i / 10 * 10,
                x % 10,
                x % 60,
                x % 20,
                x % 10,
                "ok\\n".repeat((x % 12) as usize)
            )
        };
        w.write_all(line.as_bytes()).expect("write");
        w.write_all(b"\n").expect("write");
        written += line.len() as u64 + 1;
        i += 1;
    }
    w.flush().expect("flush");
}

fn ensure_files() -> (PathBuf, PathBuf, u64) {
    let dir = data_dir();
    let plain = dir.join("bench-110mb.ndjson");
    let gz = dir.join("bench-110mb.ndjson.gz");
    let big_enough = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len() >= TARGET_BYTES)
            .unwrap_or(false)
    };
    if !big_enough(&plain) {
        eprintln!("generating {}", plain.display());
        generate(&plain);
        let _ = std::fs::remove_file(&gz);
    }
    if !gz.exists() {
        eprintln!("compressing {}", gz.display());
        let mut input = File::open(&plain).expect("open");
        let tmp = dir.join("bench-110mb.ndjson.gz.tmp");
        let mut e = flate2::write::GzEncoder::new(
            BufWriter::new(File::create(&tmp).expect("create")),
            flate2::Compression::default(),
        );
        std::io::copy(&mut input, &mut e).expect("compress");
        e.finish().expect("finish").flush().expect("flush");
        std::fs::rename(&tmp, &gz).expect("rename");
    }
    let len = std::fs::metadata(&plain).expect("meta").len();
    (plain, gz, len)
}

fn bench(c: &mut Criterion) {
    let (plain, gz, len) = ensure_files();
    let mut g = c.benchmark_group("ndjson_110MB");
    g.sample_size(10);
    g.warm_up_time(std::time::Duration::from_secs(1));
    g.measurement_time(std::time::Duration::from_secs(8));
    g.throughput(Throughput::Bytes(len));

    g.bench_function("ehrkit_raw_records", |b| {
        b.iter(|| {
            let mut r = NdjsonReader::new(File::open(&plain).expect("open"));
            let mut n = 0u64;
            let mut obs = 0u64;
            while let Some(rec) = r.next_record() {
                let rec = rec.expect("valid record");
                obs += u64::from(rec.resource_type() == "Observation");
                n += 1;
            }
            assert!(n > 0 && obs > 0);
            n
        })
    });

    g.bench_function("baseline_lines_serde_value", |b| {
        b.iter(|| {
            let r = BufReader::new(File::open(&plain).expect("open"));
            let mut n = 0u64;
            let mut obs = 0u64;
            for line in r.lines() {
                let line = line.expect("line");
                if line.trim().is_empty() {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(&line).expect("json");
                obs += u64::from(v["resourceType"] == "Observation");
                n += 1;
            }
            assert!(n > 0 && obs > 0);
            n
        })
    });

    g.bench_function("baseline_lines_only", |b| {
        b.iter(|| {
            let r = BufReader::new(File::open(&plain).expect("open"));
            r.lines()
                .map(|l| l.expect("line").len() as u64)
                .sum::<u64>()
        })
    });

    g.bench_function("ehrkit_records_into_serde_value", |b| {
        b.iter(|| {
            let mut r = NdjsonReader::new(File::open(&plain).expect("open"));
            let mut n = 0u64;
            while let Some(rec) = r.next_record() {
                let v: serde_json::Value = rec.expect("valid").deserialize().expect("json");
                n += u64::from(v.is_object());
            }
            n
        })
    });

    // Typed path: each record read into an ehrkit-fhir-model resource (the raw line is
    // still there); compare with `ehrkit_records_into_serde_value` (an untyped tree).
    g.bench_function("ehrkit_typed_resources", |b| {
        b.iter(|| {
            let mut r = NdjsonReader::new(File::open(&plain).expect("open"));
            let mut n = 0u64;
            let mut obs = 0u64;
            while let Some(rec) = r.next_record() {
                let rec = rec.expect("valid record");
                let res = rec.resource().expect("valid FHIR");
                obs += u64::from(matches!(res, Resource::Observation(_)));
                n += 1;
            }
            assert!(n > 0 && obs > 0);
            n
        })
    });

    // Throughput counted in decompressed bytes.
    g.bench_function("ehrkit_raw_records_gzip", |b| {
        b.iter(|| {
            let f = BufReader::with_capacity(256 * 1024, File::open(&gz).expect("open"));
            let mut r = NdjsonReader::gzip(f, ReaderOptions::default());
            let mut n = 0u64;
            while let Some(rec) = r.next_record() {
                rec.expect("valid record");
                n += 1;
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
