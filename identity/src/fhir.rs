//! Builds a [`PatientRecord`] from a FHIR R4 `Patient` (feature `fhir`, via `ehrkit-fhir-model`).
//!
//! | Patient element | record |
//! |---|---|
//! | `identifier[]` (in order) | identifiers: `system` → authority, `type.coding[0].code` → type, `value`; key = first as `system|value` (else `Patient/id`) |
//! | `name[]` | names: `family`, `given[0]` / rest as middle, `prefix`, `suffix`, `use` → name type (`maiden`/`old` → maiden) |
//! | `birthDate` | birth date (precision kept) |
//! | `gender` | administrative sex |
//! | `address[]` | addresses: `line`, `city`, `state`, `postalCode`, `country` |
//! | `telecom[]` | phones (`phone`, `sms`) and e-mails (`email`) |
//! | identifier of type `SS` or system `http://hl7.org/fhir/sid/us-ssn` | SSN |

use ehrkit_fhir_model::codes::{AdministrativeGender, ContactPointSystem, NameUse};
use ehrkit_fhir_model::{Patient, Primitive};

use super::normalize::{parse_date, DayMonthOrder};
use super::record::{Address, Identifier, NameType, PatientRecord, PersonName, Sex, Ssn};

/// System URI of US social security numbers.
pub const US_SSN_SYSTEM: &str = "http://hl7.org/fhir/sid/us-ssn";

fn text(p: &Option<Primitive<String>>) -> String {
    p.as_ref()
        .and_then(|p| p.value.as_deref())
        .unwrap_or("")
        .trim()
        .to_string()
}

fn texts(v: &[Primitive<String>]) -> Vec<String> {
    v.iter()
        .filter_map(|p| p.value.as_deref())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Builds a record from a FHIR Patient. The key is the first identifier as `system|value`, or
/// `Patient/<id>` when there is none (empty when there is neither).
pub fn record_from_patient(p: &Patient) -> PatientRecord {
    let mut rec = PatientRecord::default();
    for i in &p.identifier {
        let value = text(&i.value);
        if value.is_empty() {
            continue;
        }
        let id_type = i
            .type_
            .as_ref()
            .and_then(|t| t.coding.first())
            .map(|c| text(&c.code))
            .unwrap_or_default();
        rec.identifiers
            .push(Identifier::new(text(&i.system), id_type, value));
    }
    rec.key = match (rec.identifiers.first(), &p.id) {
        (Some(i), _) => format!("{}|{}", i.authority, i.value),
        (None, Some(id)) => format!("Patient/{id}"),
        (None, None) => String::new(),
    };
    for n in &p.name {
        let given = texts(&n.given);
        let name_type = match n.use_.as_ref().and_then(|u| u.value.as_ref()) {
            Some(NameUse::Maiden | NameUse::Old) => NameType::Maiden,
            Some(NameUse::Nickname) => NameType::Nickname,
            Some(NameUse::Usual) => NameType::Usual,
            Some(NameUse::Temp | NameUse::Anonymous) => NameType::Alias,
            _ => NameType::Legal,
        };
        let name = PersonName {
            family: text(&n.family),
            given: given.first().cloned().unwrap_or_default(),
            middle: given.iter().skip(1).cloned().collect(),
            prefix: Some(texts(&n.prefix).join(" ")).filter(|s| !s.is_empty()),
            suffix: Some(texts(&n.suffix).join(" ")).filter(|s| !s.is_empty()),
            name_type,
        };
        if !name.family.is_empty() || !name.given.is_empty() {
            rec.names.push(name);
        }
    }
    if let Some(d) = p.birth_date.as_ref().and_then(|d| d.value.as_ref()) {
        rec.birth_date = parse_date(d.as_str(), DayMonthOrder::MonthFirst).map(|x| x.date);
    }
    rec.sex = match p.gender.as_ref().and_then(|g| g.value.as_ref()) {
        Some(AdministrativeGender::Male) => Some(Sex::Male),
        Some(AdministrativeGender::Female) => Some(Sex::Female),
        Some(AdministrativeGender::Other) => Some(Sex::Other),
        Some(_) => Some(Sex::Unknown),
        None => None,
    };
    for a in &p.address {
        let addr = Address {
            lines: texts(&a.line),
            city: text(&a.city),
            state: text(&a.state),
            postcode: text(&a.postal_code),
            country: text(&a.country),
            address_type: None,
        };
        if !addr.lines.is_empty() || !addr.city.is_empty() || !addr.postcode.is_empty() {
            rec.addresses.push(addr);
        }
    }
    for t in &p.telecom {
        let v = text(&t.value);
        if v.is_empty() {
            continue;
        }
        match t.system.as_ref().and_then(|s| s.value.as_ref()) {
            Some(ContactPointSystem::Email) => rec.emails.push(v),
            Some(ContactPointSystem::Phone | ContactPointSystem::Sms) | None => rec.phones.push(v),
            Some(_) => {}
        }
    }
    rec.ssn = rec
        .identifiers
        .iter()
        .find(|i| i.id_type.eq_ignore_ascii_case("SS") || i.authority == US_SSN_SYSTEM)
        .and_then(|i| Ssn::parse(&i.value));
    rec
}

/// Parses FHIR JSON bytes of a Patient and builds a record.
pub fn record_from_patient_json(json: &[u8]) -> Result<PatientRecord, crate::Error> {
    let p: Patient = ehrkit_fhir_model::from_slice(json)?;
    Ok(record_from_patient(&p))
}
