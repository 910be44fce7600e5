//! Paged search of 10,000 Observations (100 pages of 100) from a loopback mock FHIR server
//! (ehrkit-testkit's `MockServer`), measured three ways in one run:
//!
//! * `raw_http`: the same 100 GET round trips with a plain HTTP client (smart-auth's
//!   `HttpClient` over reqwest), bodies discarded;
//! * `raw_http_typed`: the round trips plus `fhir_model::from_slice::<Bundle>` of each page
//!   (the floor for any typed client);
//! * `fhir_client_stream`: `FhirClient::search` read entry by entry (planning, request ids,
//!   the retry/throttle machinery, paging state, entries moved out as typed resources);
//! * `fhir_client_collect`: `FhirClient::search_all`, which keeps all 10,000 resources.
//!
//! The goal of issue 14: `fhir_client_stream` within 10 % of `raw_http_typed`.
//!
//! Run: `cargo bench --bench fhir_client --features reqwest`
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ehrkit::fhir_client::fhir_model::{self, Bundle};
use ehrkit::fhir_client::{FhirClient, SearchParams, VendorProfile};
use ehrkit::smart_auth::{http, HttpClient};
use ehrkit_testkit::http::{MockServer, Request, Response};

const PAGES: usize = 100;
const PER_PAGE: usize = 100;

fn observation(i: usize) -> serde_json::Value {
    serde_json::json!({
        "resourceType": "Observation",
        "id": format!("obs-{i}"),
        "meta": {"versionId": "1", "lastUpdated": "2024-05-01T10:00:00Z"},
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "Vital Signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}], "text": "Heart rate"},
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": "2024-05-01T09:30:00Z",
        "valueQuantity": {"value": 60 + (i % 40), "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"}
    })
}

fn pages(base: &str) -> Vec<String> {
    (0..PAGES)
        .map(|p| {
            let entries: Vec<serde_json::Value> = (0..PER_PAGE)
                .map(|i| {
                    let n = p * PER_PAGE + i;
                    serde_json::json!({"fullUrl": format!("{base}/Observation/obs-{n}"), "resource": observation(n), "search": {"mode": "match"}})
                })
                .collect();
            let mut b = serde_json::json!({"resourceType": "Bundle", "type": "searchset", "total": PAGES * PER_PAGE, "entry": entries});
            if p + 1 < PAGES {
                b["link"] = serde_json::json!([{"relation": "next", "url": format!("{base}/Observation?patient=example&page={}", p + 1)}]);
            }
            b.to_string()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let server = MockServer::start();
    let base = server.base().trim_end_matches('/').to_owned();
    let bodies = Arc::new(pages(&base));
    let bytes: usize = bodies.iter().map(|b| b.len()).sum();
    let served = bodies.clone();
    server.on("GET", "/Observation", move |r: &Request| {
        let p: usize = r
            .query_param("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        Response::new(200)
            .header("content-type", "application/fhir+json")
            .body(served[p.min(PAGES - 1)].clone())
    });
    let urls: Vec<String> = (0..PAGES)
        .map(|p| {
            if p == 0 {
                format!("{base}/Observation?patient=example")
            } else {
                format!("{base}/Observation?patient=example&page={p}")
            }
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let raw = HttpClient::new().expect("http client");
    let client = FhirClient::new(server.base(), VendorProfile::generic()).expect("client");

    let mut g = c.benchmark_group("fhir_client_10k_observations");
    g.sample_size(10);
    g.throughput(Throughput::Elements((PAGES * PER_PAGE) as u64));
    eprintln!(
        "{PAGES} pages, {} resources, {bytes} bytes per search",
        PAGES * PER_PAGE
    );

    g.bench_function("raw_http", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut n = 0;
                for u in &urls {
                    let req = http::Request::get(u.as_str())
                        .header("accept", "application/fhir+json")
                        .body(Vec::new())
                        .expect("request");
                    n += raw.execute(&req).await.expect("page").body().len();
                }
                n
            })
        })
    });
    g.bench_function("raw_http_typed", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut n = 0;
                for u in &urls {
                    let req = http::Request::get(u.as_str())
                        .header("accept", "application/fhir+json")
                        .body(Vec::new())
                        .expect("request");
                    let resp = raw.execute(&req).await.expect("page");
                    let bundle: Bundle =
                        fhir_model::from_slice(resp.body().as_ref()).expect("bundle");
                    n += bundle.entry.len();
                }
                assert_eq!(n, PAGES * PER_PAGE);
                n
            })
        })
    });
    g.bench_function("fhir_client_stream", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut s = client.search("Observation", &SearchParams::new().patient("example"));
                let mut n = 0;
                while let Some(e) = s.next_entry().await {
                    n += usize::from(e.expect("entry").resource.id().is_some());
                }
                assert_eq!(n, PAGES * PER_PAGE);
                n
            })
        })
    });
    g.bench_function("fhir_client_collect", |b| {
        b.iter(|| {
            rt.block_on(async {
                let all = client
                    .search_all("Observation", &SearchParams::new().patient("example"))
                    .await
                    .expect("search");
                assert_eq!(all.len(), PAGES * PER_PAGE);
                all.len()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
