//! SMART standalone launch from the terminal: prints the authorize URL, reads the callback URL
//! you paste after logging in, checks it (state, RFC 9207 iss, errors) and completes the launch.
//!
//! ```text
//! cargo run --example smart_launch --features smart-auth -- \
//!     --fhir-base https://ehr.example/fhir --client-id my-app --redirect-uri http://localhost:8080/cb \
//!     --smart-config smart-configuration.json [--scope "launch/patient openid fhirUser patient/*.rs"] \
//!     [--secret S] [--vendor standard|epic|oracle-v2|oracle-v1] [--allow-insecure-http]
//! ```
//!
//! With only `smart-auth` the example is sans-IO: it reads the server metadata from
//! `--smart-config FILE` (saved from `FHIR_BASE/.well-known/smart-configuration`) or from
//! `--authorize-endpoint URL --token-endpoint URL`, and prints the token request as a `curl`
//! command. Built with `--features smart-auth,reqwest` it discovers over HTTPS itself, exchanges
//! the code and prints the token response with the tokens redacted. Every value in the `curl`
//! line is single-quoted for a POSIX shell (`curl_command`), so pasting it runs nothing but
//! curl; endpoints must be https unless on loopback or `--allow-insecure-http` is given.

use clap::{Parser, ValueEnum};
use ehrkit::smart_auth::{
    curl_command, http, launch, Client, ClientAuth, Discovered, Discovery, DiscoveryStep, ScopeSet,
    Secret, VendorProfile,
};
use std::io::BufRead as _;
use std::process::ExitCode;

/// SMART standalone launch from the terminal: prints the authorize URL, reads the callback URL
/// you paste after logging in, checks it and completes the launch (or prints the token request
/// as a curl command without the reqwest feature).
#[derive(Parser)]
#[command(name = "smart_launch")]
struct Args {
    /// FHIR base URL of the EHR (the `aud` of the launch).
    #[arg(long, value_name = "URL")]
    fhir_base: String,
    /// The app's client_id.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// The registered redirect URI.
    #[arg(long, value_name = "URI")]
    redirect_uri: String,
    /// Scopes to request.
    #[arg(
        long,
        value_name = "SCOPES",
        default_value = "launch/patient openid fhirUser patient/*.rs offline_access"
    )]
    scope: String,
    /// Client secret (client_secret_basic); public client without it.
    #[arg(long, value_name = "S")]
    secret: Option<String>,
    /// Server metadata saved from FHIR_BASE/.well-known/smart-configuration.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["authorize_endpoint", "token_endpoint"])]
    smart_config: Option<String>,
    /// Authorization endpoint (with --token-endpoint, instead of --smart-config).
    #[arg(long, value_name = "URL", requires = "token_endpoint")]
    authorize_endpoint: Option<String>,
    /// Token endpoint (with --authorize-endpoint, instead of --smart-config).
    #[arg(long, value_name = "URL", requires = "authorize_endpoint")]
    token_endpoint: Option<String>,
    /// Vendor quirk profile.
    #[arg(long, value_enum, default_value = "standard")]
    vendor: Vendor,
    /// Accept plain-http endpoints on hosts that are not loopback (test rigs only: the code,
    /// verifier and secret would travel in clear text).
    #[arg(long)]
    allow_insecure_http: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Vendor {
    Standard,
    Epic,
    OracleV2,
    OracleV1,
}

impl Vendor {
    fn profile(self) -> VendorProfile {
        match self {
            Vendor::Standard => VendorProfile::standard(),
            Vendor::Epic => VendorProfile::epic(),
            Vendor::OracleV2 => VendorProfile::oracle_health_v2(),
            Vendor::OracleV1 => VendorProfile::oracle_health_v1(),
        }
    }
}

/// Metadata from a file or from the two endpoint flags, through the sans-IO discovery machine.
fn offline_discovery(a: &Args) -> Result<Option<Discovered>, String> {
    let body = match (&a.smart_config, &a.authorize_endpoint, &a.token_endpoint) {
        (Some(path), _, _) => std::fs::read(path).map_err(|e| format!("{path}: {e}"))?,
        (None, Some(authz), Some(token)) => serde_json::json!({
            "authorization_endpoint": authz,
            "token_endpoint": token,
            "capabilities": ["launch-standalone"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
        })
        .to_string()
        .into_bytes(),
        _ => return Ok(None),
    };
    let mut d = Discovery::new(&a.fhir_base)
        .map_err(|e| e.to_string())?
        .allow_insecure_http(a.allow_insecure_http);
    match d
        .on_response(&http::Response::new(body))
        .map_err(|e| e.to_string())?
    {
        DiscoveryStep::Done(found) => Ok(Some(*found)),
        DiscoveryStep::Send(_) => Err("the metadata has no token_endpoint".into()),
    }
}

/// Prints the token request as a curl command, every value quoted for a POSIX shell.
#[cfg_attr(feature = "reqwest", allow(dead_code))]
fn print_curl(req: &http::Request<ehrkit::smart_auth::SecretBody>) {
    eprintln!("# the command below contains the one-time code and PKCE verifier; run it promptly");
    println!("{}", curl_command(req));
}

fn run(a: Args) -> Result<(), String> {
    let scopes: ScopeSet = a.scope.parse().map_err(|e| format!("--scope: {e}"))?;
    let auth = match &a.secret {
        Some(s) => ClientAuth::SecretBasic(Secret::new(s.as_str())),
        None => ClientAuth::None,
    };
    let client = Client::new(a.client_id.clone(), auth)
        .vendor(a.vendor.profile())
        .allow_insecure_http(a.allow_insecure_http);

    #[cfg(feature = "reqwest")]
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    #[cfg(feature = "reqwest")]
    let http = ehrkit::smart_auth::HttpClient::new()
        .map_err(|e| e.to_string())?
        .allow_insecure_http(a.allow_insecure_http);

    let found = match offline_discovery(&a)? {
        Some(f) => f,
        #[cfg(feature = "reqwest")]
        None => runtime
            .block_on(http.discover(&a.fhir_base))
            .map_err(|e| e.to_string())?,
        #[cfg(not(feature = "reqwest"))]
        None => {
            return Err(format!(
                "without the reqwest feature pass --smart-config FILE or both endpoints"
            ))
        }
    };
    for w in &found.warnings {
        eprintln!("discovery warning: {w}");
    }
    let req =
        launch::standalone(&client, &found, &a.redirect_uri, &scopes).map_err(|e| e.to_string())?;
    eprintln!("Open this URL, log in, then paste the full URL you are redirected to:");
    println!("{}", req.url);

    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let requested = req.pending.requested_scopes().clone();
    let token_request = req
        .pending
        .callback(&client, line.trim())
        .map_err(|e| e.to_string())?;
    eprintln!(
        "callback checked (state, iss); token request ready for {}",
        token_request.uri()
    );

    #[cfg(feature = "reqwest")]
    {
        let t = runtime
            .block_on(http.token(&client, &token_request))
            .map_err(|e| e.to_string())?;
        println!(
            "{}",
            serde_json::to_string_pretty(&t.to_redacted_json()).unwrap()
        );
        let granted = t.effective_scopes(&requested).map_err(|e| e.to_string())?;
        for s in requested.difference(&granted).not_granted {
            eprintln!("not granted: {s}");
        }
    }
    #[cfg(not(feature = "reqwest"))]
    {
        let _ = requested;
        print_curl(&token_request);
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
