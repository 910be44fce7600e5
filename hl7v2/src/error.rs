//! The crate's error type.
//!
//! Every variant carries *where* (byte offset into the input, segment index, field number) and *what*,
//! never the message content itself, so `Display` is safe to log: it contains no PHI.

/// Where in the input an error was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Location {
    /// Byte offset into the input given to the parser.
    pub offset: usize,
    /// 0-based index of the segment in its message, when known.
    pub segment: Option<usize>,
    /// Field number (HL7 numbering, 1-based; MSH-1 is the field separator), when known.
    pub field: Option<usize>,
}

impl Location {
    /// A location with only a byte offset.
    pub fn at(offset: usize) -> Self {
        Location {
            offset,
            segment: None,
            field: None,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "byte {}", self.offset)?;
        if let Some(s) = self.segment {
            write!(f, ", segment #{}", s + 1)?;
        }
        if let Some(x) = self.field {
            write!(f, ", field {x}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in this crate. `Display` never includes message content (no PHI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input holds no segment at all (empty, or only a BOM and blank lines).
    #[error("empty input: no HL7 segment found")]
    Empty,
    /// No MSH segment where a message was expected.
    #[error("no MSH segment found where a message was expected ({0})")]
    MissingMsh(Location),
    /// The MSH (or FHS/BHS) header is too short or its delimiters are unusable.
    #[error("invalid header delimiters at {location}: {reason}")]
    Delimiters {
        /// Where.
        location: Location,
        /// What is wrong (a fixed description, no content).
        reason: &'static str,
    },
    /// A segment does not start with a valid 3-character segment ID.
    #[error("invalid segment ID at {0}")]
    SegmentId(Location),
    /// Strict mode only: a segment terminator other than a single `\r`.
    #[error("segment terminator is not a carriage return at {0} (strict mode)")]
    Terminator(Location),
    /// A configured limit was exceeded.
    #[error("limit exceeded at {location}: {what} (limit {limit})")]
    Limit {
        /// Where.
        location: Location,
        /// Which limit.
        what: &'static str,
        /// Its configured value.
        limit: usize,
    },
    /// Bytes that are not valid in the message's character set (e.g. invalid UTF-8).
    #[error("invalid {charset} text at {location}")]
    Encoding {
        /// Where.
        location: Location,
        /// The character set the bytes were read as.
        charset: &'static str,
    },
    /// MSH-18 names a character set this crate cannot decode.
    #[error("unsupported character set in MSH-18 ({0})")]
    UnsupportedCharset(Location),
    /// A malformed escape sequence (strict escape handling only), or bad `\X..\` hex.
    #[error("invalid escape sequence at byte {offset} of the value")]
    Escape {
        /// Offset inside the value being decoded.
        offset: usize,
    },
    /// A path such as `PID-3(2).1` could not be parsed. The path text is the caller's, not PHI.
    #[error("invalid path {path:?}: {reason}")]
    Path {
        /// The path as given.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A batch (FHS/BHS/BTS/FTS) is malformed.
    #[error("invalid batch structure at {location}: {reason}")]
    Batch {
        /// Where.
        location: Location,
        /// What is wrong.
        reason: &'static str,
    },
    /// An edit of an owned message was refused (e.g. a raw value holding a segment terminator, or a
    /// change of MSH-1/MSH-2).
    #[error("invalid edit: {reason}")]
    Edit {
        /// What is wrong.
        reason: &'static str,
    },
}
