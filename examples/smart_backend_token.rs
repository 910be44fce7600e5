//! SMART Backend Services: discover, authenticate with a signed JWT (RS384 or ES384) and print
//! the token response with the tokens redacted.
//!
//! ```text
//! cargo run --example smart_backend_token --features reqwest -- \
//!     --fhir-base https://ehr.example/fhir --client-id my-client --key key.pem \
//!     [--alg ES384|RS384] [--kid KID] [--scope "system/*.rs"] [--print-jwks] [--allow-insecure-http]
//! ```
//!
//! `--key` takes a PEM (RSA PKCS#1/PKCS#8, EC P-384 PKCS#8/SEC1) or a private JWK (`.json`).
//! Without `--alg` the algorithm follows the key type. `--print-jwks` prints the public JWKS to
//! register with the EHR and exits. The token request is never re-sent to a redirect target (a
//! 3xx from the token endpoint is an error naming its origin), and the token endpoint must be
//! https unless on loopback or `--allow-insecure-http` is given.

use clap::Parser;
use ehrkit::smart_auth::{
    jwks, Algorithm, BackendServices, Client, ClientAuth, HttpClient, PrivateKeyJwt, ScopeSet,
    SigningKey, TokenStore,
};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// SMART Backend Services: discover, authenticate with a signed JWT (RS384 or ES384) and print
/// the token response with the tokens redacted.
#[derive(Parser)]
#[command(name = "smart_backend_token")]
struct Args {
    /// FHIR base URL of the EHR (required unless --print-jwks).
    #[arg(long, value_name = "URL", required_unless_present = "print_jwks")]
    fhir_base: Option<String>,
    /// The registered client_id (required unless --print-jwks).
    #[arg(long, value_name = "ID", required_unless_present = "print_jwks")]
    client_id: Option<String>,
    /// Private key: PEM (RSA PKCS#1/PKCS#8, EC P-384 PKCS#8/SEC1) or a private JWK (.json).
    #[arg(long, value_name = "key.pem")]
    key: String,
    /// Signing algorithm (default: from the key type).
    #[arg(long, value_name = "ES384|RS384", value_parser = parse_alg)]
    alg: Option<Algorithm>,
    /// Key id for the JWT header (default: the JWK's kid or the RFC 7638 thumbprint).
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
    /// Scopes to request.
    #[arg(long, value_name = "SCOPES", default_value = "system/*.rs")]
    scope: String,
    /// Print the public JWKS to register with the EHR and exit.
    #[arg(long)]
    print_jwks: bool,
    /// Accept a plain-http token endpoint on a host that is not loopback (test rigs only: the
    /// signed assertion would travel in clear text).
    #[arg(long)]
    allow_insecure_http: bool,
}

fn parse_alg(s: &str) -> Result<Algorithm, String> {
    s.parse::<Algorithm>().map_err(|e| e.to_string())
}

fn load_key(path: &str, alg: Option<Algorithm>, kid: Option<String>) -> Result<SigningKey, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    if text.trim_start().starts_with('{') {
        let key = SigningKey::from_jwk(&text).map_err(|e| e.to_string())?;
        if alg.is_some_and(|a| a != key.algorithm()) {
            return Err("--alg does not match the JWK key type".into());
        }
        return Ok(key);
    }
    let candidates = match alg {
        Some(a) => vec![a],
        None if text.contains("BEGIN RSA PRIVATE KEY") => vec![Algorithm::RS384],
        None if text.contains("BEGIN EC PRIVATE KEY") => vec![Algorithm::ES384],
        None => vec![Algorithm::ES384, Algorithm::RS384],
    };
    let mut last = String::new();
    for a in candidates {
        match SigningKey::from_pem(&bytes, a, kid.clone()) {
            Ok(k) => return Ok(k),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

async fn run(args: Args) -> Result<(), String> {
    let key = load_key(&args.key, args.alg, args.kid.clone())?;
    if args.print_jwks {
        println!("{}", serde_json::to_string_pretty(&jwks([&key])).unwrap());
        return Ok(());
    }
    let fhir_base = args.fhir_base.ok_or("--fhir-base is required")?;
    let client_id = args.client_id.ok_or("--client-id is required")?;
    let scopes: ScopeSet = args.scope.parse().map_err(|e| format!("--scope: {e}"))?;
    eprintln!("key: {} kid={}", key.algorithm().as_str(), key.kid());

    let http = HttpClient::new()
        .map_err(|e| e.to_string())?
        .allow_insecure_http(args.allow_insecure_http);
    let found = http.discover(&fhir_base).await.map_err(|e| e.to_string())?;
    eprintln!(
        "discovered from {:?}: token endpoint {}",
        found.source,
        found.config.token_endpoint.as_deref().unwrap_or("?")
    );
    for w in &found.warnings {
        eprintln!("discovery warning: {w}");
    }
    if let Some(algs) = &found
        .config
        .token_endpoint_auth_signing_alg_values_supported
    {
        if !algs.iter().any(|a| a == key.algorithm().as_str()) {
            eprintln!(
                "warning: server does not list {} among {algs:?}",
                key.algorithm().as_str()
            );
        }
    }
    let token_endpoint = found.token_endpoint().map_err(|e| e.to_string())?;
    let client = Client::new(
        client_id,
        ClientAuth::PrivateKeyJwt(PrivateKeyJwt::new(key)),
    )
    .allow_insecure_http(args.allow_insecure_http);
    let svc = BackendServices::with_token_endpoint(
        http,
        token_endpoint,
        client,
        scopes.clone(),
        Arc::new(TokenStore::default()),
    );
    let token = svc.access_token().await.map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::to_string_pretty(&token.response.to_redacted_json()).unwrap()
    );
    if let Some(exp) = token.expires_at {
        let secs = exp
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let left = exp
            .duration_since(SystemTime::now())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        eprintln!("expires at unix {secs} ({left} s from now)");
    }
    let granted = token
        .response
        .effective_scopes(&scopes)
        .map_err(|e| e.to_string())?;
    let diff = scopes.difference(&granted);
    for s in &diff.not_granted {
        eprintln!("not granted: {s}");
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
