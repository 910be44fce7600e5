//! Fuzz properties of `ehrkit-fhir-client`, shared by the fuzz target
//! (`fuzz/fuzz_targets/fhir_client_response.rs`, through
//! `#[path = "../props/fhir_client.rs"] mod props;`) and the crate's `tests/fuzz_seeds.rs`
//! (through `#[path = "../../fuzz/props/fhir_client.rs"]`), so seeds run the exact same check
//! without cargo-fuzz. Plain Rust over the crate's public API. Each function panics when a
//! property is violated and must never panic otherwise.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ehrkit_fhir_client::retry::{free_text_wait, parse_retry_after};
use ehrkit_fhir_client::{fhir_model, http};
use ehrkit_fhir_client::{
    request, response, Base, Decision, Next, PageLimits, Pager, RetryPolicy, SearchParams,
    StopReason, ThrottleClassifier, Verdict,
};

/// A server response made of arbitrary bytes: the first byte picks the status, the first
/// line (when it is a valid header value) goes into every wait header, the rest is the body.
///
/// * interpreting it as a Bundle, a resource or an error never panics; an error's text does
///   not depend on `OperationOutcome.diagnostics` (free text that may carry PHI);
/// * paging: at most the resource cap comes out; a `next` is fetched only when it was not
///   fetched before, and digesting the same page again with the same `next` stops as
///   `RepeatedNext`; a `next` link request never leaves the base's origin;
/// * throttling: classification never panics and a retry never waits longer than the policy
///   allows;
/// * search parameters read from the text write a query that is a valid URI and reads back
///   to the same pairs.
pub fn check_response(data: &[u8]) {
    let statuses = [200u16, 201, 400, 401, 404, 429, 500, 502, 503, 504];
    let status = statuses[usize::from(data.first().copied().unwrap_or(0)) % statuses.len()];
    let rest = data.get(1..).unwrap_or_default();
    let (line, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&rest[..0], rest),
    };
    let line_text = std::str::from_utf8(line).unwrap_or("");

    let mut b = http::Response::builder().status(status);
    if let Ok(v) = http::HeaderValue::from_bytes(line) {
        for h in ["retry-after", "x-ms-retry-after-ms", "x-rate-limit-reset"] {
            b = b.header(h, v.clone());
        }
    }
    let resp = b.body(body.to_vec()).expect("a response");

    // Interpretation.
    let base = Base::new("https://ehr.example/fhir/").expect("base");
    let texts = error_texts(&resp);
    // The error text does not depend on `OperationOutcome.diagnostics` (free text, may carry
    // PHI): the same outcome with every diagnostics blanked gives the same messages.
    if let Ok(mut oo) = fhir_model::from_slice::<fhir_model::OperationOutcome>(body) {
        if oo.issue.iter().any(|i| i.diagnostics.is_some()) {
            for i in &mut oo.issue {
                i.diagnostics = None;
            }
            let mut blank = http::Response::builder().status(status);
            for (k, v) in resp.headers() {
                blank = blank.header(k, v);
            }
            let blank = blank.body(fhir_model::to_vec(&oo)).expect("a response");
            assert_eq!(
                error_texts(&blank),
                texts,
                "error text depends on diagnostics"
            );
        }
    }
    if let Ok(bundle) = response::bundle(&resp) {
        let cap = 3;
        let mut pager = Pager::new(
            "https://ehr.example/fhir/Observation",
            PageLimits::default().max_resources(cap),
        );
        let again = bundle.clone();
        let page = pager.on_page(bundle);
        assert!(page.entries.len() <= cap);
        if let Next::Fetch(link) = &page.next {
            assert_ne!(link, "https://ehr.example/fhir/Observation");
            let mut pager2 = Pager::new(
                "https://ehr.example/fhir/Observation",
                PageLimits::default(),
            );
            let first = pager2.on_page(again.clone());
            if matches!(first.next, Next::Fetch(_)) {
                assert_eq!(
                    pager2.on_page(again).next,
                    Next::Stop(StopReason::RepeatedNext)
                );
            }
            if let Ok(req) = request::page(&base, link, "Observation", &SearchParams::new()) {
                let url = url_of(&req.http);
                assert!(
                    url.starts_with("https://ehr.example/"),
                    "next left the origin: {url}"
                );
            }
        }
    }

    // Throttling.
    let now = UNIX_EPOCH + Duration::from_secs(1_780_000_000);
    let verdict = ThrottleClassifier::default().classify(status, resp.headers(), body, now);
    let policy = RetryPolicy::default();
    for attempt in 1..=6 {
        for random in [0.0, 0.5, 0.999] {
            if let Decision::Retry(d) = policy.decide(attempt, verdict, true, random) {
                let bound = policy.max_server_wait + policy.max_server_wait / 10 + policy.max_delay;
                assert!(d <= bound, "retry after {d:?}");
                assert!(attempt < policy.max_attempts);
            }
        }
    }
    if let Verdict::Final = verdict {
        assert!(!matches!(status, 429 | 502 | 503 | 504));
    }
    let _ = parse_retry_after(line_text, now);
    let _ = parse_retry_after(line_text, SystemTime::UNIX_EPOCH);
    let _ = free_text_wait(body);

    // Search parameters.
    let params = SearchParams::parse(line_text);
    let query = params.to_query();
    let uri: http::Uri = format!("https://ehr.example/fhir/Observation?{query}")
        .parse()
        .unwrap_or_else(|e| panic!("invalid URI for query {query:?}: {e}"));
    assert_eq!(SearchParams::parse(uri.query().unwrap_or("")), params);
}

fn error_texts(resp: &http::Response<Vec<u8>>) -> Vec<String> {
    [response::resource(resp).err(), response::bundle(resp).err()]
        .into_iter()
        .flatten()
        .map(|e| e.to_string())
        .collect()
}

fn url_of<B>(req: &http::Request<B>) -> String {
    req.uri().to_string()
}
