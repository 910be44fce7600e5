//! The endpoints registry built from its TOML configuration, used against testkit's loopback
//! `MockServer`: each endpoint gets its vendor's plan, its token and its search method.
#![cfg(feature = "reqwest")]

use ehrkit_fhir_client::{Endpoints, EndpointsConfig, Error, SearchParams};
use ehrkit_testkit::http::{MockServer, Request, Response};
use serde_json::json;

fn patients(ids: &[&str]) -> serde_json::Value {
    let entries: Vec<_> = ids
        .iter()
        .map(|id| json!({"resource": {"resourceType": "Patient", "id": id}, "search": {"mode": "match"}}))
        .collect();
    json!({"resourceType": "Bundle", "type": "searchset", "entry": entries})
}

#[tokio::test]
async fn a_configured_registry_applies_vendor_token_and_search_method_per_endpoint() {
    let epic = MockServer::start();
    let athena = MockServer::start();
    epic.on("GET", "/Patient", |r: &Request| {
        if r.header("authorization") != Some("Bearer epic-secret-1") {
            return Response::new(401);
        }
        Response::new(200).fhir_json(&patients(&["e1"]))
    });
    athena.on("POST", "/Patient/_search", |r: &Request| {
        let body = SearchParams::parse(std::str::from_utf8(&r.body).unwrap());
        assert_eq!(
            body.get("ah-practice"),
            Some("Organization/a-1.Practice-195900")
        );
        assert!(r.header("authorization").is_none());
        Response::new(200).fhir_json(&patients(&["a-195900.E-1"]))
    });
    // SAFETY of the test: a variable name no other test uses.
    std::env::set_var("EHRKIT_TEST_EPIC_TOKEN_CFG", "epic-secret-1");
    let toml = format!(
        r#"
[[endpoint]]
name = "epic-main"
base = "{}"
vendor = "epic"
token_env = "EHRKIT_TEST_EPIC_TOKEN_CFG"
requests_per_second = 50

[[endpoint]]
name = "athena"
base = "{}"
vendor = "athenahealth"
practice = "195900"
search_method = "post"
max_concurrency = 2
"#,
        epic.base(),
        athena.base()
    );
    let reg = Endpoints::from_toml(&toml).unwrap();
    assert_eq!(reg.names().collect::<Vec<_>>(), ["athena", "epic-main"]);
    let results = reg
        .search_all("Patient", &SearchParams::new().param("family", "Chalmers"))
        .await;
    let got: Vec<(String, Vec<String>)> = results
        .into_iter()
        .map(|t| {
            let ids = t
                .value
                .unwrap()
                .iter()
                .map(|r| r.id().unwrap().to_owned())
                .collect();
            (t.source, ids)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("athena".to_owned(), vec!["a-195900.E-1".to_owned()]),
            ("epic-main".to_owned(), vec!["e1".to_owned()]),
        ]
    );
    assert_eq!(athena.hits("POST", "/Patient/_search"), 1);
}

#[test]
fn bad_configurations_are_refused_naming_the_endpoint_and_field_never_the_secret() {
    std::env::set_var("EHRKIT_TEST_EMPTY_TOKEN_CFG", " ");
    let cases = [
        (
            "[[endpoint]]\nname = \"a\"\nbase = \"https://x.example/fhir\"\nvendor = \"nope\"\n",
            "endpoint 1 (`a`): vendor",
        ),
        (
            "[[endpoint]]\nname = \"a\"\nbase = \"https://x.example/fhir\"\n[[endpoint]]\nname = \"a\"\nbase = \"https://y.example/fhir\"\n",
            "endpoint 2 (`a`): name",
        ),
        (
            "[[endpoint]]\nname = \"a\"\nbase = \"https://x.example/fhir\"\ntoken_env = \"EHRKIT_TEST_UNSET_VAR_CFG\"\n",
            "token_env: variable EHRKIT_TEST_UNSET_VAR_CFG is unset",
        ),
        (
            "[[endpoint]]\nname = \"a\"\nbase = \"https://x.example/fhir\"\ntoken_env = \"EHRKIT_TEST_EMPTY_TOKEN_CFG\"\n",
            "token_env",
        ),
        (
            "[[endpoint]]\nname = \"a\"\nbase = \"ftp://x.example/fhir\"\n",
            "endpoint 1 (`a`): base",
        ),
        (
            "[[endpoint]]\nname = \"a\"\nbase = \"https://x.example/fhir\"\nsearch_method = \"post-above:x\"\n",
            "search_method",
        ),
        (
            "[[endpoint]]\nname = \"a\"\nbase = \"https://x.example/fhir\"\nrequests_per_second = 0\n",
            "requests_per_second",
        ),
        (
            "[[endpoint]]\nname = \"a\"\nbase = \"https://x.example/fhir\"\nvendor = \"epic\"\npractice = \"1\"\n",
            "practice",
        ),
        (
            "[[endpoint]]\nname = \"a\"\nbase = \"https://x.example/fhir\"\ntoken = \"inline-secret\"\n",
            "line 4, column 1",
        ),
        ("[[endpoint]]\nname = 3\n", "line 2"),
    ];
    for (text, want) in cases {
        let err = Endpoints::from_toml(text).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(want), "{msg:?} should contain {want:?}");
        assert!(!msg.contains("inline-secret"), "{msg}");
    }
    assert_eq!(
        EndpointsConfig::from_toml("").unwrap().endpoints.len(),
        0,
        "an empty file is an empty registry"
    );
}

/// A rate too small for the limiter's interval to be a `Duration` (a typo such as
/// `requests_per_second = 1e-300`) must not panic when the client is built: a file or a
/// profile value is input like any other.
#[test]
fn a_vanishing_request_rate_does_not_panic() {
    use ehrkit_fhir_client::{Endpoints, FhirClient, VendorProfile};
    let profile = VendorProfile::generic().requests_per_second(Some(1e-300));
    assert!(FhirClient::builder("https://x.example/fhir")
        .profile(profile)
        .build()
        .is_ok());
    let toml = "[[endpoint]]\nname = \"a\"\nbase = \"https://x.example/fhir\"\nrequests_per_second = 1e-300\n";
    // Refused or accepted, but never a panic.
    let _ = Endpoints::from_toml(toml);
}

/// The same for a timeout too long for a `Duration` (`timeout_seconds = 1e300`).
#[test]
fn an_endless_timeout_does_not_panic() {
    use ehrkit_fhir_client::Endpoints;
    let toml =
        "[[endpoint]]\nname = \"a\"\nbase = \"https://x.example/fhir\"\ntimeout_seconds = 1e300\n";
    let err = Endpoints::from_toml(toml).unwrap_err().to_string();
    assert!(err.contains("timeout_seconds"), "{err}");
}
