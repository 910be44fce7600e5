//! The HTTP vocabulary of the sans-IO core: the `http` crate's [`Request`](http::Request) and
//! [`Response`](http::Response), with a body type whose `Debug` is redacted, and the rules every
//! request obeys (https off loopback, origins in messages instead of URLs).

use crate::error::{Error, Result};
use std::fmt;

/// A request or response body that may carry credentials (a token-request form with a client
/// secret, assertion, refresh token, code or PKCE verifier; a token response).
///
/// `Debug` prints only the length, so an `http::Request<SecretBody>` can be logged with `{:?}`:
/// its `Authorization` header is marked [sensitive](http::HeaderValue::set_sensitive) and the
/// body is redacted. The bytes are reachable through [`SecretBody::expose`] or
/// [`SecretBody::into_inner`]; use `request.map(SecretBody::into_inner)` to hand the request to
/// code that speaks `http::Request<Vec<u8>>`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBody(Vec<u8>);

impl SecretBody {
    /// Wraps body bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        SecretBody(bytes.into())
    }

    /// The bytes. Call only where they must go on the wire or be parsed.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, owned.
    pub fn into_inner(self) -> Vec<u8> {
        self.0
    }

    /// Length in bytes (safe to log).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields of a form-encoded body, decoded (contains secrets: for tests and checks).
    pub fn form_fields(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.0)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

impl AsRef<[u8]> for SecretBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for SecretBody {
    fn from(v: Vec<u8>) -> Self {
        SecretBody(v)
    }
}

impl From<String> for SecretBody {
    fn from(s: String) -> Self {
        SecretBody(s.into_bytes())
    }
}

impl From<&str> for SecretBody {
    fn from(s: &str) -> Self {
        SecretBody(s.as_bytes().to_vec())
    }
}

impl From<SecretBody> for Vec<u8> {
    fn from(b: SecretBody) -> Self {
        b.0
    }
}

#[cfg(feature = "reqwest")]
impl From<SecretBody> for reqwest::Body {
    fn from(b: SecretBody) -> Self {
        reqwest::Body::from(b.0)
    }
}

impl fmt::Debug for SecretBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} bytes redacted]", self.0.len())
    }
}

/// The origin of a URL (`https://host:port`) for messages: never a path or a query.
pub(crate) fn origin(u: &url::Url) -> String {
    u.origin().ascii_serialization()
}

/// True for `localhost` (and its subdomains, RFC 6761 §6.3), `127.0.0.0/8` and `::1`.
pub(crate) fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// Refuses an endpoint that is not `https`, unless it is on loopback or `allow_http` is set.
pub(crate) fn check_endpoint(u: &url::Url, what: &'static str, allow_http: bool) -> Result<()> {
    match u.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(u) => Ok(()),
        "http" => {
            tracing::warn!(endpoint = what, origin = %origin(u), "plain-http endpoint refused");
            Err(Error::InsecureEndpoint {
                what,
                origin: origin(u),
            })
        }
        other => Err(Error::Url {
            what,
            reason: format!("scheme {other:?} is not http(s)"),
        }),
    }
}

/// An `http::Uri` for a URL (fragment dropped: it never goes on the wire).
pub(crate) fn uri(u: &url::Url, what: &'static str) -> Result<http::Uri> {
    let mut u = u.clone();
    u.set_fragment(None);
    http::Uri::try_from(u.as_str()).map_err(|e| Error::Url {
        what,
        reason: e.to_string(),
    })
}

/// The URL of a request built by this crate (its URI is always absolute).
#[cfg(feature = "reqwest")]
pub(crate) fn request_url<B>(req: &http::Request<B>) -> Result<url::Url> {
    url::Url::parse(&req.uri().to_string()).map_err(|e| Error::Url {
        what: "request",
        reason: e.to_string(),
    })
}

/// The origin a 3xx response points to, resolved against `base` (`None`: no usable Location).
pub(crate) fn location<B>(base: Option<&url::Url>, resp: &http::Response<B>) -> Option<url::Url> {
    let loc = resp.headers().get(http::header::LOCATION)?.to_str().ok()?;
    match base {
        Some(b) => b.join(loc).ok(),
        None => url::Url::parse(loc).ok(),
    }
}

