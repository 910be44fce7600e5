//! Throttling and retries: which responses are worth retrying, how long to wait, and when to
//! give up. Plain values, no clock or sockets: callers pass `now` and a random number.
//!
//! The [`ThrottleClassifier`] reads every wait signal vendors send (`Retry-After` in seconds
//! or as an HTTP-date, `x-ms-retry-after-ms`, epoch milliseconds, free text such as
//! athenahealth's "Try in another N seconds" in `OperationOutcome.diagnostics`); the
//! [`RetryPolicy`] turns its verdict into [`Decision::Retry`] after a jittered backoff or
//! [`Decision::GiveUp`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

/// One way a server says how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitSignal {
    /// `Retry-After`: delay seconds, an HTTP-date, or (seen in the wild) epoch seconds or
    /// milliseconds.
    RetryAfter,
    /// A header carrying milliseconds (`x-ms-retry-after-ms`, Azure API for FHIR).
    MillisHeader(String),
    /// A header carrying an epoch time in milliseconds (or seconds) at which to retry.
    EpochMillisHeader(String),
    /// "Try in another N seconds" (also "retry after N seconds", minutes) in the body
    /// (athenahealth puts it only in `OperationOutcome.diagnostics`).
    FreeText,
}

/// The verdict on one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Success or a final error: nothing to retry.
    Final,
    /// The server throttles (429, or a vendor's other signal); wait if known.
    Throttled(Option<Duration>),
    /// A transient failure (502, 503, 504, transport); wait if known.
    Transient(Option<Duration>),
    /// 401: the token may need a refresh.
    Unauthorized,
}

/// Classifies responses as throttling, transient or final, per vendor (data, not code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleClassifier {
    /// Signals read, in order; the first that gives a wait wins.
    pub signals: Vec<WaitSignal>,
    /// Statuses that mean "throttled" (429 by default).
    pub throttle_statuses: Vec<u16>,
    /// Statuses that mean "transient" (502, 503, 504 by default).
    pub transient_statuses: Vec<u16>,
    /// Some gateways answer 401 when throttling: with this set, a 401 that carries a wait
    /// signal is throttling, not an expired token. A 401 whose `WWW-Authenticate` says
    /// `error="invalid_token"` is always a token problem ([`bearer_invalid_token`]).
    pub unauthorized_with_wait_is_throttle: bool,
}

impl Default for ThrottleClassifier {
    fn default() -> Self {
        ThrottleClassifier {
            signals: vec![
                WaitSignal::RetryAfter,
                WaitSignal::MillisHeader("x-ms-retry-after-ms".into()),
                WaitSignal::EpochMillisHeader("x-rate-limit-reset".into()),
                WaitSignal::EpochMillisHeader("x-ratelimit-reset".into()),
                WaitSignal::FreeText,
            ],
            throttle_statuses: vec![429],
            transient_statuses: vec![502, 503, 504],
            unauthorized_with_wait_is_throttle: true,
        }
    }
}

impl ThrottleClassifier {
    /// The wait a response asks for, from the first signal present. A `Retry-After`
    /// HTTP-date is a time on the server's clock (RFC 9110 §10.2.3): it is read against the
    /// response's `Date` header when that is valid, so clock skew between client and server
    /// does not change the wait; other values are read against `now`.
    pub fn wait(&self, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Option<Duration> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        self.signals.iter().find_map(|s| match s {
            WaitSignal::RetryAfter => header("retry-after").and_then(|v| {
                let server_now = httpdate::parse_http_date(v.trim())
                    .ok()
                    .and(header("date"))
                    .and_then(|d| httpdate::parse_http_date(d.trim()).ok());
                parse_retry_after(v, server_now.unwrap_or(now))
            }),
            WaitSignal::MillisHeader(name) => header(name).and_then(parse_millis),
            WaitSignal::EpochMillisHeader(name) => header(name).and_then(|v| parse_epoch(v, now)),
            WaitSignal::FreeText => free_text_wait(body),
        })
    }

