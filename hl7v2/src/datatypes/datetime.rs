//! DTM (and the time of a TS), DT and TM.

use std::fmt;

use super::{DatatypeError, FromRaw, Problem};
use crate::Delimiters;

/// How much of a date/time was written. Ordered from coarsest to finest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Precision {
    /// `YYYY`
    Year,
    /// `YYYYMM`
    Month,
    /// `YYYYMMDD`
    Day,
    /// `..HH`
    Hour,
    /// `..HHMM`
    Minute,
    /// `..HHMMSS`
    Second,
    /// `..HHMMSS.S` with this many fractional digits (1–4 in the standard, up to 9 accepted).
    Fraction(u8),
}

impl Precision {
    /// Number of fixed digits before any fraction (`YYYY` = 4 ... `YYYYMMDDHHMMSS` = 14).
    fn dtm_digits(self) -> usize {
        match self {
            Precision::Year => 4,
            Precision::Month => 6,
            Precision::Day => 8,
            Precision::Hour => 10,
            Precision::Minute => 12,
            Precision::Second | Precision::Fraction(_) => 14,
        }
    }
}

/// The written sign and size of a UTC offset (`-0000` is kept apart from `+0000`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Offset {
    negative: bool,
    minutes: u16,
}

impl Offset {
    fn signed(self) -> i16 {
        if self.negative {
            -(self.minutes as i16)
        } else {
            self.minutes as i16
        }
    }
}

/// The broken-down fields shared by DTM, DT and TM; `precision` says which are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Fields {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    nanos: u32,
    precision: Precision,
    offset: Option<Offset>,
}

impl Fields {
    const ZERO: Fields = Fields {
        year: 0,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        nanos: 0,
        precision: Precision::Year,
        offset: None,
    };
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Dtm,
    Dt,
    Tm,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Dtm => "DTM",
            Kind::Dt => "DT",
            Kind::Tm => "TM",
        }
    }
}

fn is_leap(year: u16) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn two(b: &[u8]) -> u8 {
    (b[0] - b'0') * 10 + (b[1] - b'0')
}

