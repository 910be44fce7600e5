//! The crate's one error type.

use crate::{EnterpriseId, Field};

/// Most comparisons a [`MatchConfig`](crate::MatchConfig) may hold.
pub const MAX_COMPARISONS: usize = 16;
/// Most levels (besides the implicit "else") one [`Comparison`](crate::Comparison) may hold.
pub const MAX_LEVELS: usize = 14;
/// Most edits an edit-distance [`Level`](crate::Level) may allow.
pub const MAX_EDITS: u8 = 32;
/// Most blocking rules a [`MatchConfig`](crate::MatchConfig) may hold.
pub const MAX_BLOCKING_RULES: usize = 32;

/// Any error of this crate.
///
/// Messages carry no demographic values (no PHI): only record keys chosen by the caller,
/// enterprise ids, line numbers and configuration facts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ------------------------------------------------------------------ configuration
    /// A configuration has no comparison, or more than [`MAX_COMPARISONS`].
    #[error("{count} comparisons configured; 1 to {MAX_COMPARISONS} are supported")]
    ComparisonCount {
        /// Comparisons found.
        count: usize,
    },
    /// A comparison has more than [`MAX_LEVELS`] levels.
    #[error("comparison {index} ({}) has {levels} levels; at most {MAX_LEVELS} are supported", .field.name())]
    LevelCount {
        /// Position of the comparison in the configuration.
        index: usize,
        /// Its field.
        field: Field,
        /// Levels found.
        levels: usize,
    },
    /// An edit-distance level allows more than [`MAX_EDITS`] edits.
    #[error("comparison {index} ({}) allows {max} edits; at most {MAX_EDITS} are supported", .field.name())]
    EditDistance {
        /// Position of the comparison in the configuration.
        index: usize,
        /// Its field.
        field: Field,
        /// The bound found.
        max: u8,
    },
    /// More than [`MAX_BLOCKING_RULES`] blocking rules.
    #[error("{count} blocking rules configured; at most {MAX_BLOCKING_RULES} are supported")]
    BlockingRuleCount {
        /// Rules found.
        count: usize,
    },
    /// Thresholds outside `0 <= possible <= match <= 1`.
    #[error(
        "thresholds must satisfy 0 <= possible <= match <= 1 \
         (possible {possible_probability}, match {match_probability})"
    )]
    Thresholds {
        /// The POSSIBLE MATCH threshold found.
        possible_probability: f64,
        /// The MATCH threshold found.
        match_probability: f64,
    },
    /// A model's m or u table does not have one row per comparison and one value per level.
    #[error("model parameters do not fit the configuration: {table} of comparison {index}")]
    ModelShape {
        /// `"m"` or `"u"`.
        table: &'static str,
        /// Position of the comparison.
        index: usize,
    },

    // ------------------------------------------------------------------ index
    /// No record with that key.
    #[error("no record with key {0:?}")]
    UnknownKey(String),
    /// No such (active) enterprise id.
    #[error("unknown or retired enterprise id {0}")]
    UnknownEnterpriseId(EnterpriseId),
    /// Merge of an id into itself.
    #[error("cannot merge {0} into itself")]
    SelfMerge(EnterpriseId),
    /// No such merge event, or already undone.
    #[error("merge {0} does not exist or was already undone")]
    UnknownMerge(u64),
    /// A record has an empty key.
    #[error("record key must not be empty")]
    EmptyKey,
    /// The index lock was poisoned by a panic in another thread.
    #[error("index lock poisoned")]
    Poisoned,
    /// A snapshot gives a record an enterprise id at or beyond its `next_eid`.
    #[error("invalid snapshot: enterprise id {0} is not below next_eid")]
    SnapshotEnterpriseId(EnterpriseId),
    /// A snapshot holds two records with the same key.
    #[error("invalid snapshot: duplicate record key {0:?}")]
    SnapshotDuplicateKey(String),
    /// A snapshot is not valid JSON of an [`IndexSnapshot`](crate::IndexSnapshot) (the
    /// position only: serde's message may quote values).
    #[error("invalid snapshot: JSON {category:?} error at line {line} column {column}")]
    SnapshotJson {
        /// Kind of JSON error.
        category: serde_json::error::Category,
        /// 1-based line (0 when writing).
        line: usize,
        /// 1-based column (0 when writing).
        column: usize,
    },

    // ------------------------------------------------------------------ CSV input
    /// CSV input has no `rec_id`/`unique_id`/`id` column.
    #[error("CSV line {line}: no rec_id/unique_id/id column")]
    CsvNoKeyColumn {
        /// 1-based line of the header.
        line: u64,
    },
    /// A CSV row has another number of fields than the header.
    #[error("CSV line {line}: expected {expected} fields, found {found}")]
    CsvFieldCount {
        /// 1-based line where the row starts.
        line: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// A CSV row has an odd number of quote characters: a quoted field is not closed (it would
    /// swallow the rest of the file), or a quote stands inside an unquoted field.
    #[error("CSV line {line}: unterminated quoted field or stray quote")]
    CsvQuote {
        /// 1-based line where the row starts.
        line: u64,
    },
    /// The CSV reader failed otherwise.
    #[error("CSV line {line}: unreadable row")]
    Csv {
        /// 1-based line where the row starts.
        line: u64,
        /// The reader's error.
        #[source]
        source: csv::Error,
    },

    // ------------------------------------------------------------------ HL7 v2 PID
    /// The bytes are not an HL7 v2 message.
    #[error("HL7 v2 parse error")]
    Hl7(#[source] ehrkit_hl7v2::Error),
    /// The message has no PID segment.
    #[error("message has no PID segment")]
    NoPid,
    /// PID-3 holds no identifier value, so the record has no key.
    #[error("PID-3 has no identifier")]
    NoIdentifier,

    // ------------------------------------------------------------------ FHIR
    /// The bytes are not a FHIR R4 Patient.
    #[cfg(feature = "fhir")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fhir")))]
    #[error("FHIR Patient parse error")]
    Fhir(#[source] ehrkit_fhir_model::Error),
}

impl From<ehrkit_hl7v2::Error> for Error {
    fn from(e: ehrkit_hl7v2::Error) -> Self {
        Self::Hl7(e)
    }
}

#[cfg(feature = "fhir")]
impl From<ehrkit_fhir_model::Error> for Error {
    fn from(e: ehrkit_fhir_model::Error) -> Self {
        Self::Fhir(e)
    }
}

impl Error {
    pub(crate) fn snapshot_json(e: &serde_json::Error) -> Self {
        Self::SnapshotJson {
            category: e.classify(),
            line: e.line(),
            column: e.column(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem_without_values() {
        let e = Error::LevelCount {
            index: 2,
            field: Field::BirthDate,
            levels: 15,
        };
        assert_eq!(
            e.to_string(),
            "comparison 2 (birth_date) has 15 levels; at most 14 are supported"
        );
        let e = Error::snapshot_json(&serde_json::from_str::<u32>("\"Smith\"").unwrap_err());
        assert!(!e.to_string().contains("Smith"), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
