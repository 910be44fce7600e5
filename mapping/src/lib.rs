//! Vendor quirk profiles, HL7 v2 to FHIR R4 mapping, and patient identity resolution (MPI).
//!
//! The [`identity`] module is a Master Patient Index: normalized demographic records,
//! deterministic rules, an unsupervised Fellegi-Sunter model, blocking, batch link/dedupe and an
//! incremental, thread-safe index with stable enterprise ids.
//!
//! ```
//! use ehrkit_mapping::identity::{MatchConfig, PatientIndex, FsModel, PatientRecord, Verdict};
//!
//! let index = PatientIndex::new(FsModel::untrained(MatchConfig::default()));
//! let a = PatientRecord::builder("EPIC|1001")
//!     .name("Smith", "Robert")
//!     .birth_date_str("1970-03-14")
//!     .ssn("123-45-6789")
//!     .identifier("EPIC", "MR", "1001")
//!     .build();
//! let first = index.upsert(a).unwrap();
//! assert!(first.created);
//!
//! // Same person in another EHR: nickname, upper case, US date format, SSN without dashes.
//! let b = PatientRecord::builder("CERNER|77")
//!     .name("SMITH", "Bob")
//!     .birth_date_str("03/14/1970")
//!     .ssn("123456789")
//!     .identifier("CERNER", "MR", "77")
//!     .build();
//! let cands = index.query(&b, 5).unwrap();
//! assert_eq!(cands[0].key, "EPIC|1001");
//! assert_eq!(cands[0].score.verdict, Verdict::Match);
//! println!("{}", index.explain(&b, "EPIC|1001").unwrap()); // per-field weights
//! let second = index.upsert(b).unwrap();
//! assert_eq!(second.enterprise_id, first.enterprise_id);
//! ```
#![forbid(unsafe_code)]

pub mod identity;

#[doc(hidden)]
pub mod fuzzing;

/// Any error of this crate (each module also exposes its own error type).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading CSV input.
    #[error(transparent)]
    Csv(#[from] identity::csv::CsvError),
    /// An index operation.
    #[error(transparent)]
    Index(#[from] identity::IndexError),
    /// Building a record from an HL7 v2 PID segment.
    #[error(transparent)]
    Pid(#[from] identity::pid::PidError),
}
