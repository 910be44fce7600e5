//! The crate's error type.

use std::fmt;

use ehrkit_fhir_model::OperationOutcome;

/// Where in an NDJSON stream an error happened.
///
/// `name` is whatever the caller gave the reader (a file name or a URL path);
/// the location never contains record content, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Name of the stream (file name, URL) if the caller set one.
    pub name: Option<String>,
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the start of the line in the (decoded) stream.
    pub offset: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{n}:{} (byte {})", self.line, self.offset),
            None => write!(f, "line {} (byte {})", self.line, self.offset),
        }
    }
}

/// Why an NDJSON line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NdjsonErrorKind {
    /// The line is longer than the configured maximum.
    LineTooLong {
        /// The configured maximum, in bytes.
        max: usize,
    },
    /// The line is not valid UTF-8; `valid_up_to` is the byte index in the line.
    InvalidUtf8 {
        /// Bytes of the line that were valid before the first bad sequence.
        valid_up_to: usize,
    },
    /// The line is not a JSON object (does not start with `{` / end with `}`),
    /// or its structure is broken before the `resourceType` key was found.
    NotAnObject {
        /// Byte index in the line where the scanner gave up.
        at: usize,
    },
    /// The object has no top-level `resourceType` string.
    MissingResourceType,
    /// `resourceType` is present but not a valid FHIR type name.
    InvalidResourceType,
    /// The last line of the stream has no newline and is not a complete JSON
    /// object: the file was cut short.
    Truncated,
    /// A carriage return inside the record (not part of the line ending).
    /// It is JSON whitespace, but many tools split lines on a bare CR, so the
    /// readers refuse it as the writer does.
    CarriageReturn {
        /// Byte index in the record of the first CR.
        at: usize,
    },
    /// The record's type is not the one the manifest announced.
    UnexpectedType {
        /// Type announced by the manifest entry.
        expected: String,
        /// Type found in the record.
        found: String,
    },
    /// The record is not a valid FHIR R4 resource for `ehrkit-fhir-model`
    /// (the error names a JSON path and an offset, never a value).
    Fhir(ehrkit_fhir_model::Error),
    /// Deserialising the record into the requested type failed.
    Deserialize {
        /// serde_json's message (it names a column and the expected shape, never the value).
        message: String,
    },
}

impl fmt::Display for NdjsonErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LineTooLong { max } => write!(f, "line longer than the maximum of {max} bytes"),
            Self::InvalidUtf8 { valid_up_to } => {
                write!(f, "invalid UTF-8 after {valid_up_to} bytes of the line")
            }
            Self::NotAnObject { at } => write!(f, "not a JSON object (column {at})"),
            Self::MissingResourceType => f.write_str("no top-level resourceType"),
            Self::InvalidResourceType => f.write_str("resourceType is not a valid FHIR type name"),
            Self::CarriageReturn { at } => {
                write!(f, "carriage return inside the record (column {at})")
            }
            Self::Truncated => f.write_str("last line is truncated (no newline, incomplete JSON)"),
            Self::UnexpectedType { expected, found } => {
                write!(
                    f,
                    "record of type {found} in a file announced as {expected}"
                )
            }
            Self::Fhir(e) => write!(f, "not a valid FHIR resource: {e}"),
            Self::Deserialize { message } => write!(f, "cannot deserialize record: {message}"),
        }
    }
}

