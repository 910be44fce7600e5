//! FHIR primitive types: the element wrapper and the value types that keep
//! their written text (decimals, dates and times).

use std::fmt;
use std::num::NonZeroU32;

use crate::de::{FhirObject, Parser, Read, Res};
use crate::error::{ErrorKind, Severity};
use crate::ser::Writer;
use crate::types::Extension;
use crate::unknown::Unknown;
use crate::validate::{Validate, Validator};

/// A primitive element: an optional value plus the optional `id` and
/// `extension` that FHIR JSON carries in the `_name` sibling.
#[derive(Debug, Clone, PartialEq)]
pub struct Primitive<T> {
    /// The value (`"name": value`); `None` when only extensions are present.
    pub value: Option<T>,
    /// The `_name` part, when present.
    pub ext: Option<Box<ElementExt>>,
}

impl<T> Default for Primitive<T> {
    fn default() -> Self {
        Primitive {
            value: None,
            ext: None,
        }
    }
}

impl<T> Primitive<T> {
    /// A primitive with a value and no extensions.
    pub fn new(value: T) -> Self {
        Primitive {
            value: Some(value),
            ext: None,
        }
    }

    /// The extensions of the `_name` sibling.
    pub fn extension(&self) -> &[Extension] {
        self.ext.as_deref().map_or(&[], |e| e.extension.as_slice())
    }
}

impl<T> From<T> for Primitive<T> {
    fn from(v: T) -> Self {
        Primitive::new(v)
    }
}

impl From<&str> for Primitive<String> {
    fn from(v: &str) -> Self {
        Primitive::new(v.to_owned())
    }
}

/// The `_name` sibling of a primitive: element id and extensions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ElementExt {
    /// Element id.
    pub id: Option<String>,
    /// Extensions of the primitive.
    pub extension: Vec<Extension>,
    /// Elements not in the definition (e.g. `fhir_comments`).
    pub unknown: Unknown,
}

impl FhirObject for ElementExt {
    fn read_field(&mut self, key: &str, p: &mut Parser<'_>) -> Res<Read> {
        match key {
            "id" => p.system_string(&mut self.id),
            "extension" => p.complex_vec(&mut self.extension),
            _ => Ok(Read::Unknown),
        }
    }
    fn unknown_mut(&mut self) -> &mut Unknown {
        &mut self.unknown
    }
    fn write_fields(&self, w: &mut Writer) {
        w.system_string("id", &self.id);
        w.complex_vec("extension", &self.extension);
        w.unknown(&self.unknown);
    }
}

impl Validate for ElementExt {
    fn validate(&self, v: &mut Validator) {
        v.field("extension", &self.extension);
        v.unknown(&self.unknown);
    }
}

/// A value type of a primitive element. Implemented by the generated code
/// enums too.
pub trait PrimitiveValue: Sized {
    /// Reads the JSON value.
    #[doc(hidden)]
    fn read(p: &mut Parser<'_>) -> Res<Self>;
    /// Writes the JSON value.
    #[doc(hidden)]
    fn write(&self, w: &mut Writer);
    /// A validation message when the value is not valid (e.g. a code not in
    /// its required value set).
    fn check(&self) -> Option<&'static str> {
        None
    }
}

impl PrimitiveValue for String {
    fn read(p: &mut Parser<'_>) -> Res<Self> {
        Ok(p.string()?.into_owned())
    }
    fn write(&self, w: &mut Writer) {
        w.string(self);
    }
}

impl PrimitiveValue for bool {
    fn read(p: &mut Parser<'_>) -> Res<Self> {
        p.boolean()
    }
    fn write(&self, w: &mut Writer) {
        w.raw(if *self { "true" } else { "false" });
    }
}

fn read_int(p: &mut Parser<'_>, min: i64) -> Res<i64> {
    let t = p.number()?;
    if t.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) {
        return Err(p.error(ErrorKind::Value("integer with a fraction or exponent")));
    }
    match t.parse::<i64>() {
        Ok(0) if t.starts_with('-') => {
            // An i32 has no negative zero: say so rather than lose it silently.
            p.issue(Severity::Warning, "integer -0 is read (and written) as 0")?;
            Ok(0)
        }
        Ok(v) if v >= min && v <= i64::from(i32::MAX) => Ok(v),
        _ => Err(p.error(ErrorKind::Value("integer out of range"))),
    }
}

