//! The server: a hyper HTTP/1.1 server on its own thread and tokio runtime.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use http::header::CONTENT_LENGTH;
use http::Method;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;

use super::{Request, Response};

type SyncHandler = dyn Fn(&Request) -> Response + Send + Sync;
type BoxFuture = Pin<Box<dyn Future<Output = Response> + Send>>;
type AsyncHandler = dyn Fn(Request) -> BoxFuture + Send + Sync;
type Body = BoxBody<Bytes, std::io::Error>;

#[derive(Clone)]
enum Handler {
    Sync(Arc<SyncHandler>),
    Async(Arc<AsyncHandler>),
    Sequence(Arc<Mutex<Sequence>>),
}

struct Sequence {
    next: VecDeque<Response>,
    last: Response,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PathMatch {
    Exact(String),
    Prefix(String),
}

impl PathMatch {
    fn parse(pattern: &str) -> Self {
        match pattern.strip_suffix('*') {
            Some(prefix) => PathMatch::Prefix(prefix.to_owned()),
            None => PathMatch::Exact(pattern.to_owned()),
        }
    }

    /// `None` when it does not match; else how specific the match is (higher wins).
    fn score(&self, path: &str) -> Option<(bool, usize)> {
        match self {
            PathMatch::Exact(p) => (p == path).then_some((true, p.len())),
            PathMatch::Prefix(p) => path.starts_with(p.as_str()).then_some((false, p.len())),
        }
    }
}

struct Route {
    method: Option<Method>,
    path: PathMatch,
    handler: Handler,
}

#[derive(Default)]
struct Inner {
    routes: Mutex<Vec<Route>>,
    log: Mutex<Vec<Request>>,
    panics: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    connections: AtomicUsize,
    /// Woken at every logged request.
    arrived: tokio::sync::Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler is caught before it can poison anything, but stay usable anyway.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A loopback HTTP/1.1 mock server: see the [module documentation](super).
///
/// It runs on its own thread with its own tokio runtime, so it serves sync tests, async
/// tests on any runtime flavour (and with paused time), and blocking clients alike. Dropping it
/// stops it: no new connections, idle keep-alive connections closed, requests in progress given
/// half a second. If a handler panicked (an `assert!` inside a handler), the drop panics with
/// that message so the test fails.
pub struct MockServer {
    inner: Arc<Inner>,
    addr: SocketAddr,
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("base", &self.base)
            .finish()
    }
}

impl MockServer {
    /// Starts a server on `127.0.0.1`, on a free port.
    ///
    /// # Panics
    /// When the loopback interface cannot be bound or the thread cannot start.
    pub fn start() -> MockServer {
        MockServer::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// Starts a server on this loopback address, on a free port. `127.0.0.2` gives a second
    /// origin that differs from `127.0.0.1` by host, not only by port (Linux routes all of
    /// 127.0.0.0/8 to loopback; other systems may need an alias).
    ///
    /// # Panics
    /// When the address cannot be bound (or is not a loopback address).
    pub fn start_on(ip: IpAddr) -> MockServer {
        assert!(
            ip.is_loopback(),
            "testkit: the mock server binds loopback addresses only"
        );
        let listener = std::net::TcpListener::bind(SocketAddr::new(ip, 0))
            .unwrap_or_else(|e| panic!("testkit: cannot bind {ip}: {e}"));
        listener
            .set_nonblocking(true)
            .expect("testkit: set_nonblocking");
        let addr = listener.local_addr().expect("testkit: local_addr");
        let inner = Arc::new(Inner::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let served = inner.clone();
        let thread = std::thread::Builder::new()
            .name(format!("testkit-mock-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("testkit: tokio runtime");
                rt.block_on(serve(listener, served, stopped));
            })
            .expect("testkit: spawn the mock server thread");
        MockServer {
            inner,
            addr,
            base: format!("http://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The origin, `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `base()` followed by `path_and_query` (which starts with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// Routes requests with `method` (`"GET"`, …; `"*"` for any) and `path` to `handler`.
    ///
    /// `path` matches the request path (query ignored) exactly, or as a prefix when it ends in
    /// `*` (`"/files/*"`, `"/*"` for every path). When several routes match, an exact path beats
    /// a prefix, a longer prefix a shorter one, a named method `"*"`, and among equals the route
    /// registered last wins (so a test can override a default). Unmatched requests get `404`
    /// with an empty body.
    ///
    /// The handler runs on the server's runtime thread: it must not block (use
    /// [`Response::delay`] or [`on_async`](Self::on_async) to wait).
    ///
    /// # Panics
    /// On an invalid method name.
    pub fn on<F>(&self, method: &str, path: &str, handler: F) -> &Self
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        self.add(method, path, Handler::Sync(Arc::new(handler)))
    }

    /// Like [`on`](Self::on), with an async handler (it gets the request by value): to wait for
    /// something the test controls (a [`tokio::sync::Notify`], a counter), or to await other
    /// futures.
    pub fn on_async<F, Fut>(&self, method: &str, path: &str, handler: F) -> &Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        let h: Arc<AsyncHandler> = Arc::new(move |r| Box::pin(handler(r)) as BoxFuture);
        self.add(method, path, Handler::Async(h))
    }

    /// Answers every matching request with a copy of `response`.
    pub fn respond(&self, method: &str, path: &str, response: Response) -> &Self {
        self.on(method, path, move |_| response.clone())
    }

    /// Answers matching requests with `responses` in turn; once they are used up, the last one
    /// is repeated (e.g. `503`, `503`, then `200` for ever).
    ///
    /// # Panics
    /// When `responses` is empty.
    pub fn sequence(
        &self,
        method: &str,
        path: &str,
        responses: impl IntoIterator<Item = Response>,
    ) -> &Self {
        let next: VecDeque<Response> = responses.into_iter().collect();
        let last = next
            .back()
            .cloned()
            .expect("testkit: a sequence needs at least one response");
        let seq = Sequence { next, last };
        self.add(method, path, Handler::Sequence(Arc::new(Mutex::new(seq))))
    }

    fn add(&self, method: &str, path: &str, handler: Handler) -> &Self {
        let method = match method {
            "*" => None,
            m => Some(
                Method::from_bytes(m.as_bytes())
                    .unwrap_or_else(|_| panic!("testkit: invalid method {m:?}")),
            ),
        };
        lock(&self.inner.routes).push(Route {
            method,
            path: PathMatch::parse(path),
            handler,
        });
        self
    }

    /// Every request received so far, in arrival order (logged when its body has been read,
    /// before the handler runs).
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.inner.log).clone()
    }

    /// The logged requests whose path is `path` (any method, query ignored).
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        lock(&self.inner.log)
            .iter()
            .filter(|r| r.path() == path)
            .cloned()
            .collect()
    }