    /// Classifies a response.
    pub fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Verdict {
        if self.throttle_statuses.contains(&status) {
            return Verdict::Throttled(self.wait(headers, body, now));
        }
        if self.transient_statuses.contains(&status) {
            return match self.wait(headers, body, now) {
                // 503 with a wait is the server throttling.
                Some(w) if status == 503 => Verdict::Throttled(Some(w)),
                w => Verdict::Transient(w),
            };
        }
        if status == 401 {
            // RFC 6750 §3.1: the server says the token itself is bad (expired, revoked), which
            // no wait can fix, whatever else the response seems to say.
            if self.unauthorized_with_wait_is_throttle && !bearer_invalid_token(headers) {
                if let Some(w) = self.wait(headers, body, now) {
                    return Verdict::Throttled(Some(w));
                }
            }
            return Verdict::Unauthorized;
        }
        Verdict::Final
    }
}

/// Whether a `WWW-Authenticate` header carries a challenge with `error="invalid_token"`
/// (RFC 6750 §3.1; the value may be quoted or not, parameter names are case-insensitive).
pub fn bearer_invalid_token(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            let lower = v.to_ascii_lowercase();
            let mut rest = lower.as_str();
            while let Some(i) = rest.find("error") {
                // `error` as a whole parameter name, not `error_description` or `xerror`.
                let before_ok = rest[..i]
                    .chars()
                    .next_back()
                    .is_none_or(|c| c == ',' || c == ' ' || c == '\t');
                let after = rest[i + "error".len()..].trim_start();
                if before_ok {
                    if let Some(value) = after.strip_prefix('=') {
                        let value = value.trim_start();
                        let value = value.strip_prefix('"').unwrap_or(value);
                        if value.starts_with("invalid_token")
                            && !value["invalid_token".len()..]
                                .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                        {
                            return true;
                        }
                    }
                }
                rest = &rest[i + "error".len()..];
            }
            false
        })
}

/// Parses `Retry-After`: delay seconds (`120`, also `1.5`), an HTTP-date, or an epoch time in
/// seconds (`> 10^9`) or milliseconds (`> 10^11`). A time in the past is zero. `None` for
/// anything else.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(n) = v.parse::<u64>() {
        if n >= 1_000_000_000 {
            return parse_epoch(v, now);
        }
        return Some(Duration::from_secs(n));
    }
    if let Some(d) = too_many_digits(v) {
        return Some(d);
    }
    if let Some(d) = parse_decimal_secs(v) {
        return Some(d);
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Digits beyond what 64 bits hold: a wait longer than any policy accepts (never mistaken
/// for a missing value, which would mean quick retries).
fn too_many_digits(v: &str) -> Option<Duration> {
    (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())).then(|| Duration::from_secs(u64::MAX))
}

fn parse_decimal_secs(v: &str) -> Option<Duration> {
    if !v.bytes().all(|b| b.is_ascii_digit() || b == b'.') || v.is_empty() {
        return None;
    }
    let f: f64 = v.parse().ok()?;
    (f.is_finite() && (0.0..1e9).contains(&f)).then(|| Duration::from_secs_f64(f))
}

/// Parses a milliseconds header (`1500`, `1500.5`).
pub fn parse_millis(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Some(Duration::from_millis(n));
    }
    too_many_digits(v).or_else(|| parse_decimal_secs(v).map(|d| d / 1000))
}

