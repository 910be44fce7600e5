//! Backend Services (private_key_jwt, RS384/ES384), the token store (single-flight, 401 logic,
//! persistence) and slow servers, against the loopback mock server.

#![cfg(feature = "reqwest")]

mod common;
mod test_keys;

use common::{start, Behaviour, Registration};
use ehrkit_smart_auth::{
    jwks, Algorithm, BackendServices, Client, ClientAuth, Error, HttpClient, MemoryPersistence,
    PrivateKeyJwt, ScopeSet, SigningKey, TokenRetry, TokenStore,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use test_keys::{all_keys, read};

#[tokio::test]
async fn client_credentials_rs384_and_es384_verified_by_the_mock() {
    let mock = start(Behaviour::default()).await;
    let http = HttpClient::new().unwrap();
    let keys = all_keys();
    mock.register(
        "backend-1",
        Registration {
            jwks: Some(jwks(keys.iter().map(|(_, k)| k))),
            ..Default::default()
        },
    );
    let scopes: ScopeSet = "system/*.rs".parse().unwrap();
    for (name, key) in keys {
        let client = Client::new(
            "backend-1",
            ClientAuth::PrivateKeyJwt(PrivateKeyJwt::new(key)),
        );
        let store = Arc::new(TokenStore::default());
        let svc = BackendServices::connect(
            http.clone(),
            &mock.fhir_base(),
            client,
            scopes.clone(),
            store,
        )
        .await
        .unwrap();
        let t = svc.access_token().await.unwrap_or_else(|e| {
            panic!(
                "{name}: {e}: {:?}",
                mock.last_assertion_error.lock().unwrap()
            )
        });
        assert!(
            mock.is_valid_access_token(t.access_token().expose()),
            "{name}"
        );
        assert_eq!(t.response.scope.as_deref(), Some("system/*.rs"));
    }
    assert_eq!(mock.grant_count("client_credentials"), 6);

    // A key the server does not know is refused.
    let stranger = SigningKey::from_pem(
        &read("ec384-pkcs8.pem"),
        Algorithm::ES384,
        Some("unknown-kid".into()),
    )
    .unwrap();
    let client = Client::new(
        "backend-1",
        ClientAuth::PrivateKeyJwt(PrivateKeyJwt::new(stranger)),
    );
    let svc = BackendServices::connect(
        http,
        &mock.fhir_base(),
        client,
        scopes,
        Arc::new(TokenStore::default()),
    )
    .await
    .unwrap();
    assert!(matches!(
        svc.access_token().await,
        Err(Error::OAuth { status: 401, .. })
    ));
}

async fn backend(mock: &common::Mock, store: Arc<TokenStore>, http: HttpClient) -> BackendServices {
    let key = SigningKey::from_pem(&read("ec384-pkcs8.pem"), Algorithm::ES384, None).unwrap();
    mock.register(
        "backend-2",
        Registration {
            jwks: Some(jwks([&key])),
            ..Default::default()
        },
    );
    let client = Client::new(
        "backend-2",
        ClientAuth::PrivateKeyJwt(PrivateKeyJwt::new(key)),
    );
    BackendServices::connect(
        http,
        &mock.fhir_base(),
        client,
        "system/*.rs".parse().unwrap(),
        store,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_callers_on_an_expired_entry_make_one_token_request() {
    let mock = start(Behaviour {
        expires_in: Some(0), // first token is born expired
        token_delay: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let store = Arc::new(TokenStore::new(Duration::from_secs(60)));
    let svc = Arc::new(backend(&mock, store.clone(), HttpClient::new().unwrap()).await);
    let first = svc.access_token().await.unwrap();
    assert!(first.needs_renewal(SystemTime::now(), store.skew()));
    assert_eq!(mock.token_count(), 1);

    mock.set(|b| b.expires_in = Some(3600));
    let barrier = Arc::new(tokio::sync::Barrier::new(1000));
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (svc, barrier) = (svc.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            svc.access_token().await.map(|t| t.generation)
        }));
    }
    let mut generations = std::collections::HashSet::new();
    for t in tasks {
        generations.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(
        mock.token_count(),
        2,
        "exactly one token request for 1000 callers"
    );
    assert_eq!(
        generations.len(),
        1,
        "all callers got the same renewed token"
    );
    assert!(!generations.contains(&first.generation));
}

#[tokio::test]
async fn unauthorized_with_newer_token_does_not_renew_again() {
    let mock = start(Behaviour::default()).await;
    let store = Arc::new(TokenStore::default());
    let svc = backend(&mock, store, HttpClient::new().unwrap()).await;
    let t1 = svc.access_token().await.unwrap();
    assert_eq!(mock.token_count(), 1);
    // Cached: no request.
    assert_eq!(svc.access_token().await.unwrap().generation, t1.generation);
    assert_eq!(mock.token_count(), 1);
    // A 401 for t1: renew once.
    let t2 = svc.after_unauthorized(&t1).await.unwrap();
    assert_ne!(t2.generation, t1.generation);
    assert_eq!(mock.token_count(), 2);
    // Another request that was in flight with t1 also gets a 401: the newer t2 is returned.
    let t3 = svc.after_unauthorized(&t1).await.unwrap();
    assert_eq!(t3.generation, t2.generation);
    assert_eq!(mock.token_count(), 2);
    // Concurrent 401s for t2 share one renewal.
    let (a, b) = tokio::join!(svc.after_unauthorized(&t2), svc.after_unauthorized(&t2));
    assert_eq!(a.unwrap().generation, b.unwrap().generation);
    assert_eq!(mock.token_count(), 3);
}

#[tokio::test]
async fn persistence_survives_a_new_store_and_debug_is_redacted() {
    let mock = start(Behaviour::default()).await;
    let persistence = Arc::new(MemoryPersistence::default());
    let store = Arc::new(TokenStore::default().persistence(persistence.clone()));
    let svc = backend(&mock, store.clone(), HttpClient::new().unwrap()).await;
    let t = svc.access_token().await.unwrap();
    assert_eq!(persistence.len(), 1);
    let secret = t.access_token().expose().to_owned();
    for dbg in [
        format!("{t:?}"),
        format!("{store:?}"),
        format!("{svc:?}"),
        format!("{persistence:?}"),
    ] {
        assert!(!dbg.contains(&secret), "token leaked in {dbg}");
    }

    // A new process: same persistence, no token request.
    let store2 = Arc::new(TokenStore::default().persistence(persistence.clone()));
    let svc2 = backend(&mock, store2, HttpClient::new().unwrap()).await;
    let before = mock.token_count();
    let t2 = svc2.access_token().await.unwrap();
    assert_eq!(t2.access_token().expose(), secret);
    assert_eq!(mock.token_count(), before);
}

#[tokio::test]
async fn slow_token_endpoint_times_out_without_poisoning_the_store() {
    let mock = start(Behaviour {
        token_delay: Duration::from_millis(1500),
        ..Default::default()
    })
    .await;
    let store = Arc::new(TokenStore::default());
    let svc = backend(
        &mock,
        store.clone(),
        HttpClient::with_timeout(Duration::from_millis(300)).unwrap(),
    )
    .await
    .token_retry(TokenRetry {
        max_retries: 1,
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(1),
    });
    assert!(matches!(
        svc.access_token().await,
        Err(Error::Transport { .. })
    ));
    assert_eq!(mock.token_count(), 2, "a timeout is asked again once");
    assert!(store.peek(svc.key()).is_none());
    // The server recovers: the next call succeeds.
    mock.set(|b| b.token_delay = Duration::ZERO);
    assert!(svc.access_token().await.is_ok());
}

#[tokio::test]
async fn access_token_works_against_the_fhir_endpoint() {
    let mock = start(Behaviour::default()).await;
    let svc = backend(
        &mock,
        Arc::new(TokenStore::default()),
        HttpClient::new().unwrap(),
    )
    .await;
    let t = svc.access_token().await.unwrap();
    let r = reqwest::Client::new()
        .get(format!("{}/Patient", mock.fhir_base()))
        .bearer_auth(t.access_token().expose())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn athenahealth_secret_client_credentials_and_vendor_scopes() {
    let mock = start(Behaviour {
        secret_client_credentials: true,
        ..Default::default()
    })
    .await;
    mock.register(
        "athena-app",
        Registration {
            secret: Some("athena-secret".into()),
            ..Default::default()
        },
    );
    let scopes: ScopeSet = "athena/service/Athenanet.MDP.* system/Patient.rs"
        .parse()
        .unwrap();
    let te = url::Url::parse(&mock.token_endpoint()).unwrap();
    let auth = ClientAuth::SecretBasic(ehrkit_smart_auth::Secret::new("athena-secret"));
    // The standard profile refuses secret-based client_credentials (SMART needs private_key_jwt).
    let standard = Client::new("athena-app", auth.clone());
    assert!(matches!(
        standard.client_credentials_request(&te, &scopes),
        Err(Error::ClientCredentialsAuth {
            method: "client_secret_basic",
            ..
        })
    ));
    let athena = standard.vendor(ehrkit_smart_auth::vendor::VendorProfile::athenahealth());
    let svc = BackendServices::with_token_endpoint(
        HttpClient::new().unwrap(),
        te,
        athena,
        scopes.clone(),
        Arc::new(TokenStore::default()),
    );
    let t = svc.access_token().await.unwrap();
    // The vendor scope went out verbatim and came back granted.
    let granted = t.response.granted_scopes().unwrap().unwrap();
    assert!(scopes.difference(&granted).all_granted());
    assert_eq!(
        mock.last_token_form
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k == "scope")
            .unwrap()
            .1,
        "athena/service/Athenanet.MDP.* system/Patient.rs"
    );
}

#[tokio::test]
async fn rate_limited_refresh_keeps_the_entry() {
    let mock = start(Behaviour::default()).await;
    let store = TokenStore::default();
    let te = url::Url::parse(&mock.token_endpoint()).unwrap();
    let key = ehrkit_smart_auth::StoreKey::new(&te, "c", &"openid".parse().unwrap(), Some("u"));
    let client = Client::new("c", ClientAuth::None);
    let stale = ehrkit_smart_auth::TokenResponse::parse(
        br#"{"access_token":"a","token_type":"Bearer","expires_in":0,"refresh_token":"r"}"#,
    )
    .unwrap();
    store.insert(&key, stale);
    let http = HttpClient::new().unwrap();
    let refresh = |r: ehrkit_smart_auth::Renewal| {
        let (http, client, te) = (http.clone(), client.clone(), te.clone());
        async move {
            let ehrkit_smart_auth::Renewal::Refresh(rt) = r else {
                panic!()
            };
            http.token(&client, &client.refresh_request(&te, &rt, None)?)
                .await
        }
    };
    mock.set(|b| b.token_status = Some(429));
    assert!(matches!(
        store.get(&key, refresh).await,
        Err(Error::HttpStatus { status: 429 })
    ));
    assert!(store.peek(&key).is_some(), "429 is transient: entry kept");
    mock.set(|b| b.token_status = Some(503));
    assert!(matches!(
        store.get(&key, refresh).await,
        Err(Error::HttpStatus { status: 503 })
    ));
    assert!(store.peek(&key).is_some(), "5xx is transient: entry kept");
    mock.set(|b| b.token_status = Some(401));
    let err = store.get(&key, refresh).await.unwrap_err();
    assert!(err.needs_reauthorization());
    // The server's answer is kept as the typed source, not flattened into a string.
    assert!(std::error::Error::source(&err).is_some());
    let cause = err.reauthorization_cause().expect("typed cause");
    assert!(
        matches!(cause, Error::HttpStatus { status: 401 }),
        "{cause:?}"
    );
    assert!(store.peek(&key).is_none(), "401 on refresh evicts");
}

/// RFC 6749 §4.4.3: a client_credentials response SHOULD NOT carry a refresh token, but some
/// authorization servers (Keycloak before RH-SSO 7.4.4, Apigee) send one, and it expires on its
/// own schedule. A Backend Services client holds its key and can always ask again: renewal is a
/// new client_credentials grant, never a refresh that can fail the caller's request.
#[tokio::test]
async fn backend_services_renew_with_client_credentials_even_when_given_a_refresh_token() {
    let mock = start(Behaviour {
        expires_in: Some(0), // born expired: the next call renews
        client_credentials_refresh: true,
        refuse_refresh: true,
        ..Default::default()
    })
    .await;
    let store = Arc::new(TokenStore::default());
    let svc = backend(&mock, store, HttpClient::new().unwrap()).await;
    let first = svc.access_token().await.unwrap();
    assert!(first.response.refresh_token.is_some());
    mock.set(|b| b.expires_in = Some(3600));
    let second = svc.access_token().await.unwrap();
    assert_ne!(second.generation, first.generation);
    assert!(mock.is_valid_access_token(second.access_token().expose()));
    assert_eq!(mock.grant_count("client_credentials"), 2);
    assert_eq!(mock.grant_count("refresh_token"), 0);
}

/// A Backend Services client registered with the mock, asking with `retry`.
async fn busy_backend(mock: &common::Mock, retry: TokenRetry) -> BackendServices {
    let store = Arc::new(TokenStore::default());
    backend(mock, store, HttpClient::new().unwrap())
        .await
        .token_retry(retry)
}

/// Epic and Oracle Health rate-limit their token endpoints (429, sometimes 503 from the
/// gateway). A batch job must not fail on one busy answer: it waits as told and asks again,
/// each time with a new assertion, because the server refuses a `jti` it has already seen.
#[tokio::test]
async fn a_busy_token_endpoint_is_asked_again_with_a_new_assertion_after_its_retry_after() {
    let mock = start(Behaviour {
        token_busy: vec![(429, Some("1".into())), (503, None)],
        ..Default::default()
    })
    .await;
    let svc = busy_backend(
        &mock,
        TokenRetry {
            max_retries: 3,
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(5),
        },
    )
    .await;
    let started = std::time::Instant::now();
    let t = svc
        .access_token()
        .await
        .unwrap_or_else(|e| panic!("{e}: {:?}", mock.last_assertion_error.lock().unwrap()));
    assert!(mock.is_valid_access_token(t.access_token().expose()));
    assert_eq!(mock.token_count(), 3, "429, 503, then the grant");
    assert_eq!(mock.grant_count("client_credentials"), 1);
    assert!(
        mock.last_assertion_error.lock().unwrap().is_none(),
        "every attempt carried a fresh assertion"
    );
    // The server's `Retry-After: 1` was honoured, not the 20 ms backoff.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retries_end_with_the_servers_answer() {
    let mock = start(Behaviour {
        token_status: Some(503),
        ..Default::default()
    })
    .await;
    let retry = TokenRetry {
        max_retries: 2,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(1),
    };
    let err = busy_backend(&mock, retry)
        .await
        .access_token()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HttpStatus { status: 503 }), "{err:?}");
    assert_eq!(mock.token_count(), 3, "the first request and two retries");

    // `NONE` returns the first answer.
    let mock = start(Behaviour {
        token_status: Some(429),
        ..Default::default()
    })
    .await;
    let err = busy_backend(&mock, TokenRetry::NONE)
        .await
        .access_token()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HttpStatus { status: 429 }), "{err:?}");
    assert_eq!(mock.token_count(), 1);
}

