//! Typed, read-only views of the common HL7 v2 datatypes, borrowing the input.
//!
//! Every view wraps one raw (still escaped) value: usually one *repetition* of a field (repetitions
//! are the caller's business: `PID-3(2)` is one [`Cx`]), or one component when a composite type sits
//! inside another one (the [`Hd`] in `CX.4`). Nothing is split or copied up front: a component
//! accessor scans the value for the separators when it is called and hands back a slice of the
//! input.
//!
//! | HL7 type | Rust | notes |
//! |---|---|---|
//! | DTM, TS | [`Dtm`], [`Ts`] | every precision `YYYY` .. `YYYYMMDDHHMMSS.SSSS`, optional `±ZZZZ`; `chrono` feature |
//! | DT, TM | [`Dt`], [`Tm`] | |
//! | NM, SI | [`Nm`], [`Si`] | `Nm` keeps the written text |
//! | ST, TX, ID, IS | [`Text`] ([`St`], [`Tx`], [`Id`], [`Is`]) | |
//! | FT | [`Ft`] | formatting escapes (`\.br\` ...) kept, or turned into plain text |
//! | HD, EI, EIP, CX, XPN (FN), XAD (SAD), XTN, XCN, XON, CWE/CE/CNE, CF, CNN, PL, MSG, PT, VID, DR, SN, CQ, MO, ED, DLD, DLN, NR, PLN, RP, RI, NDL, SPS, TQ, OG, NA | views of the same name | every datatype the v2-to-FHIR IG maps |
//!
//! Presence follows the standard: a component after the last separator is *absent*, one between two
//! separators is *empty*, and `""` is the HL7 *null* (a value that tells the receiver to delete what
//! it holds). Named accessors return `None` for absent and empty components and `Some` for valued
//! ones, the null included ([`Text::is_null`]); [`Cx::component_raw`] and its siblings tell absent
//! (`None`) from empty (`Some(b"")`).
//!
//! ```
//! use ehrkit_hl7v2::Delimiters;
//! use ehrkit_hl7v2::datatypes::{Cx, Xpn};
//!
//! let delims = Delimiters::default();
//! let mrn = Cx::parse(b"12345^^^EPIC&1.2.840.114350&ISO^MRN", &delims);
//! assert_eq!(mrn.id_number().unwrap().decode().unwrap(), "12345");
//! assert_eq!(mrn.identifier_type_code().unwrap().raw(), b"MRN");
//! let authority = mrn.assigning_authority().unwrap();
//! assert_eq!(authority.namespace_id().unwrap().raw(), b"EPIC");
//! assert_eq!(authority.universal_id().unwrap().raw(), b"1.2.840.114350");
//!
//! let name = Xpn::parse(br"O\S\BRIEN^MARY^ANN^^^^L", &delims);
//! assert_eq!(name.family_name().unwrap().surname().unwrap().decode().unwrap(), "O^BRIEN");
//! assert_eq!(name.name_type_code().unwrap().raw(), b"L");
//! ```

use std::borrow::Cow;
use std::fmt;

use crate::charset::{Step, Walker};
use crate::{Charset, Delimiters};

mod composite;
mod datetime;
mod number;
mod text;

pub use composite::{
    Cf, Cnn, Coding, Cq, Cwe, Cx, Dld, Dln, Dr, Ed, Ei, Eip, FamilyName, Hd, Mo, Msg, Na, Ndl, Nr,
    Og, Phone, Pl, Pln, Pt, Ri, Rp, Sad, Sn, Sps, Tq, Ts, Vid, Xad, Xcn, Xon, Xpn, Xtn,
};
pub use datetime::{DateTimeParts, Dt, Dtm, Precision, Tm};
pub use number::{Nm, Si};
pub use text::{Ft, Id, Is, St, Text, Tx};

#[cfg(feature = "chrono")]
#[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
pub use datetime::PreciseDateTime;

/// Coded with no exceptions (v2.5.1 CE): same layout as [`Cwe`] (components 1–6, and 7–9 from v2.5).
pub type Ce<'a> = Cwe<'a>;
/// Coded with no exceptions (CNE): same layout as [`Cwe`].
pub type Cne<'a> = Cwe<'a>;

