//! Round-trips every `.json` file of a directory through ehrkit-fhir-model
//! while serde_json's `arbitrary_precision`, `preserve_order` and
//! `float_roundtrip` features are enabled in the same binary.
use std::process::ExitCode;

use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::{from_slice, to_vec, Resource};

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: ehrkit-fhir-serde-check DIR");
        return ExitCode::from(2);
    };
    // The features really are on: serde_json keeps `1.50` and key order.
    let v: serde_json::Value = serde_json::from_str(r#"{"b":1.50,"a":1}"#).expect("json");
    assert_eq!(
        serde_json::to_string(&v).expect("json"),
        r#"{"b":1.50,"a":1}"#
    );

    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("package.json"))
        .collect();
    files.sort();
    let (mut ok, mut bad) = (0, 0);
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        let result = from_slice::<Resource>(&bytes).map(|r| to_vec(&r));
        let same = match &result {
            Ok(out) => match (Value::parse(&bytes), Value::parse(out)) {
                (Ok(a), Ok(b)) => a.equivalent(&b),
                _ => false,
            },
            Err(_) => false,
        };
        if same {
            ok += 1;
        } else {
            bad += 1;
            println!("FAIL {}", f.display());
        }
    }
    println!("serde_json features on: {ok}/{} round-trip", files.len());
    if bad == 0 && ok > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
