//! Normalization of demographic values: case, diacritics, punctuation, name particles, nicknames,
//! phonetic keys, phone numbers, postcodes and dates.
//!
//! Every function here is pure and allocation-light; the matcher calls them once per record when it
//! builds the comparison features, never in the pair-scoring loop.

use std::collections::HashMap;
use std::sync::OnceLock;

use rphonetic::DoubleMetaphone;
use serde::{Deserialize, Serialize};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Folds a free-text value to lower-case ASCII words separated by single spaces.
///
/// Unicode is decomposed (NFKD) and combining marks dropped, so `"Zoë"` becomes `"zoe"`; a few
/// letters without a decomposition are transliterated (`ß`→`ss`, `æ`→`ae`, `ø`→`o`, `ł`→`l`, …).
/// Apostrophes are removed (`O'Brien` → `obrien`); every other punctuation mark or whitespace
/// run becomes one space. Leading and trailing spaces are trimmed.
pub fn fold(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut pending_space = false;
    for c in input.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        let mapped: &str = match c {
            'a'..='z' | '0'..='9' => {
                push_char(&mut out, &mut pending_space, c);
                continue;
            }
            'A'..='Z' => {
                push_char(&mut out, &mut pending_space, c.to_ascii_lowercase());
                continue;
            }
            '\'' | '\u{2019}' | '\u{2018}' | '`' | '\u{b4}' => continue,
            'ß' => "ss",
            'æ' | 'Æ' => "ae",
            'œ' | 'Œ' => "oe",
            'ø' | 'Ø' => "o",
            'ł' | 'Ł' => "l",
            'đ' | 'Đ' | 'ð' | 'Ð' => "d",
            'þ' | 'Þ' => "th",
            'ı' => "i",
            _ => {
                if c.is_alphanumeric() {
                    // Non-Latin scripts are kept, lower-cased, so they still compare exactly.
                    for l in c.to_lowercase() {
                        push_char(&mut out, &mut pending_space, l);
                    }
                } else if !out.is_empty() {
                    pending_space = true;
                }
                continue;
            }
        };
        for m in mapped.chars() {
            push_char(&mut out, &mut pending_space, m);
        }
    }
    out
}

fn push_char(out: &mut String, pending_space: &mut bool, c: char) {
    if *pending_space {
        out.push(' ');
        *pending_space = false;
    }
    out.push(c);
}

/// Family-name particles that are dropped for comparison (`van der Berg` → `berg`).
const PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "la", "le", "st", "saint",
    "ten", "ter", "het", "dos", "das", "do", "al", "el", "bin", "ibn", "mac",
];

/// Name suffixes and honorifics that are dropped from name values.
const NAME_NOISE: &[&str] = &[
    "jr", "sr", "ii", "iii", "iv", "mr", "mrs", "ms", "miss", "dr", "prof", "md", "phd", "rev",
];

/// Normalizes a family name: [`fold`], drop honorifics/suffixes and particles, join the remaining
/// words without spaces (`"Van der Berg-Smith"` → `"bergsmith"`; `"Mc Donald"` → `"mcdonald"`).
///
/// A name that consists only of particles (`"De"`) keeps them, so it is never emptied.
pub fn family_name(input: &str) -> String {
    let folded = fold(input);
    let words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    let kept: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !PARTICLES.contains(w) && !NAME_NOISE.contains(w))
        .collect();
    if kept.is_empty() {
        words
            .into_iter()
            .filter(|w| !NAME_NOISE.contains(w))
            .collect()
    } else {
        kept.concat()
    }
}

/// Normalizes a given name: [`fold`], drop honorifics, join words without spaces
/// (`"Mary-Ann"` → `"maryann"`, `"Dr. John"` → `"john"`).
pub fn given_name(input: &str) -> String {
    let folded = fold(input);
    folded
        .split(' ')
        .filter(|w| !w.is_empty() && !NAME_NOISE.contains(w))
        .collect()
}

/// Keeps only the ASCII digits of a value (`"(555) 123-4567"` → `"5551234567"`).
pub fn digits(input: &str) -> String {
    input.chars().filter(char::is_ascii_digit).collect()
}

/// Canonical phone form: digits only, a North-American `1` country prefix on 11 digits dropped,
/// an international `00` prefix dropped; at most the last 10 digits are kept so that a national
/// number and its `+1`/`+44`-prefixed form compare equal. Returns `None` with fewer than 7 digits.
pub fn phone(input: &str) -> Option<String> {
    let mut d = digits(input);
    if let Some(rest) = d.strip_prefix("00") {
        d = rest.to_string();
    }
    if d.len() < 7 {
        return None;
    }
    if d.len() > 10 {
        d = d[d.len() - 10..].to_string();
    }
    Some(d)
}

