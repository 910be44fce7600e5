//! End to end over loopback: `BulkClient` + `smart::BackendServicesTokens` against
//!
//! * a mock authorization server (token endpoint, `client_credentials` with a `private_key_jwt`
//!   assertion whose signature, `alg`, `kid`, `typ`, `iss`/`sub`/`aud`, `exp` ≤ 5 min and fresh
//!   `jti` it verifies with the public keys in `tests/data/keys`), issuing short-lived tokens;
//! * a mock FHIR / Bulk Data server on another origin that serves the
//!   `.well-known/smart-configuration` (naming the token endpoint), the kick-off, the status and
//!   the files, and checks on arrival that every request carries a token that is currently valid.
#![cfg(all(feature = "smart-auth", feature = "reqwest"))]

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ehrkit_bulk_data::client::{BulkClient, ClientConfig, TokenProvider};
use ehrkit_bulk_data::smart::smart_auth::client_auth::{
    Algorithm, ClientAuth, PrivateKeyJwt, SigningKey,
};
use ehrkit_bulk_data::smart::smart_auth::store::TokenStore;
use ehrkit_bulk_data::smart::smart_auth::token::Client;
use ehrkit_bulk_data::smart::BackendServicesTokens;
use ehrkit_bulk_data::Error;
use ehrkit_bulk_data::{ExportLevel, ExportRequest, FileKind, PollConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CLIENT_ID: &str = "bulk-client";
const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/keys/");

fn key_file(name: &str) -> Vec<u8> {
    std::fs::read(format!("{KEYS}{name}")).unwrap()
}

// ------------------------------------------------------------------ a tiny HTTP/1.1 server

struct Req {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ")
    }
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Sleep before answering (a slow file).
    delay: Duration,
    /// Hold the answer until the counter reaches the value (bounded by 5 s).
    hold_until: Option<(Arc<AtomicUsize>, usize)>,
}

fn resp(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Resp {
    Resp {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.into(),
        delay: Duration::ZERO,
        hold_until: None,
    }
}

type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

/// Binds 127.0.0.1:0; the accept loop ends with the test's runtime.
async fn bind() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    (l, base)
}

fn serve(listener: TcpListener, handler: Handler) {
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let h = handler.clone();
            tokio::spawn(async move {
                let Some(req) = read_request(&mut s).await else {
                    return;
                };
                let r = h(&req);
                if let Some((counter, n)) = &r.hold_until {
                    let start = Instant::now();
                    while counter.load(Ordering::SeqCst) < *n
                        && start.elapsed() < Duration::from_secs(5)
                    {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                if !r.delay.is_zero() {
                    tokio::time::sleep(r.delay).await;
                }
                let mut out = format!("HTTP/1.1 {} X\r\n", r.status).into_bytes();
                for (k, v) in &r.headers {
                    write!(out, "{k}: {v}\r\n").unwrap();
                }
                write!(
                    out,
                    "Content-Length: {}\r\nConnection: close\r\n\r\n",
                    r.body.len()
                )
                .unwrap();
                out.extend_from_slice(&r.body);
                let _ = s.write_all(&out).await;
                let _ = s.shutdown().await;
            });
        }
    });
}

async fn read_request(s: &mut tokio::net::TcpStream) -> Option<Req> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut tmp))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 1 << 16 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if len > 1 << 20 {
        return None;
    }
    while buf.len() < head_end + len {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    Some(Req {
        method,
        target,
        headers,
        body: buf[head_end..head_end + len].to_vec(),
    })
}

// ------------------------------------------------------------------ mock authorization server

struct Issued {
    expires: Instant,
    revoked: bool,
}

