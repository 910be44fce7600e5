//! Character sets named in MSH-18 (HL7 table 0211) and their decoding to UTF-8.

use std::borrow::Cow;

/// A character set a message's bytes are decoded from. Built from MSH-18 with [`Charset::from_msh18`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Charset(Kind);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Utf8,
    Latin1,
    Other(&'static encoding_rs::Encoding),
}

impl Default for Charset {
    fn default() -> Self {
        Charset::UTF8
    }
}

impl Charset {
    /// UTF-8 (also used for ASCII and an empty MSH-18).
    pub const UTF8: Charset = Charset(Kind::Utf8);
    /// ISO 8859-1 (Latin-1): every byte is the code point of the same value.
    pub const LATIN1: Charset = Charset(Kind::Latin1);

    /// The character set for an MSH-18 value (table 0211), e.g. `UNICODE UTF-8`, `8859/1`, `ASCII`.
    /// Empty means the HL7 default (ASCII, read as UTF-8). `None` for values this crate cannot decode
    /// (e.g. `UNICODE UTF-16`, whose bytes cannot carry HL7 delimiters as single bytes).
    pub fn from_msh18(value: &[u8]) -> Option<Charset> {
        let v = trim(value);
        let upper = |s: &[u8]| -> [u8; 24] {
            let mut out = [0u8; 24];
            for (o, b) in out.iter_mut().zip(s.iter()) {
                *o = b.to_ascii_uppercase();
            }
            out
        };
        if v.len() > 24 {
            return None;
        }
        let u = upper(v);
        let u = &u[..v.len()];
        let enc = |e: &'static encoding_rs::Encoding| Some(Charset(Kind::Other(e)));
        match u {
            b"" | b"ASCII" | b"ISO IR6" | b"UNICODE UTF-8" | b"UTF-8" | b"UNICODE" | b"UTF8"
            | b"UNICODE UTF8" => Some(Charset::UTF8),
            b"8859/1" | b"ISO IR100" | b"ISO-8859-1" => Some(Charset::LATIN1),
            b"8859/2" | b"ISO IR101" => enc(encoding_rs::ISO_8859_2),
            b"8859/3" | b"ISO IR109" => enc(encoding_rs::ISO_8859_3),
            b"8859/4" | b"ISO IR110" => enc(encoding_rs::ISO_8859_4),
            b"8859/5" | b"ISO IR144" => enc(encoding_rs::ISO_8859_5),
            b"8859/6" | b"ISO IR127" => enc(encoding_rs::ISO_8859_6),
            b"8859/7" | b"ISO IR126" => enc(encoding_rs::ISO_8859_7),
            b"8859/8" | b"ISO IR138" => enc(encoding_rs::ISO_8859_8),
            b"8859/9" | b"ISO IR148" => enc(encoding_rs::WINDOWS_1254),
            b"8859/15" => enc(encoding_rs::ISO_8859_15),
            // Not in table 0211, but senders write them.
            b"WINDOWS-1252" | b"CP1252" => enc(encoding_rs::WINDOWS_1252),
            b"BIG-5" => enc(encoding_rs::BIG5),
            b"GB 18030-2000" => enc(encoding_rs::GB18030),
            b"KS X 1001" => enc(encoding_rs::EUC_KR),
            b"ISO IR87" | b"ISO IR159" | b"ISO IR13" => enc(encoding_rs::ISO_2022_JP),
            _ => None,
        }
    }

