//! Typed FHIR JSON (ehrkit-fhir-model) vs `serde_json::Value` on the same bytes.
//!
//! Inputs: one Patient, a large example Bundle from `hl7.fhir.r4.examples@4.0.1`
//! (`Bundle-valuesets.json`, 9.3 MB; its resources are typed only with the
//! `conformance` feature, e.g. `--all-features`), a clinical example Bundle
//! (`Bundle-ghp.json`) and a synthetic 10 MB Bundle of Observations. The
//! package comes from `ehrkit_testkit::r4_examples` (`$FHIR_R4_PACKAGE`, or
//! fetched once with `npm pack` into the cargo target dir); without it only
//! the synthetic inputs run.
//!
//! fhirbolt is not compared: it takes ~17 minutes to build, which does not
//! fit the CI bench job.
#![allow(missing_docs)] // criterion_group! generates an undocumented `pub fn`
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ehrkit::fhir_model::{from_slice, to_vec, Resource};
use ehrkit_testkit::r4_examples;

/// A deterministic Bundle of Observations of at least `target` bytes.
fn synthetic_bundle(target: usize) -> Vec<u8> {
    let mut s =
        String::from(r#"{"resourceType":"Bundle","id":"synthetic","type":"collection","entry":["#);
    let mut i: u64 = 0;
    while s.len() < target {
        if i > 0 {
            s.push(',');
        }
        let v = 60 + (i * 7919 % 600) as u32;
        s.push_str(&format!(
            r#"{{"fullUrl":"urn:uuid:00000000-0000-4000-8000-{i:012}","resource":{{"resourceType":"Observation","id":"obs-{i}","meta":{{"lastUpdated":"2024-03-0{d}T10:{m:02}:00.000+00:00"}},"status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}}]}}],"code":{{"coding":[{{"system":"http://loinc.org","code":"85354-9","display":"Blood pressure panel"}}],"text":"Blood pressure"}},"subject":{{"reference":"Patient/p{p}"}},"effectiveDateTime":"2024-03-0{d}T10:{m:02}:00+01:00","component":[{{"code":{{"coding":[{{"system":"http://loinc.org","code":"8480-6"}}]}},"valueQuantity":{{"value":{sys}.{f},"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}}},{{"code":{{"coding":[{{"system":"http://loinc.org","code":"8462-4"}}]}},"valueQuantity":{{"value":{dia}.50,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}}}]}}}}"#,
            d = 1 + i % 9,
            m = i % 60,
            p = i % 1000,
            sys = 100 + v / 10,
            f = v % 10,
            dia = 60 + v / 20,
        ));
        i += 1;
    }
    s.push_str("]}");
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    let patient = match r4_examples::package() {
        Some(pkg) => {
            for name in ["Bundle-valuesets.json", "Bundle-ghp.json"] {
                if let Ok(b) = std::fs::read(pkg.join(name)) {
                    inputs.push((name.trim_end_matches(".json").to_owned(), b));
                }
            }
            std::fs::read(pkg.join("Patient-example.json")).ok()
        }
        None => {
            eprintln!(
                "NOTICE: hl7.fhir.r4.examples not available; benchmarking synthetic inputs only"
            );
            None
        }
    };
    let patient =
        patient.unwrap_or_else(|| include_bytes!("../fuzz/seeds/fhir_json/patient.json").to_vec());
    inputs.insert(0, ("Patient-example".into(), patient));
    inputs.push((
        "synthetic-10MB-observations".into(),
        synthetic_bundle(10 * 1024 * 1024),
    ));

    for (name, bytes) in &inputs {
        let mut g = c.benchmark_group(format!("fhir_json/{name}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        if bytes.len() > 1_000_000 {
            g.sample_size(10);
        }
        let typed: Resource = from_slice(bytes).expect("typed parse");
        let value: serde_json::Value = serde_json::from_slice(bytes).expect("Value parse");
        g.bench_with_input(BenchmarkId::new("parse", "typed"), bytes, |b, x| {
            b.iter(|| from_slice::<Resource>(x).expect("parse"))
        });
        g.bench_with_input(
            BenchmarkId::new("parse", "serde_json::Value"),
            bytes,
            |b, x| b.iter(|| serde_json::from_slice::<serde_json::Value>(x).expect("parse")),
        );
        g.bench_function(BenchmarkId::new("serialize", "typed"), |b| {
            b.iter(|| to_vec(&typed))
        });
        g.bench_function(BenchmarkId::new("serialize", "serde_json::Value"), |b| {
            b.iter(|| serde_json::to_vec(&value).expect("serialize"))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