/// Parses an epoch time (milliseconds when `> 10^11`, else seconds) into a wait from `now`.
/// Values below `10^9` (before 2001) are delay seconds: rate-limit headers of some gateways
/// carry a delay under the same name.
pub fn parse_epoch(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    let Ok(n) = v.parse::<u64>() else {
        return too_many_digits(v);
    };
    if n < 1_000_000_000 {
        return Some(Duration::from_secs(n));
    }
    let at = if n >= 100_000_000_000 {
        UNIX_EPOCH.checked_add(Duration::from_millis(n))?
    } else {
        UNIX_EPOCH.checked_add(Duration::from_secs(n))?
    };
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Finds "another N seconds" / "after N seconds" / "in N minutes" in a body (any JSON, HTML or
/// text: athenahealth's `OperationOutcome.diagnostics` says "Try in another 30 seconds").
pub fn free_text_wait(body: &[u8]) -> Option<Duration> {
    let head = body.get(..body.len().min(8192))?;
    // The cut may fall inside a multi-byte character: read up to it, not nothing.
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
    };
    let lower = text.to_ascii_lowercase();
    for anchor in ["another ", "after ", "retry in ", "try in ", "wait "] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(anchor) {
            let rest = &lower[from + i + anchor.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse::<u64>() {
                let unit = rest[digits.len()..].trim_start();
                if unit.starts_with("second") || unit.starts_with("sec") || unit.starts_with('s') {
                    return Some(Duration::from_secs(n));
                }
                if unit.starts_with("minute") || unit.starts_with("min") {
                    return Some(Duration::from_secs(n.saturating_mul(60)));
                }
                if unit.starts_with("millisecond") || unit.starts_with("ms") {
                    return Some(Duration::from_millis(n));
                }
            }
            from += i + anchor.len();
        }
    }
    None
}

/// How retries are done.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total (the first included); 1 turns retries off.
    pub max_attempts: u32,
    /// Backoff for the first retry when the server gives no wait; doubles each retry.
    pub base_delay: Duration,
    /// Backoff never exceeds this.
    pub max_delay: Duration,
    /// A server asking for a longer wait than this is not retried (the error says the wait).
    pub max_server_wait: Duration,
    /// Retry non-idempotent requests (POST) too. Off by default: a POST is retried only when
    /// it is conditional (`If-None-Exist`) or a search.
    pub retry_non_idempotent: bool,
}

impl Default for RetryPolicy {
    /// 5 attempts, 500 ms base, 30 s max backoff, 120 s max server wait.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_server_wait: Duration::from_secs(120),
            retry_non_idempotent: false,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait, then send again.
    Retry(Duration),
    /// Stop: return the error.
    GiveUp,
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets `max_attempts`.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets `base_delay`.
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    /// Sets `max_delay`.
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Sets `max_server_wait`.
    pub fn max_server_wait(mut self, d: Duration) -> Self {
        self.max_server_wait = d;
        self
    }

    /// Sets `retry_non_idempotent`.
    pub fn retry_non_idempotent(mut self, on: bool) -> Self {
        self.retry_non_idempotent = on;
        self
    }

