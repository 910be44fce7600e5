//! Sans-IO `$export` state machine: builds kick-off, status, cancel and
//! download requests as plain values, and turns responses into the next step.
//! No sockets, no clocks: the caller passes `now` in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use url::Url;

use crate::error::{Error, NdjsonErrorKind, Result};
use crate::manifest::{Manifest, OutputFile};
use crate::ndjson::RawRecord;
use crate::outcome::OperationOutcome;

/// HTTP method of a request built by this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// DELETE.
    Delete,
}

/// An HTTP request to send, described as data.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: Url,
    /// Headers to set (the bearer token is the caller's business).
    pub headers: Vec<(&'static str, String)>,
    /// Body, for POST.
    pub body: Option<Vec<u8>>,
}

/// An HTTP response, described as data.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// Body bytes (status and kick-off bodies are small).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response from its parts.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        HttpResponse {
            status,
            headers,
            body,
        }
    }

    /// First value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Level of the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportLevel {
    /// `[base]/$export`: every resource on the server.
    System,
    /// `[base]/Patient/$export`: all patients' compartments.
    Patient,
    /// `[base]/Group/[id]/$export`: the members of a group.
    Group(String),
}

/// How to send the kick-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KickoffMethod {
    /// Parameters in the query string (no `patient`).
    Get,
    /// A FHIR `Parameters` resource in the body.
    Post,
}

/// A kick-off request, built with the methods below.
///
/// ```
/// use ehrkit_bulk_data::export::{ExportLevel, ExportRequest};
/// let req = ExportRequest::new(ExportLevel::Group("g1".into()))
///     .types(["Patient", "Observation"])
///     .type_filter("Observation?category=laboratory")
///     .since("2024-01-01T00:00:00Z");
/// let http = req.to_http(&"https://ehr.example/fhir/".parse().unwrap()).unwrap();
/// assert_eq!(http.url.path(), "/fhir/Group/g1/$export");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ExportRequest {
    /// Level.
    pub level: ExportLevel,
    /// GET or POST.
    pub method: KickoffMethod,
    /// `_type`.
    pub types: Vec<String>,
    /// `_since` (FHIR instant).
    pub since: Option<String>,
    /// `_until` (FHIR instant).
    pub until: Option<String>,
    /// `_typeFilter`, one entry per query (repeatable).
    pub type_filters: Vec<String>,
    /// `_outputFormat`.
    pub output_format: Option<String>,
    /// `_elements`.
    pub elements: Vec<String>,
    /// `patient` references (`Patient/123`), POST only.
    pub patients: Vec<String>,
    /// `includeAssociatedData` codes.
    pub include_associated_data: Vec<String>,
    /// `organizeOutputBy` (a resource type).
    pub organize_output_by: Option<String>,
    /// `allowPartialManifests`.
    pub allow_partial_manifests: Option<bool>,
}

