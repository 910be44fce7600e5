//! Runs every seed of the `mapping_datatypes` and `v2_to_fhir` fuzz targets through the same
//! property checks
//! (`fuzz/props/mapping.rs`, included by path), so the seeds are exercised by `cargo test`
//! without cargo-fuzz.

#[path = "../../fuzz/props/mapping.rs"]
mod props;

use std::path::PathBuf;

fn seeds() -> Vec<PathBuf> {
    seeds_of("mapping_datatypes")
}

fn seeds_of(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds/")).join(target);
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    seeds.sort();
    seeds
}

#[test]
fn mapping_datatypes_seeds() {
    let seeds = seeds();
    assert!(
        seeds.len() >= 4,
        "expected at least 4 seeds, found {}",
        seeds.len()
    );
    for path in seeds {
        eprintln!("seed {}", path.display());
        props::check_datatypes(&std::fs::read(&path).unwrap());
    }
}

#[test]
fn mapping_datatypes_survives_truncations_of_seeds() {
    for path in seeds() {
        let bytes = std::fs::read(&path).unwrap();
        for end in 0..bytes.len() {
            props::check_datatypes(&bytes[..end]);
        }
    }
}

#[test]
fn v2_to_fhir_seeds() {
    let seeds = seeds_of("v2_to_fhir");
    assert!(
        seeds.len() >= 5,
        "expected at least 5 seeds, found {}",
        seeds.len()
    );
    for path in seeds {
        eprintln!("seed {}", path.display());
        props::check_convert(&std::fs::read(&path).unwrap());
    }
}

#[test]
fn v2_to_fhir_survives_truncations_of_seeds() {
    for path in seeds_of("v2_to_fhir") {
        let bytes = std::fs::read(&path).unwrap();
        for end in (0..bytes.len()).step_by(7) {
            props::check_convert(&bytes[..end]);
        }
    }
}

#[test]
fn mapping_profile_seeds_and_their_truncations() {
    let seeds = seeds_of("mapping_profile");
    assert!(
        seeds.len() >= 8,
        "expected at least 8 seeds, found {}",
        seeds.len()
    );
    for path in seeds {
        eprintln!("seed {}", path.display());
        let bytes = std::fs::read(&path).unwrap();
        props::check_profile(&bytes);
        for end in (0..bytes.len()).step_by(5) {
            props::check_profile(&bytes[..end]);
        }
    }
}
