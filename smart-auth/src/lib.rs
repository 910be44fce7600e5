//! SMART App Launch 2 and Backend Services authorization for many EHRs at once.
//!
//! The core is sans-IO: [`Discovery`], the [`launch`] flows and [`Client`] produce
//! [`http::Request`]s (bodies are [`SecretBody`], redacted in `Debug`) and read
//! [`http::Response`]s of any body type that is `AsRef<[u8]>`; the `reqwest` feature adds a thin
//! async layer ([`HttpClient`], [`BackendServices`]) that never follows a redirect with
//! credentials. The [`TokenStore`] (feature `store`, on by default) holds and renews tokens for
//! many registrations with single-flight renewal per key.
//!
//! A standalone launch, driven by hand:
//!
//! ```
//! use ehrkit_smart_auth::{http, launch, Client, ClientAuth, Discovery, DiscoveryStep, ScopeSet,
//!     TokenType};
//!
//! # fn main() -> Result<(), ehrkit_smart_auth::Error> {
//! // 1. Discovery: send `d.request()?`, feed back the response.
//! let mut d = Discovery::new("https://ehr.example/fhir")?;
//! let meta = br#"{"issuer":"https://ehr.example/auth",
//!   "authorization_endpoint":"https://ehr.example/auth/authorize",
//!   "token_endpoint":"https://ehr.example/auth/token",
//!   "grant_types_supported":["authorization_code"],"capabilities":["launch-standalone"],
//!   "code_challenge_methods_supported":["S256"]}"#;
//! let DiscoveryStep::Done(found) = d.on_response(&http::Response::new(&meta[..]))? else {
//!     unreachable!()
//! };
//!
//! // 2. Authorize URL (PKCE S256, random state, aud = FHIR base).
//! let client = Client::new("my-app", ClientAuth::None);
//! let scopes: ScopeSet = "launch/patient openid fhirUser patient/*.rs".parse()?;
//! let req = launch::standalone(&client, &found, "https://app.example/cb", &scopes)?;
//! let state = req.url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
//! assert!(req.url.as_str().contains("code_challenge_method=S256"));
//! assert!(!format!("{req:?}").contains(&state)); // state redacted from Debug
//!
//! // 3. The browser comes back; check it and build the token request.
//! let callback = format!("https://app.example/cb?code=abc&state={state}&iss=https://ehr.example/auth");
//! let token_request = req.pending.callback(&client, &callback)?;
//! assert_eq!(token_request.uri(), "https://ehr.example/auth/token");
//! assert!(!format!("{token_request:?}").contains("abc")); // the form body is redacted
//!
//! // 4. Read the token response (token_type compared case-insensitively).
//! let body = br#"{"access_token":"opaque","token_type":"bearer","expires_in":3600,"patient":"p1"}"#;
//! let tokens = client.token_response(&http::Response::new(&body[..]))?;
//! assert_eq!(tokens.token_type(), TokenType::Bearer);
//! assert_eq!(tokens.patient.as_deref(), Some("p1"));
//! assert!(!format!("{tokens:?}").contains("opaque")); // secrets never in Debug
//! # Ok(()) }
//! ```
//!
//! Every type is re-exported at the crate root (`ehrkit_smart_auth::{Client, ScopeSet,
//! TokenStore, SigningKey, ...}`). Three modules stay public as namespaces users navigate:
//! [`launch`] (the flows: `launch::standalone`, `launch::ehr_launch`), [`discovery`] (the
//! `.well-known/smart-configuration` model) and [`vendor`] (the named quirks).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client_auth;
pub mod discovery;
mod error;
#[cfg(feature = "reqwest")]
mod http_client;
pub mod launch;
mod pkce;
mod scope;
mod secret;
#[cfg(feature = "store")]
mod store;
mod token;
pub mod vendor;
mod wire;

/// The `http` crate (1.x) whose `Request` and `Response` this crate speaks, re-exported so
/// callers use the same version.
pub use http;

pub use client_auth::{
    jwks, Algorithm, ClientAuth, PrivateKeyJwt, SigningKey, DEFAULT_ASSERTION_LIFETIME, JWT_BEARER,
    MAX_ASSERTION_LIFETIME,
};
pub use discovery::{
    Discovered, Discovery, DiscoveryStep, DiscoveryWarning, SmartConfiguration,
    MAX_DISCOVERY_REDIRECTS, OAUTH_URIS_EXTENSION,
};
pub use error::{Error, OAuthError, OAuthErrorCode, Result};
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use http_client::{
    complete_authorization, refresh_user_grant, BackendServices, HttpClient, TokenRetry, MAX_BODY,
};
pub use launch::{AuthorizationRequest, EhrLaunch, IssuerAllowList, PendingAuthorization};
pub use pkce::{s256_challenge, PkceVerifier, State};
pub use scope::{
    Context, Permissions, ResourceScope, Scope, ScopeDiff, ScopeSet, V1Access, V2Permissions,
};
pub use secret::Secret;
#[cfg(feature = "store")]
#[cfg_attr(docsrs, doc(cfg(feature = "store")))]
pub use store::{
    CachedToken, MemoryPersistence, PersistedToken, Renewal, StoreKey, TokenPersistence, TokenStore,
};
pub use token::{parse_oauth_error, read_token_response, Client, TokenResponse, TokenType};
pub use vendor::{Quirk, VendorProfile};
pub use wire::{curl_command, SecretBody};

/// Runs the README example as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
