//! Fetch FHIR resources from any EHR's FHIR R4 API as NDJSON, with the vendor's query rules,
//! paging, throttling and retries of `ehrkit-fhir-client`.
//!
//! ```text
//! cargo run --example fhir_fetch --features reqwest -- \
//!     --base URL [--vendor NAME] [--token-env VAR] [--practice ID] \
//!     [--max-pages N] [--max-resources N] QUERY...
//! ```
//!
//! `NAME` is a vendor profile: `epic`, `oracle_health`, `athenahealth`, `veradigm` or
//! `generic` (the default). Each QUERY is a search (`Observation?patient=123`), a read
//! (`Patient/123`, query parameters allowed: `Patient/123?ah-practice=…`) or a version read
//! (`Patient/123/_history/2`), relative to `--base` (a full URL under the base works too).
//! `--token-env VAR` sends the bearer token held by the environment variable `VAR`; without
//! it requests are unauthenticated. `--practice ID` is athenahealth's practice id
//! (`ah-practice=Organization/a-1.Practice-ID` on every request); an `ah-practice` given in a
//! query is carried over to the later requests too.
//!
//! Output: one resource per line as JSON (NDJSON) on stdout (search matches and `_include`d
//! resources, in server order; OperationOutcome entries of a search are left out), then on
//! stderr `resources=N pages=N retries=N throttled=N`. Errors go to stderr as `error: …`;
//! the remaining queries still run. Exit status: 0, 1 when a query failed with an error the
//! retries could not fix, 2 for a usage error.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use ehrkit::fhir_client::fhir_model::{self, Resource};
use ehrkit::fhir_client::{
    EntryMode, FhirClient, PageLimits, Rule, SearchParams, StaticToken, VendorProfile,
};

/// Fetch FHIR resources as NDJSON with vendor-aware paging, throttling and retries.
#[derive(Parser)]
#[command(name = "fhir_fetch")]
struct Args {
    /// FHIR base URL.
    #[arg(long, value_name = "URL")]
    base: String,
    /// Vendor profile: epic, oracle_health, athenahealth, veradigm, generic.
    #[arg(long, value_name = "NAME", default_value = "generic")]
    vendor: String,
    /// Environment variable holding a bearer token (none: unauthenticated).
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,
    /// athenahealth practice id (`ah-practice` on every request).
    #[arg(long, value_name = "ID")]
    practice: Option<String>,
    /// Pages read at most per search.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_pages: usize,
    /// Resources read at most per search.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_resources: usize,
    /// Searches (`Observation?patient=123`) or reads (`Patient/123`).
    #[arg(value_name = "QUERY", required = true)]
    queries: Vec<String>,
}

/// What one QUERY asks for.
enum Query {
    Search(String, SearchParams),
    Read(String, String, SearchParams),
    VRead(String, String, String),
}

fn parse_query(base: &str, q: &str) -> Result<Query, String> {
    let base = base.trim_end_matches('/');
    let rel = q.strip_prefix(base).unwrap_or(q).trim_start_matches('/');
    let (path, query) = rel.split_once('?').unwrap_or((rel, ""));
    let params = SearchParams::parse(query);
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        [t] => Ok(Query::Search((*t).to_owned(), params)),
        [t, id] => Ok(Query::Read((*t).to_owned(), (*id).to_owned(), params)),
        [t, id, "_history", v] => Ok(Query::VRead(
            (*t).to_owned(),
            (*id).to_owned(),
            (*v).to_owned(),
        )),
        _ => Err(format!(
            "query {q:?}: expected Type?params, Type/id or Type/id/_history/vid"
        )),
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(mut profile) = VendorProfile::by_name(&args.vendor) else {
        return usage(&format!(
            "unknown vendor {:?} (epic, oracle_health, athenahealth, veradigm, generic)",
            args.vendor
        ));
    };
    if let Some(id) = &args.practice {
        profile = VendorProfile::athenahealth(Some(id)).retry(profile.retry.clone());
    }
    let mut queries = Vec::new();
    for q in &args.queries {
        match parse_query(&args.base, q) {
            Ok(p) => queries.push(p),
            Err(e) => return usage(&e),
        }
    }
    // A parameter the profile carries to every request (athenahealth's `ah-practice`) given
    // in any query applies to all of them, whatever their order.
    for name in profile
        .sticky_params()
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>()
    {
        let given = queries.iter().find_map(|q| match q {
            Query::Search(_, p) | Query::Read(_, _, p) => p.get(&name).map(str::to_owned),
            Query::VRead(..) => None,
        });
        if let Some(value) = given {
            if profile.every_request().get(&name).is_none() {
                profile = profile.rule(Rule::EveryRequest {
                    name: format!("{name} from the queries"),
                    param: name.clone(),
                    value,
                });
            }
        }
    }
    let mut builder = FhirClient::builder(&args.base).profile(profile).limits(
        PageLimits::default()
            .max_pages(args.max_pages)
            .max_resources(args.max_resources),
    );
    if let Some(var) = &args.token_env {
        match std::env::var(var) {
            Ok(t) if !t.trim().is_empty() => builder = builder.tokens(StaticToken::new(t.trim())),
            _ => return usage(&format!("environment variable {var} is not set")),
        }
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => return usage(&e.to_string()),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (printed, failed) = rt.block_on(run(&client, queries));
    let s = client.stats();
    if s.refused_splits > 0 {
        eprintln!(
            "warning: the server refused {} of the per-category searches the vendor profile split into (skipped)",
            s.refused_splits
        );
    }
    if s.truncated_searches > 0 {
        eprintln!(
            "warning: {} search(es) stopped early (page or resource cap, or a repeated next link)",
            s.truncated_searches
        );
    }
    eprintln!(
        "resources={printed} pages={} retries={} throttled={}",
        s.pages, s.retries, s.throttled
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn run(client: &FhirClient, queries: Vec<Query>) -> (u64, bool) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printed = 0u64;
    let mut failed = false;
    let mut emit = |out: &mut std::io::BufWriter<std::io::StdoutLock<'_>>, r: &Resource| {
        let mut line = fhir_model::to_vec(r);
        line.push(b'\n');
        if out.write_all(&line).is_ok() {
            printed += 1;
        }
    };
    for q in queries {
        let result = match q {
            Query::Read(t, id, params) => client
                .read_resource(&t, &id, &params)
                .await
                .map(|r| emit(&mut out, &r)),
            Query::VRead(t, id, v) => client.vread(&t, &id, &v).await.map(|r| emit(&mut out, &r)),
            Query::Search(t, params) => {
                let mut stream = client.search(&t, &params);
                let mut res = Ok(());
                while let Some(item) = stream.next_entry().await {
                    match item {
                        Ok(e) if e.mode != EntryMode::Outcome => emit(&mut out, &e.resource),
                        Ok(_) => {}
                        Err(e) => {
                            res = Err(e);
                            break;
                        }
                    }
                }
                res
            }
        };
        if let Err(e) = result {
            failed = true;
            let _ = out.flush();
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            eprintln!("error: {msg}");
        }
    }
    let _ = out.flush();
    (printed, failed)
}
