//! Runs every fuzz seed through the same property checks as the fuzz targets
//! (`fuzz/fuzz_targets/ndjson_reader.rs`, `bulk_manifest.rs`), so the seeds
//! are exercised by `cargo test` without cargo-fuzz. The properties live in
//! `fuzz/props/bulk_data.rs`, shared by path.

use std::path::PathBuf;

#[path = "../../fuzz/props/bulk_data.rs"]
mod props;

use props::{check_manifest, check_ndjson};

fn seeds(target: &str) -> Option<Vec<(PathBuf, Vec<u8>)>> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds")).join(target);
    if !dir.is_dir() {
        eprintln!("NOTICE: {} absent, skipping seed run", dir.display());
        return None;
    }
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    out.sort();
    Some(out)
}

#[test]
fn ndjson_reader_seeds() {
    let Some(all) = seeds("ndjson_reader") else {
        return;
    };
    assert!(
        all.len() >= 5,
        "expected at least 5 seeds, found {}",
        all.len()
    );
    for (path, data) in &all {
        eprintln!("seed {}", path.display());
        check_ndjson(data);
    }
}

#[test]
fn bulk_manifest_seeds() {
    let Some(all) = seeds("bulk_manifest") else {
        return;
    };
    assert!(
        all.len() >= 5,
        "expected at least 5 seeds, found {}",
        all.len()
    );
    let mut parsed = 0;
    for (path, data) in &all {
        eprintln!("seed {}", path.display());
        check_manifest(data);
        parsed += usize::from(ehrkit_bulk_data::Manifest::from_json(data).is_ok());
    }
    // spec_example, minimal_extra and huge_numbers_unknown_field are manifests; the others are not.
    assert_eq!(parsed, 3);
}
