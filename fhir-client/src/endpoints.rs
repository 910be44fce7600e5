//! Many EHRs at once: a registry of named endpoints (base URL + vendor profile + tokens, one
//! [`FhirClient`] each) and fan-out calls whose results are tagged with their source, ready
//! for the `mapping` normalizer and the MPI.

use std::collections::BTreeMap;

use ehrkit_fhir_model::Resource;

use crate::client::{FhirClient, FhirClientBuilder, StaticToken};
use crate::error::{Error, Result};
use crate::request::SearchMethod;
use crate::search::SearchParams;
use crate::vendor::VendorProfile;

/// The longest `timeout_seconds` an endpoints file may set (a day; longer values, up to ones no
/// `Duration` can hold, are refused rather than cut short or overflowing).
const MAX_TIMEOUT_SECONDS: f64 = 86_400.0;

/// A value tagged with the endpoint it came from.
#[derive(Debug)]
pub struct Tagged<T> {
    /// The endpoint's name in the registry.
    pub source: String,
    /// What it returned.
    pub value: T,
}

/// Named endpoints. Each keeps its own rate limiter, retries and counters.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    clients: BTreeMap<String, FhirClient>,
}

impl Endpoints {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) an endpoint.
    pub fn insert(&mut self, name: impl Into<String>, client: FhirClient) -> Option<FhirClient> {
        self.clients.insert(name.into(), client)
    }

    /// Builder form of [`insert`](Self::insert).
    pub fn with(mut self, name: impl Into<String>, client: FhirClient) -> Self {
        self.insert(name, client);
        self
    }

    /// The endpoint of this name.
    pub fn get(&self, name: &str) -> Option<&FhirClient> {
        self.clients.get(name)
    }

    /// Names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.clients.keys().map(String::as_str)
    }

    /// Runs one search on every endpoint concurrently (each with its vendor's plan) and
    /// returns each endpoint's resources or error, in name order. One endpoint failing does
    /// not hide the others' results.
    pub async fn search_all(
        &self,
        resource_type: &str,
        params: &SearchParams,
    ) -> Vec<Tagged<Result<Vec<Resource>>>> {
        let calls = self.clients.iter().map(|(name, c)| async move {
            Tagged {
                source: name.clone(),
                value: c.search_all(resource_type, params).await,
            }
        });
        futures_util::future::join_all(calls).await
    }

    /// Reads the same resource type and id on every endpoint concurrently (e.g. after the MPI
    /// linked ids: use [`FhirClient::read_resource`] per endpoint for different ids).
    pub async fn read_all(&self, resource_type: &str, id: &str) -> Vec<Tagged<Result<Resource>>> {
        let none = SearchParams::new();
        let calls = self.clients.iter().map(|(name, c)| {
            let none = &none;
            async move {
                Tagged {
                    source: name.clone(),
                    value: c.read_resource(resource_type, id, none).await,
                }
            }
        });
        futures_util::future::join_all(calls).await
    }
}

/// One endpoint of an [`EndpointsConfig`] (one `[[endpoint]]` table of the TOML file).
///
/// Secrets are never written in the file: `token_env` names an environment variable read when
/// the registry is built, and other token sources (SMART Backend Services) are attached by the
/// caller through [`Endpoints::from_config_with`].
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// Name in the registry (results are tagged with it).
    pub name: String,
    /// FHIR base URL.
    pub base: String,
    /// Vendor profile name (`epic`, `oracle_health`, `athenahealth`, `veradigm`, `generic`;
    /// default `generic`), as [`VendorProfile::by_name`].
    #[serde(default)]
    pub vendor: Option<String>,
    /// athenahealth practice id (`ah-practice=Organization/a-1.Practice-{id}` on every request).
    #[serde(default)]
    pub practice: Option<String>,
    /// Environment variable holding a bearer token (absent: unauthenticated requests).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Client-side rate limit, requests per second (overrides the profile's).
    #[serde(default)]
    pub requests_per_second: Option<f64>,
    /// Concurrent requests at most (overrides the profile's).
    #[serde(default)]
    pub max_concurrency: Option<usize>,
    /// `get` (default), `post`, or `post-above:N` (POST when the URL is longer than N bytes).
    #[serde(default)]
    pub search_method: Option<String>,
    /// Request timeout in seconds (default 60).
    #[serde(default)]
    pub timeout_seconds: Option<f64>,
}

/// A registry's configuration: `[[endpoint]]` tables.
///
/// ```toml
/// [[endpoint]]
/// name = "epic-main"
/// base = "https://fhir.hospital.example/api/FHIR/R4"
/// vendor = "epic"
/// token_env = "EPIC_TOKEN"
/// requests_per_second = 10
///
/// [[endpoint]]
/// name = "athena"
/// base = "https://api.platform.athenahealth.com/fhir/r4"
/// vendor = "athenahealth"
/// practice = "195900"
/// search_method = "post-above:4096"
/// ```
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EndpointsConfig {
    /// The endpoints, in file order.
    #[serde(default, rename = "endpoint")]
    pub endpoints: Vec<EndpointConfig>,
}

