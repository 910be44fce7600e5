//! Bulk Data Status Request (FHIR Bulk Data Access 2.0.0, STU2):
//! <https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-status-request>
//! and the kick-off response and delete request that frame it.
//!
//! Sans-IO: [`ExportJob`] turns status responses into the next step (a
//! clamped wait, or the manifest); no sockets, no clocks (the caller passes
//! `now`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{ACCEPT, CONTENT_LOCATION, RETRY_AFTER};
use url::Url;

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::outcome::{is_transient_outcome, server_error};

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
    /// The wait before asking again after a busy answer (a file download's 429 or 5xx):
    /// its `Retry-After`, clamped like a poll's, or else `backoff`, which is then doubled.
    pub(crate) fn busy_wait(
        &self,
        headers: &http::HeaderMap,
        backoff: &mut Duration,
        now: SystemTime,
    ) -> Duration {
        match response_retry_after(headers, now) {
            Some(RetryAfter::Delay(d)) => self.clamp(d),
            Some(RetryAfter::Garbage) | None => {
                let w = self.clamp(*backoff);
                *backoff = self.clamp(w.saturating_mul(2));
                w
            }
        }
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

/// The `Retry-After` of a response, if it has one. An HTTP-date is a time on the server's
/// clock (RFC 9110 §10.2.3): it is read against the response's `Date` header when that is
/// valid, so clock skew does not change the wait; other values are read against `now`.
pub(crate) fn response_retry_after(
    headers: &http::HeaderMap,
    now: SystemTime,
) -> Option<RetryAfter> {
    let text = |name: http::header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let v = text(RETRY_AFTER)?;
    let server_now = httpdate::parse_http_date(v.trim())
        .ok()
        .and(text(http::header::DATE))
        .and_then(|d| httpdate::parse_http_date(d.trim()).ok());
    Some(parse_retry_after(v, server_now.unwrap_or(now)))
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
    resp: &http::Response<Vec<u8>>,
    request_url: &Url,
    config: &PollConfig,
    now: SystemTime,
) -> Result<Kickoff> {
    match resp.status().as_u16() {
        202 => {
            let loc = header(resp, CONTENT_LOCATION).ok_or_else(|| {
                Error::Protocol("kick-off answered 202 without Content-Location".into())
            })?;
            Ok(Kickoff::Accepted(request_url.join(loc.trim())?))
        }
        429 | 503 => {
            let wait = match response_retry_after(resp.headers(), now) {
                Some(RetryAfter::Delay(d)) => d,
                _ => config.initial_backoff,
            };
            Ok(Kickoff::RetryAfter(config.clamp(wait)))
        }
        s => Err(server_error(s, "kick-off", resp.body())),
    }
}

/// A header's value as text (`None` when absent or not visible ASCII).
fn header<K: http::header::AsHeaderName>(resp: &http::Response<Vec<u8>>, name: K) -> Option<&str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
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
    pub fn poll_request(&self) -> http::Request<Vec<u8>> {
        let b = http::Request::get(self.status_url.as_str()).header(ACCEPT, "application/json");
        b.body(Vec::new())
            .expect("a parsed URL with a static header is a valid request")
    }

    /// The cancel request (`DELETE` on the status URL).
    pub fn cancel_request(&self) -> http::Request<Vec<u8>> {
        let b =
            http::Request::delete(self.status_url.as_str()).header(ACCEPT, "application/fhir+json");
        b.body(Vec::new())
            .expect("a parsed URL with a static header is a valid request")
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

    fn wait_for(&mut self, resp: Option<&http::Response<Vec<u8>>>, now: SystemTime) -> Duration {
        match resp.and_then(|r| response_retry_after(r.headers(), now)) {
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
    pub fn on_status_response(
        &mut self,
        resp: &http::Response<Vec<u8>>,
        now: SystemTime,
    ) -> Result<PollStep> {
        self.polls += 1;
        match resp.status().as_u16() {
            200 => {
                self.transient_errors = 0;
                let mut m = Manifest::from_json(resp.body())?;
                m.resolve_urls(&self.status_url);
                Ok(PollStep::Complete(Box::new(m)))
            }
            202 => {
                self.transient_errors = 0;
                let wait = self.wait_for(Some(resp), now);
                let wait = self.bounded(wait, now)?;
                let xp = header(resp, "x-progress").map(|s| s.chars().take(200).collect());
                tracing::debug!(
                    polls = self.polls,
                    wait_ms = wait.as_millis() as u64,
                    "export in progress"
                );
                let mut p = self.progress(xp, WaitReason::InProgress, wait, now);
                if resp.body().iter().any(|b| !b.is_ascii_whitespace()) {
                    p.partial_manifest = Manifest::from_json(resp.body()).ok().map(|mut m| {
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
                if is_transient_outcome(resp.body()) == Some(false) {
                    return Err(server_error(s, "status", resp.body()));
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
            s => Err(server_error(s, "status", resp.body())),
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
pub fn on_cancel_response(resp: &http::Response<Vec<u8>>) -> Result<()> {
    match resp.status().as_u16() {
        200..=299 => Ok(()),
        s => Err(server_error(s, "cancel", resp.body())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_763_770_000)
    }

    fn resp(status: u16, headers: &[(&str, &str)]) -> http::Response<Vec<u8>> {
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Vec::new()).unwrap()
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
        *r.body_mut() = br#"{"transactionTime":"t","request":"r","requiresAccessToken":true,
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
}