impl ExportRequest {
    /// A request at `level`, sent with GET, with no parameters.
    pub fn new(level: ExportLevel) -> Self {
        ExportRequest {
            level,
            method: KickoffMethod::Get,
            types: Vec::new(),
            since: None,
            until: None,
            type_filters: Vec::new(),
            output_format: None,
            elements: Vec::new(),
            patients: Vec::new(),
            include_associated_data: Vec::new(),
            organize_output_by: None,
            allow_partial_manifests: None,
        }
    }
    /// Sends the kick-off with POST and a `Parameters` body.
    pub fn post(mut self) -> Self {
        self.method = KickoffMethod::Post;
        self
    }
    /// Sets the method.
    pub fn method(mut self, m: KickoffMethod) -> Self {
        self.method = m;
        self
    }
    /// Adds `_type` entries.
    pub fn types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, t: I) -> Self {
        self.types.extend(t.into_iter().map(Into::into));
        self
    }
    /// Sets `_since`; use [`Manifest::next_since`] of the previous export.
    pub fn since(mut self, t: impl Into<String>) -> Self {
        self.since = Some(t.into());
        self
    }
    /// Sets `_until`.
    pub fn until(mut self, t: impl Into<String>) -> Self {
        self.until = Some(t.into());
        self
    }
    /// Adds one `_typeFilter` query (repeatable).
    pub fn type_filter(mut self, f: impl Into<String>) -> Self {
        self.type_filters.push(f.into());
        self
    }
    /// Sets `_outputFormat`.
    pub fn output_format(mut self, f: impl Into<String>) -> Self {
        self.output_format = Some(f.into());
        self
    }
    /// Adds `_elements` entries.
    pub fn elements<I: IntoIterator<Item = S>, S: Into<String>>(mut self, e: I) -> Self {
        self.elements.extend(e.into_iter().map(Into::into));
        self
    }
    /// Adds a `patient` reference (POST only).
    pub fn patient(mut self, reference: impl Into<String>) -> Self {
        self.patients.push(reference.into());
        self
    }
    /// Adds `includeAssociatedData` codes.
    pub fn include_associated_data<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        c: I,
    ) -> Self {
        self.include_associated_data
            .extend(c.into_iter().map(Into::into));
        self
    }
    /// Sets `organizeOutputBy`.
    pub fn organize_output_by(mut self, t: impl Into<String>) -> Self {
        self.organize_output_by = Some(t.into());
        self
    }
    /// Sets `allowPartialManifests`.
    pub fn allow_partial_manifests(mut self, on: bool) -> Self {
        self.allow_partial_manifests = Some(on);
        self
    }

    fn endpoint(&self, base: &Url) -> Result<Url> {
        let mut url = base.clone();
        url.set_query(None);
        url.set_fragment(None);
        {
            let mut segs = url
                .path_segments_mut()
                .map_err(|_| Error::InvalidRequest("FHIR base URL cannot be a base".into()))?;
            segs.pop_if_empty();
            match &self.level {
                ExportLevel::System => {}
                ExportLevel::Patient => {
                    segs.push("Patient");
                }
                ExportLevel::Group(id) => {
                    let ok = !id.is_empty()
                        && id.len() <= 64
                        && id
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.');
                    if !ok {
                        return Err(Error::InvalidRequest(
                            "group id must match [A-Za-z0-9\\-\\.]{1,64}".into(),
                        ));
                    }
                    segs.push("Group");
                    segs.push(id);
                }
            }
            segs.push("$export");
        }
        Ok(url)
    }

    /// Builds the kick-off request against a FHIR base URL.
    pub fn to_http(&self, fhir_base: &Url) -> Result<HttpRequest> {
        if !self.patients.is_empty() && self.level == ExportLevel::System {
            return Err(Error::InvalidRequest(
                "patient applies to Patient and Group level exports only".into(),
            ));
        }
        let mut url = self.endpoint(fhir_base)?;
        let mut headers = vec![
            ("Accept", "application/fhir+json".to_owned()),
            ("Prefer", "respond-async".to_owned()),
        ];
        let bool_str = |b: bool| if b { "true" } else { "false" };
        match self.method {
            KickoffMethod::Get => {
                if !self.patients.is_empty() {
                    return Err(Error::InvalidRequest(
                        "the patient parameter needs a POST kick-off".into(),
                    ));
                }
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(f) = &self.output_format {
                        q.append_pair("_outputFormat", f);
                    }
                    if let Some(s) = &self.since {
                        q.append_pair("_since", s);
                    }
                    if let Some(u) = &self.until {
                        q.append_pair("_until", u);
                    }
                    if !self.types.is_empty() {
                        q.append_pair("_type", &self.types.join(","));
                    }
                    if !self.elements.is_empty() {
                        q.append_pair("_elements", &self.elements.join(","));
                    }
                    for f in &self.type_filters {
                        q.append_pair("_typeFilter", f);
                    }
                    if !self.include_associated_data.is_empty() {
                        q.append_pair(
                            "includeAssociatedData",
                            &self.include_associated_data.join(","),
                        );
                    }
                    if let Some(o) = &self.organize_output_by {
                        q.append_pair("organizeOutputBy", o);
                    }
                    if let Some(a) = self.allow_partial_manifests {
                        q.append_pair("allowPartialManifests", bool_str(a));
                    }
                }
                if url.query() == Some("") {
                    url.set_query(None);
                }
                Ok(HttpRequest {
                    method: Method::Get,
                    url,
                    headers,
                    body: None,
                })
            }
            KickoffMethod::Post => {
                let mut p = Vec::new();
                if let Some(f) = &self.output_format {
                    p.push(json!({"name": "_outputFormat", "valueString": f}));
                }
                if let Some(s) = &self.since {
                    p.push(json!({"name": "_since", "valueInstant": s}));
                }
                if let Some(u) = &self.until {
                    p.push(json!({"name": "_until", "valueInstant": u}));
                }
                if !self.types.is_empty() {
                    p.push(json!({"name": "_type", "valueString": self.types.join(",")}));
                }
                if !self.elements.is_empty() {
                    p.push(json!({"name": "_elements", "valueString": self.elements.join(",")}));
                }
                for r in &self.patients {
                    p.push(json!({"name": "patient", "valueReference": {"reference": r}}));
                }
                for f in &self.type_filters {
                    p.push(json!({"name": "_typeFilter", "valueString": f}));
                }
                for c in &self.include_associated_data {
                    p.push(json!({"name": "includeAssociatedData", "valueCode": c}));
                }
                if let Some(o) = &self.organize_output_by {
                    p.push(json!({"name": "organizeOutputBy", "valueString": o}));
                }
                if let Some(a) = self.allow_partial_manifests {
                    p.push(json!({"name": "allowPartialManifests", "valueBoolean": a}));
                }
                let body = json!({"resourceType": "Parameters", "parameter": p});
                headers.push(("Content-Type", "application/fhir+json".to_owned()));
                Ok(HttpRequest {
                    method: Method::Post,
                    url,
                    headers,
                    body: Some(serde_json::to_vec(&body).expect("json value serialises")),
                })
            }
        }
    }
}

