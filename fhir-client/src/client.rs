//! The async client over reqwest (feature `reqwest`): the sans-IO core driven over HTTP.
//!
//! Every request goes through one path ([`FhirClient::send`]): the endpoint's rate limiter
//! (requests per second and concurrency), a bearer token from the [`TokenProvider`] (one
//! refresh after a `401`), an `X-Request-Id` correlation id (the same for the retries of one
//! call), `Accept-Encoding: gzip` (decoded here, with the body cap), redirects followed with
//! the token only within the endpoint's origin (a `GET` redirected elsewhere is followed
//! without it, or refused: [`FhirClientBuilder::cross_origin_redirects`]), the vendor's
//! [`ThrottleClassifier`](crate::ThrottleClassifier) and [`RetryPolicy`](crate::RetryPolicy),
//! a `tracing` span per call (no URLs: queries carry patient identifiers) and counters
//! ([`Stats`]). Dropping a future cancels the call.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ehrkit_fhir_model::{FromJson, Resource, TypedResource};
use futures_util::Stream;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, LOCATION};
use http::Response;
use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::paging::{Entry, EntryMode, Next, PageLimits, Pager, StopReason};
use crate::request::{self, origin, Base, FhirRequest, SearchMethod};
use crate::response;
use crate::retry::{Decision, Verdict};
use crate::search::SearchParams;
use crate::vendor::VendorProfile;

/// A boxed future, as [`TokenProvider`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where access tokens come from.
pub trait TokenProvider: Send + Sync {
    /// The current access token (renewed if about to expire), or `None` for no authorization.
    fn token(&self) -> BoxFuture<'_, Result<Option<String>>>;
    /// Called once after a `401` for the request sent with `rejected`: a token newer than
    /// `rejected` (the one already renewed by a concurrent caller, or a fresh one; renewal
    /// shared with concurrent callers when the provider renews single-flight, as smart-auth's
    /// token store does).
    fn refresh<'a>(&'a self, rejected: Option<&'a str>) -> BoxFuture<'a, Result<Option<String>>>;
}

/// A fixed bearer token (refresh gives the same one).
#[derive(Clone)]
pub struct StaticToken(String);

impl StaticToken {
    /// A provider that always returns `token`.
    pub fn new(token: impl Into<String>) -> Self {
        StaticToken(token.into())
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken(<redacted>)")
    }
}

impl TokenProvider for StaticToken {
    fn token(&self) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move { Ok(Some(self.0.clone())) })
    }
    fn refresh<'a>(&'a self, _rejected: Option<&'a str>) -> BoxFuture<'a, Result<Option<String>>> {
        self.token()
    }
}

/// Counters of a client (all calls since it was built).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// HTTP requests sent (retries and redirects included).
    pub requests: u64,
    /// Retries after a throttle or transient failure.
    pub retries: u64,
    /// Responses classified as throttling.
    pub throttled: u64,
    /// Token refreshes after a `401`.
    pub token_refreshes: u64,
    /// Search pages read.
    pub pages: u64,
    /// Resources returned by searches and reads.
    pub resources: u64,
    /// Searches that stopped early (caps, a repeated `next`).
    pub truncated_searches: u64,
    /// Split searches (one per vendor category) the server refused (400, 404, 422,
    /// `not-supported`) and that were skipped while other splits answered.
    pub refused_splits: u64,
    /// Error responses by status (0: transport errors).
    pub errors_by_status: BTreeMap<u16, u64>,
}

/// What a counter counts; each is also a `metrics` counter `ehrkit_fhir_client_<name>_total`
/// labelled with the vendor profile.
#[derive(Clone, Copy)]
enum Field {
    Requests,
    Retries,
    Throttled,
    TokenRefreshes,
    Pages,
    Resources,
    Truncated,
    RefusedSplits,
}

#[derive(Default)]
struct Counters {
    /// The vendor profile's name (the `vendor` label of the `metrics` counters).
    vendor: String,
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    token_refreshes: AtomicU64,
    pages: AtomicU64,
    resources: AtomicU64,
    truncated: AtomicU64,
    refused_splits: AtomicU64,
    errors: Mutex<BTreeMap<u16, u64>>,
}