/// Build a typed value from one raw (still escaped) value and the message's delimiters.
///
/// The views ([`Cx`], [`Xpn`], [`Text`], ...) never fail: they only borrow and split on demand.
/// Parsed values ([`Dtm`], [`Dt`], [`Tm`], [`Nm`], [`Si`]) check the text and say what is wrong.
///
/// ```
/// use ehrkit_hl7v2::Delimiters;
/// use ehrkit_hl7v2::datatypes::{Dtm, FromRaw, Precision};
///
/// let t = Dtm::from_raw(b"202403151230-0500", &Delimiters::default()).unwrap();
/// assert_eq!(t.precision(), Precision::Minute);
/// assert_eq!(t.offset_minutes(), Some(-300));
/// ```
pub trait FromRaw<'a>: Sized {
    /// Build the value from `raw`, a slice of the message, with the message's `delims`.
    fn from_raw(raw: &'a [u8], delims: &Delimiters) -> Result<Self, DatatypeError>;

    /// Like [`from_raw`](FromRaw::from_raw) for a value in `charset` (the message's MSH-18): the views
    /// keep it to split and decode their components; parsed values (dates, numbers) ignore it.
    fn from_raw_in(
        raw: &'a [u8],
        delims: &Delimiters,
        charset: Charset,
    ) -> Result<Self, DatatypeError> {
        let _ = charset;
        Self::from_raw(raw, delims)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A typed view of one value, never failing: every composite view of this module ([`Cx`], [`Xpn`],
/// [`Hd`], [`Cwe`], ...) and [`Text`] / [`Ft`] for primitives. [`Field`](crate::Field) hands out
/// repetitions as any `View` (`pid.field(3).repetitions::<Cx>()`). Sealed: implemented here only.
pub trait View<'a>: Copy + sealed::Sealed {
    /// The HL7 datatype code (`"CX"`; `"ST"` for [`Text`]).
    const CODE: &'static str;

    /// The view of `raw`, one field repetition (still escaped), written with `delims` in
    /// `charset` (the message's MSH-18).
    fn view(raw: &'a [u8], delims: &Delimiters, charset: Charset) -> Self;
}

/// The typed value at `path` of `msg` (`PID-3(2)` as [`Cx`], `MSH-7` as [`Dtm`], ...): `Ok(None)`
/// when the element is absent, otherwise what [`FromRaw::from_raw_in`] makes of it (the same as
/// [`Message::typed`](crate::Message::typed)).
///
/// Like every fallible lookup in this crate it returns `Result<Option<T>, E>`: the error is what
/// went wrong, and `None` is a normal outcome (the element is not there), so `?` handles the error
/// and leaves the absence to look at.
///
/// ```
/// use ehrkit_hl7v2::Message;
/// use ehrkit_hl7v2::datatypes::{read, Cx, Dtm, Precision};
///
/// let msg = Message::parse(b"MSH|^~\\&|A|B|C|D|202401020304-0500||ADT^A01|1|P|2.5.1\rPID|1||7^^^EPIC^MRN\r")?;
/// let sent: Dtm = read(&msg, "MSH-7")?.unwrap();
/// assert_eq!(sent.precision(), Precision::Minute);
/// let mrn: Cx<'_> = read(&msg, "PID-3")?.unwrap();
/// assert_eq!(mrn.id_number().unwrap().raw(), b"7");
/// assert!(read::<Dtm>(&msg, "PID-7")?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read<'a, T: FromRaw<'a>>(
    msg: &crate::Message<'a>,
    path: &str,
) -> Result<Option<T>, DatatypeError> {
    msg.typed(path)
}

/// The repetitions of one raw field (as [`Segment::field_raw`](crate::Segment::field_raw) gives it),
/// each still escaped; nothing for an empty field. `MSH-2` must not be passed (its `~` is data).
///
/// This splits bytes, which is exact in every character set but Big5, GB 18030 and ISO-2022-JP; for
/// a field of a parsed message prefer [`Field::repetitions`](crate::Field::repetitions)
/// (`pid.field(3).repetitions::<Cx>()`), which reads the message's index and is exact in all of them.
///
/// ```
/// use ehrkit_hl7v2::{Delimiters, Message};
/// use ehrkit_hl7v2::datatypes::{repetitions, Cx};
///
/// let msg = Message::parse(b"MSH|^~\\&|A|B\rPID|1||1^^^EPIC^MRN~2^^^SSA^SS\r")?;
/// let pid = msg.segment("PID", 1).unwrap();
/// let types: Vec<_> = repetitions(pid.field_raw(3).unwrap(), msg.delimiters())
///     .map(|rep| Cx::parse(rep, msg.delimiters()).identifier_type_code().unwrap().raw())
///     .collect();
/// assert_eq!(types, [&b"MRN"[..], b"SS"]);
/// # Ok::<(), ehrkit_hl7v2::Error>(())
/// ```
pub fn repetitions<'a>(field: &'a [u8], delims: &Delimiters) -> impl Iterator<Item = &'a [u8]> {
    let sep = delims.repetition;
    let empty = field.is_empty();
    field.split(move |b| *b == sep).filter(move |_| !empty)
}