/// Errors from this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An NDJSON line was rejected.
    #[error("NDJSON error at {location}: {kind}")]
    Ndjson {
        /// Where.
        location: Location,
        /// What.
        kind: NdjsonErrorKind,
    },
    /// Reading or writing the underlying stream failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The export request cannot be built as asked (e.g. `patient` with GET).
    #[error("invalid export request: {0}")]
    InvalidRequest(String),
    /// A URL could not be parsed or joined.
    #[error("invalid URL: {0}")]
    Url(#[from] url::ParseError),
    /// The server answered with an error status. `outcome` is the parsed
    /// OperationOutcome body (`ehrkit-fhir-model`'s type) when there was one;
    /// the message shows only its severities and codes (no diagnostics: PHI).
    #[error("server answered {status} during {stage}{}", outcome_summary(.outcome))]
    Server {
        /// HTTP status code.
        status: u16,
        /// Which step failed: `kick-off`, `status`, `manifest page`, `download`, `cancel`.
        stage: &'static str,
        /// The OperationOutcome, when the body held one.
        outcome: Option<Box<OperationOutcome>>,
    },
    /// A response was not what the protocol requires (e.g. 202 without
    /// `Content-Location`, a manifest that is not valid JSON).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The overall deadline for the export passed.
    #[error("export deadline of {0:?} exceeded")]
    DeadlineExceeded(std::time::Duration),
    /// Too many transient errors (5xx, network) in a row while polling.
    #[error("gave up after {attempts} transient errors in a row (last status {last_status:?})")]
    TooManyRetries {
        /// How many attempts failed in a row.
        attempts: u32,
        /// Last HTTP status seen, if any.
        last_status: Option<u16>,
    },
    /// A downloaded file held a different number of records than announced.
    #[error("file {url_path} announced {expected} records but held {found}")]
    CountMismatch {
        /// Path part of the file URL (no query string, which may hold signatures).
        url_path: String,
        /// Count from the manifest.
        expected: u64,
        /// Count found.
        found: u64,
    },
    /// A [`PushReader`](crate::ndjson::PushReader) was fed after an error
    /// stopped it (its error contract: a stopped reader never delivers again).
    #[error("NDJSON push reader stopped by an earlier error")]
    ReaderStopped,
    /// A downloaded file decoded to more bytes than
    /// `ClientConfig::max_file_size` allows (a decompression bomb, or a file
    /// larger than the deployment accepts).
    #[error("file {url_path} decodes to more than the limit of {limit} bytes")]
    FileTooLarge {
        /// Path part of the file URL (no query string, which may hold signatures).
        url_path: String,
        /// The configured limit in bytes.
        limit: u64,
    },
    /// The SMART authorization server or smart-auth failed (features
    /// `smart-auth`): smart-auth's typed error, which carries no tokens,
    /// assertions or secrets.
    #[cfg(feature = "smart-auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "smart-auth")))]
    #[error("token request failed")]
    Auth(#[source] ehrkit_smart_auth::Error),
    /// The token provider failed.
    #[error("token provider: {0}")]
    Token(String),
    /// An HTTP exchange failed (connection, TLS, timeout, body read). The
    /// message names the stage, the origin and the path of the URL, never its
    /// query (pre-signed URLs carry credentials there); the reqwest error is
    /// kept as the source, with its URL removed.
    #[cfg(feature = "reqwest")]
    #[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
    #[error("HTTP failure during {stage} at {origin}{path}")]
    Http {
        /// Which step failed: `kick-off`, `status`, `manifest page`, `download`, `cancel`.
        stage: &'static str,
        /// Scheme, host and port of the URL.
        origin: String,
        /// Path of the URL (no query, no fragment).
        path: String,
        /// What reqwest reported (without the URL).
        #[source]
        source: reqwest::Error,
    },
    /// The HTTP client could not be built (TLS backend, proxy settings).
    #[cfg(feature = "reqwest")]
    #[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
    #[error("cannot set up the HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

fn outcome_summary(o: &Option<Box<OperationOutcome>>) -> String {
    match o {
        Some(o) => format!(" ({})", crate::outcome::summary(o)),
        None => String::new(),
    }
}

impl Error {
    /// An HTTP failure at `url`, keeping only its origin and path.
    #[cfg(feature = "reqwest")]
    pub(crate) fn http(stage: &'static str, url: &url::Url, e: reqwest::Error) -> Self {
        Error::Http {
            stage,
            origin: url.origin().ascii_serialization(),
            path: url.path().to_owned(),
            source: e.without_url(),
        }
    }

    pub(crate) fn ndjson(location: Location, kind: NdjsonErrorKind) -> Self {
        Error::Ndjson { location, kind }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