/// Canonical postcode: upper-case alphanumerics without spaces; a US ZIP+4 keeps its 5-digit
/// part (`"02139-4307"` → `"02139"`, `"sw1a 1aa"` → `"SW1A1AA"`). `None` when nothing is left.
pub fn postcode(input: &str) -> Option<String> {
    let compact: String = input
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if compact.is_empty() {
        return None;
    }
    let all_digits = compact.bytes().all(|b| b.is_ascii_digit());
    if all_digits && compact.len() == 9 && input.contains('-') {
        return Some(compact[..5].to_string());
    }
    Some(compact)
}

/// Canonical e-mail: trimmed and lower-cased; `None` unless it has one `@` with text on both sides.
pub fn email(input: &str) -> Option<String> {
    let e = input.trim().to_ascii_lowercase();
    let (local, domain) = e.split_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return None;
    }
    Some(e)
}

/// Primary and alternate Double Metaphone keys of a (normalized) name; empty input gives empty keys.
pub fn double_metaphone(name: &str) -> (String, String) {
    static DM: OnceLock<DoubleMetaphone> = OnceLock::new();
    static CACHE: OnceLock<std::sync::Mutex<HashMap<String, (String, String)>>> = OnceLock::new();
    if name.is_empty() {
        return (String::new(), String::new());
    }
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(c) = cache.lock() {
        if let Some(v) = c.get(name) {
            return v.clone();
        }
    }
    let dm = DM.get_or_init(|| DoubleMetaphone::new(Some(6)));
    // rphonetic slices its input by byte offsets and panics inside a multi-byte character
    // (found by the mpi_input fuzz target with `BOBƩMICHAEL…`). Diacritics are already folded
    // by normalization; whatever non-ASCII is left has no English phonetic value anyway.
    let ascii: String = name
        .chars()
        .filter(|c| c.is_ascii_alphabetic() || *c == ' ')
        .collect();
    let r = dm.double_metaphone(&ascii);
    let v = (r.primary(), r.alternate());
    if let Ok(mut c) = cache.lock() {
        // Bounded memo of recent names (values repeat heavily across records).
        if c.len() >= 100_000 {
            c.clear();
        }
        c.insert(name.to_string(), v.clone());
    }
    v
}

// ------------------------------------------------------------------------------------------------
// Nicknames

/// The nickname groups, one per line (see the file's header for its format).
const NICKNAME_GROUPS: &str = include_str!("../data/nicknames.txt");

/// The groups of [`NICKNAME_GROUPS`]: blank and `#` comment lines skipped.
fn nickname_lines() -> impl Iterator<Item = &'static str> {
    NICKNAME_GROUPS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn nickname_map() -> &'static HashMap<&'static str, Vec<u16>> {
    static MAP: OnceLock<HashMap<&'static str, Vec<u16>>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut map: HashMap<&'static str, Vec<u16>> = HashMap::new();
        for (gid, line) in nickname_lines().enumerate() {
            for name in line.split_whitespace() {
                let gid = u16::try_from(gid).unwrap_or(u16::MAX);
                let e = map.entry(name).or_default();
                if !e.contains(&gid) {
                    e.push(gid);
                }
            }
        }
        map
    })
}

/// Nickname group ids of a normalized given name (empty when the name is in no group).
///
/// `nickname_groups("bob")` and `nickname_groups("robert")` share a group; so do `"bill"` and
/// `"william"`. Use [`are_nicknames`] to test two names.
pub fn nickname_groups(name: &str) -> &'static [u16] {
    nickname_map().get(name).map_or(&[], Vec::as_slice)
}

/// Whether two normalized given names are nickname-equivalent (share a group). Symmetric.
pub fn are_nicknames(a: &str, b: &str) -> bool {
    let ga = nickname_groups(a);
    let gb = nickname_groups(b);
    ga.iter().any(|g| gb.contains(g))
}

/// Number of nickname groups in the built-in table.
pub fn nickname_group_count() -> usize {
    nickname_lines().count()
}

// ------------------------------------------------------------------------------------------------
// Dates

/// How much of a birth date is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DatePrecision {
    /// Year only.
    Year,
    /// Year and month.
    Month,
    /// Full date.
    Day,
}

