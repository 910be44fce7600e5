//! Typed FHIR R4 REST client that works the same against every EHR: per-vendor query
//! planning, paging that survives broken servers, throttling and retries.
//!
//! ```
//! use ehrkit_fhir_client::{request, Base, Next, PageLimits, Pager, SearchParams, VendorProfile};
//!
//! // Plan: Epic refuses Observation?patient=X without a category, so the profile splits it.
//! let epic = VendorProfile::epic();
//! let plan = epic.plan("Observation", &SearchParams::new().patient("X"))?;
//! assert_eq!(plan.searches[0].to_query(), "patient=X&category=laboratory");
//!
//! // Build (sans-IO): an `http::Request` to send with any client.
//! let base = Base::new("https://ehr.example/fhir")?;
//! let req = request::search(&base, "Observation", &plan.searches[0])?;
//! assert_eq!(req.http.uri(), "https://ehr.example/fhir/Observation?patient=X&category=laboratory");
//!
//! // Interpret a page and page on.
//! let body = br#"{"resourceType":"Bundle","type":"searchset",
//!   "link":[{"relation":"next","url":"https://ehr.example/fhir/Observation?pageContext=abc"}],
//!   "entry":[{"resource":{"resourceType":"Observation","id":"o1"}}]}"#;
//! let resp = http::Response::builder()
//!     .status(200)
//!     .header("content-type", "application/json+fhir") // legacy type, accepted
//!     .body(body.to_vec())
//!     .unwrap();
//! let mut pager = Pager::new(&req.http.uri().to_string(), PageLimits::default());
//! let page = pager.on_page(ehrkit_fhir_client::response::bundle(&resp)?);
//! assert_eq!(page.entries[0].resource.id(), Some("o1"));
//! assert_eq!(page.next, Next::Fetch("https://ehr.example/fhir/Observation?pageContext=abc".into()));
//! # Ok::<(), ehrkit_fhir_client::Error>(())
//! ```
//!
//! The sans-IO core: [`SearchParams`] (typed parameter builders), [`request`] (read, vread,
//! search, next pages as `http::Request`s), [`response`] (typed resource, Bundle or an
//! [`Error::Server`] with the OperationOutcome and status), [`Pager`] (paging with repeat
//! detection and caps), [`retry`] (per-vendor [`ThrottleClassifier`] and [`RetryPolicy`]) and
//! [`VendorProfile`] (query planning rules as data). With the feature `reqwest`, `FhirClient`
//! drives them over HTTP; with `smart-auth`, the module `smart` turns smart-auth's Backend Services
//! token store into its `TokenProvider`.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod paging;
pub mod request;
pub mod response;
pub mod retry;
mod search;
mod vendor;

#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
mod client;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
mod endpoints;

#[cfg(feature = "smart-auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "smart-auth")))]
pub mod smart;

pub use error::{Error, Result};
pub use paging::{Entry, EntryMode, Next, Page, PageLimits, Pager, StopReason};
pub use request::{Base, FhirRequest, SearchMethod};
pub use retry::{Decision, RetryPolicy, ThrottleClassifier, Verdict, WaitSignal};
pub use search::{escape_value, Prefix, SearchParams, Summary};
pub use vendor::{Plan, Rule, VendorProfile, EPIC_OBSERVATION_CATEGORIES};

#[cfg(feature = "reqwest")]
pub use client::{
    BoxFuture, Capabilities, FhirClient, FhirClientBuilder, SearchStream, StaticToken, Stats,
    TokenProvider, WriteOutcome,
};
#[cfg(feature = "reqwest")]
pub use endpoints::{EndpointConfig, Endpoints, EndpointsConfig, Tagged};

/// The `http` crate, re-exported: requests and responses of the sans-IO core are its types.
pub use http;

/// `ehrkit-fhir-model`, re-exported: the resource types this client returns.
pub use ehrkit_fhir_model as fhir_model;

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
