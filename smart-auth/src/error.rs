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

/// Errors of this crate. Display never contains tokens, secrets, codes or URL query strings.
///
/// Conditions a caller may handle have their own variant; errors of other libraries are kept
/// as the [`source`](std::error::Error::source) (never stringified).
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
        /// serde_json's error category (no document content).
        reason: String,
    },
    /// A JSON document that must be an object (smart-configuration, token response) is not.
    #[error("{what} is not a JSON object")]
    NotAnObject {
        /// Which document.
        what: &'static str,
    },
    /// The metadata names no such endpoint (`token_endpoint`, `authorization_endpoint`).
    #[error("discovery: no {what} in the server metadata")]
    MissingEndpoint {
        /// The metadata field.
        what: &'static str,
    },
    /// The CapabilityStatement has no `oauth-uris` extension with a token endpoint.
    #[error("discovery: the CapabilityStatement has no oauth-uris token endpoint")]
    NoOAuthUris,
    /// `.well-known/smart-configuration` was unusable and `/metadata` answered this status.
    #[error("discovery: smart-configuration unusable and /metadata returned HTTP {status}")]
    DiscoveryStatus {
        /// HTTP status of `/metadata`.
        status: u16,
    },
    /// [`Discovery::on_response`](crate::discovery::Discovery::on_response) was called after
    /// discovery had finished.
    #[error("discovery already finished")]
    DiscoveryFinished,
    /// An EHR launch was started with metadata discovered on another FHIR base than its `iss`.
    #[error("discovery was not run on the launch issuer")]
    LaunchIssuerMismatch,
    /// A URL could not be parsed or is not acceptable.
    #[error("invalid URL ({what}): {reason}")]
    Url {
        /// Which URL.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An endpoint that receives credentials or authorization parameters uses plain `http` on
    /// a host that is not loopback. Refused unless the caller opted in with
    /// `allow_insecure_http(true)` ([`Client`](crate::Client),
    /// [`Discovery`](crate::discovery::Discovery), `HttpClient`).
    #[error(
        "{what} {origin} uses plain http: https is required except on loopback \
         (opt in with allow_insecure_http(true))"
    )]
    InsecureEndpoint {
        /// Which endpoint (`token_endpoint`, `authorization_endpoint`).
        what: &'static str,
        /// Its origin (`http://host:port`), without path or query.
        origin: String,
    },
    /// A server answered with a redirect that is not followed: any 3xx from a token endpoint
    /// (credentials are never re-sent), or a discovery redirect to another origin or beyond
    /// [`MAX_DISCOVERY_REDIRECTS`](crate::discovery::MAX_DISCOVERY_REDIRECTS).
    #[error("{what} answered HTTP {status} redirecting to {}; not followed", target.as_deref().unwrap_or("an unknown location"))]
    Redirect {
        /// Which request (`token endpoint`, `discovery`).
        what: &'static str,
        /// The 3xx status.
        status: u16,
        /// The origin of the `Location` (no path or query), if it could be resolved.
        target: Option<String>,
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
    /// A successful token response lacks a required member (`access_token`, `token_type`).
    #[error("invalid token response: missing {field}")]
    MissingTokenField {
        /// The member.
        field: &'static str,
    },
    /// A persisted token carries a time that cannot be represented.
    #[error("persisted token: {field} out of range")]
    PersistedTime {
        /// The field (`obtained_at`).
        field: &'static str,
    },
    /// A signing key could not be loaded.
    #[error("cannot load key: {reason}{}", field.map(|f| format!(" (`{f}`)")).unwrap_or_default())]
    Key {
        /// What is wrong.
        reason: &'static str,
        /// The JWK member concerned, if any.
        field: Option<&'static str>,
    },
    /// The algorithm is not RS384 or ES384.
    #[error("unsupported algorithm {name:?} (RS384 or ES384)")]
    UnsupportedAlgorithm {
        /// The name given.
        name: String,
    },
    /// Signing the client assertion failed.
    #[error("client assertion signing failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
    /// A client-assertion lifetime outside 1 s ..= 300 s (SMART's maximum is five minutes).
    #[error("assertion lifetime of {seconds} s is outside 1..=300 s")]
    AssertionLifetime {
        /// The lifetime asked for, in whole seconds.
        seconds: u64,
    },
    /// `client_credentials` with a client authentication SMART Backend Services does not allow
    /// for this vendor profile (it requires `private_key_jwt`).
    #[error("client_credentials needs private_key_jwt, not {method} (vendor profile `{vendor}`)")]
    ClientCredentialsAuth {
        /// The `token_endpoint_auth_methods_supported` name of the method used.
        method: &'static str,
        /// The vendor profile's name.
        vendor: String,
    },
    /// The system clock is before 1970.
    #[error("system clock is before the Unix epoch")]
    Clock,
    /// An HTTP request could not be built (a value not allowed in a header or URI).
    #[error("cannot build the {what} request")]
    Request {
        /// Which request.
        what: &'static str,
        /// The `http` crate's error.
        #[source]
        source: http::Error,
    },
    /// The stored grant cannot be renewed: the user (or operator) must authorize again.
    #[error(
        "re-authorization needed for {key}: {}",
        if cause.is_some() { "the token endpoint refused the grant" } else { "no refresh token" }
    )]
    ReauthorizationRequired {
        /// The store key, printed without secrets.
        key: String,
        /// The token endpoint's refusal (an OAuth error, a bare 4xx, an unusable response);
        /// `None` when there was no refresh token to try.
        #[source]
        cause: Option<Box<Error>>,
    },
    /// The persistence backend failed.
    #[error("token persistence failed")]
    Persistence(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Transport failure in the `reqwest` layer (connect, TLS, timeout, reading the body). The
    /// `reqwest` error is the source, with its URL removed (it may carry a query string).
    #[cfg(feature = "reqwest")]
    #[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
    #[error("HTTP transport failed ({what}{})", origin.as_deref().map(|o| format!(", {o}")).unwrap_or_default())]
    Transport {
        /// The step (`sending request`, `reading response`, `building client`).
        what: &'static str,
        /// The origin of the request, if any (no path or query).
        origin: Option<String>,
        /// The `reqwest` error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// A response body exceeded the limit of the HTTP layer.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
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

    /// For [`Error::ReauthorizationRequired`]: the token endpoint's answer that ended the grant
    /// (also the error's [`source`](std::error::Error::source), there boxed).
    pub fn reauthorization_cause(&self) -> Option<&Error> {
        match self {
            Error::ReauthorizationRequired { cause, .. } => cause.as_deref(),
            _ => None,
        }
    }

    /// True when the error means the grant is gone and the user must authorize again.
    pub fn needs_reauthorization(&self) -> bool {
        matches!(self, Error::ReauthorizationRequired { .. })
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
