//! Discovery: `.well-known/smart-configuration`, with the CapabilityStatement `oauth-uris`
//! extension as fallback.
//!
//! Parsing is tolerant: a missing REQUIRED field or a field of the wrong type becomes a
//! [`DiscoveryWarning`]; wrongly typed and unknown fields are kept in [`SmartConfiguration::extra`].

use crate::error::{Error, Result};
use crate::wire::{self, json_body, SecretBody};
use serde_json::{Map, Value};
use std::fmt;

/// The URL of the CapabilityStatement extension that carries OAuth endpoints (SMART 1).
pub const OAUTH_URIS_EXTENSION: &str =
    "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";

/// A typed `.well-known/smart-configuration` document.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct SmartConfiguration {
    /// `issuer` (CONDITIONAL: required with `sso-openid-connect`).
    pub issuer: Option<String>,
    /// `jwks_uri`.
    pub jwks_uri: Option<String>,
    /// `authorization_endpoint` (required for launch flows).
    pub authorization_endpoint: Option<String>,
    /// `token_endpoint` (REQUIRED).
    pub token_endpoint: Option<String>,
    /// `grant_types_supported` (REQUIRED).
    pub grant_types_supported: Option<Vec<String>>,
    /// `token_endpoint_auth_methods_supported`.
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// `token_endpoint_auth_signing_alg_values_supported`.
    pub token_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    /// `registration_endpoint`.
    pub registration_endpoint: Option<String>,
    /// `scopes_supported`.
    pub scopes_supported: Option<Vec<String>>,
    /// `response_types_supported`.
    pub response_types_supported: Option<Vec<String>>,
    /// `management_endpoint`.
    pub management_endpoint: Option<String>,
    /// `introspection_endpoint`.
    pub introspection_endpoint: Option<String>,
    /// `revocation_endpoint`.
    pub revocation_endpoint: Option<String>,
    /// `capabilities` (REQUIRED).
    pub capabilities: Option<Vec<String>>,
    /// `code_challenge_methods_supported` (REQUIRED, must contain `S256`).
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207 `authorization_response_iss_parameter_supported`.
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// Every other member, and known members whose type was wrong, as received.
    pub extra: Map<String, Value>,
}

/// A problem found while reading discovery metadata. Never fatal by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryWarning {
    /// A REQUIRED (or, given the capabilities, conditionally required) field is absent.
    MissingField(&'static str),
    /// A known field has the wrong JSON type; it was kept in `extra`.
    WrongType(&'static str),
    /// `code_challenge_methods_supported` lacks `S256` (PKCE S256 is used anyway).
    NoS256,
    /// The server offers PKCE `plain` (never used by this crate).
    PlainPkceOffered,
    /// The well-known document was unusable; endpoints came from the CapabilityStatement.
    FromCapabilityStatement,
}

impl fmt::Display for DiscoveryWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingField(n) => write!(f, "missing field `{n}`"),
            Self::WrongType(n) => write!(f, "field `{n}` has the wrong type (kept as extra)"),
            Self::NoS256 => f.write_str("code_challenge_methods_supported lacks S256"),
            Self::PlainPkceOffered => f.write_str("server offers PKCE plain"),
            Self::FromCapabilityStatement => {
                f.write_str("endpoints taken from the CapabilityStatement oauth-uris extension")
            }
        }
    }
}

fn take<T: serde::de::DeserializeOwned>(
    map: &mut Map<String, Value>,
    extra: &mut Map<String, Value>,
    name: &'static str,
    warnings: &mut Vec<DiscoveryWarning>,
) -> Option<T> {
    let v = map.remove(name)?;
    match serde_json::from_value::<T>(v.clone()) {
        Ok(t) => Some(t),
        Err(_) => {
            warnings.push(DiscoveryWarning::WrongType(name));
            extra.insert(name.to_owned(), v);
            None
        }
    }
}

