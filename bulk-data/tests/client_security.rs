//! Regression tests for the HTTP client's security and memory rules (issue 10
//! items 8, 9, 10) against loopback mock servers: decoded-size limit, no URL
//! query in errors or logs, the bearer token kept on the FHIR server's origin.
#![cfg(feature = "reqwest")]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ehrkit_bulk_data::client::{BulkClient, ClientConfig, NoAuth, StaticToken};
use ehrkit_bulk_data::Error;
use ehrkit_bulk_data::{ExportLevel, ExportRequest, FileKind, PollConfig};
use tokio::net::TcpListener;

mod support;
use support::{resp, serve, MockServer, Req};

/// Millisecond-scale polling for tests.
fn fast_poll() -> PollConfig {
    PollConfig::default()
        .wait_range(Duration::from_millis(2), Duration::from_millis(40))
        .initial_backoff(Duration::from_millis(5))
        .deadline(Some(Duration::from_secs(20)))
}

fn manifest_json(base: &str, requires: bool, output: &str, extra: &str) -> String {
    format!(
        r#"{{"transactionTime":"2026-11-22T00:00:00.123Z","request":"{base}/fhir/$export",
        "requiresAccessToken":{requires},"output":[{output}],"error":[]{extra}}}"#
    )
}

const PATIENTS: &str = "{\"resourceType\":\"Patient\",\"id\":\"p1\"}\n{\"resourceType\":\"Patient\",\"id\":\"p2\"}\n{\"resourceType\":\"Patient\",\"id\":\"p3\"}\n";

/// A loopback port where nothing listens (connections are refused).
async fn dead_origin() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    format!("http://{a}")
}

/// Display, Debug and every source of `e`, as text.
fn all_text(e: &Error) -> String {
    let mut s = format!("{e}\n{e:?}\n");
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        s.push_str(&format!("{x}\n{x:?}\n"));
        src = x.source();
    }
    s
}

fn assert_no_query(text: &str) {
    for secret in ["SIG-SECRET", "CRED-SECRET", "X-Amz", "sig="] {
        assert!(!text.contains(secret), "{secret} leaked in: {text}");
    }
}

/// Issue 10 item 9: a failed download of a pre-signed URL names the stage,
/// origin and path, never the query (signature, credential), in Display,
/// Debug, the source chain or the logs.
#[tokio::test]
async fn errors_and_logs_never_show_signed_url_queries() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("ehrkit_bulk_data=trace"))
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("only this test sets a subscriber");

    let dead = dead_origin().await;
    let q = "X-Amz-Signature=SIG-SECRET&X-Amz-Credential=CRED-SECRET&X-Amz-Expires=300";
    let dead2 = dead.clone();
    let (base, _log) = serve(Arc::new(move |r: &Req| match r.path() {
        "/files/redirect.ndjson" => resp(
            307,
            &[("Location", &format!("{dead2}/cdn/p.ndjson?{q}"))],
            "",
        ),
        _ => resp(404, &[], ""),
    }));
    let client = BulkClient::with_config(
        format!("{base}/fhir").parse().unwrap(),
        StaticToken::new("tok"),
        ClientConfig::default().poll(
            PollConfig::default()
                .wait_range(Duration::from_millis(1), Duration::from_millis(5))
                .initial_backoff(Duration::from_millis(1))
                .max_transient_errors(2),
        ),
    )
    .unwrap();
    let m: ehrkit_bulk_data::Manifest = serde_json::from_str(&format!(
        r#"{{"transactionTime":"t","request":"r","requiresAccessToken":true,"output":[
        {{"type":"Patient","url":"{dead}/files/p.ndjson?{q}"}},
        {{"type":"Patient","url":"{base}/files/redirect.ndjson?{q}"}}],"error":[]}}"#
    ))
    .unwrap();
    for (i, path) in [(0, "/files/p.ndjson"), (1, "/cdn/p.ndjson")] {
        let e = client
            .download(&m, &m.output[i], FileKind::Output, |_| Ok(()))
            .await
            .unwrap_err();
        let text = all_text(&e);
        assert_no_query(&text);
        let shown = e.to_string();
        assert!(shown.contains("download"), "{shown}");
        assert!(shown.contains(path), "{shown}");
        assert!(shown.contains(&dead), "{shown}");
    }
    // Polling a signed status URL on a dead origin: network errors are logged, then give up.
    let mut job = client.resume(format!("{dead}/status/1?sig=SIG-SECRET").parse().unwrap());
    let e = client.wait(&mut job, |_| {}).await.unwrap_err();
    assert!(matches!(e, Error::TooManyRetries { .. }), "{e:?}");
    assert_no_query(&all_text(&e));
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("network error while polling"), "{logged}");
    assert_no_query(&logged);
}

