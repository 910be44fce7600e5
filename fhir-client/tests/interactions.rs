//! Writes, transactions, `$everything`, history, capability discovery and the multi-EHR
//! registry against testkit's loopback `MockServer`.
#![cfg(feature = "reqwest")]

use std::time::Duration;

use ehrkit_fhir_client::fhir_model::{self, Bundle, Resource};
use ehrkit_fhir_client::{Endpoints, Error, FhirClient, RetryPolicy, SearchParams, VendorProfile};
use ehrkit_testkit::http::{MockServer, Request, Response};
use serde_json::json;

fn fast() -> VendorProfile {
    VendorProfile::generic().retry(
        RetryPolicy::default()
            .base_delay(Duration::from_millis(5))
            .max_delay(Duration::from_millis(20)),
    )
}

fn patient(id: Option<&str>) -> Resource {
    let json = match id {
        Some(id) => {
            format!(r#"{{"resourceType":"Patient","id":"{id}","name":[{{"family":"Chalmers"}}]}}"#)
        }
        None => r#"{"resourceType":"Patient","name":[{"family":"Chalmers"}]}"#.to_owned(),
    };
    fhir_model::from_slice(json.as_bytes()).unwrap()
}

#[tokio::test]
async fn create_update_and_delete_send_the_resource_and_read_back_location_and_etag() {
    let server = MockServer::start();
    let loc = server.url("/Patient/new1/_history/1");
    server.on("POST", "/Patient", move |r: &Request| {
        assert_eq!(r.header("content-type"), Some("application/fhir+json"));
        let mut body = r.json().unwrap();
        body["id"] = json!("new1");
        Response::new(201)
            .header("Location", &loc)
            .header("ETag", "W/\"1\"")
            .fhir_json(&body)
    });
    server.on("PUT", "/Patient/p1", |r: &Request| match r.header("if-match") {
        Some("W/\"1\"") => Response::new(200).header("ETag", "W/\"2\""),
        _ => Response::new(412).fhir_json(&json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "conflict"}]})),
    });
    server.respond("DELETE", "/Patient/p1", Response::new(204));
    let client = FhirClient::new(server.base(), fast()).unwrap();

    let created = client.create(&patient(None), None).await.unwrap();
    assert_eq!(created.status, 201);
    assert_eq!(created.etag.as_deref(), Some("W/\"1\""));
    assert!(created
        .location
        .unwrap()
        .ends_with("/Patient/new1/_history/1"));
    assert_eq!(created.resource.unwrap().id(), Some("new1"));
    assert_eq!(
        server.requests()[0].json().unwrap()["name"][0]["family"],
        "Chalmers"
    );

    let updated = client
        .update(&patient(Some("p1")), Some("W/\"1\""))
        .await
        .unwrap();
    assert_eq!(
        (updated.status, updated.etag.as_deref()),
        (200, Some("W/\"2\""))
    );
    assert!(updated.resource.is_none());
    let stale = client
        .update(&patient(Some("p1")), Some("W/\"0\""))
        .await
        .unwrap_err();
    assert_eq!(stale.status(), Some(412));
    assert!(matches!(
        client.update(&patient(None), None).await.unwrap_err(),
        Error::InvalidRequest { .. }
    ));
    assert_eq!(client.delete("Patient", "p1").await.unwrap().status, 204);
}

#[tokio::test]
async fn a_plain_post_is_not_retried_a_conditional_one_is() {
    let server = MockServer::start();
    server.sequence("POST", "/Patient", [Response::new(503), Response::new(201)]);
    let client = FhirClient::new(server.base(), fast()).unwrap();
    let err = client.create(&patient(None), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::RetriesExhausted {
                attempts: 1,
                status: 503,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.hits("POST", "/Patient"), 1);

    let server = MockServer::start();
    server.sequence("POST", "/Patient", [Response::new(503), Response::new(200)]);
    let client = FhirClient::new(server.base(), fast()).unwrap();
    let cond = SearchParams::new().token("identifier", Some("urn:mrn"), "42");
    let ok = client.create(&patient(None), Some(&cond)).await.unwrap();
    assert_eq!(ok.status, 200);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].header("if-none-exist"),
        Some("identifier=urn:mrn%7C42")
    );

    // Conditional update: PUT Type?criteria.
    server.respond("PUT", "/Patient", Response::new(201));
    assert_eq!(
        client
            .conditional_update(&patient(None), &cond)
            .await
            .unwrap()
            .status,
        201
    );
    assert_eq!(
        server
            .requests_to("/Patient")
            .last()
            .unwrap()
            .query_param("identifier")
            .as_deref(),
        Some("urn:mrn|42")
    );
}

#[tokio::test]
async fn a_transaction_bundle_is_posted_as_it_is() {
    let server = MockServer::start();
    server.on("POST", "/", |r: &Request| {
        let b = r.json().unwrap();
        assert_eq!(b["type"], "transaction");
        Response::new(200).fhir_json(&json!({"resourceType": "Bundle", "type": "transaction-response",
            "entry": [{"response": {"status": "201 Created", "location": "Patient/1/_history/1"}}]}))
    });
    let client = FhirClient::new(server.base(), fast()).unwrap();
    let tx = br#"{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a","resource":{"resourceType":"Patient","name":[{"family":"Everywoman"}]},"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:mrn|7"}}]}"#;
    let bundle: Bundle = fhir_model::from_slice(tx).unwrap();
    let resp = client.transaction(&bundle).await.unwrap();
    assert_eq!(resp.entry.len(), 1);
    // Byte for byte what fhir-model writes for the Bundle read from those bytes.
    assert_eq!(&server.requests()[0].body[..], &tx[..]);
}

