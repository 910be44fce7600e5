//! `Retry-After` as an HTTP-date is a time on the server's clock (RFC 9110 §10.2.3), and the
//! response's `Date` header is that clock's "now". Reading the date against the client's clock
//! turns any skew into a wrong wait: a server a few minutes ahead makes every 429 look like a
//! wait too long to honour, one behind makes the client retry at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ehrkit_fhir_client::http::HeaderMap;
use ehrkit_fhir_client::{ThrottleClassifier, Verdict};

fn client_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_780_000_000)
}

fn response_headers(server_now: SystemTime, retry_at: SystemTime) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("date", httpdate::fmt_http_date(server_now).parse().unwrap());
    h.insert(
        "retry-after",
        httpdate::fmt_http_date(retry_at).parse().unwrap(),
    );
    h
}

#[test]
fn an_http_date_retry_after_is_read_against_the_servers_date() {
    let c = ThrottleClassifier::default();
    // Server clock five minutes ahead, asking for 5 s.
    let ahead = client_now() + Duration::from_secs(300);
    let h = response_headers(ahead, ahead + Duration::from_secs(5));
    assert_eq!(
        c.classify(429, &h, b"", client_now()),
        Verdict::Throttled(Some(Duration::from_secs(5)))
    );
    // Server clock two minutes behind, asking for 30 s.
    let behind = client_now() - Duration::from_secs(120);
    let h = response_headers(behind, behind + Duration::from_secs(30));
    assert_eq!(
        c.classify(503, &h, b"", client_now()),
        Verdict::Throttled(Some(Duration::from_secs(30)))
    );
}

#[test]
fn without_a_date_header_the_clients_clock_is_used() {
    let c = ThrottleClassifier::default();
    let mut h = HeaderMap::new();
    h.insert(
        "retry-after",
        httpdate::fmt_http_date(client_now() + Duration::from_secs(7))
            .parse()
            .unwrap(),
    );
    assert_eq!(
        c.classify(429, &h, b"", client_now()),
        Verdict::Throttled(Some(Duration::from_secs(7)))
    );
    // A garbage Date is ignored, not an error.
    h.insert("date", "yesterday".parse().unwrap());
    assert_eq!(
        c.classify(429, &h, b"", client_now()),
        Verdict::Throttled(Some(Duration::from_secs(7)))
    );
}

/// A policy that accepts any server wait, told to wait the longest time there is (a
/// `Retry-After` with more digits than 64 bits hold), decides without overflowing.
#[test]
fn the_longest_wait_under_a_policy_without_limit_does_not_overflow() {
    use ehrkit_fhir_client::{Decision, RetryPolicy};
    let policy = RetryPolicy::default().max_server_wait(Duration::MAX);
    let longest = Duration::from_secs(u64::MAX);
    match policy.decide(1, Verdict::Throttled(Some(longest)), true, 0.99) {
        Decision::Retry(d) => assert!(d >= longest),
        other => panic!("{other:?}"),
    }
}

/// A throttling page longer than the 8 KiB the free-text scan reads, whose cut falls inside a
/// multi-byte character (a gateway's HTML page with a `©` footer), still gives its wait.
#[test]
fn free_text_wait_survives_a_cut_inside_a_utf8_character() {
    use ehrkit_fhir_client::retry::free_text_wait;
    let mut body = b"<html><body><p>Too many requests. Try in another 30 seconds.</p>".to_vec();
    body.resize(8191, b' ');
    body.extend_from_slice("© 2026 Example Health</body></html>".as_bytes());
    assert_eq!(free_text_wait(&body), Some(Duration::from_secs(30)));
}
