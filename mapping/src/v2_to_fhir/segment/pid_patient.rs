//! `PID[Patient]`: HL7 v2 PID → FHIR Patient.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-pid-to-patient.html>
//!
//! Every spreadsheet row with a FHIR attribute is listed in [`ROWS`] as mapped here or
//! deliberately not mapped (with the reason); `tests/row_coverage.rs` checks the list against the
//! spreadsheet. Every field present that this map does not carry is reported
//! ([`ReportKind::UnmappedField`]), with its location only.
//!
//! Choices where the IG leaves room:
//! - PID-19 (SSN, withdrawn in v2.7) becomes an identifier of type `SS` in
//!   `http://hl7.org/fhir/sid/us-ssn` (the IG's US case; its spreadsheet writes the system with a
//!   stray trailing `.`, not copied). A profile for another jurisdiction would change this.
//! - PID-7 with a time gives `birthDate` (the day) and the `patient-birthTime` extension; without
//!   an offset or a source time zone only `birthDate` is written and the time is reported.
//! - PID-12 (county) goes to the single address's `district` when that is empty, else to an
//!   address of its own.
//! - The Patient has no `id` and references nothing: ids and references come with the message
//!   maps and the Bundle.

use ehrkit_fhir_model::codes::{AdministrativeGender, ContactPointUse};
use ehrkit_fhir_model::resources::{
    Patient, PatientCommunication, PatientDeceased, PatientMultipleBirth,
};
use ehrkit_fhir_model::{Address, CodeableConcept, Coding, Extension, ExtensionValue, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Cx, Dln, Text, Xad, Xpn, Xtn};
use ehrkit_hl7v2::Segment;

use super::{Row, RowStatus};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, cx_identifier::cx_identifier, dln_identifier, dtm,
    text, xad_address::xad_address, xpn_human_name::xpn_human_name,
    xtn_contact_point::xtn_contact_point, Context,
};
use crate::v2_to_fhir::vocab::generated::{ADMINISTRATIVE_SEX, MARITAL_STATUS, YES_NO_INDICATOR};
use crate::v2_to_fhir::vocab::{ConceptMap, Translation};
use crate::{Location, ProfileTranslation, ReportKind};

const FILE: &str = "segment/pid_patient.rs";

/// Fields this map reads (the others are reported when present). PID-1, the set id, numbers
/// the segment and carries no data.
const MAPPED_FIELDS: &[usize] = &[
    1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 14, 15, 16, 19, 20, 24, 25, 29, 30, 40,
];

