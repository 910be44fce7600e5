//! FHIR API polling as a source: searches one or more resource types through
//! `ehrkit-fhir-client` for what changed since a watermark (`_lastUpdated=ge<watermark>`, FHIR
//! R4 search, <https://hl7.org/fhir/R4/search.html#lastUpdated>), page by page, and submits
//! each resource to the [`Pipeline`] as [`PayloadKind::FhirJson`] under the endpoint's name.
//!
//! * **Idempotent.** The pipeline keys a FHIR resource by (source, type, id, `meta.versionId`,
//!   else `meta.lastUpdated`) ([`IdempotencyKey::fhir`](crate::store::IdempotencyKey::fhir)):
//!   a re-poll returning the same version is recorded as a duplicate and not applied again; a
//!   changed version is a new message and is applied.
//! * **Watermark after durable.** The watermark of a query (the largest `meta.lastUpdated`
//!   seen) advances only after every resource of a page was durably accepted; it is saved in a
//!   [`WatermarkStore`] so a restart resumes from it. The store ([`crate::store::Store`]) has no
//!   place for a source's cursor, so [`FileWatermarks`] keeps them in a small JSON file the
//!   caller names (written to a temporary file, fsync'd, renamed).
//! * **`ge`, not `gt`.** Servers give `lastUpdated` to the second (Epic) or the millisecond;
//!   several resources can share the watermark's instant and be split over two pages or two
//!   polls. `ge` asks for the boundary instant again, and what was already kept comes back as
//!   duplicates, so nothing with the same instant is skipped.
//! * **Sorted or not.** The search asks for `_sort=_lastUpdated` (turn off with
//!   [`FhirPollSource::sort`]). When the first page's `self` link shows the server applied it
//!   (R4: the `self` link carries the parameters used) and while the pages come in ascending
//!   `lastUpdated` order, the watermark is saved after each page. Otherwise (no such `self`
//!   link, a page older than an earlier one, a vendor split into several searches) it is saved
//!   only at the end of the search, so a crash in the middle repeats the search rather than
//!   skipping its older resources.
//! * **Server errors lose nothing.** The client retries 429 (honouring `Retry-After`), 502,
//!   503, 504 and transport errors per its vendor profile and refreshes a token once after a
//!   401. A page that still fails ends that query's poll with a [`QueryFailure`]: its watermark
//!   stays after the last page fully kept, and the next poll asks again from there.
//! * **Vendor from the endpoint.** Searches are planned by the client's
//!   [`VendorProfile`](ehrkit_fhir_client::VendorProfile) (Epic's category split, Oracle's
//!   `_count` caps, athenahealth's `ah-practice`), and `next` links are followed as given,
//!   with the parameters every request of the endpoint needs added when a link lacks them.
//! * **Parameters on every request.** [`FhirPollSource::extra_params`] names parameters this
//!   endpoint needs on every search: they go on each query's first page, on every `next`
//!   page whose link drops them, and on the `_lastUpdated` polls (e.g. athenahealth's
//!   `ah-practice=Organization/a-1.Practice-<id>`). A parameter the vendor profile makes
//!   sticky (athenahealth's `ah-practice`) given in one [`FhirPollSource::query`] is kept on
//!   that query's next pages too. Neither is part of the watermark key.
//!
//! Metrics: `ehrkit_pipeline_fhir_poll_resources_total` (`source`, `outcome` = `new`,
//! `duplicate`, `reused`, `refused`), `ehrkit_pipeline_fhir_poll_pages_total` (`source`),
//! `ehrkit_pipeline_fhir_poll_failures_total` (`source`, `status`; 0 for transport).

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use ehrkit_fhir_client::{
    request, response, EntryMode, FhirClient, Next, PageLimits, Pager, SearchParams,
};
use serde_json::Value;

use crate::runtime::{Pipeline, Refusal};
use crate::store::{Accepted, PayloadKind, StoreError};

/// Where watermarks are kept between polls and restarts.
pub trait WatermarkStore: Send + Sync + 'static {
    /// The watermark saved under `key`, if any.
    fn load(&self, key: &str) -> std::io::Result<Option<String>>;
    /// Saves `value` under `key` durably before returning.
    fn save(&self, key: &str, value: &str) -> std::io::Result<()>;
    /// Removes `key` durably (nothing to do when absent).
    fn remove(&self, key: &str) -> std::io::Result<()>;
}

