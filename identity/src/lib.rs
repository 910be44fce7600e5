//! Patient identity resolution: a Master Patient Index (MPI).
//!
//! Normalized demographic records, deterministic rules, an unsupervised Fellegi-Sunter model,
//! blocking, batch link/dedupe and an incremental, thread-safe index with stable enterprise ids.
//!
//! ```
//! use ehrkit_identity::{MatchConfig, PatientIndex, FsModel, PatientRecord, Verdict};
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
//!
//! * [`record`]: the normalized demographic record ([`PatientRecord`]) and its builder;
//!   [`pid`] builds one from an HL7 v2 PID segment.
//! * [`normalize`]: case/diacritics/punctuation folding, name particles, nicknames, Double
//!   Metaphone keys, phone/postcode forms, dates with day/month transposition detection.
//! * [`rules`]: deterministic rules as data (identifier match / conflict, field conditions).
//! * [`model`]: Fellegi-Sunter comparison levels, unsupervised EM training of m/u,
//!   term-frequency adjustment, thresholds, per-field explanations.
//! * [`blocking`]: unioned blocking rules with candidate-pair reports.
//! * [`batch`]: link two sources or dedupe one.
//! * [`index`]: the incremental, thread-safe index with stable enterprise IDs, merge/unmerge
//!   and serde persistence.
//! * [`csv`]: FEBRL/Splink-style CSV input.
//! * `fhir` (feature `fhir`): builds a record from a FHIR R4 `Patient`.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod batch;
pub mod blocking;
pub mod compare;
pub mod csv;
pub mod eval;
pub mod features;
#[cfg(feature = "fhir")]
pub mod fhir;
pub mod index;
pub mod model;
pub mod normalize;
pub mod pid;
pub mod record;
pub mod rules;

#[doc(hidden)]
pub mod fuzzing;

pub use batch::{BatchOptions, BatchResult, Linker, ScoredPair};
pub use blocking::{BlockKey, BlockingReport, BlockingRule, KeyTransform};
pub use features::{FeatureStore, Field};
pub use index::{EnterpriseId, IndexError, MatchCandidate, PatientIndex};
pub use model::{Comparison, Explanation, FsModel, Level, MatchConfig, Score, Thresholds};
pub use record::{Address, Identifier, NameType, PatientRecord, PersonName, Sex, Ssn};
pub use rules::{Condition, DeterministicRule, Verdict};

/// Any error of this crate (each module also exposes its own error type).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading CSV input.
    #[error(transparent)]
    Csv(#[from] csv::CsvError),
    /// An index operation.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Building a record from an HL7 v2 PID segment.
    #[error(transparent)]
    Pid(#[from] pid::PidError),
}
