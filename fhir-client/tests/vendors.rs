//! The client against a loopback mock FHIR server that behaves like each vendor
//! (ehrkit-testkit's `MockServer`): one test per behaviour of issue 14.
#![cfg(feature = "reqwest")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ehrkit_fhir_client::fhir_model::Patient;
use ehrkit_fhir_client::{
    BoxFuture, EntryMode, Error, FhirClient, PageLimits, RetryPolicy, SearchParams, StaticToken,
    TokenProvider, VendorProfile,
};
use ehrkit_testkit::http::{MockServer, Request, Response};
use futures_util::StreamExt;
use serde_json::{json, Value};

fn fast(p: VendorProfile) -> VendorProfile {
    p.retry(
        RetryPolicy::default()
            .base_delay(Duration::from_millis(5))
            .max_delay(Duration::from_millis(20)),
    )
}

fn bundle(base: &str, ids: &[String], next: Option<&str>) -> Value {
    let entries: Vec<Value> = ids
        .iter()
        .map(|id| json!({"fullUrl": format!("{base}/Observation/{id}"), "resource": {"resourceType": "Observation", "id": id, "status": "final", "code": {"text": "x"}}, "search": {"mode": "match"}}))
        .collect();
    let mut links = vec![json!({"relation": "self", "url": format!("{base}/Observation")})];
    if let Some(n) = next {
        links.push(json!({"relation": "next", "url": n}));
    }
    json!({"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries})
}

fn outcome(code: &str, diagnostics: &str) -> Value {
    json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}]})
}

fn ids(v: &[ehrkit_fhir_client::fhir_model::Resource]) -> Vec<String> {
    v.iter().map(|r| r.id().unwrap_or("?").to_owned()).collect()
}