/// Polling policy.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PollConfig {
    /// Shortest wait between polls (default 1 s). `Retry-After` values below
    /// it (including HTTP-dates in the past) are raised to it.
    pub min_wait: Duration,
    /// Longest wait between polls (default 5 min). Absurd `Retry-After`
    /// values (hours, epoch milliseconds) are lowered to it.
    pub max_wait: Duration,
    /// First wait of the exponential backoff used when the server sends no
    /// usable `Retry-After` (default 2 s); doubled after each such poll.
    pub initial_backoff: Duration,
    /// Overall deadline from kick-off (or resume) to completion (default 72 h).
    pub deadline: Option<Duration>,
    /// Transient errors (5xx, network) in a row before giving up (default 5).
    pub max_transient_errors: u32,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            min_wait: Duration::from_secs(1),
            max_wait: Duration::from_secs(300),
            initial_backoff: Duration::from_secs(2),
            deadline: Some(Duration::from_secs(72 * 3600)),
            max_transient_errors: 5,
        }
    }
}

impl PollConfig {
    /// Sets the clamp range for waits.
    pub fn wait_range(mut self, min: Duration, max: Duration) -> Self {
        self.min_wait = min;
        self.max_wait = max.max(min);
        self
    }
    /// Sets the first backoff wait.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }
    /// Sets (or removes) the overall deadline.
    pub fn deadline(mut self, d: Option<Duration>) -> Self {
        self.deadline = d;
        self
    }
    /// Sets how many transient errors in a row are tolerated.
    pub fn max_transient_errors(mut self, n: u32) -> Self {
        self.max_transient_errors = n;
        self
    }
    fn clamp(&self, d: Duration) -> Duration {
        // Not `Duration::clamp`: the fields are public and an inverted range (min > max)
        // must not panic; the minimum wins then, as with `wait_range`.
        d.min(self.max_wait).max(self.min_wait)
    }
}

/// What a `Retry-After` header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// A delay (from delta-seconds, an HTTP-date, or an epoch-milliseconds
    /// timestamp some servers send), before clamping.
    Delay(Duration),
    /// Unparseable: the caller falls back to its backoff.
    Garbage,
}

/// Values at or above this are taken as epoch milliseconds (year 2001+), not
/// as delta-seconds.
const EPOCH_MS_THRESHOLD: u64 = 1_000_000_000_000;

