//! HL7 escape sequences: decoding raw values to text and encoding text for writing.
//!
//! Decoded: `\F\ \S\ \T\ \R\ \E\` (the delimiters), `\P\` (truncation character, v2.7+) and
//! `\Xhh..\` (bytes in the message's character set). Formatting commands (`\.br\`, `\.sp n\`,
//! `\.in n\`, `\.ti n\`, `\.sk n\`, `\.ce\`, `\.fi\`, `\.nf\`, `\H\`, `\N\`) are kept as written by
//! default, or turned into plain text with [`Formatting::Text`]. Character-set switches `\Cxxyy\`,
//! `\Mxxyyzz\` and local escapes `\Z..\` are always preserved as written.

use std::borrow::Cow;

use crate::charset::{Charset, Step, Walker};
use crate::delimiters::Delimiters;
use crate::error::{Error, Location};

/// What to do with formatting commands (`\.br\`, `\H\`, …) when decoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Formatting {
    /// Keep them exactly as written (lossless; the default).
    #[default]
    Keep,
    /// Turn them into plain text: `\.br\` and `\.ce\` become a line feed, `\.sp n\` n line feeds,
    /// `\.sk n\` n spaces; `\.in\`, `\.ti\`, `\.fi\`, `\.nf\`, `\H\`, `\N\` are dropped.
    Text,
}

/// Options for [`decode_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Formatting commands: kept or turned into text.
    pub formatting: Formatting,
    /// Reject unknown or unterminated escape sequences instead of keeping them literally.
    pub strict: bool,
    /// Replace bytes that are invalid in the character set with U+FFFD instead of failing.
    pub lossy: bool,
}

impl DecodeOptions {
    /// Same options with another formatting mode.
    pub fn formatting(mut self, f: Formatting) -> Self {
        self.formatting = f;
        self
    }
    /// Same options with strict escapes on or off.
    pub fn strict(mut self, on: bool) -> Self {
        self.strict = on;
        self
    }
    /// Same options with lossy character decoding on or off.
    pub fn lossy(mut self, on: bool) -> Self {
        self.lossy = on;
        self
    }
}

/// Decode HL7 escapes in one raw (still escaped) UTF-8 value: `\F\ \S\ \T\ \R\ \E\ \P\ \Xhh\` …,
/// with the default options (formatting kept, lenient escapes, invalid UTF-8 is an error).
///
/// ```
/// use ehrkit_hl7v2::{escape, Delimiters};
/// let d = Delimiters::default();
/// assert_eq!(escape::decode(b"Fish \\T\\ Chips\\F\\ 5\\S\\6", &d).unwrap(), "Fish & Chips| 5^6");
/// ```
pub fn decode<'a>(raw: &'a [u8], delims: &Delimiters) -> Result<Cow<'a, str>, Error> {
    decode_with(raw, delims, &DecodeOptions::default(), Charset::UTF8)
}

/// Decode HL7 escapes in one raw value with options, reading the bytes in `charset`.
pub fn decode_with<'a>(
    raw: &'a [u8],
    delims: &Delimiters,
    opts: &DecodeOptions,
    charset: Charset,
) -> Result<Cow<'a, str>, Error> {
    let bytes = if charset.needs_walk(raw) {
        let mut out = Vec::with_capacity(raw.len());
        unescape_into_charset(raw, delims, opts, charset, &mut out)?;
        Cow::Owned(out)
    } else {
        unescape(raw, delims, opts)?
    };
    charset
        .decode(bytes, opts.lossy)
        .map_err(|off| Error::Encoding {
            location: Location::at(off),
            charset: charset.name(),
        })
}

/// Decode escapes to bytes (still in the message's character set).
pub fn unescape<'a>(
    raw: &'a [u8],
    delims: &Delimiters,
    opts: &DecodeOptions,
) -> Result<Cow<'a, [u8]>, Error> {
    match delims.escape {
        Some(esc) if memchr::memchr(esc, raw).is_some() => {
            let mut out = Vec::with_capacity(raw.len());
            unescape_into(raw, delims, opts, &mut out)?;
            Ok(Cow::Owned(out))
        }
        _ => Ok(Cow::Borrowed(raw)),
    }
}

/// Decode escapes to bytes (still in the message's character set), appending to `out`: lets a caller
/// reuse one buffer and decode without allocating.
///
/// The escape character is searched byte by byte, which is right for every character set but the
/// multi-byte ones whose characters may hold a `\` byte (Big5, GB 18030, ISO-2022-JP): values in
/// those are unescaped by [`decode_with`] and [`Message::decode_into`](crate::Message::decode_into),
/// which step over whole characters.
pub fn unescape_into(
    raw: &[u8],
    delims: &Delimiters,
    opts: &DecodeOptions,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let Some(esc) = delims.escape else {
        out.extend_from_slice(raw);
        return Ok(());
    };
    unescape_found(raw, delims, opts, out, |from| {
        memchr::memchr(esc, &raw[from..]).map(|k| from + k)
    })
}