struct Auth {
    token_url: String,
    /// kid -> (alg, public key PEM)
    keys: HashMap<String, (jsonwebtoken::Algorithm, Vec<u8>)>,
    expires_in: u64,
    issued: Mutex<HashMap<String, Issued>>,
    /// Tokens in the order they were issued.
    order: Mutex<Vec<String>>,
    jtis: Mutex<HashSet<String>>,
    token_requests: AtomicUsize,
    rejections: Mutex<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct AssertionClaims {
    exp: u64,
    jti: String,
}

impl Auth {
    fn is_valid(&self, token: &str) -> bool {
        self.issued
            .lock()
            .unwrap()
            .get(token)
            .is_some_and(|t| !t.revoked && Instant::now() < t.expires)
    }
    fn revoke(&self, token: &str) {
        if let Some(t) = self.issued.lock().unwrap().get_mut(token) {
            t.revoked = true;
        }
    }
    fn count(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }
    fn all_tokens(&self) -> Vec<String> {
        self.order.lock().unwrap().clone()
    }

    /// Checks the client assertion independently of the client's code: the public key comes
    /// from the PEM generated by OpenSSL, the claims are checked one by one here.
    fn verify(&self, form: &HashMap<String, String>) -> Result<(), String> {
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return Err("grant_type".into());
        }
        if form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Err("client_assertion_type".into());
        }
        if form.get("scope").is_none_or(|s| s.is_empty()) {
            return Err("scope".into());
        }
        let jwt = form.get("client_assertion").ok_or("no assertion")?;
        let header = jsonwebtoken::decode_header(jwt).map_err(|e| format!("header: {e}"))?;
        if header.typ.as_deref() != Some("JWT") {
            return Err("typ".into());
        }
        let kid = header.kid.ok_or("no kid")?;
        let (alg, pem) = self.keys.get(&kid).ok_or("unknown kid")?;
        if header.alg != *alg {
            return Err("alg does not match the registered key".into());
        }
        let key = match alg {
            jsonwebtoken::Algorithm::ES384 => jsonwebtoken::DecodingKey::from_ec_pem(pem),
            _ => jsonwebtoken::DecodingKey::from_rsa_pem(pem),
        }
        .map_err(|e| format!("public key: {e}"))?;
        let mut v = jsonwebtoken::Validation::new(*alg);
        v.set_audience(&[&self.token_url]);
        v.set_issuer(&[CLIENT_ID]);
        v.sub = Some(CLIENT_ID.into());
        v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        v.leeway = 0;
        let data = jsonwebtoken::decode::<AssertionClaims>(jwt, &key, &v)
            .map_err(|e| format!("signature or claims: {e}"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        if data.claims.exp > now + 301 {
            return Err("exp more than 5 minutes ahead".into());
        }
        if !self.jtis.lock().unwrap().insert(data.claims.jti) {
            return Err("replayed jti".into());
        }
        Ok(())
    }

    fn handle(&self, req: &Req) -> Resp {
        if req.method != "POST" || req.target != "/auth/token" {
            return resp(404, &[], "");
        }
        self.token_requests.fetch_add(1, Ordering::SeqCst);
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Err(why) = self.verify(&form) {
            self.rejections.lock().unwrap().push(why);
            return resp(
                401,
                &[("Content-Type", "application/json")],
                r#"{"error":"invalid_client","error_description":"client assertion refused"}"#,
            );
        }
        let n = self.order.lock().unwrap().len();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let token = format!("at{n}x{nanos:09}");
        self.issued.lock().unwrap().insert(
            token.clone(),
            Issued {
                expires: Instant::now() + Duration::from_secs(self.expires_in),
                revoked: false,
            },
        );
        self.order.lock().unwrap().push(token.clone());
        let body = serde_json::json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": form["scope"],
        });
        resp(
            200,
            &[("Content-Type", "application/json")],
            body.to_string(),
        )
    }
}

