//! Named workarounds for the specification, kept in one place.

/// Required bindings that stay plain strings although the value set could be
/// listed: none so far. (Value sets that are not a plain code list, e.g.
/// `mimetypes` or `all-languages`, become strings automatically.)
pub const NOT_ENUMERATED: &[&str] = &[];
