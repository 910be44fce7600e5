//! Runs every fuzz seed through the same property checks as the fuzz target
//! (`fuzz/fuzz_targets/fhir_client_response.rs`), so the seeds are exercised by `cargo test`
//! without cargo-fuzz. The properties live in `fuzz/props/fhir_client.rs`, shared by path.

use std::path::PathBuf;

#[path = "../../fuzz/props/fhir_client.rs"]
mod props;

#[test]
fn fhir_client_response_seeds() {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/seeds/fhir_client_response"
    ));
    if !dir.is_dir() {
        eprintln!("NOTICE: {} absent, skipping seed run", dir.display());
        return;
    }
    let mut all: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    all.sort();
    assert!(
        all.len() >= 10,
        "expected at least 10 seeds, found {}",
        all.len()
    );
    for path in &all {
        eprintln!("seed {}", path.display());
        props::check_response(&std::fs::read(path).unwrap());
    }
}

#[test]
fn properties_hold_on_generated_inputs() {
    // A small deterministic sweep beyond the seeds: every status byte with a few bodies.
    let bodies: [&[u8]; 4] = [
        b"\n",
        b"3\n{\"resourceType\":\"Bundle\",\"type\":\"searchset\"}",
        b"\xff\xfe\n\xff",
        b"x=1&&=&%zz\n{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"Nope\"}}]}",
    ];
    for status in 0u8..10 {
        for body in bodies {
            let mut data = vec![status];
            data.extend_from_slice(body);
            props::check_response(&data);
        }
    }
}