    /// The name used in error messages.
    pub fn name(&self) -> &'static str {
        match self.0 {
            Kind::Utf8 => "UTF-8",
            Kind::Latin1 => "ISO-8859-1",
            Kind::Other(e) => e.name(),
        }
    }

    /// True for UTF-8 (and ASCII).
    pub fn is_utf8(&self) -> bool {
        matches!(self.0, Kind::Utf8)
    }

    /// True for the multi-byte sets (Big5, GB 18030, ISO-2022-JP) whose characters may contain a
    /// byte equal to a delimiter (Big5 `0xCA 0x7C` holds a `|`): their messages are indexed
    /// character by character, so such a byte never splits a field.
    pub fn has_delimiter_like_trail_bytes(&self) -> bool {
        self.layout().is_some()
    }

    /// The multi-byte layout to walk, for the sets that need one.
    pub(crate) fn layout(&self) -> Option<Layout> {
        match self.0 {
            Kind::Other(e) if e == encoding_rs::BIG5 => Some(Layout::Big5),
            Kind::Other(e) if e == encoding_rs::GB18030 => Some(Layout::Gb18030),
            Kind::Other(e) if e == encoding_rs::ISO_2022_JP => Some(Layout::Iso2022Jp),
            _ => None,
        }
    }

    /// True when `bytes` hold something a byte-wise delimiter scan could misread in this set
    /// (a byte ≥ 0x80, or ESC for ISO-2022-JP); false for pure ASCII and for the safe sets.
    pub(crate) fn needs_walk(&self, bytes: &[u8]) -> bool {
        match self.layout() {
            None => false,
            Some(Layout::Iso2022Jp) => memchr::memchr(0x1B, bytes).is_some() || !bytes.is_ascii(),
            Some(_) => !bytes.is_ascii(),
        }
    }

    /// Decodes bytes of this character set to UTF-8 text. `Err(offset)` gives the first invalid byte's
    /// offset when `lossy` is false; with `lossy`, invalid bytes become U+FFFD.
    pub fn decode<'a>(&self, bytes: Cow<'a, [u8]>, lossy: bool) -> Result<Cow<'a, str>, usize> {
        match self.0 {
            Kind::Utf8 => match bytes {
                Cow::Borrowed(b) => match std::str::from_utf8(b) {
                    Ok(s) => Ok(Cow::Borrowed(s)),
                    Err(e) if !lossy => Err(e.valid_up_to()),
                    Err(_) => Ok(String::from_utf8_lossy(b)),
                },
                Cow::Owned(v) => match String::from_utf8(v) {
                    Ok(s) => Ok(Cow::Owned(s)),
                    Err(e) if !lossy => Err(e.utf8_error().valid_up_to()),
                    Err(e) => Ok(Cow::Owned(
                        String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    )),
                },
            },
            Kind::Latin1 => {
                if bytes.is_ascii() {
                    return Ok(ascii_cow(bytes));
                }
                Ok(Cow::Owned(bytes.iter().map(|&b| b as char).collect()))
            }
            Kind::Other(enc) => {
                if bytes.is_ascii() && enc != encoding_rs::ISO_2022_JP {
                    return Ok(ascii_cow(bytes));
                }
                let (text, had_errors) = enc.decode_without_bom_handling(&bytes);
                if had_errors && !lossy {
                    let pos = text.find('\u{FFFD}').unwrap_or(0);
                    return Err(pos);
                }
                Ok(Cow::Owned(text.into_owned()))
            }
        }
    }
}

/// Character sets whose multi-byte characters can contain bytes equal to an HL7 delimiter: a
/// delimiter search must step over whole characters in them. Every other supported set is safe to
/// scan byte by byte: UTF-8 and the ISO 8859 family never use ASCII bytes inside a character, and
/// KS X 1001 (read as EUC-KR / UHC) only uses letters as trail bytes, which cannot be delimiters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Big5: lead 0x81–0xFE, trail 0x40–0x7E or 0xA1–0xFE (`|`, `^`, `~`, `\` can be trail bytes).
    Big5,
    /// GB 18030: lead 0x81–0xFE, then a trail 0x40–0x7E / 0x80–0xFE, or a digit and two more bytes.
    Gb18030,
    /// ISO-2022-JP: escape sequences switch to JIS X 0208 (byte pairs 0x21–0x7E, any of which may
    /// equal a delimiter) or JIS X 0201 katakana (0x21–0x5F); delimiters only count in ASCII/Roman.
    Iso2022Jp,
}

/// Whether the bytes at a position are one ASCII character (possibly a delimiter) or belong to a
/// multi-byte character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// One ASCII character in a single-byte mode: may be a delimiter.
    Ascii,
    /// A character (or mode switch) of this many bytes, none of which is a delimiter.
    Skip(usize),
    /// Not a valid character of the set here: its boundaries are unknown.
    Invalid,
}

/// Walks the characters of a [`Layout`] charset, one segment at a time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Walker {
    layout: Layout,
    /// ISO-2022-JP mode: 0 ASCII/Roman, 1 katakana, 2 double-byte.
    mode: u8,
}

impl Walker {
    pub(crate) fn new(layout: Layout) -> Self {
        Walker { layout, mode: 0 }
    }

    /// True when the walk is in a state where a line may end (ISO-2022-JP back in ASCII/Roman).
    pub(crate) fn at_rest(&self) -> bool {
        self.mode == 0
    }

