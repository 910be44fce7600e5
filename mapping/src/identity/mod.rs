//! Patient identity resolution: a Master Patient Index (MPI).
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

pub use batch::{BatchOptions, BatchResult, Linker, ScoredPair};
pub use blocking::{BlockKey, BlockingReport, BlockingRule, KeyTransform};
pub use features::{FeatureStore, Field};
pub use index::{EnterpriseId, IndexError, MatchCandidate, PatientIndex};
pub use model::{Comparison, Explanation, FsModel, Level, MatchConfig, Score, Thresholds};
pub use record::{Address, Identifier, NameType, PatientRecord, PersonName, Sex, Ssn};
pub use rules::{Condition, DeterministicRule, Verdict};