/// Parses a `Retry-After` value relative to `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> RetryAfter {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) {
        return match v.parse::<u64>() {
            Ok(n) if n >= EPOCH_MS_THRESHOLD => {
                let at = UNIX_EPOCH + Duration::from_millis(n);
                RetryAfter::Delay(at.duration_since(now).unwrap_or(Duration::ZERO))
            }
            Ok(n) => RetryAfter::Delay(Duration::from_secs(n)),
            // More digits than u64 holds: absurdly long.
            Err(_) => RetryAfter::Delay(Duration::MAX),
        };
    }
    if let Ok(at) = httpdate::parse_http_date(v) {
        return RetryAfter::Delay(at.duration_since(now).unwrap_or(Duration::ZERO));
    }
    match v.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 => {
            RetryAfter::Delay(Duration::try_from_secs_f64(f).unwrap_or(Duration::MAX))
        }
        _ => RetryAfter::Garbage,
    }
}

/// Why the client is waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitReason {
    /// 202: the export is still running.
    InProgress,
    /// 429: the server asked to slow down.
    RateLimited,
    /// A transient server error (5xx) or network error; `None` for network.
    Transient(Option<u16>),
}

/// Progress of a running export, for display.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// The server's `X-Progress` text, if it sent one.
    pub x_progress: Option<String>,
    /// Why we wait.
    pub reason: WaitReason,
    /// How long until the next poll.
    pub next_poll_in: Duration,
    /// Polls so far.
    pub polls: u32,
    /// Time since the job started (per the caller's clock).
    pub elapsed: Duration,
    /// With `allowPartialManifests`, a `202` may carry a manifest of the
    /// files ready so far; it is surfaced here.
    pub partial_manifest: Option<Box<Manifest>>,
}

/// Result of feeding a status response to [`ExportJob::on_status_response`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PollStep {
    /// Wait, then poll again.
    Wait(Progress),
    /// The export is complete.
    Complete(Box<Manifest>),
}

/// The state of one running export: its status URL and the polling clock.
/// Serialise [`ExportJob::status_url`] to resume later with
/// [`ExportJob::resume`].
#[derive(Debug, Clone)]
pub struct ExportJob {
    status_url: Url,
    config: PollConfig,
    started: SystemTime,
    backoff: Duration,
    transient_errors: u32,
    polls: u32,
}

/// Outcome of a kick-off response.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Kickoff {
    /// 202 Accepted with the status URL.
    Accepted(Url),
    /// 429 or 503 with a wait: send the kick-off again after it.
    RetryAfter(Duration),
}

/// Interprets a kick-off response. `config` clamps a `Retry-After`.
pub fn on_kickoff_response(
    resp: &HttpResponse,
    request_url: &Url,
    config: &PollConfig,
    now: SystemTime,
) -> Result<Kickoff> {
    match resp.status {
        202 => {
            let loc = resp.header("Content-Location").ok_or_else(|| {
                Error::Protocol("kick-off answered 202 without Content-Location".into())
            })?;
            Ok(Kickoff::Accepted(request_url.join(loc.trim())?))
        }
        429 | 503 => {
            let wait = match resp
                .header("Retry-After")
                .map(|v| parse_retry_after(v, now))
            {
                Some(RetryAfter::Delay(d)) => d,
                _ => config.initial_backoff,
            };
            Ok(Kickoff::RetryAfter(config.clamp(wait)))
        }
        s => Err(server_error(s, "kick-off", &resp.body)),
    }
}

pub(crate) fn server_error(status: u16, stage: &'static str, body: &[u8]) -> Error {
    Error::Server {
        status,
        stage,
        outcome: OperationOutcome::from_body(body).map(Box::new),
    }
}

