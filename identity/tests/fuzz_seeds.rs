//! Runs every seed of the `mpi_input` fuzz target through the same property check
//! (`fuzz/props/identity.rs`, included by path), so the seeds are exercised by `cargo test`
//! without cargo-fuzz.

#[path = "../../fuzz/props/identity.rs"]
mod props;

use std::path::PathBuf;

#[test]
fn mpi_input_seeds() {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/seeds/mpi_input"
    ));
    if !dir.is_dir() {
        eprintln!("NOTICE: {} absent, skipping seed run", dir.display());
        return;
    }
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    seeds.sort();
    assert!(
        seeds.len() >= 4,
        "expected at least 4 seeds, found {}",
        seeds.len()
    );
    for path in seeds {
        eprintln!("seed {}", path.display());
        props::check_mpi_input(&std::fs::read(&path).unwrap());
    }
}

#[test]
fn mpi_input_survives_truncations_of_seeds() {
    // Every prefix of a real PID message must be handled without a panic.
    let msg = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/seeds/mpi_input/pid_epic.hl7"
    ))
    .expect("seed pid_epic.hl7");
    for end in 0..msg.len() {
        props::check_mpi_input(&msg[..end]);
    }
}