async fn start_auth(expires_in: u64) -> Arc<Auth> {
    let (listener, base) = bind().await;
    let mut keys = HashMap::new();
    keys.insert(
        "ec-1".to_owned(),
        (jsonwebtoken::Algorithm::ES384, key_file("ec384-public.pem")),
    );
    keys.insert(
        "rsa-1".to_owned(),
        (jsonwebtoken::Algorithm::RS384, key_file("rsa-public.pem")),
    );
    let auth = Arc::new(Auth {
        token_url: format!("{base}/auth/token"),
        keys,
        expires_in,
        issued: Mutex::default(),
        order: Mutex::default(),
        jtis: Mutex::default(),
        token_requests: AtomicUsize::new(0),
        rejections: Mutex::default(),
    });
    let a = auth.clone();
    serve(listener, Arc::new(move |r: &Req| a.handle(r)));
    auth
}

// ------------------------------------------------------------------ mock FHIR Bulk Data server

#[derive(Clone, Copy, PartialEq)]
enum FileAuth {
    /// Serve files to any currently valid token.
    Normal,
    /// On the first file request revoke its token and answer 401 (hold that answer until a
    /// second file request has arrived, so both are in flight with the revoked token).
    RevokeFirst,
    /// Always 401 (a server that refuses the client whatever the token).
    Always401,
}

struct Fhir {
    base: String,
    auth: Arc<Auth>,
    polls_before_done: usize,
    files: Vec<(String, String, usize)>, // (name, type, records)
    file_delay: Duration,
    file_auth: FileAuth,
    polls: AtomicUsize,
    file_arrivals: Arc<AtomicUsize>,
    log: Mutex<Vec<Hit>>,
}

/// One request the FHIR server answered.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    /// The bearer token presented.
    token: Option<String>,
    /// Whether that token was valid (issued, unexpired, not revoked) on arrival.
    valid: bool,
    /// Status answered.
    status: u16,
}

impl Hit {
    fn is_file(&self) -> bool {
        self.path.starts_with("/files/")
    }
}

fn ndjson(rtype: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"resourceType\":\"{rtype}\",\"id\":\"{rtype}-{i}\"}}\n"))
        .collect()
}

impl Fhir {
    fn handle(&self, req: &Req) -> Resp {
        let path = req.target.split('?').next().unwrap_or("").to_owned();
        if path == "/fhir/.well-known/smart-configuration" {
            // Discovery is public: no token needed (and none must be sent).
            assert!(req.bearer().is_none(), "token sent to discovery");
            let body = serde_json::json!({
                "issuer": self.auth.token_url.trim_end_matches("/token"),
                "token_endpoint": self.auth.token_url,
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["ES384", "RS384"],
                "scopes_supported": ["system/*.rs"],
                "capabilities": ["client-confidential-asymmetric", "permission-v2"],
            });
            return resp(
                200,
                &[("Content-Type", "application/json")],
                body.to_string(),
            );
        }
        let token = req.bearer().map(str::to_owned);
        let valid = token.as_deref().is_some_and(|t| self.auth.is_valid(t));
        let mut r = self.route(&path, req, token.as_deref(), valid);
        if !valid && r.status < 300 {
            r = resp(401, &[], "");
        }
        self.log.lock().unwrap().push(Hit {
            path,
            token,
            valid,
            status: r.status,
        });
        r
    }