/// Parse one date/time value. `raw` stops at the first component or subcomponent separator (the
/// degree of precision of a TS is not part of the time).
fn parse(raw: &[u8], delims: &Delimiters, kind: Kind) -> Result<Fields, DatatypeError> {
    let name = kind.name();
    let end = raw
        .iter()
        .position(|b| *b == delims.component || *b == delims.subcomponent)
        .unwrap_or(raw.len());
    let raw = &raw[..end];
    DatatypeError::check_valued(raw, name)?;
    let err = |offset, problem| DatatypeError::invalid(name, offset, problem);

    // Time-zone offset.
    let tz_at = raw.iter().position(|b| *b == b'+' || *b == b'-');
    let (main, offset) = match tz_at {
        Some(p) => {
            if kind == Kind::Dt {
                return Err(err(p, Problem::NotADigit));
            }
            let tz = &raw[p + 1..];
            if tz.len() != 4 || !tz.iter().all(u8::is_ascii_digit) {
                return Err(err(p, Problem::BadOffset));
            }
            let (h, m) = (two(&tz[..2]), two(&tz[2..]));
            if h > 23 || m > 59 {
                return Err(err(p, Problem::BadOffset));
            }
            let offset = Offset {
                negative: raw[p] == b'-',
                minutes: u16::from(h) * 60 + u16::from(m),
            };
            (&raw[..p], Some(offset))
        }
        None => (raw, None),
    };

    // Digits, then an optional fraction.
    let point = main.iter().position(|b| *b == b'.');
    let digits = &main[..point.unwrap_or(main.len())];
    if let Some(i) = digits.iter().position(|b| !b.is_ascii_digit()) {
        return Err(err(i, Problem::NotADigit));
    }
    // Offset (in the written value) where the clock part starts.
    let clock_base = if kind == Kind::Tm { 0 } else { 8 };
    let allowed: &[usize] = match kind {
        Kind::Dtm => &[4, 6, 8, 10, 12, 14],
        Kind::Dt => &[4, 6, 8],
        Kind::Tm => &[2, 4, 6],
    };
    if !allowed.contains(&digits.len()) {
        return Err(err(digits.len(), Problem::BadLength));
    }
    let mut f = Fields::ZERO;
    f.offset = offset;
    let n = digits.len();
    if kind != Kind::Tm {
        f.year = u16::from(two(&digits[..2])) * 100 + u16::from(two(&digits[2..4]));
        f.precision = Precision::Year;
        if n >= 6 {
            f.month = two(&digits[4..6]);
            if !(1..=12).contains(&f.month) {
                return Err(err(4, Problem::MonthOutOfRange));
            }
            f.precision = Precision::Month;
        }
        if n >= 8 {
            f.day = two(&digits[6..8]);
            if f.day == 0 || f.day > days_in_month(f.year, f.month) {
                return Err(err(6, Problem::DayOutOfRange));
            }
            f.precision = Precision::Day;
        }
    }
    let clock = &digits[if kind == Kind::Tm { 0 } else { n.min(8) }..];
    if !clock.is_empty() {
        f.hour = two(&clock[..2]);
        if f.hour > 23 {
            return Err(err(clock_base, Problem::HourOutOfRange));
        }
        f.precision = Precision::Hour;
        if clock.len() >= 4 {
            f.minute = two(&clock[2..4]);
            if f.minute > 59 {
                return Err(err(clock_base + 2, Problem::MinuteOutOfRange));
            }
            f.precision = Precision::Minute;
        }
        if clock.len() >= 6 {
            f.second = two(&clock[4..6]);
            if f.second > 59 {
                return Err(err(clock_base + 4, Problem::SecondOutOfRange));
            }
            f.precision = Precision::Second;
        }
    }
    if let Some(p) = point {
        if f.precision != Precision::Second {
            return Err(err(p, Problem::BadFraction));
        }
        let frac = &main[p + 1..];
        if frac.is_empty() {
            return Err(err(p, Problem::BadFraction));
        }
        if let Some(i) = frac.iter().position(|b| !b.is_ascii_digit()) {
            return Err(err(p + 1 + i, Problem::NotADigit));
        }
        if frac.len() > 9 {
            return Err(err(p + 10, Problem::FractionTooLong));
        }
        let mut nanos: u32 = 0;
        for k in 0..9 {
            nanos = nanos * 10 + frac.get(k).map_or(0, |d| u32::from(d - b'0'));
        }
        f.nanos = nanos;
        f.precision = Precision::Fraction(frac.len() as u8);
    }
    Ok(f)
}

/// Write the fields of `f` in HL7 form (`kind` decides whether the date part is written).
fn write(f: &Fields, kind: Kind, out: &mut fmt::Formatter<'_>) -> fmt::Result {
    let p = f.precision;
    if kind != Kind::Tm {
        write!(out, "{:04}", f.year)?;
        if p >= Precision::Month {
            write!(out, "{:02}", f.month)?;
        }
        if p >= Precision::Day {
            write!(out, "{:02}", f.day)?;
        }
    }
    if p >= Precision::Hour {
        write!(out, "{:02}", f.hour)?;
    }
    if p >= Precision::Minute {
        write!(out, "{:02}", f.minute)?;
    }
    if p >= Precision::Second {
        write!(out, "{:02}", f.second)?;
    }
    if let Precision::Fraction(d) = p {
        let d = u32::from(d.clamp(1, 9));
        let v = f.nanos / 10u32.pow(9 - d);
        write!(out, ".{:0width$}", v, width = d as usize)?;
    }
    if let Some(o) = f.offset {
        let sign = if o.negative { '-' } else { '+' };
        write!(out, "{sign}{:02}{:02}", o.minutes / 60, o.minutes % 60)?;
    }
    Ok(())
}

/// The parts of a date/time, for building a [`Dtm`] with [`Dtm::from_parts`] or reading one with
/// [`Dtm::parts`]. Fields finer than the precision are ignored on input and zero (month and day
/// one) on output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateTimeParts {
    /// Year, 0–9999.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31 (checked against the month).
    pub day: u8,
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–59.
    pub second: u8,
    /// Nanoseconds, 0–999 999 999 (cut to the precision's fractional digits).
    pub nanosecond: u32,
    /// Offset from UTC in minutes (east positive), -1439 to 1439.
    pub offset_minutes: Option<i16>,
}

