//! The crate's error type.

/// What went wrong. Errors carry no message content (no PHI).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A profile's TOML did not parse or did not match the profile's shape.
    #[error("profile TOML: {0}")]
    ProfileToml(#[source] Box<toml::de::Error>),
    /// A profile's JSON did not parse or did not match the profile's shape.
    #[error("profile JSON: {0}")]
    ProfileJson(#[source] serde_json::Error),
    /// A profile value is not usable.
    #[error("profile field `{field}`: {problem}")]
    InvalidProfile {
        /// The field (`code_maps.AdministrativeSex`, `unknown_system_base`, …).
        field: String,
        /// What is wrong with it.
        problem: ProfileProblem,
    },
}

/// Why a profile value is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileProblem {
    /// The name or version is empty.
    #[error("must not be empty")]
    Empty,
    /// The value is not an absolute URI (it has no scheme).
    #[error("is not an absolute URI")]
    NotAUri,
    /// A code-map override names a map the IG does not have.
    #[error("names no vocabulary map of the IG")]
    UnknownConceptMap,
}
