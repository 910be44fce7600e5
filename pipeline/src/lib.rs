//! Composes ehrkit's stages into a durable integration pipeline.
//!
//! ingestion (MLLP, FHIR API, Bulk Data, files) → parse → choose profile → convert/normalize
//! (`ehrkit-mapping`) → resolve identity (`ehrkit-identity`) → store → sinks, with a
//! commit-before-ACK inbox, idempotency, per-patient ordering, dead letters, a hash-chained
//! audit trail and metrics. This crate owns orchestration only: parsing and mapping logic live
//! in the member crates.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ehrkit_pipeline::store::{SqliteOptions, SqliteStore};
//! use ehrkit_pipeline::{source, Pipeline};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(SqliteStore::open("hub/store.db", SqliteOptions::default())?);
//! let pipeline = Pipeline::builder(store).start().await?;
//! let server = source::mllp::bind(pipeline.clone(), "127.0.0.1:2575", "mllp").await?;
//! // ... every message is ACKed only once kept; processing follows in patient order.
//! server.shutdown().await;
//! pipeline.shutdown().await;
//! println!("{}", serde_json::to_string(&pipeline.summary().await?)?);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod error;
pub mod eventlog;
#[cfg(feature = "postgres")]
pub mod identity_pg;
pub mod monitor;
pub mod routing;
mod runtime;
pub mod sink;
pub mod source;
pub mod stages;
pub mod store;

pub use error::{Error, ErrorKind, Stage, StageError};
pub use routing::{Route, Router, RoutingTable, Sender};
pub use runtime::{
    Completion, Pipeline, PipelineBuilder, PipelineEvent, Refusal, ReprocessReport, RetryPolicy,
    SkipReason, Submitted, CONVERTER_VERSION, ENTERPRISE_ID_SYSTEM,
};