impl Default for DateTimeParts {
    fn default() -> Self {
        DateTimeParts {
            year: 1970,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            nanosecond: 0,
            offset_minutes: None,
        }
    }
}

/// Date/time (DTM; the time of a TS): `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`, precision
/// and offset kept.
///
/// ```
/// use ehrkit_hl7v2::Delimiters;
/// use ehrkit_hl7v2::datatypes::{DatatypeError, Dtm, FromRaw, Precision, Problem};
///
/// let d = Delimiters::default();
/// let t = Dtm::from_raw(b"20240229134502.25+0100", &d).unwrap();
/// assert_eq!((t.year(), t.month(), t.day()), (2024, Some(2), Some(29)));
/// assert_eq!(t.second(), Some(2));
/// assert_eq!(t.nanosecond(), Some(250_000_000));
/// assert_eq!(t.precision(), Precision::Fraction(2));
/// assert_eq!(t.offset_minutes(), Some(60));
/// assert_eq!(t.to_string(), "20240229134502.25+0100");
///
/// let month_only = Dtm::from_raw(b"202402", &d).unwrap();
/// assert_eq!(month_only.day(), None);
///
/// let bad = Dtm::from_raw(b"20230229", &d).unwrap_err();
/// assert!(matches!(bad, DatatypeError::Invalid { offset: 6, problem: Problem::DayOutOfRange, .. }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dtm(Fields);

impl Dtm {
    /// Read a DTM (text up to the first component or subcomponent separator).
    pub fn parse(raw: &[u8], delims: &Delimiters) -> Result<Self, DatatypeError> {
        parse(raw, delims, Kind::Dtm).map(Dtm)
    }

    /// Build a DTM of the given precision from its parts (checked as a parsed value would be).
    pub fn from_parts(parts: &DateTimeParts, precision: Precision) -> Result<Self, DatatypeError> {
        let err = |offset, problem| DatatypeError::invalid("DTM", offset, problem);
        let mut f = Fields::ZERO;
        f.precision = precision;
        if parts.year > 9999 {
            return Err(err(0, Problem::BadLength));
        }
        f.year = parts.year;
        if precision >= Precision::Month {
            if !(1..=12).contains(&parts.month) {
                return Err(err(4, Problem::MonthOutOfRange));
            }
            f.month = parts.month;
        }
        if precision >= Precision::Day {
            if parts.day == 0 || parts.day > days_in_month(parts.year, parts.month) {
                return Err(err(6, Problem::DayOutOfRange));
            }
            f.day = parts.day;
        }
        if precision >= Precision::Hour {
            if parts.hour > 23 {
                return Err(err(8, Problem::HourOutOfRange));
            }
            f.hour = parts.hour;
        }
        if precision >= Precision::Minute {
            if parts.minute > 59 {
                return Err(err(10, Problem::MinuteOutOfRange));
            }
            f.minute = parts.minute;
        }
        if precision >= Precision::Second {
            if parts.second > 59 {
                return Err(err(12, Problem::SecondOutOfRange));
            }
            f.second = parts.second;
        }
        if let Precision::Fraction(d) = precision {
            if d == 0 {
                return Err(err(14, Problem::BadFraction));
            }
            if d > 9 || parts.nanosecond > 999_999_999 {
                return Err(err(14, Problem::FractionTooLong));
            }
            let unit = 10u32.pow(9 - u32::from(d));
            f.nanos = parts.nanosecond / unit * unit;
        }
        if let Some(m) = parts.offset_minutes {
            if m.unsigned_abs() >= 24 * 60 {
                return Err(err(precision.dtm_digits(), Problem::BadOffset));
            }
            f.offset = Some(Offset {
                negative: m < 0,
                minutes: m.unsigned_abs(),
            });
        }
        Ok(Dtm(f))
    }

    /// The parts (finer than the precision: zero, month and day one).
    pub fn parts(&self) -> DateTimeParts {
        let f = &self.0;
        DateTimeParts {
            year: f.year,
            month: f.month,
            day: f.day,
            hour: f.hour,
            minute: f.minute,
            second: f.second,
            nanosecond: f.nanos,
            offset_minutes: f.offset.map(Offset::signed),
        }
    }

