//! Link two FEBRL-style CSV files (or dedupe one) with the ehrkit MPI.
//!
//! ```text
//! cargo run --release --features identity --example mpi_link -- A.csv [B.csv] [--truth]
//! ```
//!
//! Prints `rec_id_a,rec_id_b,score` for every pair whose verdict is MATCH (score = match
//! probability), best first. With `--truth` (true pairs share the `rec-N` prefix of `rec_id`) the
//! last line is `precision=P recall=R f1=F pairs=N seconds=S`, where `pairs` is the number of
//! candidate pairs scored after blocking and `seconds` the whole run (features, blocking,
//! training, scoring; file reading excluded).

use std::io::Write;
use std::time::Instant;

use ehrkit::identity::csv::read_records;
use ehrkit::identity::eval::{febrl_entity, PairMetrics};
use ehrkit::identity::{Linker, MatchConfig, PatientRecord};

fn load(path: &str) -> Result<Vec<PatientRecord>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    read_records(&text).map_err(|e| format!("{path}: {e}"))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("mpi_link: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut files = Vec::new();
    let mut truth = false;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--truth" => truth = true,
            "-h" | "--help" => {
                println!("usage: mpi_link A.csv [B.csv] [--truth]");
                return Ok(());
            }
            _ => files.push(a),
        }
    }
    if files.is_empty() || files.len() > 2 {
        return Err("usage: mpi_link A.csv [B.csv] [--truth]".into());
    }
    let a = load(&files[0])?;
    let b = match files.get(1) {
        Some(p) => Some(load(p)?),
        None => None,
    };
    let linker = Linker::new(MatchConfig::default());
    let start = Instant::now();
    let result = match &b {
        Some(b) => linker.link(&a, b),
        None => linker.dedupe(&a),
    };
    let seconds = start.elapsed().as_secs_f64();
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
    if truth {
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
    Ok(())
}
