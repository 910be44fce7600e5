//! Print values from an HL7 v2 message by path.
//!
//! ```sh
//! cargo run --example hl7v2_query -- examples/data/adt_a01_epic.hl7 MSH-9 PID-3 PID-5.1
//! cargo run --example hl7v2_query -- --all batch.hl7 MSH-10
//! cargo run --example hl7v2_query -- --help
//! ```
//!
//! Output contract (tested as a program by `hl7v2/tests/query_cli.rs`): for each PATH, one line: the
//! decoded value; an empty line when absent; `""` for the HL7 null. An element with deeper structure
//! (e.g. `PID-5` with components, `PID-3` with repetitions, a bare segment ID such as `OBX(2)`) prints
//! as it stands in the message, delimiters and escapes included; `MSH-1` / `MSH-2` print the
//! delimiters literally. Formatting commands such as `\.br\`, and a value whose decoding would hold a
//! line break (`\X0D\`), print as written, so each path stays on one line. `--all` does this for every
//! message in FILE, in order (batch envelopes skipped). Unparseable input, an empty file or a
//! malformed path (`PID-0`, `PID-3(0)`, `PID-a`) exits with code 2 and a one-line error on stderr
//! that holds no message content (with `--all`, the lines of the messages before a bad one are printed
//! first). Paths are case-insensitive (`pid-3` is `PID-3`). Input is read leniently (`\r`, `\n`,
//! `\r\n`, BOM, blank lines, MLLP framing bytes); text that declares no character set and is not
//! UTF-8 is read as ISO 8859-1; other undecodable bytes print as U+FFFD and an unknown MSH-18 is read
//! as UTF-8, so a viewer shows what it can instead of refusing the message.

use std::borrow::Cow;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser as _;
use ehrkit::hl7v2::{Charset, Error, Message, ParseOptions, Path};

/// Print values from HL7 v2 messages by path (`PID-3(2).1`, `OBX(3)-5`, `MSH-9.2`), one line per path.
#[derive(clap::Parser, Debug)]
#[command(name = "hl7v2_query")]
struct Args {
    /// Print the paths for every message in FILE, in order (default: the first message only).
    #[arg(long)]
    all: bool,
    /// The file to read: one or more HL7 v2 messages, or a batch.
    file: std::path::PathBuf,
    /// Paths to print, e.g. `MSH-9.2`, `PID-3(2).1`, `OBX(3)-5`.
    #[arg(required = true)]
    paths: Vec<String>,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("hl7v2_query: {msg}");
    ExitCode::from(2)
}

/// Lenient defaults, an ISO 8859-1 fallback for undeclared (empty MSH-18) non-UTF-8 text, and lossy
/// decoding otherwise.
fn options() -> ParseOptions {
    ParseOptions::default()
        .fallback_charset(Some(Charset::LATIN1))
        .lossy(true)
}

/// Appends the value for `path` to `out`. A value whose decoding would contain a line break is
/// written as it stands in the message instead, so that every path stays on one line.
fn push_value(msg: &Message<'_>, path: &Path, out: &mut String) {
    let Some(v) = msg.get_path(path) else {
        return;
    };
    if !v.contains(['\r', '\n']) {
        out.push_str(&v);
        return;
    }
    if let Some(raw) = msg.raw_path(path) {
        if let Ok(text) = msg.charset().decode(Cow::Borrowed(raw), true) {
            out.push_str(&text);
        }
    }
}

/// Appends one line per path to `out` for the first message of `input` (or, with `all`, for every
/// message in order). On an error, `out` keeps the lines of the messages read before it.
fn run(input: &[u8], paths: &[Path], all: bool, out: &mut String) -> Result<(), Error> {
    let mut print = |m: &Message<'_>| {
        for p in paths {
            push_value(m, p, out);
            out.push('\n');
        }
    };
    if all {
        let mut n = 0usize;
        for m in Message::parse_all(input).options(options()) {
            print(&m?);
            n += 1;
        }
        if n == 0 {
            return Err(Error::Empty);
        }
    } else {
        print(&Message::parse_with(input, options())?);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let paths: Vec<Path> = match args.paths.iter().map(|p| p.parse::<Path>()).collect() {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let file = args.file.display();
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot read {file}: {e}")),
    };
    let mut out = String::new();
    let result = run(&bytes, &paths, args.all, &mut out);
    // A closed pipe (`| head -1`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("{file}: {e}")),
    }
}