impl Counters {
    fn add(&self, field: Field, n: u64) {
        let (c, name) = match field {
            Field::Requests => (&self.requests, "ehrkit_fhir_client_requests_total"),
            Field::Retries => (&self.retries, "ehrkit_fhir_client_retries_total"),
            Field::Throttled => (&self.throttled, "ehrkit_fhir_client_throttled_total"),
            Field::TokenRefreshes => (
                &self.token_refreshes,
                "ehrkit_fhir_client_token_refreshes_total",
            ),
            Field::Pages => (&self.pages, "ehrkit_fhir_client_pages_total"),
            Field::Resources => (&self.resources, "ehrkit_fhir_client_resources_total"),
            Field::Truncated => (
                &self.truncated,
                "ehrkit_fhir_client_truncated_searches_total",
            ),
            Field::RefusedSplits => (
                &self.refused_splits,
                "ehrkit_fhir_client_refused_splits_total",
            ),
        };
        c.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(name, "vendor" => self.vendor.clone()).increment(n);
    }

    fn error(&self, status: u16) {
        // 0 = transport error (no status).
        metrics::counter!(
            "ehrkit_fhir_client_errors_total",
            "vendor" => self.vendor.clone(),
            "status" => status.to_string()
        )
        .increment(1);
        *self
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(status)
            .or_default() += 1;
    }
}

/// The longest wait between two requests the rate limiter imposes (one request a day).
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Requests per second and concurrency for one endpoint.
struct Limiter {
    sem: Arc<Semaphore>,
    interval: Option<Duration>,
    next: tokio::sync::Mutex<Option<Instant>>,
}

impl Limiter {
    fn new(rps: Option<f64>, concurrency: usize) -> Self {
        Limiter {
            sem: Arc::new(Semaphore::new(concurrency.max(1))),
            // Rates below one a day are one a day: the interval must stay a `Duration` (and
            // an `Instant` plus it must not overflow) whatever the configuration says.
            interval: rps.filter(|r| r.is_finite() && *r > 0.0).map(|r| {
                Duration::try_from_secs_f64(1.0 / r)
                    .unwrap_or(MAX_INTERVAL)
                    .min(MAX_INTERVAL)
            }),
            next: tokio::sync::Mutex::new(None),
        }
    }

    async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        let permit = self.sem.clone().acquire_owned().await.ok();
        if let Some(iv) = self.interval {
            let at = {
                let mut next = self.next.lock().await;
                let now = Instant::now();
                let at = next.map_or(now, |n| n.max(now));
                *next = Some(at + iv);
                at
            };
            tokio::time::sleep_until(at).await;
        }
        permit
    }
}

/// Builds a [`FhirClient`].
pub struct FhirClientBuilder {
    base: String,
    profile: VendorProfile,
    tokens: Option<Arc<dyn TokenProvider>>,
    timeout: Duration,
    connect_timeout: Duration,
    limits: PageLimits,
    max_body: usize,
    max_redirects: usize,
    cross_origin_redirects: bool,
    search_method: SearchMethod,
    reqwest: Option<reqwest::ClientBuilder>,
}

impl fmt::Debug for FhirClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FhirClientBuilder")
            .field("base", &self.base)
            .field("profile", &self.profile.name)
            .field("tokens", &self.tokens.is_some())
            .finish_non_exhaustive()
    }
}

impl FhirClientBuilder {
    /// Sets the vendor profile (default `generic`).
    pub fn profile(mut self, p: VendorProfile) -> Self {
        self.profile = p;
        self
    }
    /// Sets the token provider (default: no `Authorization` header).
    pub fn tokens(mut self, t: impl TokenProvider + 'static) -> Self {
        self.tokens = Some(Arc::new(t));
        self
    }
    /// Sets a shared token provider.
    pub fn shared_tokens(mut self, t: Arc<dyn TokenProvider>) -> Self {
        self.tokens = Some(t);
        self
    }
    /// Timeout of one HTTP exchange (default 60 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
    /// Connect timeout (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Page and resource caps of searches.
    pub fn limits(mut self, l: PageLimits) -> Self {
        self.limits = l;
        self
    }
    /// Largest (decoded) response body (default 64 MiB).
    pub fn max_body(mut self, n: usize) -> Self {
        self.max_body = n;
        self
    }
    /// Redirects followed within the endpoint's origin (default 5).
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.max_redirects = n;
        self
    }
    /// Whether a `GET` redirected to another origin is followed, without the token and never
    /// from `https` to `http` (default `true`). With `false` such a redirect is
    /// [`Error::ForeignLink`]. Within the endpoint's origin redirects are always followed,
    /// with the token.
    pub fn cross_origin_redirects(mut self, follow: bool) -> Self {
        self.cross_origin_redirects = follow;
        self
    }
    /// How searches are sent (default [`SearchMethod::Get`]): `Post` sends every search as
    /// `POST [type]/_search` with a form body, `PostAbove(n)` only those whose URL would be
    /// longer than `n` bytes. Paging links are always followed with `GET`.
    pub fn search_method(mut self, m: SearchMethod) -> Self {
        self.search_method = m;
        self
    }
    /// A reqwest builder for proxies or root certificates; its redirect policy, timeouts and
    /// decompression are set by this crate.
    pub fn reqwest(mut self, b: reqwest::ClientBuilder) -> Self {
        self.reqwest = Some(b);
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<FhirClient> {
        let base = Base::new(&self.base)?;
        let http = self
            .reqwest
            .unwrap_or_default()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(|e| Error::Transport {
                what: "building the client",
                origin: base.origin(),
                timeout: false,
                source: Box::new(e),
            })?;
        let limiter = Limiter::new(
            self.profile.requests_per_second,
            self.profile.max_concurrency,
        );
        let vendor_name = self.profile.name.clone();
        Ok(FhirClient {
            inner: Arc::new(Inner {
                http,
                base,
                profile: self.profile,
                tokens: self.tokens,
                limiter,
                counters: Counters {
                    vendor: vendor_name,
                    ..Counters::default()
                },
                limits: self.limits,
                max_body: self.max_body,
                max_redirects: self.max_redirects,
                cross_origin_redirects: self.cross_origin_redirects,
                search_method: self.search_method,
                learned: Mutex::new(SearchParams::new()),
            }),
        })
    }
}

