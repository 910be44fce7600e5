//! Thin async HTTP layer over the sans-IO core (feature `reqwest`, rustls TLS).
//!
//! Redirects are never followed by the transport: a token request answered with a 3xx is
//! [`Error::Redirect`] (the form carries the client secret, assertion, refresh token or code,
//! and must not be re-sent anywhere), and discovery follows a 3xx only within the FHIR base's
//! origin through the sans-IO [`Discovery`] machine.

use crate::discovery::{Discovered, Discovery, DiscoveryStep};
use crate::error::{Error, Result};
use crate::scope::ScopeSet;
use crate::store::{CachedToken, Renewal, StoreKey, TokenStore};
use crate::token::{Client, TokenResponse};
use crate::wire::{self, SecretBody};
use std::sync::Arc;
use std::time::Duration;

/// Largest response body read from discovery or token endpoints.
pub const MAX_BODY: usize = 1 << 20;

/// Executes the crate's `http::Request`s with `reqwest`. Never follows redirects.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    allow_insecure_http: bool,
}

impl HttpClient {
    /// A client with rustls and a 30 s timeout.
    pub fn new() -> Result<Self> {
        Self::with_timeout(Duration::from_secs(30))
    }

    /// A client with the given overall request timeout.
    pub fn with_timeout(timeout: Duration) -> Result<Self> {
        Self::from_builder(reqwest::Client::builder().timeout(timeout))
    }

    /// A client from a `reqwest` builder (proxies, timeouts, root certificates). Its redirect
    /// policy is replaced by [`reqwest::redirect::Policy::none`]: this crate decides which
    /// redirects are followed.
    pub fn from_builder(builder: reqwest::ClientBuilder) -> Result<Self> {
        let inner = builder
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| transport("building client", None, e))?;
        Ok(HttpClient {
            inner,
            allow_insecure_http: false,
        })
    }

    /// Lets [`HttpClient::discover`] accept plain-`http` endpoints on hosts that are not loopback
    /// (see [`Discovery::allow_insecure_http`]); token requests follow the [`Client`]'s own
    /// setting.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Sends a request and reads the response (body capped at [`MAX_BODY`]). A 3xx is returned
    /// as it is, never followed. Any body that is bytes works (`SecretBody`, `Vec<u8>`, `Bytes`),
    /// so requests of other `http`-speaking crates go through the same client.
    pub async fn execute<B: AsRef<[u8]>>(
        &self,
        req: &http::Request<B>,
    ) -> Result<http::Response<SecretBody>> {
        let url = wire::request_url(req)?;
        let origin = wire::origin(&url);
        let mut b = self
            .inner
            .request(req.method().clone(), url)
            .headers(req.headers().clone());
        let body = req.body().as_ref();
        if !body.is_empty() {
            b = b.body(body.to_vec());
        }
        let mut resp = b
            .send()
            .await
            .map_err(|e| transport("sending request", Some(&origin), e))?;
        let mut out = http::Response::builder()
            .status(resp.status())
            .version(resp.version());
        if let Some(h) = out.headers_mut() {
            *h = std::mem::take(resp.headers_mut());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| transport("reading response", Some(&origin), e))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(Error::BodyTooLarge { limit: MAX_BODY });
            }
            body.extend_from_slice(&chunk);
        }
        out.body(SecretBody::from(body))
            .map_err(|source| Error::Request {
                what: "response",
                source,
            })
    }

    /// Runs discovery on a FHIR base (redirects followed only within its origin).
    pub async fn discover(&self, fhir_base: &str) -> Result<Discovered> {
        let mut d = Discovery::new(fhir_base)?.allow_insecure_http(self.allow_insecure_http);
        let mut req = d.request()?;
        loop {
            let resp = self.execute(&req).await?;
            match d.on_response(&resp)? {
                DiscoveryStep::Send(next) => req = next,
                DiscoveryStep::Done(found) => return Ok(*found),
            }
        }
    }

    /// Sends a token request built by [`Client`] and reads the response. A 3xx is
    /// [`Error::Redirect`] naming the status and the origin of the `Location`; nothing is sent
    /// to it.
    pub async fn token(
        &self,
        client: &Client,
        req: &http::Request<SecretBody>,
    ) -> Result<TokenResponse> {
        let resp = self.execute(req).await?;
        self.read_token(client, req, &resp)
    }

    /// Reads the token endpoint's answer to `req` (see [`token`](Self::token)).
    fn read_token(
        &self,
        client: &Client,
        req: &http::Request<SecretBody>,
        resp: &http::Response<SecretBody>,
    ) -> Result<TokenResponse> {
        if resp.status().is_redirection() {
            let base = wire::request_url(req)?;
            let target = wire::location(Some(&base), resp);
            let status = resp.status().as_u16();
            tracing::warn!(
                status,
                endpoint = %wire::origin(&base),
                target = target.as_ref().map(wire::origin).as_deref().unwrap_or("?"),
                "token endpoint redirect not followed"
            );
            return Err(Error::Redirect {
                what: "token endpoint",
                status,
                target: target.as_ref().map(wire::origin),
            });
        }
        client.token_response(resp)
    }
}

