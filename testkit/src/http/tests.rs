//! The mock server driven by a real client (reqwest) and by raw sockets.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{gzip, MockServer, Response};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn routes_answer_and_the_log_keeps_method_path_query_headers_body() {
    let server = MockServer::start();
    server
        .on("GET", "/fhir/Patient", |req| {
            Response::ok().fhir_json(&json!({"q": req.query_params("name"), "t": req.bearer()}))
        })
        .on("POST", "/auth/token", |req| {
            Response::ok().json(&json!({"grant": req.form_value("grant_type")}))
        });
    let c = client();
    let r = c
        .get(server.url("/fhir/Patient?name=a%20b&name=c+d&_count=2"))
        .bearer_auth("tok-1")
        .header("X-Trace", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/fhir+json");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v, json!({"q": ["a b", "c d"], "t": "tok-1"}));

    let r = c
        .post(server.url("/auth/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=system%2F*.rs")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["grant"],
        "client_credentials"
    );

    // Unmatched path, and matched path with another method: 404, empty body.
    for r in [
        c.get(server.url("/nope")).send().await.unwrap(),
        c.delete(server.url("/fhir/Patient")).send().await.unwrap(),
    ] {
        assert_eq!(r.status(), 404);
        assert!(r.bytes().await.unwrap().is_empty());
    }

    let log = server.requests();
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path(), "/fhir/Patient");
    assert_eq!(log[0].query(), Some("name=a%20b&name=c+d&_count=2"));
    assert_eq!(
        log[0].target(),
        "/fhir/Patient?name=a%20b&name=c+d&_count=2"
    );
    assert_eq!(log[0].query_param("_count").as_deref(), Some("2"));
    assert_eq!(log[0].header("x-trace"), Some("1"));
    assert_eq!(log[0].header("AUTHORIZATION"), Some("Bearer tok-1"));
    assert!(log[0].body.is_empty());
    assert_eq!(
        log[1].form()[1],
        ("scope".to_owned(), "system/*.rs".to_owned())
    );
    assert_eq!(
        log[1].text(),
        "grant_type=client_credentials&scope=system%2F*.rs"
    );
    assert_eq!(server.requests_to("/fhir/Patient").len(), 2);
    assert_eq!(server.hits("GET", "/fhir/Patient"), 1);
    assert_eq!(server.hits("*", "/fhir/*"), 2);
    assert_eq!(server.hits("*", "/*"), 4);
    server.clear_requests();
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn the_most_specific_route_wins_then_the_latest() {
    let server = MockServer::start();
    server
        .respond("*", "/*", Response::new(200).text("any"))
        .respond("GET", "/files/*", Response::new(200).text("files"))
        .respond("GET", "/files/big/*", Response::new(200).text("big"))
        .respond(
            "*",
            "/files/a.ndjson",
            Response::new(200).text("exact any-method"),
        )
        .respond(
            "GET",
            "/files/a.ndjson",
            Response::new(200).text("exact get"),
        )
        .respond("GET", "/files/b.ndjson", Response::new(200).text("first"))
        .respond(
            "GET",
            "/files/b.ndjson",
            Response::new(200).text("override"),
        );
    let c = client();
    let get = |p: &str| {
        let (c, u) = (c.clone(), server.url(p));
        async move { c.get(u).send().await.unwrap().text().await.unwrap() }
    };
    assert_eq!(get("/other").await, "any");
    assert_eq!(get("/files/x").await, "files");
    assert_eq!(get("/files/big/y").await, "big");
    assert_eq!(get("/files/a.ndjson").await, "exact get");
    assert_eq!(get("/files/b.ndjson").await, "override");
    let put = c.put(server.url("/files/a.ndjson")).send().await.unwrap();
    assert_eq!(put.text().await.unwrap(), "exact any-method");
}

#[tokio::test]
async fn sequences_script_503_503_then_200_and_429_with_retry_after() {
    let server = MockServer::start();
    server.sequence(
        "GET",
        "/status/1",
        [
            Response::new(503),
            Response::new(429).header("Retry-After", "2"),
            Response::ok().json(&json!({"done": true})),
        ],
    );
    let c = client();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let r = c.get(server.url("/status/1")).send().await.unwrap();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        seen.push((r.status().as_u16(), retry));
    }
    let none = None;
    assert_eq!(
        seen,
        [
            (503, none.clone()),
            (429, Some("2".to_owned())),
            (200, none.clone()),
            (200, none.clone()),
            (200, none)
        ]
    );
}

/// Both requests must be inside their handlers at once to pass the barrier: the async
/// handler waits on the test's own synchronisation, and `max_in_flight` sees the overlap.
#[tokio::test]
async fn async_handlers_wait_and_max_in_flight_counts_overlap() {
    let server = MockServer::start();
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    server.on_async("GET", "/files/*", move |req| {
        let b = barrier.clone();
        async move {
            b.wait().await;
            Response::ok().text(req.path().to_owned())
        }
    });
    let c = client();
    let (a, b) = tokio::join!(
        c.get(server.url("/files/a")).send(),
        c.get(server.url("/files/b")).send()
    );
    assert_eq!(a.unwrap().text().await.unwrap(), "/files/a");
    assert_eq!(b.unwrap().text().await.unwrap(), "/files/b");
    assert_eq!(server.max_in_flight(), 2);
}