#[tokio::test]
async fn epic_unqualified_observation_search_is_split_per_category_and_merged() {
    let server = MockServer::start();
    let base = server.base().to_owned();
    server.on("GET", "/Observation", move |r: &Request| {
        match r.query_param("category").as_deref() {
            None if r.query_param("code").is_none() => {
                Response::new(400).fhir_json(&outcome("required", "category or code is required"))
            }
            Some("laboratory") => Response::new(200).fhir_json(&bundle(
                &base,
                &["lab1".into(), "shared".into()],
                None,
            )),
            Some("vital-signs") => {
                Response::new(200).fhir_json(&bundle(&base, &["vs1".into(), "shared".into()], None))
            }
            _ => Response::new(200).fhir_json(&bundle(&base, &[], None)),
        }
    });
    // Without the profile: Epic's 400 comes back typed.
    let plain = FhirClient::new(server.base(), VendorProfile::generic()).unwrap();
    let err = plain
        .search_all("Observation", &SearchParams::new().patient("X"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.outcome().unwrap().issue.len(), 1);

    let epic = FhirClient::new(server.base(), VendorProfile::epic()).unwrap();
    let got = epic
        .search_all("Observation", &SearchParams::new().patient("X"))
        .await
        .unwrap();
    assert_eq!(ids(&got), ["lab1", "shared", "vs1"]);
    let categories: Vec<String> = server
        .requests()
        .iter()
        .skip(1)
        .map(|r| r.query_param("category").unwrap())
        .collect();
    assert_eq!(
        categories.len(),
        ehrkit_fhir_client::EPIC_OBSERVATION_CATEGORIES.len()
    );
    assert!(server
        .requests()
        .iter()
        .skip(1)
        .all(|r| r.query_param("patient").as_deref() == Some("X")));
    assert_eq!(epic.stats().refused_splits, 0);
    // With a category: one request, no split.
    server.clear_requests();
    let one = epic
        .search_all(
            "Observation",
            &SearchParams::new()
                .patient("X")
                .token("category", None, "laboratory"),
        )
        .await
        .unwrap();
    assert_eq!(ids(&one), ["lab1", "shared"]);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn oracle_page_context_is_followed_as_given_and_count_is_capped() {
    let server = MockServer::start();
    let base = server.base().to_owned();
    // An opaque pageContext with characters that must not be re-encoded.
    let ctx = "a%2Bb%2F%3D%3D";
    server.on("GET", "/Observation", move |r: &Request| {
        let count: u32 = r
            .query_param("_count")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if count == 0 || count > 200 {
            return Response::new(400)
                .header("content-type", "application/json+fhir")
                .json(&outcome("invalid", "_count"));
        }
        match r.query() {
            Some(q) if q.contains("pageContext") => {
                assert!(
                    q.contains(&format!("pageContext={ctx}")),
                    "pageContext changed: {q}"
                );
                Response::new(200)
                    .header("content-type", "application/json+fhir")
                    .json(&bundle(&base, &["o3".into()], None))
            }
            _ => Response::new(200)
                .header("content-type", "application/json+fhir")
                .json(&bundle(
                    &base,
                    &["o1".into(), "o2".into()],
                    Some(&format!(
                        "{base}/Observation?pageContext={ctx}&direction=NEXT&_count=200"
                    )),
                )),
        }
    });
    let oracle = FhirClient::new(server.base(), VendorProfile::oracle_health()).unwrap();
    let got = oracle
        .search_all("Observation", &SearchParams::new().patient("1").count(1000))
        .await
        .unwrap();
    assert_eq!(ids(&got), ["o1", "o2", "o3"]);
    assert_eq!(
        server.requests()[0].query_param("_count").as_deref(),
        Some("200")
    );
    assert_eq!(oracle.stats().pages, 2);
    // The default _count when none is given.
    server.clear_requests();
    oracle
        .search_all("Observation", &SearchParams::new().patient("1"))
        .await
        .unwrap();
    assert_eq!(
        server.requests()[0].query_param("_count").as_deref(),
        Some("50")
    );

    // Encounter without a required parameter: refused before anything is sent.
    server.clear_requests();
    let err = oracle
        .search_all(
            "Encounter",
            &SearchParams::new().param("date", "ge2024-01-01"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::VendorRule { ref rule, .. } if rule == "oracle-encounter-required"),
        "{err}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn athena_practice_on_every_request_and_free_text_429() {
    let server = MockServer::start();
    let base = server.base().to_owned();
    let practice = "Organization/a-1.Practice-195900";
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    server.on("GET", "/*", move |r: &Request| {
        if r.query_param("ah-practice").as_deref() != Some(practice) {
            return Response::new(400).fhir_json(&outcome("required", "ah-practice is required"));
        }
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            // Throttled, the wait only in diagnostics.
            return Response::new(429).fhir_json(&outcome(
                "throttled",
                "Rate limit exceeded. Try in another 1 seconds.",
            ));
        }
        match r.path() {
            "/Patient/a-1.E-14914" => Response::new(200)
                .fhir_json(&json!({"resourceType": "Patient", "id": "a-1.E-14914"})),
            _ if r.query_param("page").is_some() => {
                Response::new(200).fhir_json(&bundle(&base, &["c2".into()], None))
            }
            // The next link drops ah-practice: the client adds it back.
            _ => Response::new(200).fhir_json(&bundle(
                &base,
                &["c1".into()],
                Some(&format!("{base}/Observation?page=2")),
            )),
        }
    });
    let athena =
        FhirClient::new(server.base(), VendorProfile::athenahealth(Some("195900"))).unwrap();
    let got = athena
        .search_all(
            "Observation",
            &SearchParams::new()
                .patient("a-1.E-14914")
                .token("category", None, "laboratory"),
        )
        .await
        .unwrap();
    assert_eq!(ids(&got), ["c1", "c2"]);
    let p: Patient = athena.read("a-1.E-14914").await.unwrap();
    assert_eq!(p.id.as_deref(), Some("a-1.E-14914"));
    let s = athena.stats();
    assert_eq!((s.throttled, s.retries, s.requests), (1, 1, 4));
    assert!(server
        .requests()
        .iter()
        .all(|r| r.query_param("ah-practice").as_deref() == Some(practice)));

    // Without a practice id in the profile, one given in a query is carried to later requests.
    server.clear_requests();
    let learned = FhirClient::new(server.base(), VendorProfile::athenahealth(None)).unwrap();
    learned
        .search_all(
            "Observation",
            &SearchParams::new()
                .patient("p")
                .param("ah-practice", practice),
        )
        .await
        .unwrap();
    let _: Patient = learned.read("a-1.E-14914").await.unwrap();
    assert!(server
        .requests()
        .iter()
        .all(|r| r.query_param("ah-practice").as_deref() == Some(practice)));
}

#[tokio::test]
async fn a_repeating_next_link_ends_the_search() {
    let server = MockServer::start();
    let base = server.base().to_owned();
    let n = Arc::new(AtomicUsize::new(0));
    server.on("GET", "/Observation", move |_r: &Request| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        Response::new(200).fhir_json(&bundle(
            &base,
            &[format!("r{i}")],
            Some(&format!("{base}/Observation?page=2")),
        ))
    });
    let client = FhirClient::new(server.base(), VendorProfile::generic()).unwrap();
    let got = client
        .search_all("Observation", &SearchParams::new().patient("1"))
        .await
        .unwrap();
    assert_eq!(ids(&got), ["r0", "r1"]);
    assert_eq!(server.requests().len(), 2);
    assert_eq!(client.stats().truncated_searches, 1);

    // And the page cap bounds a server that always has another page.
    let server = MockServer::start();
    let base = server.base().to_owned();
    let n = Arc::new(AtomicUsize::new(0));
    server.on("GET", "/Observation", move |_r: &Request| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        Response::new(200).fhir_json(&bundle(
            &base,
            &[format!("r{i}")],
            Some(&format!("{base}/Observation?page={}", i + 1)),
        ))
    });
    let client = FhirClient::builder(server.base())
        .limits(PageLimits::default().max_pages(3))
        .build()
        .unwrap();
    assert_eq!(
        client
            .search_all("Observation", &SearchParams::new())
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn retry_after_as_seconds_and_as_a_date() {
    let server = MockServer::start();
    let ok = Response::new(200).fhir_json(&json!({"resourceType": "Patient", "id": "p1"}));
    server.sequence(
        "GET",
        "/Patient/p1",
        [Response::new(429).header("Retry-After", "1"), ok.clone()],
    );
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    server.sequence(
        "GET",
        "/Patient/p2",
        [Response::new(503).header("Retry-After", &date), ok.clone()],
    );
    let client = FhirClient::new(server.base(), VendorProfile::generic()).unwrap();
    let started = std::time::Instant::now();
    let _: Patient = client.read("p1").await.unwrap();
    // Honoured: the retry came after the second the server asked for.
    assert!(started.elapsed() >= Duration::from_secs(1));
    let _: Patient = client.read("p2").await.unwrap();
    let s = client.stats();
    assert_eq!((s.requests, s.retries, s.throttled), (4, 2, 2));
    assert_eq!(s.errors_by_status.get(&429), Some(&1));
    assert_eq!(s.errors_by_status.get(&503), Some(&1));

    // A wait longer than the policy accepts is not slept: the error says how long.
    server.respond(
        "GET",
        "/Patient/p3",
        Response::new(429).header("Retry-After", "86400"),
    );
    let err = client.read::<Patient>("p3").await.unwrap_err();
    assert!(
        matches!(err, Error::RetriesExhausted { attempts: 1, status: 429, retry_after: Some(d), .. } if d == Duration::from_secs(86400)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_503_burst_is_retried_with_backoff_then_given_up() {
    let server = MockServer::start();
    let ok = Response::new(200).fhir_json(&json!({"resourceType": "Patient", "id": "p1"}));
    server.sequence(
        "GET",
        "/Patient/p1",
        [
            Response::new(503),
            Response::new(503),
            Response::new(502),
            Response::new(504),
            ok,
        ],
    );
    server.respond(
        "GET",
        "/Patient/down",
        Response::new(503).fhir_json(&outcome("transient", "busy")),
    );
    let client = FhirClient::new(server.base(), fast(VendorProfile::generic())).unwrap();
    let _: Patient = client.read("p1").await.unwrap();
    assert_eq!(client.stats().retries, 4);
    let err = client.read::<Patient>("down").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::RetriesExhausted {
                attempts: 5,
                status: 503,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.outcome().map(|o| o.issue.len()), Some(1));
    assert_eq!(server.hits("GET", "/Patient/down"), 5);
    // A 400 is final: no retry.
    server.respond(
        "GET",
        "/Patient/bad",
        Response::new(400).fhir_json(&outcome("invalid", "x")),
    );
    assert!(matches!(
        client.read::<Patient>("bad").await.unwrap_err(),
        Error::Server { status: 400, .. }
    ));
    assert_eq!(server.hits("GET", "/Patient/bad"), 1);
}

struct Rotating {
    calls: AtomicUsize,
    refreshes: AtomicUsize,
}

impl TokenProvider for Rotating {
    fn token(&self) -> BoxFuture<'_, ehrkit_fhir_client::Result<Option<String>>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(Some("old-token".to_owned())) })
    }
    fn refresh<'a>(
        &'a self,
        rejected: Option<&'a str>,
    ) -> BoxFuture<'a, ehrkit_fhir_client::Result<Option<String>>> {
        assert!(matches!(rejected, Some("old-token")));
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(Some("new-token".to_owned())) })
    }
}