    /// Decides after attempt number `attempt` (1 for the first) ended with `verdict`.
    /// `random` is uniform in `[0, 1)`: the backoff is "equal jitter", between half and all
    /// of `base_delay × 2^(attempt-1)` (capped at `max_delay`). A wait given by the server is
    /// used as is (plus up to 10 % jitter so that clients told the same time do not return
    /// together), unless longer than `max_server_wait`.
    pub fn decide(
        &self,
        attempt: u32,
        verdict: Verdict,
        idempotent: bool,
        random: f64,
    ) -> Decision {
        let wait = match verdict {
            Verdict::Final | Verdict::Unauthorized => return Decision::GiveUp,
            Verdict::Throttled(w) | Verdict::Transient(w) => w,
        };
        if attempt >= self.max_attempts || (!idempotent && !self.retry_non_idempotent) {
            return Decision::GiveUp;
        }
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.5
        };
        match wait {
            Some(w) if w > self.max_server_wait => Decision::GiveUp,
            Some(w) => Decision::Retry(w.saturating_add(w.mul_f64(0.1 * random))),
            None => {
                let exp = self
                    .base_delay
                    .checked_mul(1u32 << (attempt - 1).min(20))
                    .unwrap_or(self.max_delay)
                    .min(self.max_delay);
                Decision::Retry(exp / 2 + (exp / 2).mul_f64(random))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_780_000_000)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn invalid_token_challenges_are_recognised() {
        for v in [
            r#"Bearer error="invalid_token""#,
            r#"Bearer realm="fhir", error="invalid_token", error_description="expired""#,
            r#"Bearer realm="x",error=invalid_token"#,
            r#"Bearer ERROR = "Invalid_Token""#,
        ] {
            assert!(
                bearer_invalid_token(&headers(&[("www-authenticate", v)])),
                "{v}"
            );
        }
        for v in [
            r#"Bearer realm="fhir""#,
            r#"Bearer error="insufficient_scope""#,
            r#"Bearer error_description="invalid_token", error="invalid_request""#,
            r#"Bearer error="invalid_token_type""#,
            "",
        ] {
            assert!(
                !bearer_invalid_token(&headers(&[("www-authenticate", v)])),
                "{v}"
            );
        }
        assert!(!bearer_invalid_token(&HeaderMap::new()));
        // A 401 with a wait is throttling, unless the challenge says the token is bad.
        let c = ThrottleClassifier::default();
        let wait = headers(&[("retry-after", "5")]);
        assert_eq!(
            c.classify(401, &wait, b"", now()),
            Verdict::Throttled(Some(Duration::from_secs(5)))
        );
        let bad = headers(&[
            ("retry-after", "5"),
            ("www-authenticate", r#"Bearer error="invalid_token""#),
        ]);
        assert_eq!(c.classify(401, &bad, b"", now()), Verdict::Unauthorized);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(" 1.5 ", now()),
            Some(Duration::from_millis(1500))
        );
        let date = httpdate::fmt_http_date(now() + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&date, now()),
            Some(Duration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now() - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now()), Some(Duration::ZERO));
        // Epoch milliseconds and seconds.
        assert_eq!(
            parse_retry_after("1780000007000", now()),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("1780000009", now()),
            Some(Duration::from_secs(9))
        );
        for bad in ["", "soon", "-1", "1e3", "Wed, 99 Foo 2026"] {
            assert_eq!(parse_retry_after(bad, now()), None, "{bad}");
        }
    }