    fn route(&self, path: &str, req: &Req, token: Option<&str>, valid: bool) -> Resp {
        match path {
            "/fhir/$export" => {
                assert_eq!(req.header("prefer"), Some("respond-async"));
                let loc = format!("{}/status/1", self.base);
                resp(202, &[("Content-Location", loc.as_str())], "")
            }
            "/status/1" => {
                let n = self.polls.fetch_add(1, Ordering::SeqCst);
                if n < self.polls_before_done {
                    return resp(202, &[("Retry-After", "1"), ("X-Progress", "busy")], "");
                }
                let output: Vec<_> = self
                    .files
                    .iter()
                    .map(|(name, t, count)| {
                        serde_json::json!({"type": t, "url": format!("{}/files/{name}", self.base), "count": count})
                    })
                    .collect();
                let m = serde_json::json!({
                    "transactionTime": "2026-11-22T00:00:00Z",
                    "request": format!("{}/fhir/$export", self.base),
                    "requiresAccessToken": true,
                    "output": output,
                    "error": [],
                });
                resp(200, &[("Content-Type", "application/json")], m.to_string())
            }
            p if p.starts_with("/files/") => {
                let arrival = self.file_arrivals.fetch_add(1, Ordering::SeqCst);
                match self.file_auth {
                    FileAuth::Always401 if valid => return resp(401, &[], ""),
                    FileAuth::RevokeFirst if valid && arrival == 0 => {
                        self.auth.revoke(token.unwrap_or_default());
                        let mut r = resp(401, &[], "");
                        r.hold_until = Some((self.file_arrivals.clone(), 2));
                        return r;
                    }
                    _ => {}
                }
                let name = &p["/files/".len()..];
                let Some((_, t, n)) = self.files.iter().find(|(f, _, _)| f == name) else {
                    return resp(404, &[], "");
                };
                let mut r = resp(
                    200,
                    &[("Content-Type", "application/fhir+ndjson")],
                    ndjson(t, *n),
                );
                r.delay = self.file_delay;
                r
            }
            _ => resp(404, &[], ""),
        }
    }

    fn log(&self) -> Vec<Hit> {
        self.log.lock().unwrap().clone()
    }
}

async fn start_fhir(
    auth: Arc<Auth>,
    polls_before_done: usize,
    files: &[(&str, &str, usize)],
    file_delay: Duration,
    file_auth: FileAuth,
) -> Arc<Fhir> {
    let (listener, base) = bind().await;
    let fhir = Arc::new(Fhir {
        base,
        auth,
        polls_before_done,
        files: files
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
            .collect(),
        file_delay,
        file_auth,
        polls: AtomicUsize::new(0),
        file_arrivals: Arc::new(AtomicUsize::new(0)),
        log: Mutex::default(),
    });
    let f = fhir.clone();
    serve(listener, Arc::new(move |r: &Req| f.handle(r)));
    fhir
}

// ------------------------------------------------------------------ client side

fn client(pem: &str, alg: Algorithm, kid: &str) -> Client {
    let key = SigningKey::from_pem(&key_file(pem), alg, Some(kid.into())).unwrap();
    Client::new(
        CLIENT_ID,
        ClientAuth::PrivateKeyJwt(PrivateKeyJwt::new(key)),
    )
}

async fn provider(fhir: &Fhir, c: Client) -> Result<BackendServicesTokens, Error> {
    let base = format!("{}/fhir/", fhir.base).parse().unwrap();
    BackendServicesTokens::connect(
        &base,
        c,
        "system/Patient.rs system/Observation.rs".parse().unwrap(),
        // A 60 s skew: the store caps it at half a token's lifetime.
        Arc::new(TokenStore::new(Duration::from_secs(60))),
    )
    .await
}

fn bulk(
    fhir: &Fhir,
    tokens: BackendServicesTokens,
    parallel: usize,
) -> BulkClient<BackendServicesTokens> {
    let config = ClientConfig::default()
        .parallel_downloads(parallel)
        .poll(PollConfig::default().wait_range(Duration::from_secs(1), Duration::from_secs(2)));
    BulkClient::with_config(
        format!("{}/fhir/", fhir.base).parse().unwrap(),
        tokens,
        config,
    )
    .unwrap()
}

/// Collects everything this crate and smart-auth log, at every level.
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

// ------------------------------------------------------------------ tests

