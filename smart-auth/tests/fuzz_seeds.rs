//! Runs every seed of the `smart_scope` and `smart_json` fuzz targets through the same property
//! checks, so the seeds are exercised without cargo-fuzz.

use std::path::PathBuf;

#[path = "../../fuzz/props/smart_auth.rs"]
mod props;

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds")).join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn smart_scope_seeds() {
    let s = seeds("smart_scope");
    assert!(s.len() >= 5, "expected seed files");
    let mut parsed = 0;
    for (path, data) in &s {
        props::check_scope(data);
        if ehrkit_smart_auth::ScopeSet::parse(std::str::from_utf8(data).unwrap()).is_ok() {
            parsed += 1;
        } else {
            assert!(
                path.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("bad_"),
                "{}",
                path.display()
            );
        }
    }
    assert!(parsed >= 5);
}

#[test]
fn smart_json_seeds() {
    let s = seeds("smart_json");
    assert!(s.len() >= 5, "expected seed files");
    let (mut configs, mut tokens) = (0, 0);
    for (_, data) in &s {
        props::check_json(data);
        configs += ehrkit_smart_auth::discovery::SmartConfiguration::parse(data).is_ok() as usize;
        tokens += ehrkit_smart_auth::TokenResponse::parse(data).is_ok() as usize;
    }
    assert!(
        configs >= 2 && tokens >= 3,
        "configs={configs} tokens={tokens}"
    );
}
