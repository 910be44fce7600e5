//! Builds a [`PatientRecord`] from the PID segment of an HL7 v2 message (via `ehrkit-hl7v2`).
//!
//! | PID field | record |
//! |---|---|
//! | PID-3 (all repetitions, in order) | identifiers: CX.1 value, CX.4 authority (HD.1, else HD.2), CX.5 type; key = first as `authority|value` |
//! | PID-5 (all repetitions) | names: XPN.1.1 family, .2 given, .3 middle (split on spaces), .4 suffix, .5 prefix, .7 name type (table 0200) |
//! | PID-7 | birth date (DTM; precision kept; time ignored) |
//! | PID-8 | administrative sex |
//! | PID-11 (all) | addresses: XAD.1.1 street, .2 other designation, .3 city, .4 state, .5 postcode, .6 country, .7 type |
//! | PID-13, PID-14 (all) | phones (XTN.1, else .6 + .7) and e-mails (XTN.4) |
//! | PID-19, else a PID-3 identifier of type `SS` | SSN |

use ehrkit_hl7v2::Message;

use super::normalize::{parse_date, DayMonthOrder};
use super::record::{Address, Identifier, NameType, PatientRecord, PersonName, Sex, Ssn};
use crate::Error;

fn get(msg: &Message<'_>, path: &str) -> String {
    msg.get(path)
        .map(|v| v.trim().to_string())
        .filter(|v| v != "\"\"")
        .unwrap_or_default()
}

/// Builds a record from the first PID segment of a parsed message.
pub fn record_from_pid(msg: &Message<'_>) -> Result<PatientRecord, Error> {
    if msg.segment("PID", 1).is_none() {
        return Err(Error::NoPid);
    }
    let mut rec = PatientRecord::default();
    for r in 1..=msg.repetitions("PID-3") {
        let value = get(msg, &format!("PID-3({r}).1"));
        if value.is_empty() {
            continue;
        }
        let mut authority = get(msg, &format!("PID-3({r}).4.1"));
        if authority.is_empty() {
            authority = get(msg, &format!("PID-3({r}).4.2"));
        }
        let id_type = get(msg, &format!("PID-3({r}).5"));
        rec.identifiers
            .push(Identifier::new(authority, id_type, value));
    }
    let first = rec.identifiers.first().ok_or(Error::NoIdentifier)?;
    rec.key = format!("{}|{}", first.authority, first.value);
    for r in 1..=msg.repetitions("PID-5") {
        let p = |c: &str| get(msg, &format!("PID-5({r}).{c}"));
        let name = PersonName {
            family: p("1.1"),
            given: p("2"),
            middle: p("3").split_whitespace().map(str::to_string).collect(),
            suffix: Some(p("4")).filter(|s| !s.is_empty()),
            prefix: Some(p("5")).filter(|s| !s.is_empty()),
            name_type: NameType::from_v2(&p("7")),
        };
        if !name.family.is_empty() || !name.given.is_empty() {
            rec.names.push(name);
        }
    }
    if let Some(d) = parse_date(&get(msg, "PID-7.1"), DayMonthOrder::MonthFirst) {
        rec.birth_date = Some(d.date);
    }
    rec.sex = Sex::from_code(&get(msg, "PID-8"));
    for r in 1..=msg.repetitions("PID-11") {
        let p = |c: &str| get(msg, &format!("PID-11({r}).{c}"));
        let mut lines = vec![p("1.1")];
        let other = p("2");
        if !other.is_empty() {
            lines.push(other);
        }
        lines.retain(|l| !l.is_empty());
        let a = Address {
            lines,
            city: p("3"),
            state: p("4"),
            postcode: p("5"),
            country: p("6"),
            address_type: Some(p("7")).filter(|s| !s.is_empty()),
        };
        if !a.lines.is_empty() || !a.city.is_empty() || !a.postcode.is_empty() {
            rec.addresses.push(a);
        }
    }
    for f in ["PID-13", "PID-14"] {
        for r in 1..=msg.repetitions(f) {
            let p = |c: &str| get(msg, &format!("{f}({r}).{c}"));
            let email = p("4");
            if email.contains('@') {
                rec.emails.push(email);
            }
            let mut number = p("1");
            if number.is_empty() || number.contains('@') {
                number = format!("{}{}", p("6"), p("7"));
            }
            if !number.is_empty() && !number.contains('@') {
                rec.phones.push(number);
            }
        }
    }
    rec.ssn = Ssn::parse(&get(msg, "PID-19")).or_else(|| {
        rec.identifiers
            .iter()
            .find(|i| i.id_type.eq_ignore_ascii_case("SS"))
            .and_then(|i| Ssn::parse(&i.value))
    });
    Ok(rec)
}

/// Parses HL7 v2 bytes and builds a record from the first PID segment.
pub fn record_from_hl7(bytes: &[u8]) -> Result<PatientRecord, Error> {
    let msg = Message::parse(bytes)?;
    record_from_pid(&msg)
}
