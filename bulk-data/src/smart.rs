//! SMART Backend Services tokens for the `$export` client (features `smart-auth` + `reqwest`;
//! `reqwest` turns `smart-auth` on).
//!
//! [`BackendServicesTokens`] adapts `ehrkit-smart-auth`'s
//! [`BackendServices`] (discovery, `client_credentials` with a signed
//! `private_key_jwt` assertion, RS384 or ES384) and its shared [`TokenStore`] to
//! [`TokenProvider`]:
//!
//! * [`TokenProvider::token`] → [`BackendServices::access_token`]: the cached token, renewed
//!   by the store `skew` before it expires (capped at half the token's lifetime), with one
//!   token request for all concurrent callers. The bulk client asks for a token before every
//!   request, so a download that outlives a token (Backend Services tokens live about five
//!   minutes) is sent with a fresh one.
//! * [`TokenProvider::refresh`] (after a `401`, told which token the refused request carried)
//!   → [`BackendServices::after_rejected`]: if the store already holds a different (newer)
//!   token it is returned without a token request, otherwise one new token is fetched.
//!   Concurrent `401`s for the same token share one renewal, and a late `401` for an older
//!   token does not renew the token other requests are using.
//!
//! Tokens never appear in logs, `Debug` output or error messages: errors of the authorization
//! server become [`Error::Auth`] with smart-auth's typed error, which carries no secrets.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ehrkit_bulk_data::client::BulkClient;
//! use ehrkit_bulk_data::{ExportLevel, ExportRequest};
//! use ehrkit_bulk_data::smart::BackendServicesTokens;
//! use ehrkit_bulk_data::smart::smart_auth::{
//!     Algorithm, Client, ClientAuth, PrivateKeyJwt, SigningKey, TokenStore,
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let base: url::Url = "https://ehr.example/fhir/".parse()?;
//! let key = SigningKey::from_pem(&std::fs::read("key.pem")?, Algorithm::ES384, None)?;
//! let client = Client::new("my-client-id", ClientAuth::PrivateKeyJwt(PrivateKeyJwt::new(key)));
//! // Discovers the token endpoint from `<base>/.well-known/smart-configuration`.
//! let tokens = BackendServicesTokens::connect(
//!     &base,
//!     client,
//!     "system/Patient.rs system/Observation.rs".parse()?,
//!     Arc::new(TokenStore::default()), // share one store across EHRs and jobs
//! )
//! .await?;
//! let bulk = BulkClient::new(base, tokens)?;
//! let mut job = bulk.kick_off(&ExportRequest::new(ExportLevel::System)).await?;
//! let manifest = bulk.wait(&mut job, |_progress| {}).await?;
//! bulk.download_all(&manifest, std::path::Path::new("out")).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use ehrkit_smart_auth::{
    BackendServices, CachedToken, Client, HttpClient, ScopeSet, TokenStore, TokenType,
};

use crate::client::TokenProvider;
use crate::error::{Error, Result};

/// `ehrkit-smart-auth`, re-exported so that callers need no second dependency to build a
/// [`Client`], a [`ScopeSet`] or a [`TokenStore`].
pub use ehrkit_smart_auth as smart_auth;

/// SMART Backend Services tokens as a [`TokenProvider`]. See the [module docs](self).
///
/// Cheap to share: wrap it in an `Arc` to use one provider for several clients (the token
/// store is shared through its own `Arc` anyway).
pub struct BackendServicesTokens {
    services: BackendServices,
}

impl fmt::Debug for BackendServicesTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The store key holds the token endpoint, client id and scopes: no secrets.
        f.debug_struct("BackendServicesTokens")
            .field("key", &self.services.key().to_string())
            .finish_non_exhaustive()
    }
}

impl From<BackendServices> for BackendServicesTokens {
    fn from(services: BackendServices) -> Self {
        Self::new(services)
    }
}

fn token_error(e: ehrkit_smart_auth::Error) -> Error {
    // smart-auth's errors never carry tokens, assertions, secrets or URL queries: kept typed
    // as the source so callers can match on the authorization server's answer.
    Error::Auth(e)
}

impl BackendServicesTokens {
    /// Wraps a configured [`BackendServices`] client (with its token store).
    pub fn new(services: BackendServices) -> Self {
        BackendServicesTokens { services }
    }

    /// Discovers the token endpoint of `fhir_base` (its `.well-known/smart-configuration`,
    /// falling back to the CapabilityStatement) over a default smart-auth [`HttpClient`] and
    /// prepares `client` to request `scopes`, caching tokens in `store`.
    pub async fn connect(
        fhir_base: &url::Url,
        client: Client,
        scopes: ScopeSet,
        store: Arc<TokenStore>,
    ) -> Result<Self> {
        let http = HttpClient::new().map_err(token_error)?;
        Self::connect_with(http, fhir_base, client, scopes, store).await
    }

    /// [`connect`](Self::connect) with an explicit smart-auth [`HttpClient`] (timeouts, proxies).
    pub async fn connect_with(
        http: HttpClient,
        fhir_base: &url::Url,
        client: Client,
        scopes: ScopeSet,
        store: Arc<TokenStore>,
    ) -> Result<Self> {
        let services = BackendServices::connect(http, fhir_base.as_str(), client, scopes, store)
            .await
            .map_err(token_error)?;
        tracing::debug!(key = %services.key(), "SMART Backend Services token endpoint discovered");
        Ok(Self::new(services))
    }

    /// The wrapped smart-auth client.
    pub fn services(&self) -> &BackendServices {
        &self.services
    }
}

/// The bearer value of a cached token; any other token type cannot go in `Authorization: Bearer`.
fn bearer(t: &CachedToken) -> Result<Option<String>> {
    match t.response.token_type() {
        TokenType::Bearer => Ok(Some(t.access_token().expose().to_owned())),
        other => Err(Error::Token(format!(
            "token endpoint issued a {} token; only Bearer is supported",
            other.as_str()
        ))),
    }
}

impl TokenProvider for BackendServicesTokens {
    async fn token(&self) -> Result<Option<String>> {
        let t = self.services.access_token().await.map_err(token_error)?;
        bearer(&t)
    }

    async fn refresh(&self, rejected: Option<&str>) -> Result<Option<String>> {
        let t = self
            .services
            .after_rejected(rejected)
            .await
            .map_err(token_error)?;
        bearer(&t)
    }
}