    /// How much was written.
    pub fn precision(&self) -> Precision {
        self.0.precision
    }

    /// Year (always written).
    pub fn year(&self) -> u16 {
        self.0.year
    }

    /// Month 1–12, when written.
    pub fn month(&self) -> Option<u8> {
        (self.0.precision >= Precision::Month).then_some(self.0.month)
    }

    /// Day of the month, when written.
    pub fn day(&self) -> Option<u8> {
        (self.0.precision >= Precision::Day).then_some(self.0.day)
    }

    /// Hour 0–23, when written.
    pub fn hour(&self) -> Option<u8> {
        (self.0.precision >= Precision::Hour).then_some(self.0.hour)
    }

    /// Minute, when written.
    pub fn minute(&self) -> Option<u8> {
        (self.0.precision >= Precision::Minute).then_some(self.0.minute)
    }

    /// Second, when written.
    pub fn second(&self) -> Option<u8> {
        (self.0.precision >= Precision::Second).then_some(self.0.second)
    }

    /// Fraction of the second in nanoseconds, when a fraction is written.
    pub fn nanosecond(&self) -> Option<u32> {
        matches!(self.0.precision, Precision::Fraction(_)).then_some(self.0.nanos)
    }

    /// Offset from UTC in minutes (east positive), when written.
    pub fn offset_minutes(&self) -> Option<i16> {
        self.0.offset.map(Offset::signed)
    }

    /// The date part (DT) with the precision cut to at most a day; the offset is dropped.
    pub fn date(&self) -> Dt {
        let f = Fields {
            year: self.0.year,
            month: self.0.month,
            day: self.0.day,
            precision: self.0.precision.min(Precision::Day),
            ..Fields::ZERO
        };
        Dt(f)
    }

    /// The time part (TM) with the offset, when an hour is written.
    pub fn time(&self) -> Option<Tm> {
        let f = Fields {
            year: 0,
            month: 1,
            day: 1,
            ..self.0
        };
        (self.0.precision >= Precision::Hour).then_some(Tm(f))
    }

    /// The same instant cut to a coarser precision (a finer one is returned unchanged).
    pub fn truncate(&self, precision: Precision) -> Dtm {
        let precision = match precision {
            Precision::Fraction(0) => Precision::Second,
            Precision::Fraction(d) if d > 9 => Precision::Fraction(9),
            p => p,
        };
        let mut f = self.0;
        if precision >= f.precision {
            return *self;
        }
        if let Precision::Fraction(d) = precision {
            let unit = 10u32.pow(9 - u32::from(d.clamp(1, 9)));
            f.nanos = f.nanos / unit * unit;
        } else {
            f.nanos = 0;
            if precision < Precision::Second {
                f.second = 0;
            }
            if precision < Precision::Minute {
                f.minute = 0;
            }
            if precision < Precision::Hour {
                f.hour = 0;
            }
            if precision < Precision::Day {
                f.day = 1;
            }
            if precision < Precision::Month {
                f.month = 1;
            }
        }
        f.precision = precision;
        Dtm(f)
    }
}

impl fmt::Display for Dtm {
    /// Writes the HL7 form, with the precision and offset as parsed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(&self.0, Kind::Dtm, f)
    }
}

impl FromRaw<'_> for Dtm {
    fn from_raw(raw: &[u8], delims: &Delimiters) -> Result<Self, DatatypeError> {
        Dtm::parse(raw, delims)
    }
}

/// Date (DT): `YYYY[MM[DD]]`, precision kept.
///
/// ```
/// use ehrkit_hl7v2::Delimiters;
/// use ehrkit_hl7v2::datatypes::{Dt, FromRaw, Precision};
///
/// let d = Dt::from_raw(b"19620314", &Delimiters::default()).unwrap();
/// assert_eq!((d.year(), d.month(), d.day()), (1962, Some(3), Some(14)));
/// assert_eq!(Dt::from_raw(b"1962", &Delimiters::default()).unwrap().precision(), Precision::Year);
/// assert!(Dt::from_raw(b"196203141200", &Delimiters::default()).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dt(Fields);

