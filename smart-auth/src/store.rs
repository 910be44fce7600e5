//! A token store for many EHR registrations at once.
//!
//! * keyed by (token endpoint, client ID, scope set, launch context): [`StoreKey`];
//! * renews `skew` before expiry;
//! * **single-flight per key**: concurrent callers for one key wait for a single renewal;
//! * a 401 for a token that has already been replaced returns the newer token without renewing;
//! * a refresh rejected by the server (4xx other than 408/429) evicts the entry and returns
//!   [`Error::ReauthorizationRequired`]; transport errors, 408, 429 and 5xx keep the entry;
//! * pluggable persistence through [`TokenPersistence`];
//! * tokens are redacted from `Debug` and never logged.
//!
//! The store uses `tokio::sync::Mutex` for the per-key renewal lock. `tokio::sync` primitives
//! need no tokio runtime, so the store works on any executor; the renewal itself is a future the
//! caller supplies (usually an HTTP call), so the store does no I/O of its own.

use crate::error::{Error, Result};
use crate::scope::ScopeSet;
use crate::secret::Secret;
use crate::token::TokenResponse;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Identifies one grant: (token endpoint, client ID, scope set, launch context).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey {
    /// Token endpoint URL.
    pub token_endpoint: String,
    /// Client ID.
    pub client_id: String,
    /// Canonical (sorted) scope string.
    pub scopes: String,
    /// Launch context discriminator (e.g. a user or session id); `None` for backend services.
    pub context: Option<String>,
}

impl StoreKey {
    /// Builds a key; scopes are canonicalized so order and duplicates do not matter.
    pub fn new(
        token_endpoint: &url::Url,
        client_id: &str,
        scopes: &ScopeSet,
        context: Option<&str>,
    ) -> Self {
        StoreKey {
            token_endpoint: token_endpoint.as_str().to_owned(),
            client_id: client_id.to_owned(),
            scopes: scopes.canonical(),
            context: context.map(str::to_owned),
        }
    }
}

impl fmt::Display for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} client={} scopes=[{}]",
            self.token_endpoint, self.client_id, self.scopes
        )?;
        if self.context.is_some() {
            f.write_str(" context=[set]")?;
        }
        Ok(())
    }
}

/// A token held by the store.
#[derive(Debug, Clone)]
pub struct CachedToken {
    /// The token response (secrets redacted in `Debug`).
    pub response: TokenResponse,
    /// When it was received.
    pub obtained_at: SystemTime,
    /// When it expires (`None`: unknown, kept until a 401).
    pub expires_at: Option<SystemTime>,
    /// Store-wide increasing number; a 401 compares it to tell stale tokens from renewed ones.
    pub generation: u64,
}

impl CachedToken {
    /// The access token.
    pub fn access_token(&self) -> &Secret {
        &self.response.access_token
    }

    /// True if it must be renewed at `now` given `skew`. The skew is capped at half the token's
    /// lifetime so that short-lived tokens are not renewed on every call.
    pub fn needs_renewal(&self, now: SystemTime, skew: Duration) -> bool {
        match self.expires_at {
            Some(exp) => {
                let lifetime = exp.duration_since(self.obtained_at).unwrap_or_default();
                match now.checked_add(skew.min(lifetime / 2)) {
                    Some(t) => t >= exp,
                    None => true,
                }
            }
            None => false,
        }
    }
}

/// What the renewal callback should do.
#[derive(Debug, Clone)]
pub enum Renewal {
    /// No usable refresh token: obtain a new grant (client_credentials for backend services; for
    /// user launches return [`Error::ReauthorizationRequired`]).
    Initial,
    /// Use this refresh token.
    Refresh(Secret),
}

/// A token as stored by a persistence backend. Contains secrets: `Debug` redacts them.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PersistedToken {
    /// The token response JSON (with secrets).
    pub response: serde_json::Value,
    /// Seconds since the epoch when received.
    pub obtained_at: u64,
    /// Seconds since the epoch of expiry.
    pub expires_at: Option<u64>,
}