/// A (possibly partial) calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PartialDate {
    /// Year, e.g. 1956.
    pub year: u16,
    /// Month 1..=12 when known.
    pub month: Option<u8>,
    /// Day 1..=31 when known (only with a month).
    pub day: Option<u8>,
}

impl PartialDate {
    /// A full date; `None` when the month or day is out of range for that month.
    pub fn ymd(year: u16, month: u8, day: u8) -> Option<Self> {
        chrono::NaiveDate::from_ymd_opt(i32::from(year), u32::from(month), u32::from(day))?;
        Some(Self {
            year,
            month: Some(month),
            day: Some(day),
        })
    }

    /// Precision of this date.
    pub fn precision(&self) -> DatePrecision {
        match (self.month, self.day) {
            (Some(_), Some(_)) => DatePrecision::Day,
            (Some(_), None) => DatePrecision::Month,
            _ => DatePrecision::Year,
        }
    }

    /// Days since 0001-01-01 (proleptic Gregorian, day 1) of a full date; `None` unless the
    /// day is known. Differences give the days between two dates.
    pub fn days_from_common_era(&self) -> Option<i32> {
        use chrono::Datelike;
        let (month, day) = (self.month?, self.day?);
        chrono::NaiveDate::from_ymd_opt(i32::from(self.year), u32::from(month), u32::from(day))
            .map(|d| d.num_days_from_ce())
    }

    /// Packs the date as the integer `YYYYMMDD` (unknown parts are 0).
    pub fn packed(&self) -> u32 {
        u32::from(self.year) * 10_000
            + u32::from(self.month.unwrap_or(0)) * 100
            + u32::from(self.day.unwrap_or(0))
    }

    /// Inverse of [`PartialDate::packed`].
    pub fn from_packed(v: u32) -> Option<Self> {
        let year = u16::try_from(v / 10_000).ok()?;
        let month = u8::try_from((v / 100) % 100).ok()?;
        let day = u8::try_from(v % 100).ok()?;
        Some(Self {
            year,
            month: (month != 0).then_some(month),
            day: (day != 0 && month != 0).then_some(day),
        })
    }
}

impl std::fmt::Display for PartialDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(m) = self.month {
            write!(f, "-{m:02}")?;
            if let Some(d) = self.day {
                write!(f, "-{d:02}")?;
            }
        }
        Ok(())
    }
}

/// Order of the day and month in slash- or dot-separated dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DayMonthOrder {
    /// `MM/DD/YYYY` (United States).
    MonthFirst,
    /// `DD/MM/YYYY` (most other countries).
    DayFirst,
}

/// Outcome of [`parse_date`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedDate {
    /// The date as read in the requested order (or the only valid order).
    pub date: PartialDate,
    /// The same digits read with day and month swapped, when that is a different valid date:
    /// the value may have been keyed in the other order (`03/04/1980`).
    pub transposed: Option<PartialDate>,
    /// True when the requested order was invalid and the other order was used (`13/04/1980` read
    /// month-first): a transposition was detected and repaired.
    pub repaired: bool,
}

