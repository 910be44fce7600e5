//! NM and SI.

use std::borrow::Cow;
use std::fmt;

use super::{DatatypeError, FromRaw, Problem};
use crate::Delimiters;

/// Numeric (NM): `[+|-]digits[.digits]`, kept as written.
///
/// The text is checked when the view is built; [`as_f64`](Nm::as_f64) and
/// [`decimal`](Nm::decimal) convert on request.
///
/// ```
/// use ehrkit_hl7v2::Delimiters;
/// use ehrkit_hl7v2::datatypes::{FromRaw, Nm};
///
/// let n = Nm::from_raw(b"+007.50", &Delimiters::default()).unwrap();
/// assert_eq!(n.as_str(), "+007.50");
/// assert_eq!(n.decimal(), "7.50");
/// assert_eq!(n.as_f64(), 7.5);
/// assert!(Nm::from_raw(b"1e5", &Delimiters::default()).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Nm<'a> {
    text: &'a str,
}

impl<'a> Nm<'a> {
    /// Check `raw` against the NM format.
    pub fn parse(raw: &'a [u8]) -> Result<Self, DatatypeError> {
        DatatypeError::check_valued(raw, "NM")?;
        let bad = |offset| DatatypeError::invalid("NM", offset, Problem::NotANumber);
        let mut i = 0;
        if matches!(raw[0], b'+' | b'-') {
            i = 1;
        }
        let mut digits = 0;
        let mut seen_point = false;
        for (k, b) in raw.iter().enumerate().skip(i) {
            match b {
                b'0'..=b'9' => digits += 1,
                b'.' if !seen_point => seen_point = true,
                _ => return Err(bad(k)),
            }
        }
        if digits == 0 {
            return Err(bad(raw.len()));
        }
        // Only ASCII digits, sign and point: valid UTF-8.
        let text = std::str::from_utf8(raw).map_err(|_| bad(0))?;
        Ok(Nm { text })
    }

    /// The number as written.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The number as `f64` (nearest value; precision beyond `f64` is lost).
    pub fn as_f64(&self) -> f64 {
        let t = self.text.strip_prefix('+').unwrap_or(self.text);
        t.parse().unwrap_or(f64::NAN)
    }

    /// The number as a canonical decimal string (as FHIR `decimal` wants it): no `+`, no leading
    /// zeros before the units digit, a `0` before a leading point, no trailing point. Trailing
    /// zeros after the point are kept: they carry the precision.
    pub fn decimal(&self) -> Cow<'a, str> {
        let t = self.text;
        let (neg, body) = match t.as_bytes()[0] {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let int_trim = int.trim_start_matches('0');
        let int_out = if int_trim.is_empty() { "0" } else { int_trim };
        let frac = frac.filter(|f| !f.is_empty());
        let all_zero = int_out == "0" && frac.is_none_or(|f| f.bytes().all(|b| b == b'0'));
        let neg = neg && !all_zero;
        // Already canonical (the usual case): the text itself, nothing built. It is when the
        // sign is kept as written (no `+`, no `-` dropped from a zero), the integer part has
        // no leading zero to strip (and is not empty) and a point has digits after it.
        let sign_kept = match t.as_bytes()[0] {
            b'+' => false,
            b'-' => neg,
            _ => true,
        };
        if sign_kept && int_out == int && (frac.is_some() || !body.contains('.')) {
            return Cow::Borrowed(t);
        }
        let mut out = String::with_capacity(t.len() + 1);
        if neg {
            out.push('-');
        }
        out.push_str(int_out);
        if let Some(f) = frac {
            out.push('.');
            out.push_str(f);
        }
        Cow::Owned(out)
    }
}

impl fmt::Display for Nm<'_> {
    /// Writes the number as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl<'a> FromRaw<'a> for Nm<'a> {
    fn from_raw(raw: &'a [u8], _delims: &Delimiters) -> Result<Self, DatatypeError> {
        Nm::parse(raw)
    }
}

/// Sequence ID (SI): a non-negative integer (the standard allows 4 digits; up to `u32::MAX` is
/// read).
///
/// ```
/// use ehrkit_hl7v2::Delimiters;
/// use ehrkit_hl7v2::datatypes::{FromRaw, Si};
///
/// assert_eq!(Si::from_raw(b"0003", &Delimiters::default()).unwrap().get(), 3);
/// assert!(Si::from_raw(b"-1", &Delimiters::default()).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Si(u32);

