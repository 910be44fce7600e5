//! FHIR Bulk Data `$export` from the command line: kick-off, progress,
//! download into a directory, per-type line counts and the manifest's
//! `transactionTime` (the `_since` of your next incremental export).
//!
//! ```text
//! cargo run --example bulk_export --features reqwest -- \
//!     --fhir-base https://bulk-data.smarthealthit.org/fhir \
//!     [--group ID] [--type Patient,Observation] [--since 2024-01-01T00:00:00Z] \
//!     [--client-id ID --key key.pem [--alg ES384|RS384] [--kid KID] [--scope "system/*.rs"]] \
//!     [--token BEARER] [--resume STATUS_URL] --out DIR
//! ```
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
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use ehrkit::bulk_data::client::{BulkClient, ClientConfig, NoAuth, StaticToken, TokenProvider};
use ehrkit::bulk_data::{ExportLevel, ExportRequest, FileKind, WaitReason};
use ehrkit::bulk_data::smart::BackendServicesTokens;
use ehrkit::smart_auth::client_auth::{Algorithm, ClientAuth, PrivateKeyJwt, SigningKey};
use ehrkit::smart_auth::scope::ScopeSet;
use ehrkit::smart_auth::store::TokenStore;
use ehrkit::smart_auth::token::Client;

#[derive(Default)]
struct Args {
    fhir_base: Option<String>,
    group: Option<String>,
    types: Vec<String>,
    since: Option<String>,
    client_id: Option<String>,
    key: Option<PathBuf>,
    alg: Option<Algorithm>,
    kid: Option<String>,
    scope: Option<String>,
    token: Option<String>,
    resume: Option<String>,
    out: Option<PathBuf>,
}

const USAGE: &str =
    "usage: bulk_export --fhir-base URL [--group ID] [--type T1,T2] [--since INSTANT] \
[--client-id ID --key key.pem [--alg ES384|RS384] [--kid KID] [--scope SCOPES]] \
[--token BEARER] [--resume STATUS_URL] --out DIR";

fn parse_args() -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--fhir-base" => a.fhir_base = Some(val()?),
            "--group" => a.group = Some(val()?),
            "--type" => a.types.extend(
                val()?
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            "--since" => a.since = Some(val()?),
            "--client-id" => a.client_id = Some(val()?),
            "--key" => a.key = Some(PathBuf::from(val()?)),
            "--alg" => a.alg = Some(val()?.parse::<Algorithm>().map_err(|e| e.to_string())?),
            "--kid" => a.kid = Some(val()?),
            "--scope" => a.scope = Some(val()?),
            "--token" => a.token = Some(val()?),
            "--resume" => a.resume = Some(val()?),
            "--out" => a.out = Some(PathBuf::from(val()?)),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if a.fhir_base.is_none() || a.out.is_none() {
        return Err(USAGE.to_owned());
    }
    if a.client_id.is_some() != a.key.is_some() {
        return Err(format!("--client-id and --key go together\n{USAGE}"));
    }
    if a.token.is_none() {
        a.token = std::env::var("EHRKIT_BULK_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
    }
    Ok(a)
}

async fn run<P: TokenProvider>(args: &Args, tokens: P) -> Result<(), Box<dyn std::error::Error>> {
    let base = args.fhir_base.as_deref().unwrap_or_default().parse()?;
    let out = args.out.clone().unwrap_or_default();
    let client = BulkClient::with_config(base, tokens, ClientConfig::default())?;

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

    let files = client.download_all(&manifest, &out).await?;
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
    let base = args.fhir_base.as_deref().unwrap_or_default().parse()?;
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
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
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
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
