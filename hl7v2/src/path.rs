//! Paths such as `PID-3(2).1`: `SEG(n)-F(r).C.S`, all 1-based, every part after the segment optional.

use crate::error::Error;

/// A parsed path: segment ID and occurrence, then field, repetition, component, subcomponent.
///
/// * `PID` — the whole first PID segment;
/// * `OBX(3)-5` — field 5 of the third OBX, *all* its repetitions as written;
/// * `PID-3(2)` — the second repetition of PID-3;
/// * `PID-5.1`, `PID-3(2).4.2` — components / subcomponents; without `(r)` they address the first
///   repetition.
///
/// ```
/// use ehrkit_hl7v2::Path;
/// let p: Path = "OBX(3)-5(2).1.2".parse().unwrap();
/// assert_eq!(p.segment(), "OBX");
/// assert_eq!((p.occurrence(), p.field(), p.repetition(), p.component(), p.subcomponent()),
///            (3, Some(5), Some(2), Some(1), Some(2)));
/// assert_eq!(p.to_string(), "OBX(3)-5(2).1.2");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    pub(crate) seg: [u8; 3],
    pub(crate) occ: u32,
    pub(crate) field: Option<u32>,
    pub(crate) rep: Option<u32>,
    pub(crate) comp: Option<u32>,
    pub(crate) sub: Option<u32>,
}

struct Cursor<'s> {
    b: &'s [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn number(&mut self) -> Option<u32> {
        let start = self.i;
        let mut v: u32 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            v = v.checked_mul(10)?.checked_add(u32::from(c - b'0'))?;
            self.i += 1;
        }
        if self.i == start || v == 0 {
            None
        } else {
            Some(v)
        }
    }
    fn paren(&mut self) -> Result<Option<u32>, &'static str> {
        if !self.eat(b'(') {
            return Ok(None);
        }
        let n = self
            .number()
            .ok_or("expected a number >= 1 in parentheses")?;
        if !self.eat(b')') {
            return Err("missing ')'");
        }
        Ok(Some(n))
    }
}

impl Path {
    /// Parses a path. Numbers are 1-based; `(n)` defaults to 1 for the segment occurrence.
    pub fn parse(s: &str) -> Result<Path, Error> {
        if let Some(p) = Self::parse_simple(s.as_bytes()) {
            return Ok(p);
        }
        Self::parse_inner(s.as_bytes()).map_err(|reason| Error::Path {
            path: s.chars().take(64).collect(),
            reason,
        })
    }

    /// Parses a path relative to a segment (`3(2).1`), as used by [`crate::Segment::get`].
    pub(crate) fn parse_relative(seg: [u8; 3], s: &str) -> Result<Path, Error> {
        let mut full = [0u8; 64];
        let b = s.as_bytes();
        if b.len() + 4 > full.len() {
            return Err(Error::Path {
                path: s.chars().take(64).collect(),
                reason: "path too long",
            });
        }
        full[..3].copy_from_slice(&seg);
        full[3] = b'-';
        full[4..4 + b.len()].copy_from_slice(b);
        Self::parse_inner(&full[..4 + b.len()]).map_err(|reason| Error::Path {
            path: s.into(),
            reason,
        })
    }

    /// The common form `SEG-F[.C[.S]]` (no parentheses) in one tight loop; `None` for anything else,
    /// which [`Path::parse_inner`] then handles (and reports). Same result as `parse_inner` whenever
    /// it returns `Some` (tested below).
    #[inline]
    fn parse_simple(b: &[u8]) -> Option<Path> {
        let [s0, s1, s2, b'-', rest @ ..] = b else {
            return None;
        };
        let seg = [*s0, *s1, *s2];
        if !seg.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let mut nums = [0u32; 3];
        let mut k = 0usize;
        let (mut cur, mut digits) = (0u32, 0u32);
        for &c in rest {
            if c.is_ascii_digit() {
                if digits == 9 {
                    return None; // long numbers: the checked path
                }
                cur = cur * 10 + u32::from(c - b'0');
                digits += 1;
            } else if c == b'.' && cur != 0 && k < 2 {
                nums[k] = cur;
                k += 1;
                (cur, digits) = (0, 0);
            } else {
                return None;
            }
        }
        if cur == 0 {
            return None;
        }
        nums[k] = cur;
        Some(Path {
            seg: seg.map(|x| x.to_ascii_uppercase()),
            occ: 1,
            field: Some(nums[0]),
            rep: None,
            comp: (k >= 1).then_some(nums[1]),
            sub: (k >= 2).then_some(nums[2]),
        })
    }