impl SmartConfiguration {
    /// Parses a smart-configuration document, returning warnings for spec violations.
    pub fn parse(body: &[u8]) -> Result<(SmartConfiguration, Vec<DiscoveryWarning>)> {
        let value: Value = serde_json::from_slice(json_body(body))
            .map_err(|e| Error::json("smart-configuration", &e))?;
        let Value::Object(mut map) = value else {
            return Err(Error::NotAnObject {
                what: "smart-configuration",
            });
        };
        let mut w = Vec::new();
        let mut extra = Map::new();
        let w_ = &mut w;
        let mut c = SmartConfiguration {
            issuer: take(&mut map, &mut extra, "issuer", w_),
            jwks_uri: take(&mut map, &mut extra, "jwks_uri", w_),
            authorization_endpoint: take(&mut map, &mut extra, "authorization_endpoint", w_),
            token_endpoint: take(&mut map, &mut extra, "token_endpoint", w_),
            grant_types_supported: take(&mut map, &mut extra, "grant_types_supported", w_),
            token_endpoint_auth_methods_supported: take(
                &mut map,
                &mut extra,
                "token_endpoint_auth_methods_supported",
                w_,
            ),
            token_endpoint_auth_signing_alg_values_supported: take(
                &mut map,
                &mut extra,
                "token_endpoint_auth_signing_alg_values_supported",
                w_,
            ),
            registration_endpoint: take(&mut map, &mut extra, "registration_endpoint", w_),
            scopes_supported: take(&mut map, &mut extra, "scopes_supported", w_),
            response_types_supported: take(&mut map, &mut extra, "response_types_supported", w_),
            management_endpoint: take(&mut map, &mut extra, "management_endpoint", w_),
            introspection_endpoint: take(&mut map, &mut extra, "introspection_endpoint", w_),
            revocation_endpoint: take(&mut map, &mut extra, "revocation_endpoint", w_),
            capabilities: take(&mut map, &mut extra, "capabilities", w_),
            code_challenge_methods_supported: take(
                &mut map,
                &mut extra,
                "code_challenge_methods_supported",
                w_,
            ),
            authorization_response_iss_parameter_supported: take(
                &mut map,
                &mut extra,
                "authorization_response_iss_parameter_supported",
                w_,
            ),
            extra: Map::new(),
        };
        extra.extend(map);
        c.extra = extra;
        c.check(&mut w);
        Ok((c, w))
    }