    /// How many requests with this method (`"*"`: any) and path (`*` suffix: prefix) arrived.
    pub fn hits(&self, method: &str, path: &str) -> usize {
        let m = PathMatch::parse(path);
        lock(&self.inner.log)
            .iter()
            .filter(|r| method == "*" || r.method.as_str() == method)
            .filter(|r| m.score(r.path()).is_some())
            .count()
    }

    /// Waits until at least `n` requests matching `method` and `path` (as in
    /// [`hits`](Self::hits)) have arrived, or `timeout` has passed; returns whether they did.
    /// For clients that send in the background (a poller, a pipeline stage). Needs a tokio
    /// runtime with time enabled (`#[tokio::test]` has one).
    pub async fn wait_for_hits(
        &self,
        method: &str,
        path: &str,
        n: usize,
        timeout: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.inner.arrived.notified();
            tokio::pin!(arrived);
            // Register before counting, so a request logged in between is not missed.
            arrived.as_mut().enable();
            if self.hits(method, path) >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.hits(method, path) >= n;
            }
        }
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.inner.log).clear();
    }

    /// The most requests that were in progress at once (from a request's arrival until its
    /// response body was sent): checks that a client bounds its parallelism.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }

    /// How many TCP connections were accepted (keep-alive reuse keeps this low).
    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::SeqCst)
    }

    /// The messages of handlers that panicked so far, removed from the record (so the drop no
    /// longer fails the test for them).
    pub fn take_handler_panics(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.inner.panics))
    }

    /// Stops the server (what dropping it does), then fails if a handler panicked.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            // Dropped from one of its own handlers (the last `Arc` of a mock that owns its
            // server): the thread ends by itself once the handler returns.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
        let panics = self.take_handler_panics();
        if !panics.is_empty() && !std::thread::panicking() {
            panic!(
                "testkit: mock server handler panicked: {}",
                panics.join("; ")
            );
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    inner: Arc<Inner>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            lock(&inner.panics).push(format!("cannot listen: {e}"));
            return;
        }
    };
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    // Out of file descriptors or similar: do not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let connection = inner.connections.fetch_add(1, Ordering::SeqCst) + 1;
                let inner = inner.clone();
                let service = hyper::service::service_fn(move |req| {
                    handle(inner.clone(), peer, connection, req)
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
    }
}

/// Counts a request in flight until dropped (with the response body).
struct InFlight(Arc<Inner>);

