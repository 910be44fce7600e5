//! Convert HL7 v2 messages to FHIR R4 Bundles (HL7 v2-to-FHIR IG, `ehrkit-mapping`).
//!
//! ```sh
//! cargo run --features mapping --example v2_to_fhir -- mapping/tests/data/adt_a01_visit.hl7
//! cargo run --features mapping --example v2_to_fhir -- --bundle-type message --tz America/Chicago FILE
//! cargo run --features mapping --example v2_to_fhir -- --profile site.toml --all FILE
//! cargo run --features mapping --example v2_to_fhir -- --profile epic FILE
//! cargo run --features mapping --example v2_to_fhir -- --profile mapping/profiles/examples/epic.toml FILE
//! ```
//!
//! Output contract: stdout holds the Bundle of the first message as one line of JSON (with
//! `--all`, one Bundle per message, one per line, in order; batch envelopes skipped); stderr
//! holds the report, one line per entry (`v2_to_fhir: message N: LOCATION: what`), locations
//! only, never values. Input that does not parse, a message that cannot be converted
//! (unsupported type, required segment absent), an unknown profile name, an unreadable profile
//! file, an unknown Bundle type or time zone exits with code 2 and a one-line error on stderr
//! (with `--all`, the Bundles of the messages before a bad one are printed first).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser as _;
use ehrkit::hl7v2::Message;
use ehrkit::mapping::v2_to_fhir::{BundleKind, Converter, Options};
use ehrkit::mapping::Profile;

/// Convert HL7 v2 messages to FHIR R4 Bundles, per the HL7 v2-to-FHIR IG.
#[derive(clap::Parser, Debug)]
#[command(name = "v2_to_fhir")]
struct Args {
    /// A built-in profile name (generic, epic, oracle_health, veradigm, meditech, athenahealth,
    /// eclinicalworks, nextgen) or a profile TOML file (a site overlay: `extends = "epic"`).
    #[arg(long, default_value = "generic")]
    profile: String,
    /// The Bundle type: transaction, batch, collection or message.
    #[arg(long, default_value = "transaction")]
    bundle_type: String,
    /// IANA time zone of the sender, for timestamps without an offset (overrides the profile's).
    #[arg(long)]
    tz: Option<String>,
    /// Convert every message in FILE (default: the first only).
    #[arg(long)]
    all: bool,
    /// The file to read: one or more HL7 v2 messages, or a batch.
    file: std::path::PathBuf,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("v2_to_fhir: {msg}");
    ExitCode::from(2)
}

fn profile(spec: &str) -> Result<Profile, String> {
    if let Some(p) = Profile::builtin(spec) {
        return Ok(p);
    }
    match spec {
        path if path.ends_with(".toml") => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("profile {path}: {e}"))?;
            Profile::from_toml(&text).map_err(|e| format!("profile {path}: {e}"))
        }
        other => Err(format!(
            "unknown profile `{other}` (built in: {}; or a .toml file)",
            Profile::BUILTIN.join(", ")
        )),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut profile = match profile(&args.profile) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if let Some(tz) = &args.tz {
        match tz.parse() {
            Ok(zone) => profile = profile.time_zone(zone),
            Err(_) => return fail(format!("unknown time zone `{tz}` (an IANA name)")),
        }
    }
    let Some(kind) = BundleKind::from_code(&args.bundle_type) else {
        return fail(format!(
            "unknown bundle type `{}` (transaction, batch, collection, message)",
            args.bundle_type
        ));
    };
    let input = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => return fail(format!("{}: {e}", args.file.display())),
    };
    // The profile's undeclared character set (ISO 8859-1 senders without MSH-18) applies.
    let parse_options = profile.parse_options();
    let converter = Converter::new(profile, Options::default().bundle_kind(kind));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut count = 0usize;
    for (n, parsed) in Message::parse_all(&input)
        .options(parse_options)
        .enumerate()
    {
        let msg = match parsed {
            Ok(m) => m,
            Err(e) => return fail(format!("message {}: {e}", n + 1)),
        };
        let conversion = match converter.convert(&msg) {
            Ok(c) => c,
            Err(e) => return fail(format!("message {}: {e}", n + 1)),
        };
        for entry in conversion.report.entries() {
            eprintln!("v2_to_fhir: message {}: {entry}", n + 1);
        }
        let json = ehrkit::fhir_model::to_string(&conversion.bundle);
        if writeln!(out, "{json}").is_err() {
            return ExitCode::from(2);
        }
        count += 1;
        if !args.all {
            break;
        }
    }
    if count == 0 {
        return fail(format!("{}: no HL7 v2 message", args.file.display()));
    }
    ExitCode::SUCCESS
}