    fn check(&self, w: &mut Vec<DiscoveryWarning>) {
        let missing = |w: &mut Vec<DiscoveryWarning>, present: bool, name: &'static str| {
            if !present && !w.contains(&DiscoveryWarning::WrongType(name)) {
                w.push(DiscoveryWarning::MissingField(name));
            }
        };
        missing(w, self.token_endpoint.is_some(), "token_endpoint");
        missing(
            w,
            self.grant_types_supported.is_some(),
            "grant_types_supported",
        );
        missing(w, self.capabilities.is_some(), "capabilities");
        missing(
            w,
            self.code_challenge_methods_supported.is_some(),
            "code_challenge_methods_supported",
        );
        if self.has_capability("launch-ehr") || self.has_capability("launch-standalone") {
            missing(
                w,
                self.authorization_endpoint.is_some(),
                "authorization_endpoint",
            );
        }
        if self.has_capability("sso-openid-connect") {
            missing(w, self.issuer.is_some(), "issuer");
            missing(w, self.jwks_uri.is_some(), "jwks_uri");
        }
        if let Some(m) = &self.code_challenge_methods_supported {
            if !m.iter().any(|x| x == "S256") {
                w.push(DiscoveryWarning::NoS256);
            }
            if m.iter().any(|x| x == "plain") {
                w.push(DiscoveryWarning::PlainPkceOffered);
            }
        }
    }

    /// True if `capabilities` lists `cap`.
    pub fn has_capability(&self, cap: &str) -> bool {
        self.capabilities
            .as_ref()
            .is_some_and(|c| c.iter().any(|x| x == cap))
    }

    /// Serializes back to JSON (known fields, then `extra`).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_owned(), v);
            }
        };
        let s = |v: &Option<String>| v.clone().map(Value::String);
        let l = |v: &Option<Vec<String>>| {
            v.clone()
                .map(|v| Value::Array(v.into_iter().map(Value::String).collect()))
        };
        put("issuer", s(&self.issuer));
        put("jwks_uri", s(&self.jwks_uri));
        put("authorization_endpoint", s(&self.authorization_endpoint));
        put("token_endpoint", s(&self.token_endpoint));
        put("grant_types_supported", l(&self.grant_types_supported));
        put(
            "token_endpoint_auth_methods_supported",
            l(&self.token_endpoint_auth_methods_supported),
        );
        put(
            "token_endpoint_auth_signing_alg_values_supported",
            l(&self.token_endpoint_auth_signing_alg_values_supported),
        );
        put("registration_endpoint", s(&self.registration_endpoint));
        put("scopes_supported", l(&self.scopes_supported));
        put(
            "response_types_supported",
            l(&self.response_types_supported),
        );
        put("management_endpoint", s(&self.management_endpoint));
        put("introspection_endpoint", s(&self.introspection_endpoint));
        put("revocation_endpoint", s(&self.revocation_endpoint));
        put("capabilities", l(&self.capabilities));
        put(
            "code_challenge_methods_supported",
            l(&self.code_challenge_methods_supported),
        );
        put(
            "authorization_response_iss_parameter_supported",
            self.authorization_response_iss_parameter_supported
                .map(Value::Bool),
        );
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }

    /// Reads the `oauth-uris` extension of a CapabilityStatement (SMART 1 discovery).
    pub fn from_capability_statement(body: &[u8]) -> Result<SmartConfiguration> {
        let v: Value = serde_json::from_slice(json_body(body))
            .map_err(|e| Error::json("CapabilityStatement", &e))?;
        let mut c = SmartConfiguration::default();
        let rests = v.get("rest").and_then(Value::as_array);
        for rest in rests.into_iter().flatten() {
            let exts = rest
                .pointer("/security/extension")
                .and_then(Value::as_array);
            for ext in exts.into_iter().flatten() {
                if ext.get("url").and_then(Value::as_str) != Some(OAUTH_URIS_EXTENSION) {
                    continue;
                }
                let inner = ext.get("extension").and_then(Value::as_array);
                for e in inner.into_iter().flatten() {
                    // `valueUri` per the SMART 1 profile; some servers write `valueUrl`.
                    let uri = e
                        .get("valueUri")
                        .or_else(|| e.get("valueUrl"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    match e.get("url").and_then(Value::as_str) {
                        Some("authorize") => c.authorization_endpoint = uri,
                        Some("token") => c.token_endpoint = uri,
                        Some("register") => c.registration_endpoint = uri,
                        Some("manage") => c.management_endpoint = uri,
                        Some("introspect") => c.introspection_endpoint = uri,
                        Some("revoke") => c.revocation_endpoint = uri,
                        _ => {}
                    }
                }
            }
        }
        if c.token_endpoint.is_none() {
            return Err(Error::NoOAuthUris);
        }
        Ok(c)
    }
}

/// Where discovered metadata came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `.well-known/smart-configuration`.
    WellKnown,
    /// CapabilityStatement `oauth-uris` extension.
    CapabilityStatement,
}

/// The result of discovery.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The FHIR base URL discovery started from (the `aud` of later requests).
    pub fhir_base: url::Url,
    /// The metadata.
    pub config: SmartConfiguration,
    /// Spec violations found along the way.
    pub warnings: Vec<DiscoveryWarning>,
    /// Where the metadata came from.
    pub source: Source,
}

impl Discovered {
    /// Metadata known in advance (configuration, cache) instead of discovered over HTTP.
    pub fn from_config(fhir_base: &str, config: SmartConfiguration) -> Result<Discovered> {
        let d = Discovery::new(fhir_base)?;
        let mut warnings = Vec::new();
        config.check(&mut warnings);
        Ok(Discovered {
            fhir_base: d.base,
            config,
            warnings,
            source: Source::WellKnown,
        })
    }

    /// The token endpoint as a URL.
    pub fn token_endpoint(&self) -> Result<url::Url> {
        parse_url(self.config.token_endpoint.as_deref(), "token_endpoint")
    }

    /// The authorization endpoint as a URL.
    pub fn authorization_endpoint(&self) -> Result<url::Url> {
        parse_url(
            self.config.authorization_endpoint.as_deref(),
            "authorization_endpoint",
        )
    }
}

fn parse_url(s: Option<&str>, what: &'static str) -> Result<url::Url> {
    let s = s.ok_or(Error::MissingEndpoint { what })?;
    url::Url::parse(s).map_err(|e| Error::Url {
        what,
        reason: e.to_string(),
    })
}

/// How many redirects discovery follows (each within the FHIR base's origin).
pub const MAX_DISCOVERY_REDIRECTS: u8 = 3;

/// What the discovery state machine wants next.
// A step is matched once and its request sent right away: boxing the request would add an
// allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum DiscoveryStep {
    /// Send this request and feed the response to [`Discovery::on_response`].
    Send(http::Request<SecretBody>),
    /// Finished.
    Done(Box<Discovered>),
}

