//! proptest: discovery and token-response JSON parse → serialize → parse round-trip, with known
//! fields of the right or wrong type and unknown fields mixed in.

use ehrkit_smart_auth::discovery::SmartConfiguration;
use ehrkit_smart_auth::TokenResponse;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u32>().prop_map(|n| json!(n)),
        any::<i32>().prop_map(|n| json!(n)),
        "[ -~]{0,16}".prop_map(Value::String),
        proptest::collection::vec("[a-z/*.]{0,10}", 0..4).prop_map(|v| json!(v)),
    ]
}

const DISCOVERY_FIELDS: &[&str] = &[
    "issuer",
    "jwks_uri",
    "authorization_endpoint",
    "token_endpoint",
    "grant_types_supported",
    "capabilities",
    "code_challenge_methods_supported",
    "authorization_response_iss_parameter_supported",
    "scopes_supported",
    "x-unknown",
];

const TOKEN_FIELDS: &[&str] = &[
    "expires_in",
    "scope",
    "refresh_token",
    "id_token",
    "patient",
    "encounter",
    "fhirContext",
    "need_patient_banner",
    "smart_style_url",
    "tenant",
    "intent",
    "x-unknown",
];

fn object(fields: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::vec((proptest::sample::select(fields), leaf()), 0..10)
        .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

proptest! {
    #[test]
    fn discovery_round_trip(obj in object(DISCOVERY_FIELDS)) {
        let bytes = Value::Object(obj.clone()).to_string();
        let (c, _) = SmartConfiguration::parse(bytes.as_bytes()).unwrap();
        let (c2, _) = SmartConfiguration::parse(c.to_json().to_string().as_bytes()).unwrap();
        prop_assert_eq!(&c2, &c);
        // Lossless: every member comes back (wrongly typed ones through `extra`).
        prop_assert_eq!(c.to_json(), Value::Object(obj));
    }

    #[test]
    fn token_round_trip(obj in object(TOKEN_FIELDS), at in "[!-~]{1,40}", tt in "(bearer|Bearer|BEARER|DPoP|mac)") {
        let mut obj = obj;
        obj.insert("access_token".into(), json!(format!("AT-{}", at)));
        obj.insert("token_type".into(), json!(tt));
        let t = TokenResponse::parse(Value::Object(obj.clone()).to_string().as_bytes()).unwrap();
        let t2 = TokenResponse::parse(t.to_json().to_string().as_bytes()).unwrap();
        prop_assert_eq!(&t2, &t);
        prop_assert_eq!(t.to_json(), Value::Object(obj));
        let dbg = format!("{:?}", t);
        let needle = format!("AT-{}", at);
        prop_assert!(!dbg.contains(&needle));
    }
}
