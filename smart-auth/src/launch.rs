//! Authorization-code flows: standalone launch and EHR launch, with PKCE S256 always, a random
//! `state` checked in constant time, `aud` set to the FHIR base, an `iss` allow-list for EHR
//! launches and RFC 9207 `iss` checking on the callback.

use crate::discovery::Discovered;
use crate::error::{Error, OAuthError, OAuthErrorCode, Result};
use crate::pkce::{PkceVerifier, State};
use crate::scope::ScopeSet;
use crate::secret::Secret;
use crate::token::Client;
use crate::wire::{self, SecretBody};
use std::collections::HashMap;
use std::fmt;

/// Normalizes a URL for comparison: parsed (scheme/host lower-cased), no trailing `/`, no fragment.
fn normalize(u: &str) -> Option<String> {
    let mut p = url::Url::parse(u).ok()?;
    p.set_fragment(None);
    Some(p.as_str().trim_end_matches('/').to_owned())
}

/// The query parameters of `u`; a parameter given twice is refused (RFC 6749 §3.1: "Request
/// and response parameters MUST NOT be included more than once"), so that no value is picked
/// silently from a tampered or broken redirect.
fn single_valued(u: &url::Url, what: &'static str) -> Result<HashMap<String, String>> {
    let mut q = HashMap::new();
    for (k, v) in u.query_pairs() {
        if q.insert(k.into_owned(), v.into_owned()).is_some() {
            tracing::warn!(what, "query parameter repeated");
            return Err(Error::Url {
                what,
                reason: "a parameter is repeated".into(),
            });
        }
    }
    Ok(q)
}

/// FHIR base URLs this app accepts as `iss` in an EHR launch.
#[derive(Debug, Clone, Default)]
pub struct IssuerAllowList(Vec<String>);

/// The parameters of an EHR launch request to the app's launch URL.
#[derive(Debug, Clone)]
pub struct EhrLaunch {
    /// The FHIR base the EHR named (on the allow-list).
    pub iss: url::Url,
    /// The opaque `launch` value to pass back in the authorize request.
    pub launch: Secret,
}

impl IssuerAllowList {
    /// An allow-list of FHIR base URLs.
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(bases: I) -> Result<Self> {
        let mut v = Vec::new();
        for b in bases {
            v.push(normalize(b.as_ref()).ok_or_else(|| Error::Url {
                what: "allowed issuer",
                reason: "not a URL".into(),
            })?);
        }
        Ok(IssuerAllowList(v))
    }

    /// True if `iss` is on the list.
    pub fn allows(&self, iss: &str) -> bool {
        normalize(iss).is_some_and(|n| self.0.contains(&n))
    }

    /// Reads `iss` and `launch` from the app's launch URL and checks `iss` against the list
    /// *before* any request is made to it.
    pub fn check_launch(&self, launch_url: &str) -> Result<EhrLaunch> {
        let u = url::Url::parse(launch_url).map_err(|e| Error::Url {
            what: "launch URL",
            reason: e.to_string(),
        })?;
        let q = single_valued(&u, "launch URL")?;
        let iss = q.get("iss").ok_or(Error::UnknownIssuer)?;
        if !self.allows(iss) {
            tracing::warn!("EHR launch from an issuer not on the allow-list");
            return Err(Error::UnknownIssuer);
        }
        let launch = q.get("launch").ok_or_else(|| Error::Url {
            what: "launch URL",
            reason: "no launch parameter".into(),
        })?;
        Ok(EhrLaunch {
            iss: url::Url::parse(iss).map_err(|e| Error::Url {
                what: "iss",
                reason: e.to_string(),
            })?,
            launch: Secret::new(launch.as_str()),
        })
    }
}

/// An authorize URL to send the user to, and the state to keep until the callback.
///
/// `Debug` shows the authorization endpoint and the names of the query parameters, never their
/// values (`state`, `launch` and the PKCE challenge are secrets of this session).
pub struct AuthorizationRequest {
    /// Where to redirect the browser.
    pub url: url::Url,
    /// Keep this (in the user's session) and call [`PendingAuthorization::callback`] on return.
    pub pending: PendingAuthorization,
}

