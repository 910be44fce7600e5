//! Normalize a resource (or a Bundle) read from a vendor FHIR server to the canonical US Core
//! shape (`ehrkit-mapping`'s `Normalizer`).
//!
//! ```sh
//! cargo run --features mapping --example fhir_normalize -- --profile epic mapping/tests/data/quirks/fhir/epic/pair-patient.json
//! cargo run --features mapping --example fhir_normalize -- --profile mapping/tests/data/quirks/fhir/epic/site.toml FILE.json
//! cargo run --features mapping --example fhir_normalize -- --routes routes.toml --base-url https://fhir.site.test/R4 FILE.json
//! ```
//!
//! Output contract: stdout holds the canonical resources, one JSON per line (the resource, then
//! those lifted out of it, such as contained Locations; a Bundle is one line); stderr holds the
//! change list, one line per change (`fhir_normalize: change: Type/id PATH: OPERATION (RULE)`),
//! then what was left alone (`fhir_normalize: note: Type/id PATH: REASON (RULE)`): paths and
//! rule names only, never values. A file that is not FHIR JSON, an unknown profile, an
//! unreadable or invalid profile/routing file, or a base URL no route matches exits with code 2
//! and a one-line error on stderr, with nothing on stdout.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser as _;
use ehrkit::fhir_model::Resource;
use ehrkit::mapping::normalize::{
    FhirProfile, FhirRouting, Normalizer, SiteOverlay, BUILTIN_FHIR_PROFILES,
};

/// Normalize vendor FHIR resources to the canonical US Core shape.
#[derive(clap::Parser, Debug)]
#[command(name = "fhir_normalize")]
struct Args {
    /// A built-in FHIR profile (generic, epic, oracle_health, athenahealth, veradigm) or a site
    /// overlay TOML file (`base = "epic"`). With --routes, overrides the route.
    #[arg(long)]
    profile: Option<String>,
    /// A routing table TOML (`[[route]] base = URL, profile = NAME`) to pick the profile from
    /// --base-url.
    #[arg(long, requires = "base_url")]
    routes: Option<std::path::PathBuf>,
    /// The base URL of the server the resource was read from (with --routes).
    #[arg(long, requires = "routes")]
    base_url: Option<String>,
    /// The resource or Bundle, as FHIR JSON.
    file: std::path::PathBuf,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("fhir_normalize: {msg}");
    ExitCode::from(2)
}

fn profile(spec: &str) -> Result<FhirProfile, String> {
    if spec.ends_with(".toml") {
        let text = std::fs::read_to_string(spec).map_err(|e| format!("profile {spec}: {e}"))?;
        let overlay = SiteOverlay::from_toml(&text).map_err(|e| format!("profile {spec}: {e}"))?;
        return overlay.build().map_err(|e| format!("profile {spec}: {e}"));
    }
    FhirProfile::builtin(spec).map_err(|_| {
        format!(
            "unknown profile `{spec}` (built in: {}; or a site .toml file)",
            BUILTIN_FHIR_PROFILES.join(", ")
        )
    })
}

fn select(args: &Args) -> Result<FhirProfile, String> {
    match (&args.routes, &args.base_url) {
        (Some(path), Some(base)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("routes {}: {e}", path.display()))?;
            let mut routes = FhirRouting::from_toml(&text)
                .map_err(|e| format!("routes {}: {e}", path.display()))?;
            // A site file given as the override is used as is.
            if let Some(spec) = args.profile.as_deref().filter(|s| s.ends_with(".toml")) {
                return profile(spec);
            }
            routes.profiles.clear();
            routes
                .select(base, args.profile.as_deref())
                .map_err(|e| e.to_string())
        }
        _ => profile(args.profile.as_deref().unwrap_or("generic")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let profile = match select(&args) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let input = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => return fail(format!("{}: {e}", args.file.display())),
    };
    let resource: Resource = match ehrkit::fhir_model::from_slice(&input) {
        Ok(r) => r,
        Err(e) => return fail(format!("{}: {e}", args.file.display())),
    };
    let out = Normalizer::new(profile).normalize(resource);
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    for r in &out.resources {
        if writeln!(w, "{}", ehrkit::fhir_model::to_string(r)).is_err() {
            return ExitCode::from(2);
        }
    }
    for c in &out.changes {
        eprintln!("fhir_normalize: change: {c}");
    }
    for n in &out.notes {
        eprintln!("fhir_normalize: note: {n}");
    }
    ExitCode::SUCCESS
}
