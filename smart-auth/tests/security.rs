//! Regression tests for the security defects of issue 10 (items 1, 11 and 14):
//! credentials never follow a redirect, plain-http endpoints are refused off loopback, and the
//! authorize request's `Debug` hides `state` and `launch`.

use ehrkit_smart_auth::discovery::{Discovered, SmartConfiguration};
use ehrkit_smart_auth::vendor::VendorProfile;
use ehrkit_smart_auth::{Client, ClientAuth, ScopeSet, Secret};

fn metadata(authorize: &str, token: &str) -> SmartConfiguration {
    let body = serde_json::json!({
        "authorization_endpoint": authorize,
        "token_endpoint": token,
        "capabilities": ["launch-standalone", "launch-ehr"],
        "grant_types_supported": ["authorization_code"],
        "code_challenge_methods_supported": ["S256"],
    });
    SmartConfiguration::parse(body.to_string().as_bytes())
        .unwrap()
        .0
}

fn secret_client() -> Client {
    Client::new(
        "backend",
        ClientAuth::SecretPost(Secret::new("s3cr3t-value")),
    )
    .vendor(VendorProfile::athenahealth())
}

// ---------------------------------------------------------------- item 11: plain http

/// Discovery over https that names an `http://` token endpoint on another host is an error
/// that says so; the same holds for the authorization endpoint.
#[test]
fn discovery_naming_plain_http_endpoints_is_refused() {
    use ehrkit_smart_auth::discovery::{Discovery, DiscoveryStep};
    for (authz, token, bad) in [
        (
            "https://ehr.example/authorize",
            "http://ehr.example/token",
            "token_endpoint",
        ),
        (
            "http://ehr.example/authorize",
            "https://ehr.example/token",
            "authorization_endpoint",
        ),
    ] {
        let mut d = Discovery::new("https://ehr.example/fhir").unwrap();
        let body = metadata(authz, token).to_json().to_string();
        let got = d.on_response(&ehrkit_smart_auth::http::Response::new(body.into_bytes()));
        let err = match got {
            Ok(DiscoveryStep::Done(_)) => panic!("{bad} over plain http accepted"),
            Ok(DiscoveryStep::Send(_)) => panic!("unexpected second request"),
            Err(e) => e,
        };
        let msg = err.to_string();
        assert!(
            msg.contains(bad) && msg.contains("http://ehr.example") && msg.contains("https"),
            "{msg}"
        );
    }
}

/// No token request (which carries credentials) is built for a plain-http endpoint off
/// loopback; loopback hosts and an explicit opt-in are allowed.
#[test]
fn token_requests_to_plain_http_are_refused_off_loopback() {
    let scopes: ScopeSet = "system/*.rs".parse().unwrap();
    let c = secret_client();
    let remote: url::Url = "http://ehr.example/token".parse().unwrap();
    let err = c.client_credentials_request(&remote, &scopes).unwrap_err();
    assert!(err.to_string().contains("http://ehr.example"), "{err}");
    assert!(c
        .refresh_request(&remote, &Secret::new("rt"), None)
        .is_err());

    for local in [
        "http://127.0.0.1:8080/token",
        "http://127.9.9.9/token",
        "http://[::1]:1/token",
        "http://localhost:9/token",
        "https://ehr.example/token",
    ] {
        let u: url::Url = local.parse().unwrap();
        c.client_credentials_request(&u, &scopes)
            .unwrap_or_else(|e| panic!("{local}: {e}"));
    }
    // A host that merely starts with "localhost" or "127." is not loopback.
    for not_local in [
        "http://localhost.evil.example/t",
        "http://127.0.0.1.evil.example/t",
    ] {
        let u: url::Url = not_local.parse().unwrap();
        assert!(
            c.client_credentials_request(&u, &scopes).is_err(),
            "{not_local}"
        );
    }
    // The named opt-in.
    let insecure = secret_client().allow_insecure_http(true);
    insecure
        .client_credentials_request(&remote, &scopes)
        .expect("opt-in allows plain http");
}

/// An authorize URL is never built for a plain-http authorization endpoint off loopback.
#[test]
fn launch_refuses_plain_http_authorization_endpoint() {
    let cfg = metadata("http://ehr.example/authorize", "https://ehr.example/token");
    let found = Discovered::from_config("https://ehr.example/fhir", cfg).unwrap();
    let client = Client::new("app", ClientAuth::None);
    let scopes: ScopeSet = "launch/patient openid".parse().unwrap();
    let err = ehrkit_smart_auth::launch::standalone(&client, &found, "https://app/cb", &scopes)
        .unwrap_err();
    assert!(err.to_string().contains("authorization_endpoint"), "{err}");
}

// ---------------------------------------------------------------- item 14: Debug

