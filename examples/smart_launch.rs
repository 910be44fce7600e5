//! SMART standalone launch from the terminal: prints the authorize URL, reads the callback URL
//! you paste after logging in, checks it (state, RFC 9207 iss, errors) and completes the launch.
//!
//! ```text
//! cargo run --example smart_launch --features smart-auth -- \
//!     --fhir-base https://ehr.example/fhir --client-id my-app --redirect-uri http://localhost:8080/cb \
//!     --smart-config smart-configuration.json [--scope "launch/patient openid fhirUser patient/*.rs"] \
//!     [--secret S] [--vendor standard|epic|oracle-v2|oracle-v1]
//! ```
//!
//! With only `smart-auth` the example is sans-IO: it reads the server metadata from
//! `--smart-config FILE` (saved from `FHIR_BASE/.well-known/smart-configuration`) or from
//! `--authorize-endpoint URL --token-endpoint URL`, and prints the token request as a `curl`
//! command. Built with `--features smart-auth,reqwest` it discovers over HTTPS itself, exchanges
//! the code and prints the token response with the tokens redacted.

use ehrkit::smart_auth::client_auth::ClientAuth;
use ehrkit::smart_auth::discovery::{Discovered, Discovery, DiscoveryStep};
use ehrkit::smart_auth::http::{HttpRequest, HttpResponse};
use ehrkit::smart_auth::launch;
use ehrkit::smart_auth::scope::ScopeSet;
use ehrkit::smart_auth::token::Client;
use ehrkit::smart_auth::vendor::VendorProfile;
use ehrkit::smart_auth::Secret;
use std::io::BufRead as _;
use std::process::ExitCode;

const USAGE: &str = "usage: smart_launch --fhir-base URL --client-id ID --redirect-uri URI \
[--smart-config FILE | --authorize-endpoint URL --token-endpoint URL] [--scope SCOPES] [--secret S] \
[--vendor standard|epic|oracle-v2|oracle-v1]";

#[derive(Default)]
struct Args {
    fhir_base: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    secret: Option<String>,
    smart_config: Option<String>,
    authorize_endpoint: Option<String>,
    token_endpoint: Option<String>,
    vendor: VendorProfile,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        scope: "launch/patient openid fhirUser patient/*.rs offline_access".into(),
        ..Default::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--fhir-base" => a.fhir_base = val()?,
            "--client-id" => a.client_id = val()?,
            "--redirect-uri" => a.redirect_uri = val()?,
            "--scope" => a.scope = val()?,
            "--secret" => a.secret = Some(val()?),
            "--smart-config" => a.smart_config = Some(val()?),
            "--authorize-endpoint" => a.authorize_endpoint = Some(val()?),
            "--token-endpoint" => a.token_endpoint = Some(val()?),
            "--vendor" => {
                a.vendor = match val()?.as_str() {
                    "standard" => VendorProfile::standard(),
                    "epic" => VendorProfile::epic(),
                    "oracle-v2" => VendorProfile::oracle_health_v2(),
                    "oracle-v1" => VendorProfile::oracle_health_v1(),
                    v => return Err(format!("unknown vendor {v}\n{USAGE}")),
                }
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if a.fhir_base.is_empty() || a.client_id.is_empty() || a.redirect_uri.is_empty() {
        return Err(format!(
            "--fhir-base, --client-id and --redirect-uri are required\n{USAGE}"
        ));
    }
    Ok(a)
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
    let mut d = Discovery::new(&a.fhir_base).map_err(|e| e.to_string())?;
    match d
        .on_response(HttpResponse::new(200, body))
        .map_err(|e| e.to_string())?
    {
        DiscoveryStep::Done(found) => Ok(Some(*found)),
        DiscoveryStep::Send(_) => Err("the metadata has no token_endpoint".into()),
    }
}

#[cfg_attr(feature = "reqwest", allow(dead_code))]
fn print_curl(req: &HttpRequest) {
    eprintln!("# the command below contains the one-time code and PKCE verifier; run it promptly");
    let mut cmd = format!("curl -sS -X POST '{}'", req.url);
    for (name, value) in &req.headers {
        cmd.push_str(&format!(" -H '{name}: {}'", value.expose()));
    }
    cmd.push_str(&format!(" --data-raw '{}'", req.body.expose()));
    println!("{cmd}");
}

fn run(a: Args) -> Result<(), String> {
    let scopes: ScopeSet = a.scope.parse().map_err(|e| format!("--scope: {e}"))?;
    let auth = match &a.secret {
        Some(s) => ClientAuth::SecretBasic(Secret::new(s.as_str())),
        None => ClientAuth::None,
    };
    let client = Client::new(a.client_id.clone(), auth).with_vendor(a.vendor.clone());

    #[cfg(feature = "reqwest")]
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    #[cfg(feature = "reqwest")]
    let http = ehrkit::smart_auth::http_client::HttpClient::new().map_err(|e| e.to_string())?;

    let found = match offline_discovery(&a)? {
        Some(f) => f,
        #[cfg(feature = "reqwest")]
        None => runtime
            .block_on(http.discover(&a.fhir_base))
            .map_err(|e| e.to_string())?,
        #[cfg(not(feature = "reqwest"))]
        None => {
            return Err(format!(
                "without the reqwest feature pass --smart-config FILE or both endpoints\n{USAGE}"
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
        token_request.url
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
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