    #[test]
    fn classifier_reads_every_signal() {
        let c = ThrottleClassifier::default();
        let empty = HeaderMap::new();
        assert_eq!(c.classify(200, &empty, b"", now()), Verdict::Final);
        assert_eq!(c.classify(400, &empty, b"", now()), Verdict::Final);
        assert_eq!(
            c.classify(429, &empty, b"", now()),
            Verdict::Throttled(None)
        );
        assert_eq!(
            c.classify(429, &headers(&[("retry-after", "3")]), b"", now()),
            Verdict::Throttled(Some(Duration::from_secs(3)))
        );
        assert_eq!(
            c.classify(429, &headers(&[("x-ms-retry-after-ms", "250")]), b"", now()),
            Verdict::Throttled(Some(Duration::from_millis(250)))
        );
        assert_eq!(
            c.classify(
                429,
                &headers(&[("x-ratelimit-reset", "1780000004000")]),
                b"",
                now()
            ),
            Verdict::Throttled(Some(Duration::from_secs(4)))
        );
        assert_eq!(
            c.classify(
                429,
                &headers(&[("x-rate-limit-reset", "1780000005")]),
                b"",
                now()
            ),
            Verdict::Throttled(Some(Duration::from_secs(5)))
        );
        assert_eq!(
            c.classify(429, &headers(&[("x-ratelimit-reset", "6")]), b"", now()),
            Verdict::Throttled(Some(Duration::from_secs(6)))
        );
        let athena = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"throttled","diagnostics":"Rate limit exceeded. Try in another 12 seconds."}]}"#;
        assert_eq!(
            c.classify(429, &empty, athena, now()),
            Verdict::Throttled(Some(Duration::from_secs(12)))
        );
        assert_eq!(
            c.classify(502, &empty, b"", now()),
            Verdict::Transient(None)
        );
        assert_eq!(
            c.classify(504, &empty, b"", now()),
            Verdict::Transient(None)
        );
        assert_eq!(
            c.classify(503, &headers(&[("retry-after", "2")]), b"", now()),
            Verdict::Throttled(Some(Duration::from_secs(2)))
        );
        assert_eq!(c.classify(401, &empty, b"", now()), Verdict::Unauthorized);
        assert_eq!(
            c.classify(401, &headers(&[("retry-after", "2")]), b"", now()),
            Verdict::Throttled(Some(Duration::from_secs(2)))
        );
        let strict = ThrottleClassifier {
            unauthorized_with_wait_is_throttle: false,
            ..c
        };
        assert_eq!(
            strict.classify(401, &headers(&[("retry-after", "2")]), b"", now()),
            Verdict::Unauthorized
        );
    }

    #[test]
    fn free_text_variants() {
        assert_eq!(
            free_text_wait(b"Try in another 30 seconds"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            free_text_wait(b"please retry after 2 minutes"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(free_text_wait(b"after lunch, another try"), None);
        assert_eq!(free_text_wait(b"\xff\xfe"), None);
    }

    #[test]
    fn policy_decisions() {
        let p = RetryPolicy::default();
        let t = Verdict::Transient(None);
        // Equal jitter: between half and all of 500 ms × 2^(n-1).
        assert_eq!(
            p.decide(1, t, true, 0.0),
            Decision::Retry(Duration::from_millis(250))
        );
        assert_eq!(
            p.decide(1, t, true, 1.0),
            Decision::Retry(Duration::from_millis(500))
        );
        assert_eq!(
            p.decide(3, t, true, 1.0),
            Decision::Retry(Duration::from_millis(2000))
        );
        assert_eq!(p.decide(20, t, true, 1.0), Decision::GiveUp); // attempts exhausted
        let p = p.max_attempts(30);
        assert_eq!(
            p.decide(20, t, true, 1.0),
            Decision::Retry(Duration::from_secs(30))
        );
        // Server waits are honoured, beyond the cap given up.
        let w = Verdict::Throttled(Some(Duration::from_secs(10)));
        assert_eq!(
            p.decide(1, w, true, 0.0),
            Decision::Retry(Duration::from_secs(10))
        );
        assert_eq!(
            p.decide(1, w, true, 1.0),
            Decision::Retry(Duration::from_secs(11))
        );
        let long = Verdict::Throttled(Some(Duration::from_secs(3600)));
        assert_eq!(p.decide(1, long, true, 0.0), Decision::GiveUp);
        // Non-idempotent only when opted in; finals never.
        assert_eq!(p.decide(1, t, false, 0.0), Decision::GiveUp);
        assert!(matches!(
            p.clone()
                .retry_non_idempotent(true)
                .decide(1, t, false, 0.0),
            Decision::Retry(_)
        ));
        assert_eq!(p.decide(1, Verdict::Final, true, 0.0), Decision::GiveUp);
        assert_eq!(
            p.decide(1, Verdict::Unauthorized, true, 0.0),
            Decision::GiveUp
        );
    }

    proptest! {
        #[test]
        fn retry_after_never_panics(s in "\\PC{0,40}") {
            let _ = parse_retry_after(&s, now());
            let _ = parse_millis(&s);
            let _ = parse_epoch(&s, now());
            let _ = free_text_wait(s.as_bytes());
        }

        #[test]
        fn seconds_round_trip(n in 0u64..1_000_000_000) {
            prop_assert_eq!(parse_retry_after(&n.to_string(), now()), Some(Duration::from_secs(n)));
        }

        #[test]
        fn dates_round_trip(n in 0u64..10_000_000) {
            let at = now() + Duration::from_secs(n);
            prop_assert_eq!(parse_retry_after(&httpdate::fmt_http_date(at), now()), Some(Duration::from_secs(n)));
        }

        #[test]
        fn millis_round_trip(n in 0u64..u64::MAX / 2) {
            prop_assert_eq!(parse_millis(&n.to_string()), Some(Duration::from_millis(n)));
        }

        #[test]
        fn backoff_is_bounded(attempt in 1u32..100, r in 0.0f64..1.0) {
            let p = RetryPolicy::default().max_attempts(200);
            match p.decide(attempt, Verdict::Transient(None), true, r) {
                Decision::Retry(d) => prop_assert!(d <= p.max_delay && d >= Duration::from_millis(250).min(p.max_delay / 2)),
                Decision::GiveUp => prop_assert!(false),
            }
        }
    }
}