/// Converts the PID segment `pid`, the `occurrence`-th PID of its message (1-based, for report
/// locations).
pub fn pid_patient(pid: &Segment<'_>, occurrence: usize, ctx: &mut Context<'_>) -> Patient {
    let at = |field: usize| Location::segment("PID", occurrence).field(field);
    let mut p = Patient::default();

    for f in [2, 3, 4] {
        for (r, cx) in pid.field(f).repetitions::<Cx<'_>>().enumerate() {
            // The same identifier again (PID-3 echoed in PID-2) is written once.
            if let Some(id) = cx_identifier(&cx, ctx, &at(f).repetition(r + 1)) {
                if !p.identifier.contains(&id) {
                    p.identifier.push(id);
                }
            }
        }
    }
    if let Some(ssn) = pid
        .field(19)
        .first::<Text<'_>>()
        .and_then(|t| text(Some(t)))
    {
        p.identifier.push(ehrkit_fhir_model::Identifier {
            value: Some(Primitive::new(ssn)),
            system: Some(Primitive::new("http://hl7.org/fhir/sid/us-ssn".to_owned())),
            type_: Some(Box::new(v2_0203("SS"))),
            ..Default::default()
        });
    }
    if let Some(dln) = pid.field(20).first::<Dln<'_>>() {
        p.identifier
            .extend(dln_identifier::dln_identifier(&dln, ctx, &at(20)));
    }

    for f in [5, 9] {
        for (r, xpn) in pid.field(f).repetitions::<Xpn<'_>>().enumerate() {
            p.name
                .extend(xpn_human_name(&xpn, ctx, &at(f).repetition(r + 1)));
        }
    }

    birth(pid, ctx, &at(7), &mut p);

    if let Some(cwe) = pid.field(8).first::<Cwe<'_>>() {
        if let Some(code) = text(cwe.identifier()) {
            p.gender = translate(&ADMINISTRATIVE_SEX, &code, ctx, &at(8))
                .and_then(|c| AdministrativeGender::from_code(&c))
                .map(Primitive::new);
        }
    }

    for (r, xad) in pid.field(11).repetitions::<Xad<'_>>().enumerate() {
        p.address
            .extend(xad_address(&xad, ctx, &at(11).repetition(r + 1)));
    }
    if let Some(county) = pid.field(12).text() {
        let county = county.trim().to_owned();
        match p.address.as_mut_slice() {
            [only] if only.district.is_none() => only.district = Some(Primitive::new(county)),
            [] => p.address.push(Address {
                district: Some(Primitive::new(county)),
                ..Default::default()
            }),
            [only] if only.district.as_ref().and_then(|d| d.value.as_deref()) == Some(&county) => {}
            _ => p.address.push(Address {
                district: Some(Primitive::new(county)),
                ..Default::default()
            }),
        }
    }

    for (f, default_use) in [
        (13, Some(ContactPointUse::Home)),
        (14, Some(ContactPointUse::Work)),
        (40, None),
    ] {
        for (r, xtn) in pid.field(f).repetitions::<Xtn<'_>>().enumerate() {
            let at_r = at(f).repetition(r + 1);
            if let Some(mut cp) = xtn_contact_point(&xtn, ctx, &at_r) {
                if cp.use_.is_none() && text(xtn.telecommunication_use_code()).is_none() {
                    cp.use_ = default_use.clone().map(Primitive::new);
                }
                p.telecom.push(cp);
            }
        }
    }

    for (r, cwe) in pid.field(15).repetitions::<Cwe<'_>>().enumerate() {
        if let Some(language) = cwe_codeable_concept(&cwe, ctx, &at(15).repetition(r + 1)) {
            p.communication.push(PatientCommunication {
                language: Some(Box::new(language)),
                ..Default::default()
            });
        }
    }

    if let Some(cwe) = pid.field(16).first::<Cwe<'_>>() {
        let mut cc = cwe_codeable_concept(&cwe, ctx, &at(16));
        if let Some(code) = text(cwe.identifier()) {
            if let Some(coding) = vocab_coding(&MARITAL_STATUS, &code, ctx, &at(16)) {
                cc.get_or_insert_with(CodeableConcept::default)
                    .coding
                    .push(coding);
            }
        }
        p.marital_status = cc.map(Box::new);
    }

    let order = pid
        .field(25)
        .first::<Text<'_>>()
        .filter(|t| !t.is_null() && !t.is_empty());
    if let Some(order) = order {
        match text(Some(order)).and_then(|o| o.parse::<i32>().ok()) {
            Some(n) => p.multiple_birth = Some(PatientMultipleBirth::Integer(Primitive::new(n))),
            None => ctx.report(
                ReportKind::DataQuality(crate::DataProblem::InvalidNumber),
                at(25),
            ),
        }
    } else if let Some(yn) = yes_no(pid, 24, ctx, &at(24)) {
        p.multiple_birth = Some(PatientMultipleBirth::Boolean(Primitive::new(yn)));
    }

    let death = dtm::read_date_time(pid.field(29).first::<Text<'_>>(), ctx, at(29));
    if let Some(d) = death {
        p.deceased = Some(PatientDeceased::DateTime(Primitive::new(d)));
    } else if let Some(yn) = yes_no(pid, 30, ctx, &at(30)) {
        p.deceased = Some(PatientDeceased::Boolean(Primitive::new(yn)));
    }

    for f in 1..=pid.field_count() {
        let field = pid.field(f);
        if !MAPPED_FIELDS.contains(&f)
            && !crate::quirks::consumes_field(ctx.profile, pid, f)
            && field.repetition_count() > 0
            && !field.is_null()
        {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    crate::quirks::patient::patient(pid, occurrence, &mut p, ctx);
    p
}

/// PID-7: `birthDate`, and `patient-birthTime` when a time with an offset (own or profile's)
/// is there.
fn birth(pid: &Segment<'_>, ctx: &mut Context<'_>, at: &Location, p: &mut Patient) {
    let Some(t) = pid
        .field(7)
        .first::<Text<'_>>()
        .filter(|t| !t.is_null() && !t.is_empty())
    else {
        return;
    };
    let Ok(value) = t.dtm() else {
        ctx.report(
            ReportKind::DataQuality(crate::DataProblem::InvalidDateTime),
            at.clone(),
        );
        return;
    };
    p.birth_date = dtm::date(&value.date()).map(Primitive::new);
    if value.hour().is_none() {
        return;
    }
    match dtm::date_time(&value, ctx.profile.source_time_zone) {
        Ok(c)
            if c.problem.is_none() || c.problem == Some(crate::DataProblem::AmbiguousLocalTime) =>
        {
            if let Some(problem) = c.problem {
                ctx.report(ReportKind::DataQuality(problem), at.clone());
            }
            let ext = Extension {
                url: Some("http://hl7.org/fhir/StructureDefinition/patient-birthTime".to_owned()),
                value: Some(ExtensionValue::DateTime(Primitive::new(c.value))),
                ..Default::default()
            };
            let date = p.birth_date.get_or_insert_with(Default::default);
            date.ext
                .get_or_insert_with(Default::default)
                .extension
                .push(ext);
        }
        Ok(c) => ctx.report(
            ReportKind::DataQuality(c.problem.unwrap_or(crate::DataProblem::InvalidDateTime)),
            at.clone(),
        ),
        Err(problem) => ctx.report(ReportKind::DataQuality(problem), at.clone()),
    }
}

/// A Y/N field through the IG map `YesNoIndicator`.
fn yes_no(pid: &Segment<'_>, field: usize, ctx: &mut Context<'_>, at: &Location) -> Option<bool> {
    let code = pid.field(field).text()?;
    match translate(&YES_NO_INDICATOR, code.trim(), ctx, at)?.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The FHIR code for `code` through `map` (profile overrides first); a miss is reported.
pub(crate) fn translate(
    map: &ConceptMap,
    code: &str,
    ctx: &mut Context<'_>,
    at: &Location,
) -> Option<String> {
    // `vocab_coding(..).code`, without building the system and display it drops.
    match ctx.profile.translate(map, code) {
        ProfileTranslation::Override(o) => (!o.code.is_empty()).then(|| o.code.clone()),
        ProfileTranslation::Ig(Translation::Mapped(c)) => {
            (!c.code.is_empty()).then(|| c.code.to_owned())
        }
        _ => {
            ctx.report(ReportKind::VocabularyMiss { map: map.name }, at.clone());
            None
        }
    }
}

/// The FHIR coding for `code` through `map` (profile overrides first); a miss is reported.
pub(crate) fn vocab_coding(
    map: &ConceptMap,
    code: &str,
    ctx: &mut Context<'_>,
    at: &Location,
) -> Option<Coding> {
    let s = |v: &str| (!v.is_empty()).then(|| Primitive::new(v.to_owned()));
    match ctx.profile.translate(map, code) {
        ProfileTranslation::Override(o) => Some(Coding {
            system: s(&o.system),
            code: s(&o.code),
            display: o.display.as_deref().and_then(s),
            ..Default::default()
        }),
        ProfileTranslation::Ig(Translation::Mapped(c)) => Some(Coding {
            system: s(c.system),
            code: s(c.code),
            display: s(c.display),
            ..Default::default()
        }),
        _ => {
            ctx.report(ReportKind::VocabularyMiss { map: map.name }, at.clone());
            None
        }
    }
}

fn v2_0203(code: &str) -> CodeableConcept {
    CodeableConcept {
        coding: vec![Coding {
            system: Some(Primitive::new(
                "http://terminology.hl7.org/CodeSystem/v2-0203".to_owned(),
            )),
            code: Some(Primitive::new(code.to_owned())),
            ..Default::default()
        }],
        ..Default::default()
    }
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    Row {
        identifier,
        fhir_attribute,
        status: RowStatus::Mapped(FILE),
    }
}

const fn unmapped(
    identifier: &'static str,
    fhir_attribute: &'static str,
    reason: &'static str,
) -> Row {
    Row {
        identifier,
        fhir_attribute,
        status: RowStatus::Unmapped(reason),
    }
}

const NOT_YET_EXTENSION: &str =
    "Patient extension not written yet; the field is reported as unmapped when present";

/// The spreadsheet rows of `PID[Patient]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("PID-2", "identifier[1]"),
    mapped("PID-3", "identifier[2]"),
    mapped("PID-4", "identifier[3]"),
    mapped("PID-5", "name[1]"),
    unmapped("PID-6", "extension[1].url", NOT_YET_EXTENSION),
    unmapped("PID-6", "extension[1].valueString", NOT_YET_EXTENSION),
    mapped("PID-7", "birthDate"),
    mapped("PID-7", "birthDate.extension[1].url"),
    mapped("PID-7", "birthDate.extension[1].valueDateTime"),
    mapped("PID-8", "gender"),
    mapped("PID-9", "name[2]"),
    mapped("PID-11", "address[1]"),
    mapped("PID-12", "address[1].district"),
    mapped("PID-12", "address[2].district"),
    mapped("PID-13", "telecom[1]"),
    mapped("PID-13", "telecom[1].use"),
    mapped("PID-14", "telecom[2]"),
    mapped("PID-14", "telecom[2].use"),
    mapped("PID-15", "communication.language"),
    mapped("PID-16", "maritalStatus"),
    unmapped("PID-17", "extension[2].url", NOT_YET_EXTENSION),
    unmapped(
        "PID-17",
        "extension[2].valueCodeableConcept",
        NOT_YET_EXTENSION,
    ),
    mapped("PID-19", "identifier[4].value"),
    mapped("PID-19", "identifier[4].type.coding.code"),
    mapped("PID-19", "identifier[4].type.coding.system"),
    mapped("PID-19", "identifier[4].system"),
    mapped("PID-20", "identifier[5]"),
    unmapped(
        "PID-21",
        "$this",
        "creates a RelatedPerson (CX[RelatedPerson-Mother]): comes with the message maps that \
         own references; the field is reported as unmapped when present",
    ),
    unmapped("PID-23", "extension[3].url", NOT_YET_EXTENSION),
    unmapped(
        "PID-23",
        "extension[3].valueAddress.text",
        NOT_YET_EXTENSION,
    ),
    mapped("PID-24", "multipleBirthBoolean"),
    mapped("PID-25", "multipleBirthInteger"),
    unmapped("PID-26", "extension[4].url", NOT_YET_EXTENSION),
    unmapped("PID-26", "extension[4].extension[1].url", NOT_YET_EXTENSION),
    unmapped(
        "PID-26",
        "extension[4].extension[1].valueCodeableConcept",
        NOT_YET_EXTENSION,
    ),
    unmapped("PID-28", "extension[5].url", NOT_YET_EXTENSION),
    unmapped("PID-28", "extension[5].extension[1].url", NOT_YET_EXTENSION),
    unmapped(
        "PID-28",
        "extension[5].extension[1].valueCodeableConcept",
        NOT_YET_EXTENSION,
    ),
    mapped("PID-29", "deceasedDateTime"),
    mapped("PID-30", "deceasedBoolean"),
    unmapped("PID-35", "extension[6].url", NOT_YET_EXTENSION),
    unmapped("PID-35", "extension[6].extension[1].url", NOT_YET_EXTENSION),
    unmapped(
        "PID-35",
        "extension[6].extension[1].valueCodeableConcept",
        NOT_YET_EXTENSION,
    ),
    unmapped("PID-36", "extension[6].url", NOT_YET_EXTENSION),
    unmapped("PID-36", "extension[6].extension[2].url", NOT_YET_EXTENSION),
    unmapped(
        "PID-36",
        "extension[6].extension[2].valueCodeableConcept",
        NOT_YET_EXTENSION,
    ),
    unmapped("PID-39", "extension[7].url", NOT_YET_EXTENSION),
    unmapped("PID-39", "extension[7].extension[1].url", NOT_YET_EXTENSION),
    unmapped(
        "PID-39",
        "extension[7].extension[1].valueCodeableConcept",
        NOT_YET_EXTENSION,
    ),
    mapped("PID-40", "telecom[3]"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Message;

    fn convert(msg: &[u8], profile: &crate::Profile) -> (Patient, Vec<String>) {
        let msg = Message::parse(msg).unwrap();
        let pid = msg.segment("PID", 1).unwrap();
        let mut ctx = Context::new(profile);
        let p = pid_patient(&pid, 1, &mut ctx);
        (
            p,
            ctx.report.entries().iter().map(|e| e.to_string()).collect(),
        )
    }

    #[test]
    fn rows_cover_every_field_read() {
        // PID-1, the set id, has no FHIR attribute (and no row).
        for f in MAPPED_FIELDS.iter().filter(|&&f| f != 1) {
            let id = format!("PID-{f}");
            assert!(
                ROWS.iter()
                    .any(|r| r.identifier == id && matches!(r.status, RowStatus::Mapped(_))),
                "{id}"
            );
        }
    }

    #[test]
    fn an_identifier_repeated_in_pid_2_and_pid_3_is_written_once() {
        // Senders echo PID-3 into the withdrawn PID-2 (Microsoft's MDM samples do): the same
        // identifier twice is one identifier; a different one in PID-2 stays.
        let (p, _) = convert(
            b"MSH|^~\\&|A|B|C|D|202603150830||MDM^T02|1|P|2.5.1\rPID|1|987654321|987654321~55^^^H^MR||PROSOLV^SAMPLE\r",
            &crate::Profile::generic(),
        );
        let values: Vec<_> = p
            .identifier
            .iter()
            .map(|i| i.value.as_ref().unwrap().value.clone().unwrap())
            .collect();
        assert_eq!(values, ["987654321", "55"]);
        let (p, _) = convert(
            b"MSH|^~\\&|A|B|C|D|202603150830||MDM^T02|1|P|2.5.1\rPID|1|987^^^X|987654321||PROSOLV^SAMPLE\r",
            &crate::Profile::generic(),
        );
        assert_eq!(p.identifier.len(), 2);
    }

    #[test]
    fn demographics() {
        let (p, report) = convert(
            b"MSH|^~\\&|A|B|C|D|202603150830||ADT^A01|1|P|2.5.1\rPID|1||MRN1^^^HOSP&1.2.3&ISO^MR||DOE^JANE^Q^^^^L||198006151230-0500|F|||1 MAIN ST^^MADISON^WI^53703^USA^H||^^PH^^^608^5551212~^NET^Internet^jane@mail.test|^^PH^^^608^5550000||M|||123456789|S1234567^WI||||Y|2|||||N\r",
            &crate::Profile::generic(),
        );
        assert_eq!(p.identifier.len(), 3);
        assert_eq!(
            p.name[0].family.as_ref().unwrap().value.as_deref(),
            Some("DOE")
        );
        let birth = p.birth_date.as_ref().unwrap();
        assert_eq!(birth.value.as_ref().unwrap().as_str(), "1980-06-15");
        let ext = &birth.ext.as_ref().unwrap().extension[0];
        assert_eq!(
            ext.value,
            Some(ExtensionValue::DateTime(Primitive::new(
                ehrkit_fhir_model::DateTime::new("1980-06-15T12:30:00-05:00").unwrap()
            )))
        );
        assert_eq!(p.gender.unwrap().value, Some(AdministrativeGender::Female));
        assert_eq!(p.address.len(), 1);
        let uses: Vec<_> = p
            .telecom
            .iter()
            .map(|t| t.use_.as_ref().and_then(|u| u.value.clone()))
            .collect();
        assert_eq!(
            uses,
            [
                Some(ContactPointUse::Home),
                None,
                Some(ContactPointUse::Work)
            ]
        );
        let marital = p.marital_status.unwrap();
        assert_eq!(
            marital
                .coding
                .last()
                .unwrap()
                .system
                .as_ref()
                .unwrap()
                .value
                .as_deref(),
            Some("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus")
        );
        assert_eq!(
            p.multiple_birth,
            Some(PatientMultipleBirth::Integer(Primitive::new(2)))
        );
        assert_eq!(
            p.deceased,
            Some(PatientDeceased::Boolean(Primitive::new(false)))
        );
        assert_eq!(
            report,
            [
                "PID[1]-20.2: unknown coding or identifier system; fallback URI used",
                "PID[1]-13(2).2: code not in the IG map TelecommunicationUseCode",
            ]
        );
    }

    #[test]
    fn birth_time_without_a_zone_keeps_the_day_and_reports() {
        let (p, report) = convert(
            b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rPID|||1^^^SSA||DOE^J||198006151230|X|||||||||||||||||||||||||||||||||||||||||||\r",
            &crate::Profile::generic(),
        );
        let birth = p.birth_date.unwrap();
        assert_eq!(birth.value.unwrap().as_str(), "1980-06-15");
        assert!(birth.ext.is_none());
        assert!(p.gender.is_none());
        assert_eq!(
            report,
            [
                "PID[1]-7: timestamp without offset and no source time zone; day kept",
                "PID[1]-8: code not in the IG map AdministrativeSex",
            ]
        );
    }

    #[test]
    fn mothers_maiden_name_and_z_fields_are_reported_not_dropped() {
        let (_, report) = convert(
            b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rPID|||1^^^SSA||DOE^J|SMITH|||||||||||||||MOM1^^^HOSP|||||||||||||||||||||SECRET\r",
            &crate::Profile::generic(),
        );
        assert_eq!(
            report,
            [
                "PID[1]-6: field not mapped",
                "PID[1]-21: field not mapped",
                "PID[1]-42: field not mapped"
            ]
        );
        assert!(!report
            .iter()
            .any(|r| r.contains("SMITH") || r.contains("SECRET")));
    }
}