/// `integer`: -2147483648..=2147483647.
impl PrimitiveValue for i32 {
    fn read(p: &mut Parser<'_>) -> Res<Self> {
        read_int(p, i64::from(i32::MIN)).map(|v| v as i32)
    }
    fn write(&self, w: &mut Writer) {
        w.raw(&self.to_string());
    }
}

/// `unsignedInt`: 0..=2147483647.
impl PrimitiveValue for u32 {
    fn read(p: &mut Parser<'_>) -> Res<Self> {
        read_int(p, 0).map(|v| v as u32)
    }
    fn write(&self, w: &mut Writer) {
        w.raw(&self.to_string());
    }
}

/// `positiveInt`: 1..=2147483647.
impl PrimitiveValue for NonZeroU32 {
    fn read(p: &mut Parser<'_>) -> Res<Self> {
        let v = read_int(p, 1)?;
        NonZeroU32::new(v as u32).ok_or_else(|| p.error(ErrorKind::Value("integer out of range")))
    }
    fn write(&self, w: &mut Writer) {
        w.raw(&self.to_string());
    }
    fn check(&self) -> Option<&'static str> {
        (self.get() > i32::MAX as u32).then_some("positiveInt out of range")
    }
}

/// A FHIR `decimal`, stored as written (`1.50` stays `1.50`, `1e3` stays
/// `1e3`, 20-digit values keep every digit).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal(String);

impl Decimal {
    /// Checks the JSON number syntax and keeps the text.
    pub fn new(text: &str) -> Option<Decimal> {
        // A plain number (the usual case) is kept as it is, without the JSON reader; anything
        // else (whitespace or a BOM around it, not a number) is read as JSON, as before.
        if is_json_number(text.as_bytes()) {
            return Some(Decimal(text.to_owned()));
        }
        let v = crate::json::Value::parse(text.as_bytes()).ok()?;
        match v {
            crate::json::Value::Number(n) => Some(Decimal(n)),
            _ => None,
        }
    }
    /// The written text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Nearest `f64` (may lose precision).
    pub fn to_f64(&self) -> f64 {
        self.0.parse().unwrap_or(f64::NAN)
    }
}

