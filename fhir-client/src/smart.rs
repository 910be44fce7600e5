//! SMART Backend Services tokens from `ehrkit-smart-auth` (feature `smart-auth`).
//!
//! [`BackendServicesTokens`] adapts smart-auth's [`BackendServices`] and its shared
//! [`TokenStore`](ehrkit_smart_auth::TokenStore) to [`TokenProvider`]: `token()` is the cached
//! token, renewed before it expires with one token request for all concurrent callers;
//! `refresh()` (after a `401`) asks the store for a token newer than the one handed out, so
//! concurrent `401`s share one renewal. Tokens never appear in logs, `Debug` or errors.

use std::fmt;
use std::sync::{Arc, Mutex};

use ehrkit_smart_auth::{BackendServices, CachedToken, TokenType};

use crate::client::{BoxFuture, TokenProvider};
use crate::error::{Error, Result};

/// `ehrkit-smart-auth`, re-exported to build a `Client`, `ScopeSet` or `TokenStore`.
pub use ehrkit_smart_auth as smart_auth;

/// SMART Backend Services tokens as a [`TokenProvider`].
pub struct BackendServicesTokens {
    services: BackendServices,
    last: Mutex<Option<Arc<CachedToken>>>,
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
        BackendServicesTokens {
            services,
            last: Mutex::new(None),
        }
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

    fn remember(&self, t: &Arc<CachedToken>) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_ref().is_none_or(|l| l.generation < t.generation) {
            *last = Some(t.clone());
        }
    }

    async fn fresh(&self) -> Result<Option<String>> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let t = match last {
            Some(rejected) => self.services.after_unauthorized(&rejected).await,
            None => self.services.access_token().await,
        }
        .map_err(token_error)?;
        self.remember(&t);
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
            self.remember(&t);
            bearer(&t)
        })
    }

    fn refresh(&self) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(self.fresh())
    }
}
