//! FHIR Bulk Data (`$export`, STU2, compatible with STU1/3 servers) client
//! state machine and streaming NDJSON.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use ehrkit_bulk_data::export::{ExportJob, ExportLevel, ExportRequest, HttpResponse, PollConfig, PollStep};
//! use ehrkit_bulk_data::ndjson::NdjsonReader;
//!
//! // 1. Build a kick-off request (sans-IO: a value you send with any HTTP client).
//! let base = "https://ehr.example/fhir/".parse().unwrap();
//! let kickoff = ExportRequest::new(ExportLevel::Patient)
//!     .types(["Patient", "Observation"])
//!     .type_filter("Observation?category=laboratory")
//!     .to_http(&base)
//!     .unwrap();
//! assert!(kickoff.url.as_str().starts_with("https://ehr.example/fhir/Patient/$export?"));
//!
//! // 2. Poll: feed status responses, get waits (clamped) or the manifest.
//! let now = SystemTime::now();
//! let mut job = ExportJob::new("https://ehr.example/status/42".parse().unwrap(), PollConfig::default(), now);
//! let busy = HttpResponse::new(202, vec![("Retry-After".into(), "36000".into()), ("X-Progress".into(), "40%".into())], vec![]);
//! match job.on_status_response(&busy, now).unwrap() {
//!     PollStep::Wait(p) => assert_eq!(p.next_poll_in, Duration::from_secs(300)), // 10 h clamped to 5 min
//!     _ => unreachable!(),
//! }
//! let done = HttpResponse::new(200, vec![], br#"{"transactionTime":"2026-01-01T00:00:00Z",
//!   "request":"https://ehr.example/fhir/Patient/$export","requiresAccessToken":true,
//!   "output":[{"type":"Patient","url":"https://ehr.example/files/p1.ndjson","count":2}],"error":[]}"#.to_vec());
//! let PollStep::Complete(manifest) = job.on_status_response(&done, now).unwrap() else { unreachable!() };
//! assert_eq!(manifest.next_since(), "2026-01-01T00:00:00Z");
//!
//! // 3. Stream NDJSON: borrowed raw records with a validated resourceType.
//! let file = "{\"resourceType\":\"Patient\",\"id\":\"a\"}\r\n\n{\"resourceType\":\"Patient\",\"id\":\"b\"}\n";
//! let mut reader = NdjsonReader::new(file.as_bytes());
//! let mut ids = Vec::new();
//! while let Some(rec) = reader.next_record() {
//!     let rec = rec.unwrap();
//!     assert_eq!(rec.resource_type(), "Patient");
//!     let v: serde_json::Value = rec.deserialize().unwrap();
//!     ids.push(v["id"].as_str().unwrap().to_owned());
//! }
//! assert_eq!(ids, ["a", "b"]);
//! ```
//!
//! Modules:
//! - [`export`] — kick-off (system / Patient / Group, GET or POST), polling with
//!   `Retry-After` handling, cancel, redirect and token rules, per-file checks.
//! - [`manifest`] — the typed completion manifest.
//! - [`ndjson`] — streaming reader (sync, push, async with feature `tokio`) and writer.
//! - [`outcome`] — `OperationOutcome`.
//! - `client` (feature `reqwest`) — the HTTP driver with a [`TokenProvider`](client::TokenProvider).
//! - `smart` (features `smart-auth` + `reqwest`; the umbrella `ehrkit/reqwest` turns both on) — SMART Backend Services tokens
//!   from `ehrkit-smart-auth` (discovery, signed RS384/ES384 client assertion, shared token
//!   store with renewal before expiry and one refresh after a `401`) as a `TokenProvider`.
#![forbid(unsafe_code)]

pub mod error;
pub mod export;
pub mod manifest;
pub mod ndjson;
pub mod outcome;
pub mod scan;

#[doc(hidden)]
pub mod fuzzing;

#[cfg(feature = "reqwest")]
pub mod client;

#[cfg(all(feature = "smart-auth", feature = "reqwest"))]
pub mod smart;

pub use error::{Error, Location, NdjsonErrorKind, Result};
pub use manifest::{Link, Manifest, OutputFile};
pub use ndjson::{NdjsonReader, NdjsonWriter, RawRecord, ReaderOptions};
pub use outcome::OperationOutcome;
