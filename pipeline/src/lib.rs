//! Composes ehrkit's stages into a durable integration pipeline.
//!
//! ingestion (MLLP, FHIR API, Bulk Data, files) → parse → choose profile → convert/normalize
//! (`ehrkit-mapping`) → resolve identity (`ehrkit-identity`) → store → sinks, with a
//! commit-before-ACK inbox, idempotency, per-patient ordering, dead letters, a hash-chained
//! audit trail and metrics. This crate owns orchestration only: parsing and mapping logic live
//! in the member crates.
#![forbid(unsafe_code)]

pub mod eventlog;
pub mod store;