    /// What the bytes at `b[i]` are (`i < b.len()`; `b` ends where the value or segment ends).
    pub(crate) fn step(&mut self, b: &[u8], i: usize) -> Step {
        let x = b[i];
        let next = |k: usize| b.get(i + k).copied();
        match self.layout {
            Layout::Big5 | Layout::Gb18030 if x < 0x80 => Step::Ascii,
            Layout::Big5 => match next(1) {
                Some(t) if (0x81..=0xFE).contains(&x) && matches!(t, 0x40..=0x7E | 0xA1..=0xFE) => {
                    two_byte(encoding_rs::BIG5, x, t)
                }
                _ => Step::Invalid,
            },
            Layout::Gb18030 if x == 0x80 => Step::Skip(1), // the euro sign
            Layout::Gb18030 => match (next(1), next(2), next(3)) {
                (Some(t), _, _)
                    if (0x81..=0xFE).contains(&x) && matches!(t, 0x40..=0x7E | 0x80..=0xFE) =>
                {
                    two_byte(encoding_rs::GB18030, x, t)
                }
                (Some(b2 @ 0x30..=0x39), Some(b3 @ 0x81..=0xFE), Some(b4 @ 0x30..=0x39))
                    if (0x81..=0xFE).contains(&x) =>
                {
                    let (_, bad) =
                        encoding_rs::GB18030.decode_without_bom_handling(&[x, b2, b3, b4]);
                    if bad {
                        Step::Invalid
                    } else {
                        Step::Skip(4)
                    }
                }
                _ => Step::Invalid,
            },
            Layout::Iso2022Jp => {
                if x == 0x1B {
                    let mode = match (next(1), next(2)) {
                        (Some(b'('), Some(b'B' | b'J')) => 0,
                        (Some(b'('), Some(b'I')) => 1,
                        (Some(b'$'), Some(b'@' | b'B')) => 2,
                        _ => return Step::Invalid,
                    };
                    self.mode = mode;
                    return Step::Skip(3);
                }
                match self.mode {
                    _ if x >= 0x80 || x == 0x0E || x == 0x0F => Step::Invalid,
                    0 => Step::Ascii,
                    1 if (0x21..=0x5F).contains(&x) => Step::Skip(1),
                    2 if (0x21..=0x7E).contains(&x)
                        && next(1).is_some_and(|t| (0x21..=0x7E).contains(&t)) =>
                    {
                        Step::Skip(2)
                    }
                    _ => Step::Invalid,
                }
            }
        }
    }
}

/// A two-byte sequence whose trail byte is valid for the set: a character, unless the pair maps
/// to nothing and the trail is ASCII (the decoder then reads the trail byte again as ASCII, so it
/// may be a delimiter; the lead byte alone is invalid).
fn two_byte(enc: &'static encoding_rs::Encoding, lead: u8, trail: u8) -> Step {
    if trail >= 0x80 {
        return Step::Skip(2);
    }
    let (_, bad) = enc.decode_without_bom_handling(&[lead, trail]);
    if bad {
        Step::Invalid
    } else {
        Step::Skip(2)
    }
}

fn ascii_cow(bytes: Cow<'_, [u8]>) -> Cow<'_, str> {
    match bytes {
        Cow::Borrowed(b) => Cow::Borrowed(std::str::from_utf8(b).unwrap_or_default()),
        Cow::Owned(v) => Cow::Owned(String::from_utf8(v).unwrap_or_default()),
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_decoding() {
        assert_eq!(Charset::from_msh18(b""), Some(Charset::UTF8));
        assert_eq!(Charset::from_msh18(b"unicode utf-8"), Some(Charset::UTF8));
        assert_eq!(Charset::from_msh18(b"8859/1"), Some(Charset::LATIN1));
        assert_eq!(Charset::from_msh18(b"UNICODE UTF-16"), None);
        let l1 = Charset::LATIN1
            .decode(Cow::Borrowed(b"Jos\xe9"), false)
            .unwrap();
        assert_eq!(l1, "José");
        assert_eq!(
            Charset::UTF8.decode(Cow::Borrowed(b"ab\xff"), false),
            Err(2)
        );
        assert_eq!(
            Charset::UTF8
                .decode(Cow::Borrowed(b"ab\xff"), true)
                .unwrap(),
            "ab\u{FFFD}"
        );
        let l2 = Charset::from_msh18(b"8859/2").unwrap();
        assert_eq!(l2.decode(Cow::Borrowed(b"\xb1"), false).unwrap(), "ą");
    }
}
