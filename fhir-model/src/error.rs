//! Errors and issues reported while reading FHIR JSON.

use std::fmt;

/// A fatal problem that stopped parsing.
///
/// The message never contains element values (no PHI), only the JSON path,
/// the byte offset and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// JSON path of the element being read, e.g. `$.name[0].given[1]`.
    pub path: String,
    /// Byte offset in the input where the problem was detected.
    pub offset: usize,
}

/// Category of an [`Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is not well-formed JSON (or not UTF-8).
    Syntax(&'static str),
    /// Nesting of objects and arrays is deeper than the configured limit.
    TooDeep,
    /// A JSON value of the wrong kind for the element (e.g. a string for a boolean).
    Type(&'static str),
    /// A primitive value that does not match its FHIR lexical form or range.
    Value(&'static str),
    /// `resourceType` is missing, unknown, or not the one asked for.
    ResourceType(String),
    /// A problem that the strict options turned into an error (see [`Issue`]).
    Strict(String),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Syntax(m) => write!(f, "invalid JSON: {m}"),
            ErrorKind::TooDeep => f.write_str("nesting too deep"),
            ErrorKind::Type(m) => write!(f, "wrong JSON type: expected {m}"),
            ErrorKind::Value(m) => write!(f, "invalid value: {m}"),
            ErrorKind::ResourceType(m) => write!(f, "resourceType: {m}"),
            ErrorKind::Strict(m) => f.write_str(m),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {} (byte {})", self.kind, self.path, self.offset)
    }
}

impl std::error::Error for Error {}

/// How serious an [`Issue`] is (maps to OperationOutcome `issue.severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The content is not valid FHIR, but it was kept.
    Error,
    /// Something was dropped or looks suspicious.
    Warning,
}

impl Severity {
    /// The OperationOutcome code for this severity.
    pub fn as_code(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A non-fatal problem found while parsing or validating, with its JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Severity.
    pub severity: Severity,
    /// JSON path, e.g. `$.entry[3].resource.status`.
    pub path: String,
    /// Human-readable message (never contains element values).
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} at {}",
            self.severity.as_code(),
            self.message,
            self.path
        )
    }
}
