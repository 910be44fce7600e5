//! Round-trips FHIR JSON files through the typed model.
//!
//! `cargo run --release --features fhir-model --example fhir_roundtrip -- PATH... [--out DIR]`
//!
//! Each PATH is a `.json` file or a directory of them (searched recursively).
//! Every file is parsed as a typed resource, written back and compared with
//! the original as JSON values (numbers by their written text). Prints
//! `OK file`, `DIFF file json-path` or `ERROR file: message` per file, then
//! `ok=N diff=N error=N`; exits 1 unless all are OK (2 on a usage error).
//! With `--out DIR` the written JSON goes to DIR under each input's file name.
//! When stderr is a terminal, a progress bar shows how many files are done;
//! otherwise stderr gets no progress output.
use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use ehrkit::fhir_model::json::Value;
use ehrkit::fhir_model::{from_slice, to_vec, Resource};
use indicatif::{ProgressBar, ProgressStyle};

/// Round-trips FHIR JSON files through the typed model.
///
/// Prints `OK file`, `DIFF file json-path` or `ERROR file: message` per file,
/// then `ok=N diff=N error=N`; exits 1 unless every file is OK.
#[derive(Parser)]
#[command(name = "fhir_roundtrip")]
struct Args {
    /// `.json` files, or directories searched recursively for them.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Also write each output to DIR, under the input's file name.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// What happened to one file.
enum Outcome {
    Ok,
    Diff(String),
    Error(String),
}

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

/// Parses, writes (to `out_dir` too, when given) and compares one file.
fn roundtrip(
    f: &Path,
    out_dir: Option<&Path>,
    written_names: &mut HashSet<PathBuf>,
    warn: impl Fn(String),
) -> Outcome {
    let bytes = match std::fs::read(f) {
        Ok(b) => b,
        Err(e) => return Outcome::Error(e.to_string()),
    };
    let typed: Resource = match from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return Outcome::Error(e.to_string()),
    };
    let written = to_vec(&typed);
    if let (Some(d), Some(name)) = (out_dir, f.file_name()) {
        // Outputs are flat (by file name): say so when two inputs share one.
        if !written_names.insert(PathBuf::from(name)) {
            warn(format!(
                "warning: {} overwrites an earlier output of the same name",
                f.display()
            ));
        }
        if let Err(e) = std::fs::write(d.join(name), &written) {
            return Outcome::Error(format!("cannot write output: {e}"));
        }
    }
    // The original parsed (it was read above), so it is valid JSON.
    let before = Value::parse(&bytes).unwrap_or_default();
    let after = Value::parse(&written).unwrap_or_default();
    match before.first_difference(&after) {
        None => Outcome::Ok,
        Some(path) => Outcome::Diff(path),
    }
}

/// A progress bar on stderr when it is a terminal and there is more than one file.
fn progress(files: usize) -> Option<ProgressBar> {
    if files < 2 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(files as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} files ({per_sec}, eta {eta})")
    {
        bar.set_style(style);
    }
    Some(bar)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut files = Vec::new();
    for p in &args.paths {
        collect(p, &mut files);
    }
    // An empty directory is not a usage error: it has nothing that fails.
    if let Some(d) = &args.out {
        if let Err(e) = std::fs::create_dir_all(d) {
            eprintln!("cannot create {}: {e}", d.display());
            return ExitCode::from(2);
        }
    }
    let bar = progress(files.len());
    // With the bar on the same terminal as stdout, lines are printed around it.
    let stdout_shares_terminal = bar.is_some() && std::io::stdout().is_terminal();
    let print = |line: String| match &bar {
        Some(b) if stdout_shares_terminal => b.suspend(|| println!("{line}")),
        _ => println!("{line}"),
    };
    let warn = |line: String| match &bar {
        Some(b) => b.suspend(|| eprintln!("{line}")),
        None => eprintln!("{line}"),
    };
    let (mut ok, mut diff, mut error) = (0, 0, 0);
    let mut written_names = HashSet::new();
    for f in &files {
        match roundtrip(f, args.out.as_deref(), &mut written_names, warn) {
            Outcome::Ok => {
                print(format!("OK {}", f.display()));
                ok += 1;
            }
            Outcome::Diff(path) => {
                print(format!("DIFF {} {path}", f.display()));
                diff += 1;
            }
            Outcome::Error(e) => {
                print(format!("ERROR {}: {e}", f.display()));
                error += 1;
            }
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    println!("ok={ok} diff={diff} error={error}");
    if diff + error == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