/// Collects everything this crate logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Starts the FHIR server (kick-off) and a status server on another origin
/// whose manifest pages on to a third origin; returns the client's base and
/// the three servers (FHIR, status, pages; each stops when dropped).
fn three_origins() -> (String, MockServer, MockServer, MockServer) {
    let (pages, pages_log) = serve(Arc::new(|_r: &Req| {
        resp(200, &[], manifest_json("http://x", true, "", ""))
    }));
    let (status, status_log) = serve(Arc::new(move |r: &Req| match r.path() {
        "/status/1" => {
            let link = format!(r#","link":[{{"relation":"next","url":"{pages}/page/2"}}]"#);
            resp(200, &[], manifest_json("http://x", true, "", &link))
        }
        _ => resp(404, &[], ""),
    }));
    let (base, fhir) = serve(Arc::new(move |r: &Req| match r.path() {
        "/fhir/$export" => resp(
            202,
            &[("Content-Location", &format!("{status}/status/1"))],
            "",
        ),
        _ => resp(404, &[], ""),
    }));
    (base, fhir, status_log, pages_log)
}

/// Issue 10 item 10: the bearer token goes to the FHIR server's origin only;
/// a status URL or a manifest `link` page on another origin is asked without
/// it, unless the deployment opts in.
#[tokio::test]
async fn token_never_goes_to_a_status_or_page_on_another_origin() {
    for opt_in in [false, true] {
        let (base, _fhir, status_log, pages_log) = three_origins();
        let mut config = ClientConfig::default().poll(fast_poll());
        if opt_in {
            config = config.token_to_other_origins(true);
        }
        let client = BulkClient::with_config(
            format!("{base}/fhir").parse().unwrap(),
            StaticToken::new("tok-x"),
            config,
        )
        .unwrap();
        let mut job = client
            .kick_off(&ExportRequest::new(ExportLevel::System))
            .await
            .unwrap();
        client.wait(&mut job, |_| {}).await.unwrap();
        let expected = opt_in.then_some("Bearer tok-x");
        for log in [&status_log, &pages_log] {
            let reqs = log.requests();
            assert_eq!(reqs.len(), 1);
            assert_eq!(reqs[0].header("authorization"), expected, "opt-in {opt_in}");
        }
    }
}

fn gzip_lines(n: usize, line_len: usize) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let line = format!(
        "{{\"resourceType\":\"Binary\",\"data\":\"{}\"}}\n",
        "A".repeat(line_len)
    );
    for _ in 0..n {
        e.write_all(line.as_bytes()).unwrap();
    }
    e.finish().unwrap()
}

/// Issue 10 item 8: a per-file limit on the decoded size stops a gzip bomb
/// with a clear error; without it the file is read (streamed) to the end.
#[tokio::test]
async fn decoded_size_limit_stops_a_gzip_bomb() {
    let bomb = gzip_lines(8, 1 << 20);
    assert!(bomb.len() < 64 * 1024);
    let (base, _log) = serve(Arc::new(move |r: &Req| match r.path() {
        "/f/bomb.ndjson" => resp(200, &[("Content-Encoding", "gzip")], bomb.clone()),
        "/f/small.ndjson" => resp(200, &[], PATIENTS),
        _ => resp(404, &[], ""),
    }));
    let m: ehrkit_bulk_data::Manifest = serde_json::from_str(&format!(
        r#"{{"transactionTime":"t","request":"r","requiresAccessToken":false,"output":[
        {{"type":"Binary","url":"{base}/f/bomb.ndjson?sig=SIG-SECRET"}},
        {{"type":"Patient","url":"{base}/f/small.ndjson"}}],"error":[]}}"#
    ))
    .unwrap();
    let limited = BulkClient::with_config(
        format!("{base}/fhir").parse().unwrap(),
        NoAuth,
        ClientConfig::default().max_file_size(Some(2 << 20)),
    )
    .unwrap();
    let mut seen = 0;
    match limited
        .download(&m, &m.output[0], FileKind::Output, |_| {
            seen += 1;
            Ok(())
        })
        .await
    {
        Err(e @ Error::FileTooLarge { .. }) => {
            let shown = e.to_string();
            assert!(shown.contains("/f/bomb.ndjson"), "{shown}");
            assert!(shown.contains("2097152"), "{shown}");
            assert_no_query(&all_text(&e));
        }
        other => panic!("{other:?}"),
    }
    assert!(seen <= 2, "stopped at the limit, {seen} records");
    let small = limited
        .download(&m, &m.output[1], FileKind::Output, |_| Ok(()))
        .await
        .unwrap();
    assert_eq!(small, 3);
    let unlimited = BulkClient::new(format!("{base}/fhir").parse().unwrap(), NoAuth).unwrap();
    let n = unlimited
        .download(&m, &m.output[0], FileKind::Output, |rec| {
            assert_eq!(rec.json().len(), (1 << 20) + 35);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(n, 8);
}
