//! Edge cases from real SMART servers and from the specifications (SMART App Launch 2,
//! RFC 6749, RFC 7636).

use ehrkit_smart_auth::{s256_challenge, PkceVerifier};
#[cfg(feature = "store")]
use ehrkit_smart_auth::{Renewal, StoreKey, TokenStore};
use ehrkit_smart_auth::{Scope, ScopeSet};
use ehrkit_smart_auth::{TokenResponse, TokenType};
#[cfg(feature = "store")]
use std::time::Duration;

fn strs(s: &ScopeSet) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

#[test]
fn scope_wildcards_and_queries_round_trip() {
    for s in [
        "patient/*.*",
        "user/Observation.rs?code=http://loinc.org|1234-5&category=x",
        "launch/encounter",
        "system/*.rs",
        "user/*.cruds",
    ] {
        let sc: Scope = s.parse().unwrap();
        assert_eq!(sc.to_string(), s);
    }
    let all: ScopeSet = "patient/*.*".parse().unwrap();
    assert!(all.equivalent(&"patient/*.cruds".parse().unwrap()));
    assert_eq!(
        Scope::parse("launch/encounter").unwrap(),
        Scope::LaunchContext("encounter".into())
    );
}

#[test]
fn v1_read_equals_v2_rs_and_covers_queries() {
    let v1: ScopeSet = "patient/*.read".parse().unwrap();
    let v2: ScopeSet = "patient/*.rs".parse().unwrap();
    assert!(v1.equivalent(&v2));
    let req: ScopeSet = "user/Observation.rs?code=http://loinc.org|1234-5&category=x"
        .parse()
        .unwrap();
    assert!(req
        .difference(&"user/*.read".parse().unwrap())
        .all_granted());
    // patient/ does not cover user/.
    assert!(!req.difference(&v1).all_granted());
}

#[test]
fn query_restrictions_compare_as_parameter_sets() {
    let req: ScopeSet = "patient/Observation.rs?category=laboratory&code=http://loinc.org|1234-5"
        .parse()
        .unwrap();
    // Same restriction, other parameter order.
    let granted: ScopeSet =
        "patient/Observation.rs?code=http://loinc.org|1234-5&category=laboratory"
            .parse()
            .unwrap();
    assert!(req.difference(&granted).all_granted());
    // A broader grant (fewer restrictions) covers the narrower request, not the reverse.
    let broader: ScopeSet = "patient/Observation.rs?category=laboratory"
        .parse()
        .unwrap();
    assert!(req.difference(&broader).all_granted());
    assert!(!broader.difference(&req).all_granted());
    let other: ScopeSet = "patient/Observation.rs?category=vital-signs"
        .parse()
        .unwrap();
    assert!(!req.difference(&other).all_granted());
}

#[test]
fn unknown_scopes_whitespace_and_case() {
    let s: ScopeSet = "  openid \t fhirUser   Epic.Custom.Scope  OPENID launch/encounter  "
        .parse()
        .unwrap();
    assert_eq!(
        strs(&s),
        [
            "openid",
            "fhirUser",
            "Epic.Custom.Scope",
            "OPENID",
            "launch/encounter"
        ]
    );
    // Scopes are case-sensitive: OPENID is not openid, Patient/ is not patient/.
    assert_eq!(
        Scope::parse("OPENID").unwrap(),
        Scope::Other("OPENID".into())
    );
    assert!(!Scope::parse("Patient/Observation.read").unwrap().is_v1());
    assert!(Scope::parse("patient/Observation.READ").is_err());
}