fn is_transient(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

impl ExportJob {
    /// A job for a status URL just returned by a kick-off.
    pub fn new(status_url: Url, config: PollConfig, now: SystemTime) -> Self {
        let backoff = config.clamp(config.initial_backoff);
        ExportJob {
            status_url,
            config,
            started: now,
            backoff,
            transient_errors: 0,
            polls: 0,
        }
    }

    /// Resumes a job from a saved status URL (the deadline restarts at `now`).
    pub fn resume(status_url: Url, config: PollConfig, now: SystemTime) -> Self {
        Self::new(status_url, config, now)
    }

    /// The status URL (save it to resume after a restart).
    pub fn status_url(&self) -> &Url {
        &self.status_url
    }

    /// The polling policy.
    pub fn config(&self) -> &PollConfig {
        &self.config
    }

    /// The status poll request.
    pub fn poll_request(&self) -> HttpRequest {
        HttpRequest {
            method: Method::Get,
            url: self.status_url.clone(),
            headers: vec![("Accept", "application/json".to_owned())],
            body: None,
        }
    }

    /// The cancel request (`DELETE` on the status URL).
    pub fn cancel_request(&self) -> HttpRequest {
        HttpRequest {
            method: Method::Delete,
            url: self.status_url.clone(),
            headers: vec![("Accept", "application/fhir+json".to_owned())],
            body: None,
        }
    }

    fn elapsed(&self, now: SystemTime) -> Duration {
        now.duration_since(self.started).unwrap_or(Duration::ZERO)
    }

    /// Applies the deadline to a wait; errors if the deadline has passed.
    fn bounded(&self, wait: Duration, now: SystemTime) -> Result<Duration> {
        match self.config.deadline {
            Some(dl) => {
                let el = self.elapsed(now);
                if el >= dl {
                    Err(Error::DeadlineExceeded(dl))
                } else {
                    Ok(wait.min(dl - el))
                }
            }
            None => Ok(wait),
        }
    }

    fn next_backoff(&mut self) -> Duration {
        let w = self.backoff;
        self.backoff = self.config.clamp(self.backoff.saturating_mul(2));
        w
    }

    fn wait_for(&mut self, resp: Option<&HttpResponse>, now: SystemTime) -> Duration {
        match resp
            .and_then(|r| r.header("Retry-After"))
            .map(|v| parse_retry_after(v, now))
        {
            Some(RetryAfter::Delay(d)) => self.config.clamp(d),
            Some(RetryAfter::Garbage) | None => self.next_backoff(),
        }
    }

    fn progress(
        &self,
        x_progress: Option<String>,
        reason: WaitReason,
        wait: Duration,
        now: SystemTime,
    ) -> Progress {
        Progress {
            x_progress,
            reason,
            next_poll_in: wait,
            polls: self.polls,
            elapsed: self.elapsed(now),
            partial_manifest: None,
        }
    }

    /// Feeds a status response; returns the wait before the next poll or
    /// the manifest.
    pub fn on_status_response(&mut self, resp: &HttpResponse, now: SystemTime) -> Result<PollStep> {
        self.polls += 1;
        match resp.status {
            200 => {
                self.transient_errors = 0;
                let mut m = Manifest::from_json(&resp.body)?;
                m.resolve_urls(&self.status_url);
                Ok(PollStep::Complete(Box::new(m)))
            }
            202 => {
                self.transient_errors = 0;
                let wait = self.wait_for(Some(resp), now);
                let wait = self.bounded(wait, now)?;
                let xp = resp
                    .header("X-Progress")
                    .map(|s| s.chars().take(200).collect());
                tracing::debug!(
                    polls = self.polls,
                    wait_ms = wait.as_millis() as u64,
                    "export in progress"
                );
                let mut p = self.progress(xp, WaitReason::InProgress, wait, now);
                if resp.body.iter().any(|b| !b.is_ascii_whitespace()) {
                    p.partial_manifest = Manifest::from_json(&resp.body).ok().map(|mut m| {
                        m.resolve_urls(&self.status_url);
                        Box::new(m)
                    });
                }
                Ok(PollStep::Wait(p))
            }
            429 => {
                let wait = self.wait_for(Some(resp), now);
                let wait = self.bounded(wait, now)?;
                tracing::info!(
                    wait_ms = wait.as_millis() as u64,
                    "status endpoint rate-limited (429)"
                );
                Ok(PollStep::Wait(self.progress(
                    None,
                    WaitReason::RateLimited,
                    wait,
                    now,
                )))
            }
            s if is_transient(s) => {
                self.transient_errors += 1;
                if self.transient_errors > self.config.max_transient_errors {
                    return Err(Error::TooManyRetries {
                        attempts: self.transient_errors,
                        last_status: Some(s),
                    });
                }
                // Per the spec a polling failure that does not end the job
                // carries an OperationOutcome with a `transient` issue code; a
                // 5xx with an OperationOutcome without one means the job failed.
                // A bare 5xx (proxy, load balancer) is treated as transient.
                if let Some(oo) = OperationOutcome::from_body(&resp.body) {
                    if !oo.issue.iter().any(|i| i.code == "transient") {
                        return Err(server_error(s, "status", &resp.body));
                    }
                }
                let wait = self.wait_for(Some(resp), now);
                let wait = self.bounded(wait, now)?;
                tracing::warn!(
                    status = s,
                    attempt = self.transient_errors,
                    "transient error while polling"
                );
                Ok(PollStep::Wait(self.progress(
                    None,
                    WaitReason::Transient(Some(s)),
                    wait,
                    now,
                )))
            }
            s => Err(server_error(s, "status", &resp.body)),
        }
    }

    /// Records a network error while polling; returns the wait before the
    /// next try, or an error after too many in a row.
    pub fn on_transport_error(&mut self, now: SystemTime) -> Result<Progress> {
        self.polls += 1;
        self.transient_errors += 1;
        if self.transient_errors > self.config.max_transient_errors {
            return Err(Error::TooManyRetries {
                attempts: self.transient_errors,
                last_status: None,
            });
        }
        let wait = self.next_backoff();
        let wait = self.bounded(wait, now)?;
        Ok(self.progress(None, WaitReason::Transient(None), wait, now))
    }
}

/// Interprets the answer to a cancel (`DELETE`) request.
pub fn on_cancel_response(resp: &HttpResponse) -> Result<()> {
    match resp.status {
        200..=299 => Ok(()),
        s => Err(server_error(s, "cancel", &resp.body)),
    }
}

/// True when `a` and `b` share scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

/// The target of a redirect response, or `None` when `status` is not a
/// redirect. User credentials in the `Location` URL are removed.
pub fn redirect_target(current: &Url, status: u16, location: Option<&str>) -> Result<Option<Url>> {
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    let loc =
        location.ok_or_else(|| Error::Protocol(format!("{status} redirect without Location")))?;
    let mut next = current.join(loc.trim())?;
    // Credentials in a Location URL would become an Authorization header.
    let _ = next.set_username("");
    let _ = next.set_password(None);
    Ok(Some(next))
}

/// Whether a download request to `current` may carry the bearer token:
/// only when the manifest requires it and `current` has the origin of the
/// file URL from the manifest (never across a redirect to another origin).
pub fn may_send_token(requires_access_token: bool, file_url: &Url, current: &Url) -> bool {
    requires_access_token && same_origin(file_url, current)
}

/// Which manifest array a file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// `output`: resources of the entry's type.
    Output,
    /// `error`: OperationOutcome resources.
    Error,
    /// `deleted`: Bundle resources listing deletions.
    Deleted,
}