#[derive(Debug)]
enum Stage {
    WellKnown,
    Metadata(Vec<DiscoveryWarning>),
    Finished,
}

/// Sans-IO discovery: well-known first, CapabilityStatement second.
///
/// Redirects: discovery requests carry no credentials, but the metadata they return decides
/// where credentials go. A 3xx is followed (as a new [`DiscoveryStep::Send`]) only within the
/// origin of the FHIR base (same scheme, host and port) and at most
/// [`MAX_DISCOVERY_REDIRECTS`] times; any other redirect is [`Error::Redirect`]. Transports
/// must therefore not follow redirects themselves (the crate's `HttpClient` never does).
///
/// Endpoints: metadata naming a plain-`http` token or authorization endpoint on a host that is
/// not loopback is refused ([`Error::InsecureEndpoint`]) unless
/// [`allow_insecure_http(true)`](Discovery::allow_insecure_http) was set.
///
/// ```
/// use ehrkit_smart_auth::{http, Discovery, DiscoveryStep};
///
/// let mut d = Discovery::new("https://ehr.example/fhir/").unwrap();
/// assert_eq!(d.request().unwrap().uri(), "https://ehr.example/fhir/.well-known/smart-configuration");
/// let body = br#"{"token_endpoint":"https://ehr.example/token","capabilities":[]}"#;
/// let DiscoveryStep::Done(found) = d.on_response(&http::Response::new(&body[..])).unwrap() else {
///     panic!("expected metadata")
/// };
/// assert_eq!(found.config.token_endpoint.as_deref(), Some("https://ehr.example/token"));
/// assert!(!found.warnings.is_empty()); // grant_types_supported etc. are missing
/// ```
#[derive(Debug)]
pub struct Discovery {
    base: url::Url,
    stage: Stage,
    /// Set after a followed redirect: the URL to request instead of the stage's own.
    redirected: Option<url::Url>,
    redirects: u8,
    allow_insecure_http: bool,
}

/// Appends a path to a FHIR base without losing its last segment.
pub(crate) fn join_base(base: &url::Url, rest: &str) -> url::Url {
    let mut u = base.clone();
    let path = format!("{}/{}", base.path().trim_end_matches('/'), rest);
    u.set_path(&path);
    u.set_query(None);
    u.set_fragment(None);
    u
}

