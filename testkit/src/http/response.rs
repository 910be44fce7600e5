//! What a route answers: status, headers, body, and how the body is sent.

use std::io::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};

/// A response a route sends: a builder, cheap to clone (bodies are [`Bytes`]).
///
/// ```
/// use ehrkit_testkit::http::Response;
/// use std::time::Duration;
/// let r = Response::new(429).header("Retry-After", "2");
/// let r = Response::ok().json(&serde_json::json!({"resourceType": "Bundle"}));
/// let r = Response::ok().chunked(["{\"a\":1}\n", "{\"a\":2}\n"]).chunk_interval(Duration::from_millis(5));
/// let r = Response::ok().text("x".repeat(1000)).gzip().cut_after(100);
/// ```
///
/// The body goes out with `Content-Length` unless it is [`chunked`](Self::chunked) (then
/// `Transfer-Encoding: chunked`). Do not set `Content-Length` yourself unless you mean to lie
/// about the length: a `Content-Length` header set with [`header`](Self::header) is sent as
/// is, whatever the body's length (the connection is then cut when the body falls short).
#[derive(Clone, Debug)]
pub struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) chunks: Vec<Bytes>,
    pub(crate) chunked: bool,
    pub(crate) chunk_interval: Duration,
    pub(crate) delay: Duration,
    pub(crate) gzip: bool,
    pub(crate) cut_after: Option<usize>,
}

impl Response {
    /// A response with this status (100–999), no headers, empty body.
    ///
    /// # Panics
    /// On a status outside 100–999 (a mistake in the test).
    pub fn new(status: u16) -> Self {
        Response {
            status: StatusCode::from_u16(status)
                .unwrap_or_else(|_| panic!("testkit: invalid HTTP status {status}")),
            headers: HeaderMap::new(),
            chunks: Vec::new(),
            chunked: false,
            chunk_interval: Duration::ZERO,
            delay: Duration::ZERO,
            gzip: false,
            cut_after: None,
        }
    }

    /// `200 OK`, empty body.
    pub fn ok() -> Self {
        Response::new(200)
    }

    /// `404 Not Found`, empty body (what an unmatched request gets).
    pub fn not_found() -> Self {
        Response::new(404)
    }

    /// A redirect (`301`, `302`, `303`, `307`, `308`) to `location` (absolute or relative).
    pub fn redirect(status: u16, location: &str) -> Self {
        Response::new(status).header("Location", location)
    }

    /// Adds a header (kept beside earlier ones of the same name: `Link`, `Set-Cookie`, …).
    ///
    /// # Panics
    /// On a name or value that is not valid in HTTP (a mistake in the test).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let n = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|_| panic!("testkit: invalid header name {name:?}"));
        let v = HeaderValue::from_str(value)
            .unwrap_or_else(|_| panic!("testkit: invalid value for header {name}"));
        self.headers.append(n, v);
        self
    }

    /// Sets the body (no `Content-Type`).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.chunks = vec![body.into()];
        self
    }

    /// A text body, `Content-Type: text/plain; charset=utf-8` unless one is set.
    pub fn text(self, text: impl Into<String>) -> Self {
        self.body(text.into())
            .default_content_type("text/plain; charset=utf-8")
    }

    /// A JSON body, `Content-Type: application/json` unless one is set.
    pub fn json(self, value: &serde_json::Value) -> Self {
        self.body(value.to_string())
            .default_content_type("application/json")
    }

    /// A FHIR JSON body, `Content-Type: application/fhir+json` unless one is set.
    pub fn fhir_json(self, value: &serde_json::Value) -> Self {
        self.body(value.to_string())
            .default_content_type("application/fhir+json")
    }

    fn default_content_type(mut self, ct: &'static str) -> Self {
        if !self.headers.contains_key(CONTENT_TYPE) {
            self.headers
                .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        self
    }

    /// Streams the body as these chunks with `Transfer-Encoding: chunked` (replaces any
    /// body set before). Each item is one chunk on the wire (unless [`gzip`](Self::gzip)ped).
    pub fn chunked<I>(mut self, chunks: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Bytes>,
    {
        self.chunks = chunks.into_iter().map(Into::into).collect();
        self.chunked = true;
        self
    }

    /// Waits this long between chunks (a slow download); with an unchunked body, the body is
    /// one chunk and this has no effect.
    pub fn chunk_interval(mut self, interval: Duration) -> Self {
        self.chunk_interval = interval;
        self
    }

    /// Waits this long before sending the response head (a slow server; timeouts).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Compresses the body with gzip and sets `Content-Encoding: gzip`. A chunked body is
    /// compressed as a whole and the compressed stream split into as many chunks.
    pub fn gzip(mut self) -> Self {
        self.gzip = true;
        self
    }

    /// Sends only the first `n` bytes of the (encoded) body, then drops the connection. An
    /// unchunked body still announces its full `Content-Length`, so the client sees a body
    /// that ends early; a chunked body ends without its last chunk.
    pub fn cut_after(mut self, n: usize) -> Self {
        self.cut_after = Some(n);
        self
    }

    /// Adds `Connection: close`: the server closes the connection after this response.
    pub fn close(self) -> Self {
        self.header("Connection", "close")
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The body bytes as sent on the wire, after gzip (all chunks concatenated, before any
    /// cut).
    pub fn encoded_body(&self) -> Bytes {
        self.wire_chunks().concat().into()
    }

    /// The chunks as they go on the wire (gzip applied).
    pub(crate) fn wire_chunks(&self) -> Vec<Bytes> {
        if !self.gzip {
            return self.chunks.clone();
        }
        let compressed = gzip(&self.chunks.concat());
        let parts = self.chunks.len().max(1);
        let size = compressed.len().div_ceil(parts).max(1);
        compressed
            .chunks(size)
            .map(Bytes::copy_from_slice)
            .collect()
    }

    /// The headers to send: the user's, plus `Content-Encoding: gzip` when compressing.
    pub(crate) fn wire_headers(&self, body_len: usize) -> HeaderMap {
        let mut h = self.headers.clone();
        if self.gzip && !h.contains_key(CONTENT_ENCODING) {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if self.cut_after.is_some() && !self.chunked && !h.contains_key(CONTENT_LENGTH) {
            h.insert(CONTENT_LENGTH, HeaderValue::from(body_len));
        }
        h
    }
}

impl Default for Response {
    fn default() -> Self {
        Response::ok()
    }
}

/// Compresses `data` with gzip (for bodies a test builds by hand, e.g. a truncated gzip
/// stream).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}