impl fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .url
            .query_pairs()
            .map(|(k, _)| k.into_owned())
            .collect();
        f.debug_struct("AuthorizationRequest")
            .field(
                "endpoint",
                &format_args!("{}{}", wire::origin(&self.url), self.url.path()),
            )
            .field("query", &format_args!("{names:?} (values redacted)"))
            .field("pending", &self.pending)
            .finish()
    }
}

/// A started authorization, waiting for the redirect back. Consumed by the callback, so a code
/// cannot be exchanged twice through the same pending value.
#[derive(Debug)]
pub struct PendingAuthorization {
    state: State,
    verifier: PkceVerifier,
    redirect_uri: String,
    token_endpoint: url::Url,
    issuer: Option<String>,
    iss_required: bool,
    requested: ScopeSet,
    fhir_base: url::Url,
}

/// Builds an authorize request.
fn authorize(
    client: &Client,
    d: &Discovered,
    redirect_uri: &str,
    scopes: &ScopeSet,
    launch: Option<&Secret>,
) -> Result<AuthorizationRequest> {
    let mut url = d.authorization_endpoint()?;
    let token_endpoint = d.token_endpoint()?;
    wire::check_endpoint(
        &url,
        "authorization_endpoint",
        client.allows_insecure_http(),
    )?;
    wire::check_endpoint(
        &token_endpoint,
        "token_endpoint",
        client.allows_insecure_http(),
    )?;
    url::Url::parse(redirect_uri).map_err(|e| Error::Url {
        what: "redirect_uri",
        reason: e.to_string(),
    })?;
    let state = State::generate();
    let verifier = PkceVerifier::generate();
    let sent = client.vendor.scopes_to_send(scopes);
    let aud = d.fhir_base.as_str().trim_end_matches('/').to_owned();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &client.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &sent.to_string())
            .append_pair("state", state.secret().expose())
            .append_pair("aud", &aud)
            .append_pair("code_challenge", &verifier.challenge())
            .append_pair("code_challenge_method", "S256");
        if let Some(l) = launch {
            q.append_pair("launch", l.expose());
        }
    }
    tracing::debug!(endpoint = %wire::origin(&url), "authorize URL built");
    Ok(AuthorizationRequest {
        url,
        pending: PendingAuthorization {
            state,
            verifier,
            redirect_uri: redirect_uri.to_owned(),
            token_endpoint,
            issuer: d.config.issuer.clone(),
            iss_required: d.config.authorization_response_iss_parameter_supported == Some(true),
            requested: sent,
            fhir_base: d.fhir_base.clone(),
        },
    })
}

/// Starts a standalone launch (the app picks the EHR; context comes from `launch/patient` etc.).
pub fn standalone(
    client: &Client,
    discovered: &Discovered,
    redirect_uri: &str,
    scopes: &ScopeSet,
) -> Result<AuthorizationRequest> {
    authorize(client, discovered, redirect_uri, scopes, None)
}

/// Starts an EHR launch. `discovered` must come from discovery on `launch.iss`.
pub fn ehr_launch(
    client: &Client,
    discovered: &Discovered,
    launch: &EhrLaunch,
    redirect_uri: &str,
    scopes: &ScopeSet,
) -> Result<AuthorizationRequest> {
    if normalize(launch.iss.as_str()) != normalize(discovered.fhir_base.as_str()) {
        return Err(Error::LaunchIssuerMismatch);
    }
    authorize(
        client,
        discovered,
        redirect_uri,
        scopes,
        Some(&launch.launch),
    )
}

impl PendingAuthorization {
    /// The scopes sent in the authorize request (after vendor quirks).
    pub fn requested_scopes(&self) -> &ScopeSet {
        &self.requested
    }

