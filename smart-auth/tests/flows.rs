//! Authorization-code flows, discovery and vendor quirks against the loopback mock server.

#![cfg(feature = "reqwest")]

mod common;

use common::{follow_authorize, start, Behaviour, DiscoveryMode, Registration};
use ehrkit_smart_auth::discovery::{DiscoveryWarning, Source};
use ehrkit_smart_auth::launch::{self, IssuerAllowList};
use ehrkit_smart_auth::vendor::VendorProfile;
use ehrkit_smart_auth::{
    Client, ClientAuth, Error, HttpClient, OAuthErrorCode, Renewal, Scope, ScopeSet, Secret,
    StoreKey, TokenStore, TokenType,
};
use std::time::Duration;

const REDIRECT: &str = "http://127.0.0.1/app/callback";

fn public_client(mock: &common::Mock, id: &str) -> Client {
    mock.register(
        id,
        Registration {
            redirect_uri: Some(REDIRECT.into()),
            ..Default::default()
        },
    );
    Client::new(id, ClientAuth::None)
}

#[tokio::test]
async fn discovery_full_missing_fields_and_capability_fallback() {
    let mock = start(Behaviour::default()).await;
    let http = HttpClient::new().unwrap();
    let d = http.discover(&mock.fhir_base()).await.unwrap();
    assert_eq!(d.source, Source::WellKnown);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    assert_eq!(d.config.issuer.as_deref(), Some(mock.issuer().as_str()));
    assert!(d.config.has_capability("permission-v2"));

    mock.set(|b| b.discovery = DiscoveryMode::MissingFields);
    let d = http.discover(&mock.fhir_base()).await.unwrap();
    assert_eq!(d.source, Source::WellKnown);
    for f in [
        "grant_types_supported",
        "capabilities",
        "code_challenge_methods_supported",
    ] {
        assert!(
            d.warnings.contains(&DiscoveryWarning::MissingField(f)),
            "{f}: {:?}",
            d.warnings
        );
    }
    assert_eq!(d.config.extra["x-vendor-note"], "partial");
    assert_eq!(d.token_endpoint().unwrap().as_str(), mock.token_endpoint());

    mock.set(|b| b.discovery = DiscoveryMode::CapabilityOnly);
    let d = http.discover(&mock.fhir_base()).await.unwrap();
    assert_eq!(d.source, Source::CapabilityStatement);
    assert!(d
        .warnings
        .contains(&DiscoveryWarning::FromCapabilityStatement));
    assert_eq!(
        d.config.token_endpoint.as_deref(),
        Some(mock.token_endpoint().as_str())
    );
    assert!(d
        .authorization_endpoint()
        .unwrap()
        .as_str()
        .ends_with("/auth/authorize"));
}

