//! Thin async HTTP layer over the sans-IO core (feature `reqwest`, rustls TLS).

use crate::discovery::{Discovered, Discovery, DiscoveryStep};
use crate::error::{Error, Result};
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::scope::ScopeSet;
use crate::store::{CachedToken, Renewal, StoreKey, TokenStore};
use crate::token::{Client, TokenResponse};
use std::sync::Arc;
use std::time::Duration;

/// Largest response body read from discovery or token endpoints.
pub const MAX_BODY: usize = 1 << 20;

/// Executes [`HttpRequest`]s with `reqwest`.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
}

impl HttpClient {
    /// A client with rustls, a 30 s timeout and at most 3 redirects.
    pub fn new() -> Result<Self> {
        Self::with_timeout(Duration::from_secs(30))
    }

    /// A client with the given overall request timeout.
    pub fn with_timeout(timeout: Duration) -> Result<Self> {
        let inner = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| Error::Transport(e.to_string()))?;
        Ok(HttpClient { inner })
    }

    /// Wraps an existing `reqwest::Client`.
    pub fn from_reqwest(inner: reqwest::Client) -> Self {
        HttpClient { inner }
    }

    /// Sends a request and reads the response (body capped at [`MAX_BODY`]).
    pub async fn execute(&self, req: &HttpRequest) -> Result<HttpResponse> {
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut b = self.inner.request(method, req.url.clone());
        for (n, v) in &req.headers {
            b = b.header(n.as_str(), v.expose());
        }
        if req.method == Method::Post {
            b = b.body(req.body.expose().to_owned());
        }
        // reqwest errors can include the URL, never the body or headers.
        let mut resp = b
            .send()
            .await
            .map_err(|e| Error::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| Error::Transport(e.to_string()))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(Error::Transport(format!(
                    "response body larger than {MAX_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// Runs discovery on a FHIR base.
    pub async fn discover(&self, fhir_base: &str) -> Result<Discovered> {
        let mut d = Discovery::new(fhir_base)?;
        let mut req = d.request();
        loop {
            let resp = self.execute(&req).await?;
            match d.on_response(resp)? {
                DiscoveryStep::Send(next) => req = next,
                DiscoveryStep::Done(found) => return Ok(*found),
            }
        }
    }

    /// Sends a token request built by [`Client`] and reads the response.
    pub async fn token(&self, client: &Client, req: &HttpRequest) -> Result<TokenResponse> {
        let resp = self.execute(req).await?;
        client.token_response(&resp)
    }
}

/// SMART Backend Services: `client_credentials` tokens for one EHR, cached in a shared store.
#[derive(Debug, Clone)]
pub struct BackendServices {
    http: HttpClient,
    client: Client,
    token_endpoint: url::Url,
    scopes: ScopeSet,
    store: Arc<TokenStore>,
    key: StoreKey,
}

impl BackendServices {
    /// Discovers the token endpoint of `fhir_base` and prepares the client.
    pub async fn connect(
        http: HttpClient,
        fhir_base: &str,
        client: Client,
        scopes: ScopeSet,
        store: Arc<TokenStore>,
    ) -> Result<Self> {
        let found = http.discover(fhir_base).await?;
        let token_endpoint = found.token_endpoint()?;
        Ok(Self::with_token_endpoint(
            http,
            token_endpoint,
            client,
            scopes,
            store,
        ))
    }

    /// Uses a known token endpoint (no discovery).
    pub fn with_token_endpoint(
        http: HttpClient,
        token_endpoint: url::Url,
        client: Client,
        scopes: ScopeSet,
        store: Arc<TokenStore>,
    ) -> Self {
        let key = StoreKey::new(&token_endpoint, &client.client_id, &scopes, None);
        BackendServices {
            http,
            client,
            token_endpoint,
            scopes,
            store,
            key,
        }
    }

    /// The store key of this registration.
    pub fn key(&self) -> &StoreKey {
        &self.key
    }

    async fn fetch(&self, renewal: Renewal) -> Result<TokenResponse> {
        let req = match renewal {
            Renewal::Refresh(rt) => self
                .client
                .refresh_request(&self.token_endpoint, &rt, None)?,
            Renewal::Initial => self
                .client
                .client_credentials_request(&self.token_endpoint, &self.scopes)?,
        };
        self.http.token(&self.client, &req).await
    }

    /// A valid access token (cached, or renewed once for all concurrent callers).
    pub async fn access_token(&self) -> Result<Arc<CachedToken>> {
        self.store.get(&self.key, |r| self.fetch(r)).await
    }

    /// After a 401 for `rejected`: the newer cached token, or a renewed one.
    pub async fn after_unauthorized(&self, rejected: &CachedToken) -> Result<Arc<CachedToken>> {
        self.store
            .after_unauthorized(&self.key, rejected, |r| self.fetch(r))
            .await
    }
}

/// Renewal for user (authorization-code) grants: refreshes when a refresh token is held and
/// otherwise returns [`Error::ReauthorizationRequired`] (a user grant cannot be re-obtained
/// without the user). Pass it to [`TokenStore::get`] / [`TokenStore::after_unauthorized`].
pub async fn refresh_user_grant(
    http: &HttpClient,
    client: &Client,
    token_endpoint: &url::Url,
    renewal: Renewal,
) -> Result<TokenResponse> {
    match renewal {
        Renewal::Refresh(rt) => {
            let req = client.refresh_request(token_endpoint, &rt, None)?;
            http.token(client, &req).await
        }
        Renewal::Initial => Err(Error::ReauthorizationRequired {
            key: format!("{token_endpoint} client={}", client.client_id),
            reason: "no refresh token".into(),
        }),
    }
}

/// Exchanges the code of a completed authorization and stores the result under `key`.
pub async fn complete_authorization(
    http: &HttpClient,
    client: &Client,
    token_request: &HttpRequest,
    store: &TokenStore,
    key: &StoreKey,
) -> Result<Arc<CachedToken>> {
    let t = http.token(client, token_request).await?;
    Ok(store.insert(key, t))
}