    /// The FHIR base (`aud`).
    pub fn fhir_base(&self) -> &url::Url {
        &self.fhir_base
    }

    /// The token endpoint the code will be exchanged at.
    pub fn token_endpoint(&self) -> &url::Url {
        &self.token_endpoint
    }

    /// Serializes the pending state so it can wait in a server-side session store between the
    /// redirect and the callback. Contains the `state` and PKCE verifier: keep it server-side.
    pub fn export(&self) -> serde_json::Value {
        serde_json::json!({
            "state": self.state.secret().expose(),
            "code_verifier": self.verifier.secret().expose(),
            "redirect_uri": self.redirect_uri,
            "token_endpoint": self.token_endpoint.as_str(),
            "issuer": self.issuer,
            "iss_required": self.iss_required,
            "scope": self.requested.to_string(),
            "fhir_base": self.fhir_base.as_str(),
        })
    }

    /// Restores what [`PendingAuthorization::export`] produced.
    pub fn import(v: &serde_json::Value) -> Result<PendingAuthorization> {
        let bad = |what: &str| Error::Url {
            what: "pending authorization",
            reason: format!("missing or invalid `{what}`"),
        };
        let s = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| bad(k))
        };
        let u = |k: &str| s(k).and_then(|x| url::Url::parse(x).map_err(|_| bad(k)));
        Ok(PendingAuthorization {
            state: State::from_stored(s("state")?),
            verifier: PkceVerifier::from_stored(s("code_verifier")?)
                .ok_or_else(|| bad("code_verifier"))?,
            redirect_uri: s("redirect_uri")?.to_owned(),
            token_endpoint: u("token_endpoint")?,
            issuer: v
                .get("issuer")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            iss_required: v
                .get("iss_required")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            requested: ScopeSet::parse(s("scope")?)?,
            fhir_base: u("fhir_base")?,
        })
    }

    /// Checks the redirect back (same endpoint as `redirect_uri`, then `state`, `error`, RFC 9207
    /// `iss`, `code`) and builds the token request.
    pub fn callback(
        self,
        client: &Client,
        callback_url: &str,
    ) -> Result<http::Request<SecretBody>> {
        let u = url::Url::parse(callback_url).map_err(|e| Error::Url {
            what: "callback",
            reason: e.to_string(),
        })?;
        let expected = url::Url::parse(&self.redirect_uri).map_err(|e| Error::Url {
            what: "redirect_uri",
            reason: e.to_string(),
        })?;
        if (
            u.scheme(),
            u.host_str(),
            u.port_or_known_default(),
            u.path(),
        ) != (
            expected.scheme(),
            expected.host_str(),
            expected.port_or_known_default(),
            expected.path(),
        ) {
            return Err(Error::Url {
                what: "callback",
                reason: "does not match the redirect_uri of the request".into(),
            });
        }
        let q = single_valued(&u, "callback")?;
        match q.get("state") {
            Some(s) if self.state.matches(s) => {}
            _ => {
                tracing::warn!("authorization callback with missing or wrong state");
                return Err(Error::StateMismatch);
            }
        }
        if let Some(code) = q.get("error") {
            return Err(Error::Authorization(OAuthError {
                code: OAuthErrorCode::from_code(code),
                description: q.get("error_description").cloned(),
                uri: q.get("error_uri").cloned(),
            }));
        }
        match (q.get("iss"), &self.issuer) {
            (Some(got), Some(expected)) => {
                if normalize(got) != normalize(expected) {
                    return Err(Error::IssuerMismatch);
                }
            }
            (None, _) if self.iss_required => return Err(Error::IssuerMismatch),
            (Some(_), None) => {
                tracing::warn!("callback carries iss but metadata names no issuer; not checked")
            }
            (None, _) => {}
        }
        let code = q.get("code").ok_or(Error::MissingCode)?;
        client.authorization_code_request(
            &self.token_endpoint,
            &Secret::new(code.as_str()),
            &self.redirect_uri,
            self.verifier.secret(),
        )
    }
}
