//! FHIR Bulk Data `$export` from the command line: kick-off, progress,
//! download into a directory, per-type line counts and the manifest's
//! `transactionTime` (the `_since` of your next incremental export).
//!
//! ```text
//! cargo run --example bulk_export --features reqwest -- \
//!     --fhir-base https://bulk-data.smarthealthit.org/fhir \
//!     [--group ID] [--type Patient,Observation] [--since 2024-01-01T00:00:00Z] \
//!     [--client-id ID --key key.pem [--alg ES384|RS384] [--kid KID] [--scope "system/*.rs"]] \
//!     [--token BEARER] [--resume STATUS_URL] [--max-file-size BYTES] \
//!     [--token-to-other-origins] --out DIR
//! ```
//!
//! `--help` lists the options. Download progress goes to stderr: a progress bar on a
//! terminal, one plain line per file otherwise; stdout is unchanged.
//!
//! Without `--group` the export runs at system level. `--client-id` and `--key` use SMART
//! Backend Services: the token endpoint is discovered from the FHIR base's
//! `.well-known/smart-configuration`, each token request is authenticated with a signed JWT
//! (`--key`: PEM, RSA PKCS#1/PKCS#8 or EC P-384 PKCS#8/SEC1, or a private JWK `.json`; the
//! algorithm follows the key unless `--alg` says), and tokens are renewed before they expire
//! and once after a 401. `--scope` defaults to `system/*.rs` (plus `system/<Type>.rs` for each
//! `--type` when given). `--token` (or the `EHRKIT_BULK_TOKEN` environment variable) sends a
//! fixed bearer token instead.
//! Ctrl-C while waiting cancels the export on the server (DELETE).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Parser;
use ehrkit::bulk_data::client::{BulkClient, ClientConfig, NoAuth, StaticToken, TokenProvider};
use ehrkit::bulk_data::smart::BackendServicesTokens;
use ehrkit::bulk_data::{ExportLevel, ExportRequest, FileKind, WaitReason};
use ehrkit::smart_auth::{
    Algorithm, Client, ClientAuth, PrivateKeyJwt, ScopeSet, SigningKey, TokenStore,
};
use indicatif::{ProgressBar, ProgressStyle};

/// FHIR Bulk Data $export: kick-off, progress, download into a directory,
/// per-type line counts and the manifest's transactionTime.
#[derive(Parser)]
#[command(name = "bulk_export")]
struct Args {
    /// FHIR base URL of the server.
    #[arg(long, value_name = "URL")]
    fhir_base: String,
    /// Export the members of this Group (default: system level).
    #[arg(long, value_name = "ID")]
    group: Option<String>,
    /// Resource types to export (comma-separated, repeatable).
    #[arg(long = "type", value_name = "T1,T2")]
    types: Vec<String>,
    /// Only resources changed since this FHIR instant (`_since`).
    #[arg(long, value_name = "INSTANT")]
    since: Option<String>,
    /// SMART Backend Services client id (with --key).
    #[arg(long, value_name = "ID", requires = "key")]
    client_id: Option<String>,
    /// Private key (PEM or private JWK .json) for the client assertion (with --client-id).
    #[arg(long, value_name = "key.pem", requires = "client_id")]
    key: Option<PathBuf>,
    /// Signing algorithm (default: follows the key).
    #[arg(long, value_name = "ES384|RS384", value_parser = parse_alg)]
    alg: Option<Algorithm>,
    /// Key id (`kid`) of the key.
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
    /// Scopes to request (default system/*.rs, or system/<Type>.rs per --type).
    #[arg(long, value_name = "SCOPES")]
    scope: Option<String>,
    /// A fixed bearer token (or the EHRKIT_BULK_TOKEN environment variable).
    #[arg(long, value_name = "BEARER")]
    token: Option<String>,
    /// Continue an export from its status URL.
    #[arg(long, value_name = "STATUS_URL")]
    resume: Option<String>,
    /// Directory for the downloaded NDJSON files.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Largest decoded size of one downloaded file, in bytes (default: no limit).
    #[arg(long, value_name = "BYTES")]
    max_file_size: Option<u64>,
    /// Send the bearer token to a status URL or manifest page on another origin than the FHIR base.
    #[arg(long)]
    token_to_other_origins: bool,
}

fn parse_alg(s: &str) -> Result<Algorithm, String> {
    s.parse::<Algorithm>().map_err(|e| e.to_string())
}

fn parse_args() -> Args {
    let mut a = Args::parse();
    a.types = a
        .types
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if a.token.is_none() {
        a.token = std::env::var("EHRKIT_BULK_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
    }
    a
}

/// Download progress on stderr: a bar on a terminal, plain lines otherwise.
struct DownloadProgress {
    bar: Option<ProgressBar>,
    total: u64,
    done: AtomicU64,
    records: AtomicU64,
}

impl DownloadProgress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        DownloadProgress {
            bar,
            total,
            done: AtomicU64::new(0),
            records: AtomicU64::new(0),
        }
    }

    fn file_done(&self, name: &str, records: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let all = self.records.fetch_add(records, Ordering::Relaxed) + records;
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{all} records"));
                bar.inc(1);
            }
            None => eprintln!(
                "downloaded {done}/{} files ({name}: {records} records)",
                self.total
            ),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

