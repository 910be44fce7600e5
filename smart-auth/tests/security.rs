//! Regression tests for the security defects of issue 10 (items 1, 11 and 14):
//! credentials never follow a redirect, plain-http endpoints are refused off loopback, and the
//! authorize request's `Debug` hides `state` and `launch`.

use ehrkit_smart_auth::client_auth::ClientAuth;
use ehrkit_smart_auth::discovery::{Discovered, SmartConfiguration};
use ehrkit_smart_auth::scope::ScopeSet;
use ehrkit_smart_auth::token::Client;
use ehrkit_smart_auth::vendor::VendorProfile;
use ehrkit_smart_auth::Secret;

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
    use ehrkit_smart_auth::store::TokenStore;
    use ehrkit_smart_auth::{BackendServices, HttpClient};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// What a loopback server received: (method, path, body).
    type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

    /// A one-response-per-connection HTTP/1.1 server on `host`:0 answering with `answer(path)`.
    async fn serve(
        host: &str,
        answer: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> (String, Seen) {
        let l = TcpListener::bind((host, 0)).await.unwrap();
        let origin = format!("http://{}", l.local_addr().unwrap());
        let seen: Seen = Arc::default();
        let (s, answer) = (seen.clone(), Arc::new(answer));
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = l.accept().await {
                let (s, answer) = (s.clone(), answer.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 4096];
                    let head_end = loop {
                        let n = match sock.read(&mut tmp).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        buf.extend_from_slice(&tmp[..n]);
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let len: usize = head
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.trim().parse().ok())
                        .unwrap_or(0);
                    let mut body = buf[head_end + 4..].to_vec();
                    while body.len() < len {
                        match sock.read(&mut tmp).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => body.extend_from_slice(&tmp[..n]),
                        }
                    }
                    let mut first = head.lines().next().unwrap_or("").split(' ');
                    let method = first.next().unwrap_or("").to_owned();
                    let path = first.next().unwrap_or("").to_owned();
                    let resp = answer(&path);
                    s.lock().unwrap().push((method, path, body));
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        (origin, seen)
    }

    fn redirect(status: u16, location: &str) -> String {
        format!(
            "HTTP/1.1 {status} Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    }

    fn json(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    const TOKEN: &str =
        r#"{"access_token":"attacker-token","token_type":"Bearer","expires_in":300}"#;

    /// A token endpoint answering `307 Location: <other origin>` must not make the client
    /// re-send the form (client secret, assertion, refresh token, code) there, nor accept the
    /// other origin's token: the 3xx is an error naming the status and the target origin.
    #[tokio::test]
    async fn token_request_never_follows_a_redirect_to_another_origin() {
        let (evil, evil_seen) = serve("127.0.0.1", |_| json(TOKEN)).await;
        for status in [307u16, 308, 302, 301, 303] {
            let target = format!("{evil}/steal?sig=QUERY-SECRET");
            let (ehr, ehr_seen) = serve("127.0.0.1", move |_| redirect(status, &target)).await;
            let svc = BackendServices::with_token_endpoint(
                HttpClient::new().unwrap(),
                format!("{ehr}/token").parse().unwrap(),
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
            assert_eq!(ehr_seen.lock().unwrap().len(), 1, "one request to the EHR");
            assert!(
                evil_seen.lock().unwrap().is_empty(),
                "HTTP {status}: the redirect target received {:?}",
                evil_seen.lock().unwrap()
            );
            let msg = err.to_string();
            assert!(msg.contains(&status.to_string()), "{msg}");
            assert!(msg.contains(&evil), "target origin named: {msg}");
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
        let (ehr, seen) = serve("127.0.0.1", |path| {
            if path == "/token" {
                redirect(307, "/token2")
            } else {
                json(TOKEN)
            }
        })
        .await;
        let http = HttpClient::new().unwrap();
        let client = secret_client();
        let req = client
            .refresh_request(
                &format!("{ehr}/token").parse().unwrap(),
                &Secret::new("refresh-secret"),
                None,
            )
            .unwrap();
        let err = http.token(&client, &req).await.unwrap_err();
        assert!(err.to_string().contains("307"), "{err}");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].1, "/token");
    }

    /// Discovery (no credentials) follows a redirect within the FHIR server's origin, and
    /// refuses one to another origin, whose metadata could name a token endpoint that collects
    /// credentials.
    #[tokio::test]
    async fn discovery_follows_same_origin_redirects_only() {
        let (evil, evil_seen) = serve("127.0.0.1", |_| {
            json(r#"{"token_endpoint":"http://127.0.0.1:9/collect","capabilities":[]}"#)
        })
        .await;
        let (ehr, _) = {
            let evil = evil.clone();
            serve("127.0.0.1", move |path| match path {
                "/fhir/.well-known/smart-configuration" => {
                    redirect(302, "/r4/.well-known/smart-configuration")
                }
                "/r4/.well-known/smart-configuration" => {
                    json(r#"{"token_endpoint":"http://127.0.0.1:9/token","capabilities":[]}"#)
                }
                "/other/.well-known/smart-configuration" => {
                    redirect(302, &format!("{evil}/.well-known/smart-configuration"))
                }
                _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
            })
            .await
        };
        let http = HttpClient::new().unwrap();
        let found = http.discover(&format!("{ehr}/fhir")).await.unwrap();
        assert_eq!(
            found.config.token_endpoint.as_deref(),
            Some("http://127.0.0.1:9/token")
        );
        let err = http.discover(&format!("{ehr}/other")).await.unwrap_err();
        assert!(err.to_string().contains(&evil), "{err}");
        assert!(evil_seen.lock().unwrap().is_empty());
    }

    /// A caller-supplied reqwest builder cannot turn redirect following back on.
    #[tokio::test]
    async fn a_custom_reqwest_builder_does_not_follow_redirects() {
        let (evil, evil_seen) = serve("127.0.0.1", |_| json(TOKEN)).await;
        let target = format!("{evil}/steal");
        let (ehr, _) = serve("127.0.0.1", move |_| redirect(307, &target)).await;
        let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(10));
        let http = HttpClient::from_builder(builder).unwrap();
        let client = secret_client();
        let req = client
            .client_credentials_request(
                &format!("{ehr}/token").parse().unwrap(),
                &"system/*.rs".parse().unwrap(),
            )
            .unwrap();
        assert!(http.token(&client, &req).await.is_err());
        assert!(evil_seen.lock().unwrap().is_empty());
    }
}
