//! `MRG[Account]`: HL7 v2 MRG → FHIR Account (the prior account of a merge).
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-mrg-to-account.html>
//!
//! Not written yet: the converter writes no Account for PID-18 either (`PID[Account]`), so an
//! Account for MRG-3 alone would stand unconnected. Both rows are listed as unmapped; MRG-3 is
//! reported when valued ([`super::mrg_patient`]).

use super::{unmapped, Row};

const NO_ACCOUNT: &str = "Account resources (PID[Account], MRG[Account]) are not written yet; \
                          MRG-3 is reported as unmapped when present";

/// The spreadsheet rows of `MRG[Account]` and how the converter handles each.
pub static ROWS: &[Row] = &[
    unmapped("MRG", "status", NO_ACCOUNT),
    unmapped("MRG-3", "identifier", NO_ACCOUNT),
];
