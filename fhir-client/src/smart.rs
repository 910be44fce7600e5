//! SMART Backend Services tokens from `ehrkit-smart-auth` (feature `smart-auth`).
//!
//! [`BackendServicesTokens`] adapts smart-auth's [`BackendServices`] and its shared
//! [`TokenStore`](ehrkit_smart_auth::TokenStore) to [`TokenProvider`]: `token()` is the cached
//! token, renewed before it expires with one token request for all concurrent callers;
//! `refresh(rejected)` (after a `401`) returns the store's token when it is already newer than
//! the rejected one, else renews once for every caller refused with that token. Tokens never appear in logs, `Debug` or errors.

use std::fmt;

use ehrkit_smart_auth::{BackendServices, CachedToken, TokenType};

use crate::client::{BoxFuture, TokenProvider};
use crate::error::{Error, Result};

/// `ehrkit-smart-auth`, re-exported to build a `Client`, `ScopeSet` or `TokenStore`.
pub use ehrkit_smart_auth as smart_auth;

/// SMART Backend Services tokens as a [`TokenProvider`].
pub struct BackendServicesTokens {
    services: BackendServices,
}

impl fmt::Debug for BackendServicesTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendServicesTokens")
            .field("key", &self.services.key().to_string())
            .finish_non_exhaustive()
    }
}

impl From<BackendServices> for BackendServicesTokens {
    fn from(services: BackendServices) -> Self {
        BackendServicesTokens { services }
    }
}

impl BackendServicesTokens {
    /// Wraps a configured [`BackendServices`] (with its token store).
    pub fn new(services: BackendServices) -> Self {
        services.into()
    }

    /// The wrapped smart-auth client.
    pub fn services(&self) -> &BackendServices {
        &self.services
    }

    /// A token newer than `rejected`: the store's current one when it already differs (a
    /// concurrent caller renewed it), else one renewal shared by every caller refused with
    /// the same token (the store compares generations).
    async fn fresh(&self, rejected: Option<&str>) -> Result<Option<String>> {
        let t = self
            .services
            .after_rejected(rejected)
            .await
            .map_err(token_error)?;
        bearer(&t)
    }
}

fn token_error(e: ehrkit_smart_auth::Error) -> Error {
    // smart-auth's messages carry no tokens, secrets or URL queries.
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    Error::Token(msg)
}

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
    fn token(&self) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move {
            let t = self.services.access_token().await.map_err(token_error)?;
            bearer(&t)
        })
    }

    fn refresh<'a>(&'a self, rejected: Option<&'a str>) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(self.fresh(rejected))
    }
}
