//! Sources: where messages come from. Each hands messages to [`Pipeline::submit`](crate::Pipeline::submit),
//! which keeps them durably before the source acknowledges anything.
//!
//! * [`mllp`]: an `ehrkit-mllp` server whose handler ACKs only after the store kept the message.
//! * [`batch`]: HL7 batches (FHS/BHS … BTS/FTS) in a file or an MLLP payload, split into
//!   their messages.
//! * [`files`]: a directory (or single files) of HL7 v2 messages, FHIR NDJSON and FHIR
//!   Bundles / resources as JSON.
//! * `fhir_poll` (feature `reqwest`): FHIR API polling through `ehrkit-fhir-client`
//!   (`_lastUpdated` watermark, paging, the endpoint's vendor profile).
//! * `bulk` (feature `reqwest`): a Bulk Data `$export` through `ehrkit-bulk-data` (kick-off
//!   or a saved status URL, NDJSON files streamed).
//!
//! The FHIR sources submit each resource read as [`PayloadKind::FhirJson`](crate::store::PayloadKind)
//! under the endpoint's name (idempotent by source, type, resource id and `meta.versionId` /
//! `lastUpdated`); an export's NDJSON files on disk can also be handed to
//! [`files::ingest_file`].

pub mod batch;
#[cfg(feature = "reqwest")]
pub mod bulk;
#[cfg(feature = "reqwest")]
pub mod fhir_poll;
pub mod files;
pub mod mllp;