impl EndpointsConfig {
    /// Parses the TOML text; errors name the line and column.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("line {line}, column {col}: ")
                })
                .unwrap_or_default();
            Error::Config(format!("{at}{}", e.message()))
        })
    }
}

fn parse_search_method(s: &str) -> Option<SearchMethod> {
    match s {
        "get" => Some(SearchMethod::Get),
        "post" => Some(SearchMethod::Post),
        _ => s
            .strip_prefix("post-above:")
            .and_then(|n| n.parse().ok())
            .map(SearchMethod::PostAbove),
    }
}

impl Endpoints {
    /// Builds a registry from a TOML configuration ([`EndpointsConfig`]); tokens come from the
    /// environment variables the file names.
    pub fn from_toml(text: &str) -> Result<Self> {
        Self::from_config(&EndpointsConfig::from_toml(text)?)
    }

    /// Builds a registry from a configuration; tokens come from `token_env`.
    pub fn from_config(config: &EndpointsConfig) -> Result<Self> {
        Self::from_config_with(config, |_, builder| Ok(builder))
    }

    /// Builds a registry from a configuration, letting `attach` finish each endpoint's builder
    /// (SMART Backend Services tokens, a proxy) after the file's settings are applied.
    ///
    /// Refused, naming the endpoint: an empty or repeated name, an unknown vendor or search
    /// method, a `token_env` variable that is unset or empty, a non-positive rate or timeout,
    /// a base URL that is not `http(s)` or has a query.
    pub fn from_config_with(
        config: &EndpointsConfig,
        mut attach: impl FnMut(&EndpointConfig, FhirClientBuilder) -> Result<FhirClientBuilder>,
    ) -> Result<Self> {
        let mut out = Endpoints::new();
        for (i, ep) in config.endpoints.iter().enumerate() {
            let bad = |field: &str, why: &str| {
                Error::Config(format!(
                    "endpoint {} (`{}`): {field}: {why}",
                    i + 1,
                    ep.name
                ))
            };
            if ep.name.trim().is_empty() {
                return Err(bad("name", "empty"));
            }
            if out.get(&ep.name).is_some() {
                return Err(bad("name", "used by an earlier endpoint"));
            }
            let vendor = ep.vendor.as_deref().unwrap_or("generic");
            let mut profile = match VendorProfile::by_name(vendor) {
                Some(_)
                    if vendor.eq_ignore_ascii_case("athenahealth")
                        || vendor.eq_ignore_ascii_case("athena") =>
                {
                    VendorProfile::athenahealth(ep.practice.as_deref())
                }
                Some(p) => p,
                None => return Err(bad("vendor", "not a known vendor profile")),
            };
            if ep.practice.is_some() && profile.name != "athenahealth" {
                return Err(bad("practice", "only the athenahealth profile uses it"));
            }
            if let Some(rps) = ep.requests_per_second {
                if !(rps.is_finite() && rps > 0.0) {
                    return Err(bad("requests_per_second", "must be a positive number"));
                }
                profile = profile.requests_per_second(Some(rps));
            }
            if let Some(n) = ep.max_concurrency {
                if n == 0 {
                    return Err(bad("max_concurrency", "must be at least 1"));
                }
                profile.max_concurrency = n;
            }
            let mut builder = FhirClient::builder(&ep.base).profile(profile);
            if let Some(m) = &ep.search_method {
                let m = parse_search_method(m)
                    .ok_or_else(|| bad("search_method", "expected get, post or post-above:N"))?;
                builder = builder.search_method(m);
            }
            if let Some(t) = ep.timeout_seconds {
                if !(t.is_finite() && t > 0.0 && t <= MAX_TIMEOUT_SECONDS) {
                    return Err(bad(
                        "timeout_seconds",
                        "must be a positive number of seconds, at most a day",
                    ));
                }
                builder = builder.timeout(std::time::Duration::from_secs_f64(t));
            }
            if let Some(var) = &ep.token_env {
                // The value is never shown, only the variable's name.
                match std::env::var(var) {
                    Ok(v) if !v.trim().is_empty() => {
                        builder = builder.tokens(StaticToken::new(v.trim()));
                    }
                    _ => {
                        return Err(bad(
                            "token_env",
                            &format!("variable {var} is unset or empty"),
                        ))
                    }
                }
            }
            let builder = attach(ep, builder)?;
            let client = builder.build().map_err(|e| bad("base", &e.to_string()))?;
            out.insert(ep.name.clone(), client);
        }
        Ok(out)
    }
}