/// Watermarks (and other small cursors) in one JSON file: `{"key": "value", ...}`. Each save
/// writes a temporary file beside it, fsyncs it, renames it over the file and fsyncs the
/// directory, so a crash leaves the old or the new content, never a mix.
#[derive(Debug)]
pub struct FileWatermarks {
    path: PathBuf,
    values: Mutex<BTreeMap<String, String>>,
}

impl FileWatermarks {
    /// Opens (or, when missing, starts) the file at `path`. A file that is not a JSON object
    /// of strings is an error (`InvalidData`), never silently reset.
    pub fn open(path: impl Into<PathBuf>) -> std::io::Result<Self> {
        let path = path.into();
        let values = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: not a watermark file ({e})", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            path,
            values: Mutex::new(values),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every key and value.
    pub fn all(&self) -> BTreeMap<String, String> {
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn write_atomically(path: &Path, values: &BTreeMap<String, String>) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(values).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Makes the rename durable (Unix); a directory cannot be opened on some systems.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

impl WatermarkStore for FileWatermarks {
    fn load(&self, key: &str) -> std::io::Result<Option<String>> {
        Ok(self
            .values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned())
    }

    fn save(&self, key: &str, value: &str) -> std::io::Result<()> {
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        if values.get(key).map(String::as_str) == Some(value) {
            return Ok(());
        }
        let mut next = values.clone();
        next.insert(key.to_owned(), value.to_owned());
        write_atomically(&self.path, &next)?;
        *values = next;
        Ok(())
    }

    fn remove(&self, key: &str) -> std::io::Result<()> {
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        if values.contains_key(key) {
            let mut next = values.clone();
            next.remove(key);
            write_atomically(&self.path, &next)?;
            *values = next;
        }
        Ok(())
    }
}

impl<W: WatermarkStore + ?Sized> WatermarkStore for Arc<W> {
    fn load(&self, key: &str) -> std::io::Result<Option<String>> {
        (**self).load(key)
    }
    fn save(&self, key: &str, value: &str) -> std::io::Result<()> {
        (**self).save(key, value)
    }
    fn remove(&self, key: &str) -> std::io::Result<()> {
        (**self).remove(key)
    }
}

/// Why a poll stopped (the watermark stays where the last fully kept page left it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    /// The pipeline's store could not keep a resource (I/O, full disk): poll again later.
    #[error("store: {0}")]
    Store(#[source] StoreError),
    /// The pipeline is shutting down.
    #[error("pipeline closed")]
    Closed,
    /// The watermark could not be saved.
    #[error("watermark not saved: {0}")]
    Watermark(#[source] std::io::Error),
}

/// One query whose poll stopped on a FHIR client error (after the client's retries).
#[derive(Debug)]
pub struct QueryFailure {
    /// Resource type searched.
    pub resource_type: String,
    /// HTTP status (0 for a transport error or none).
    pub status: u16,
    /// The client's error (no token, no query string, no diagnostics).
    pub error: ehrkit_fhir_client::Error,
}

/// What one [`FhirPollSource::poll_once`] did.
#[derive(Debug, Default)]
pub struct PollReport {
    /// Pages fetched.
    pub pages: usize,
    /// Resources kept as new messages (new resources or new versions).
    pub new: usize,
    /// Resources already kept (same version): recorded as duplicates, not applied.
    pub duplicates: usize,
    /// Resources whose key was kept with other content (same version, changed body): kept and
    /// flagged.
    pub reused: usize,
    /// Resources the pipeline refused before keeping them (no `resourceType`, not routed).
    pub refused: usize,
    /// Queries that stopped on a server or transport error.
    pub failures: Vec<QueryFailure>,
    /// Watermark of each query after the poll (`key` → `lastUpdated`).
    pub watermarks: BTreeMap<String, String>,
}

impl PollReport {
    /// True when every query ran to its end.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }
}

#[derive(Debug, Clone)]
struct Query {
    resource_type: String,
    params: SearchParams,
}

impl Query {
    fn failure(&self, status: u16, error: ehrkit_fhir_client::Error) -> QueryFailure {
        QueryFailure {
            resource_type: self.resource_type.clone(),
            status,
            error,
        }
    }
}

/// Adds to `params` each parameter of `more` it does not have yet.
fn add_missing(params: &mut SearchParams, more: &SearchParams) {
    for (k, v) in more.pairs() {
        if !params.has(k) {
            *params = std::mem::take(params).param(k.clone(), v.clone());
        }
    }
}

/// Polls a FHIR endpoint for changed resources and submits them to a [`Pipeline`].
pub struct FhirPollSource {
    pipeline: Pipeline,
    client: FhirClient,
    endpoint: String,
    queries: Vec<Query>,
    watermarks: Arc<dyn WatermarkStore>,
    sort: bool,
    limits: PageLimits,
    /// Parameters on every request of this endpoint.
    extra: SearchParams,
}

impl std::fmt::Debug for FhirPollSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FhirPollSource")
            .field("endpoint", &self.endpoint)
            .field("client", &self.client)
            .field("queries", &self.queries.len())
            .finish_non_exhaustive()
    }
}

/// Whether a search's first page says it was sorted by `_lastUpdated` ascending: the `self`
/// link holds the parameters the server applied (FHIR R4 search, "the server SHALL return
/// the parameters it actually used"), so `_sort=_lastUpdated` must be in it.
fn sort_applied(b: &ehrkit_fhir_model::Bundle) -> bool {
    b.link.iter().any(|l| {
        l.relation.as_ref().and_then(|r| r.value.as_deref()) == Some("self")
            && l.url
                .as_ref()
                .and_then(|u| u.value.as_deref())
                .and_then(|u| url::Url::parse(u).ok())
                .is_some_and(|u| {
                    u.query_pairs()
                        .any(|(k, v)| k == "_sort" && v.split(',').next() == Some("_lastUpdated"))
                })
    })
}

fn parse_instant(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok()
}

impl FhirPollSource {
    /// A source submitting to `pipeline` what `client` finds, under the source name
    /// `endpoint` (route it in the pipeline's routing table), with watermarks in `watermarks`.
    pub fn new(
        pipeline: Pipeline,
        client: FhirClient,
        endpoint: impl Into<String>,
        watermarks: impl WatermarkStore,
    ) -> Self {
        Self {
            pipeline,
            client,
            endpoint: endpoint.into(),
            queries: Vec::new(),
            watermarks: Arc::new(watermarks),
            sort: true,
            limits: PageLimits::default(),
            extra: SearchParams::new(),
        }
    }

    /// Parameters this endpoint needs on every request (e.g. athenahealth's
    /// `ah-practice=Organization/a-1.Practice-<id>`): added to every query's first page, to
    /// every `next` page whose link lacks them and to the `_lastUpdated` polls. A query's own
    /// value of the same parameter wins. Part of the watermark key: two sources of one endpoint
    /// name with different extra parameters keep separate watermarks.
    pub fn extra_params(mut self, params: SearchParams) -> Self {
        self.extra = params;
        self
    }

    /// Polls every resource of `resource_type`.
    pub fn resource_type(self, resource_type: &str) -> Self {
        self.query(resource_type, SearchParams::new())
    }

    /// Polls `resource_type` with extra search parameters (e.g. a patient or a category, which
    /// some vendors require); each query has its own watermark.
    pub fn query(mut self, resource_type: &str, params: SearchParams) -> Self {
        self.queries.push(Query {
            resource_type: resource_type.to_owned(),
            params,
        });
        self
    }

    /// Whether to ask for `_sort=_lastUpdated` (default true) so the watermark can be saved
    /// after each page.
    pub fn sort(mut self, on: bool) -> Self {
        self.sort = on;
        self
    }

    /// Paging limits per search (pages, resources).
    pub fn limits(mut self, limits: PageLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The watermark key of a query: `endpoint|Type?params`, and `|extra` when the endpoint
    /// has [extra parameters](Self::extra_params) (two practices polled under one endpoint
    /// name keep a watermark each).
    fn key(&self, q: &Query) -> String {
        let mut key = format!(
            "{}|{}?{}",
            self.endpoint,
            q.resource_type,
            q.params.to_query()
        );
        if !self.extra.is_empty() {
            key.push('|');
            key.push_str(&self.extra.to_query());
        }
        key
    }

    /// The saved watermark of `resource_type` with `params` (as given to [`Self::query`]).
    pub fn watermark(
        &self,
        resource_type: &str,
        params: &SearchParams,
    ) -> std::io::Result<Option<String>> {
        self.watermarks.load(&self.key(&Query {
            resource_type: resource_type.to_owned(),
            params: params.clone(),
        }))
    }

    /// Polls every query once, to the end of its search (or its first failure).
    pub async fn poll_once(&self) -> Result<PollReport, PollError> {
        let mut report = PollReport::default();
        for q in &self.queries {
            self.poll_query(q, &mut report).await?;
        }
        Ok(report)
    }

    /// Polls every `interval` until `shutdown` completes (a poll in progress is abandoned at
    /// its next await: what was kept stays kept, and the watermark only ever names kept
    /// pages). Failures of a poll are logged and the next poll retries them.
    pub async fn run(
        &self,
        interval: Duration,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), PollError> {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                r = self.poll_once() => {
                    let report = r?;
                    for f in &report.failures {
                        tracing::warn!(source = %self.endpoint, resource_type = %f.resource_type, status = f.status, error = %f.error, "FHIR poll failed; retried at the next poll");
                    }
                    tracing::debug!(source = %self.endpoint, pages = report.pages, new = report.new, duplicates = report.duplicates, "FHIR poll done");
                }
            }
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }

    fn count(&self, outcome: &'static str) {
        metrics::counter!("ehrkit_pipeline_fhir_poll_resources_total", "source" => self.endpoint.clone(), "outcome" => outcome).increment(1);
    }

    async fn poll_query(&self, q: &Query, report: &mut PollReport) -> Result<(), PollError> {
        let key = self.key(q);
        let saved = self.watermarks.load(&key).map_err(PollError::Watermark)?;
        let mut params = q.params.clone();
        if let Some(w) = &saved {
            params = params.param("_lastUpdated", format!("ge{w}"));
        }
        if self.sort && !params.has("_sort") {
            params = params.sort(&["_lastUpdated"]);
        }
        let profile = self.client.profile();
        // On every page: the query's values of the parameters the vendor makes sticky (a
        // query's own value wins), then the vendor's per-request parameters and this
        // endpoint's, each only where no value came before it.
        let mut extras = SearchParams::new();
        for name in profile.sticky_params() {
            if let (Some(v), false) = (q.params.get(name), extras.has(name)) {
                extras = extras.param(name, v);
            }
        }
        add_missing(&mut extras, &profile.every_request());
        add_missing(&mut extras, &self.extra);
        add_missing(&mut params, &extras);
        let plan = match profile.plan(&q.resource_type, &params) {
            Ok(p) => p,
            Err(error) => {
                report.failures.push(q.failure(0, error));
                return Ok(());
            }
        };
        // The watermark as saved (string as the server wrote it) and parsed.
        let mut mark: Option<(DateTime<FixedOffset>, String)> = saved
            .as_deref()
            .and_then(|s| parse_instant(s).map(|t| (t, s.to_owned())));
        let start = mark.clone();
        // Newest instant of the search so far, and whether pages came in ascending order.
        let mut newest = mark.clone();
        let mut sorted = self.sort && plan.searches.len() == 1;
        let mut truncated = false;
        for search in &plan.searches {
            let first = request::search(self.client.base(), &q.resource_type, search);
            let mut req = match first {
                Ok(r) => r,
                Err(error) => {
                    report.failures.push(q.failure(0, error));
                    return Ok(());
                }
            };
            let mut pager = Pager::new(&req.http.uri().to_string(), self.limits);
            loop {
                let page = match self
                    .client
                    .send(req)
                    .await
                    .and_then(|r| response::bundle(&r))
                {
                    Ok(b) => {
                        if pager.pages() == 0 && !sort_applied(&b) {
                            // The server did not say it sorted (R4: the `self` link carries
                            // the parameters it used): save the watermark at the end only.
                            sorted = false;
                        }
                        pager.on_page(b)
                    }
                    Err(error) => {
                        let status = error.status().unwrap_or(0);
                        metrics::counter!("ehrkit_pipeline_fhir_poll_failures_total", "source" => self.endpoint.clone(), "status" => status.to_string()).increment(1);
                        report.failures.push(q.failure(status, error));
                        return Ok(());
                    }
                };
                report.pages += 1;
                metrics::counter!("ehrkit_pipeline_fhir_poll_pages_total", "source" => self.endpoint.clone()).increment(1);
                let floor = newest.as_ref().map(|n| n.0);
                let mut page_newest = newest.clone();
                for entry in page.entries {
                    if entry.mode == EntryMode::Outcome {
                        continue;
                    }
                    let bytes = ehrkit_fhir_model::to_vec(&entry.resource);
                    if entry.mode == EntryMode::Match {
                        let updated = serde_json::from_slice::<Value>(&bytes)
                            .ok()
                            .and_then(|v| {
                                v.pointer("/meta/lastUpdated")
                                    .and_then(Value::as_str)
                                    .map(str::to_owned)
                            })
                            .and_then(|s| parse_instant(&s).map(|t| (t, s)));
                        if let Some((t, s)) = updated {
                            // Older than what an earlier page already held: not sorted.
                            if floor.is_some_and(|f| t < f) && pager.pages() > 1 {
                                sorted = false;
                            }
                            if page_newest.as_ref().is_none_or(|n| t > n.0) {
                                page_newest = Some((t, s));
                            }
                        }
                    }
                    match self
                        .pipeline
                        .submit(PayloadKind::FhirJson, bytes, &self.endpoint, None)
                        .await
                    {
                        Ok(s) => match s.accepted {
                            Accepted::New(_) => {
                                report.new += 1;
                                self.count("new");
                            }
                            Accepted::Duplicate(_) => {
                                report.duplicates += 1;
                                self.count("duplicate");
                            }
                            _ => {
                                report.reused += 1;
                                self.count("reused");
                            }
                        },
                        Err(Refusal::Stage(e)) => {
                            tracing::warn!(source = %self.endpoint, stage = %e.stage, kind = %e.kind, reason = %e.reason, "FHIR resource refused");
                            report.refused += 1;
                            self.count("refused");
                        }
                        Err(Refusal::Store(e)) => return Err(PollError::Store(e)),
                        Err(Refusal::Closed) => return Err(PollError::Closed),
                    }
                }
                newest = page_newest;
                // Every resource of the page is kept: the watermark may move past it.
                if sorted {
                    if let Some((_, s)) = &newest {
                        if mark.as_ref().map(|m| &m.1) != Some(s) {
                            self.watermarks
                                .save(&key, s)
                                .map_err(PollError::Watermark)?;
                            mark = newest.clone();
                        }
                    }
                }
                match page.next {
                    Next::Fetch(link) => {
                        req = match request::page(
                            self.client.base(),
                            &link,
                            &q.resource_type,
                            &extras,
                        ) {
                            Ok(r) => r,
                            Err(error) => {
                                report.failures.push(q.failure(0, error));
                                return Ok(());
                            }
                        };
                    }
                    Next::Stop(reason) => {
                        if reason.truncated() {
                            // A capped search is not complete: only what was kept counts.
                            truncated = true;
                            tracing::warn!(source = %self.endpoint, resource_type = %q.resource_type, ?reason, "FHIR search truncated");
                        }
                        break;
                    }
                }
            }
        }
        // The whole search is kept: its newest instant is the watermark (unsorted servers too;
        // not after a capped search, whose unread pages may hold older resources).
        if let Some((_, s)) = newest.as_ref().filter(|_| !truncated || sorted) {
            if start.as_ref().map(|m| &m.1) != Some(s) && mark.as_ref().map(|m| &m.1) != Some(s) {
                self.watermarks
                    .save(&key, s)
                    .map_err(PollError::Watermark)?;
            }
            report.watermarks.insert(key, s.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_survive_a_reopen_and_a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("marks.json");
        let w = FileWatermarks::open(&path).unwrap();
        assert_eq!(w.load("a").unwrap(), None);
        w.save("a", "2024-01-01T00:00:00Z").unwrap();
        w.save("b", "x").unwrap();
        w.remove("b").unwrap();
        let again = FileWatermarks::open(&path).unwrap();
        assert_eq!(
            again.load("a").unwrap().as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
        assert_eq!(again.load("b").unwrap(), None);
        std::fs::write(&path, b"{\"a\": 1").unwrap();
        let e = FileWatermarks::open(&path).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn instants_compare_across_offsets() {
        let a = parse_instant("2024-03-01T10:00:00+01:00").unwrap();
        let b = parse_instant("2024-03-01T09:30:00Z").unwrap();
        assert!(a < b);
        assert!(parse_instant("2024-03-01").is_none());
    }
}