#[test]
fn expires_in_variants() {
    let t = |e: &str| {
        TokenResponse::parse(
            format!(r#"{{"access_token":"a","token_type":"bearer","expires_in":{e}}}"#).as_bytes(),
        )
        .unwrap()
        .expires_in
    };
    assert_eq!(t("3600"), Some(3600));
    assert_eq!(t("\"3600\""), Some(3600));
    assert_eq!(t("\" 3600 \""), Some(3600));
    assert_eq!(t("3600.0"), Some(3600));
    // Quoted with a fraction (seen from token services that format every number as a float).
    assert_eq!(t("\"3600.0\""), Some(3600));
    assert_eq!(t("\" 299.9 \""), Some(299));
    assert_eq!(t("\"-5.0\""), None);
    assert_eq!(t("\"NaN\""), None);
    assert_eq!(t("\"inf\""), None);
    assert_eq!(t("-5"), None);
    assert_eq!(t("\"soon\""), None);
    assert_eq!(t("null"), None);
}

#[test]
fn token_type_case_and_missing_scope() {
    let t = TokenResponse::parse(br#"{"access_token":"a","token_type":"bearer"}"#).unwrap();
    assert_eq!(t.token_type(), TokenType::Bearer);
    let requested: ScopeSet = "system/*.rs".parse().unwrap();
    assert_eq!(t.effective_scopes(&requested).unwrap(), requested);
}

#[test]
fn empty_refresh_token_is_no_refresh_token() {
    let t = TokenResponse::parse(
        br#"{"access_token":"a","token_type":"Bearer","refresh_token":"","id_token":""}"#,
    )
    .unwrap();
    assert!(t.refresh_token.is_none());
    assert!(t.id_token.is_none());
}

#[test]
fn pkce_rfc7636_appendix_b() {
    // RFC 7636 Appendix B test vector.
    assert_eq!(
        s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    let v = PkceVerifier::generate();
    let s = v.secret().expose();
    assert!((43..=128).contains(&s.len()));
    assert!(PkceVerifier::from_stored(&"a".repeat(42)).is_none());
    assert!(PkceVerifier::from_stored(&"a".repeat(129)).is_none());
    assert!(PkceVerifier::from_stored(&"a~.-_".repeat(10)).is_some());
    assert!(PkceVerifier::from_stored(&format!("{}+", "a".repeat(50))).is_none());
}

#[cfg(feature = "store")]
#[tokio::test]
async fn refresh_without_new_refresh_token_or_scope_keeps_old_ones() {
    let store = TokenStore::new(Duration::from_secs(60));
    let endpoint: url::Url = "https://ehr.example/token".parse().unwrap();
    let scopes: ScopeSet = "launch/patient patient/*.rs offline_access"
        .parse()
        .unwrap();
    let key = StoreKey::new(&endpoint, "app", &scopes, Some("session-1"));
    // First grant (authorization code), already expired (expires_in 0).
    store.insert(
        &key,
        TokenResponse::parse(
            br#"{"access_token":"a1","token_type":"Bearer","expires_in":0,"refresh_token":"r1",
                "scope":"launch/patient patient/*.rs offline_access","patient":"p-1"}"#,
        )
        .unwrap(),
    );
    let t = store
        .get(&key, |r| async move {
            match r {
                Renewal::Refresh(rt) => assert_eq!(rt.expose(), "r1"),
                Renewal::Initial => panic!("expected a refresh"),
            }
            TokenResponse::parse(
                br#"{"access_token":"a2","token_type":"bearer","expires_in":"3600"}"#,
            )
        })
        .await
        .unwrap();
    assert_eq!(t.access_token().expose(), "a2");
    assert_eq!(
        t.response
            .refresh_token
            .as_ref()
            .map(|s| s.expose().to_owned()),
        Some("r1".to_owned())
    );
    // RFC 6749 §6/§5.1: no scope in the refresh response means the original scope.
    assert_eq!(
        t.response.scope.as_deref(),
        Some("launch/patient patient/*.rs offline_access")
    );
    // The launch context of the grant is not lost by a refresh response that omits it.
    assert_eq!(t.response.patient.as_deref(), Some("p-1"));
}

#[test]
fn capability_statement_oauth_uris_with_value_url() {
    use ehrkit_smart_auth::discovery::SmartConfiguration;
    let body = br#"{"resourceType":"CapabilityStatement","rest":[{"mode":"server","security":{
        "extension":[{"url":"http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
        "extension":[{"url":"token","valueUrl":"https://ehr.example/oauth/token"},
                     {"url":"authorize","valueUri":"https://ehr.example/oauth/authorize"}]}]}}]}"#;
    let c = SmartConfiguration::from_capability_statement(body).unwrap();
    assert_eq!(
        c.token_endpoint.as_deref(),
        Some("https://ehr.example/oauth/token")
    );
    assert_eq!(
        c.authorization_endpoint.as_deref(),
        Some("https://ehr.example/oauth/authorize")
    );
}

