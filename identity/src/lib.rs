//! Patient identity resolution: a Master Patient Index (MPI).
//!
//! Normalized demographic records, deterministic rules, an unsupervised Fellegi-Sunter model,
//! blocking, batch link/dedupe and an incremental, thread-safe index with stable enterprise ids.
//!
//! ```
//! use ehrkit_identity::{MatchConfig, PatientIndex, FsModel, PatientRecord, Verdict};
//!
//! let index = PatientIndex::new(FsModel::untrained(MatchConfig::default())).unwrap();
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
//! The crate root holds the whole matching API (records, configuration, model, blocking,
//! batch linking, the index, [`Error`]). Namespaces group what is used by name:
//!
//! * [`normalize`]: case/diacritics/punctuation folding, name particles, nicknames, Double
//!   Metaphone keys, phone/postcode/e-mail forms, dates with day/month transposition detection.
//! * [`compare`]: the string comparators (Jaro-Winkler, bounded Levenshtein / OSA).
//! * [`csv`]: FEBRL/Splink-style CSV input; [`pid`]: a record from an HL7 v2 PID segment;
//!   `fhir` (feature `fhir`): a record from a FHIR R4 `Patient`.
//! * [`eval`]: precision / recall / F1 of predicted pairs against labels.
//!
//! What each piece does:
//!
//! * **Records** ([`PatientRecord`] and its builder): names with type, birth date with
//!   precision, sex, addresses, phones, e-mails, SSN or its last four, identifiers.
//! * **Deterministic rules** as data ([`DeterministicRule`], [`Condition`]): identifier match /
//!   conflict within an authority, twin and generation guards.
//! * **Fellegi-Sunter** ([`FsModel`], [`MatchConfig`], [`Comparison`], [`Level`]): comparison
//!   levels, unsupervised EM training of m/u, term-frequency adjustment, thresholds, per-field
//!   [`Explanation`]s.
//! * **Blocking** ([`BlockingRule`], [`block`]): unioned rules with a [`BlockingReport`].
//! * **Batch** ([`Linker`]): link two sources or dedupe one.
//! * **Index** ([`PatientIndex`]): incremental and thread-safe, stable [`EnterpriseId`]s,
//!   merge/unmerge, serde persistence.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batch;
mod blocking;
mod error;
mod features;
mod index;
mod model;
mod record;
mod rules;

pub mod compare;
pub mod csv;
pub mod eval;
#[cfg(feature = "fhir")]
#[cfg_attr(docsrs, doc(cfg(feature = "fhir")))]
pub mod fhir;
pub mod normalize;
pub mod pid;

pub use batch::{BatchOptions, BatchResult, Linker, ScoredPair, Timings};
pub use blocking::{
    block, BlockKey, BlockingReport, BlockingRule, CandidatePairs, KeyTransform, RuleCount,
};
pub use error::{Error, MAX_BLOCKING_RULES, MAX_COMPARISONS, MAX_EDITS, MAX_LEVELS};
pub use features::{FeatureStore, Field};
pub use index::{
    Assignment, EnterpriseId, IndexSnapshot, MatchCandidate, MergeEvent, PatientIndex,
};
pub use model::{
    weight_to_probability, Comparison, Explanation, FieldContribution, FsModel, Level, MatchConfig,
    Score, Thresholds, TrainingOptions, TrainingReport,
};
pub use normalize::{DatePrecision, DayMonthOrder, PartialDate};
pub use record::{
    Address, Identifier, NameType, PatientRecord, PatientRecordBuilder, PersonName, Sex, Ssn,
};
pub use rules::{Condition, DeterministicRule, Verdict};

/// The README's examples, run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