/// `AuthorizationRequest`'s Debug shows neither `state` nor `launch` (nor the PKCE challenge).
#[test]
fn authorization_request_debug_redacts_state_and_launch() {
    use ehrkit_smart_auth::launch::{ehr_launch, IssuerAllowList};
    let cfg = metadata("https://ehr.example/authorize", "https://ehr.example/token");
    let found = Discovered::from_config("https://ehr.example/fhir", cfg).unwrap();
    let client = Client::new("app", ClientAuth::None);
    let scopes: ScopeSet = "launch openid".parse().unwrap();
    let allow = IssuerAllowList::new(["https://ehr.example/fhir"]).unwrap();
    let launch = allow
        .check_launch(
            "https://app.example/launch?iss=https://ehr.example/fhir&launch=LAUNCH-SECRET-42",
        )
        .unwrap();
    let req = ehr_launch(&client, &found, &launch, "https://app.example/cb", &scopes).unwrap();
    let q: std::collections::HashMap<_, _> = req.url.query_pairs().into_owned().collect();
    let state = &q["state"];
    let challenge = &q["code_challenge"];
    assert_eq!(q["launch"], "LAUNCH-SECRET-42");
    let dbg = format!("{req:?} {req:#?}");
    for secret in [state.as_str(), challenge.as_str(), "LAUNCH-SECRET-42"] {
        assert!(!dbg.contains(secret), "{secret} in Debug: {dbg}");
    }
    // Still useful: the endpoint is shown.
    assert!(dbg.contains("https://ehr.example/authorize"), "{dbg}");
}

