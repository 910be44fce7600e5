//! Reading FEBRL-style and Splink-style CSV files into [`PatientRecord`]s.
//!
//! Recognized header names (case-insensitive, surrounding spaces ignored): `rec_id`/`unique_id`/
//! `id` (key), `given_name`/`first_name`, `surname`/`last_name`/`family_name`, `street_number`,
//! `address_1`, `address_2`, `suburb`/`city`, `postcode`/`zip`, `state`,
//! `date_of_birth`/`dob`, `soc_sec_id`/`ssn`, `email`, `phone`, `sex`/`gender`. Other columns
//! are ignored.
//!
//! The text is read by the [`csv`](https://docs.rs/csv) crate (RFC 4180): a field that starts
//! with `"` is quoted and may hold commas, line breaks and `""` for a quote; spaces around
//! values (FEBRL writes `, ` between fields) are trimmed. Blank lines are skipped. A row with an
//! odd number of quote characters is an error ([`Error::CsvQuote`]): either a quoted field is
//! never closed (it would swallow the rest of the file) or a quote stands inside an unquoted
//! field.

use super::normalize::{parse_date, DayMonthOrder};
use super::record::{Address, PatientRecord, PersonName, Sex, Ssn};
use crate::Error;

/// One row of the file: its fields, its 1-based first line and its byte range in the text.
struct Row {
    fields: ::csv::StringRecord,
    line: u64,
    start: usize,
}

/// Splits the text into rows, skipping blank lines, and checks each row's quotes.
fn rows(text: &str) -> Result<Vec<Row>, Error> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for rec in reader.records() {
        let fields = rec.map_err(|e| {
            let line = e.position().map_or(0, ::csv::Position::line);
            Error::Csv { line, source: e }
        })?;
        if fields.iter().all(|f| f.trim().is_empty()) && fields.len() == 1 {
            continue;
        }
        let (line, byte) = fields.position().map_or((0, 0), |p| (p.line(), p.byte()));
        rows.push(Row {
            fields,
            line,
            start: usize::try_from(byte).unwrap_or(usize::MAX),
        });
    }
    // Quote balance per row, over the row's raw bytes (up to the next row's start).
    let bytes = text.as_bytes();
    for (i, row) in rows.iter().enumerate() {
        let end = rows.get(i + 1).map_or(bytes.len(), |r| r.start);
        let raw = bytes.get(row.start..end).unwrap_or_default();
        if raw.iter().filter(|b| **b == b'"').count() % 2 != 0 {
            return Err(Error::CsvQuote { line: row.line });
        }
    }
    Ok(rows)
}

/// Reads records from CSV text with a header row.
///
/// Errors carry the 1-based line where the offending row starts and never echo field values.
pub fn read_records(text: &str) -> Result<Vec<PatientRecord>, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = rows(text)?.into_iter();
    let Some(header) = rows.next() else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = header
        .fields
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let col = |alts: &[&str]| names.iter().position(|n| alts.contains(&n.as_str()));
    let key =
        col(&["rec_id", "unique_id", "id"]).ok_or(Error::CsvNoKeyColumn { line: header.line })?;
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
    for row in rows {
        let f = &row.fields;
        if f.len() != names.len() {
            return Err(Error::CsvFieldCount {
                line: row.line,
                expected: names.len(),
                found: f.len(),
            });
        }
        let get = |c: Option<usize>| c.and_then(|c| f.get(c)).map_or("", str::trim);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_newline_stays_in_its_field() {
        // The line-based reader this replaces split this row in two and failed.
        let text = "rec_id,given_name,surname,address_1\n\
                    r1,Mary,\"O'Neil\",\"12 Main St\nApt 4\"\n\
                    r2,John,Smith,5 High St\n";
        let recs = read_records(text).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].addresses[0].lines[0], "12 Main St\nApt 4");
        assert_eq!(recs[0].names[0].family, "O'Neil");
        assert_eq!(recs[1].key, "r2");
        assert_eq!(recs[1].addresses[0].lines[0], "5 High St");
    }

    #[test]
    fn febrl_layout_with_spaces_blank_lines_and_bom() {
        let text = "\u{feff}rec_id, given_name, surname, date_of_birth, soc_sec_id\n\
                    \n\
                    rec-1-org, mitchell, green, 19560409, 1804974\n   \n\
                    rec-1-dup-0, mitchel, green, 19560409, \n";
        let recs = read_records(text).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].key, "rec-1-org");
        assert_eq!(recs[0].names[0].given, "mitchell");
        assert_eq!(recs[0].birth_date.unwrap().to_string(), "1956-04-09");
        assert_eq!(recs[0].ssn, Ssn::parse("1804974"));
        assert_eq!(recs[1].ssn, None);
        // A quote opens a quoted field only as the field's first character (RFC 4180): after
        // FEBRL's ", " it is kept, and a comma inside such a value splits it.
        let recs = read_records("rec_id,surname\nr1, \"a\"\n").unwrap();
        assert_eq!(recs[0].names[0].family, "\"a\"");
        let e = read_records("rec_id, surname\nr1, \"a, b\"\n").unwrap_err();
        assert!(matches!(e, Error::CsvFieldCount { line: 2, .. }), "{e:?}");
    }

    #[test]
    fn errors_name_the_line_where_the_row_starts() {
        let e = read_records("rec_id,given_name\na,b,c\n").unwrap_err();
        assert!(
            matches!(
                e,
                Error::CsvFieldCount {
                    line: 2,
                    expected: 2,
                    found: 3
                }
            ),
            "{e:?}"
        );
        let e = read_records("given_name\nx\n").unwrap_err();
        assert!(matches!(e, Error::CsvNoKeyColumn { line: 1 }), "{e:?}");
        // An unclosed quote would swallow the rest of the file into one field.
        let e = read_records("rec_id,given_name\na,\"open\nb,c\n").unwrap_err();
        assert!(matches!(e, Error::CsvQuote { line: 2 }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "CSV line 2: unterminated quoted field or stray quote"
        );
        // The line of a row after a multi-line field counts the field's line breaks.
        let e = read_records("rec_id,address\nr1,\"a\nb\nc\"\nr2,x,y\n").unwrap_err();
        assert!(matches!(e, Error::CsvFieldCount { line: 5, .. }), "{e:?}");
        // No value is echoed.
        let e = read_records("rec_id,given_name\nSECRET,b,c\n").unwrap_err();
        assert!(!e.to_string().contains("SECRET"));
    }

    #[test]
    fn empty_input_has_no_records() {
        assert!(read_records("").unwrap().is_empty());
        assert!(read_records("rec_id,given_name\n").unwrap().is_empty());
    }
}