/// A GET request with an `Accept` header.
pub(crate) fn get(u: &url::Url, accept: &'static str) -> Result<http::Request<SecretBody>> {
    http::Request::get(uri(u, "request")?)
        .header(http::header::ACCEPT, accept)
        .body(SecretBody::default())
        .map_err(|source| Error::Request {
            what: "discovery",
            source,
        })
}

/// Quotes `s` for a POSIX shell: one single-quoted word (a `'` inside becomes `'\''`), so
/// nothing in it is expanded (`$(…)`, backquotes, `$VAR`, globs) or splits the word.
pub(crate) fn shell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// The request as a `curl` command line for a POSIX shell, every value (method, URL,
/// each header, the body) single-quoted for a POSIX shell, so a hostile endpoint or value cannot
/// run commands when the line is pasted into a shell.
///
/// The line contains the request's secrets (client secret, code, PKCE verifier, the
/// `Authorization` header): print it only where the user asked for it.
///
/// ```
/// use ehrkit_smart_auth::{curl_command, SecretBody};
/// let req = http::Request::post("https://ehr.example/t'$(id)'")
///     .header("Content-Type", "application/x-www-form-urlencoded")
///     .body(SecretBody::from("a=1"))
///     .unwrap();
/// assert_eq!(
///     curl_command(&req),
///     r#"curl -sS -X POST 'https://ehr.example/t'\''$(id)'\''' "#.to_owned()
///         + "-H 'content-type: application/x-www-form-urlencoded' --data-raw 'a=1'"
/// );
/// ```
pub fn curl_command(req: &http::Request<SecretBody>) -> String {
    let method = req.method().as_str();
    let method = if method.bytes().all(|b| b.is_ascii_alphanumeric()) {
        method.to_owned()
    } else {
        shell_quote(method)
    };
    let mut cmd = format!(
        "curl -sS -X {method} {}",
        shell_quote(&req.uri().to_string())
    );
    for (name, value) in req.headers() {
        let v = String::from_utf8_lossy(value.as_bytes());
        cmd.push_str(" -H ");
        cmd.push_str(&shell_quote(&format!("{name}: {v}")));
    }
    if !req.body().is_empty() {
        cmd.push_str(" --data-raw ");
        cmd.push_str(&shell_quote(&String::from_utf8_lossy(req.body().expose())));
    }
    cmd
}

/// A JSON response body without the UTF-8 byte order mark some servers put first (ASP.NET's
/// `Encoding.UTF8`); RFC 8259 §8.1 lets parsers ignore it, and serde_json does not.
pub(crate) fn json_body(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for (u, want) in [
            ("http://localhost/", true),
            ("http://LOCALHOST:1/", true),
            ("http://app.localhost/", true),
            ("http://127.0.0.1/", true),
            ("http://127.200.1.1/", true),
            ("http://[::1]/", true),
            ("http://[::ffff:127.0.0.1]/", true),
            ("http://localhost.example/", false),
            ("http://127.0.0.1.nip.io/", false),
            ("http://10.0.0.1/", false),
            ("http://[::2]/", false),
        ] {
            assert_eq!(is_loopback(&url::Url::parse(u).unwrap()), want, "{u}");
        }
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$(id)`id`$HOME"), "'$(id)`id`$HOME'");
    }

    #[test]
    fn secret_body_debug_is_redacted() {
        let b = SecretBody::from("client_secret=hunter2");
        assert_eq!(format!("{b:?}"), "[21 bytes redacted]");
        let mut req = http::Request::post("https://x.example/token")
            .body(b)
            .unwrap();
        let mut v = http::HeaderValue::from_static("Basic aHVudGVyMg==");
        v.set_sensitive(true);
        req.headers_mut().insert(http::header::AUTHORIZATION, v);
        let dbg = format!("{req:?}");
        assert!(
            !dbg.contains("hunter2") && !dbg.contains("aHVudGVyMg"),
            "{dbg}"
        );
    }
}
