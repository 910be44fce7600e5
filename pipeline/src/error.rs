//! The runtime's errors: a stage failure with its kind and location (never PHI), and the
//! errors of building or running a pipeline.

use std::fmt;

/// A stage of the pipeline, as recorded with a dead letter and in metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Stage {
    /// Receiving and keeping the message (MLLP, files).
    Receive,
    /// Reading the message's header and structure.
    Parse,
    /// Choosing the profile (routing table).
    Route,
    /// Conversion / normalization (`ehrkit-mapping`).
    Convert,
    /// Identity resolution (the MPI).
    Identity,
    /// Writing to the store.
    Store,
    /// Delivering to a sink.
    Sink,
}

impl Stage {
    /// Lower-case name (`convert`), used in metrics labels and dead letters.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Receive => "receive",
            Stage::Parse => "parse",
            Stage::Route => "route",
            Stage::Convert => "convert",
            Stage::Identity => "identity",
            Stage::Store => "store",
            Stage::Sink => "sink",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong, as a category a caller can handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not a message (no MSH, bad delimiters, not JSON).
    Malformed,
    /// A required part is absent (no PID, no patient identifier, no control id).
    MissingData,
    /// The message type is not one this pipeline accepts or converts.
    UnsupportedType,
    /// The sender has no routing entry and there is no default route.
    UnknownSender,
    /// The resource fails FHIR validation.
    Invalid,
    /// The identity stage failed.
    Identity,
    /// The store could not keep or apply the data (I/O, disk full, locked).
    StoreIo,
    /// A sink could not deliver.
    Sink,
    /// Anything else (a stage implementation's own error, a panic).
    Internal,
}

impl ErrorKind {
    /// Snake-case name (`unsupported_type`), used in metrics labels and dead letters.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::MissingData => "missing_data",
            ErrorKind::UnsupportedType => "unsupported_type",
            ErrorKind::UnknownSender => "unknown_sender",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Identity => "identity",
            ErrorKind::StoreIo => "store_io",
            ErrorKind::Sink => "sink",
            ErrorKind::Internal => "internal",
        }
    }

    /// Whether retrying the same input may succeed (store I/O, sinks): the retry policy
    /// applies; otherwise the message goes to the dead letters at once.
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorKind::StoreIo | ErrorKind::Sink)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stage's failure on one message: stage, kind, location, and a reason text that never
/// holds message content (PHI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{stage} failed ({kind}){}: {reason}", location.as_deref().map(|l| format!(" at {l}")).unwrap_or_default())]
pub struct StageError {
    /// The stage that failed.
    pub stage: Stage,
    /// The category.
    pub kind: ErrorKind,
    /// Where in the input (`PID[1]-3`, `$.birthDate`, `line 4`), when known.
    pub location: Option<String>,
    /// What happened, without message content.
    pub reason: String,
}

impl StageError {
    /// A failure of `stage` of kind `kind`.
    pub fn new(stage: Stage, kind: ErrorKind, reason: impl Into<String>) -> Self {
        StageError {
            stage,
            kind,
            location: None,
            reason: reason.into(),
        }
    }

    /// Sets the location.
    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }
}

/// Errors of building and running a pipeline (not of one message: those are
/// [`StageError`]s, kept as dead letters).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A stage failed on a message and the failure could not be kept as a dead letter.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[source] crate::store::StoreError),
    /// A routing table could not be read.
    #[error("routing table: {0}")]
    Routing(String),
    /// A file or socket could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (a path, an address).
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The pipeline has been shut down.
    #[error("the pipeline is shut down")]
    Closed,
}
