//! FHIR Bulk Data (`$export`, STU2, compatible with STU1/3 servers) client
//! state machine and streaming NDJSON.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use ehrkit_bulk_data::{ExportJob, ExportLevel, ExportRequest, NdjsonReader, PollConfig, PollStep};
//!
//! // 1. Build a kick-off request (sans-IO: an `http::Request` you send with any HTTP client).
//! let base = "https://ehr.example/fhir/".parse().unwrap();
//! let kickoff = ExportRequest::new(ExportLevel::Patient)
//!     .types(["Patient", "Observation"])
//!     .type_filter("Observation?category=laboratory")
//!     .to_http(&base)
//!     .unwrap();
//! assert!(kickoff.uri().to_string().starts_with("https://ehr.example/fhir/Patient/$export?"));
//! assert_eq!(kickoff.headers()["prefer"], "respond-async");
//!
//! // 2. Poll: feed status responses (`http::Response`), get waits (clamped) or the manifest.
//! let now = SystemTime::now();
//! let mut job = ExportJob::new("https://ehr.example/status/42".parse().unwrap(), PollConfig::default(), now);
//! let busy = http::Response::builder()
//!     .status(202)
//!     .header("Retry-After", "36000")
//!     .header("X-Progress", "40%")
//!     .body(Vec::new())
//!     .unwrap();
//! match job.on_status_response(&busy, now).unwrap() {
//!     PollStep::Wait(p) => assert_eq!(p.next_poll_in, Duration::from_secs(300)), // 10 h clamped to 5 min
//!     _ => unreachable!(),
//! }
//! let done = http::Response::new(br#"{"transactionTime":"2026-01-01T00:00:00Z",
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
//! The sans-IO core is flat at the crate root: [`ExportRequest`] (kick-off),
//! [`ExportJob`] (polling with `Retry-After` handling, cancel), [`Manifest`],
//! the origin rules for tokens and redirects ([`may_send_token`],
//! [`redirect_target`], [`authorize`]) and per-file checks ([`FileCheck`]).
//! HTTP is spoken in the `http` crate's types. Namespaces:
//! - [`ndjson`]: streaming readers (pull, push, async with feature `tokio`),
//!   the writer and their options.
//! - `client` (feature `reqwest`): the HTTP driver with a `TokenProvider`.
//! - `smart` (features `smart-auth` + `reqwest`; the umbrella `ehrkit/reqwest` turns both on):
//!   SMART Backend Services tokens from `ehrkit-smart-auth` (discovery, signed RS384/ES384
//!   client assertion, shared token store with renewal before expiry and one refresh after a
//!   `401`) as a `TokenProvider`.
//!
//! Typed FHIR: [`OperationOutcome`] and, with the feature `fhir-model`,
//! [`RawRecord::resource`] are `ehrkit-fhir-model` types (re-exported as
//! [`fhir_model`]).
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod files;
mod manifest;
mod origin;
mod outcome;
mod poll;
mod request;
mod scan;

pub mod ndjson;

#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod client;

#[cfg(all(feature = "smart-auth", feature = "reqwest"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "smart-auth", feature = "reqwest"))))]
pub mod smart;

pub use error::{Error, Location, NdjsonErrorKind, Result};
pub use files::{FileCheck, FileKind};
pub use manifest::{Link, Manifest, OutputFile};
pub use ndjson::{NdjsonReader, NdjsonWriter, PushReader, RawRecord, ReaderOptions};
pub use origin::{authorize, bearer_value, may_send_token, redirect_target, same_origin};
pub use poll::{
    on_cancel_response, on_kickoff_response, parse_retry_after, ExportJob, Kickoff, PollConfig,
    PollStep, Progress, RetryAfter, WaitReason,
};
pub use request::{ExportLevel, ExportRequest, KickoffMethod};

/// `ehrkit-fhir-model`, re-exported: the typed resources that
/// [`RawRecord::resource`] returns and the type of [`OperationOutcome`].
pub use ehrkit_fhir_model as fhir_model;
/// FHIR R4 `OperationOutcome` (from `ehrkit-fhir-model`): kick-off and status
/// error bodies ([`Error::Server`]) and the records of `error` files.
pub use ehrkit_fhir_model::OperationOutcome;

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