impl FileKind {
    /// Type every record of such a file must have, given the entry's `type`.
    pub fn expected_type<'a>(&self, entry: &'a OutputFile) -> &'a str {
        match self {
            FileKind::Output => &entry.resource_type,
            FileKind::Error => "OperationOutcome",
            FileKind::Deleted => "Bundle",
        }
    }
}

/// Per-file checks while records stream in: every record has the announced
/// type, and at the end the count matches the manifest's `count`.
#[derive(Debug, Clone)]
pub struct FileCheck {
    expected: String,
    count: Option<u64>,
    seen: u64,
    url_path: String,
}

impl FileCheck {
    /// Checks for one manifest entry.
    pub fn new(entry: &OutputFile, kind: FileKind) -> Self {
        let url_path = Url::parse(&entry.url)
            .map(|u| u.path().to_owned())
            .unwrap_or_default();
        FileCheck {
            expected: kind.expected_type(entry).to_owned(),
            count: entry.count,
            seen: 0,
            url_path,
        }
    }

    /// Checks one record.
    pub fn record(&mut self, rec: &RawRecord<'_>) -> Result<()> {
        self.seen += 1;
        if rec.resource_type() != self.expected {
            return Err(Error::Ndjson {
                location: crate::error::Location {
                    name: Some(self.url_path.clone()),
                    line: rec.line(),
                    offset: rec.offset(),
                },
                kind: NdjsonErrorKind::UnexpectedType {
                    expected: self.expected.clone(),
                    found: rec.resource_type().to_owned(),
                },
            });
        }
        Ok(())
    }

