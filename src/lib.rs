//! # ehrkit
//!
//! Connect EHRs (Epic, Oracle Health/Cerner, Veradigm/Allscripts, MEDITECH,
//! athenahealth, eClinicalWorks) into one normalized data layer.
//!
//! This umbrella crate only re-exports the member crates, each behind a cargo
//! feature of the same name:
//!
//! | feature | crate | what |
//! |---|---|---|
//! | `hl7v2` | [`ehrkit-hl7v2`](hl7v2) | zero-copy HL7 v2 parser, datatypes, writer, ACKs |
//! | `mllp` | [`ehrkit-mllp`](mllp) | MLLP framing; `mllp-tokio` server/client, `mllp-tls` |
//! | `fhir-model` (`fhir-model-all`) | [`ehrkit-fhir-model`](fhir_model) | generated typed FHIR R4 resources (EHR set; all 146) |
//! | `mapping` | [`ehrkit-mapping`](mapping) | normalization: vendor profiles, v2 → FHIR (next release) |
//! | `identity` | [`ehrkit-identity`](identity) | patient identity (MPI): rules, Fellegi-Sunter, incremental index |
//! | `smart-auth` | [`ehrkit-smart-auth`](smart_auth) | SMART App Launch 2 and Backend Services tokens |
//! | `bulk-data` | [`ehrkit-bulk-data`](bulk_data) | FHIR Bulk Data `$export` and NDJSON |
//! | `pipeline` | [`ehrkit-pipeline`](pipeline) | the composed pipeline: durable inbox, idempotency, dead letters, identity, SQLite store, audit, metrics, sinks |
//! | `fhir-client` | [`ehrkit-fhir-client`](fhir_client) | FHIR REST read/search/paging, vendor query planning, throttling and retries (HTTP layer with `reqwest`) |
//!
//! The default turns on every member except the HTTP (`reqwest`) and TLS
//! (`mllp-tls`) layers; `reqwest` switches on the HTTP layers of `smart-auth`
//! and `bulk-data` and the FHIR REST client of `fhir-client`; `full` switches on everything.
#![forbid(unsafe_code)]

#[cfg(feature = "hl7v2")]
#[doc(inline)]
pub use ehrkit_hl7v2 as hl7v2;

#[cfg(feature = "mllp")]
#[doc(inline)]
pub use ehrkit_mllp as mllp;

#[cfg(feature = "fhir-model")]
#[doc(inline)]
pub use ehrkit_fhir_model as fhir_model;

#[cfg(feature = "mapping")]
#[doc(inline)]
pub use ehrkit_mapping as mapping;

#[cfg(feature = "identity")]
#[doc(inline)]
pub use ehrkit_identity as identity;

#[cfg(feature = "smart-auth")]
#[doc(inline)]
pub use ehrkit_smart_auth as smart_auth;

#[cfg(feature = "bulk-data")]
#[doc(inline)]
pub use ehrkit_bulk_data as bulk_data;

#[cfg(feature = "fhir-client")]
#[doc(inline)]
pub use ehrkit_fhir_client as fhir_client;

#[cfg(feature = "pipeline")]
#[doc(inline)]
pub use ehrkit_pipeline as pipeline;