/// What is wrong with a value that does not follow its datatype's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Problem {
    /// A character that must be a digit is not.
    NotADigit,
    /// The number of digits does not match any allowed precision (e.g. 5 or 7 digits in a date).
    BadLength,
    /// Month outside 01–12.
    MonthOutOfRange,
    /// Day outside 01 to the length of the month (leap years counted).
    DayOutOfRange,
    /// Hour outside 00–23.
    HourOutOfRange,
    /// Minute outside 00–59.
    MinuteOutOfRange,
    /// Second outside 00–59.
    SecondOutOfRange,
    /// A fractional second without seconds, or a `.` not followed by digits.
    BadFraction,
    /// More fractional digits than supported (9).
    FractionTooLong,
    /// A time-zone offset that is not `+HHMM` / `-HHMM` with HH 00–23 and MM 00–59.
    BadOffset,
    /// Not a number: NM is `[+|-]digits[.digits]`, SI is unsigned digits.
    NotANumber,
    /// The number does not fit the target type.
    Overflow,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Problem::NotADigit => "expected a digit",
            Problem::BadLength => "number of digits matches no allowed precision",
            Problem::MonthOutOfRange => "month out of range (01-12)",
            Problem::DayOutOfRange => "day out of range for the month",
            Problem::HourOutOfRange => "hour out of range (00-23)",
            Problem::MinuteOutOfRange => "minute out of range (00-59)",
            Problem::SecondOutOfRange => "second out of range (00-59)",
            Problem::BadFraction => "misplaced or empty fractional second",
            Problem::FractionTooLong => "more than 9 fractional digits",
            Problem::BadOffset => "malformed time-zone offset (expected +HHMM or -HHMM)",
            Problem::NotANumber => "not a number",
            Problem::Overflow => "number too large",
        })
    }
}

/// Error from reading a typed value. `Display` never shows the value itself (it may be PHI).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatatypeError {
    /// The value is empty where the datatype needs one.
    Empty {
        /// HL7 datatype code, e.g. `"DTM"`.
        datatype: &'static str,
    },
    /// The value is the HL7 null `""` where the datatype needs a value.
    Null {
        /// HL7 datatype code, e.g. `"DTM"`.
        datatype: &'static str,
    },
    /// The value does not follow the datatype's format.
    Invalid {
        /// HL7 datatype code, e.g. `"DTM"`.
        datatype: &'static str,
        /// Byte offset of the problem inside the value.
        offset: usize,
        /// What is wrong.
        problem: Problem,
    },
    /// Decoding the escapes or the character set of the value failed.
    Decode(crate::Error),
}

impl fmt::Display for DatatypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatatypeError::Empty { datatype } => write!(f, "{datatype} value is empty"),
            DatatypeError::Null { datatype } => write!(f, "{datatype} value is the HL7 null \"\""),
            DatatypeError::Invalid {
                datatype,
                offset,
                problem,
            } => write!(f, "invalid {datatype} value at byte {offset}: {problem}"),
            DatatypeError::Decode(e) => write!(f, "cannot decode value: {e}"),
        }
    }
}

impl std::error::Error for DatatypeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DatatypeError::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::Error> for DatatypeError {
    fn from(e: crate::Error) -> Self {
        DatatypeError::Decode(e)
    }
}

impl DatatypeError {
    pub(crate) fn invalid(datatype: &'static str, offset: usize, problem: Problem) -> Self {
        DatatypeError::Invalid {
            datatype,
            offset,
            problem,
        }
    }

    /// `Empty`/`Null` error for an unvalued input, `None` for a valued one.
    pub(crate) fn check_valued(raw: &[u8], datatype: &'static str) -> Result<(), Self> {
        if raw.is_empty() {
            Err(DatatypeError::Empty { datatype })
        } else if raw == b"\"\"" {
            Err(DatatypeError::Null { datatype })
        } else {
            Ok(())
        }
    }
}

