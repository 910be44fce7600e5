//! Link two FEBRL-style CSV files (or dedupe one) with the ehrkit MPI.
//!
//! ```text
//! cargo run --release --example mpi_link -- A.csv [B.csv] [--truth]
//! ```
//!
//! Prints `rec_id_a,rec_id_b,score` for every pair whose verdict is MATCH (score = match
//! probability), best first. With `--truth` (true pairs share the `rec-N` prefix of `rec_id`) the
//! last line is `precision=P recall=R f1=F pairs=N seconds=S`, where `pairs` is the number of
//! candidate pairs scored after blocking and `seconds` the whole run (features, blocking,
//! training, scoring; file reading excluded).
//!
//! On a terminal, large inputs show what is being done on stderr; nothing is written to stderr
//! otherwise, and stdout is the same either way.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use ehrkit::identity::csv::read_records;
use ehrkit::identity::eval::{febrl_entity, PairMetrics};
use ehrkit::identity::{Linker, MatchConfig, PatientRecord};
use indicatif::{ProgressBar, ProgressStyle};

/// Link two FEBRL/Splink-style CSV files (or dedupe one) with the ehrkit MPI and print
/// `rec_id_a,rec_id_b,score` for every MATCH, best first.
#[derive(Parser)]
#[command(name = "mpi_link")]
struct Args {
    /// One CSV file to dedupe, or two to link (A B).
    #[arg(value_name = "A.csv [B.csv]", num_args = 1..=2, required = true)]
    files: Vec<PathBuf>,
    /// Score against the truth in the keys (true pairs share the `rec-N` prefix of `rec_id`):
    /// prints `precision=P recall=R f1=F pairs=N seconds=S` last.
    #[arg(long)]
    truth: bool,
}

/// Inputs of at least this many bytes show progress on a terminal.
const LARGE_INPUT: u64 = 256 * 1024;

/// A spinner on stderr naming the current stage, when stderr is a terminal and the input is
/// large; `None` otherwise (nothing is printed).
fn progress(files: &[PathBuf]) -> Option<ProgressBar> {
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    if bytes < LARGE_INPUT || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    Some(bar)
}

fn stage(bar: &Option<ProgressBar>, msg: String) {
    if let Some(b) = bar {
        b.set_message(msg);
    }
}

fn load(path: &Path) -> Result<Vec<PatientRecord>, String> {
    let p = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{p}: {e}"))?;
    read_records(&text).map_err(|e| format!("{p}: {e}"))
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("mpi_link: {e}");
        std::process::exit(2);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let bar = progress(&args.files);
    stage(&bar, format!("reading {}", args.files[0].display()));
    let a = load(&args.files[0])?;
    let b = match args.files.get(1) {
        Some(p) => {
            stage(&bar, format!("reading {}", p.display()));
            Some(load(p)?)
        }
        None => None,
    };
    stage(
        &bar,
        match &b {
            Some(b) => format!(
                "linking {} x {} records (features, blocking, training, scoring)",
                a.len(),
                b.len()
            ),
            None => format!(
                "deduplicating {} records (features, blocking, training, scoring)",
                a.len()
            ),
        },
    );
    let linker = Linker::new(MatchConfig::default()).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let result = match &b {
        Some(b) => linker.link(&a, b),
        None => linker.dedupe(&a),
    };
    let seconds = start.elapsed().as_secs_f64();
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let right = b.as_deref().unwrap_or(&a);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut predicted = Vec::new();
    for p in result.matches() {
        let (l, r) = (p.left as usize, p.right as usize);
        writeln!(out, "{},{},{:.6}", a[l].key, right[r].key, p.probability)
            .map_err(|e| e.to_string())?;
        predicted.push((l, r));
    }
    if args.truth {
        let la: Vec<&str> = a.iter().map(|r| febrl_entity(&r.key)).collect();
        let lb: Option<Vec<&str>> = b
            .as_ref()
            .map(|b| b.iter().map(|r| febrl_entity(&r.key)).collect());
        let m = PairMetrics::from_labels(predicted, &la, lb.as_deref());
        writeln!(
            out,
            "precision={:.4} recall={:.4} f1={:.4} pairs={} seconds={:.3}",
            m.precision(),
            m.recall(),
            m.f1(),
            result.blocking.candidate_pairs,
            seconds
        )
        .map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}