#[tokio::test]
async fn a_delayed_response_times_the_client_out() {
    let server = MockServer::start();
    server.respond(
        "GET",
        "/slow",
        Response::ok().delay(Duration::from_secs(30)),
    );
    server.respond("GET", "/fast", Response::ok());
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = c.get(server.url("/slow")).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(
        c.get(server.url("/fast")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn chunked_bodies_stream_with_pauses() {
    let server = MockServer::start();
    let lines = ["{\"id\":\"1\"}\n", "{\"id\":\"2\"}\n", "{\"id\":\"3\"}\n"];
    server.respond(
        "GET",
        "/export.ndjson",
        Response::ok()
            .header("Content-Type", "application/fhir+ndjson")
            .chunked(lines)
            .chunk_interval(Duration::from_millis(20)),
    );
    let r = client()
        .get(server.url("/export.ndjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["transfer-encoding"], "chunked");
    assert!(r.headers().get("content-length").is_none());
    let mut stream = r.bytes_stream();
    let mut parts = Vec::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        parts.push(chunk.unwrap());
    }
    // Separated by pauses, the chunks arrive one by one (a chunk may arrive in pieces, but
    // chunks are never merged).
    assert!(parts.len() >= 3, "{parts:?}");
    assert_eq!(parts.concat(), lines.concat().as_bytes());
}

#[tokio::test]
async fn gzip_compresses_whole_and_chunked_bodies() {
    let server = MockServer::start();
    let text = "{\"resourceType\":\"Patient\"}\n".repeat(200);
    server
        .respond("GET", "/whole", Response::ok().text(text.clone()).gzip())
        .respond(
            "GET",
            "/chunks",
            Response::ok()
                .chunked([text[..100].to_owned(), text[100..].to_owned()])
                .gzip(),
        );
    for path in ["/whole", "/chunks"] {
        let r = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(r.headers()["content-encoding"], "gzip", "{path}");
        let raw = r.bytes().await.unwrap();
        assert!(raw.len() < text.len() / 4, "{path}: compressed");
        let mut out = String::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text, "{path}");
    }
    assert_eq!(gzip(b"abc")[..2], [0x1f, 0x8b]);
}

#[tokio::test]
async fn cut_bodies_fail_on_the_client() {
    let server = MockServer::start();
    let body = "x".repeat(10_000);
    server
        .respond(
            "GET",
            "/cut",
            Response::ok().body(body.clone()).cut_after(4000),
        )
        .respond(
            "GET",
            "/cut-chunked",
            Response::ok()
                .chunked([body.clone(), body.clone()])
                .cut_after(12_000),
        )
        .respond(
            "GET",
            "/lying-length",
            Response::ok().header("Content-Length", "50").body("short"),
        )
        .respond("GET", "/whole", Response::ok().body(body.clone()));
    let c = client();
    let r = c.get(server.url("/cut")).send().await.unwrap();
    assert_eq!(
        r.headers()["content-length"],
        "10000",
        "announces the full length"
    );
    assert!(r.bytes().await.is_err(), "a body cut short is an error");
    let r = c.get(server.url("/cut-chunked")).send().await.unwrap();
    assert!(
        r.bytes().await.is_err(),
        "a chunked body without its end is an error"
    );
    let r = c.get(server.url("/lying-length")).send().await.unwrap();
    assert!(r.bytes().await.is_err());
    // The server still serves.
    let r = c.get(server.url("/whole")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().len(), 10_000);
}

/// A 307 to a second origin on another loopback host: both servers see their request.
#[tokio::test]
async fn cross_origin_redirects_reach_a_second_server() {
    let fhir = MockServer::start();
    let cdn = MockServer::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    assert_ne!(fhir.addr().ip(), cdn.addr().ip());
    cdn.respond("GET", "/cdn/obs.ndjson", Response::ok().text("{}\n"));
    fhir.respond(
        "GET",
        "/files/obs.ndjson",
        Response::redirect(307, &cdn.url("/cdn/obs.ndjson?sig=abc")),
    );
    let c = reqwest::Client::new(); // follows redirects
    let r = c
        .get(fhir.url("/files/obs.ndjson"))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "{}\n");
    assert_eq!(fhir.requests()[0].bearer(), Some("tok"));
    let at_cdn = cdn.requests();
    assert_eq!(at_cdn.len(), 1);
    assert_eq!(at_cdn[0].query_param("sig").as_deref(), Some("abc"));
    // reqwest drops Authorization when the host changes.
    assert_eq!(at_cdn[0].header("authorization"), None);
}

/// Sends one request on `s` and reads its response (whose body is `body_len` bytes).
fn exchange(s: &mut TcpStream, request: &str, body_len: usize) -> String {
    s.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let head_end = got.windows(4).position(|w| w == b"\r\n\r\n");
        if head_end.is_some_and(|h| got.len() >= h + 4 + body_len) {
            break;
        }
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "connection closed early: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

/// Raw sockets, so that which connection carries which request is up to the test.
#[test]
fn keep_alive_reuses_connections_until_close() {
    let server = MockServer::start();
    server
        .respond("GET", "/a", Response::ok().text("a"))
        .respond("GET", "/bye", Response::ok().text("b").close());
    let get = |p: &str| format!("GET {p} HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut first = TcpStream::connect(server.addr()).unwrap();
    assert!(exchange(&mut first, &get("/a"), 1).ends_with("\r\n\r\na"));
    assert!(exchange(&mut first, &get("/a"), 1).ends_with("\r\n\r\na"));
    let bye = exchange(&mut first, &get("/bye"), 1);
    assert!(
        bye.to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{bye}"
    );
    let mut rest = Vec::new();
    assert_eq!(
        first.read_to_end(&mut rest).unwrap(),
        0,
        "closed by the server"
    );
    let mut second = TcpStream::connect(server.addr()).unwrap();
    exchange(&mut second, &get("/a"), 1);
    let conns: Vec<usize> = server.requests().iter().map(|r| r.connection).collect();
    assert_eq!(conns, [1, 1, 1, 2]);
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_is_reported() {
    let server = MockServer::start();
    server.on("GET", "/check", |req| {
        assert_eq!(req.header("prefer"), Some("respond-async"), "Prefer header");
        Response::new(202)
    });
    let c = client();
    let ok = c
        .get(server.url("/check"))
        .header("Prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);
    let bad = c.get(server.url("/check")).send().await.unwrap();
    assert_eq!(bad.status(), 500);
    assert!(bad.text().await.unwrap().contains("Prefer header"));
    let panics = server.take_handler_panics();
    assert_eq!(panics.len(), 1);
    assert!(panics[0].contains("Prefer header"), "{panics:?}");
}

#[test]
#[should_panic(expected = "mock server handler panicked: boom")]
fn dropping_a_server_whose_handler_panicked_fails_the_test() {
    let server = MockServer::start();
    server.on("GET", "/", |_| panic!("boom"));
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 500"), "{out}");
    drop(server);
}

/// No async runtime in the test: raw HTTP/1.1 on a socket; then the port is closed on drop.
#[test]
fn serves_sync_tests_and_stops_on_drop() {
    let server = MockServer::start();
    server.respond("GET", "/metadata", Response::ok().json(&json!({"a": 1})));
    let addr = server.addr();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    let lower = out.to_ascii_lowercase();
    assert!(lower.contains("\r\ncontent-length: 7\r\n"), "{out}");
    assert!(
        lower.contains("\r\ncontent-type: application/json\r\n"),
        "{out}"
    );
    assert!(out.ends_with("\r\n\r\n{\"a\":1}"), "{out}");
    drop(server);
    assert!(TcpStream::connect(addr).is_err(), "closed after drop");
}

#[test]
fn responses_build_as_documented() {
    let r = Response::new(201)
        .header("Link", "<a>; rel=next")
        .header("Link", "<b>; rel=prev")
        .header("Content-Type", "application/fhir+json")
        .json(&json!({}));
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers.get_all("link").iter().count(), 2);
    assert_eq!(r.headers["content-type"], "application/fhir+json", "kept");
    assert_eq!(r.encoded_body(), "{}");
    let z = Response::ok().text("hello").gzip();
    assert_eq!(z.encoded_body()[..2], [0x1f, 0x8b]);
    assert_eq!(Response::redirect(302, "/x").headers["location"], "/x");
}

/// A mock that owns its server can be dropped last by one of its own handlers (the server
/// thread must not try to join itself).
#[test]
fn a_server_dropped_by_its_own_handler_stops_cleanly() {
    let slot: Arc<std::sync::Mutex<Option<MockServer>>> = Arc::default();
    let server = MockServer::start();
    let addr = server.addr();
    let s2 = slot.clone();
    server.on("GET", "/last", move |_| {
        drop(s2.lock().unwrap().take());
        Response::ok().text("bye")
    });
    *slot.lock().unwrap() = Some(server);
    let mut s = TcpStream::connect(addr).unwrap();
    let out = exchange(&mut s, "GET /last HTTP/1.1\r\nHost: x\r\n\r\n", 3);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("bye"), "{out}");
}

/// A client that sends in the background: the test waits for the requests, bounded.
#[tokio::test]
async fn wait_for_hits_sees_background_requests() {
    let server = MockServer::start();
    server.respond("POST", "/fhir/Observation", Response::new(201));
    assert!(
        !server
            .wait_for_hits("POST", "/fhir/Observation", 1, Duration::from_millis(20))
            .await,
        "nothing sent yet"
    );
    let url = server.url("/fhir/Observation");
    let sender = tokio::spawn(async move {
        let c = client();
        for i in 0..3 {
            c.post(&url).body(format!("{i}")).send().await.unwrap();
        }
    });
    assert!(
        server
            .wait_for_hits("POST", "/fhir/*", 3, Duration::from_secs(30))
            .await
    );
    let bodies: Vec<String> = server.requests().iter().map(|r| r.text()).collect();
    assert_eq!(bodies, ["0", "1", "2"]);
    sender.await.unwrap();
}