    /// Ends the file: checks the count; returns the number of records.
    pub fn finish(&self) -> Result<u64> {
        match self.count {
            Some(c) if c != self.seen => Err(Error::CountMismatch {
                url_path: self.url_path.clone(),
                expected: c,
                found: self.seen,
            }),
            _ => Ok(self.seen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_763_770_000)
    }

    fn resp(status: u16, headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse::new(
            status,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            Vec::new(),
        )
    }

    #[test]
    fn retry_after_forms() {
        let now = t0();
        assert_eq!(
            parse_retry_after(" 120 ", now),
            RetryAfter::Delay(Duration::from_secs(120))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&date, now),
            RetryAfter::Delay(Duration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&past, now),
            RetryAfter::Delay(Duration::ZERO)
        );
        let ms = (now + Duration::from_secs(7))
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis()
            .to_string();
        assert_eq!(
            parse_retry_after(&ms, now),
            RetryAfter::Delay(Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after("soon", now), RetryAfter::Garbage);
        assert_eq!(parse_retry_after("", now), RetryAfter::Garbage);
        assert_eq!(parse_retry_after("-5", now), RetryAfter::Garbage);
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            RetryAfter::Delay(Duration::MAX)
        );
    }

    #[test]
    fn polling_clamps_and_backs_off() {
        let url: Url = "https://x.example/status/1".parse().unwrap();
        let mut job = ExportJob::new(url, PollConfig::default(), t0());
        let wait = |s: PollStep| match s {
            PollStep::Wait(p) => p.next_poll_in,
            other => panic!("{other:?}"),
        };
        // Hours (Cerner style) → clamped to 5 min.
        let s = job
            .on_status_response(&resp(202, &[("Retry-After", "36000")]), t0())
            .unwrap();
        assert_eq!(wait(s), Duration::from_secs(300));
        // HTTP-date in the past → min 1 s, never an immediate re-poll.
        let past = httpdate::fmt_http_date(t0() - Duration::from_secs(100));
        let s = job
            .on_status_response(&resp(202, &[("Retry-After", &past)]), t0())
            .unwrap();
        assert_eq!(wait(s), Duration::from_secs(1));
        // No header: 2, 4, 8 s ...
        let s = job
            .on_status_response(&resp(202, &[("X-Progress", "50%")]), t0())
            .unwrap();
        match s {
            PollStep::Wait(p) => {
                assert_eq!(p.next_poll_in, Duration::from_secs(2));
                assert_eq!(p.x_progress.as_deref(), Some("50%"));
            }
            other => panic!("{other:?}"),
        }
        let s = job
            .on_status_response(&resp(202, &[("Retry-After", "garbage")]), t0())
            .unwrap();
        assert_eq!(wait(s), Duration::from_secs(4));
        // 429 waits.
        let s = job
            .on_status_response(&resp(429, &[("Retry-After", "3")]), t0())
            .unwrap();
        assert_eq!(wait(s), Duration::from_secs(3));
        // Transient 500s: tolerated up to the limit.
        for _ in 0..5 {
            job.on_status_response(&resp(500, &[]), t0()).unwrap();
        }
        assert!(matches!(
            job.on_status_response(&resp(500, &[]), t0()),
            Err(Error::TooManyRetries { attempts: 6, .. })
        ));
    }

