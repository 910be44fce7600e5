//! smart-auth's Backend Services token store as the client's `TokenProvider`: the token goes
//! out as a bearer, a 401 renews it once, concurrent 401s share one renewal.
#![cfg(feature = "smart-auth")]

use std::sync::Arc;

use ehrkit_fhir_client::smart::smart_auth::{
    Algorithm, BackendServices, Client, ClientAuth, HttpClient, PrivateKeyJwt, SigningKey,
    TokenStore,
};
use ehrkit_fhir_client::smart::BackendServicesTokens;
use ehrkit_fhir_client::{FhirClient, SearchParams, VendorProfile};
use ehrkit_testkit::http::{MockServer, Request, Response};
use ehrkit_testkit::keys;
use serde_json::json;

fn token(value: &str) -> Response {
    Response::new(200).json(&json!({"access_token": value, "token_type": "Bearer", "expires_in": 300, "scope": "system/Patient.rs"}))
}

#[tokio::test]
async fn a_401_renews_the_store_token_once_for_concurrent_requests() {
    let auth = MockServer::start();
    auth.sequence("POST", "/token", [token("t1"), token("t2"), token("t3")]);
    let fhir = MockServer::start();
    fhir.on("GET", "/Patient/*", |r: &Request| match r.bearer() {
        Some("t2") => Response::new(200).fhir_json(
            &json!({"resourceType": "Patient", "id": r.path().rsplit('/').next().unwrap()}),
        ),
        _ => Response::new(401),
    });
    let services = BackendServices::with_token_endpoint(
        HttpClient::new().unwrap(),
        auth.url("/token").parse().unwrap(),
        Client::new(
            "fhir-client-test",
            ClientAuth::PrivateKeyJwt(PrivateKeyJwt::new(
                SigningKey::from_pem(keys::EC384_PKCS8.pem(), Algorithm::ES384, None).unwrap(),
            )),
        ),
        "system/Patient.rs".parse().unwrap(),
        Arc::new(TokenStore::default()),
    );
    let client = FhirClient::builder(fhir.base())
        .profile(VendorProfile::generic())
        .tokens(BackendServicesTokens::new(services))
        .build()
        .unwrap();
    let calls = (0..6).map(|i| {
        let c = client.clone();
        async move {
            c.read_resource("Patient", &format!("p{i}"), &SearchParams::new())
                .await
        }
    });
    for r in futures_util::future::join_all(calls).await {
        r.unwrap();
    }
    // One initial token, one renewal shared by every 401.
    assert_eq!(auth.hits("POST", "/token"), 2);
    assert!(fhir
        .requests()
        .iter()
        .all(|r| matches!(r.bearer(), Some("t1" | "t2"))));
    assert!(!format!("{client:?}").contains("t2"));
}

#[tokio::test]
async fn a_late_401_for_the_old_token_does_not_renew_again() {
    let auth = MockServer::start();
    auth.sequence("POST", "/token", [token("t1"), token("t2"), token("t3")]);
    let services = BackendServices::with_token_endpoint(
        HttpClient::new().unwrap(),
        auth.url("/token").parse().unwrap(),
        Client::new(
            "fhir-client-test",
            ClientAuth::PrivateKeyJwt(PrivateKeyJwt::new(
                SigningKey::from_pem(keys::EC384_PKCS8.pem(), Algorithm::ES384, None).unwrap(),
            )),
        ),
        "system/Patient.rs".parse().unwrap(),
        Arc::new(TokenStore::default()),
    );
    let tokens = BackendServicesTokens::new(services);
    use ehrkit_fhir_client::TokenProvider;
    // Two requests went out with t1; both come back 401, one after the other.
    assert_eq!(tokens.token().await.unwrap().as_deref(), Some("t1"));
    assert_eq!(tokens.token().await.unwrap().as_deref(), Some("t1"));
    assert_eq!(
        tokens.refresh(Some("t1")).await.unwrap().as_deref(),
        Some("t2")
    );
    // The second 401 was also for t1: the store already holds a newer token.
    assert_eq!(
        tokens.refresh(Some("t1")).await.unwrap().as_deref(),
        Some("t2")
    );
    assert_eq!(auth.hits("POST", "/token"), 2);
}
