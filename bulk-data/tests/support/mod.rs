//! The loopback mock HTTP server of `ehrkit-testkit`, in the shape the client
//! tests use: one handler per server (`serve`), the server's request log, and
//! a count of concurrent file downloads across servers (`serve_with`).
#![allow(dead_code, unused_imports)] // each test binary uses a part of it

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use ehrkit_testkit::http::{gzip, MockServer, Request as Req, Response as Resp};

/// A response from its status, headers and body.
pub fn resp(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Resp {
    headers
        .iter()
        .fold(Resp::new(status), |r, (k, v)| r.header(k, v))
        .body(body.into())
}

/// Answers every request of a server.
pub type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

/// Counts concurrent file downloads (requests under /files/ or /cdn/, each
/// held open for 15 ms) across servers.
#[derive(Default)]
pub struct InFlight {
    now: AtomicUsize,
    /// Most downloads in flight at once.
    pub max: AtomicUsize,
}

/// Starts a server answering with `handler`; returns its base URL
/// ("http://127.0.0.1:port") and the server (its request log; it stops when dropped).
pub fn serve(handler: Handler) -> (String, MockServer) {
    serve_with(handler, None)
}

/// [`serve`], counting file downloads in `files`.
pub fn serve_with(handler: Handler, files: Option<Arc<InFlight>>) -> (String, MockServer) {
    let server = MockServer::start();
    server.on_async("*", "/*", move |r: Req| {
        let h = handler.clone();
        let is_file = r.path().starts_with("/files/") || r.path().starts_with("/cdn/");
        let counter = files.clone().filter(|_| is_file);
        async move {
            if let Some(c) = &counter {
                let n = c.now.fetch_add(1, Ordering::SeqCst) + 1;
                c.max.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            let out = h(&r);
            if let Some(c) = &counter {
                c.now.fetch_sub(1, Ordering::SeqCst);
            }
            out
        }
    });
    (server.base().to_owned(), server)
}