impl Discovery {
    /// Starts discovery for a FHIR base URL.
    pub fn new(fhir_base: &str) -> Result<Discovery> {
        let base = url::Url::parse(fhir_base).map_err(|e| Error::Url {
            what: "FHIR base",
            reason: e.to_string(),
        })?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(Error::Url {
                what: "FHIR base",
                reason: "not an http(s) URL".into(),
            });
        }
        Ok(Discovery {
            base,
            stage: Stage::WellKnown,
            redirected: None,
            redirects: 0,
            allow_insecure_http: false,
        })
    }

    /// Accepts plain-`http` token and authorization endpoints on hosts that are not loopback
    /// (default `false`: refused with [`Error::InsecureEndpoint`]). For test rigs only: refresh
    /// tokens and client secrets would cross the network in clear text.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    fn url(&self) -> url::Url {
        if let Some(u) = &self.redirected {
            return u.clone();
        }
        match self.stage {
            Stage::WellKnown | Stage::Finished => {
                join_base(&self.base, ".well-known/smart-configuration")
            }
            Stage::Metadata(_) => join_base(&self.base, "metadata"),
        }
    }

    /// The request to send now.
    pub fn request(&self) -> Result<http::Request<SecretBody>> {
        let accept = match self.stage {
            Stage::Metadata(_) => "application/fhir+json",
            _ => "application/json",
        };
        wire::get(&self.url(), accept)
    }

    /// A 3xx: the next request within the base's origin, or an error.
    fn redirect<B>(&mut self, stage: Stage, resp: &http::Response<B>) -> Result<DiscoveryStep> {
        let target = wire::location(Some(&self.url()), resp);
        let status = resp.status().as_u16();
        let same_origin = target
            .as_ref()
            .is_some_and(|t| t.origin() == self.base.origin());
        match target {
            Some(t) if same_origin && self.redirects < MAX_DISCOVERY_REDIRECTS => {
                tracing::debug!(status, "discovery redirect within the FHIR server's origin");
                self.redirects += 1;
                self.redirected = Some(t);
                self.stage = stage;
                Ok(DiscoveryStep::Send(self.request()?))
            }
            t => {
                tracing::warn!(
                    status,
                    target = t.as_ref().map(wire::origin).as_deref().unwrap_or("?"),
                    "discovery redirect not followed"
                );
                Err(Error::Redirect {
                    what: "discovery",
                    status,
                    target: t.as_ref().map(wire::origin),
                })
            }
        }
    }

    fn done(
        &self,
        config: SmartConfiguration,
        warnings: Vec<DiscoveryWarning>,
        source: Source,
    ) -> Result<DiscoveryStep> {
        for (what, value) in [
            ("token_endpoint", &config.token_endpoint),
            ("authorization_endpoint", &config.authorization_endpoint),
        ] {
            if let Some(u) = value.as_deref().and_then(|v| url::Url::parse(v).ok()) {
                wire::check_endpoint(&u, what, self.allow_insecure_http)?;
            }
        }
        Ok(DiscoveryStep::Done(Box::new(Discovered {
            fhir_base: self.base.clone(),
            config,
            warnings,
            source,
        })))
    }

    /// Feeds the response to the last request.
    pub fn on_response<B: AsRef<[u8]>>(
        &mut self,
        resp: &http::Response<B>,
    ) -> Result<DiscoveryStep> {
        let stage = std::mem::replace(&mut self.stage, Stage::Finished);
        if resp.status().is_redirection() && !matches!(stage, Stage::Finished) {
            return self.redirect(stage, resp);
        }
        self.redirected = None;
        let status = resp.status();
        let body = resp.body().as_ref();
        match stage {
            Stage::WellKnown => {
                let parsed = if status.is_success() {
                    SmartConfiguration::parse(body).ok()
                } else {
                    None
                };
                match parsed {
                    Some((config, warnings)) if config.token_endpoint.is_some() => {
                        for w in &warnings {
                            tracing::warn!(warning = %w, "smart-configuration");
                        }
                        self.done(config, warnings, Source::WellKnown)
                    }
                    other => {
                        let mut warnings = other.map(|(_, w)| w).unwrap_or_default();
                        tracing::warn!(
                            status = status.as_u16(),
                            "smart-configuration unusable; trying CapabilityStatement"
                        );
                        warnings.push(DiscoveryWarning::FromCapabilityStatement);
                        self.stage = Stage::Metadata(warnings);
                        Ok(DiscoveryStep::Send(self.request()?))
                    }
                }
            }
            Stage::Metadata(warnings) => {
                if !status.is_success() {
                    return Err(Error::DiscoveryStatus {
                        status: status.as_u16(),
                    });
                }
                let config = SmartConfiguration::from_capability_statement(body)?;
                self.done(config, warnings, Source::CapabilityStatement)
            }
            Stage::Finished => Err(Error::DiscoveryFinished),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(to: &str) -> http::Response<Vec<u8>> {
        http::Response::builder()
            .status(302)
            .header("Location", to)
            .body(Vec::new())
            .unwrap()
    }

    #[test]
    fn redirects_stay_in_the_origin_and_are_bounded() {
        let mut d = Discovery::new("https://ehr.example/fhir").unwrap();
        let DiscoveryStep::Send(r) = d
            .on_response(&redirect("/r4/.well-known/smart-configuration"))
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            r.uri(),
            "https://ehr.example/r4/.well-known/smart-configuration"
        );
        for _ in 1..MAX_DISCOVERY_REDIRECTS {
            assert!(matches!(
                d.on_response(&redirect("/again")),
                Ok(DiscoveryStep::Send(_))
            ));
        }
        let e = d.on_response(&redirect("/again")).unwrap_err();
        assert!(matches!(e, Error::Redirect { status: 302, .. }), "{e}");

        // Another origin, and a downgrade to http on the same host, are refused.
        for to in [
            "https://evil.example/x?q=SECRET",
            "http://ehr.example/x",
            "https://ehr.example:8443/x",
        ] {
            let mut d = Discovery::new("https://ehr.example/fhir").unwrap();
            let e = d.on_response(&redirect(to)).unwrap_err();
            assert!(!e.to_string().contains("SECRET"), "{e}");
            assert!(matches!(e, Error::Redirect { .. }), "{to}: {e}");
        }
    }
}