/// A transport error without the URL (which may carry a query string): the origin is kept
/// separately.
fn transport(what: &'static str, origin: Option<&str>, e: reqwest::Error) -> Error {
    Error::Transport {
        what,
        origin: origin.map(str::to_owned),
        source: e.without_url(),
    }
}

/// How [`BackendServices`] asks again when the token endpoint cannot answer now: HTTP 408,
/// 429, 502, 503 and 504, and transport failures (connection refused or reset, timeouts).
///
/// Each attempt is a new request with a new client assertion (its own `jti` and `exp`):
/// servers refuse an assertion they have seen, so a request is never replayed. The wait is the
/// server's `Retry-After` (seconds or an HTTP-date) when it names one, else `first_delay`
/// doubled per retry; both are capped by `max_delay`. A `Retry-After` longer than `max_delay`
/// ends the retries at once with the server's answer, so a caller is never held longer than
/// `max_retries × max_delay`. Other answers (400 `invalid_client`, 401, …) are never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRetry {
    /// Requests after the first one (0: never retry).
    pub max_retries: u32,
    /// The wait before the first retry when the server names none.
    pub first_delay: Duration,
    /// The longest single wait.
    pub max_delay: Duration,
}

impl Default for TokenRetry {
    /// 3 retries, from 1 s, at most 30 s each.
    fn default() -> Self {
        TokenRetry {
            max_retries: 3,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl TokenRetry {
    /// Never retry: every answer goes to the caller as it came.
    pub const NONE: TokenRetry = TokenRetry {
        max_retries: 0,
        first_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// The wait before retry number `retry + 1` when the server named none.
    fn backoff(&self, retry: u32) -> Duration {
        self.first_delay
            .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
            .min(self.max_delay)
    }

    /// The wait before asking again after `resp` (retry number `retry + 1`), or `None` when
    /// `resp` is the answer to return.
    fn after_response<B>(
        &self,
        retry: u32,
        resp: &http::Response<B>,
        now: std::time::SystemTime,
    ) -> Option<Duration> {
        if retry >= self.max_retries || !matches!(resp.status().as_u16(), 408 | 429 | 502..=504) {
            return None;
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        match header(http::header::RETRY_AFTER)
            .and_then(|v| retry_after(v, header(http::header::DATE), now))
        {
            Some(wait) if wait > self.max_delay => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(retry)),
        }
    }
}

/// A `Retry-After` value as a wait: delay-seconds, or an HTTP-date counted from the response's
/// own `Date` when it has one (so a skewed local clock does not stretch or skip the wait), else
/// from `now`. A date in the past is no wait; an unreadable value is `None`.
fn retry_after(value: &str, date: Option<&str>, now: std::time::SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let from = date
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .unwrap_or(now);
    Some(at.duration_since(from).unwrap_or(Duration::ZERO))
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
    retry: TokenRetry,
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
            retry: TokenRetry::default(),
        }
    }

    /// How a busy or unreachable token endpoint is retried ([`TokenRetry::default`] unless
    /// set; [`TokenRetry::NONE`] returns every answer at once).
    pub fn token_retry(mut self, retry: TokenRetry) -> Self {
        self.retry = retry;
        self
    }

    /// The store key of this registration.
    pub fn key(&self) -> &StoreKey {
        &self.key
    }

    /// A new `client_credentials` grant, whatever the store offers: a refresh token some
    /// servers return with client_credentials (against RFC 6749 §4.4.3) is never used, since it
    /// can expire or be revoked on its own while the client's credentials still work.
    ///
    /// A busy or unreachable endpoint is asked again per [`TokenRetry`], each time with a new
    /// request.
    async fn fetch(&self, _renewal: Renewal) -> Result<TokenResponse> {
        let mut retry = 0;
        loop {
            let req = self
                .client
                .client_credentials_request(&self.token_endpoint, &self.scopes)?;
            let wait = match self.http.execute(&req).await {
                Ok(resp) => {
                    match self
                        .retry
                        .after_response(retry, &resp, std::time::SystemTime::now())
                    {
                        Some(wait) => {
                            tracing::warn!(
                                status = resp.status().as_u16(),
                                endpoint = %wire::origin(&self.token_endpoint),
                                wait_ms = wait.as_millis() as u64,
                                retry = retry + 1,
                                "token endpoint busy; asking again with a new request"
                            );
                            wait
                        }
                        None => return self.http.read_token(&self.client, &req, &resp),
                    }
                }
                Err(e @ Error::Transport { .. }) if retry < self.retry.max_retries => {
                    let wait = self.retry.backoff(retry);
                    tracing::warn!(
                        error = %e,
                        wait_ms = wait.as_millis() as u64,
                        retry = retry + 1,
                        "token request failed in transport; asking again with a new request"
                    );
                    wait
                }
                Err(e) => return Err(e),
            };
            tokio::time::sleep(wait).await;
            retry += 1;
        }
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

    /// After a 401 for the bearer value `rejected` (what the refused request carried): the
    /// store's current token when it differs (another caller already renewed, or the 401 came
    /// late for an older token), else one renewal shared by every caller refused with the same
    /// token. `None` (the request carried no token of ours) is a plain [`access_token`].
    ///
    /// This is what a resource client's "refresh after 401" should call: renewing on every
    /// late 401 would replace a token other requests are still using.
    ///
    /// [`access_token`]: Self::access_token
    pub async fn after_rejected(&self, rejected: Option<&str>) -> Result<Arc<CachedToken>> {
        let current = self.access_token().await?;
        match rejected {
            Some(r) if r == current.access_token().expose() => {
                tracing::debug!(
                    generation = current.generation,
                    "401 from the resource server: renewing the token"
                );
                self.after_unauthorized(&current).await
            }
            _ => Ok(current),
        }
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
            key: format!(
                "{} client={}",
                wire::origin(token_endpoint),
                client.client_id
            ),
            cause: None,
        }),
    }
}

/// Exchanges the code of a completed authorization and stores the result under `key`.
pub async fn complete_authorization(
    http: &HttpClient,
    client: &Client,
    token_request: &http::Request<SecretBody>,
    store: &TokenStore,
    key: &StoreKey,
) -> Result<Arc<CachedToken>> {
    let t = http.token(client, token_request).await?;
    Ok(store.insert(key, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn answer(status: u16, headers: &[(&str, &str)]) -> http::Response<()> {
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after("7", None, now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(&later, None, now),
            Some(Duration::from_secs(30))
        );
        // Counted from the server's own Date, not from a local clock 100 s behind.
        let server_now = httpdate::fmt_http_date(now + Duration::from_secs(20));
        assert_eq!(
            retry_after(&later, Some(&server_now), now - Duration::from_secs(100)),
            Some(Duration::from_secs(10))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after(&past, None, now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", None, now), None);
        assert_eq!(retry_after("-1", None, now), None);
    }

    #[test]
    fn which_answers_are_retried_and_how_long_to_wait() {
        let now = SystemTime::now();
        let r = TokenRetry {
            max_retries: 3,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        };
        for status in [408, 429, 502, 503, 504] {
            assert_eq!(
                r.after_response(0, &answer(status, &[]), now),
                Some(Duration::from_millis(500)),
                "{status}"
            );
        }
        for status in [200, 400, 401, 403, 404, 500] {
            assert_eq!(
                r.after_response(0, &answer(status, &[]), now),
                None,
                "{status}"
            );
        }
        // Doubling per retry, capped; no retry after the last.
        assert_eq!(
            r.after_response(2, &answer(503, &[]), now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(r.after_response(3, &answer(503, &[]), now), None);
        assert_eq!(r.backoff(40), Duration::from_secs(10));
        // The server's wait wins, unless it is longer than the longest wait.
        let told = |v| answer(429, &[("retry-after", v)]);
        assert_eq!(
            r.after_response(0, &told("3"), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(r.after_response(0, &told("11"), now), None);
        assert_eq!(
            r.after_response(1, &told("whenever"), now),
            Some(Duration::from_secs(1))
        );
        assert_eq!(TokenRetry::NONE.after_response(0, &told("1"), now), None);
    }
}
