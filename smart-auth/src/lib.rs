//! SMART App Launch 2 and Backend Services authorization for many EHRs at once.
//!
//! The core is sans-IO: [`discovery::Discovery`], [`launch`] and [`token::Client`] produce
//! [`http::HttpRequest`] descriptions and read [`http::HttpResponse`]s; the `reqwest` feature adds
//! a thin async layer ([`http_client`]). The [`store::TokenStore`] (feature `store`, on by default)
//! holds and renews tokens for many registrations with single-flight renewal per key.
//!
//! A standalone launch, driven by hand:
//!
//! ```
//! use ehrkit_smart_auth::{discovery::{Discovery, DiscoveryStep}, http::HttpResponse, launch,
//!     scope::ScopeSet, token::{Client, TokenType}, client_auth::ClientAuth};
//!
//! # fn main() -> Result<(), ehrkit_smart_auth::Error> {
//! // 1. Discovery: send `d.request()`, feed back the response.
//! let mut d = Discovery::new("https://ehr.example/fhir")?;
//! let meta = br#"{"issuer":"https://ehr.example/auth",
//!   "authorization_endpoint":"https://ehr.example/auth/authorize",
//!   "token_endpoint":"https://ehr.example/auth/token",
//!   "grant_types_supported":["authorization_code"],"capabilities":["launch-standalone"],
//!   "code_challenge_methods_supported":["S256"]}"#;
//! let DiscoveryStep::Done(found) = d.on_response(HttpResponse::new(200, meta.to_vec()))? else {
//!     unreachable!()
//! };
//!
//! // 2. Authorize URL (PKCE S256, random state, aud = FHIR base).
//! let client = Client::new("my-app", ClientAuth::None);
//! let scopes: ScopeSet = "launch/patient openid fhirUser patient/*.rs".parse()?;
//! let req = launch::standalone(&client, &found, "https://app.example/cb", &scopes)?;
//! let state = req.url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
//! assert!(req.url.as_str().contains("code_challenge_method=S256"));
//!
//! // 3. The browser comes back; check it and build the token request.
//! let callback = format!("https://app.example/cb?code=abc&state={state}&iss=https://ehr.example/auth");
//! let token_request = req.pending.callback(&client, &callback)?;
//! assert_eq!(token_request.url.as_str(), "https://ehr.example/auth/token");
//!
//! // 4. Read the token response (token_type compared case-insensitively).
//! let body = br#"{"access_token":"opaque","token_type":"bearer","expires_in":3600,"patient":"p1"}"#;
//! let tokens = client.token_response(&HttpResponse::new(200, body.to_vec()))?;
//! assert_eq!(tokens.token_type(), TokenType::Bearer);
//! assert_eq!(tokens.patient.as_deref(), Some("p1"));
//! assert!(!format!("{tokens:?}").contains("opaque")); // secrets never in Debug
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod client_auth;
pub mod discovery;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
#[cfg(feature = "reqwest")]
pub mod http_client;
pub mod launch;
pub mod pkce;
pub mod scope;
pub mod secret;
#[cfg(feature = "store")]
pub mod store;
pub mod token;
pub mod vendor;

pub use error::{Error, OAuthError, OAuthErrorCode, Result};

/// Runs the README example as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
pub use secret::Secret;
