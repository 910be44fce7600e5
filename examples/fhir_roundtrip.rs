//! Round-trips FHIR JSON files through the typed model.
//!
//! `cargo run --release --features fhir-model --example fhir_roundtrip -- PATH... [--out DIR]`
//!
//! Each PATH is a `.json` file or a directory of them (searched recursively).
//! Every file is parsed as a typed resource, written back and compared with
//! the original as JSON values (numbers by their written text). Prints
//! `OK file`, `DIFF file json-path` or `ERROR file: message` per file, then
//! `ok=N diff=N error=N`; exits 1 unless all are OK. With `--out DIR` the
//! written JSON goes to DIR under each input's file name.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ehrkit::fhir_model::json::Value;
use ehrkit::fhir_model::{from_slice, to_vec, Resource};

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(r) => r.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => return,
        };
        entries.sort();
        for e in entries {
            if e.is_dir()
                || e.extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("json"))
            {
                collect(&e, out);
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
}

fn main() -> ExitCode {
    let mut files = Vec::new();
    let mut out_dir: Option<PathBuf> = None;
    let mut paths = 0;
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if let Some(d) = a.to_str().and_then(|a| a.strip_prefix("--out=")) {
            out_dir = Some(PathBuf::from(d));
        } else if a == "--out" {
            match args.next() {
                Some(d) => out_dir = Some(PathBuf::from(d)),
                None => {
                    eprintln!("--out needs a directory");
                    return ExitCode::from(2);
                }
            }
        } else {
            paths += 1;
            collect(Path::new(&a), &mut files);
        }
    }
    // An empty directory is not a usage error: it has nothing that fails.
    if paths == 0 {
        eprintln!("usage: fhir_roundtrip PATH... [--out DIR]");
        return ExitCode::from(2);
    }
    if let Some(d) = &out_dir {
        if let Err(e) = std::fs::create_dir_all(d) {
            eprintln!("cannot create {}: {e}", d.display());
            return ExitCode::from(2);
        }
    }
    let (mut ok, mut diff, mut error) = (0, 0, 0);
    let mut written_names = std::collections::HashSet::new();
    for f in &files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                println!("ERROR {}: {e}", f.display());
                error += 1;
                continue;
            }
        };
        let typed: Resource = match from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                println!("ERROR {}: {e}", f.display());
                error += 1;
                continue;
            }
        };
        let written = to_vec(&typed);
        if let (Some(d), Some(name)) = (&out_dir, f.file_name()) {
            // Outputs are flat (by file name): say so when two inputs share one.
            if !written_names.insert(name.to_owned()) {
                eprintln!(
                    "warning: {} overwrites an earlier output of the same name",
                    f.display()
                );
            }
            if let Err(e) = std::fs::write(d.join(name), &written) {
                println!("ERROR {}: cannot write output: {e}", f.display());
                error += 1;
                continue;
            }
        }
        // The original parsed (it was read above), so it is valid JSON.
        let before = Value::parse(&bytes).unwrap_or_default();
        let after = Value::parse(&written).unwrap_or_default();
        match before.first_difference(&after) {
            None => {
                println!("OK {}", f.display());
                ok += 1;
            }
            Some(path) => {
                println!("DIFF {} {path}", f.display());
                diff += 1;
            }
        }
    }
    println!("ok={ok} diff={diff} error={error}");
    if diff + error == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
