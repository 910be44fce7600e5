//! Vendor quirk profiles, HL7 v2 to FHIR R4 mapping, and patient identity resolution (MPI).
//!
//! Work in progress: see the workspace README.