/// [`unescape_into`] for a value in `charset`: in Big5, GB 18030 and ISO-2022-JP only an escape
/// character that is a whole (ASCII) character counts, never a trail byte of a multi-byte one.
pub(crate) fn unescape_into_charset(
    raw: &[u8],
    delims: &Delimiters,
    opts: &DecodeOptions,
    charset: Charset,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let (Some(esc), Some(layout)) = (delims.escape, charset.layout()) else {
        return unescape_into(raw, delims, opts, out);
    };
    let mut at = Vec::new();
    let mut w = Walker::new(layout);
    let mut i = 0;
    while i < raw.len() {
        match w.step(raw, i) {
            Step::Ascii => {
                if raw[i] == esc {
                    at.push(i);
                }
                i += 1;
            }
            Step::Skip(k) => i += k,
            Step::Invalid => i += 1,
        }
    }
    unescape_found(raw, delims, opts, out, |from| {
        at.get(at.partition_point(|&p| p < from)).copied()
    })
}

/// The unescaping loop; `find(from)` gives the offset of the next escape character at or after `from`.
fn unescape_found(
    raw: &[u8],
    delims: &Delimiters,
    opts: &DecodeOptions,
    out: &mut Vec<u8>,
    find: impl Fn(usize) -> Option<usize>,
) -> Result<(), Error> {
    let Some(first) = find(0) else {
        out.extend_from_slice(raw);
        return Ok(());
    };
    out.extend_from_slice(&raw[..first]);
    let mut i = first;
    while i < raw.len() {
        // raw[i] is an escape character here
        let Some(j) = find(i + 1) else {
            if opts.strict {
                return Err(Error::Escape { offset: i });
            }
            out.extend_from_slice(&raw[i..]);
            break;
        };
        let body = &raw[i + 1..j];
        let literal = &raw[i..=j];
        if !apply(body, literal, delims, opts, out) {
            if opts.strict {
                return Err(Error::Escape { offset: i });
            }
            // Unknown: keep the opening escape character literally and rescan from the closing one,
            // so that a stray escape character never swallows a real sequence after it.
            out.extend_from_slice(&raw[i..j]);
            i = j;
            continue;
        }
        i = j + 1;
        match find(i) {
            Some(n) => {
                out.extend_from_slice(&raw[i..n]);
                i = n;
            }
            None => {
                out.extend_from_slice(&raw[i..]);
                break;
            }
        }
    }
    Ok(())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn number(arg: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(arg).ok()?.trim();
    if s.is_empty() {
        return Some(1);
    }
    s.trim_start_matches('+').parse().ok()
}

/// Applies one escape sequence; returns false when it is not a known (or well-formed) one.
fn apply(
    body: &[u8],
    literal: &[u8],
    d: &Delimiters,
    opts: &DecodeOptions,
    out: &mut Vec<u8>,
) -> bool {
    let text = opts.formatting == Formatting::Text;
    match body {
        b"F" => out.push(d.field),
        b"S" => out.push(d.component),
        b"T" => out.push(d.subcomponent),
        b"R" => out.push(d.repetition),
        b"E" => out.push(d.escape.unwrap_or(b'\\')),
        b"P" => match d.truncation {
            Some(t) => out.push(t),
            None => out.extend_from_slice(literal),
        },
        b"H" | b"N" => {
            if !text {
                out.extend_from_slice(literal)
            }
        }
        [b'X', hexes @ ..] => {
            let valid = !hexes.is_empty()
                && hexes.len() % 2 == 0
                && hexes.iter().all(|&b| hex(b).is_some());
            if !valid {
                return false;
            }
            for pair in hexes.chunks_exact(2) {
                if let (Some(h), Some(l)) = (hex(pair[0]), hex(pair[1])) {
                    out.push(h << 4 | l);
                }
            }
        }
        [b'C', ..] | [b'M', ..] | [b'Z', ..] => out.extend_from_slice(literal),
        [b'.', cmd @ ..] if cmd.len() >= 2 => {
            let (name, arg) = cmd.split_at(2);
            match name {
                b"br" | b"ce" | b"fi" | b"nf" | b"sp" | b"in" | b"ti" | b"sk" => {}
                _ => return false,
            }
            if !text {
                out.extend_from_slice(literal);
                return true;
            }
            match name {
                b"br" | b"ce" => out.push(b'\n'),
                b"sp" => {
                    let n = number(arg).unwrap_or(1).clamp(0, 100);
                    out.extend(std::iter::repeat_n(b'\n', n as usize));
                }
                b"sk" => {
                    let n = number(arg).unwrap_or(1).clamp(0, 100);
                    out.extend(std::iter::repeat_n(b' ', n as usize));
                }
                _ => {}
            }
        }
        _ => return false,
    }
    true
}

/// Escape text for writing into a value: delimiters become `\F\ \S\ \T\ \R\ \E\` (and the truncation
/// character `\P\`), carriage return and line feed become `\X0D\` and `\X0A\` so that they can never
/// end a segment. Returns the input unchanged (borrowed) when nothing needs escaping. When the message
/// declares no escape character, `\` is used.
///
/// ```
/// use ehrkit_hl7v2::{escape, Delimiters};
/// let d = Delimiters::default();
/// assert_eq!(escape::encode("A&B|C", &d), "A\\T\\B\\F\\C");
/// assert_eq!(escape::decode(escape::encode("A&B|C", &d).as_bytes(), &d).unwrap(), "A&B|C");
/// ```
pub fn encode<'a>(text: &'a str, delims: &Delimiters) -> Cow<'a, str> {
    let esc = delims.escape.unwrap_or(b'\\');
    let special = |b: u8| {
        b == delims.field
            || b == delims.component
            || b == delims.subcomponent
            || b == delims.repetition
            || b == esc
            || Some(b) == delims.truncation
            || b == b'\r'
            || b == b'\n'
    };
    let bytes = text.as_bytes();
    let Some(first) = bytes.iter().position(|&b| special(b)) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    let e = esc as char;
    for ch in text[first..].chars() {
        let code = if ch.is_ascii() && special(ch as u8) {
            let b = ch as u8;
            if b == delims.field {
                "F"
            } else if b == delims.component {
                "S"
            } else if b == delims.subcomponent {
                "T"
            } else if b == delims.repetition {
                "R"
            } else if b == esc {
                "E"
            } else if b == b'\r' {
                "X0D"
            } else if b == b'\n' {
                "X0A"
            } else {
                "P"
            }
        } else {
            out.push(ch);
            continue;
        };
        out.push(e);
        out.push_str(code);
        out.push(e);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Delimiters {
        Delimiters::default()
    }

    #[test]
    fn basic_sequences() {
        let v = decode(b"\\F\\\\S\\\\T\\\\R\\\\E\\", &d()).unwrap();
        assert_eq!(v, "|^&~\\");
        assert!(matches!(
            decode(b"plain", &d()).unwrap(),
            Cow::Borrowed("plain")
        ));
        assert_eq!(decode(b"caf\\XC3A9\\!", &d()).unwrap(), "café!");
        assert_eq!(decode(b"\\X0D0A\\", &d()).unwrap(), "\r\n");
    }

    #[test]
    fn truncation() {
        let mut dl = d();
        assert_eq!(decode(b"a\\P\\", &dl).unwrap(), "a\\P\\");
        dl.truncation = Some(b'#');
        assert_eq!(decode(b"a\\P\\", &dl).unwrap(), "a#");
        assert_eq!(encode("a#", &dl), "a\\P\\");
    }

    #[test]
    fn formatting_kept_or_text() {
        let raw = b"line1\\.br\\line2\\.sp 2\\x\\H\\bold\\N\\\\.sk 3\\y\\.in +4\\";
        assert_eq!(
            decode(raw, &d()).unwrap(),
            std::str::from_utf8(raw).unwrap()
        );
        let t = decode_with(
            raw,
            &d(),
            &DecodeOptions::default().formatting(Formatting::Text),
            Charset::UTF8,
        )
        .unwrap();
        assert_eq!(t, "line1\nline2\n\nxbold   y");
    }

    #[test]
    fn charset_escapes_preserved() {
        assert_eq!(
            decode(b"\\C2842\\abc\\M2442\\", &d()).unwrap(),
            "\\C2842\\abc\\M2442\\"
        );
        assert_eq!(decode(b"\\Zfoo\\", &d()).unwrap(), "\\Zfoo\\");
    }

    #[test]
    fn lenient_and_strict_unknown() {
        assert_eq!(decode(b"C:\\dir\\T\\x", &d()).unwrap(), "C:\\dir&x");
        assert_eq!(decode(b"tail\\", &d()).unwrap(), "tail\\");
        let strict = DecodeOptions::default().strict(true);
        assert!(decode_with(b"tail\\", &d(), &strict, Charset::UTF8).is_err());
        assert!(decode_with(b"\\Q\\", &d(), &strict, Charset::UTF8).is_err());
        assert_eq!(decode(b"\\XZZ\\", &d()).unwrap(), "\\XZZ\\");
        assert!(decode_with(b"\\XZZ\\", &d(), &strict, Charset::UTF8).is_err());
        assert!(decode(b"\\XFF\\", &d()).is_err());
        let lossy = DecodeOptions::default().lossy(true);
        assert_eq!(
            decode_with(b"\\XFF\\", &d(), &lossy, Charset::UTF8).unwrap(),
            "\u{FFFD}"
        );
    }

    #[test]
    fn non_ascii_around_escapes() {
        let v = decode("Müller\\T\\Søn ☃\\S\\".as_bytes(), &d()).unwrap();
        assert_eq!(v, "Müller&Søn ☃^");
        let e = encode("Müller&Søn|☃\n", &d());
        assert_eq!(e, "Müller\\T\\Søn\\F\\☃\\X0A\\");
        assert_eq!(decode(e.as_bytes(), &d()).unwrap(), "Müller&Søn|☃\n");
    }

    #[test]
    fn latin1_hex() {
        let v = decode_with(
            b"Jos\\XE9\\ \xe9",
            &d(),
            &DecodeOptions::default(),
            Charset::LATIN1,
        )
        .unwrap();
        assert_eq!(v, "José é");
    }
}