    fn parse_inner(b: &[u8]) -> Result<Path, &'static str> {
        if b.len() < 3 {
            return Err("segment ID must be 3 characters");
        }
        let mut seg = [0u8; 3];
        for (k, &c) in b[..3].iter().enumerate() {
            if !c.is_ascii_alphanumeric() {
                return Err("segment ID must be 3 letters or digits");
            }
            seg[k] = c.to_ascii_uppercase();
        }
        let mut c = Cursor { b, i: 3 };
        let occ = c.paren()?.unwrap_or(1);
        let mut p = Path {
            seg,
            occ,
            field: None,
            rep: None,
            comp: None,
            sub: None,
        };
        if c.eat(b'-') || c.eat(b'.') {
            p.field = Some(c.number().ok_or("expected a field number >= 1")?);
            p.rep = c.paren()?;
            if c.eat(b'.') {
                p.comp = Some(c.number().ok_or("expected a component number >= 1")?);
                if c.eat(b'.') {
                    p.sub = Some(c.number().ok_or("expected a subcomponent number >= 1")?);
                }
            }
        }
        if c.i != b.len() {
            return Err("unexpected characters");
        }
        Ok(p)
    }

    /// A path to a field: `SEG-F`.
    pub fn new(segment: &str, field: u32) -> Result<Path, Error> {
        let mut p = Self::parse(segment)?;
        if field == 0 {
            return Err(Error::Path {
                path: segment.into(),
                reason: "field numbers start at 1",
            });
        }
        p.field = Some(field);
        Ok(p)
    }

    /// The segment ID (upper case).
    pub fn segment(&self) -> &str {
        std::str::from_utf8(&self.seg).unwrap_or("???")
    }
    /// Segment occurrence, 1-based.
    pub fn occurrence(&self) -> u32 {
        self.occ
    }
    /// Field number.
    pub fn field(&self) -> Option<u32> {
        self.field
    }
    /// Repetition number, when given.
    pub fn repetition(&self) -> Option<u32> {
        self.rep
    }
    /// Component number, when given.
    pub fn component(&self) -> Option<u32> {
        self.comp
    }
    /// Subcomponent number, when given.
    pub fn subcomponent(&self) -> Option<u32> {
        self.sub
    }
    /// Same path with another segment occurrence.
    pub fn with_occurrence(mut self, n: u32) -> Self {
        self.occ = n.max(1);
        self
    }
    /// Same path with a component number (needs a field).
    pub fn with_component(mut self, c: u32) -> Self {
        self.comp = Some(c.max(1));
        self
    }
    /// Same path with a subcomponent number (needs a component).
    pub fn with_subcomponent(mut self, s: u32) -> Self {
        self.sub = Some(s.max(1));
        self
    }
    /// Same path with a repetition number.
    pub fn with_repetition(mut self, r: u32) -> Self {
        self.rep = Some(r.max(1));
        self
    }
}

impl std::str::FromStr for Path {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Path::parse(s)
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.segment())?;
        if self.occ != 1 {
            write!(f, "({})", self.occ)?;
        }
        if let Some(x) = self.field {
            write!(f, "-{x}")?;
            if let Some(r) = self.rep {
                write!(f, "({r})")?;
            }
            if let Some(c) = self.comp {
                write!(f, ".{c}")?;
                if let Some(s) = self.sub {
                    write!(f, ".{s}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let p = Path::parse("PID-3(2).1").unwrap();
        assert_eq!(
            (p.occ, p.field, p.rep, p.comp, p.sub),
            (1, Some(3), Some(2), Some(1), None)
        );
        let p = Path::parse("msh-9.2").unwrap();
        assert_eq!(p.segment(), "MSH");
        assert_eq!(Path::parse("ZP1").unwrap().field, None);
        for bad in [
            "",
            "PI",
            "PID-",
            "PID-0",
            "PID-3(0)",
            "PID-3.",
            "PID-3.1.1.1",
            "PID-3x",
            "P#D-1",
            "PID(2",
            "PID-99999999999",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
        // The fast form agrees with the general parser wherever it answers.
        for text in [
            "PID-3",
            "pid-3.1",
            "MSH-9.2",
            "PID-3.4.2",
            "ZP1-12.3.4",
            "PID-03",
            "PID-0",
            "PID-3.0",
            "PID-3.",
            "PID-.1",
            "PID-3..1",
            "PID-3.1.1.1",
            "PID-123456789",
            "PID-1234567890",
            "PID-3(2).1",
            "P#D-1",
            "PID-3x",
            "OBX-5.1.2",
        ] {
            let b = text.as_bytes();
            if let Some(fast) = Path::parse_simple(b) {
                assert_eq!(Ok(fast), Path::parse_inner(b), "{text}");
            }
        }
        assert!(Path::parse_simple(b"PID-3.4.2").is_some());
        assert_eq!(
            Path::parse_relative(*b"OBX", "5(2).1").unwrap().to_string(),
            "OBX-5(2).1"
        );
    }
}