#[test]
fn callback_duplicate_state_or_code_is_refused() {
    use ehrkit_smart_auth::discovery::{Discovered, SmartConfiguration};
    use ehrkit_smart_auth::launch;
    use ehrkit_smart_auth::Client;
    use ehrkit_smart_auth::ClientAuth;
    let (config, _) = SmartConfiguration::parse(
        br#"{"authorization_endpoint":"https://ehr.example/auth","token_endpoint":"https://ehr.example/token",
            "grant_types_supported":["authorization_code"],"capabilities":["launch-standalone"],
            "code_challenge_methods_supported":["S256"]}"#,
    )
    .unwrap();
    let d = Discovered::from_config("https://ehr.example/fhir", config).unwrap();
    let client = Client::new("app", ClientAuth::None);
    let scopes: ScopeSet = "openid fhirUser patient/*.rs".parse().unwrap();
    let req = launch::standalone(&client, &d, "https://app.example/cb", &scopes).unwrap();
    let state = req
        .url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let pending = req.pending.export();
    // RFC 6749 §3.1: parameters must not be repeated; a second `code` or `state` is an attack
    // or a broken server, never something to pick one value from.
    let again = || launch::PendingAuthorization::import(&pending).unwrap();
    assert!(again()
        .callback(
            &client,
            &format!("https://app.example/cb?code=a&code=b&state={state}")
        )
        .is_err());
    assert!(again()
        .callback(
            &client,
            &format!("https://app.example/cb?code=a&state=x&state={state}")
        )
        .is_err());
    assert!(again()
        .callback(
            &client,
            &format!("https://app.example/cb?code=a&state={state}")
        )
        .is_ok());
}

#[test]
fn backend_assertion_claims_follow_smart_backend_services() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use ehrkit_smart_auth::Client;
    use ehrkit_smart_auth::{Algorithm, ClientAuth, PrivateKeyJwt, SigningKey};
    let pem = ehrkit_testkit::keys::EC384_PKCS8.pem();
    let key = SigningKey::from_pem(pem, Algorithm::ES384, Some("k1".into())).unwrap();
    let client = Client::new(
        "my-client",
        ClientAuth::PrivateKeyJwt(PrivateKeyJwt::new(key)),
    );
    let endpoint: url::Url = "https://ehr.example/oauth2/token".parse().unwrap();
    let scopes: ScopeSet = "system/*.rs".parse().unwrap();
    let mut jtis = Vec::new();
    for _ in 0..2 {
        let req = client
            .client_credentials_request(&endpoint, &scopes)
            .unwrap();
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(req.body().expose())
                .into_owned()
                .collect();
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["scope"], "system/*.rs");
        assert_eq!(
            form["client_assertion_type"],
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        );
        let parts: Vec<&str> = form["client_assertion"].split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES384");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], "k1");
        assert_eq!(claims["iss"], "my-client");
        assert_eq!(claims["sub"], "my-client");
        assert_eq!(claims["aud"], "https://ehr.example/oauth2/token");
        let exp = claims["exp"].as_u64().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // Four minutes by default: a minute to spare for a client clock ahead of the server's.
        assert!(exp >= now + 239 && exp <= now + 241, "exp {exp} now {now}");
        jtis.push(claims["jti"].as_str().unwrap().to_owned());
    }
    assert_ne!(jtis[0], jtis[1]);
}

fn absurd_expiry() -> TokenResponse {
    TokenResponse::parse(
        br#"{"access_token":"a","token_type":"Bearer","expires_in":18446744073709551615}"#,
    )
    .unwrap()
}

#[test]
fn absurd_expires_in_does_not_panic() {
    let t = absurd_expiry();
    assert_eq!(t.expires_in, Some(u64::MAX));
    // Beyond what SystemTime can hold: no expiry instant rather than an overflow panic.
    assert_eq!(t.expires_at(std::time::SystemTime::now()), None);
}

/// The store side of [`absurd_expires_in_does_not_panic`] (feature `store`).
#[cfg(feature = "store")]
#[test]
fn absurd_expires_in_never_needs_renewal_in_the_store() {
    let t = absurd_expiry();
    let store = TokenStore::new(Duration::from_secs(60));
    let key = StoreKey::new(
        &"https://ehr.example/token".parse().unwrap(),
        "app",
        &"system/*.rs".parse().unwrap(),
        None,
    );
    let cached = store.insert(&key, t);
    assert!(!cached.needs_renewal(std::time::SystemTime::now(), Duration::from_secs(60)));
}

