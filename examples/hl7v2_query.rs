//! Print values from an HL7 v2 message by path.
//!
//! ```sh
//! cargo run --example hl7v2_query -- examples/data/adt_a01_epic.hl7 MSH-9 PID-3 PID-5.1
//! cargo run --example hl7v2_query -- --all batch.hl7 MSH-10
//! ```
//!
//! For each PATH, one line: the decoded value; an empty line when absent; `""` for the HL7 null. An
//! element with deeper structure (e.g. `PID-5` with components, `PID-3` with repetitions) prints as it
//! stands in the message, delimiters included. `--all` does this for every message in FILE, in order.
//! Unparseable input, an empty file or a malformed path (`PID-0`, `PID-3(0)`, `PID-a`) exits with code
//! 2 and a one-line error on stderr. Paths are case-insensitive (`pid-3` is `PID-3`). Text that
//! declares no character set and is not UTF-8 is read as ISO 8859-1; other undecodable bytes
//! print as U+FFFD. The formatting lives in
//! `ehrkit::hl7v2::query`, where it is tested.

use std::io::Write;
use std::process::ExitCode;

use ehrkit::hl7v2::{query, Path};

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("hl7v2_query: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let all = if let Some(i) = args.iter().position(|a| a == "--all") {
        args.remove(i);
        true
    } else {
        false
    };
    if args.len() < 2 {
        return fail("usage: hl7v2_query [--all] FILE PATH...");
    }
    let file = args.remove(0);
    let paths: Vec<Path> = match args.iter().map(|p| p.parse::<Path>()).collect() {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot read {file}: {e}")),
    };
    let mut out = String::new();
    let result = query::run(&bytes, &paths, all, &mut out);
    // A closed pipe (`| head -1`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("{file}: {e}")),
    }
}
