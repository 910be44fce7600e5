//! Builds a [`PatientRecord`] from the PID segment of an HL7 v2 message, through the typed views
//! of `ehrkit-hl7v2` ([`Cx`], [`Xpn`], [`Xad`], [`Xtn`]): components by name, escapes decoded,
//! and absent, empty and the HL7 null `""` all read as "no value".
//!
//! | PID field | record |
//! |---|---|
//! | PID-3 (all repetitions, in order) | identifiers: CX.1 value, CX.4 authority (HD.1, else HD.2), CX.5 type; key = first as `authority|value` |
//! | PID-5 (all repetitions) | names: XPN.1.1 family, .2 given, .3 middle (split on spaces), .4 suffix, .5 prefix, .7 name type (table 0200) |
//! | PID-7 | birth date (DTM; precision kept; time ignored) |
//! | PID-8 | administrative sex |
//! | PID-11 (all) | addresses: XAD.1.1 street, .2 other designation, .3 city, .4 state, .5 postcode, .6 country, .7 type |
//! | PID-13, PID-14 (all) | phones ([`Xtn::phone`] digits: XTN.5–.9, else the old XTN.1 form, else XTN.12) and e-mails ([`Xtn::email`]: XTN.4, else XTN.1 of an `Internet` entry) |
//! | PID-19, else a PID-3 identifier of type `SS` | SSN |

use ehrkit_hl7v2::datatypes::{Cx, Text, Ts, Xad, Xpn, Xtn};
use ehrkit_hl7v2::Message;

use super::normalize::{parse_date, DayMonthOrder};
use super::record::{Address, Identifier, NameType, PatientRecord, PersonName, Sex, Ssn};
use crate::Error;

/// A component's data (escapes decoded), trimmed; empty for absent, empty and the HL7 null.
fn text(t: Option<Text<'_>>) -> String {
    t.and_then(|t| t.value())
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// An optional text: `None` when empty.
fn some(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

fn identifier(cx: &Cx<'_>) -> Option<Identifier> {
    let value = text(cx.id_number());
    if value.is_empty() {
        return None;
    }
    let hd = cx.assigning_authority();
    let mut authority = text(hd.and_then(|h| h.namespace_id()));
    if authority.is_empty() {
        authority = text(hd.and_then(|h| h.universal_id()));
    }
    Some(Identifier::new(
        authority,
        text(cx.identifier_type_code()),
        value,
    ))
}

fn name(xpn: &Xpn<'_>) -> Option<PersonName> {
    let name = PersonName {
        family: text(xpn.surname()),
        given: text(xpn.given_name()),
        middle: text(xpn.second_and_further_given_names_or_initials_thereof())
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        suffix: some(text(xpn.suffix())),
        prefix: some(text(xpn.prefix())),
        name_type: NameType::from_v2(&text(xpn.name_type_code())),
    };
    (!name.family.is_empty() || !name.given.is_empty()).then_some(name)
}

fn address(xad: &Xad<'_>) -> Option<Address> {
    let street = text(
        xad.street_address()
            .and_then(|s| s.street_or_mailing_address()),
    );
    let lines: Vec<String> = [street, text(xad.other_designation())]
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect();
    let a = Address {
        lines,
        city: text(xad.city()),
        state: text(xad.state_or_province()),
        postcode: text(xad.zip_or_postal_code()),
        country: text(xad.country()),
        address_type: some(text(xad.address_type())),
    };
    (!a.lines.is_empty() || !a.city.is_empty() || !a.postcode.is_empty()).then_some(a)
}

/// Builds a record from the first PID segment of a parsed message.
pub fn record_from_pid(msg: &Message<'_>) -> Result<PatientRecord, Error> {
    let pid = msg.segment("PID", 1).ok_or(Error::NoPid)?;
    let mut rec = PatientRecord {
        identifiers: pid
            .field(3)
            .repetitions::<Cx<'_>>()
            .filter_map(|cx| identifier(&cx))
            .collect(),
        ..PatientRecord::default()
    };
    let first = rec.identifiers.first().ok_or(Error::NoIdentifier)?;
    rec.key = format!("{}|{}", first.authority, first.value);
    rec.names = pid
        .field(5)
        .repetitions::<Xpn<'_>>()
        .filter_map(|x| name(&x))
        .collect();
    // TS.1 as text, read leniently (some feeds send `03/14/1970` in PID-7).
    let dob = text(pid.field(7).first::<Ts<'_>>().and_then(|ts| ts.time()));
    if let Some(d) = parse_date(&dob, DayMonthOrder::MonthFirst) {
        rec.birth_date = Some(d.date);
    }
    rec.sex = pid.field(8).text().and_then(|c| Sex::from_code(&c));
    rec.addresses = pid
        .field(11)
        .repetitions::<Xad<'_>>()
        .filter_map(|x| address(&x))
        .collect();
    for n in [13, 14] {
        for xtn in pid.field(n).repetitions::<Xtn<'_>>() {
            if let Some(email) = some(text(xtn.email())) {
                rec.emails.push(email);
            }
            if let Some(phone) = xtn.phone().map(|p| p.digits()).filter(|d| !d.is_empty()) {
                rec.phones.push(phone);
            }
        }
    }
    rec.ssn = pid
        .field(19)
        .text()
        .and_then(|s| Ssn::parse(&s))
        .or_else(|| {
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
