//! A loopback HTTP/1.1 mock server for the HTTP clients' tests (SMART, Bulk Data, the FHIR
//! client, the pipeline).
//!
//! [`MockServer::start`] binds `127.0.0.1:0` and serves on its own thread (hyper 1 on a
//! current-thread tokio runtime), so it works from sync and async tests alike; dropping it
//! stops it. Start two for a cross-origin redirect test ([`MockServer::start_on`] with
//! `127.0.0.2` gives a different host too).
//!
//! * Routes: [`MockServer::on`] (a closure from a [`Request`] — method, path, query, headers,
//!   body — to a [`Response`]), [`MockServer::on_async`], [`MockServer::respond`] (a fixed
//!   response), [`MockServer::sequence`] (scripted: `503`, `503`, then `200`).
//! * Responses: status, headers, body ([`Response::json`], [`Response::text`], …), a delay
//!   before the head, a chunked body streamed with pauses, gzip, a body cut short.
//! * Assertions: [`MockServer::requests`] logs every request in arrival order;
//!   [`MockServer::hits`], [`MockServer::wait_for_hits`] (background clients),
//!   [`MockServer::max_in_flight`], [`MockServer::connections`]. A
//!   handler that panics (an `assert!` in it) answers `500` and makes the drop fail the test.
//!
//! ```
//! use ehrkit_testkit::http::{MockServer, Response};
//! use serde_json::json;
//!
//! let server = MockServer::start();
//! server
//!     .on("GET", "/fhir/Patient/1", |req| match req.bearer() {
//!         Some("tok") => Response::ok().fhir_json(&json!({"resourceType": "Patient", "id": "1"})),
//!         _ => Response::new(401),
//!     })
//!     .sequence(
//!         "GET",
//!         "/status/1",
//!         [
//!             Response::new(202).header("Retry-After", "1"),
//!             Response::new(429).header("Retry-After", "2"),
//!             Response::ok().json(&json!({"output": []})),
//!         ],
//!     )
//!     .respond("GET", "/files/*", Response::ok().text("{}\n").gzip());
//! let status_url = server.url("/status/1");
//! // ... run the client against server.url("/fhir") ...
//! assert!(server.requests().iter().all(|r| r.header("authorization").is_none()));
//! ```

mod request;
mod response;
mod server;

pub use request::Request;
pub use response::{gzip, Response};
pub use server::MockServer;

#[cfg(test)]
mod tests;
