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
    /// A routing table is not usable: `rule` is the 1-based `[[route]]` index (0: the table's
    /// own fields), `field` the key.
    #[error("routing table rule {rule}, `{field}`: {problem}")]
    InvalidRoute {
        /// The 1-based rule number (0: top-level).
        rule: usize,
        /// The key (`profile`, `default`, …).
        field: String,
        /// What is wrong with it.
        problem: ProfileProblem,
    },
    /// A profile a routing table names could not be loaded.
    #[error("routing table rule {rule}: profile: {source}")]
    RouteProfile {
        /// The 1-based rule number (0: the default).
        rule: usize,
        /// Why the profile could not be loaded.
        #[source]
        source: Box<Error>,
    },
    /// A profile a routing table names could not be read from disk.
    #[error("routing table rule {rule}: profile file: {source}")]
    RouteFile {
        /// The 1-based rule number (0: the default).
        rule: usize,
        /// The I/O error (the path is the caller's own configuration, not message content).
        #[source]
        source: std::io::Error,
    },
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
    /// `extends` names no built-in profile (see `Profile::BUILTIN`).
    #[error("names no built-in profile")]
    UnknownBuiltin,
    /// A key is not of the expected shape (`ZPD-2`, `PID-3`, `PID`).
    #[error("is not a segment field reference such as `ZPD-2`")]
    NotAFieldReference,
    /// A value is not one of the accepted words.
    #[error("is not one of the accepted values")]
    UnknownValue,
}
