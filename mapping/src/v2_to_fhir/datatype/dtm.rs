//! `DTM[dateTime]`, `DTM[date]` and `DT[date]`: HL7 v2 date/times → FHIR `dateTime` / `date`.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-dtm-to-datetime.html>
//! (FHIR R4 `dateTime`: <http://hl7.org/fhir/R4/datatypes.html#dateTime>).
//!
//! Rules:
//! - **Precision is kept**: `2026`, `2026-03`, `2026-03-15` stay a year, a month, a day; a
//!   fraction keeps its digits. FHIR has no hour- or minute-only dateTime: those get `:00`
//!   seconds (`20260315083` → `2026-03-15T08:30:00…`).
//! - **Time zone**: the value's own offset wins. A value with a time and no offset takes the
//!   profile's [source time zone](crate::Profile::source_time_zone) (IANA, with its daylight
//!   rules at that instant). Without either, FHIR cannot hold the time (it requires an offset
//!   when a time is given): the value is written with day precision and
//!   [`DataProblem::MissingTimeZone`] is reported. The host's zone is never used.
//! - A local time the zone skips (spring forward) is written with day precision and reported
//!   as [`DataProblem::NonexistentLocalTime`]; one it repeats (fall back) takes the earlier
//!   offset and is reported as [`DataProblem::AmbiguousLocalTime`].
//! - FHIR `instant` ([`instant`]: MSH-7 → `Bundle.timestamp`, …) needs a time and an offset:
//!   a value with only a date, or with a time but no zone anywhere, gives no instant and the
//!   problem to report.

use chrono::{NaiveDate, Offset, TimeZone};
use ehrkit_fhir_model::{Date, DateTime, Instant};
use ehrkit_hl7v2::datatypes::{Dt, Dtm, Precision, Text};

use super::Context;
use crate::{DataProblem, Location, ReportKind};

/// A converted value and the problem to report with it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted<T> {
    /// The FHIR value.
    pub value: T,
    /// What to report.
    pub problem: Option<DataProblem>,
}

/// The text of a date/time being written, on the stack (dates are written for every timestamp
/// of every message: the FHIR value built from it is the only allocation). The longest text
/// written, `YYYYY-MM-DDThh:mm:ss.fffffffff+hh:mm`, is 36 bytes.
struct Buf {
    bytes: [u8; 48],
    len: usize,
}

impl Buf {
    fn new() -> Self {
        Buf {
            bytes: [0; 48],
            len: 0,
        }
    }