impl InFlight {
    fn new(inner: Arc<Inner>) -> Self {
        let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        inner.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(inner)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(
    inner: Arc<Inner>,
    peer: SocketAddr,
    connection: usize,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            // The client went away mid-body: answer (nobody reads it) without logging.
            return Ok(plain(400, format!("testkit: could not read the body: {e}")));
        }
    };
    let guard = InFlight::new(inner.clone());
    let request = Request {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
        body,
        peer,
        connection,
    };
    lock(&inner.log).push(request.clone());
    inner.arrived.notify_waiters();
    let handler = find(&inner, &request);
    let response = match handler {
        None => Response::not_found(),
        Some(h) => match run(h, request).await {
            Ok(r) => r,
            Err(msg) => {
                lock(&inner.panics).push(msg.clone());
                return Ok(plain(500, format!("testkit: handler panicked: {msg}")));
            }
        },
    };
    if !response.delay.is_zero() {
        tokio::time::sleep(response.delay).await;
    }
    Ok(encode(response, guard))
}

fn find(inner: &Inner, req: &Request) -> Option<Handler> {
    let routes = lock(&inner.routes);
    routes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method.as_ref().is_none_or(|m| *m == req.method))
        .filter_map(|(i, r)| {
            r.path
                .score(req.path())
                .map(|(exact, len)| ((exact, len, r.method.is_some(), i), r))
        })
        .max_by_key(|(key, _)| *key)
        .map(|(_, r)| r.handler.clone())
}

async fn run(handler: Handler, req: Request) -> Result<Response, String> {
    let outcome = match handler {
        Handler::Sync(f) => std::panic::catch_unwind(AssertUnwindSafe(|| f(&req))),
        Handler::Async(f) => {
            AssertUnwindSafe(async move { f(req).await })
                .catch_unwind()
                .await
        }
        Handler::Sequence(s) => {
            let mut s = lock(&s);
            let next = s.next.pop_front();
            Ok(next.unwrap_or_else(|| s.last.clone()))
        }
    };
    outcome.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned())
    })
}

fn plain(status: u16, text: String) -> hyper::Response<Body> {
    let mut r = hyper::Response::new(Full::new(Bytes::from(text)).map_err(|n| match n {}).boxed());
    *r.status_mut() = http::StatusCode::from_u16(status).expect("valid status");
    r
}

fn encode(response: Response, guard: InFlight) -> hyper::Response<Body> {
    let chunks = response.wire_chunks();
    let total: usize = chunks.iter().map(Bytes::len).sum();
    let headers = response.wire_headers(total);
    let declared: Option<usize> = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    // A Content-Length set by the test that the body does not fill: cut after the body.
    let cut_after = response
        .cut_after
        .or_else(|| declared.filter(|d| *d > total).map(|_| total));
    let streamed = response.chunked || cut_after.is_some() || declared.is_some();
    let body: Body = if streamed {
        stream_body(chunks, response.chunk_interval, cut_after, guard)
    } else {
        Guarded {
            body: Full::new(Bytes::from(chunks.concat())),
            _guard: guard,
        }
        .boxed()
    };
    let mut r = hyper::Response::new(body);
    *r.status_mut() = response.status;
    *r.headers_mut() = headers;
    r
}

/// A whole body that keeps its request counted in flight until hyper drops it (sent), with
/// its exact size (so it goes out with `Content-Length`).
struct Guarded {
    body: Full<Bytes>,
    _guard: InFlight,
}

impl hyper::body::Body for Guarded {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Pin::new(&mut self.body)
            .poll_frame(cx)
            .map_err(|never| match never {})
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

struct StreamState {
    chunks: VecDeque<Bytes>,
    interval: Duration,
    remaining: Option<usize>,
    first: bool,
    done: bool,
    _guard: InFlight,
}

fn stream_body(
    chunks: Vec<Bytes>,
    interval: Duration,
    cut_after: Option<usize>,
    guard: InFlight,
) -> Body {
    let state = StreamState {
        chunks: chunks.into_iter().filter(|c| !c.is_empty()).collect(),
        interval,
        remaining: cut_after,
        first: true,
        done: false,
        _guard: guard,
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        if s.remaining == Some(0) {
            s.done = true;
            // Let hyper flush the head and the bytes sent so far before the connection drops
            // (a body that errors at once would drop them unsent).
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            let cut = std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "testkit: cut");
            return Some((Err(cut), s));
        }
        let mut chunk = s.chunks.pop_front()?;
        if !s.first && !s.interval.is_zero() {
            tokio::time::sleep(s.interval).await;
        }
        s.first = false;
        if let Some(left) = s.remaining.as_mut() {
            chunk.truncate(*left);
            *left -= chunk.len();
        }
        Some((Ok(Frame::data(chunk)), s))
    });
    StreamBody::new(stream).boxed()
}
