//! The store's error type.

use std::error::Error as StdError;
use std::sync::Arc;

/// A shareable error source (one commit failure is reported to every caller of its group).
pub type SharedSource = Arc<dyn StdError + Send + Sync + 'static>;

/// Any error of the store. Messages carry no PHI: table names, row ids, key ids and
/// operation names only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage failed (disk full, I/O error, read-only or missing file): nothing of the
    /// operation was kept. The runtime NAKs and the sender retries.
    #[error("storage I/O failed during {op} ({kind:?})")]
    Io {
        /// Operation (`"accept"`, `"commit"`, `"apply"`, …).
        op: &'static str,
        /// The I/O error kind (`StorageFull` for a full disk).
        kind: std::io::ErrorKind,
        /// The underlying error.
        #[source]
        source: SharedSource,
    },
    /// The database engine failed otherwise (constraint, busy beyond the timeout, SQL error).
    #[error("database error during {op}")]
    Backend {
        /// Operation.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: SharedSource,
    },
    /// A schema migration failed while opening the store.
    #[error("schema migration {version} failed")]
    Migration {
        /// Migration version.
        version: u32,
        /// The underlying error.
        #[source]
        source: SharedSource,
    },
    /// The database was written by a newer version of this crate.
    #[error("database schema version {found} is newer than the {supported} this build knows")]
    SchemaTooNew {
        /// Version found in the file.
        found: u32,
        /// Latest version this build knows.
        supported: u32,
    },
    /// No such row.
    #[error("{what} {id} not found")]
    NotFound {
        /// What was looked up (`"message"`, `"dead letter"`, `"profile"`, …).
        what: &'static str,
        /// Its id (no PHI: ids, names of profiles).
        id: String,
    },
    /// An encrypted value did not decrypt with its key: wrong key, or the row was altered.
    #[error("{table} row {row}: cannot decrypt with key {key_id} (wrong key or altered data)")]
    Decrypt {
        /// Table.
        table: &'static str,
        /// Row id.
        row: String,
        /// Key id recorded on the row.
        key_id: u32,
    },
    /// A row is encrypted with a key the store was not given.
    #[error("{table} row {row} is encrypted with key {key_id}, which was not supplied")]
    MissingKey {
        /// Table.
        table: &'static str,
        /// Row id.
        row: String,
        /// Key id recorded on the row.
        key_id: u32,
    },
    /// Encryption failed (should not happen with a valid key).
    #[error("encryption failed for {table}")]
    Encrypt {
        /// Table.
        table: &'static str,
    },
    /// A stored value could not be read back (bad JSON, unknown enum name, bad UTF-8).
    #[error("{table} row {row}: stored value unreadable ({what})")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// Row id.
        row: String,
        /// What was wrong.
        what: &'static str,
    },
    /// A column read back is missing or not of the type this build expects: the database's
    /// schema changed behind the store (an altered table, a migration undone or not applied).
    #[error("stored rows do not match this build's schema: column {column} is missing or of an unexpected type")]
    Schema {
        /// The column, as the query names it (`attempts`, `i.message_type`).
        column: String,
        /// The underlying error (types and column names only, no values).
        #[source]
        source: SharedSource,
    },
    /// A profile name and version already saved with another body.
    #[error("profile {name} version {version} already saved with a different body")]
    ProfileConflict {
        /// Profile name.
        name: String,
        /// Version.
        version: String,
    },
    /// No version saved before the active one.
    #[error("profile {name} has no version before the active one")]
    NoEarlierProfile {
        /// Profile name.
        name: String,
    },
    /// The store was closed (its writer stopped).
    #[error("the store is closed")]
    Closed,
    /// An injected fault ([`FaultInjectingStore`](crate::store::FaultInjectingStore)).
    #[error("injected fault in {op}")]
    Injected {
        /// Operation.
        op: &'static str,
    },
}

impl StoreError {
    /// True for storage I/O failures (full disk, I/O error), after which retrying later may
    /// succeed; the runtime NAKs.
    pub fn is_io(&self) -> bool {
        matches!(self, Self::Io { .. })
    }

    /// The I/O error kind for [`StoreError::Io`].
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            Self::Io { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// A stable name of the variant (for metrics labels and dead-letter kinds).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Io { .. } => "Io",
            Self::Backend { .. } => "Backend",
            Self::Migration { .. } => "Migration",
            Self::SchemaTooNew { .. } => "SchemaTooNew",
            Self::NotFound { .. } => "NotFound",
            Self::Decrypt { .. } => "Decrypt",
            Self::MissingKey { .. } => "MissingKey",
            Self::Encrypt { .. } => "Encrypt",
            Self::Corrupt { .. } => "Corrupt",
            Self::Schema { .. } => "Schema",
            Self::ProfileConflict { .. } => "ProfileConflict",
            Self::NoEarlierProfile { .. } => "NoEarlierProfile",
            Self::Closed => "Closed",
            Self::Injected { .. } => "Injected",
        }
    }

    /// A copy for reporting one failure to several callers (sources are shared).
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Self::Io { op, kind, source } => Self::Io {
                op,
                kind: *kind,
                source: source.clone(),
            },
            Self::Backend { op, source } => Self::Backend {
                op,
                source: source.clone(),
            },
            Self::Closed => Self::Closed,
            other => Self::Backend {
                op: "commit",
                source: Arc::new(std::io::Error::other(other.to_string())),
            },
        }
    }
}
