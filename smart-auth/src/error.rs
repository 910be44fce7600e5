//! The crate's error type.

use std::fmt;

/// OAuth 2.0 error codes (RFC 6749 §4.1.2.1, §5.2), with unknown codes kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// `invalid_request`
    InvalidRequest,
    /// `invalid_client`
    InvalidClient,
    /// `invalid_grant` (expired, revoked or replayed code / refresh token)
    InvalidGrant,
    /// `unauthorized_client`
    UnauthorizedClient,
    /// `unsupported_grant_type`
    UnsupportedGrantType,
    /// `invalid_scope`
    InvalidScope,
    /// `access_denied`
    AccessDenied,
    /// `unsupported_response_type`
    UnsupportedResponseType,
    /// `server_error`
    ServerError,
    /// `temporarily_unavailable`
    TemporarilyUnavailable,
    /// Any other code, as sent.
    Other(String),
}

impl OAuthErrorCode {
    /// Maps the wire code to the enum (exact match, as RFC 6749 requires).
    pub fn from_code(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "access_denied" => Self::AccessDenied,
            "unsupported_response_type" => Self::UnsupportedResponseType,
            "server_error" => Self::ServerError,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire form of the code.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error returned by the authorization server (token endpoint body or error redirect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The `error` code.
    pub code: OAuthErrorCode,
    /// `error_description`, if any.
    pub description: Option<String>,
    /// `error_uri`, if any.
    pub uri: Option<String>,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

/// Errors of this crate. Display never contains tokens, secrets or codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scope string did not follow the SMART grammar.
    #[error("invalid scope at byte {offset}: {reason}")]
    Scope {
        /// Byte offset of the offending scope token in the scope string.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A JSON document (discovery, token response, JWK) could not be decoded.
    #[error("invalid {what} JSON at line {line}, column {column}: {reason}")]
    Json {
        /// Which document.
        what: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's message (no document content).
        reason: String,
    },
    /// Discovery found no usable endpoints.
    #[error("discovery failed: {0}")]
    Discovery(String),
    /// A URL could not be parsed or is not acceptable.
    #[error("invalid URL ({what}): {reason}")]
    Url {
        /// Which URL.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The `state` on the callback is missing or does not match.
    #[error("authorization callback state is missing or does not match")]
    StateMismatch,
    /// The callback carried no `code`.
    #[error("authorization callback has no code")]
    MissingCode,
    /// The RFC 9207 `iss` on the callback is missing or names another authorization server.
    #[error("authorization callback issuer does not match the authorization server")]
    IssuerMismatch,
    /// An EHR launch named an `iss` that is not on the allow-list.
    #[error("EHR launch issuer is not on the allow-list")]
    UnknownIssuer,
    /// The authorization server redirected back with an error.
    #[error("authorization denied: {0}")]
    Authorization(OAuthError),
    /// The token endpoint answered with an OAuth error.
    #[error("token endpoint error (HTTP {status}): {error}")]
    OAuth {
        /// HTTP status.
        status: u16,
        /// The decoded OAuth error.
        error: OAuthError,
    },
    /// The token endpoint answered with a non-success status and no OAuth error body.
    #[error("token endpoint returned HTTP {status} without an OAuth error body")]
    HttpStatus {
        /// HTTP status.
        status: u16,
    },
    /// A successful token response is unusable (missing `access_token`, bad `token_type`, ...).
    #[error("invalid token response: {0}")]
    TokenResponse(String),
    /// Client authentication could not be set up or performed (key loading, signing, lifetime).
    #[error("client authentication: {0}")]
    ClientAuth(String),
    /// The stored grant cannot be renewed: the user (or operator) must authorize again.
    #[error("re-authorization needed for {key}: {reason}")]
    ReauthorizationRequired {
        /// The store key, printed without secrets.
        key: String,
        /// Why the refresh failed.
        reason: String,
    },
    /// The persistence backend failed.
    #[error("token persistence: {0}")]
    Persistence(String),
    /// Transport failure (HTTP layer).
    #[error("HTTP transport: {0}")]
    Transport(String),
}

impl Error {
    pub(crate) fn json(what: &'static str, e: &serde_json::Error) -> Self {
        // serde_json's Display may quote a fragment of input for some errors; keep only the category.
        let reason = match e.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected type or value",
            serde_json::error::Category::Eof => "unexpected end of input",
        };
        Error::Json {
            what,
            line: e.line(),
            column: e.column(),
            reason: reason.to_owned(),
        }
    }

    /// True when the error means the grant is gone and the user must authorize again.
    pub fn needs_reauthorization(&self) -> bool {
        matches!(self, Error::ReauthorizationRequired { .. })
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
