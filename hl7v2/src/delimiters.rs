//! Message delimiters, read from MSH-1 / MSH-2 (or FHS/BHS).

use crate::error::{Error, Location};

/// The delimiters of one message: MSH-1 (field separator) and MSH-2 (encoding characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Delimiters {
    /// Field separator (MSH-1), usually `|`.
    pub field: u8,
    /// Component separator, usually `^`.
    pub component: u8,
    /// Repetition separator, usually `~`.
    pub repetition: u8,
    /// Escape character, usually `\`; `None` when the message declares none.
    pub escape: Option<u8>,
    /// Subcomponent separator, usually `&`.
    pub subcomponent: u8,
    /// Truncation character (v2.7+, usually `#`), when MSH-2 has a fifth character.
    pub truncation: Option<u8>,
}

impl Default for Delimiters {
    /// `|^~\&`, no truncation character.
    fn default() -> Self {
        Delimiters {
            field: b'|',
            component: b'^',
            repetition: b'~',
            escape: Some(b'\\'),
            subcomponent: b'&',
            truncation: None,
        }
    }
}

/// What the header parser found: delimiters plus the length of the encoding-characters field as written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeaderDelims {
    pub delims: Delimiters,
    /// Number of bytes of MSH-2 as it stands in the message.
    pub msh2_len: usize,
}

fn usable(b: u8) -> bool {
    b.is_ascii() && !(b.is_ascii_alphanumeric() || b.is_ascii_control() || b == b' ')
}

impl Delimiters {
    /// The encoding characters as they would be written in MSH-2 (4 or 5 bytes).
    pub fn encoding_characters(&self) -> String {
        let mut s = String::with_capacity(5);
        s.push(self.component as char);
        s.push(self.repetition as char);
        if let Some(e) = self.escape {
            s.push(e as char);
        }
        s.push(self.subcomponent as char);
        if let Some(t) = self.truncation {
            s.push(t as char);
        }
        s
    }

    /// True when `b` is one of the structural separators (field, component, repetition, subcomponent).
    pub fn is_separator(&self, b: u8) -> bool {
        b == self.field || b == self.component || b == self.repetition || b == self.subcomponent
    }

    /// Reads the delimiters of a header segment (`MSH`, `FHS` or `BHS`) starting at `seg[0]`.
    /// `base` is the offset of `seg` in the input (for error locations). With `lenient`, an MSH-2 with a
    /// doubled escape character (`^~\\&`, a common artefact of source-code string escaping) is accepted.
    pub(crate) fn from_header(
        seg: &[u8],
        base: usize,
        lenient: bool,
    ) -> Result<HeaderDelims, Error> {
        let err = |off: usize, reason: &'static str| Error::Delimiters {
            location: Location {
                offset: base + off,
                segment: None,
                field: Some(2),
            },
            reason,
        };
        if seg.len() < 4 {
            return Err(err(seg.len(), "header segment too short"));
        }
        let field = seg[3];
        if !usable(field) || field == b'\\' {
            return Err(err(
                3,
                "field separator is a letter, digit, space, backslash or line break",
            ));
        }
        // MSH-2 runs to the next field separator or segment end.
        let rest = &seg[4..];
        let n = rest
            .iter()
            .position(|&b| b == field || b == b'\r' || b == b'\n')
            .unwrap_or(rest.len());
        let enc = &rest[..n];
        let mut chars: [u8; 5] = [0; 5];
        let mut k = 0usize;
        for (i, &b) in enc.iter().enumerate() {
            if !usable(b) {
                return Err(err(4 + i, "encoding character is a letter, digit or space"));
            }
            if chars[..k].contains(&b) || b == field {
                if lenient && k > 0 && chars[k - 1] == b && b == b'\\' {
                    continue; // `^~\\&`: doubled escape character
                }
                return Err(err(4 + i, "encoding characters are not distinct"));
            }
            if k == 5 {
                return Err(err(4 + i, "more than 5 encoding characters"));
            }
            chars[k] = b;
            k += 1;
        }
        if k < 4 {
            // Some older senders truncate MSH-2 (`^~\`, `^~`). Leniently, the missing
            // characters take their standard defaults (`^ ~ \ &`, by position) when those
            // are still free; strict mode, or a clash, is an error.
            if !lenient || k == 0 {
                return Err(err(4, "fewer than 4 encoding characters"));
            }
            const DEFAULTS: [u8; 4] = [b'^', b'~', b'\\', b'&'];
            for (pos, &def) in DEFAULTS.iter().enumerate().skip(k) {
                if chars[..pos].contains(&def) || def == field {
                    return Err(err(4, "fewer than 4 encoding characters"));
                }
                chars[pos] = def;
            }
        }
        let delims = Delimiters {
            field,
            component: chars[0],
            repetition: chars[1],
            escape: Some(chars[2]),
            subcomponent: chars[3],
            truncation: if k == 5 { Some(chars[4]) } else { None },
        };
        Ok(HeaderDelims {
            delims,
            msh2_len: n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_five_chars() {
        let h = Delimiters::from_header(b"MSH|^~\\&#|A", 0, false).unwrap();
        assert_eq!(h.delims.truncation, Some(b'#'));
        assert_eq!(h.msh2_len, 5);
        assert_eq!(h.delims.encoding_characters(), "^~\\&#");
        let h = Delimiters::from_header(b"MSH|^~\\&|A", 0, false).unwrap();
        assert_eq!(h.delims, Delimiters::default());
    }

    #[test]
    fn truncated_msh2_is_completed_leniently_only() {
        // `^~\` (no subcomponent separator) and `^~` (no escape either).
        assert!(Delimiters::from_header(b"MSH|^~\\|A", 0, false).is_err());
        let h = Delimiters::from_header(b"MSH|^~\\|A", 0, true).unwrap();
        assert_eq!(h.delims, Delimiters::default());
        assert_eq!(
            h.msh2_len, 3,
            "the written MSH-2 length is kept for byte-exact output"
        );
        let h = Delimiters::from_header(b"MSH|^~|A", 0, true).unwrap();
        assert_eq!(h.delims, Delimiters::default());
        assert_eq!(h.msh2_len, 2);
        // A default that is already taken cannot be filled in.
        assert!(Delimiters::from_header(b"MSH|&~|A", 0, true).is_err());
        assert!(Delimiters::from_header(b"MSH&^~|A", 0, true).is_err());
        assert!(Delimiters::from_header(b"MSH||A", 0, true).is_err());
    }

    #[test]
    fn alternate_and_bad() {
        let h = Delimiters::from_header(b"MSH^~|\\&^X", 0, false).unwrap();
        assert_eq!(h.delims.field, b'^');
        assert_eq!(h.delims.component, b'~');
        assert_eq!(h.delims.repetition, b'|');
        assert!(Delimiters::from_header(b"MSH|^^\\&|", 0, false).is_err());
        assert!(Delimiters::from_header(b"MSH|^~|", 0, false).is_err());
        assert!(Delimiters::from_header(b"MSHA^~\\&", 0, false).is_err());
        assert!(Delimiters::from_header(b"MSH|^~\\\\&|", 0, false).is_err());
        let h = Delimiters::from_header(b"MSH|^~\\\\&|", 0, true).unwrap();
        assert_eq!(h.delims, Delimiters::default());
        assert_eq!(h.msh2_len, 5);
    }
}