/// A token request printed as a `curl` command (what `examples/smart_launch` prints) is safe
/// to paste into a POSIX shell: an endpoint or value containing `'$(cmd)'` runs nothing, and
/// the shell hands curl exactly the URL, headers and body of the request.
#[cfg(unix)]
#[test]
fn curl_command_is_safe_to_paste_into_a_shell() {
    let dir = std::env::temp_dir().join(format!("smart-auth-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("pwned");
    let evil = dir.join("evil");
    std::fs::write(&evil, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();

    let endpoint = format!(
        "https://ehr.example/t'$({})'`{}`",
        evil.display(),
        evil.display()
    );
    let client = Client::new("app'$(x)", ClientAuth::SecretBasic(Secret::new("s'$(x)")));
    let req = client
        .authorization_code_request(
            &endpoint.parse().unwrap(),
            &Secret::new("c0de'$(x)"),
            "https://app.example/cb",
            &Secret::new("v".repeat(43)),
        )
        .unwrap();
    let cmd = ehrkit_smart_auth::curl_command(&req);
    let script = format!("curl() {{ for a in \"$@\"; do printf '%s\\0' \"$a\"; done; }}\n{cmd}\n");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!marker.exists(), "pasting the command ran a command: {cmd}");
    let args: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .split_terminator('\0')
        .map(str::to_owned)
        .collect();
    let mut want = vec![
        "-sS".to_owned(),
        "-X".into(),
        "POST".into(),
        req.uri().to_string(),
    ];
    for (n, v) in req.headers() {
        want.push("-H".into());
        want.push(format!("{n}: {}", v.to_str().unwrap()));
    }
    want.push("--data-raw".into());
    want.push(String::from_utf8(req.body().expose().to_vec()).unwrap());
    assert_eq!(args, want);
    assert!(
        args[3].contains("'$("),
        "the endpoint reached curl verbatim: {}",
        args[3]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- item 1: redirects

#[cfg(feature = "reqwest")]
mod redirects {
    use super::*;
    use ehrkit_smart_auth::{BackendServices, HttpClient, TokenStore};
    use ehrkit_testkit::http::{MockServer, Response};
    use std::sync::Arc;

    fn token() -> Response {
        Response::ok().json(&serde_json::json!({
            "access_token": "attacker-token", "token_type": "Bearer", "expires_in": 300
        }))
    }

    /// A second origin that records whatever reaches it and would hand out a token.
    fn collector() -> MockServer {
        let evil = MockServer::start();
        evil.on("*", "/*", |_| token());
        evil
    }

    /// A token endpoint answering `307 Location: <other origin>` must not make the client
    /// re-send the form (client secret, assertion, refresh token, code) there, nor accept the
    /// other origin's token: the 3xx is an error naming the status and the target origin.
    #[tokio::test]
    async fn token_request_never_follows_a_redirect_to_another_origin() {
        let evil = collector();
        for status in [307u16, 308, 302, 301, 303] {
            let ehr = MockServer::start();
            ehr.respond(
                "*",
                "/token",
                Response::redirect(status, &evil.url("/steal?sig=QUERY-SECRET")),
            );
            let svc = BackendServices::with_token_endpoint(
                HttpClient::new().unwrap(),
                ehr.url("/token").parse().unwrap(),
                secret_client(),
                "system/*.rs".parse().unwrap(),
                Arc::new(TokenStore::default()),
            );
            let err = match svc.access_token().await {
                Ok(t) => panic!(
                    "HTTP {status}: token accepted from the redirect target: {:?}",
                    t.response
                ),
                Err(e) => e,
            };
            assert_eq!(ehr.hits("POST", "/token"), 1, "one request to the EHR");
            assert!(
                evil.requests().is_empty(),
                "HTTP {status}: the redirect target received {:?}",
                evil.requests()
            );
            let msg = err.to_string();
            assert!(msg.contains(&status.to_string()), "{msg}");
            assert!(msg.contains(evil.base()), "target origin named: {msg}");
            assert!(
                !msg.contains("QUERY-SECRET") && !msg.contains("steal"),
                "{msg}"
            );
            assert!(!msg.contains("s3cr3t"), "{msg}");
        }
    }

    /// The same holds for a same-origin redirect: a token request is never re-sent.
    #[tokio::test]
    async fn token_request_does_not_follow_a_same_origin_redirect() {
        let ehr = MockServer::start();
        ehr.respond("*", "/token", Response::redirect(307, "/token2"));
        ehr.on("*", "/token2", |_| token());
        let http = HttpClient::new().unwrap();
        let client = secret_client();
        let req = client
            .refresh_request(
                &ehr.url("/token").parse().unwrap(),
                &Secret::new("refresh-secret"),
                None,
            )
            .unwrap();
        let err = http.token(&client, &req).await.unwrap_err();
        assert!(err.to_string().contains("307"), "{err}");
        let seen: Vec<String> = ehr.requests().iter().map(|r| r.path().to_owned()).collect();
        assert_eq!(seen, ["/token"]);
    }

    /// Discovery (no credentials) follows a redirect within the FHIR server's origin, and
    /// refuses one to another origin, whose metadata could name a token endpoint that collects
    /// credentials.
    #[tokio::test]
    async fn discovery_follows_same_origin_redirects_only() {
        let evil = MockServer::start();
        evil.respond(
            "*",
            "/*",
            Response::ok().json(&serde_json::json!({
                "token_endpoint": "http://127.0.0.1:9/collect", "capabilities": []
            })),
        );
        let ehr = MockServer::start();
        ehr.respond(
            "GET",
            "/fhir/.well-known/smart-configuration",
            Response::redirect(302, "/r4/.well-known/smart-configuration"),
        );
        ehr.respond(
            "GET",
            "/r4/.well-known/smart-configuration",
            Response::ok().json(&serde_json::json!({
                "token_endpoint": "http://127.0.0.1:9/token", "capabilities": []
            })),
        );
        ehr.respond(
            "GET",
            "/other/.well-known/smart-configuration",
            Response::redirect(302, &evil.url("/.well-known/smart-configuration")),
        );
        let http = HttpClient::new().unwrap();
        let found = http.discover(&ehr.url("/fhir")).await.unwrap();
        assert_eq!(
            found.config.token_endpoint.as_deref(),
            Some("http://127.0.0.1:9/token")
        );
        let err = http.discover(&ehr.url("/other")).await.unwrap_err();
        assert!(err.to_string().contains(evil.base()), "{err}");
        assert!(evil.requests().is_empty());
    }

    /// A caller-supplied reqwest builder cannot turn redirect following back on.
    #[tokio::test]
    async fn a_custom_reqwest_builder_does_not_follow_redirects() {
        let evil = collector();
        let ehr = MockServer::start();
        ehr.respond("*", "/token", Response::redirect(307, &evil.url("/steal")));
        let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(10));
        let http = HttpClient::from_builder(builder).unwrap();
        let client = secret_client();
        let req = client
            .client_credentials_request(
                &ehr.url("/token").parse().unwrap(),
                &"system/*.rs".parse().unwrap(),
            )
            .unwrap();
        assert!(http.token(&client, &req).await.is_err());
        assert!(evil.requests().is_empty());
    }

    /// Discovery through a loopback server whose metadata names a plain-http token endpoint on
    /// another host fails with a message naming it; `allow_insecure_http(true)` accepts it.
    #[tokio::test]
    async fn http_discovery_naming_a_remote_plain_http_token_endpoint() {
        let ehr = MockServer::start();
        ehr.respond(
            "GET",
            "/fhir/.well-known/smart-configuration",
            Response::ok().json(&serde_json::json!({
                "token_endpoint": "http://auth.example/token", "capabilities": []
            })),
        );
        let err = HttpClient::new()
            .unwrap()
            .discover(&ehr.url("/fhir"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ehrkit_smart_auth::Error::InsecureEndpoint { what: "token_endpoint", origin } if origin == "http://auth.example"),
            "{err:?}"
        );
        let found = HttpClient::new()
            .unwrap()
            .allow_insecure_http(true)
            .discover(&ehr.url("/fhir"))
            .await
            .unwrap();
        assert_eq!(
            found.config.token_endpoint.as_deref(),
            Some("http://auth.example/token")
        );
    }
}