/// Parses a birth date in one of the forms `YYYYMMDD`, `YYYY-MM-DD`, `YYYY-MM`, `YYYY`, `YYYYMM`,
/// HL7 DTM (`YYYYMMDDHHMM…`, time ignored), `MM/DD/YYYY` or `DD/MM/YYYY` (also with `.` or `-`,
/// order given by `order`). Returns `None` for anything else or an impossible date.
///
/// Day/month transposition: when a slash date is invalid in the requested order but valid with
/// day and month swapped it is repaired (`repaired = true`); when both readings are valid and differ,
/// the alternative is returned in `transposed`.
pub fn parse_date(input: &str, order: DayMonthOrder) -> Option<ParsedDate> {
    let s = input.trim();
    if s.is_empty() {
        return None;
    }
    let plain = |date| ParsedDate {
        date,
        transposed: None,
        repaired: false,
    };
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let y: u16 = s.get(..4)?.parse().ok()?;
        if !(1000..=2999).contains(&y) {
            return None;
        }
        return match s.len() {
            4 => Some(plain(PartialDate {
                year: y,
                month: None,
                day: None,
            })),
            6 => {
                let m: u8 = s[4..6].parse().ok()?;
                (1..=12).contains(&m).then(|| {
                    plain(PartialDate {
                        year: y,
                        month: Some(m),
                        day: None,
                    })
                })
            }
            n if n >= 8 => {
                let m: u8 = s[4..6].parse().ok()?;
                let d: u8 = s[6..8].parse().ok()?;
                PartialDate::ymd(y, m, d).map(plain)
            }
            _ => None,
        };
    }
    let parts: Vec<&str> = s
        .split(['/', '-', '.', ' '])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.iter().any(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    match parts.as_slice() {
        [y, m] if y.len() == 4 => {
            let y: u16 = y.parse().ok()?;
            let m: u8 = m.parse().ok()?;
            (1..=12).contains(&m).then(|| {
                plain(PartialDate {
                    year: y,
                    month: Some(m),
                    day: None,
                })
            })
        }
        [y, m, d] if y.len() == 4 => {
            PartialDate::ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).map(plain)
        }
        [a, b, y] if y.len() == 4 || y.len() == 2 => {
            let mut year: u16 = y.parse().ok()?;
            if y.len() == 2 {
                // Two-digit years in birth dates: 00-29 → 2000s, else 1900s.
                year += if year < 30 { 2000 } else { 1900 };
            }
            let a: u8 = a.parse().ok()?;
            let b: u8 = b.parse().ok()?;
            let (m, d) = match order {
                DayMonthOrder::MonthFirst => (a, b),
                DayMonthOrder::DayFirst => (b, a),
            };
            match (PartialDate::ymd(year, m, d), PartialDate::ymd(year, d, m)) {
                (Some(date), alt) => Some(ParsedDate {
                    date,
                    transposed: alt.filter(|x| *x != date),
                    repaired: false,
                }),
                (None, Some(date)) => Some(ParsedDate {
                    date,
                    transposed: None,
                    repaired: true,
                }),
                (None, None) => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_handles_case_diacritics_punctuation() {
        assert_eq!(fold("  Zoë  O'Brien-Smith "), "zoe obrien smith");
        assert_eq!(fold("JOSÉ"), "jose");
        assert_eq!(fold("Strauß"), "strauss");
        assert_eq!(fold("Łukasz Øster"), "lukasz oster");
        assert_eq!(fold("..."), "");
    }

    #[test]
    fn family_name_particles_and_suffixes() {
        assert_eq!(family_name("van der Berg"), "berg");
        assert_eq!(family_name("Van Der Berg-Smith"), "bergsmith");
        assert_eq!(family_name("O'Neil Jr."), "oneil");
        assert_eq!(family_name("De"), "de");
        assert_eq!(family_name("Mc Donald"), "mcdonald");
        assert_eq!(family_name("García"), "garcia");
    }

    #[test]
    fn given_name_joins_words() {
        assert_eq!(given_name("Mary-Ann"), "maryann");
        assert_eq!(given_name("Dr. John"), "john");
    }

    #[test]
    fn nicknames_are_bidirectional() {
        assert!(are_nicknames("bob", "robert"));
        assert!(are_nicknames("robert", "bob"));
        assert!(are_nicknames("bill", "william"));
        assert!(are_nicknames("liz", "elizabeth"));
        assert!(are_nicknames("peggy", "margaret"));
        assert!(!are_nicknames("bob", "william"));
        assert!(
            !are_nicknames("zzz", "zzz"),
            "unknown names are not nicknames of anything"
        );
        assert!(nickname_group_count() >= 100);
    }

    #[test]
    fn phonetic_keys() {
        // Non-ASCII that normalization could not fold must not panic the phonetic encoder.
        assert_eq!(
            double_metaphone("BOBƩMICHAELANEUMANRIEN"),
            double_metaphone("BOBMICHAELANEUMANRIEN")
        );
        assert_eq!(double_metaphone("Ʃ"), (String::new(), String::new()));
        let (smith, _) = double_metaphone("smith");
        let (smyth, _) = double_metaphone("smyth");
        assert_eq!(smith, smyth);
        let (a, _) = double_metaphone("catherine");
        let (b, _) = double_metaphone("kathryn");
        assert_eq!(a, b);
        assert_ne!(double_metaphone("jones").0, double_metaphone("smith").0);
        assert_eq!(double_metaphone(""), (String::new(), String::new()));
    }

    #[test]
    fn phone_and_postcode_forms() {
        assert_eq!(phone("(555) 123-4567").as_deref(), Some("5551234567"));
        assert_eq!(phone("+1 555 123 4567").as_deref(), Some("5551234567"));
        assert_eq!(phone("0044 20 7946 0958").as_deref(), Some("2079460958"));
        assert_eq!(phone("123"), None);
        assert_eq!(postcode("02139-4307").as_deref(), Some("02139"));
        assert_eq!(postcode("sw1a 1aa").as_deref(), Some("SW1A1AA"));
        assert_eq!(postcode(" - "), None);
        assert_eq!(
            email(" Bob@Example.ORG ").as_deref(),
            Some("bob@example.org")
        );
        assert_eq!(email("nope"), None);
    }

    #[test]
    fn dates_parse_with_precision() {
        let p = parse_date("19560409", DayMonthOrder::MonthFirst).unwrap();
        assert_eq!(p.date, PartialDate::ymd(1956, 4, 9).unwrap());
        assert_eq!(p.date.precision(), DatePrecision::Day);
        let p = parse_date("1956-04", DayMonthOrder::MonthFirst).unwrap();
        assert_eq!(p.date.precision(), DatePrecision::Month);
        let p = parse_date("1956", DayMonthOrder::MonthFirst).unwrap();
        assert_eq!(p.date.precision(), DatePrecision::Year);
        assert_eq!(
            parse_date("195602301", DayMonthOrder::MonthFirst),
            None,
            "Feb 30"
        );
        assert_eq!(
            parse_date("20000229", DayMonthOrder::DayFirst)
                .unwrap()
                .date
                .day,
            Some(29)
        );
        assert_eq!(parse_date("19000229", DayMonthOrder::DayFirst), None);
        assert_eq!(parse_date("abc", DayMonthOrder::DayFirst), None);
        let p = parse_date("198001011230", DayMonthOrder::DayFirst).unwrap();
        assert_eq!(p.date.packed(), 19800101);
        assert_eq!(PartialDate::from_packed(p.date.packed()), Some(p.date));
    }

    #[test]
    fn calendar_validity_and_day_differences() {
        assert!(PartialDate::ymd(2024, 2, 29).is_some(), "leap year");
        assert!(PartialDate::ymd(2023, 2, 29).is_none());
        assert!(PartialDate::ymd(1900, 2, 29).is_none(), "century, not leap");
        assert!(PartialDate::ymd(2000, 2, 29).is_some(), "400-year leap");
        assert!(PartialDate::ymd(1980, 4, 31).is_none());
        assert!(PartialDate::ymd(1980, 13, 1).is_none());
        assert!(PartialDate::ymd(1980, 1, 0).is_none());
        let days = |y, m, d| {
            PartialDate::ymd(y, m, d)
                .unwrap()
                .days_from_common_era()
                .unwrap()
        };
        assert_eq!(days(2000, 3, 1) - days(2000, 2, 28), 2);
        assert_eq!(days(1999, 3, 1) - days(1999, 2, 28), 1);
        assert_eq!(days(2001, 1, 1) - days(2000, 1, 1), 366);
        assert_eq!(days(1, 1, 1), 1);
        let year_only = PartialDate::from_packed(19800000).unwrap();
        assert_eq!(year_only.days_from_common_era(), None);
    }

    #[test]
    fn nickname_file_holds_normalized_names() {
        // Every entry must survive given-name normalization unchanged, or it could never match.
        for line in nickname_lines() {
            for name in line.split_whitespace() {
                assert_eq!(given_name(name), name, "entry {name:?}");
                assert!(!nickname_groups(name).is_empty());
            }
        }
        assert_eq!(nickname_group_count(), nickname_lines().count());
        assert!(are_nicknames("al", "albert") && are_nicknames("al", "alan"));
    }

    #[test]
    fn dates_detect_transposition() {
        let p = parse_date("03/04/1980", DayMonthOrder::MonthFirst).unwrap();
        assert_eq!(p.date, PartialDate::ymd(1980, 3, 4).unwrap());
        assert_eq!(p.transposed, PartialDate::ymd(1980, 4, 3));
        assert!(!p.repaired);
        let p = parse_date("13/04/1980", DayMonthOrder::MonthFirst).unwrap();
        assert_eq!(p.date, PartialDate::ymd(1980, 4, 13).unwrap());
        assert!(p.repaired);
        let p = parse_date("05.05.80", DayMonthOrder::DayFirst).unwrap();
        assert_eq!(p.date, PartialDate::ymd(1980, 5, 5).unwrap());
        assert_eq!(p.transposed, None, "same date either way");
        assert_eq!(parse_date("31/31/1980", DayMonthOrder::DayFirst), None);
    }
}