async fn run<P: TokenProvider>(args: &Args, tokens: P) -> Result<(), Box<dyn std::error::Error>> {
    let base = args.fhir_base.parse()?;
    let out = args.out.clone();
    let config = ClientConfig::default()
        .max_file_size(args.max_file_size)
        .token_to_other_origins(args.token_to_other_origins);
    let client = BulkClient::with_config(base, tokens, config)?;

    let mut job = match &args.resume {
        Some(url) => {
            println!("resuming export at {url}");
            client.resume(url.parse()?)
        }
        None => {
            let level = match &args.group {
                Some(g) => ExportLevel::Group(g.clone()),
                None => ExportLevel::System,
            };
            let mut req = ExportRequest::new(level).types(args.types.iter().cloned());
            if let Some(s) = &args.since {
                req = req.since(s.clone());
            }
            let job = client.kick_off(&req).await?;
            println!("export accepted; status URL (use --resume to continue later):");
            println!("  {}", job.status_url());
            job
        }
    };

    let waiting = client.wait(&mut job, |p| {
        let what = match p.reason {
            WaitReason::InProgress => p.x_progress.clone().unwrap_or_else(|| "in progress".into()),
            WaitReason::RateLimited => "rate limited (429)".into(),
            WaitReason::Transient(Some(s)) => format!("server error {s}, retrying"),
            WaitReason::Transient(None) => "network error, retrying".into(),
            _ => "waiting".into(),
        };
        println!(
            "[{:>6.0}s] {what}; next poll in {:.1}s",
            p.elapsed.as_secs_f64(),
            p.next_poll_in.as_secs_f64()
        );
    });
    let manifest = tokio::select! {
        m = waiting => m?,
        _ = tokio::signal::ctrl_c() => {
            println!("interrupted: cancelling the export on the server");
            client.cancel(&job).await?;
            return Err("cancelled".into());
        }
    };
    println!(
        "export complete: {} output, {} error, {} deleted file(s); requiresAccessToken={}",
        manifest.output.len(),
        manifest.error.len(),
        manifest.deleted.len(),
        manifest.requires_access_token
    );

    let total = manifest.output.len() + manifest.error.len() + manifest.deleted.len();
    let progress = DownloadProgress::new(total as u64);
    let files = client
        .download_all_with(&manifest, &out, |f| {
            let name = f.path.file_name().unwrap_or_default().to_string_lossy();
            progress.file_done(&name, f.records);
        })
        .await;
    progress.finish();
    let files = files?;
    let mut per_type: BTreeMap<String, (u64, usize)> = BTreeMap::new();
    for f in &files {
        let key = match f.kind {
            FileKind::Output => f.resource_type.clone(),
            FileKind::Error => "(errors: OperationOutcome)".into(),
            FileKind::Deleted => "(deleted: Bundle)".into(),
            _ => "(other)".into(),
        };
        let e = per_type.entry(key).or_default();
        e.0 += f.records;
        e.1 += 1;
    }
    println!("downloaded into {}:", out.display());
    for (t, (lines, nfiles)) in &per_type {
        println!("  {t:<32} {lines:>10} lines in {nfiles} file(s)");
    }
    println!("transactionTime: {}", manifest.transaction_time);
    println!(
        "(use --since {} for the next incremental export)",
        manifest.next_since()
    );
    Ok(())
}

/// Loads a PEM or a private JWK; without `--alg` the algorithm follows the key type.
fn load_key(path: &std::path::Path, args: &Args) -> Result<SigningKey, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    if text.trim_start().starts_with('{') {
        let key = SigningKey::from_jwk(&text).map_err(|e| e.to_string())?;
        if args.alg.is_some_and(|a| a != key.algorithm()) {
            return Err("--alg does not match the JWK key type".into());
        }
        return Ok(key);
    }
    let candidates = match args.alg {
        Some(a) => vec![a],
        None if text.contains("BEGIN RSA PRIVATE KEY") => vec![Algorithm::RS384],
        None if text.contains("BEGIN EC PRIVATE KEY") => vec![Algorithm::ES384],
        None => vec![Algorithm::ES384, Algorithm::RS384],
    };
    let mut last = String::from("no algorithm to try");
    for alg in candidates {
        match SigningKey::from_pem(&bytes, alg, args.kid.clone()) {
            Ok(k) => return Ok(k),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// SMART Backend Services: discovery from the FHIR base, then signed-JWT token requests.
async fn backend_services(
    args: &Args,
    client_id: &str,
    key: &std::path::Path,
) -> Result<BackendServicesTokens, Box<dyn std::error::Error>> {
    let key = load_key(key, args)?;
    let scope = match (&args.scope, args.types.is_empty()) {
        (Some(s), _) => s.clone(),
        (None, true) => "system/*.rs".to_owned(),
        (None, false) => args
            .types
            .iter()
            .map(|t| format!("system/{t}.rs"))
            .collect::<Vec<_>>()
            .join(" "),
    };
    let scopes: ScopeSet = scope.parse().map_err(|e| format!("--scope: {e}"))?;
    let base = args.fhir_base.parse()?;
    println!(
        "SMART Backend Services: client {client_id}, {} key kid={}, scope \"{}\"",
        key.algorithm().as_str(),
        key.kid(),
        scopes.canonical()
    );
    let client = Client::new(
        client_id,
        ClientAuth::PrivateKeyJwt(PrivateKeyJwt::new(key)),
    );
    let tokens =
        BackendServicesTokens::connect(&base, client, scopes, Arc::new(TokenStore::default()))
            .await?;
    println!("token endpoint: {}", tokens.services().key().token_endpoint);
    Ok(tokens)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = parse_args();
    let result = if let (Some(id), Some(key)) = (&args.client_id, &args.key) {
        match backend_services(&args, id, key).await {
            Ok(tokens) => run(&args, tokens).await,
            Err(e) => Err(e),
        }
    } else if let Some(t) = args.token.clone() {
        run(&args, StaticToken::new(t)).await
    } else {
        run(&args, NoAuth).await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain: this crate's errors name stage, origin and path (never a URL's
            // query), and their sources carry no URL.
            let mut msg = e.to_string();
            let mut src = e.source();
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