/// How deep a composite sits: its components are split on `^` at field level, on `&` inside a
/// component, and not at all inside a subcomponent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Level {
    Field,
    Component,
    Subcomponent,
}

impl Level {
    fn below(self) -> Level {
        match self {
            Level::Field => Level::Component,
            Level::Component | Level::Subcomponent => Level::Subcomponent,
        }
    }
}

/// One raw value split on demand into its parts at a given level, with the delimiters and the
/// character set of its message (separators are found at character boundaries in Big5, GB 18030
/// and ISO-2022-JP, and text is decoded from the charset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Parts<'a> {
    pub(crate) raw: &'a [u8],
    pub(crate) delims: Delimiters,
    pub(crate) charset: Charset,
    pub(crate) level: Level,
}

impl<'a> Parts<'a> {
    pub(crate) fn new(raw: &'a [u8], delims: Delimiters, level: Level) -> Self {
        Parts {
            raw,
            delims,
            charset: Charset::UTF8,
            level,
        }
    }

    pub(crate) fn with_charset(
        raw: &'a [u8],
        delims: Delimiters,
        charset: Charset,
        level: Level,
    ) -> Self {
        Parts {
            raw,
            delims,
            charset,
            level,
        }
    }

    /// The offsets of `sep` in the value that are whole characters (all of them, but in the
    /// multi-byte sets where a trail byte may equal `sep`).
    fn separators(&self, sep: u8) -> Option<Vec<usize>> {
        let layout = self.charset.layout()?;
        if !self.charset.needs_walk(self.raw) {
            return None;
        }
        let mut at = Vec::new();
        let mut w = Walker::new(layout);
        let mut i = 0;
        while i < self.raw.len() {
            match w.step(self.raw, i) {
                Step::Ascii => {
                    if self.raw[i] == sep {
                        at.push(i);
                    }
                    i += 1;
                }
                Step::Skip(k) => i += k,
                Step::Invalid => i += 1,
            }
        }
        Some(at)
    }

    /// The parts' `[start, end)` ranges, split at `sep` (charset-aware).
    fn ranges(&self, sep: u8) -> Vec<(usize, usize)> {
        let cuts: Vec<usize> = match self.separators(sep) {
            Some(at) => at,
            None => memchr::memchr_iter(sep, self.raw).collect(),
        };
        let mut out = Vec::with_capacity(cuts.len() + 1);
        let mut start = 0;
        for c in cuts {
            out.push((start, c));
            start = c + 1;
        }
        out.push((start, self.raw.len()));
        out
    }

    fn sub(&self, raw: &'a [u8], level: Level) -> Parts<'a> {
        Parts::with_charset(raw, self.delims, self.charset, level)
    }

    fn sep(&self) -> Option<u8> {
        match self.level {
            Level::Field => Some(self.delims.component),
            Level::Component => Some(self.delims.subcomponent),
            Level::Subcomponent => None,
        }
    }

    /// Raw part `n` (1-based): `None` when absent, `Some(b"")` when empty.
    pub(crate) fn get(&self, n: usize) -> Option<&'a [u8]> {
        if n == 0 || self.raw.is_empty() {
            return None;
        }
        match self.sep() {
            None => (n == 1).then_some(self.raw),
            Some(sep) if self.charset.layout().is_some() => {
                let (a, b) = *self.ranges(sep).get(n - 1)?;
                Some(&self.raw[a..b])
            }
            Some(sep) => {
                // The part after the (n-1)-th separator. A plain scan: components are short,
                // and every component read goes through here.
                let raw = self.raw;
                let start = match n {
                    1 => 0,
                    _ => nth_byte(raw, sep, n - 2)? + 1,
                };
                let end = raw[start..]
                    .iter()
                    .position(|b| *b == sep)
                    .map_or(raw.len(), |p| start + p);
                Some(&raw[start..end])
            }
        }
    }