/// Tokens live 2 s (renewed after 1 s: the 60 s skew is capped at half the lifetime); the
/// export polls once (1 s) and then downloads four files one at a time, each taking 0.7 s,
/// so the job outlives several tokens. Every request must carry a token that is valid when
/// it arrives, and the token must change during the downloads.
#[tokio::test]
async fn a_download_that_outlives_tokens_gets_a_fresh_one_on_every_request() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "ehrkit_bulk_data=trace,ehrkit_smart_auth=trace",
        ))
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    // A global (not thread-scoped) subscriber: with `set_default`, a callsite first reached by
    // another test thread of this binary (no subscriber there) could have its interest cached
    // as "never" and this test would miss the event. Only this test installs one.
    tracing::subscriber::set_global_default(subscriber).expect("only this test sets a subscriber");

    let auth = start_auth(2).await;
    let files = [
        ("p1.ndjson", "Patient", 3),
        ("o1.ndjson", "Observation", 5),
        ("o2.ndjson", "Observation", 4),
        ("p2.ndjson", "Patient", 2),
    ];
    let fhir = start_fhir(
        auth.clone(),
        1,
        &files,
        Duration::from_millis(700),
        FileAuth::Normal,
    )
    .await;
    let tokens = provider(&fhir, client("ec384-private.pem", Algorithm::ES384, "ec-1"))
        .await
        .unwrap();
    assert_eq!(
        auth.count(),
        0,
        "connect only discovers; tokens are fetched on demand"
    );
    let bulk = bulk(&fhir, tokens, 1);

    let mut job = bulk
        .kick_off(&ExportRequest::new(ExportLevel::System).types(["Patient", "Observation"]))
        .await
        .unwrap();
    let manifest = bulk.wait(&mut job, |_| {}).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let got = bulk.download_all(&manifest, dir.path()).await.unwrap();

    // The data arrived, file by file.
    let mut counts: Vec<(String, u64)> = got
        .iter()
        .map(|f| (f.resource_type.clone(), f.records))
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("Observation".to_owned(), 4),
            ("Observation".to_owned(), 5),
            ("Patient".to_owned(), 2),
            ("Patient".to_owned(), 3)
        ]
    );
    assert!(got.iter().all(|f| f.kind == FileKind::Output));

    assert!(
        auth.rejections.lock().unwrap().is_empty(),
        "assertions refused: {:?}",
        auth.rejections.lock().unwrap()
    );
    let log = fhir.log();
    // kick-off, 2 status polls, 4 files; each with a token valid on arrival.
    assert_eq!(log.len(), 7, "{log:?}");
    for h in &log {
        assert!(h.token.is_some() && h.valid, "invalid token: {h:?}");
        assert!((200..300).contains(&h.status), "{h:?}");
    }
    // The kick-off and the first poll follow each other at once: the cached token is reused.
    assert_eq!(log[0].token, log[1].token);
    // The downloads outlived a token: the files were fetched with more than one token.
    let file_tokens: HashSet<_> = log
        .iter()
        .filter(|h| h.is_file())
        .map(|h| h.token.clone())
        .collect();
    assert!(
        file_tokens.len() >= 2,
        "one token for all files: {file_tokens:?}"
    );
    // Renewal happens only on demand: every token requested was used, none was wasted.
    let used: HashSet<_> = log.iter().filter_map(|h| h.token.clone()).collect();
    assert_eq!(used.len(), auth.count());
    assert!(auth.count() >= 3, "token requests: {}", auth.count());

    // No token ever reached the logs (which are not empty: renewals are logged).
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("renewing token"), "logs: {text}");
    for t in auth.all_tokens() {
        assert!(!text.contains(&t), "token logged");
    }
}