impl Dt {
    /// Read a DT (text up to the first component or subcomponent separator).
    pub fn parse(raw: &[u8], delims: &Delimiters) -> Result<Self, DatatypeError> {
        parse(raw, delims, Kind::Dt).map(Dt)
    }

    /// Year, Month or Day.
    pub fn precision(&self) -> Precision {
        self.0.precision
    }

    /// Year.
    pub fn year(&self) -> u16 {
        self.0.year
    }

    /// Month, when written.
    pub fn month(&self) -> Option<u8> {
        (self.0.precision >= Precision::Month).then_some(self.0.month)
    }

    /// Day, when written.
    pub fn day(&self) -> Option<u8> {
        (self.0.precision >= Precision::Day).then_some(self.0.day)
    }

    /// The same date as a DTM of the same precision.
    pub fn to_dtm(&self) -> Dtm {
        Dtm(self.0)
    }
}

impl fmt::Display for Dt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(&self.0, Kind::Dt, f)
    }
}

impl FromRaw<'_> for Dt {
    fn from_raw(raw: &[u8], delims: &Delimiters) -> Result<Self, DatatypeError> {
        Dt::parse(raw, delims)
    }
}

/// Time (TM): `HH[MM[SS[.S[S[S[S]]]]]][+/-ZZZZ]`, precision and offset kept.
///
/// ```
/// use ehrkit_hl7v2::Delimiters;
/// use ehrkit_hl7v2::datatypes::{FromRaw, Precision, Tm};
///
/// let t = Tm::from_raw(b"0930-0800", &Delimiters::default()).unwrap();
/// assert_eq!((t.hour(), t.minute(), t.second()), (9, Some(30), None));
/// assert_eq!(t.precision(), Precision::Minute);
/// assert_eq!(t.offset_minutes(), Some(-480));
/// assert_eq!(t.to_string(), "0930-0800");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tm(Fields);

impl Tm {
    /// Read a TM (text up to the first component or subcomponent separator).
    pub fn parse(raw: &[u8], delims: &Delimiters) -> Result<Self, DatatypeError> {
        parse(raw, delims, Kind::Tm).map(Tm)
    }

    /// Hour, Minute, Second or Fraction.
    pub fn precision(&self) -> Precision {
        self.0.precision
    }

    /// Hour 0–23.
    pub fn hour(&self) -> u8 {
        self.0.hour
    }

    /// Minute, when written.
    pub fn minute(&self) -> Option<u8> {
        (self.0.precision >= Precision::Minute).then_some(self.0.minute)
    }

    /// Second, when written.
    pub fn second(&self) -> Option<u8> {
        (self.0.precision >= Precision::Second).then_some(self.0.second)
    }

    /// Fraction of the second in nanoseconds, when written.
    pub fn nanosecond(&self) -> Option<u32> {
        matches!(self.0.precision, Precision::Fraction(_)).then_some(self.0.nanos)
    }

    /// Offset from UTC in minutes (east positive), when written.
    pub fn offset_minutes(&self) -> Option<i16> {
        self.0.offset.map(Offset::signed)
    }
}

impl fmt::Display for Tm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(&self.0, Kind::Tm, f)
    }
}

impl FromRaw<'_> for Tm {
    fn from_raw(raw: &[u8], delims: &Delimiters) -> Result<Self, DatatypeError> {
        Tm::parse(raw, delims)
    }
}

#[cfg(feature = "chrono")]
mod chrono_impl {
    use super::{Dt, Dtm, Fields, Offset, Precision, Tm};
    use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

    /// A DTM as chrono values, with the precision it was written with (chrono has no notion of a
    /// partial date: the parts not written are the earliest, i.e. month/day 1 and time 00:00).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    #[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
    pub struct PreciseDateTime {
        /// Local date and time as written.
        pub naive: NaiveDateTime,
        /// The written offset, if any.
        pub offset: Option<FixedOffset>,
        /// How much was written.
        pub precision: Precision,
    }

    impl PreciseDateTime {
        /// The instant, when an offset was written.
        pub fn with_offset(&self) -> Option<DateTime<FixedOffset>> {
            let off = self.offset?;
            self.naive.and_local_timezone(off).single()
        }

