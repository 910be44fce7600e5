//! [`ParseOptions`]: strictness, limits and decoding choices of the parser.

use crate::charset::Charset;
use crate::escape::{DecodeOptions, Formatting};

/// Parser settings: strictness, limits and decoding choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Strict mode: segments must end with a single `\r` (no `\n` / `\r\n`), MSH-2 must be exactly 4 or
    /// 5 distinct characters, and unknown escape sequences are errors when decoding. Default: lenient.
    pub strict: bool,
    /// Maximum number of segments in one message (default 100 000).
    pub max_segments: usize,
    /// Maximum length of one field in bytes (default 16 MiB).
    pub max_field_len: usize,
    /// Maximum length of one message in bytes (default 256 MiB; the index uses 32-bit offsets).
    pub max_message_len: usize,
    /// Invalid bytes in the message's character set: error (default) or U+FFFD when decoding.
    /// With `lossy`, an unknown MSH-18 value is read as UTF-8 instead of failing the parse.
    pub lossy: bool,
    /// Formatting commands (`\.br\` …) in decoded values: kept (default) or turned into text.
    pub formatting: Formatting,
    /// Character set to read a message in when it declares none (MSH-18 empty or absent) and its bytes
    /// are not valid UTF-8: e.g. [`Charset::LATIN1`] for senders that write ISO 8859-1 without saying
    /// so. `None` (default): such a message is an encoding error (or lossy UTF-8 with `lossy`).
    pub fallback_charset: Option<Charset>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            strict: false,
            max_segments: 100_000,
            max_field_len: 16 << 20,
            max_message_len: 256 << 20,
            lossy: false,
            formatting: Formatting::Keep,
            fallback_charset: None,
        }
    }
}

impl ParseOptions {
    /// Strict or lenient (default) parsing.
    pub fn strict(mut self, on: bool) -> Self {
        self.strict = on;
        self
    }
    /// Lossy character decoding on or off.
    pub fn lossy(mut self, on: bool) -> Self {
        self.lossy = on;
        self
    }
    /// Formatting commands kept or turned into text.
    pub fn formatting(mut self, f: Formatting) -> Self {
        self.formatting = f;
        self
    }
    /// Character set for undeclared, non-UTF-8 text (see [`ParseOptions::fallback_charset`]).
    pub fn fallback_charset(mut self, cs: Option<Charset>) -> Self {
        self.fallback_charset = cs;
        self
    }
    /// Maximum number of segments per message.
    pub fn max_segments(mut self, n: usize) -> Self {
        self.max_segments = n;
        self
    }
    /// Maximum field length in bytes.
    pub fn max_field_len(mut self, n: usize) -> Self {
        self.max_field_len = n;
        self
    }
    /// Maximum message length in bytes (at most `u32::MAX - 1`).
    pub fn max_message_len(mut self, n: usize) -> Self {
        self.max_message_len = n.min(u32::MAX as usize - 1);
        self
    }
    pub(crate) fn decode_options(&self) -> DecodeOptions {
        DecodeOptions::default()
            .formatting(self.formatting)
            .strict(self.strict)
            .lossy(self.lossy)
    }
}