/// A 401 for the current token causes exactly one token request, shared by two downloads
/// that were both in flight with the revoked token; both then succeed with the new token.
#[tokio::test]
async fn a_401_causes_exactly_one_refresh_shared_by_concurrent_downloads() {
    let auth = start_auth(3600).await;
    let fhir = start_fhir(
        auth.clone(),
        0,
        &[("p1.ndjson", "Patient", 3), ("p2.ndjson", "Patient", 2)],
        Duration::ZERO,
        FileAuth::RevokeFirst,
    )
    .await;
    let tokens = provider(&fhir, client("ec384-private.pem", Algorithm::ES384, "ec-1"))
        .await
        .unwrap();
    let bulk = bulk(&fhir, tokens, 2);
    let mut job = bulk
        .kick_off(&ExportRequest::new(ExportLevel::System))
        .await
        .unwrap();
    let manifest = bulk.wait(&mut job, |_| {}).await.unwrap();
    assert_eq!(auth.count(), 1);
    let dir = tempfile::tempdir().unwrap();
    let got = bulk.download_all(&manifest, dir.path()).await.unwrap();
    assert_eq!(got.iter().map(|f| f.records).sum::<u64>(), 5);

    assert_eq!(auth.count(), 2, "exactly one refresh");
    let issued = auth.all_tokens();
    let files: Vec<_> = fhir.log().into_iter().filter(Hit::is_file).collect();
    // Two 401s (both with the first token), then two successes with the second one.
    assert_eq!(files.len(), 4, "{files:?}");
    let refused: Vec<_> = files.iter().filter(|h| h.status == 401).collect();
    assert_eq!(refused.len(), 2);
    assert!(refused
        .iter()
        .all(|h| h.token.as_deref() == Some(&*issued[0])));
    let served: Vec<_> = files.iter().filter(|h| h.status == 200).collect();
    assert_eq!(served.len(), 2);
    assert!(served
        .iter()
        .all(|h| h.token.as_deref() == Some(&*issued[1]) && h.valid));
}

/// A server that answers 401 whatever the token: one refresh, one retry, then a typed error
/// (no refresh loop).
#[tokio::test]
async fn a_persistent_401_refreshes_once_then_fails() {
    let auth = start_auth(3600).await;
    let fhir = start_fhir(
        auth.clone(),
        0,
        &[("p1.ndjson", "Patient", 1)],
        Duration::ZERO,
        FileAuth::Always401,
    )
    .await;
    let tokens = provider(&fhir, client("ec384-private.pem", Algorithm::ES384, "ec-1"))
        .await
        .unwrap();
    let bulk = bulk(&fhir, tokens, 1);
    let mut job = bulk
        .kick_off(&ExportRequest::new(ExportLevel::System))
        .await
        .unwrap();
    let manifest = bulk.wait(&mut job, |_| {}).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = bulk.download_all(&manifest, dir.path()).await.unwrap_err();
    assert!(matches!(err, Error::Server { status: 401, .. }), "{err:?}");
    assert_eq!(auth.count(), 2, "one initial token, one refresh");
    let files = fhir.log().into_iter().filter(Hit::is_file).count();
    assert_eq!(files, 2, "one request and one retry");
}

/// RS384 works too; a key the server does not know yields a typed token error that names the
/// OAuth error and carries no assertion.
#[tokio::test]
async fn rs384_is_accepted_and_an_unknown_key_is_a_typed_error() {
    let auth = start_auth(300).await;
    let fhir = start_fhir(auth.clone(), 0, &[], Duration::ZERO, FileAuth::Normal).await;

    let rsa = provider(&fhir, client("rsa-private.pem", Algorithm::RS384, "rsa-1"))
        .await
        .unwrap();
    let t = rsa.token().await.unwrap().unwrap();
    assert!(auth.is_valid(&t));
    // Cached: a second call makes no token request.
    assert_eq!(rsa.token().await.unwrap().as_deref(), Some(t.as_str()));
    assert_eq!(auth.count(), 1);
    assert!(!format!("{rsa:?}").contains(&t), "token in Debug");
    assert!(auth.rejections.lock().unwrap().is_empty());

    // Signed with a key registered under another kid: the signature check fails.
    let stranger = provider(
        &fhir,
        client("ec384-unregistered.pem", Algorithm::ES384, "ec-1"),
    )
    .await
    .unwrap();
    let err = stranger.token().await.unwrap_err();
    let Error::Token(msg) = &err else {
        panic!("expected a token error, got {err:?}")
    };
    assert!(msg.contains("invalid_client"), "{msg}");
    assert!(!msg.contains("eyJ"), "assertion in the error: {msg}");
    assert_eq!(auth.count(), 2);
    let rejections = auth.rejections.lock().unwrap().clone();
    assert_eq!(rejections.len(), 1);
    assert!(rejections[0].starts_with("signature"), "{rejections:?}");
}