    /// Appends an ASCII character (only those are written here).
    fn push(&mut self, c: char) {
        if let (Ok(b), Some(slot)) = (u8::try_from(c), self.bytes.get_mut(self.len)) {
            *slot = b;
            self.len += 1;
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// Appends `n` with at least `width` digits, zero-padded (no `format!`).
fn push_num(out: &mut Buf, n: u32, width: u32) {
    // The digits from the last one (a u32 has at most 10), then written in order.
    let mut digits = [0u8; 10];
    let mut count = 0;
    let mut rest = n;
    loop {
        digits[count] = b'0' + (rest % 10) as u8;
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for _ in count as u32..width {
        out.push('0');
    }
    for d in digits[..count].iter().rev() {
        out.push(char::from(*d));
    }
}

fn ymd(out: &mut Buf, year: u16, month: Option<u8>, day: Option<u8>) {
    push_num(out, u32::from(year), 4);
    if let Some(m) = month {
        out.push('-');
        push_num(out, u32::from(m), 2);
        if let Some(d) = day {
            out.push('-');
            push_num(out, u32::from(d), 2);
        }
    }
}

fn push_offset(out: &mut Buf, minutes: i32) {
    out.push(if minutes < 0 { '-' } else { '+' });
    let m = minutes.unsigned_abs();
    push_num(out, m / 60, 2);
    out.push(':');
    push_num(out, m % 60, 2);
}

/// A DTM as a FHIR `dateTime`; see the [module documentation](self) for zones and precision.
/// `Err` only when not even the date is a FHIR date (year 0000).
pub fn date_time(
    dtm: &Dtm,
    zone: Option<chrono_tz::Tz>,
) -> Result<Converted<DateTime>, DataProblem> {
    let mut text = Buf::new();
    ymd(&mut text, dtm.year(), dtm.month(), dtm.day());
    let date_len = text.len();
    // A date that is not a FHIR date fails every path below with `InvalidDateTime` (each ends
    // in `DateTime::new` of a text starting with it, or of the date alone): not checked first.
    let date_only = |text: &Buf, problem| {
        DateTime::new(&text.as_str()[..date_len])
            .map(|value| Converted { value, problem })
            .ok_or(DataProblem::InvalidDateTime)
    };
    let (Some(hour), Some(month), Some(day)) = (dtm.hour(), dtm.month(), dtm.day()) else {
        return date_only(&text, None);
    };
    let minute = dtm.minute().unwrap_or(0);
    let second = dtm.second().unwrap_or(0);
    let nanos = dtm.nanosecond().unwrap_or(0);
    text.push('T');
    push_num(&mut text, u32::from(hour), 2);
    text.push(':');
    push_num(&mut text, u32::from(minute), 2);
    text.push(':');
    push_num(&mut text, u32::from(second), 2);
    if let Precision::Fraction(digits) = dtm.precision() {
        if digits > 0 {
            let digits = u32::from(digits.min(9));
            text.push('.');
            push_num(&mut text, nanos / 10u32.pow(9 - digits), digits);
        }
    }
    let offset = match dtm.offset_minutes() {
        Some(o) => i32::from(o),
        None => {
            let Some(zone) = zone else {
                return date_only(&text, Some(DataProblem::MissingTimeZone));
            };
            let Some(naive) =
                NaiveDate::from_ymd_opt(i32::from(dtm.year()), month.into(), day.into()).and_then(
                    |d| d.and_hms_nano_opt(hour.into(), minute.into(), second.into(), nanos),
                )
            else {
                return date_only(&text, Some(DataProblem::InvalidDateTime));
            };
            match zone.from_local_datetime(&naive) {
                chrono::LocalResult::Single(t) => t.offset().fix().local_minus_utc() / 60,
                chrono::LocalResult::Ambiguous(earlier, _) => {
                    push_offset(&mut text, earlier.offset().fix().local_minus_utc() / 60);
                    return match DateTime::new(text.as_str()) {
                        Some(value) => Ok(Converted {
                            value,
                            problem: Some(DataProblem::AmbiguousLocalTime),
                        }),
                        None => date_only(&text, Some(DataProblem::InvalidDateTime)),
                    };
                }
                chrono::LocalResult::None => {
                    return date_only(&text, Some(DataProblem::NonexistentLocalTime))
                }
            }
        }
    };
    push_offset(&mut text, offset);
    match DateTime::new(text.as_str()) {
        Some(value) => Ok(Converted {
            value,
            problem: None,
        }),
        None => date_only(&text, Some(DataProblem::InvalidDateTime)),
    }
}

/// A DTM as a FHIR `instant`: the [`date_time`] of a value with at least hour precision and an
/// offset (its own or the zone's). `Err` with the problem to report otherwise: no time
/// ([`DataProblem::InvalidValue`]) or no zone ([`DataProblem::MissingTimeZone`], or the gap's
/// [`DataProblem::NonexistentLocalTime`]). An ambiguous local time gives the instant of the
/// earlier offset and the problem to report with it.
pub fn instant(dtm: &Dtm, zone: Option<chrono_tz::Tz>) -> Result<Converted<Instant>, DataProblem> {
    if dtm.hour().is_none() {
        return Err(DataProblem::InvalidValue);
    }
    let c = date_time(dtm, zone)?;
    match c.problem {
        None | Some(DataProblem::AmbiguousLocalTime) => Instant::new(c.value.as_str())
            .map(|value| Converted {
                value,
                problem: c.problem,
            })
            .ok_or(DataProblem::InvalidDateTime),
        Some(p) => Err(p),
    }
}

/// A DT (or the date part of a DTM) as a FHIR `date`, precision kept.
pub fn date(dt: &Dt) -> Option<Date> {
    let mut text = Buf::new();
    ymd(&mut text, dt.year(), dt.month(), dt.day());
    Date::new(text.as_str())
}

/// A DT as a FHIR `dateTime` of the same precision (no zone needed: at most a day).
pub fn date_as_date_time(dt: &Dt) -> Option<DateTime> {
    let mut text = Buf::new();
    ymd(&mut text, dt.year(), dt.month(), dt.day());
    DateTime::new(text.as_str())
}

/// Reads a DTM component and converts it, reporting problems at `at`. `None` when the
/// component is absent, empty or the HL7 null, or does not parse (reported).
pub fn read_date_time(
    t: Option<Text<'_>>,
    ctx: &mut Context<'_>,
    at: Location,
) -> Option<DateTime> {
    let t = t.filter(|t| !t.is_null() && !t.is_empty())?;
    match t.dtm() {
        Ok(dtm) => match date_time(&dtm, ctx.profile.source_time_zone) {
            Ok(c) => {
                if let Some(p) = c.problem {
                    ctx.report(ReportKind::DataQuality(p), at);
                }
                Some(c.value)
            }
            Err(p) => {
                ctx.report(ReportKind::DataQuality(p), at);
                None
            }
        },
        Err(_) => {
            ctx.report(ReportKind::DataQuality(DataProblem::InvalidDateTime), at);
            None
        }
    }
}

/// Reads a DT component as a day-or-coarser `dateTime`, reporting a bad value at `at`.
pub fn read_date(t: Option<Text<'_>>, ctx: &mut Context<'_>, at: Location) -> Option<DateTime> {
    let t = t.filter(|t| !t.is_null() && !t.is_empty())?;
    match t.dt() {
        Ok(dt) => {
            let v = date_as_date_time(&dt);
            if v.is_none() {
                ctx.report(ReportKind::DataQuality(DataProblem::InvalidDateTime), at);
            }
            v
        }
        Err(_) => {
            ctx.report(ReportKind::DataQuality(DataProblem::InvalidDateTime), at);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_zero_padded_like_format() {
        for (n, w) in [
            (0, 2),
            (7, 2),
            (42, 2),
            (2026, 4),
            (5, 4),
            (12345, 4),
            (123, 9),
            (0, 1),
            (u32::MAX, 4),
            (1_000_000_000, 2),
        ] {
            let mut s = Buf::new();
            push_num(&mut s, n, w);
            assert_eq!(s.as_str(), format!("{n:0width$}", width = w as usize));
        }
        let mut s = Buf::new();
        push_offset(&mut s, -330);
        assert_eq!(s.as_str(), "-05:30");
        // The longest text written fits.
        let mut s = Buf::new();
        ymd(&mut s, u16::MAX, Some(12), Some(31));
        for c in "T23:59:59.".chars() {
            s.push(c);
        }
        push_num(&mut s, 999_999_999, 9);
        push_offset(&mut s, -(23 * 60 + 59));
        assert_eq!(s.as_str(), "65535-12-31T23:59:59.999999999-23:59");
    }
    use ehrkit_hl7v2::Delimiters;

    fn conv(raw: &str, zone: Option<chrono_tz::Tz>) -> (String, Option<DataProblem>) {
        let dtm = Dtm::parse(raw.as_bytes(), &Delimiters::default()).unwrap();
        let c = date_time(&dtm, zone).unwrap();
        (c.value.as_str().to_owned(), c.problem)
    }

    #[test]
    fn precision_is_kept() {
        assert_eq!(conv("2026", None), ("2026".into(), None));
        assert_eq!(conv("202603", None), ("2026-03".into(), None));
        assert_eq!(conv("20260315", None), ("2026-03-15".into(), None));
        assert_eq!(
            conv("20260315083012.12-0500", None),
            ("2026-03-15T08:30:12.12-05:00".into(), None)
        );
        assert_eq!(
            conv("202603150830+0000", None),
            ("2026-03-15T08:30:00+00:00".into(), None)
        );
    }

    #[test]
    fn the_value_offset_wins_over_the_profile_zone() {
        let paris = Some(chrono_tz::Europe::Paris);
        assert_eq!(
            conv("20260315083000-0500", paris).0,
            "2026-03-15T08:30:00-05:00"
        );
    }

    #[test]
    fn the_profile_zone_applies_with_its_daylight_rules() {
        let ny = Some(chrono_tz::America::New_York);
        assert_eq!(conv("20260115083000", ny).0, "2026-01-15T08:30:00-05:00");
        assert_eq!(conv("20260715083000", ny).0, "2026-07-15T08:30:00-04:00");
        // 2026-03-08 02:30 does not exist in New York; 2026-11-01 01:30 happens twice.
        assert_eq!(
            conv("202603080230", ny),
            ("2026-03-08".into(), Some(DataProblem::NonexistentLocalTime))
        );
        assert_eq!(
            conv("202611010130", ny),
            (
                "2026-11-01T01:30:00-04:00".into(),
                Some(DataProblem::AmbiguousLocalTime)
            )
        );
    }

    #[test]
    fn instants_need_a_time_and_a_zone() {
        let d = Delimiters::default();
        let at = |raw: &str, zone| instant(&Dtm::parse(raw.as_bytes(), &d).unwrap(), zone);
        assert_eq!(
            at("202603150830", Some(chrono_tz::Europe::Paris))
                .unwrap()
                .value
                .as_str(),
            "2026-03-15T08:30:00+01:00"
        );
        assert_eq!(
            at("20260315083000.5+0530", None).unwrap().value.as_str(),
            "2026-03-15T08:30:00.5+05:30"
        );
        assert_eq!(
            at("20260315083000", None).unwrap_err(),
            DataProblem::MissingTimeZone
        );
        assert_eq!(
            at("20260315", Some(chrono_tz::Europe::Paris)).unwrap_err(),
            DataProblem::InvalidValue
        );
    }

    #[test]
    fn no_zone_anywhere_keeps_the_day_and_reports() {
        assert_eq!(
            conv("20260315083000", None),
            ("2026-03-15".into(), Some(DataProblem::MissingTimeZone))
        );
    }

    #[test]
    fn bad_values_are_reported_where_they_are() {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let d = Delimiters::default();
        let at = Location::segment("PID", 1).field(7);
        assert_eq!(
            read_date_time(Some(Text::new(b"2026-03-15", &d)), &mut ctx, at.clone()),
            None
        );
        assert_eq!(
            read_date_time(Some(Text::new(b"\"\"", &d)), &mut ctx, at.clone()),
            None
        );
        assert_eq!(ctx.report.len(), 1);
        assert_eq!(
            ctx.report.entries()[0].to_string(),
            "PID[1]-7: not a valid HL7 v2 date/time"
        );
    }
}