        /// The instant, taking `default` as the offset when none was written (e.g. the offset
        /// of MSH-7, which the standard says applies to the message's other times).
        pub fn with_offset_or(&self, default: FixedOffset) -> Option<DateTime<FixedOffset>> {
            let off = self.offset.unwrap_or(default);
            self.naive.and_local_timezone(off).single()
        }
    }

    fn naive(f: &Fields) -> NaiveDateTime {
        let date = NaiveDate::from_ymd_opt(i32::from(f.year), u32::from(f.month), u32::from(f.day))
            .expect("DTM fields are validated on construction");
        let time = NaiveTime::from_hms_nano_opt(
            u32::from(f.hour),
            u32::from(f.minute),
            u32::from(f.second),
            f.nanos,
        )
        .expect("DTM fields are validated on construction");
        NaiveDateTime::new(date, time)
    }

    fn fixed(o: Offset) -> FixedOffset {
        FixedOffset::east_opt(i32::from(o.signed()) * 60).expect("offsets are under 24 h")
    }

    impl Dtm {
        /// The value as chrono types with its precision.
        ///
        /// ```
        /// use ehrkit_hl7v2::Delimiters;
        /// use ehrkit_hl7v2::datatypes::{Dtm, Precision};
        ///
        /// let t = Dtm::parse(b"202403151230-0500", &Delimiters::default()).unwrap();
        /// let c = t.to_chrono();
        /// assert_eq!(c.precision, Precision::Minute);
        /// assert_eq!(c.with_offset().unwrap().to_rfc3339(), "2024-03-15T12:30:00-05:00");
        /// assert_eq!(Dtm::from_chrono(&c), t);
        /// ```
        #[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
        pub fn to_chrono(&self) -> PreciseDateTime {
            PreciseDateTime {
                naive: naive(&self.0),
                offset: self.0.offset.map(fixed),
                precision: self.0.precision,
            }
        }

        /// Build a DTM from chrono values, cut to `value.precision` (years outside 0–9999 are
        /// clamped).
        #[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
        pub fn from_chrono(value: &PreciseDateTime) -> Dtm {
            let n = value.naive;
            let f = Fields {
                year: n.year().clamp(0, 9999) as u16,
                month: n.month() as u8,
                day: n.day() as u8,
                hour: n.hour() as u8,
                minute: n.minute() as u8,
                second: n.second().min(59) as u8,
                nanos: n.nanosecond().min(999_999_999),
                precision: Precision::Fraction(9),
                offset: value.offset.map(|o| {
                    let secs = o.local_minus_utc();
                    Offset {
                        negative: secs < 0,
                        minutes: (secs.unsigned_abs() / 60) as u16,
                    }
                }),
            };
            Dtm(f).truncate(value.precision)
        }
    }

    impl Dt {
        /// The date as chrono's `NaiveDate` (month and day 1 when not written) and its precision.
        #[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
        pub fn to_chrono(&self) -> (NaiveDate, Precision) {
            (naive(&self.0).date(), self.0.precision)
        }
    }

    impl Tm {
        /// The time as chrono's `NaiveTime` (parts not written are 0), its offset and precision.
        #[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
        pub fn to_chrono(&self) -> (NaiveTime, Option<FixedOffset>, Precision) {
            (
                naive(&self.0).time(),
                self.0.offset.map(fixed),
                self.0.precision,
            )
        }
    }
}

#[cfg(feature = "chrono")]
#[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
pub use chrono_impl::PreciseDateTime;

#[cfg(test)]
mod tests {
    use super::*;

    fn dtm(s: &str) -> Result<Dtm, DatatypeError> {
        Dtm::parse(s.as_bytes(), &Delimiters::default())
    }