#[test]
fn oauth_error_in_a_200_body_is_an_oauth_error() {
    use ehrkit_smart_auth::read_token_response;
    use ehrkit_smart_auth::vendor::VendorProfile;
    use ehrkit_smart_auth::{Error, OAuthErrorCode};
    let r = read_token_response(
        &ehrkit_smart_auth::http::Response::new(
            &br#"{"error":"invalid_client","error_description":"bad assertion"}"#[..],
        ),
        &VendorProfile::standard(),
    );
    match r {
        Err(Error::OAuth { error, .. }) => {
            assert_eq!(error.code, OAuthErrorCode::InvalidClient);
            assert_eq!(error.description.as_deref(), Some("bad assertion"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn granted_scope_outside_the_grammar_is_kept_not_fatal() {
    let t = TokenResponse::parse(
        br#"{"access_token":"a","token_type":"Bearer",
            "scope":"launch/patient patient/Observation.read?category=laboratory patient/Patient.rs"}"#,
    )
    .unwrap();
    // Strict view: the ill-formed token is reported with its offset.
    assert!(matches!(
        t.granted_scopes(),
        Some(Err(ehrkit_smart_auth::Error::Scope { .. }))
    ));
    // What the server granted is still usable: the odd scope is kept verbatim.
    let requested: ScopeSet = "launch/patient patient/Patient.rs".parse().unwrap();
    let granted = t.effective_scopes(&requested).unwrap();
    assert_eq!(
        strs(&granted),
        [
            "launch/patient",
            "patient/Observation.read?category=laboratory",
            "patient/Patient.rs"
        ]
    );
    assert!(requested.difference(&granted).all_granted());
}

/// Servers on ASP.NET (`Encoding.UTF8`) start JSON bodies with a UTF-8 byte order mark, which
/// RFC 8259 §8.1 allows a parser to ignore. Discovery, the CapabilityStatement fallback, token
/// responses and OAuth error bodies must all read through it.
#[test]
fn json_bodies_with_a_utf8_bom_are_read() {
    use ehrkit_smart_auth::discovery::SmartConfiguration;
    use ehrkit_smart_auth::{parse_oauth_error, OAuthErrorCode};
    let bom = |json: &[u8]| [&b"\xEF\xBB\xBF"[..], json].concat();

    let (config, _) = SmartConfiguration::parse(&bom(
        br#"{"issuer":"https://ehr.example/auth","token_endpoint":"https://ehr.example/auth/token",
        "authorization_endpoint":"https://ehr.example/auth/authorize"}"#,
    ))
    .unwrap();
    assert_eq!(
        config.token_endpoint.as_deref(),
        Some("https://ehr.example/auth/token")
    );

    let cs = SmartConfiguration::from_capability_statement(&bom(
        br#"{"resourceType":"CapabilityStatement","rest":[{"mode":"server","security":{
        "extension":[{"url":"http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
        "extension":[{"url":"token","valueUri":"https://ehr.example/oauth/token"}]}]}}]}"#,
    ))
    .unwrap();
    assert_eq!(
        cs.token_endpoint.as_deref(),
        Some("https://ehr.example/oauth/token")
    );

    let t = TokenResponse::parse(&bom(
        br#"{"access_token":"a","token_type":"Bearer","expires_in":"300"}"#,
    ))
    .unwrap();
    assert_eq!(t.expires_in, Some(300));

    let e = parse_oauth_error(&bom(br#"{"error":"invalid_client"}"#)).unwrap();
    assert_eq!(e.code, OAuthErrorCode::InvalidClient);
}

/// Epic compares HTTP Basic client credentials as sent: an app whose (base64-looking) secret
/// holds `+`, `/` or `=` and sends it form-urlencoded, as RFC 6749 §2.3.1 says, is refused
/// with `invalid_client` (community.fhir.org "Invalid_client error from Epic": "the client ID
/// and client secret should NOT be URL-encoded"). The Epic profile sends them raw; the
/// standard profile keeps the RFC encoding.
#[test]
fn epic_basic_credentials_are_not_form_urlencoded() {
    use base64::Engine as _;
    use ehrkit_smart_auth::vendor::VendorProfile;
    use ehrkit_smart_auth::{Client, ClientAuth, Secret};
    let secret = "a+b/c==";
    let basic = |vendor: VendorProfile| {
        let client =
            Client::new("my-app", ClientAuth::SecretBasic(Secret::new(secret))).vendor(vendor);
        let req = client
            .refresh_request(
                &"https://ehr.example/oauth2/token".parse().unwrap(),
                &Secret::new("rt"),
                None,
            )
            .unwrap();
        let value = req.headers()["authorization"].to_str().unwrap().to_owned();
        let b64 = value.strip_prefix("Basic ").unwrap().to_owned();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(basic(VendorProfile::epic()), "my-app:a+b/c==");
    assert_eq!(basic(VendorProfile::standard()), "my-app:a%2Bb%2Fc%3D%3D");
}