#[tokio::test]
async fn a_401_refreshes_the_token_once() {
    let server = MockServer::start();
    server.on("GET", "/Patient/*", |r: &Request| {
        match (r.bearer(), r.path()) {
            (Some("new-token"), "/Patient/p1") => {
                Response::new(200).fhir_json(&json!({"resourceType": "Patient", "id": "p1"}))
            }
            _ => Response::new(401),
        }
    });
    let tokens = Arc::new(Rotating {
        calls: AtomicUsize::new(0),
        refreshes: AtomicUsize::new(0),
    });
    let client = FhirClient::builder(server.base())
        .shared_tokens(tokens.clone())
        .build()
        .unwrap();
    let _: Patient = client.read("p1").await.unwrap();
    let bearers: Vec<Option<String>> = server
        .requests()
        .iter()
        .map(|r| r.bearer().map(str::to_owned))
        .collect();
    assert_eq!(
        bearers,
        [Some("old-token".to_owned()), Some("new-token".to_owned())]
    );
    // Still 401 after the refresh: an error after exactly one refresh.
    let err = client.read::<Patient>("p2").await.unwrap_err();
    assert!(matches!(err, Error::Server { status: 401, .. }), "{err:?}");
    assert_eq!(server.hits("GET", "/Patient/p2"), 2);
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 2);
    assert_eq!(client.stats().token_refreshes, 2);
}