impl From<i32> for Decimal {
    fn from(v: i32) -> Self {
        Decimal(v.to_string())
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PrimitiveValue for Decimal {
    fn read(p: &mut Parser<'_>) -> Res<Self> {
        Ok(Decimal(p.number()?.to_owned()))
    }
    fn write(&self, w: &mut Writer) {
        w.raw(&self.0);
    }
}

macro_rules! text_type {
    ($(#[$m:meta])* $name:ident, $check:ident, $what:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Checks the lexical form of a FHIR `", $what, "` and keeps the text.")]
            pub fn new(text: &str) -> Option<$name> {
                $check(text.as_bytes()).then(|| $name(text.to_owned()))
            }
            /// The written text (precision and offset as given).
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PrimitiveValue for $name {
            fn read(p: &mut Parser<'_>) -> Res<Self> {
                let s = p.string()?;
                if !$check(s.as_bytes()) {
                    p.issue(Severity::Error, concat!("not a valid ", $what, ": kept as written"))?;
                }
                Ok($name(s.into_owned()))
            }
            fn write(&self, w: &mut Writer) {
                w.string(&self.0);
            }
            fn check(&self) -> Option<&'static str> {
                (!$check(self.0.as_bytes())).then_some(concat!("not a valid ", $what))
            }
        }
    };
}

text_type!(
    /// A FHIR `date` (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`), kept as written.
    Date, is_date, "date"
);
text_type!(
    /// A FHIR `dateTime` (partial dates allowed; a time needs an offset), kept as written.
    DateTime, is_date_time, "dateTime"
);
text_type!(
    /// A FHIR `instant` (full date, time and offset), kept as written.
    Instant, is_instant, "instant"
);
text_type!(
    /// A FHIR `time` (`hh:mm:ss` with optional fraction), kept as written.
    Time, is_time, "time"
);

/// True when all of `b` is one JSON number (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`),
/// nothing around it: what the JSON reader's `number` accepts.
fn is_json_number(b: &[u8]) -> bool {
    fn run(b: &[u8], mut i: usize) -> usize {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    }
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = run(b, i + 1),
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        let j = run(b, i + 1);
        if j == i + 1 {
            return false;
        }
        i = j;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let j = run(b, i);
        if j == i {
            return false;
        }
        i = j;
    }
    i == b.len()
}

fn digits(b: &[u8], at: usize, n: usize) -> bool {
    b.len() >= at + n && b[at..at + n].iter().all(u8::is_ascii_digit)
}

fn num(b: &[u8], at: usize, n: usize) -> u32 {
    b[at..at + n]
        .iter()
        .fold(0, |a, &c| a * 10 + u32::from(c - b'0'))
}

/// Length of a valid date prefix (`YYYY[-MM[-DD]]`) or 0.
fn date_len(b: &[u8]) -> usize {
    if !digits(b, 0, 4) {
        return 0;
    }
    if b.get(4) != Some(&b'-') {
        return 4;
    }
    if !digits(b, 5, 2) || !(1..=12).contains(&num(b, 5, 2)) {
        return 0;
    }
    if b.get(7) != Some(&b'-') {
        return 7;
    }
    if !digits(b, 8, 2) || !(1..=31).contains(&num(b, 8, 2)) {
        return 0;
    }
    10
}

/// `hh:mm:ss(.f+)?` at the start; returns its length or 0.
fn time_len(b: &[u8]) -> usize {
    if !(digits(b, 0, 2)
        && b.get(2) == Some(&b':')
        && digits(b, 3, 2)
        && b.get(5) == Some(&b':')
        && digits(b, 6, 2))
    {
        return 0;
    }
    if num(b, 0, 2) > 23 || num(b, 3, 2) > 59 || num(b, 6, 2) > 60 {
        return 0;
    }
    let mut n = 8;
    if b.get(8) == Some(&b'.') {
        n = 9;
        while b.get(n).is_some_and(u8::is_ascii_digit) {
            n += 1;
        }
        if n == 9 {
            return 0;
        }
    }
    n
}

fn is_offset(b: &[u8]) -> bool {
    b == b"Z"
        || (b.len() == 6
            && matches!(b[0], b'+' | b'-')
            && digits(b, 1, 2)
            && b[3] == b':'
            && digits(b, 4, 2)
            && num(b, 1, 2) <= 14
            && num(b, 4, 2) <= 59)
}

fn is_date(b: &[u8]) -> bool {
    let n = date_len(b);
    n > 0 && n == b.len()
}

fn is_date_time(b: &[u8]) -> bool {
    let n = date_len(b);
    if n == 0 {
        return false;
    }
    if n == b.len() {
        return true;
    }
    if n != 10 || b[10] != b'T' {
        return false;
    }
    let t = time_len(&b[11..]);
    t > 0 && is_offset(&b[11 + t..])
}

fn is_instant(b: &[u8]) -> bool {
    date_len(b) == 10 && b.len() > 10 && is_date_time(b)
}

fn is_time(b: &[u8]) -> bool {
    let n = time_len(b);
    n > 0 && n == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_read_as_the_json_reader_reads_them() {
        // The reference: the text read as one JSON document.
        fn by_reader(t: &str) -> Option<String> {
            match crate::json::Value::parse(t.as_bytes()).ok()? {
                crate::json::Value::Number(n) => Some(n),
                _ => None,
            }
        }
        let parts = [
            "", "-", "0", "00", "1", "12", ".", ".5", "e", "E+", "e-3", "e1", " ", "\u{feff}", "x",
            "\"",
        ];
        for a in parts {
            for b in parts {
                for c in parts {
                    let t = format!("{a}{b}{c}");
                    assert_eq!(Decimal::new(&t).map(|d| d.0), by_reader(&t), "{t:?}");
                    if is_json_number(t.as_bytes()) {
                        assert_eq!(by_reader(&t).as_deref(), Some(t.as_str()), "{t:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn lexical_forms() {
        assert!(is_date(b"2020") && is_date(b"2020-02") && is_date(b"2020-02-29"));
        assert!(!is_date(b"2020-13") && !is_date(b"20") && !is_date(b"2020-02-29T"));
        assert!(is_date_time(b"2015-02-07T13:28:17.239+02:00") && is_date_time(b"2015"));
        assert!(!is_date_time(b"2015-02-07T13:28:17") && !is_date_time(b"2015-02T13:28:17Z"));
        assert!(is_instant(b"2015-02-07T13:28:17Z") && !is_instant(b"2015-02-07"));
        assert!(is_time(b"13:28:17.5") && !is_time(b"13:28") && !is_time(b"25:00:00"));
    }
}
