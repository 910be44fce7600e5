//! A request as the mock server received it.

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, Version};

/// One request received by a [`MockServer`](super::MockServer), body read in full. Handlers get
/// it, and [`MockServer::requests`](super::MockServer::requests) logs it in arrival order.
#[derive(Clone, Debug)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The request target as sent (origin form: path and query).
    pub uri: Uri,
    /// The HTTP version (HTTP/1.1 or HTTP/1.0).
    pub version: Version,
    /// The headers, names lowercase, in arrival order per name.
    pub headers: HeaderMap,
    /// The body (de-chunked; empty when none was sent).
    pub body: Bytes,
    /// The client's address.
    pub peer: SocketAddr,
    /// Which connection it came on: 1 for the server's first accepted connection, 2 for the
    /// second, … (equal numbers: the client reused a keep-alive connection).
    pub connection: usize,
}

impl Request {
    /// The path, without the query (`/fhir/Patient`).
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The raw query string, without `?` (`None` when the target has no `?`).
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The path and query as sent (`/fhir/Patient?name=x`).
    pub fn target(&self) -> &str {
        self.uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_else(|| self.uri.path())
    }

    /// The query, form-decoded (`+` and `%xx`), in order, repeated names kept.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        decode_form(self.query().unwrap_or("").as_bytes())
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The query as a map (the last value wins for a repeated name).
    pub fn query_map(&self) -> HashMap<String, String> {
        self.query_pairs().into_iter().collect()
    }

    /// Every value of a query parameter, in order (`_typeFilter=a&_typeFilter=b`).
    pub fn query_params(&self, name: &str) -> Vec<String> {
        self.query_pairs()
            .into_iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect()
    }

    /// The first value of a header (name case-insensitive), when it is visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ")
    }

    /// The body as `application/x-www-form-urlencoded` pairs (a token request), in order.
    pub fn form(&self) -> Vec<(String, String)> {
        decode_form(&self.body)
    }

    /// The form body as a map (the last value wins for a repeated name).
    pub fn form_map(&self) -> HashMap<String, String> {
        self.form().into_iter().collect()
    }

    /// The first value of a form field.
    pub fn form_value(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
    }
}

fn decode_form(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}