    #[test]
    fn partial_manifest_in_202() {
        let url: Url = "https://x.example/status/1".parse().unwrap();
        let mut job = ExportJob::new(url, PollConfig::default(), t0());
        let mut r = resp(202, &[]);
        r.body = br#"{"transactionTime":"t","request":"r","requiresAccessToken":true,
            "output":[{"type":"Patient","url":"https://x.example/f/1"}],"error":[]}"#
            .to_vec();
        match job.on_status_response(&r, t0()).unwrap() {
            PollStep::Wait(p) => assert_eq!(p.partial_manifest.unwrap().output.len(), 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deadline() {
        let url: Url = "https://x.example/status/1".parse().unwrap();
        let cfg = PollConfig::default().deadline(Some(Duration::from_secs(10)));
        let mut job = ExportJob::new(url, cfg, t0());
        let s = job
            .on_status_response(
                &resp(202, &[("Retry-After", "60")]),
                t0() + Duration::from_secs(4),
            )
            .unwrap();
        assert!(matches!(s, PollStep::Wait(p) if p.next_poll_in == Duration::from_secs(6)));
        assert!(matches!(
            job.on_status_response(&resp(202, &[]), t0() + Duration::from_secs(10)),
            Err(Error::DeadlineExceeded(_))
        ));
    }

    #[test]
    fn kickoff_get_and_post() {
        let base: Url = "https://ehr.example/fhir".parse().unwrap();
        let r = ExportRequest::new(ExportLevel::System)
            .types(["Patient", "Observation"])
            .type_filter("Observation?code=1234")
            .type_filter("Patient?active=true")
            .since("2024-01-01T00:00:00Z")
            .until("2024-02-01T00:00:00Z")
            .output_format("application/fhir+ndjson")
            .elements(["id", "meta"])
            .include_associated_data(["LatestProvenanceResources"])
            .organize_output_by("Patient")
            .allow_partial_manifests(true);
        let h = r.to_http(&base).unwrap();
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.url.path(), "/fhir/$export");
        let q: Vec<(String, String)> = h.url.query_pairs().into_owned().collect();
        let tf: Vec<_> = q
            .iter()
            .filter(|(k, _)| k == "_typeFilter")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(tf, ["Observation?code=1234", "Patient?active=true"]);
        assert!(q.contains(&("_type".into(), "Patient,Observation".into())));
        assert!(q.contains(&("allowPartialManifests".into(), "true".into())));
        assert!(h.headers.contains(&("Prefer", "respond-async".into())));
        assert!(h
            .headers
            .contains(&("Accept", "application/fhir+json".into())));
        // patient needs POST
        let r2 = ExportRequest::new(ExportLevel::Patient).patient("Patient/1");
        assert!(matches!(r2.to_http(&base), Err(Error::InvalidRequest(_))));
        let h = r2
            .clone()
            .post()
            .type_filter("A?b=c")
            .to_http(&base)
            .unwrap();
        assert_eq!(h.url.path(), "/fhir/Patient/$export");
        let body: serde_json::Value = serde_json::from_slice(h.body.as_ref().unwrap()).unwrap();
        assert_eq!(body["resourceType"], "Parameters");
        assert_eq!(
            body["parameter"][0]["valueReference"]["reference"],
            "Patient/1"
        );
        assert!(ExportRequest::new(ExportLevel::Group("a/b".into()))
            .to_http(&base)
            .is_err());
    }

    #[test]
    fn redirect_and_token_rules() {
        let file: Url = "https://ehr.example/files/1.ndjson".parse().unwrap();
        let other = redirect_target(&file, 307, Some("https://cdn.example/1.ndjson?sig=x"))
            .unwrap()
            .unwrap();
        assert!(may_send_token(true, &file, &file));
        assert!(!may_send_token(true, &file, &other));
        assert!(!may_send_token(false, &file, &file));
        let same = redirect_target(&file, 302, Some("/files/2.ndjson"))
            .unwrap()
            .unwrap();
        assert!(may_send_token(true, &file, &same));
        assert!(redirect_target(&file, 200, None).unwrap().is_none());
        let cred = redirect_target(&file, 307, Some("https://u:p@cdn.example/x"))
            .unwrap()
            .unwrap();
        assert_eq!(cred.as_str(), "https://cdn.example/x");
        assert!(redirect_target(&file, 307, None).is_err());
    }
}
