//! Typed FHIR R4 (4.0.1) resources generated from the specification, with lossless JSON.
//!
//! Work in progress: see the workspace README.