#[tokio::test]
async fn a_retry_after_beyond_the_longest_wait_is_returned_at_once() {
    let mock = start(Behaviour {
        token_busy: vec![(429, Some("120".into()))],
        ..Default::default()
    })
    .await;
    let started = std::time::Instant::now();
    let err = busy_backend(&mock, TokenRetry::default())
        .await
        .access_token()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HttpStatus { status: 429 }), "{err:?}");
    assert_eq!(mock.token_count(), 1);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_refused_client_is_not_asked_again() {
    let mock = start(Behaviour {
        token_status: Some(401),
        ..Default::default()
    })
    .await;
    let err = busy_backend(&mock, TokenRetry::default())
        .await
        .access_token()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HttpStatus { status: 401 }), "{err:?}");
    assert_eq!(mock.token_count(), 1);
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_retried_then_reported_as_transport() {
    // A port that was just free: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let key = all_keys().into_iter().next().unwrap().1;
    let svc = BackendServices::with_token_endpoint(
        HttpClient::new().unwrap().allow_insecure_http(true),
        url::Url::parse(&format!("http://127.0.0.1:{port}/token")).unwrap(),
        Client::new("c", ClientAuth::PrivateKeyJwt(PrivateKeyJwt::new(key))),
        "system/*.rs".parse().unwrap(),
        Arc::new(TokenStore::default()),
    )
    .token_retry(TokenRetry {
        max_retries: 2,
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
    });
    let started = std::time::Instant::now();
    let err = svc.access_token().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    // Two waits, 100 ms then 200 ms, before giving up.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}
