//! Reading FEBRL-style and Splink-style CSV files into [`PatientRecord`]s.
//!
//! Recognized header names (case-insensitive, surrounding spaces ignored): `rec_id`/`unique_id`/
//! `id` (key), `given_name`/`first_name`, `surname`/`last_name`/`family_name`, `street_number`,
//! `address_1`, `address_2`, `suburb`/`city`, `postcode`/`zip`, `state`,
//! `date_of_birth`/`dob`, `soc_sec_id`/`ssn`, `email`, `phone`, `sex`/`gender`. Other columns
//! are ignored. Fields may be double-quoted (`""` inside quotes is a quote).

use super::normalize::{parse_date, DayMonthOrder};
use super::record::{Address, PatientRecord, PersonName, Sex, Ssn};

/// A CSV reading error with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CSV line {line}: {message}")]
pub struct CsvError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong (no field values are echoed).
    pub message: String,
}

/// Splits one CSV line into fields.
fn split_line(line: &str, line_no: usize) -> Result<Vec<String>, CsvError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', true) => in_quotes = false,
            ('"', false) if cur.trim().is_empty() => {
                cur.clear();
                in_quotes = true;
            }
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if in_quotes {
        return Err(CsvError {
            line: line_no,
            message: "unterminated quoted field".into(),
        });
    }
    out.push(cur);
    Ok(out)
}

/// Reads records from CSV text with a header row.
pub fn read_records(text: &str) -> Result<Vec<PatientRecord>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((hl, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = split_line(header, hl + 1)?
        .into_iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let col = |alts: &[&str]| names.iter().position(|n| alts.contains(&n.as_str()));
    let key = col(&["rec_id", "unique_id", "id"]).ok_or_else(|| CsvError {
        line: hl + 1,
        message: "no rec_id/unique_id column".into(),
    })?;
    let given = col(&["given_name", "first_name"]);
    let family = col(&["surname", "last_name", "family_name"]);
    let street_no = col(&["street_number"]);
    let addr1 = col(&["address_1", "address"]);
    let addr2 = col(&["address_2"]);
    let city = col(&["suburb", "city"]);
    let postcode = col(&["postcode", "zip", "zipcode"]);
    let state = col(&["state"]);
    let dob = col(&["date_of_birth", "dob", "birth_date"]);
    let ssn = col(&["soc_sec_id", "ssn"]);
    let email = col(&["email"]);
    let phone = col(&["phone", "phone_number"]);
    let sex = col(&["sex", "gender"]);
    let mut out = Vec::new();
    for (i, line) in lines {
        let f = split_line(line, i + 1)?;
        if f.len() != names.len() {
            return Err(CsvError {
                line: i + 1,
                message: format!("expected {} fields, found {}", names.len(), f.len()),
            });
        }
        let get = |c: Option<usize>| c.map_or("", |c| f[c].trim());
        let mut rec = PatientRecord {
            key: get(Some(key)).to_string(),
            ..PatientRecord::default()
        };
        if given.is_some() || family.is_some() {
            rec.names.push(PersonName::new(get(family), get(given)));
        }
        let line1 = [get(street_no), get(addr1)]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let mut a = Address {
            city: get(city).to_string(),
            state: get(state).to_string(),
            postcode: get(postcode).to_string(),
            ..Address::default()
        };
        a.lines.push(line1);
        if addr2.is_some() {
            a.lines.push(get(addr2).to_string());
        }
        if a.lines.iter().any(|l| !l.is_empty()) || !a.city.is_empty() || !a.postcode.is_empty() {
            rec.addresses.push(a);
        }
        if let Some(p) = parse_date(get(dob), DayMonthOrder::MonthFirst) {
            rec.birth_date = Some(p.date);
        }
        rec.ssn = Ssn::parse(get(ssn));
        if !get(email).is_empty() {
            rec.emails.push(get(email).to_string());
        }
        if !get(phone).is_empty() {
            rec.phones.push(get(phone).to_string());
        }
        rec.sex = Sex::from_code(get(sex));
        out.push(rec);
    }
    Ok(out)
}