impl fmt::Debug for PersistedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistedToken")
            .field("response", &"[redacted]")
            .field("obtained_at", &self.obtained_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl PersistedToken {
    fn from_cached(t: &CachedToken) -> Self {
        PersistedToken {
            response: t.response.to_json(),
            obtained_at: unix(t.obtained_at),
            expires_at: t.expires_at.map(unix),
        }
    }
}

/// Where tokens survive restarts (encrypted file, database, secret manager...).
///
/// Methods are synchronous so the trait stays object-safe and runtime-neutral; they are called
/// once per key on first use, after each renewal and on eviction. Implementations that talk to a
/// remote service should keep a local write-behind cache.
pub trait TokenPersistence: Send + Sync {
    /// Loads the token for `key`, if any.
    fn load(&self, key: &StoreKey) -> Result<Option<PersistedToken>>;
    /// Saves (replaces) the token for `key`.
    fn save(&self, key: &StoreKey, token: &PersistedToken) -> Result<()>;
    /// Deletes the token for `key`.
    fn remove(&self, key: &StoreKey) -> Result<()>;
}

/// In-memory persistence (tests, or a cache shared between stores).
#[derive(Debug, Default)]
pub struct MemoryPersistence(Mutex<HashMap<StoreKey, PersistedToken>>);

impl MemoryPersistence {
    /// Number of stored tokens.
    pub fn len(&self) -> usize {
        self.0.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn poisoned() -> Error {
    Error::Persistence(Box::new(std::io::Error::other(
        "memory persistence lock poisoned",
    )))
}

impl TokenPersistence for MemoryPersistence {
    fn load(&self, key: &StoreKey) -> Result<Option<PersistedToken>> {
        let m = self.0.lock().map_err(|_| poisoned())?;
        Ok(m.get(key).cloned())
    }
    fn save(&self, key: &StoreKey, token: &PersistedToken) -> Result<()> {
        let mut m = self.0.lock().map_err(|_| poisoned())?;
        m.insert(key.clone(), token.clone());
        Ok(())
    }
    fn remove(&self, key: &StoreKey) -> Result<()> {
        let mut m = self.0.lock().map_err(|_| poisoned())?;
        m.remove(key);
        Ok(())
    }
}

#[derive(Default)]
struct Slot {
    current: RwLock<Option<Arc<CachedToken>>>,
    renew: tokio::sync::Mutex<()>,
}

impl Slot {
    fn get(&self) -> Option<Arc<CachedToken>> {
        self.current.read().ok().and_then(|g| g.clone())
    }
    fn set(&self, t: Option<Arc<CachedToken>>) {
        if let Ok(mut g) = self.current.write() {
            *g = t;
        }
    }
}

/// The token store. Share it behind an `Arc`.
pub struct TokenStore {
    slots: Mutex<HashMap<StoreKey, Arc<Slot>>>,
    skew: Duration,
    persistence: Option<Arc<dyn TokenPersistence>>,
    generation: AtomicU64,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.slots.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("TokenStore")
            .field("keys", &n)
            .field("skew", &self.skew)
            .field("persistent", &self.persistence.is_some())
            .finish()
    }
}

impl Default for TokenStore {
    fn default() -> Self {
        Self::new(Duration::from_secs(60))
    }
}

/// True for errors that mean the grant itself was refused (not a transient failure).
fn grant_rejected(e: &Error) -> bool {
    match e {
        // 408 and 429 are transient (timeouts, rate limits), not a verdict on the grant.
        Error::OAuth { status, .. } | Error::HttpStatus { status } => {
            (400..500).contains(status) && !matches!(status, 408 | 429)
        }
        Error::MissingTokenField { .. }
        | Error::NotAnObject {
            what: "token response",
        }
        | Error::ReauthorizationRequired { .. } => true,
        _ => false,
    }
}

impl TokenStore {
    /// A store that renews `skew` before expiry.
    pub fn new(skew: Duration) -> Self {
        TokenStore {
            slots: Mutex::new(HashMap::new()),
            skew,
            persistence: None,
            generation: AtomicU64::new(0),
        }
    }

    /// Adds a persistence backend.
    pub fn persistence(mut self, p: Arc<dyn TokenPersistence>) -> Self {
        self.persistence = Some(p);
        self
    }

    /// The renewal skew.
    pub fn skew(&self) -> Duration {
        self.skew
    }

    fn slot(&self, key: &StoreKey) -> Arc<Slot> {
        let mut created = false;
        let slot = {
            let mut m = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(key.clone())
                .or_insert_with(|| {
                    created = true;
                    Arc::new(Slot::default())
                })
                .clone()
        };
        if created {
            if let Some(p) = &self.persistence {
                match p.load(key) {
                    Ok(Some(pt)) => match self.restore(&pt) {
                        Ok(t) => slot.set(Some(Arc::new(t))),
                        Err(e) => tracing::warn!(%key, error = %e, "persisted token unreadable"),
                    },
                    Ok(None) => {}
                    Err(e) => tracing::warn!(%key, error = %e, "token persistence load failed"),
                }
            }
        }
        slot
    }

    fn restore(&self, p: &PersistedToken) -> Result<CachedToken> {
        let response = TokenResponse::parse(p.response.to_string().as_bytes())?;
        Ok(CachedToken {
            response,
            obtained_at: UNIX_EPOCH
                .checked_add(Duration::from_secs(p.obtained_at))
                .ok_or(Error::PersistedTime {
                    field: "obtained_at",
                })?,
            expires_at: p
                .expires_at
                .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s))),
            generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
        })
    }

    fn make(&self, response: TokenResponse, now: SystemTime) -> CachedToken {
        CachedToken {
            expires_at: response.expires_at(now),
            response,
            obtained_at: now,
            generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    fn persist(&self, key: &StoreKey, t: &CachedToken) {
        if let Some(p) = &self.persistence {
            if let Err(e) = p.save(key, &PersistedToken::from_cached(t)) {
                tracing::warn!(%key, error = %e, "token persistence save failed");
            }
        }
    }

    /// Stores a token obtained outside the store (e.g. from an authorization-code exchange).
    pub fn insert(&self, key: &StoreKey, response: TokenResponse) -> Arc<CachedToken> {
        let t = Arc::new(self.make(response, SystemTime::now()));
        self.persist(key, &t);
        self.slot(key).set(Some(t.clone()));
        t
    }

    /// The cached token for `key`, fresh or not, without renewing.
    pub fn peek(&self, key: &StoreKey) -> Option<Arc<CachedToken>> {
        self.slot(key).get()
    }

    /// Drops the entry (and its persisted copy).
    pub fn evict(&self, key: &StoreKey) {
        self.slot(key).set(None);
        if let Some(p) = &self.persistence {
            if let Err(e) = p.remove(key) {
                tracing::warn!(%key, error = %e, "token persistence remove failed");
            }
        }
    }

    /// A fresh token for `key`, renewing through `fetch` when missing or within `skew` of expiry.
    /// Concurrent callers for the same key share one renewal.
    pub async fn get<F, Fut>(&self, key: &StoreKey, fetch: F) -> Result<Arc<CachedToken>>
    where
        F: FnOnce(Renewal) -> Fut,
        Fut: Future<Output = Result<TokenResponse>>,
    {
        let slot = self.slot(key);
        let fresh = |t: &Option<Arc<CachedToken>>| {
            t.as_ref()
                .filter(|t| !t.needs_renewal(SystemTime::now(), self.skew))
                .cloned()
        };
        if let Some(t) = fresh(&slot.get()) {
            return Ok(t);
        }
        let _guard = slot.renew.lock().await;
        let current = slot.get();
        if let Some(t) = fresh(&current) {
            return Ok(t);
        }
        self.renew_locked(key, &slot, current, fetch).await
    }

    /// Call after the resource server answered 401 to `rejected`. If the store already holds a
    /// newer token, that token is returned and nothing is renewed; otherwise the token is renewed
    /// once (concurrent 401s for the same token share the renewal).
    pub async fn after_unauthorized<F, Fut>(
        &self,
        key: &StoreKey,
        rejected: &CachedToken,
        fetch: F,
    ) -> Result<Arc<CachedToken>>
    where
        F: FnOnce(Renewal) -> Fut,
        Fut: Future<Output = Result<TokenResponse>>,
    {
        let slot = self.slot(key);
        let newer = |t: Option<Arc<CachedToken>>| {
            t.filter(|t| {
                t.generation > rejected.generation && !t.needs_renewal(SystemTime::now(), self.skew)
            })
        };
        if let Some(t) = newer(slot.get()) {
            tracing::debug!(%key, "401 for a replaced token; using the newer one");
            return Ok(t);
        }
        let _guard = slot.renew.lock().await;
        let current = slot.get();
        if let Some(t) = newer(current.clone()) {
            return Ok(t);
        }
        self.renew_locked(key, &slot, current, fetch).await
    }

    async fn renew_locked<F, Fut>(
        &self,
        key: &StoreKey,
        slot: &Slot,
        current: Option<Arc<CachedToken>>,
        fetch: F,
    ) -> Result<Arc<CachedToken>>
    where
        F: FnOnce(Renewal) -> Fut,
        Fut: Future<Output = Result<TokenResponse>>,
    {
        let old_refresh = current
            .as_ref()
            .and_then(|t| t.response.refresh_token.clone());
        let renewal = match &old_refresh {
            Some(r) => Renewal::Refresh(r.clone()),
            None => Renewal::Initial,
        };
        let refreshing = old_refresh.is_some();
        tracing::debug!(%key, refreshing, "renewing token");
        match fetch(renewal).await {
            Ok(mut resp) => {
                if refreshing {
                    carry_over_grant(&mut resp, current.as_deref());
                }
                // RFC 6749 §6: without a new refresh token the old one stays valid.
                if resp.refresh_token.is_none() {
                    resp.refresh_token = old_refresh;
                }
                let t = Arc::new(self.make(resp, SystemTime::now()));
                self.persist(key, &t);
                slot.set(Some(t.clone()));
                Ok(t)
            }
            Err(e) if e.needs_reauthorization() || (refreshing && grant_rejected(&e)) => {
                tracing::warn!(%key, error = %e, "grant cannot be renewed; evicting");
                slot.set(None);
                if let Some(p) = &self.persistence {
                    if let Err(pe) = p.remove(key) {
                        tracing::warn!(%key, error = %pe, "token persistence remove failed");
                    }
                }
                if e.needs_reauthorization() {
                    return Err(e);
                }
                Err(Error::ReauthorizationRequired {
                    key: key.to_string(),
                    cause: Some(Box::new(e)),
                })
            }
            Err(e) => {
                tracing::warn!(%key, error = %e, "token renewal failed");
                Err(e)
            }
        }
    }
}

/// A refresh response describes the same grant: what it leaves out is kept from the previous
/// response. RFC 6749 §6 and §5.1: an omitted `scope` means the scope originally granted; the
/// SMART launch context (`patient`, `encounter`, `fhirContext`, ...) belongs to the grant too.
fn carry_over_grant(resp: &mut TokenResponse, previous: Option<&CachedToken>) {
    let Some(prev) = previous.map(|t| &t.response) else {
        return;
    };
    fn keep<T: Clone>(field: &mut Option<T>, old: &Option<T>) {
        if field.is_none() {
            field.clone_from(old);
        }
    }
    keep(&mut resp.scope, &prev.scope);
    keep(&mut resp.patient, &prev.patient);
    keep(&mut resp.encounter, &prev.encounter);
    keep(&mut resp.fhir_context, &prev.fhir_context);
    keep(&mut resp.need_patient_banner, &prev.need_patient_banner);
    keep(&mut resp.smart_style_url, &prev.smart_style_url);
    keep(&mut resp.tenant, &prev.tenant);
    keep(&mut resp.intent, &prev.intent);
}