    /// Raw parts 1..=N (index 0 is part 1) in one pass, each as [`get`](Parts::get) gives it:
    /// `None` past the last part. For views that read several components at once (a CWE
    /// triplet is five), instead of one scan from the start per component.
    pub(crate) fn first_parts<const N: usize>(&self) -> [Option<&'a [u8]>; N] {
        let mut out = [None; N];
        if self.raw.is_empty() || N == 0 {
            return out;
        }
        match self.sep() {
            None => out[0] = Some(self.raw),
            Some(sep) if self.charset.layout().is_some() => {
                for (slot, (a, b)) in out.iter_mut().zip(self.ranges(sep)) {
                    *slot = Some(&self.raw[a..b]);
                }
            }
            Some(sep) => {
                let raw = self.raw;
                let mut start = 0;
                for slot in &mut out {
                    match raw[start..].iter().position(|b| *b == sep) {
                        Some(p) => {
                            *slot = Some(&raw[start..start + p]);
                            start += p + 1;
                        }
                        None => {
                            *slot = Some(&raw[start..]);
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// A raw part (from [`first_parts`](Parts::first_parts)) as a typed view one level down,
    /// `None` when absent or empty: what [`child`](Parts::child) gives for its number.
    pub(crate) fn child_of<T: FromPart<'a>>(&self, raw: Option<&'a [u8]>) -> Option<T> {
        let raw = raw.filter(|r| !r.is_empty())?;
        Some(T::from_part(self.sub(raw, self.level.below())))
    }

    /// Number of parts present (0 for an empty value).
    pub(crate) fn count(&self) -> usize {
        if self.raw.is_empty() {
            return 0;
        }
        match self.sep() {
            None => 1,
            Some(sep) if self.charset.layout().is_some() => self.ranges(sep).len(),
            Some(sep) => 1 + memchr::memchr_iter(sep, self.raw).count(),
        }
    }

    /// Part `n` as a typed view one level down, `None` when absent or empty.
    pub(crate) fn child<T: FromPart<'a>>(&self, n: usize) -> Option<T> {
        self.child_of(self.get(n))
    }

    /// Parts `first ..= first + count - 1` as a view at the same level (e.g. the HD in EI.2–4).
    pub(crate) fn span<T: FromPart<'a>>(&self, first: usize, count: usize) -> Option<T> {
        let sep = self.sep()?;
        if first == 0 || count == 0 {
            return None;
        }
        let (start, end) = if self.charset.layout().is_some() {
            let ranges = self.ranges(sep);
            let (start, _) = *ranges.get(first - 1)?;
            let end = ranges
                .get(first + count - 2)
                .map_or(self.raw.len(), |r| r.1);
            (start, end)
        } else {
            // Without a multi-byte charset every separator byte is one (no ranges vector: EI
            // and HD spans are read for every identifier).
            let start = match first {
                1 => 0,
                _ => nth_byte(self.raw, sep, first - 2)? + 1,
            };
            let end =
                nth_byte(&self.raw[start..], sep, count - 1).map_or(self.raw.len(), |p| start + p);
            (start, end)
        };
        let raw = &self.raw[start..end];
        let valued = raw.iter().any(|b| *b != sep);
        valued.then(|| T::from_part(self.sub(raw, self.level)))
    }
}

/// The offset of the `k`-th (0-based) `sep` in `raw`.
#[inline]
fn nth_byte(raw: &[u8], sep: u8, k: usize) -> Option<usize> {
    let mut left = k;
    for (i, b) in raw.iter().enumerate() {
        if *b == sep {
            if left == 0 {
                return Some(i);
            }
            left -= 1;
        }
    }
    None
}

/// Construction of a view from its parts (crate-internal).
pub(crate) trait FromPart<'a> {
    fn from_part(parts: Parts<'a>) -> Self;
}

/// Decode escapes of one raw value with the crate's decoder.
pub(crate) fn decode<'a>(
    raw: &'a [u8],
    delims: &Delimiters,
) -> Result<Cow<'a, str>, DatatypeError> {
    crate::escape::decode(raw, delims).map_err(DatatypeError::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(raw: &[u8]) -> Parts<'_> {
        Parts::new(raw, Delimiters::default(), Level::Field)
    }

    #[test]
    fn get_tells_absent_from_empty() {
        let p = parts(b"A^^C");
        assert_eq!(p.get(1), Some(&b"A"[..]));
        assert_eq!(p.get(2), Some(&b""[..]));
        assert_eq!(p.get(3), Some(&b"C"[..]));
        assert_eq!(p.get(4), None);
        assert_eq!(p.get(0), None);
        assert_eq!(p.count(), 3);
        assert_eq!(parts(b"").get(1), None);
        assert_eq!(parts(b"").count(), 0);
    }

    #[test]
    fn span_equals_the_ranges_it_covers() {
        // The reference: the parts' ranges, as the multi-byte path computes them.
        fn by_ranges(raw: &[u8], first: usize, count: usize) -> Option<&[u8]> {
            let p = Parts::new(raw, Delimiters::default(), Level::Field);
            let ranges = p.ranges(b'^');
            let (start, _) = *ranges.get(first - 1)?;
            let end = ranges.get(first + count - 2).map_or(raw.len(), |r| r.1);
            let v = &raw[start..end];
            v.iter().any(|b| *b != b'^').then_some(v)
        }
        for raw in [
            &b"A^B^C^D"[..],
            b"^^C",
            b"A",
            b"A^^^",
            b"^",
            b"EI1^NS^1.2^ISO^x",
        ] {
            let p = Parts::new(raw, Delimiters::default(), Level::Field);
            for first in 1..7 {
                for count in 1..5 {
                    let got: Option<Text<'_>> = p.span(first, count);
                    assert_eq!(
                        got.map(|t| t.raw()),
                        by_ranges(raw, first, count),
                        "{raw:?} {first} {count}"
                    );
                }
            }
        }
    }

    /// Values of every shape: separators first, last, doubled, at both levels.
    const SHAPES: &[&[u8]] = &[b"^", b"^^", b"A^", b"^B", b"A&B^C&&D^^", b"x", b"&&&"];

    #[test]
    fn get_equals_a_split_on_every_shape() {
        for &raw in SHAPES {
            let p = parts(raw);
            let sub = Parts::new(raw, Delimiters::default(), Level::Component);
            for n in 1..8 {
                assert_eq!(
                    p.get(n),
                    raw.split(|b| *b == b'^').nth(n - 1),
                    "{raw:?} {n}"
                );
                assert_eq!(
                    sub.get(n),
                    raw.split(|b| *b == b'&').nth(n - 1),
                    "{raw:?} {n}"
                );
            }
        }
    }

    #[test]
    fn first_parts_equal_get_on_every_shape() {
        let big5 = Charset::from_msh18(b"BIG-5").expect("Big5 is known");
        // Plus: empty, more parts than read, and a Big5 character whose trail byte is `^`
        // before a real separator.
        let more: [&[u8]; 3] = [b"", b"1^2^3^4^5^6^7", b"\xa4\x5e^B&\xa4\x26^"];
        for &raw in SHAPES.iter().chain(&more) {
            for charset in [Charset::UTF8, big5] {
                for level in [Level::Field, Level::Component, Level::Subcomponent] {
                    let p = Parts::with_charset(raw, Delimiters::default(), charset, level);
                    let all = p.first_parts::<6>();
                    for (k, got) in all.iter().enumerate() {
                        assert_eq!(*got, p.get(k + 1), "{raw:?} {level:?} part {}", k + 1);
                    }
                    assert_eq!(p.first_parts::<1>()[0], p.get(1), "{raw:?} {level:?}");
                }
            }
        }
    }

    #[test]
    fn repetitions_of_a_field() {
        let d = Delimiters::default();
        assert_eq!(repetitions(b"", &d).count(), 0);
        assert_eq!(repetitions(b"A", &d).collect::<Vec<_>>(), [&b"A"[..]]);
        assert_eq!(
            repetitions(b"A~~B", &d).collect::<Vec<_>>(),
            [&b"A"[..], b"", b"B"]
        );
    }

    #[test]
    fn subcomponent_level_is_not_split() {
        let p = Parts::new(b"A^B&C", Delimiters::default(), Level::Subcomponent);
        assert_eq!(p.get(1), Some(&b"A^B&C"[..]));
        assert_eq!(p.get(2), None);
    }

    #[test]
    fn span_cuts_the_right_parts() {
        let p = parts(b"ID^NS^1.2^ISO^X");
        let hd: Hd<'_> = p.span(2, 3).unwrap();
        assert_eq!(hd.raw(), b"NS^1.2^ISO");
        let p = parts(b"ID");
        assert!(p.span::<Hd<'_>>(2, 3).is_none());
        let p = parts(b"ID^^^");
        assert!(p.span::<Hd<'_>>(2, 3).is_none());
        let p = parts(b"ID^^1.2");
        assert_eq!(p.span::<Hd<'_>>(2, 3).unwrap().raw(), b"^1.2");
    }
}