impl Si {
    /// Read `raw` as an SI.
    pub fn parse(raw: &[u8]) -> Result<Self, DatatypeError> {
        DatatypeError::check_valued(raw, "SI")?;
        let mut v: u32 = 0;
        for (i, b) in raw.iter().enumerate() {
            if !b.is_ascii_digit() {
                return Err(DatatypeError::invalid("SI", i, Problem::NotANumber));
            }
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u32::from(b - b'0')))
                .ok_or(DatatypeError::invalid("SI", i, Problem::Overflow))?;
        }
        Ok(Si(v))
    }

    /// The value.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Si {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromRaw<'_> for Si {
    fn from_raw(raw: &[u8], _delims: &Delimiters) -> Result<Self, DatatypeError> {
        Si::parse(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nm_forms() {
        for (raw, dec, f) in [
            ("5", "5", 5.0),
            ("-0.5", "-0.5", -0.5),
            (".5", "0.5", 0.5),
            ("-.5", "-0.5", -0.5),
            ("5.", "5", 5.0),
            ("+0010.100", "10.100", 10.1),
            ("-0", "0", 0.0),
            ("000", "0", 0.0),
        ] {
            let n = Nm::parse(raw.as_bytes()).unwrap();
            assert_eq!(n.decimal(), dec, "{raw}");
            assert_eq!(n.as_f64(), f, "{raw}");
            assert_eq!(n.to_string(), raw);
        }
        assert!(matches!(
            Nm::parse(b"12.5").unwrap().decimal(),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn decimal_borrows_exactly_when_the_text_is_canonical() {
        // The reference: the canonical form always built, then compared with the text.
        fn built(t: &str) -> String {
            let (neg, body) = match t.as_bytes()[0] {
                b'-' => (true, &t[1..]),
                b'+' => (false, &t[1..]),
                _ => (false, t),
            };
            let (int, frac) = match body.split_once('.') {
                Some((i, f)) => (i, Some(f).filter(|f| !f.is_empty())),
                None => (body, None),
            };
            let int = match int.trim_start_matches('0') {
                "" => "0",
                i => i,
            };
            let zero = int == "0" && frac.is_none_or(|f| f.bytes().all(|b| b == b'0'));
            let mut out = String::new();
            if neg && !zero {
                out.push('-');
            }
            out.push_str(int);
            if let Some(f) = frac {
                out.push('.');
                out.push_str(f);
            }
            out
        }
        let signs = ["", "+", "-"];
        let ints = ["", "0", "00", "7", "07", "10", "100"];
        let fracs = ["", ".", ".0", ".00", ".5", ".50", ".05"];
        for sign in signs {
            for int in ints {
                for frac in fracs {
                    let raw = format!("{sign}{int}{frac}");
                    let Ok(n) = Nm::parse(raw.as_bytes()) else {
                        continue;
                    };
                    let want = built(&raw);
                    let got = n.decimal();
                    assert_eq!(got, want, "{raw}");
                    assert_eq!(matches!(got, Cow::Borrowed(_)), want == raw, "{raw}");
                }
            }
        }
    }

    #[test]
    fn nm_errors() {
        for (raw, off) in [
            ("1.2.3", 3),
            ("+", 1),
            (".", 1),
            ("1 ", 1),
            ("--1", 1),
            ("x", 0),
        ] {
            match Nm::parse(raw.as_bytes()) {
                Err(DatatypeError::Invalid {
                    offset,
                    problem: Problem::NotANumber,
                    ..
                }) => {
                    assert_eq!(offset, off, "{raw}")
                }
                other => panic!("{raw}: {other:?}"),
            }
        }
        assert_eq!(Nm::parse(b""), Err(DatatypeError::Empty { datatype: "NM" }));
        assert_eq!(
            Nm::parse(b"\"\""),
            Err(DatatypeError::Null { datatype: "NM" })
        );
    }

    #[test]
    fn si_bounds() {
        assert_eq!(Si::parse(b"4294967295").unwrap().get(), u32::MAX);
        assert!(matches!(
            Si::parse(b"4294967296"),
            Err(DatatypeError::Invalid {
                problem: Problem::Overflow,
                offset: 9,
                ..
            })
        ));
    }
}