struct Inner {
    http: reqwest::Client,
    base: Base,
    profile: VendorProfile,
    tokens: Option<Arc<dyn TokenProvider>>,
    limiter: Limiter,
    counters: Counters,
    limits: PageLimits,
    max_body: usize,
    max_redirects: usize,
    cross_origin_redirects: bool,
    search_method: SearchMethod,
    /// Sticky parameters learned from the caller's queries.
    learned: Mutex<SearchParams>,
}

/// A FHIR R4 REST client for one endpoint (base URL + vendor profile + tokens). Cheap to
/// clone (shared state: rate limiter, counters).
#[derive(Clone)]
pub struct FhirClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for FhirClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FhirClient")
            .field("base", &self.inner.base.origin())
            .field("profile", &self.inner.profile.name)
            .finish_non_exhaustive()
    }
}

/// A search's resources, page after page: a [`Stream`] of entries, also readable without
/// `futures` through [`SearchStream::next_entry`]. Pages are fetched as the stream is read;
/// dropping it stops the search.
pub struct SearchStream(Pin<Box<dyn Stream<Item = Result<Entry>> + Send>>);

impl fmt::Debug for SearchStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SearchStream")
    }
}

impl SearchStream {
    /// The next entry (`None` at the end; after an error, the stream ends).
    pub async fn next_entry(&mut self) -> Option<Result<Entry>> {
        std::future::poll_fn(|cx| self.0.as_mut().poll_next(cx)).await
    }
}