    #[test]
    fn every_precision_round_trips() {
        for (s, p) in [
            ("2024", Precision::Year),
            ("202403", Precision::Month),
            ("20240315", Precision::Day),
            ("2024031513", Precision::Hour),
            ("202403151304", Precision::Minute),
            ("20240315130405", Precision::Second),
            ("20240315130405.1", Precision::Fraction(1)),
            ("20240315130405.1234", Precision::Fraction(4)),
            ("20240315130405.0001-0000", Precision::Fraction(4)),
            ("2024+0530", Precision::Year),
            ("20240315-1200", Precision::Day),
        ] {
            let t = dtm(s).unwrap();
            assert_eq!(t.precision(), p, "{s}");
            assert_eq!(t.to_string(), s);
        }
        assert_eq!(
            dtm("20240315130405.0001-0000").unwrap().offset_minutes(),
            Some(0)
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        let case = |s: &str, offset: usize, problem: Problem| {
            assert_eq!(
                dtm(s),
                Err(DatatypeError::Invalid {
                    datatype: "DTM",
                    offset,
                    problem
                }),
                "{s}"
            );
        };
        case("20241", 5, Problem::BadLength);
        case("2024131", 7, Problem::BadLength);
        case("202413", 4, Problem::MonthOutOfRange);
        case("20240001", 4, Problem::MonthOutOfRange);
        case("20240431", 6, Problem::DayOutOfRange);
        case("21000229", 6, Problem::DayOutOfRange);
        case("2024010124", 8, Problem::HourOutOfRange);
        case("202401012360", 10, Problem::MinuteOutOfRange);
        case("20240101235960", 12, Problem::SecondOutOfRange);
        case("202401012359.5", 12, Problem::BadFraction);
        case("20240101235959.", 14, Problem::BadFraction);
        case("20240101235959.1234567890", 24, Problem::FractionTooLong);
        case("20240101235959.12a", 17, Problem::NotADigit);
        case("2024x1", 4, Problem::NotADigit);
        case("20240101+05", 8, Problem::BadOffset);
        case("20240101+2400", 8, Problem::BadOffset);
        case("20240101+0560", 8, Problem::BadOffset);
        case(" 2024", 0, Problem::NotADigit);
        assert_eq!(dtm(""), Err(DatatypeError::Empty { datatype: "DTM" }));
        assert_eq!(dtm("\"\""), Err(DatatypeError::Null { datatype: "DTM" }));
        assert_eq!(
            dtm("20000229").unwrap().to_string(),
            "20000229",
            "2000 is a leap year"
        );
        let e = dtm("202413").unwrap_err().to_string();
        assert_eq!(e, "invalid DTM value at byte 4: month out of range (01-12)");
    }

    #[test]
    fn ts_degree_of_precision_is_not_part_of_the_time() {
        let t = dtm("200701011200^M").unwrap();
        assert_eq!(t.to_string(), "200701011200");
    }

    #[test]
    fn dt_and_tm() {
        let d = Delimiters::default();
        assert!(Dt::parse(b"20240101+0100", &d).is_err());
        assert_eq!(Dt::parse(b"202401", &d).unwrap().to_string(), "202401");
        assert_eq!(
            Tm::parse(b"235959.9999+1400", &d).unwrap().to_string(),
            "235959.9999+1400"
        );
        assert!(matches!(
            Tm::parse(b"2400", &d),
            Err(DatatypeError::Invalid {
                offset: 0,
                problem: Problem::HourOutOfRange,
                ..
            })
        ));
        assert!(matches!(
            Tm::parse(b"120", &d),
            Err(DatatypeError::Invalid {
                offset: 3,
                problem: Problem::BadLength,
                ..
            })
        ));
    }

    #[test]
    fn parts_and_truncate() {
        let t = dtm("20240315130405.1234+0100").unwrap();
        let back = Dtm::from_parts(&t.parts(), t.precision()).unwrap();
        assert_eq!(back, t);
        assert_eq!(
            t.truncate(Precision::Minute).to_string(),
            "202403151304+0100"
        );
        assert_eq!(
            t.truncate(Precision::Fraction(2)).to_string(),
            "20240315130405.12+0100"
        );
        assert_eq!(t.truncate(Precision::Year).to_string(), "2024+0100");
        assert_eq!(
            t.truncate(Precision::Fraction(0)).precision(),
            Precision::Second
        );
        assert_eq!(t.truncate(Precision::Fraction(12)), t);
        assert_eq!(t.date().to_string(), "20240315");
        assert_eq!(t.time().unwrap().to_string(), "130405.1234+0100");
        let bad = DateTimeParts {
            month: 2,
            day: 30,
            ..Default::default()
        };
        assert!(Dtm::from_parts(&bad, Precision::Day).is_err());
        assert!(Dtm::from_parts(&bad, Precision::Month).is_ok());
    }
}
