//! The crate's error type.

use std::time::Duration;

use ehrkit_fhir_model::OperationOutcome;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a FHIR server.
///
/// Messages never contain tokens, query strings (they may carry patient identifiers) or
/// `OperationOutcome.diagnostics` (free text that may carry PHI); the outcome itself is kept
/// in [`Error::Server`] for callers who want it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An endpoints configuration that cannot be used: the message names the endpoint (by
    /// name or position) and the field, or the TOML line and column.
    #[error("endpoints configuration: {0}")]
    Config(String),
    /// A request could not be built (bad base URL, invalid id or resource type, bad parameter).
    #[error("invalid request: {what}: {detail}")]
    InvalidRequest {
        /// What was being built.
        what: &'static str,
        /// What is wrong (no PHI: names and shapes only).
        detail: String,
    },
    /// The server answered with an error status; its OperationOutcome when the body was one.
    #[error("server answered {status}{}", outcome_summary(.outcome))]
    Server {
        /// HTTP status.
        status: u16,
        /// The body as an OperationOutcome, if it was one.
        outcome: Option<Box<OperationOutcome>>,
    },
    /// The server says it does not support this request (OperationOutcome `not-supported`).
    #[error("not supported by the server ({status})")]
    NotSupported {
        /// HTTP status.
        status: u16,
        /// The OperationOutcome.
        outcome: Option<Box<OperationOutcome>>,
    },
    /// A vendor rule refused the query before anything was sent.
    #[error("vendor rule `{rule}` refused a {resource} search: {detail}")]
    VendorRule {
        /// The rule's name (see [`crate::VendorProfile`]).
        rule: String,
        /// The resource type searched.
        resource: String,
        /// What is missing.
        detail: String,
    },
    /// A success response whose content type is not FHIR JSON.
    #[error("unexpected content type `{content_type}` (status {status})")]
    ContentType {
        /// HTTP status.
        status: u16,
        /// The `Content-Type` received.
        content_type: String,
    },
    /// The body could not be read as the expected FHIR JSON.
    #[error("reading the {expected} in a {status} response")]
    Parse {
        /// HTTP status.
        status: u16,
        /// What was expected (`Bundle`, a resource type).
        expected: &'static str,
        /// fhir-model's error (JSON path and problem).
        #[source]
        source: ehrkit_fhir_model::Error,
    },
    /// The body held another resource type than the one asked for.
    #[error("expected a {expected}, the server sent a {found}")]
    WrongType {
        /// Asked for.
        expected: &'static str,
        /// Received.
        found: String,
    },
    /// A link (`next`, `Location`) points to another origin than the endpoint's.
    #[error("{what} points to another origin ({origin}); not followed")]
    ForeignLink {
        /// `next link` or `redirect`.
        what: &'static str,
        /// The other origin (scheme, host and port only).
        origin: String,
    },
    /// Too many redirects within the endpoint's origin.
    #[error("too many redirects")]
    TooManyRedirects,
    /// Still throttled or failing after the retries allowed, or asked to wait longer than
    /// the policy accepts.
    #[error("gave up after {attempts} attempts (last status {status}{})", wait_text(.retry_after))]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// Last HTTP status (0 for a transport error).
        status: u16,
        /// The last wait the server asked for, if any.
        retry_after: Option<Duration>,
        /// The last error.
        #[source]
        last: Box<Error>,
    },
    /// The response body is larger than the configured limit.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The gzip body could not be decoded.
    #[error("decoding the gzip body")]
    Gzip(#[source] std::io::Error),
    /// Connection, TLS or timeout failure (no URL: it may carry a query string).
    #[error("transport error {what} ({origin})")]
    Transport {
        /// Stage.
        what: &'static str,
        /// Origin of the endpoint.
        origin: String,
        /// Whether it was a timeout.
        timeout: bool,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server's CapabilityStatement names another FHIR version than R4 (4.0.x).
    #[error("the server speaks FHIR {found}, not R4 (4.0.x)")]
    FhirVersion {
        /// `fhirVersion` found (`none` when absent).
        found: String,
    },
    /// The token provider failed (its message carries no secrets).
    #[error("access token: {0}")]
    Token(String),
}

impl Error {
    /// The HTTP status, for server errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Server { status, .. }
            | Error::NotSupported { status, .. }
            | Error::ContentType { status, .. }
            | Error::Parse { status, .. } => Some(*status),
            Error::RetriesExhausted { status, .. } if *status != 0 => Some(*status),
            _ => None,
        }
    }

    /// The server's OperationOutcome, if the error carries one.
    pub fn outcome(&self) -> Option<&OperationOutcome> {
        match self {
            Error::Server { outcome, .. } | Error::NotSupported { outcome, .. } => {
                outcome.as_deref()
            }
            Error::RetriesExhausted { last, .. } => last.outcome(),
            _ => None,
        }
    }
}

fn wait_text(d: &Option<Duration>) -> String {
    d.map(|d| format!(", server asked to wait {} s", d.as_secs()))
        .unwrap_or_default()
}

/// PHI-free: severities and codes of the first issues, never diagnostics.
pub(crate) fn outcome_summary(oo: &Option<Box<OperationOutcome>>) -> String {
    let Some(oo) = oo else { return String::new() };
    let parts: Vec<String> = oo
        .issue
        .iter()
        .take(3)
        .map(|i| {
            let sev = i
                .severity
                .as_ref()
                .and_then(|p| p.value.as_ref())
                .map_or("?", |s| s.as_code());
            let code = i
                .code
                .as_ref()
                .and_then(|p| p.value.as_ref())
                .map_or("?", |c| c.as_code());
            format!("{sev}/{code}")
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(": OperationOutcome {}", parts.join(", "))
    }
}