impl Stream for SearchStream {
    type Item = Result<Entry>;
    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl FhirClient {
    /// A builder for the endpoint at `base`.
    pub fn builder(base: &str) -> FhirClientBuilder {
        FhirClientBuilder {
            base: base.to_owned(),
            profile: VendorProfile::generic(),
            tokens: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            limits: PageLimits::default(),
            max_body: 64 << 20,
            max_redirects: 5,
            cross_origin_redirects: true,
            search_method: SearchMethod::Get,
            reqwest: None,
        }
    }

    /// A client with the given profile, no tokens and defaults otherwise.
    pub fn new(base: &str, profile: VendorProfile) -> Result<Self> {
        Self::builder(base).profile(profile).build()
    }

    /// The endpoint's base.
    pub fn base(&self) -> &Base {
        &self.inner.base
    }

    /// The vendor profile.
    pub fn profile(&self) -> &VendorProfile {
        &self.inner.profile
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            requests: g(&c.requests),
            retries: g(&c.retries),
            throttled: g(&c.throttled),
            token_refreshes: g(&c.token_refreshes),
            pages: g(&c.pages),
            resources: g(&c.resources),
            truncated_searches: g(&c.truncated),
            refused_splits: g(&c.refused_splits),
            errors_by_status: c.errors.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// Parameters sent with every request: the profile's, then those learned (sticky).
    fn extras(&self) -> SearchParams {
        let mut p = self.inner.profile.every_request();
        let learned = self.inner.learned.lock().unwrap_or_else(|e| e.into_inner());
        for (k, v) in learned.pairs() {
            if p.get(k).is_none() {
                p = p.param(k.clone(), v.clone());
            }
        }
        p
    }

    fn learn(&self, params: &SearchParams) {
        let sticky = self.inner.profile.sticky_params();
        if sticky.is_empty() {
            return;
        }
        let mut learned = self.inner.learned.lock().unwrap_or_else(|e| e.into_inner());
        for name in sticky {
            if let Some(v) = params.get(name) {
                learned.set(name, v);
            }
        }
    }

    /// Reads `T` by id.
    pub async fn read<T: TypedResource + FromJson>(&self, id: &str) -> Result<T> {
        self.read_with(id, &SearchParams::new()).await
    }

    /// Reads `T` by id with extra query parameters.
    pub async fn read_with<T: TypedResource + FromJson>(
        &self,
        id: &str,
        params: &SearchParams,
    ) -> Result<T> {
        let resp = self
            .send(self.read_request(T::TYPE_NAME, id, params)?)
            .await?;
        let t = response::typed::<T, _>(&resp)?;
        self.inner.counters.add(Field::Resources, 1);
        Ok(t)
    }

    /// Reads any resource type by name (types whose feature is off come back raw).
    pub async fn read_resource(
        &self,
        resource_type: &str,
        id: &str,
        params: &SearchParams,
    ) -> Result<Resource> {
        let resp = self
            .send(self.read_request(resource_type, id, params)?)
            .await?;
        let r = response::resource(&resp)?;
        if r.resource_type() != resource_type {
            return Err(Error::WrongType {
                expected: "the type asked for",
                found: r.resource_type().chars().take(64).collect(),
            });
        }
        self.inner.counters.add(Field::Resources, 1);
        Ok(r)
    }

    fn read_request(
        &self,
        resource_type: &str,
        id: &str,
        params: &SearchParams,
    ) -> Result<FhirRequest> {
        self.learn(params);
        let mut all = params.clone();
        for (k, v) in self.extras().pairs() {
            if all.get(k).is_none() {
                all = all.param(k.clone(), v.clone());
            }
        }
        request::read(&self.inner.base, resource_type, id, &all)
    }

    /// Reads a version (`vread`).
    pub async fn vread(&self, resource_type: &str, id: &str, version: &str) -> Result<Resource> {
        let req = request::vread(&self.inner.base, resource_type, id, version, &self.extras())?;
        let resp = self.send(req).await?;
        self.inner.counters.add(Field::Resources, 1);
        response::resource(&resp)
    }

    /// Searches, following the profile's plan (splits merged, duplicates by type and id
    /// dropped) and every `next` link, as a stream of entries. Planning errors (a vendor rule
    /// refusing the query) come as the first item.
    pub fn search(&self, resource_type: &str, params: &SearchParams) -> SearchStream {
        self.learn(params);
        let extras = self.extras();
        let mut with = params.clone();
        for (k, v) in extras.pairs() {
            if with.get(k).is_none() {
                with = with.param(k.clone(), v.clone());
            }
        }
        let planned = request::check_type(resource_type)
            .and_then(|()| self.inner.profile.plan(resource_type, &with))
            .and_then(|plan| {
                if !plan.applied.is_empty() {
                    tracing::debug!(rules = ?plan.applied, searches = plan.searches.len(), "vendor rules applied");
                }
                plan.searches
                    .iter()
                    .map(|p| {
                        self.inner
                            .search_method
                            .request(&self.inner.base, resource_type, p)
                    })
                    .collect::<Result<Vec<_>>>()
            });
        self.stream(resource_type, extras, planned)
    }

    /// A stream over the pages of the first requests (merged when several).
    fn stream(
        &self,
        resource_type: &str,
        extras: SearchParams,
        first: Result<Vec<FhirRequest>>,
    ) -> SearchStream {
        let mut state = SearchState {
            client: self.clone(),
            resource_type: resource_type.to_owned(),
            extras,
            merge: false,
            searches: VecDeque::new(),
            next: None,
            pager: None,
            buffer: VecDeque::new(),
            seen: HashSet::new(),
            error: None,
            split_ok: 0,
            split_refused: None,
        };
        match first {
            Ok(reqs) => {
                state.merge = reqs.len() > 1;
                state.searches = reqs.into();
            }
            Err(e) => state.error = Some(e),
        }
        SearchStream(Box::pin(futures_util::stream::unfold(
            state,
            |mut s| async move {
                let item = s.next_item().await?;
                Some((item, s))
            },
        )))
    }

    /// The history of a resource (`[type]/[id]/_history`) or a type (`[type]/_history`), page
    /// after page.
    pub fn history(
        &self,
        resource_type: &str,
        id: Option<&str>,
        params: &SearchParams,
    ) -> SearchStream {
        let extras = self.extras();
        let first = request::history(
            &self.inner.base,
            resource_type,
            id,
            &with_extras(params, &extras),
        );
        self.stream(resource_type, extras, first.map(|r| vec![r]))
    }

    /// `Patient/[id]/$everything`, page after page (`_count`, `_since`, `_type` as parameters).
    pub fn everything(&self, patient_id: &str, params: &SearchParams) -> SearchStream {
        let extras = self.extras();
        let first = request::instance_operation(
            &self.inner.base,
            "Patient",
            patient_id,
            "everything",
            &with_extras(params, &extras),
        );
        self.stream("Patient", extras, first.map(|r| vec![r]))
    }

    /// Creates a resource (`POST`); with `if_none_exist` a conditional create, which is
    /// retried like an idempotent request.
    pub async fn create(
        &self,
        resource: &Resource,
        if_none_exist: Option<&SearchParams>,
    ) -> Result<WriteOutcome> {
        let body = ehrkit_fhir_model::to_vec(resource);
        let req = request::create(
            &self.inner.base,
            resource.resource_type(),
            body,
            if_none_exist,
        )?;
        write_outcome(self.send(req).await?)
    }

    /// Updates a resource by its id (`PUT`), with `If-Match` when `if_match` (an ETag, as
    /// returned in [`WriteOutcome::etag`]) is given.
    pub async fn update(
        &self,
        resource: &Resource,
        if_match: Option<&str>,
    ) -> Result<WriteOutcome> {
        let id = resource.id().ok_or(Error::InvalidRequest {
            what: "update",
            detail: "the resource has no id".into(),
        })?;
        let body = ehrkit_fhir_model::to_vec(resource);
        let req = request::update(
            &self.inner.base,
            resource.resource_type(),
            id,
            body,
            if_match,
        )?;
        write_outcome(self.send(req).await?)
    }

    /// Conditional update: `PUT [type]?criteria` (creates when nothing matches).
    pub async fn conditional_update(
        &self,
        resource: &Resource,
        criteria: &SearchParams,
    ) -> Result<WriteOutcome> {
        let body = ehrkit_fhir_model::to_vec(resource);
        let req = request::conditional_update(
            &self.inner.base,
            resource.resource_type(),
            criteria,
            body,
        )?;
        write_outcome(self.send(req).await?)
    }

    /// JSON Patch (`PATCH`); not retried unless the profile's retry policy opts in.
    pub async fn patch(
        &self,
        resource_type: &str,
        id: &str,
        json_patch: Vec<u8>,
        if_match: Option<&str>,
    ) -> Result<WriteOutcome> {
        let req = request::patch(&self.inner.base, resource_type, id, json_patch, if_match)?;
        write_outcome(self.send(req).await?)
    }

    /// Deletes a resource.
    pub async fn delete(&self, resource_type: &str, id: &str) -> Result<WriteOutcome> {
        let req = request::delete(&self.inner.base, resource_type, id)?;
        write_outcome(self.send(req).await?)
    }

    /// Posts a `batch` or `transaction` Bundle as it is (e.g. one made by ehrkit-mapping from
    /// an HL7 v2 message) and returns the response Bundle.
    pub async fn transaction(
        &self,
        bundle: &ehrkit_fhir_model::Bundle,
    ) -> Result<ehrkit_fhir_model::Bundle> {
        let req = request::transaction(&self.inner.base, ehrkit_fhir_model::to_vec(bundle))?;
        response::bundle(&self.send(req).await?)
    }

    /// Reads the CapabilityStatement (`metadata`) and checks that the server speaks FHIR R4
    /// (`fhirVersion` 4.0.x); [`Error::FhirVersion`] otherwise.
    pub async fn capabilities(&self) -> Result<Capabilities> {
        let resp = self.send(request::capabilities(&self.inner.base)?).await?;
        let resource = response::resource(&resp)?;
        let doc = ehrkit_fhir_model::json::Value::parse(resp.body()).ok();
        let fhir_version = match doc.as_ref().and_then(|d| d.get("fhirVersion")) {
            Some(ehrkit_fhir_model::json::Value::String(v)) => Some(v.clone()),
            _ => None,
        };
        match fhir_version.as_deref() {
            Some(v) if v.starts_with("4.0") => {}
            other => {
                return Err(Error::FhirVersion {
                    found: other.unwrap_or("none").chars().take(32).collect(),
                })
            }
        }
        Ok(Capabilities {
            fhir_version: fhir_version.unwrap_or_default(),
            statement: resource,
        })
    }

    /// Reads `.well-known/smart-configuration` (JSON as is; smart-auth's discovery reads it
    /// for tokens).
    pub async fn smart_configuration(&self) -> Result<ehrkit_fhir_model::json::Value> {
        let resp = self
            .send(request::smart_configuration(&self.inner.base)?)
            .await?;
        ehrkit_fhir_model::json::Value::parse(resp.body()).map_err(|source| Error::Parse {
            status: resp.status().as_u16(),
            expected: "smart-configuration",
            source,
        })
    }

    /// Runs a search to the end and returns its matches and includes (not outcome entries).
    pub async fn search_all(
        &self,
        resource_type: &str,
        params: &SearchParams,
    ) -> Result<Vec<Resource>> {
        let mut s = self.search(resource_type, params);
        let mut out = Vec::new();
        while let Some(e) = s.next_entry().await {
            let e = e?;
            if e.mode != EntryMode::Outcome {
                out.push(e.resource);
            }
        }
        Ok(out)
    }

    /// Probes whether the server supports searching `resource_type` (a `_count=1` search),
    /// instead of trusting its CapabilityStatement (Veradigm's lists only US Core minimums).
    /// `Ok(false)` on `not-supported`, 404, 405 or 501.
    pub async fn supports(&self, resource_type: &str) -> Result<bool> {
        let mut params = SearchParams::new().count(1);
        for (k, v) in self.extras().pairs() {
            params = params.param(k.clone(), v.clone());
        }
        let req = request::search(&self.inner.base, resource_type, &params)?;
        match self.send(req).await {
            Ok(_) => Ok(true),
            Err(Error::NotSupported { .. }) => Ok(false),
            Err(Error::Server {
                status: 404 | 405 | 501,
                ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends one request with the rate limiter, token, retries and redirect rules, and
    /// returns a success (2xx) response; anything else is an error.
    pub async fn send(&self, req: FhirRequest) -> Result<Response<Vec<u8>>> {
        let request_id = new_request_id();
        let span = tracing::info_span!(
            "fhir.request",
            vendor = %self.inner.profile.name,
            method = %req.http.method(),
            resource_type = %req.resource_type,
            request_id = %request_id,
        );
        self.send_inner(req, &request_id).instrument(span).await
    }

    async fn send_inner(&self, req: FhirRequest, request_id: &str) -> Result<Response<Vec<u8>>> {
        let inner = &*self.inner;
        let mut token = match &inner.tokens {
            Some(t) => t.token().await?,
            None => None,
        };
        let mut refreshed = false;
        let mut attempt: u32 = 1;
        loop {
            let result = self.exchange(&req, token.as_deref(), request_id).await;
            let (verdict, status, wait, err) = match result {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let now = SystemTime::now();
                    let verdict =
                        inner
                            .profile
                            .throttle
                            .classify(status, resp.headers(), resp.body(), now);
                    inner.counters.error(status);
                    // A 401 from another origin, reached by a redirect the token did not
                    // follow, says nothing about the token: no refresh for it.
                    let token_went = resp.extensions().get::<OtherOrigin>().is_none();
                    if verdict == Verdict::Unauthorized && !refreshed && token_went {
                        if let Some(t) = &inner.tokens {
                            refreshed = true;
                            inner.counters.add(Field::TokenRefreshes, 1);
                            tracing::debug!("401: refreshing the access token once");
                            token = t.refresh(token.as_deref()).await?;
                            continue;
                        }
                    }
                    let wait = match verdict {
                        Verdict::Throttled(w) => {
                            inner.counters.add(Field::Throttled, 1);
                            w
                        }
                        Verdict::Transient(w) => w,
                        _ => None,
                    };
                    (verdict, status, wait, response::error_for(&resp))
                }
                Err(e @ Error::Transport { .. }) => {
                    inner.counters.error(0);
                    (Verdict::Transient(None), 0, None, e)
                }
                Err(e) => return Err(e),
            };
            let random: f64 = rand::thread_rng().gen();
            match inner
                .profile
                .retry
                .decide(attempt, verdict, req.idempotent, random)
            {
                Decision::Retry(d) => {
                    inner.counters.add(Field::Retries, 1);
                    tracing::info!(status, attempt, wait_ms = d.as_millis() as u64, "retrying");
                    tokio::time::sleep(d).await;
                    attempt += 1;
                }
                Decision::GiveUp => {
                    return Err(match verdict {
                        Verdict::Throttled(_) | Verdict::Transient(_) => {
                            tracing::warn!(status, attempt, "giving up");
                            Error::RetriesExhausted {
                                attempts: attempt,
                                status,
                                retry_after: wait,
                                last: Box::new(err),
                            }
                        }
                        _ => err,
                    });
                }
            }
        }
    }

    /// One exchange, following redirects within the base's origin.
    async fn exchange(
        &self,
        req: &FhirRequest,
        token: Option<&str>,
        request_id: &str,
    ) -> Result<Response<Vec<u8>>> {
        let inner = &*self.inner;
        let mut url =
            url::Url::parse(&req.http.uri().to_string()).map_err(|e| Error::InvalidRequest {
                what: "request URL",
                detail: e.to_string(),
            })?;
        let mut redirects = 0;
        // Once a redirect left the endpoint's origin, the token stays behind for the rest of
        // the chain.
        let mut foreign = false;
        loop {
            if !foreign && !inner.base.same_origin(&url) {
                return Err(Error::ForeignLink {
                    what: "request",
                    origin: origin(&url),
                });
            }
            let mut headers = req.http.headers().clone();
            if let Some(t) = token.filter(|_| !foreign) {
                let mut v = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                    Error::Token("the access token is not a valid header value".into())
                })?;
                v.set_sensitive(true);
                headers.insert(AUTHORIZATION, v);
            }
            if let Ok(v) = HeaderValue::from_str(request_id) {
                headers.insert("x-request-id", v);
            }
            let mut b = inner
                .http
                .request(req.http.method().clone(), url.clone())
                .headers(headers);
            if !req.http.body().is_empty() {
                b = b.body(req.http.body().clone());
            }
            let permit = inner.limiter.acquire().await;
            inner.counters.add(Field::Requests, 1);
            let resp = self.read_response(b).await;
            drop(permit);
            let resp = resp?;
            if resp.status().is_redirection() {
                if let Some(loc) = resp.headers().get(LOCATION).and_then(|l| l.to_str().ok()) {
                    let target = url.join(loc).map_err(|e| Error::InvalidRequest {
                        what: "redirect Location",
                        detail: e.to_string(),
                    })?;
                    if !inner.base.same_origin(&target) {
                        let safe_method =
                            matches!(*req.http.method(), http::Method::GET | http::Method::HEAD);
                        let downgrade = url.scheme() == "https" && target.scheme() != "https";
                        if !inner.cross_origin_redirects || !safe_method || downgrade {
                            tracing::warn!(status = resp.status().as_u16(), target = %origin(&target), "redirect to another origin not followed");
                            return Err(Error::ForeignLink {
                                what: "redirect",
                                origin: origin(&target),
                            });
                        }
                        tracing::info!(status = resp.status().as_u16(), target = %origin(&target), "following a redirect to another origin without the token");
                        foreign = true;
                    }
                    redirects += 1;
                    if redirects > inner.max_redirects {
                        return Err(Error::TooManyRedirects);
                    }
                    url = target;
                    continue;
                }
            }
            let mut resp = resp;
            if foreign {
                resp.extensions_mut().insert(OtherOrigin);
            }
            return Ok(resp);
        }
    }

    async fn read_response(&self, b: reqwest::RequestBuilder) -> Result<Response<Vec<u8>>> {
        let inner = &*self.inner;
        let transport = |what: &'static str, e: reqwest::Error| Error::Transport {
            what,
            origin: inner.base.origin(),
            timeout: e.is_timeout(),
            source: Box::new(e.without_url()),
        };
        let mut resp = b
            .send()
            .await
            .map_err(|e| transport("sending the request", e))?;
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| transport("reading the response", e))?
        {
            if body.len() + chunk.len() > inner.max_body {
                return Err(Error::BodyTooLarge {
                    limit: inner.max_body,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let gzipped = resp
            .headers()
            .get(CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
        if gzipped {
            body = gunzip(&body, inner.max_body)?;
            resp.headers_mut().remove(CONTENT_ENCODING);
        }
        let mut out = Response::builder().status(resp.status());
        if let Some(h) = out.headers_mut() {
            *h = std::mem::take(resp.headers_mut());
        }
        out.body(body).map_err(|e| Error::InvalidRequest {
            what: "response",
            detail: e.to_string(),
        })
    }
}

fn with_extras(params: &SearchParams, extras: &SearchParams) -> SearchParams {
    let mut all = params.clone();
    for (k, v) in extras.pairs() {
        if all.get(k).is_none() {
            all = all.param(k.clone(), v.clone());
        }
    }
    all
}

/// What a write returned.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WriteOutcome {
    /// HTTP status (201 created, 200 updated or matched, 204 …).
    pub status: u16,
    /// `Location` (the new version's URL).
    pub location: Option<String>,
    /// `ETag` (for a later `If-Match`).
    pub etag: Option<String>,
    /// The resource, when the server returned it (`Prefer: return=representation` is sent).
    pub resource: Option<Resource>,
}

fn write_outcome(resp: Response<Vec<u8>>) -> Result<WriteOutcome> {
    let h = |name: http::header::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let resource = if resp.body().iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(response::resource(&resp)?)
    };
    Ok(WriteOutcome {
        status: resp.status().as_u16(),
        location: h(LOCATION).or_else(|| h(http::header::CONTENT_LOCATION)),
        etag: h(http::header::ETAG),
        resource,
    })
}

/// A server's CapabilityStatement, checked to be FHIR R4.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Capabilities {
    /// `fhirVersion` (4.0.x).
    pub fhir_version: String,
    /// The statement (raw unless fhir-model's `capability_statement` feature is on).
    pub statement: Resource,
}

fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut d = flate2::read::MultiGzDecoder::new(data).take(limit as u64 + 1);
    d.read_to_end(&mut out).map_err(Error::Gzip)?;
    if out.len() > limit {
        return Err(Error::BodyTooLarge { limit });
    }
    Ok(out)
}

/// Marks a response that came from another origin after a redirect the token did not follow.
#[derive(Debug, Clone, Copy)]
struct OtherOrigin;

fn new_request_id() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct SearchState {
    client: FhirClient,
    resource_type: String,
    extras: SearchParams,
    merge: bool,
    searches: VecDeque<FhirRequest>,
    next: Option<FhirRequest>,
    pager: Option<Pager>,
    buffer: VecDeque<Entry>,
    seen: HashSet<(String, String)>,
    error: Option<Error>,
    /// Split searches whose first page succeeded.
    split_ok: usize,
    /// The last refusal of a split search (returned when every split search was refused).
    split_refused: Option<Error>,
}

/// Whether a split search's refusal is skipped (the server does not know that one value,
/// e.g. an Observation category): 400, 404, 422 or `not-supported`.
fn refusal_of_one_split(e: &Error) -> bool {
    matches!(
        e,
        Error::Server {
            status: 400 | 404 | 422,
            ..
        } | Error::NotSupported { .. }
    )
}

impl SearchState {
    async fn next_item(&mut self) -> Option<Result<Entry>> {
        loop {
            // Resources of a page already read come out before an error that came after them
            // (a `next` link that cannot be followed): never dropped in silence.
            if let Some(e) = self.buffer.pop_front() {
                return Some(Ok(e));
            }
            if let Some(e) = self.error.take() {
                self.searches.clear();
                self.next = None;
                return Some(Err(e));
            }
            if self.next.is_none() {
                let Some(req) = self.searches.pop_front() else {
                    if self.split_ok == 0 {
                        if let Some(e) = self.split_refused.take() {
                            return Some(Err(e));
                        }
                    }
                    return None;
                };
                self.pager = Some(Pager::new(
                    &req.http.uri().to_string(),
                    self.client.inner.limits,
                ));
                self.next = Some(req);
            }
            let Some(req) = self.next.take() else {
                continue;
            };
            let first_page = self.pager.as_ref().is_some_and(|p| p.pages() == 0);
            match self.fetch(req).await {
                Ok(()) if first_page => self.split_ok += 1,
                Ok(()) => {}
                Err(e) if self.merge && first_page && refusal_of_one_split(&e) => {
                    tracing::warn!(
                        status = e.status().unwrap_or(0),
                        "a split search was refused; the other splits go on"
                    );
                    self.client.inner.counters.add(Field::RefusedSplits, 1);
                    self.split_refused = Some(e);
                    self.pager = None;
                }
                Err(e) => self.error = Some(e),
            }
        }
    }

    async fn fetch(&mut self, req: FhirRequest) -> Result<()> {
        let client = self.client.clone();
        let counters = &client.inner.counters;
        let resp = client.send(req).await?;
        let bundle = response::bundle(&resp)?;
        let Some(pager) = self.pager.as_mut() else {
            return Ok(());
        };
        let page = pager.on_page(bundle);
        counters.add(Field::Pages, 1);
        for e in page.entries {
            if self.merge && e.mode != EntryMode::Outcome {
                if let Some(id) = e.resource.id() {
                    let key = (e.resource.resource_type().to_owned(), id.to_owned());
                    if !self.seen.insert(key) {
                        continue;
                    }
                }
            }
            if e.mode != EntryMode::Outcome {
                counters.add(Field::Resources, 1);
            }
            self.buffer.push_back(e);
        }
        match page.next {
            Next::Fetch(link) => {
                self.next = Some(request::page(
                    &client.inner.base,
                    &link,
                    &self.resource_type,
                    &self.extras,
                )?);
            }
            Next::Stop(reason) => {
                if reason != StopReason::Complete {
                    counters.add(Field::Truncated, 1);
                }
                self.pager = None;
            }
        }
        Ok(())
    }
}
