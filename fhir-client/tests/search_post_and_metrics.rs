//! Searches sent as `POST [type]/_search`, paging through the empty pages Epic's post-filtered
//! parameters produce, and the client's counters on the `metrics` facade; against testkit's
//! loopback `MockServer`.
#![cfg(feature = "reqwest")]

use std::time::Duration;

use ehrkit_fhir_client::{FhirClient, RetryPolicy, SearchMethod, SearchParams, VendorProfile};
use ehrkit_testkit::http::{MockServer, Request, Response};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::{json, Value};

fn fast(p: VendorProfile) -> VendorProfile {
    p.retry(
        RetryPolicy::default()
            .base_delay(Duration::from_millis(5))
            .max_delay(Duration::from_millis(20)),
    )
}

fn bundle(base: &str, ids: &[&str], next: Option<&str>, total: Option<u32>) -> Value {
    let entries: Vec<Value> = ids
        .iter()
        .map(|id| json!({"fullUrl": format!("{base}/Observation/{id}"), "resource": {"resourceType": "Observation", "id": id, "status": "final", "code": {"text": "x"}}, "search": {"mode": "match"}}))
        .collect();
    let mut b = json!({"resourceType": "Bundle", "type": "searchset", "entry": entries});
    if let Some(n) = next {
        b["link"] = json!([{"relation": "next", "url": n}]);
    }
    if let Some(t) = total {
        b["total"] = json!(t);
    }
    b
}

fn ids(v: &[ehrkit_fhir_client::fhir_model::Resource]) -> Vec<String> {
    v.iter().map(|r| r.id().unwrap_or("?").to_owned()).collect()
}

#[tokio::test]
async fn post_search_sends_a_form_body_is_retried_and_pages_with_get() {
    let server = MockServer::start();
    let page2 = server.url("/Observation?page=2");
    let base = server.base().to_owned();
    let first = Response::new(200).fhir_json(&bundle(&base, &["a", "b"], Some(&page2), None));
    server.sequence(
        "POST",
        "/Observation/_search",
        [Response::new(503).header("Retry-After", "0"), first],
    );
    let base2 = base.clone();
    server.on("GET", "/Observation", move |r: &Request| {
        assert_eq!(r.query_param("page").as_deref(), Some("2"));
        Response::new(200).fhir_json(&bundle(&base2, &["c"], None, None))
    });
    let client = FhirClient::builder(server.base())
        .profile(fast(VendorProfile::generic()))
        .search_method(SearchMethod::Post)
        .build()
        .unwrap();
    let params = SearchParams::new()
        .patient("p1")
        .token("code", Some("http://loinc.org"), "8480-6")
        .param("date", "ge2024-01-01T00:00:00+05:00");
    let found = client.search_all("Observation", &params).await.unwrap();
    assert_eq!(ids(&found), ["a", "b", "c"]);

    let posts = server.requests_to("/Observation/_search");
    assert_eq!(
        posts.len(),
        2,
        "the 503 was retried: a search changes nothing"
    );
    for p in &posts {
        assert_eq!(p.method, "POST");
        assert_eq!(
            p.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(p.query(), None, "criteria travel in the body only");
        let body = std::str::from_utf8(&p.body).unwrap();
        assert_eq!(SearchParams::parse(body), params);
    }
    assert_eq!(client.stats().retries, 1);
}

#[tokio::test]
async fn post_above_a_length_keeps_short_searches_on_get() {
    let server = MockServer::start();
    let base = server.base().to_owned();
    let b1 = base.clone();
    server.on("GET", "/Observation", move |_: &Request| {
        Response::new(200).fhir_json(&bundle(&b1, &["short"], None, None))
    });
    server.on("POST", "/Observation/_search", move |_: &Request| {
        Response::new(200).fhir_json(&bundle(&base, &["long"], None, None))
    });
    let client = FhirClient::builder(server.base())
        .search_method(SearchMethod::PostAbove(1024))
        .build()
        .unwrap();
    let short = SearchParams::new().patient("p1");
    let codes: Vec<String> = (0..200)
        .map(|i| format!("http://loinc.org|{i}-1"))
        .collect();
    let long = SearchParams::new()
        .patient("p1")
        .param("code", codes.join(","));
    assert_eq!(
        ids(&client.search_all("Observation", &short).await.unwrap()),
        ["short"]
    );
    assert_eq!(
        ids(&client.search_all("Observation", &long).await.unwrap()),
        ["long"]
    );
}

/// Epic applies post-filter parameters after paging natively, so a page can come back empty
/// (or short) with a `next` link, and `total` counts the natively matched set. The stream must
/// keep following `next` and must not stop on `total`.
#[tokio::test]
async fn empty_post_filtered_pages_do_not_end_the_search() {
    let server = MockServer::start();
    let base = server.base().to_owned();
    let (p2, p3) = (
        server.url("/Observation?page=2"),
        server.url("/Observation?page=3"),
    );
    server.on("GET", "/Observation", move |r: &Request| {
        let b = match r.query_param("page").as_deref() {
            None => bundle(&base, &[], Some(&p2), Some(300)),
            Some("2") => bundle(&base, &["x1"], Some(&p3), Some(300)),
            _ => bundle(&base, &[], None, Some(300)),
        };
        Response::new(200).fhir_json(&b)
    });
    let client = FhirClient::new(server.base(), fast(VendorProfile::epic())).unwrap();
    let q = SearchParams::new()
        .patient("p1")
        .param("category", "laboratory")
        .param("code", "http://loinc.org|2345-7");
    let found = client.search_all("Observation", &q).await.unwrap();
    assert_eq!(ids(&found), ["x1"]);
    assert_eq!(client.stats().pages, 3);
}

#[test]
fn counters_go_to_the_metrics_facade_labelled_by_vendor_and_status() {
    let server = MockServer::start();
    let base = server.base().to_owned();
    server.sequence(
        "GET",
        "/Observation",
        [
            Response::new(429).header("Retry-After", "0"),
            Response::new(200).fhir_json(&bundle(&base, &["o1", "o2"], None, None)),
        ],
    );
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stats = metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let client =
                FhirClient::new(server.base(), fast(VendorProfile::oracle_health())).unwrap();
            let q = SearchParams::new().patient("12724066");
            let found = client.search_all("Observation", &q).await.unwrap();
            assert_eq!(ids(&found), ["o1", "o2"]);
            client.stats()
        })
    });
    let mut seen = std::collections::BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        if let DebugValue::Counter(n) = value {
            seen.insert(format!("{}{{{}}}", key.name(), labels.join(",")), n);
        }
    }
    let get = |k: &str| seen.get(k).copied().unwrap_or(0);
    let v = "vendor=oracle_health";
    assert_eq!(
        get(&format!("ehrkit_fhir_client_requests_total{{{v}}}")),
        2,
        "{seen:?}"
    );
    assert_eq!(get(&format!("ehrkit_fhir_client_retries_total{{{v}}}")), 1);
    assert_eq!(
        get(&format!("ehrkit_fhir_client_throttled_total{{{v}}}")),
        1
    );
    assert_eq!(
        get(&format!(
            "ehrkit_fhir_client_errors_total{{{v},status=429}}"
        )),
        1
    );
    assert_eq!(get(&format!("ehrkit_fhir_client_pages_total{{{v}}}")), 1);
    assert_eq!(
        get(&format!("ehrkit_fhir_client_resources_total{{{v}}}")),
        2
    );
    // The plain counters say the same.
    assert_eq!((stats.requests, stats.retries, stats.throttled), (2, 1, 1));
}
