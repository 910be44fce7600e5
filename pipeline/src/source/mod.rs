//! Sources: where messages come from. Each hands messages to [`Pipeline::submit`](crate::Pipeline::submit),
//! which keeps them durably before the source acknowledges anything.
//!
//! * [`mllp`]: an `ehrkit-mllp` server whose handler ACKs only after the store kept the message.
//! * [`files`]: a directory (or single files) of HL7 v2 messages, FHIR NDJSON and FHIR
//!   Bundles / resources as JSON.
//!
//! FHIR API polling (`ehrkit-fhir-client`) and Bulk `$export` (`ehrkit-bulk-data`) feed the
//! same way: each resource read is submitted as [`PayloadKind::FhirJson`](crate::store::PayloadKind)
//! under the endpoint's name (idempotent by source, resource id and `meta.versionId` /
//! `lastUpdated`); an export's NDJSON files can be handed to [`files::ingest_file`].

pub mod files;
pub mod mllp;
