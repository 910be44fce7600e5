//! SMART Backend Services: discover, authenticate with a signed JWT (RS384 or ES384) and print
//! the token response with the tokens redacted.
//!
//! ```text
//! cargo run --example smart_backend_token --features reqwest -- \
//!     --fhir-base https://ehr.example/fhir --client-id my-client --key key.pem \
//!     [--alg ES384|RS384] [--kid KID] [--scope "system/*.rs"] [--print-jwks]
//! ```
//!
//! `--key` takes a PEM (RSA PKCS#1/PKCS#8, EC P-384 PKCS#8/SEC1) or a private JWK (`.json`).
//! Without `--alg` the algorithm follows the key type. `--print-jwks` prints the public JWKS to
//! register with the EHR and exits.

use ehrkit::smart_auth::client_auth::{jwks, Algorithm, ClientAuth, PrivateKeyJwt, SigningKey};
use ehrkit::smart_auth::http_client::{BackendServices, HttpClient};
use ehrkit::smart_auth::scope::ScopeSet;
use ehrkit::smart_auth::store::TokenStore;
use ehrkit::smart_auth::token::Client;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage: smart_backend_token --fhir-base URL --client-id ID --key key.pem \
[--alg ES384|RS384] [--kid KID] [--scope \"system/*.rs\"] [--print-jwks]";

struct Args {
    fhir_base: Option<String>,
    client_id: Option<String>,
    key: String,
    alg: Option<Algorithm>,
    kid: Option<String>,
    scope: String,
    print_jwks: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut fhir_base, mut client_id, mut key, mut alg, mut kid) = (None, None, None, None, None);
    let mut scope = "system/*.rs".to_owned();
    let mut print_jwks = false;
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--fhir-base" => fhir_base = Some(val()?),
            "--client-id" => client_id = Some(val()?),
            "--key" => key = Some(val()?),
            "--alg" => alg = Some(val()?.parse::<Algorithm>().map_err(|e| e.to_string())?),
            "--kid" => kid = Some(val()?),
            "--scope" => scope = val()?,
            "--print-jwks" => print_jwks = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Args {
        fhir_base,
        client_id,
        key: key.ok_or_else(|| format!("--key is required\n{USAGE}"))?,
        alg,
        kid,
        scope,
        print_jwks,
    })
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
    let fhir_base = args
        .fhir_base
        .ok_or_else(|| format!("--fhir-base is required\n{USAGE}"))?;
    let client_id = args
        .client_id
        .ok_or_else(|| format!("--client-id is required\n{USAGE}"))?;
    let scopes: ScopeSet = args.scope.parse().map_err(|e| format!("--scope: {e}"))?;
    eprintln!("key: {} kid={}", key.algorithm().as_str(), key.kid());

    let http = HttpClient::new().map_err(|e| e.to_string())?;
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
    );
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
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