#[tokio::test]
async fn redirects_never_carry_the_token_to_another_origin() {
    let other = MockServer::start_on("127.0.0.2".parse().unwrap());
    other.respond(
        "GET",
        "/*",
        Response::new(200).fhir_json(&json!({"resourceType": "Patient", "id": "p1"})),
    );
    let server = MockServer::start();
    server.respond(
        "GET",
        "/Patient/away",
        Response::redirect(302, &other.url("/Patient/p1")),
    );
    server.respond(
        "GET",
        "/Patient/moved",
        Response::redirect(301, &server.url("/Patient/here")),
    );
    server.respond(
        "GET",
        "/Patient/here",
        Response::new(200).fhir_json(&json!({"resourceType": "Patient", "id": "here"})),
    );
    server.respond(
        "POST",
        "/Patient",
        Response::redirect(307, &other.url("/Patient")),
    );
    let client = FhirClient::builder(server.base())
        .tokens(StaticToken::new("secret-token"))
        .build()
        .unwrap();
    // Followed without the token.
    let p: Patient = client.read("away").await.unwrap();
    assert_eq!(p.id.as_deref(), Some("p1"));
    let seen = other.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(server.requests()[0].bearer(), Some("secret-token"));
    // A write is never sent to another origin.
    let err = client
        .create(
            &ehrkit_fhir_client::fhir_model::from_slice(br#"{"resourceType":"Patient"}"#).unwrap(),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ForeignLink {
                what: "redirect",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(other.requests().len(), 1);
    // Refused altogether when asked.
    let strict = FhirClient::builder(server.base())
        .tokens(StaticToken::new("secret-token"))
        .cross_origin_redirects(false)
        .build()
        .unwrap();
    let err = strict.read::<Patient>("away").await.unwrap_err();
    assert!(
        matches!(err, Error::ForeignLink { what: "redirect", ref origin } if origin.contains("127.0.0.2")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("secret-token"));
    assert_eq!(other.requests().len(), 1);
    // Within the origin: followed, with the token.
    let p: Patient = client.read("moved").await.unwrap();
    assert_eq!(p.id.as_deref(), Some("here"));
    assert_eq!(
        server.requests_to("/Patient/here")[0].bearer(),
        Some("secret-token")
    );
}

/// A read redirected to a storage host that answers 401 (an expired pre-signed URL):
/// the token was not sent there, so refreshing it cannot help and would replace a token
/// other requests are using. The 401 is the answer, with no refresh.
#[tokio::test]
async fn a_401_from_another_origin_after_a_redirect_refreshes_no_token() {
    let other = MockServer::start_on("127.0.0.2".parse().unwrap());
    other.respond("GET", "/*", Response::new(401));
    let server = MockServer::start();
    server.respond(
        "GET",
        "/Patient/b1",
        Response::redirect(302, &other.url("/signed/b1")),
    );
    let client = FhirClient::builder(server.base())
        .tokens(StaticToken::new("secret-token"))
        .build()
        .unwrap();
    let err = client.read::<Patient>("b1").await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err:?}");
    assert_eq!(client.stats().token_refreshes, 0);
    assert_eq!(
        server.requests_to("/Patient/b1").len(),
        1,
        "not asked again"
    );
    assert_eq!(other.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn request_ids_gzip_and_concurrency_limit() {
    let server = MockServer::start();
    server.sequence(
        "GET",
        "/Patient/p1",
        [
            Response::new(503),
            Response::new(200)
                .fhir_json(&json!({"resourceType": "Patient", "id": "p1"}))
                .gzip(),
        ],
    );
    let client = FhirClient::new(server.base(), fast(VendorProfile::generic())).unwrap();
    let _: Patient = client.read("p1").await.unwrap();
    let reqs = server.requests();
    let idv: Vec<&str> = reqs
        .iter()
        .map(|r| r.header("x-request-id").unwrap())
        .collect();
    assert_eq!(idv.len(), 2);
    assert_eq!(idv[0], idv[1], "one id for the retries of one call");
    assert_eq!(idv[0].len(), 32);
    assert_eq!(reqs[0].header("accept"), Some("application/fhir+json"));

    let server = MockServer::start();
    server.respond(
        "GET",
        "/Patient/*",
        Response::new(200)
            .fhir_json(&json!({"resourceType": "Patient", "id": "p"}))
            .delay(Duration::from_millis(30)),
    );
    let client =
        FhirClient::new(server.base(), VendorProfile::generic().max_concurrency(2)).unwrap();
    let calls = (0..8).map(|i| {
        let c = client.clone();
        async move {
            c.read_resource("Patient", &format!("p{i}"), &SearchParams::new())
                .await
        }
    });
    for r in futures_util::future::join_all(calls).await {
        r.unwrap();
    }
    assert!(server.max_in_flight() <= 2, "{}", server.max_in_flight());
    let ids: std::collections::HashSet<String> = server
        .requests()
        .iter()
        .map(|r| r.header("x-request-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 8);
}

#[tokio::test]
async fn includes_are_marked_and_a_bad_id_is_refused_before_sending() {
    let server = MockServer::start();
    server.respond(
        "GET",
        "/Observation",
        Response::new(200).fhir_json(
            &json!({"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": {"resourceType": "Observation", "id": "o1"}, "search": {"mode": "match"}},
            {"resource": {"resourceType": "Patient", "id": "p1"}, "search": {"mode": "include"}}]}),
        ),
    );
    let client = FhirClient::new(server.base(), VendorProfile::generic()).unwrap();
    let mut s = client.search(
        "Observation",
        &SearchParams::new().include("Observation:patient", false),
    );
    let mut modes = Vec::new();
    while let Some(e) = s.next().await {
        modes.push(e.unwrap().mode);
    }
    assert_eq!(modes, [EntryMode::Match, EntryMode::Include]);
    assert_eq!(
        server.requests()[0].query_param("_include").as_deref(),
        Some("Observation:patient")
    );
    assert!(matches!(
        client.read::<Patient>("../x").await.unwrap_err(),
        Error::InvalidRequest { what: "id", .. }
    ));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn transport_errors_and_timeouts_are_retried_then_reported() {
    // Nothing listens on the stopped server's port.
    let gone = MockServer::start();
    let base = gone.base().to_owned();
    gone.shutdown();
    let client = FhirClient::new(&base, fast(VendorProfile::generic())).unwrap();
    let err = client.read::<Patient>("p1").await.unwrap_err();
    assert!(
        matches!(err, Error::RetriesExhausted { attempts: 5, status: 0, ref last, .. } if matches!(**last, Error::Transport { timeout: false, .. })),
        "{err:?}"
    );
    assert_eq!(client.stats().errors_by_status.get(&0), Some(&5));

    let server = MockServer::start();
    server.sequence(
        "GET",
        "/Patient/p1",
        [
            Response::new(200)
                .fhir_json(&json!({"resourceType": "Patient", "id": "slow"}))
                .delay(Duration::from_secs(3)),
            Response::new(200).fhir_json(&json!({"resourceType": "Patient", "id": "p1"})),
        ],
    );
    let client = FhirClient::builder(server.base())
        .profile(fast(VendorProfile::generic()))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let p: Patient = client.read("p1").await.unwrap();
    assert_eq!(p.id.as_deref(), Some("p1"));
    assert_eq!(client.stats().retries, 1);
}

#[tokio::test]
async fn a_split_the_server_refuses_is_skipped_unless_all_are() {
    let server = MockServer::start();
    let base = server.base().to_owned();
    server.on("GET", "/Observation", move |r: &Request| {
        match r.query_param("category").as_deref() {
            Some("laboratory") => {
                Response::new(200).fhir_json(&bundle(&base, &["lab1".into()], None))
            }
            // Every other category is unknown to this server.
            _ => Response::new(400).fhir_json(&outcome("value", "unknown category")),
        }
    });
    let epic = FhirClient::new(server.base(), VendorProfile::epic()).unwrap();
    let got = epic
        .search_all("Observation", &SearchParams::new().patient("X"))
        .await
        .unwrap();
    assert_eq!(ids(&got), ["lab1"]);
    assert_eq!(
        epic.stats().refused_splits as usize,
        ehrkit_fhir_client::EPIC_OBSERVATION_CATEGORIES.len() - 1
    );

    let refusing = MockServer::start();
    refusing.respond(
        "GET",
        "/Observation",
        Response::new(400).fhir_json(&outcome("value", "no")),
    );
    let epic = FhirClient::new(refusing.base(), VendorProfile::epic()).unwrap();
    let err = epic
        .search_all("Observation", &SearchParams::new().patient("X"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    // A 500 on a split is not skipped.
    let broken = MockServer::start();
    broken.respond("GET", "/Observation", Response::new(500));
    let epic = FhirClient::new(broken.base(), VendorProfile::epic()).unwrap();
    assert_eq!(
        epic.search_all("Observation", &SearchParams::new().patient("X"))
            .await
            .unwrap_err()
            .status(),
        Some(500)
    );
    assert_eq!(broken.requests().len(), 1);
}

#[tokio::test]
async fn millisecond_and_epoch_waits_over_http() {
    let server = MockServer::start();
    let ok = Response::new(200).fhir_json(&json!({"resourceType": "Patient", "id": "p"}));
    server.sequence(
        "GET",
        "/Patient/ms",
        [
            Response::new(429).header("x-ms-retry-after-ms", "50"),
            ok.clone(),
        ],
    );
    let at = SystemTime::now() + Duration::from_millis(500);
    let epoch_ms = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    server.sequence(
        "GET",
        "/Patient/epoch",
        [Response::new(503).header("Retry-After", &epoch_ms), ok],
    );
    let client = FhirClient::new(server.base(), VendorProfile::generic()).unwrap();
    let _: Patient = client.read("ms").await.unwrap();
    let _: Patient = client.read("epoch").await.unwrap();
    // The retry came after the time the server named.
    assert!(SystemTime::now() >= at);
    let s = client.stats();
    assert_eq!((s.retries, s.throttled), (2, 2));
}

/// RFC 6750 §3.1: `WWW-Authenticate: Bearer error="invalid_token"` says the token expired or was
/// revoked. That is a token problem even when the 401 also reads like a wait (a number of
/// seconds in the OperationOutcome text, or a gateway's `Retry-After` on every error): one
/// refresh, one retry, never a wait-and-resend of the refused token.
#[tokio::test]
async fn a_401_with_invalid_token_refreshes_even_when_its_text_names_seconds() {
    let server = MockServer::start();
    server.on("GET", "/Patient/*", |r: &Request| match r.bearer() {
        Some("new-token") => {
            Response::new(200).fhir_json(&json!({"resourceType": "Patient", "id": "p1"}))
        }
        _ => Response::new(401)
            .header(
                "WWW-Authenticate",
                r#"Bearer realm="fhir", error="invalid_token", error_description="The access token expired""#,
            )
            .fhir_json(&outcome(
                "login",
                "The access token expired after 300 seconds of inactivity",
            )),
    });
    let tokens = Arc::new(Rotating {
        calls: AtomicUsize::new(0),
        refreshes: AtomicUsize::new(0),
    });
    let client = FhirClient::builder(server.base())
        .profile(fast(VendorProfile::generic()))
        .shared_tokens(tokens.clone())
        .build()
        .unwrap();
    let p: Patient = client.read("p1").await.unwrap();
    assert_eq!(p.id.as_deref(), Some("p1"));
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(server.hits("GET", "/Patient/p1"), 2);
    assert_eq!(client.stats().throttled, 0);
}

/// A `Retry-After` with more digits than 64 bits hold still asks for a very long wait: it is
/// given up on at once (the policy's longest wait is exceeded), not mistaken for a missing
/// value and answered with quick backoff retries.
#[tokio::test]
async fn a_retry_after_too_large_for_64_bits_is_a_long_wait_not_garbage() {
    let server = MockServer::start();
    server.respond(
        "GET",
        "/Patient/p1",
        Response::new(429).header("Retry-After", "99999999999999999999999"),
    );
    let client = FhirClient::new(server.base(), fast(VendorProfile::generic())).unwrap();
    let err = client.read::<Patient>("p1").await.unwrap_err();
    assert!(
        matches!(err, Error::RetriesExhausted { attempts: 1, status: 429, retry_after: Some(d), .. } if d > Duration::from_secs(86400)),
        "{err:?}"
    );
    assert_eq!(server.hits("GET", "/Patient/p1"), 1);
}

/// A `next` link on another origin is not followed (the bearer token would go with it), but the
/// page that carried it was read: its resources come out first, then the error. Nothing is
/// dropped in silence and nothing reaches the other origin.
#[tokio::test]
async fn a_next_link_to_another_origin_keeps_the_page_it_came_with() {
    let foreign = MockServer::start();
    foreign.respond("GET", "/*", Response::new(500));
    let server = MockServer::start();
    let base = server.base().to_owned();
    let elsewhere = format!("{}/Observation?page=2", foreign.base());
    server.on("GET", "/Observation", move |_r: &Request| {
        Response::new(200).fhir_json(&bundle(
            &base,
            &["o1".into(), "o2".into()],
            Some(&elsewhere),
        ))
    });
    let client = FhirClient::builder(server.base())
        .tokens(StaticToken::new("secret-token"))
        .build()
        .unwrap();
    let items: Vec<_> = client
        .search("Observation", &SearchParams::new().patient("X"))
        .collect()
        .await;
    let got: Vec<String> = items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .map(|e| e.resource.id().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(got, ["o1", "o2"]);
    assert_eq!(items.len(), 3, "two resources, then the error");
    assert!(
        matches!(
            items[2],
            Err(Error::ForeignLink {
                what: "next link",
                ..
            })
        ),
        "{:?}",
        items[2]
    );
    assert!(foreign.requests().is_empty());
}