#[tokio::test]
async fn everything_and_history_page_on() {
    let server = MockServer::start();
    let base = server.base().to_owned();
    server.on("GET", "/Patient/p1/$everything", move |r: &Request| {
        if r.query_param("page").is_some() {
            Response::new(200).fhir_json(&json!({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"resourceType": "Condition", "id": "c1"}}]}))
        } else {
            Response::new(200).fhir_json(&json!({"resourceType": "Bundle", "type": "searchset",
                "link": [{"relation": "next", "url": format!("{base}/Patient/p1/$everything?page=2")}],
                "entry": [{"resource": {"resourceType": "Patient", "id": "p1"}}]}))
        }
    });
    server.respond("GET", "/Patient/p1/_history", Response::new(200).fhir_json(&json!({"resourceType": "Bundle", "type": "history",
        "entry": [{"resource": {"resourceType": "Patient", "id": "p1", "meta": {"versionId": "2"}}}, {"resource": {"resourceType": "Patient", "id": "p1", "meta": {"versionId": "1"}}}]})));
    let client = FhirClient::new(server.base(), fast()).unwrap();
    let mut s = client.everything("p1", &SearchParams::new());
    let mut got = Vec::new();
    while let Some(e) = s.next_entry().await {
        got.push(e.unwrap().resource.resource_type().to_owned());
    }
    assert_eq!(got, ["Patient", "Condition"]);
    let mut h = client.history("Patient", Some("p1"), &SearchParams::new());
    let mut n = 0;
    while let Some(e) = h.next_entry().await {
        e.unwrap();
        n += 1;
    }
    assert_eq!(n, 2);
}

#[tokio::test]
async fn capability_statement_must_be_r4_and_smart_configuration_is_read() {
    let server = MockServer::start();
    server.respond("GET", "/metadata", Response::new(200).fhir_json(&json!({"resourceType": "CapabilityStatement", "status": "active", "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"], "date": "2024"})));
    server.respond(
        "GET",
        "/.well-known/smart-configuration",
        Response::new(200).json(&json!({"token_endpoint": "https://auth.example/token"})),
    );
    let client = FhirClient::new(server.base(), fast()).unwrap();
    let caps = client.capabilities().await.unwrap();
    assert_eq!(caps.fhir_version, "4.0.1");
    assert_eq!(caps.statement.resource_type(), "CapabilityStatement");
    let smart = client.smart_configuration().await.unwrap();
    assert!(
        matches!(smart.get("token_endpoint"), Some(fhir_model::json::Value::String(s)) if s == "https://auth.example/token")
    );

    let stu3 = MockServer::start();
    stu3.respond(
        "GET",
        "/metadata",
        Response::new(200)
            .fhir_json(&json!({"resourceType": "CapabilityStatement", "fhirVersion": "3.0.2"})),
    );
    let client = FhirClient::new(stu3.base(), fast()).unwrap();
    assert!(
        matches!(client.capabilities().await.unwrap_err(), Error::FhirVersion { ref found } if found == "3.0.2")
    );
}

#[tokio::test]
async fn veradigm_support_is_probed() {
    let server = MockServer::start();
    server.respond(
        "GET",
        "/Observation",
        Response::new(200).fhir_json(&json!({"resourceType": "Bundle", "type": "searchset"})),
    );
    server.respond("GET", "/Coverage", Response::new(400).fhir_json(&json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-supported", "diagnostics": "Resource not supported"}]})));
    let client = FhirClient::new(server.base(), VendorProfile::veradigm()).unwrap();
    assert!(client.supports("Observation").await.unwrap());
    assert!(!client.supports("Coverage").await.unwrap());
    assert!(!client.supports("Flag").await.unwrap()); // 404 from the mock
    assert_eq!(
        server.requests()[0].query_param("_count").as_deref(),
        Some("1")
    );
}

#[tokio::test]
async fn one_search_fans_out_to_several_ehrs_tagged_by_source() {
    let epic = MockServer::start();
    epic.on("GET", "/Observation", |r: &Request| match r.query_param("category").as_deref() {
        Some("laboratory") => Response::new(200).fhir_json(&json!({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"resourceType": "Observation", "id": "e1"}}]})),
        Some(_) => Response::new(200).fhir_json(&json!({"resourceType": "Bundle", "type": "searchset"})),
        None => Response::new(400),
    });
    let oracle = MockServer::start();
    oracle.respond("GET", "/Observation", Response::new(200).header("content-type", "application/json+fhir")
        .json(&json!({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"resourceType": "Observation", "id": "o1"}}]})));
    let down = MockServer::start();
    down.respond("GET", "/Observation", Response::new(500));
    let registry = Endpoints::new()
        .with(
            "epic",
            FhirClient::new(epic.base(), VendorProfile::epic()).unwrap(),
        )
        .with(
            "oracle",
            FhirClient::new(oracle.base(), VendorProfile::oracle_health()).unwrap(),
        )
        .with("zz-down", FhirClient::new(down.base(), fast()).unwrap());
    let out = registry
        .search_all("Observation", &SearchParams::new().patient("X"))
        .await;
    let summary: Vec<(String, Result<Vec<String>, u16>)> = out
        .into_iter()
        .map(|t| {
            (
                t.source,
                t.value
                    .map(|v| v.iter().map(|r| r.id().unwrap().to_owned()).collect())
                    .map_err(|e| e.status().unwrap_or(0)),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("epic".to_owned(), Ok(vec!["e1".to_owned()])),
            ("oracle".to_owned(), Ok(vec!["o1".to_owned()])),
            ("zz-down".to_owned(), Err(500)),
        ]
    );
    assert_eq!(
        oracle.requests()[0].query_param("_count").as_deref(),
        Some("50")
    );
    assert_eq!(
        registry.names().collect::<Vec<_>>(),
        ["epic", "oracle", "zz-down"]
    );
}