#[tokio::test]
async fn standalone_launch_pkce_context_and_refresh_rotation() {
    let mock = start(Behaviour::default()).await;
    let http = HttpClient::new().unwrap();
    let client = public_client(&mock, "app-public");
    let d = http.discover(&mock.fhir_base()).await.unwrap();
    let scopes: ScopeSet = "launch/patient openid fhirUser patient/*.rs offline_access"
        .parse()
        .unwrap();
    let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
    let q: std::collections::HashMap<_, _> = req.url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["aud"], mock.fhir_base());
    assert_eq!(q["state"].len(), 43);

    let callback = follow_authorize(&req.url).await.unwrap();
    let token_req = req.pending.callback(&client, &callback).unwrap();
    assert!(
        !format!("{token_req:?}").contains("code-"),
        "code must not be in Debug"
    );
    let t = http.token(&client, &token_req).await.unwrap();
    assert_eq!(t.token_type(), TokenType::Bearer);
    assert_eq!(t.patient.as_deref(), Some("pat-123"));
    assert_eq!(t.need_patient_banner, Some(true));
    assert_eq!(t.tenant.as_deref(), Some("t-1"));
    assert_eq!(
        t.fhir_context.as_ref().unwrap()[0]["reference"],
        "Encounter/enc-9"
    );
    assert!(scopes
        .difference(&t.granted_scopes().unwrap().unwrap())
        .all_granted());
    let rt1 = t
        .refresh_token
        .clone()
        .expect("offline_access gives a refresh token");

    // Refresh with rotation: a new refresh token, and the old one is dead.
    let token_endpoint = d.token_endpoint().unwrap();
    let r = client.refresh_request(&token_endpoint, &rt1, None).unwrap();
    let t2 = http.token(&client, &r).await.unwrap();
    let rt2 = t2.refresh_token.clone().unwrap();
    assert_ne!(rt1.expose(), rt2.expose());
    assert_ne!(t.access_token.expose(), t2.access_token.expose());
    let again = client.refresh_request(&token_endpoint, &rt1, None).unwrap();
    match http.token(&client, &again).await {
        Err(Error::OAuth { status: 400, error }) => {
            assert_eq!(error.code, OAuthErrorCode::InvalidGrant)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn confidential_symmetric_basic_and_post() {
    let mock = start(Behaviour::default()).await;
    let http = HttpClient::new().unwrap();
    mock.register(
        "app-conf",
        Registration {
            secret: Some("s3cr:et&=".into()),
            redirect_uri: Some(REDIRECT.into()),
            jwks: None,
        },
    );
    let d = http.discover(&mock.fhir_base()).await.unwrap();
    let scopes: ScopeSet = "openid fhirUser patient/*.rs".parse().unwrap();
    for auth in [
        ClientAuth::SecretBasic(Secret::new("s3cr:et&=")),
        ClientAuth::SecretPost(Secret::new("s3cr:et&=")),
    ] {
        let client = Client::new("app-conf", auth);
        assert!(!format!("{client:?}").contains("s3cr"));
        let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
        let cb = follow_authorize(&req.url).await.unwrap();
        let tr = req.pending.callback(&client, &cb).unwrap();
        http.token(&client, &tr).await.unwrap();
    }
    // Wrong secret: invalid_client.
    let client = Client::new("app-conf", ClientAuth::SecretBasic(Secret::new("nope")));
    let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
    let cb = follow_authorize(&req.url).await.unwrap();
    let tr = req.pending.callback(&client, &cb).unwrap();
    match http.token(&client, &tr).await {
        Err(Error::OAuth { status: 401, error }) => {
            assert_eq!(error.code, OAuthErrorCode::InvalidClient)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn negative_state_replay_pkce_and_error_redirects() {
    let mock = start(Behaviour::default()).await;
    let http = HttpClient::new().unwrap();
    let client = public_client(&mock, "app-neg");
    let d = http.discover(&mock.fhir_base()).await.unwrap();
    let scopes: ScopeSet = "openid patient/*.rs".parse().unwrap();

    // Wrong state and missing state.
    for mangle in [
        |cb: &str| cb.replace("state=", "state=X"),
        |cb: &str| {
            let mut u = url::Url::parse(cb).unwrap();
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .into_owned()
                .filter(|(k, _)| k != "state")
                .collect();
            u.query_pairs_mut().clear().extend_pairs(kept);
            u.to_string()
        },
    ] {
        let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
        let cb = follow_authorize(&req.url).await.unwrap();
        assert!(matches!(
            req.pending.callback(&client, &mangle(&cb)),
            Err(Error::StateMismatch)
        ));
    }

    // Error redirect with the right state: typed error.
    let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
    let state = req
        .url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let cb = format!("{REDIRECT}?error=access_denied&error_description=user+said+no&state={state}");
    match req.pending.callback(&client, &cb) {
        Err(Error::Authorization(e)) => {
            assert_eq!(e.code, OAuthErrorCode::AccessDenied);
            assert_eq!(e.description.as_deref(), Some("user said no"));
        }
        other => panic!("{other:?}"),
    }
    // An error redirect with a forged state is reported as a state mismatch, not as the error.
    let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
    let cb = format!("{REDIRECT}?error=access_denied&state=forged");
    assert!(matches!(
        req.pending.callback(&client, &cb),
        Err(Error::StateMismatch)
    ));

    // Replayed code: the second exchange of the same code fails with invalid_grant.
    let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
    let cb = follow_authorize(&req.url).await.unwrap();
    let tr = req.pending.callback(&client, &cb).unwrap();
    http.token(&client, &tr).await.unwrap();
    match http.token(&client, &tr).await {
        Err(Error::OAuth { error, .. }) => assert_eq!(error.code, OAuthErrorCode::InvalidGrant),
        other => panic!("replay accepted: {other:?}"),
    }

    // The mock checks PKCE: a different verifier is refused.
    let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
    let cb = follow_authorize(&req.url).await.unwrap();
    let mut tr = req.pending.callback(&client, &cb).unwrap();
    let form: Vec<(String, String)> = tr
        .body()
        .form_fields()
        .into_iter()
        .map(|(k, v)| {
            if k == "code_verifier" {
                (k, "A".repeat(43))
            } else {
                (k, v)
            }
        })
        .collect();
    *tr.body_mut() = ehrkit_smart_auth::SecretBody::from(
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish(),
    );
    assert!(matches!(
        http.token(&client, &tr).await,
        Err(Error::OAuth { .. })
    ));

    // A callback that did not come back to our redirect_uri.
    let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
    let cb = follow_authorize(&req.url)
        .await
        .unwrap()
        .replace("/app/callback", "/elsewhere");
    assert!(matches!(
        req.pending.callback(&client, &cb),
        Err(Error::Url {
            what: "callback",
            ..
        })
    ));

    // Missing code.
    let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
    let state = req
        .url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let cb = format!("{REDIRECT}?state={state}&iss={}", mock.issuer());
    assert!(matches!(
        req.pending.callback(&client, &cb),
        Err(Error::MissingCode)
    ));
}

#[tokio::test]
async fn rfc9207_iss_is_the_authorization_server_not_the_fhir_base() {
    let mock = start(Behaviour::default()).await;
    let http = HttpClient::new().unwrap();
    let client = public_client(&mock, "app-iss");
    let d = http.discover(&mock.fhir_base()).await.unwrap();
    let scopes: ScopeSet = "openid".parse().unwrap();
    let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
    let cb = follow_authorize(&req.url).await.unwrap();
    assert!(cb.contains("iss="));
    // The FHIR base in `iss` is wrong even though it is the `aud`.
    let forged = {
        let mut u = url::Url::parse(&cb).unwrap();
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .into_owned()
            .map(|(k, v)| {
                if k == "iss" {
                    (k, mock.fhir_base())
                } else {
                    (k, v)
                }
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(kept);
        u.to_string()
    };
    assert!(matches!(
        req.pending.callback(&client, &forged),
        Err(Error::IssuerMismatch)
    ));
    // Server advertises RFC 9207 but the callback lacks iss: refused (mix-up defence).
    let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
    let cb = follow_authorize(&req.url).await.unwrap();
    let stripped = {
        let mut u = url::Url::parse(&cb).unwrap();
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .into_owned()
            .filter(|(k, _)| k != "iss")
            .collect();
        u.query_pairs_mut().clear().extend_pairs(kept);
        u.to_string()
    };
    assert!(matches!(
        req.pending.callback(&client, &stripped),
        Err(Error::IssuerMismatch)
    ));
    // And the genuine callback passes.
    let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
    let cb = follow_authorize(&req.url).await.unwrap();
    assert!(req.pending.callback(&client, &cb).is_ok());
}

#[tokio::test]
async fn ehr_launch_with_issuer_allow_list() {
    let mock = start(Behaviour::default()).await;
    let http = HttpClient::new().unwrap();
    let client = public_client(&mock, "app-ehr");
    let allow = IssuerAllowList::new([format!("{}/", mock.fhir_base())]).unwrap();
    let launch_url = format!(
        "https://app.example/launch?iss={}&launch=xyz123",
        mock.fhir_base()
    );
    let l = allow.check_launch(&launch_url).unwrap();
    assert!(!format!("{l:?}").contains("xyz123"));
    let d = http.discover(l.iss.as_str()).await.unwrap();
    let scopes: ScopeSet = "launch openid fhirUser user/*.rs".parse().unwrap();
    let req = launch::ehr_launch(&client, &d, &l, REDIRECT, &scopes).unwrap();
    assert!(req
        .url
        .query_pairs()
        .any(|(k, v)| k == "launch" && v == "xyz123"));
    let cb = follow_authorize(&req.url).await.unwrap();
    let tr = req.pending.callback(&client, &cb).unwrap();
    http.token(&client, &tr).await.unwrap();

    // Unknown iss: refused before any request to it.
    for bad in [
        "https://app.example/launch?iss=https://evil.example/fhir&launch=1".to_owned(),
        format!(
            "https://app.example/launch?iss={}/other&launch=1",
            mock.fhir_base()
        ),
        "https://app.example/launch?launch=1".to_owned(),
    ] {
        assert!(
            matches!(allow.check_launch(&bad), Err(Error::UnknownIssuer)),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn lowercase_token_type_accepted() {
    let mock = start(Behaviour {
        lowercase_token_type: true,
        ..Default::default()
    })
    .await;
    let http = HttpClient::new().unwrap();
    let client = public_client(&mock, "app-lc");
    let d = http.discover(&mock.fhir_base()).await.unwrap();
    let req = launch::standalone(&client, &d, REDIRECT, &"openid".parse().unwrap()).unwrap();
    let cb = follow_authorize(&req.url).await.unwrap();
    let t = http
        .token(&client, &req.pending.callback(&client, &cb).unwrap())
        .await
        .unwrap();
    assert_eq!(t.token_type_raw, "bearer");
    assert_eq!(t.token_type(), TokenType::Bearer);
}

/// Runs a launch and returns the token response.
async fn launch_once(
    mock: &common::Mock,
    http: &HttpClient,
    client: &Client,
    scopes: &str,
) -> (ehrkit_smart_auth::TokenResponse, ScopeSet) {
    let d = http.discover(&mock.fhir_base()).await.unwrap();
    let scopes: ScopeSet = scopes.parse().unwrap();
    let req = launch::standalone(client, &d, REDIRECT, &scopes).unwrap();
    let sent = req.pending.requested_scopes().clone();
    let cb = follow_authorize(&req.url).await.unwrap();
    let t = http
        .token(client, &req.pending.callback(client, &cb).unwrap())
        .await
        .unwrap();
    (t, sent)
}

#[tokio::test]
async fn epic_bare_400_and_opaque_tokens() {
    let mock = start(Behaviour {
        bare_400: true,
        expires_in: None,
        ..Default::default()
    })
    .await;
    let http = HttpClient::new().unwrap();
    let standard = public_client(&mock, "app-epic");
    let epic = standard.clone().vendor(VendorProfile::epic());
    let token_endpoint = url::Url::parse(&mock.token_endpoint()).unwrap();
    let dead = Secret::new("rt-unknown");

    // Bare 400 with the standard profile: an HTTP status error.
    let r = standard
        .refresh_request(&token_endpoint, &dead, None)
        .unwrap();
    assert!(matches!(
        http.token(&standard, &r).await,
        Err(Error::HttpStatus { status: 400 })
    ));
    // With the Epic profile it is invalid_grant.
    let r = epic.refresh_request(&token_endpoint, &dead, None).unwrap();
    match http.token(&epic, &r).await {
        Err(Error::OAuth { error, .. }) => assert_eq!(error.code, OAuthErrorCode::InvalidGrant),
        other => panic!("{other:?}"),
    }

    // Opaque tokens without expires_in: unknown lifetime (standard) vs. default lifetime (Epic).
    let (t, _) = launch_once(&mock, &http, &standard, "openid offline_access").await;
    assert_eq!(t.expires_in, None);
    let (t, _) = launch_once(&mock, &http, &epic, "openid offline_access").await;
    assert_eq!(t.expires_in, Some(300));

    // In the store, a rejected refresh evicts and asks for re-authorization.
    let store = TokenStore::new(Duration::from_secs(60));
    let key = StoreKey::new(
        &token_endpoint,
        "app-epic",
        &"openid offline_access".parse().unwrap(),
        Some("user-1"),
    );
    let mut stale = t.clone();
    stale.expires_in = Some(0);
    stale.refresh_token = Some(dead.clone());
    store.insert(&key, stale);
    let before = mock.token_count();
    let res = store
        .get(&key, |r| {
            let (epic, http, te) = (epic.clone(), http.clone(), token_endpoint.clone());
            async move {
                let Renewal::Refresh(rt) = r else {
                    panic!("expected a refresh")
                };
                http.token(&epic, &epic.refresh_request(&te, &rt, None)?)
                    .await
            }
        })
        .await;
    assert!(
        matches!(&res, Err(e) if e.needs_reauthorization()),
        "{res:?}"
    );
    assert_eq!(mock.token_count(), before + 1);
    assert!(store.peek(&key).is_none(), "entry evicted");
}

#[tokio::test]
async fn oracle_health_v2_app_drops_v1_scopes_unless_rewritten() {
    let mock = start(Behaviour {
        drop_v1_scopes: true,
        ..Default::default()
    })
    .await;
    let http = HttpClient::new().unwrap();
    let standard = public_client(&mock, "app-oracle");
    let requested = "launch/patient openid patient/Observation.read patient/Patient.read";

    let (t, sent) = launch_once(&mock, &http, &standard, requested).await;
    let diff = sent.difference(&t.granted_scopes().unwrap().unwrap());
    let missing: Vec<String> = diff.not_granted.iter().map(Scope::to_string).collect();
    assert_eq!(
        missing,
        ["patient/Observation.read", "patient/Patient.read"]
    );

    let oracle = standard.vendor(VendorProfile::oracle_health_v2());
    let (t, sent) = launch_once(&mock, &http, &oracle, requested).await;
    assert!(sent.to_string().contains("patient/Observation.rs"));
    let granted = t.granted_scopes().unwrap().unwrap();
    assert!(sent.difference(&granted).all_granted());
    // And what was granted covers what the app asked for in v1 terms.
    let asked: ScopeSet = requested.parse().unwrap();
    assert!(asked.difference(&granted).all_granted());
}

#[tokio::test]
async fn pending_authorization_survives_export_import() {
    let mock = start(Behaviour::default()).await;
    let http = HttpClient::new().unwrap();
    let client = public_client(&mock, "app-session");
    let d = http.discover(&mock.fhir_base()).await.unwrap();
    let req = launch::standalone(
        &client,
        &d,
        REDIRECT,
        &"openid patient/*.rs".parse().unwrap(),
    )
    .unwrap();
    let saved = req.pending.export().to_string();
    drop(req.pending);
    let restored =
        launch::PendingAuthorization::import(&serde_json::from_str(&saved).unwrap()).unwrap();
    let cb = follow_authorize(&req.url).await.unwrap();
    let t = http
        .token(&client, &restored.callback(&client, &cb).unwrap())
        .await
        .unwrap();
    assert!(mock.is_valid_access_token(t.access_token.expose()));
    let mut broken: serde_json::Value = serde_json::from_str(&saved).unwrap();
    broken["code_verifier"] = "short".into();
    assert!(launch::PendingAuthorization::import(&broken).is_err());
}

#[tokio::test]
async fn user_grant_in_the_store_refreshes_then_needs_reauthorization() {
    use ehrkit_smart_auth::{complete_authorization, refresh_user_grant};
    let mock = start(Behaviour {
        expires_in: Some(0),
        ..Default::default()
    })
    .await;
    let http = HttpClient::new().unwrap();
    let client = public_client(&mock, "app-user");
    let d = http.discover(&mock.fhir_base()).await.unwrap();
    let te = d.token_endpoint().unwrap();
    let store = TokenStore::default();

    // With offline_access: expired token is refreshed (rotation) through the store.
    let scopes: ScopeSet = "openid patient/*.rs offline_access".parse().unwrap();
    let key = StoreKey::new(&te, "app-user", &scopes, Some("session-1"));
    let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
    let cb = follow_authorize(&req.url).await.unwrap();
    let tr = req.pending.callback(&client, &cb).unwrap();
    let first = complete_authorization(&http, &client, &tr, &store, &key)
        .await
        .unwrap();
    mock.set(|b| b.expires_in = Some(3600));
    let renewed = store
        .get(&key, |r| refresh_user_grant(&http, &client, &te, r))
        .await
        .unwrap();
    assert_ne!(renewed.generation, first.generation);
    assert_eq!(mock.grant_count("refresh_token"), 1);
    assert_ne!(
        renewed.response.refresh_token.as_ref().unwrap().expose(),
        first.response.refresh_token.as_ref().unwrap().expose()
    );

    // Without a refresh token: expiry means the user must authorize again.
    mock.set(|b| b.expires_in = Some(0));
    let scopes: ScopeSet = "openid patient/*.rs".parse().unwrap();
    let key = StoreKey::new(&te, "app-user", &scopes, Some("session-2"));
    let req = launch::standalone(&client, &d, REDIRECT, &scopes).unwrap();
    let cb = follow_authorize(&req.url).await.unwrap();
    let tr = req.pending.callback(&client, &cb).unwrap();
    complete_authorization(&http, &client, &tr, &store, &key)
        .await
        .unwrap();
    let err = store
        .get(&key, |r| refresh_user_grant(&http, &client, &te, r))
        .await
        .unwrap_err();
    assert!(err.needs_reauthorization(), "{err}");
    assert!(store.peek(&key).is_none(), "useless entry evicted");
}
