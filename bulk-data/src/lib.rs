//! FHIR Bulk Data $export client state machine and streaming NDJSON.
//!
//! Work in progress: see the workspace README.
