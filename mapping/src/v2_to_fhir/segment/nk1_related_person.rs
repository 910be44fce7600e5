//! `NK1[RelatedPerson]`: HL7 v2 NK1 → FHIR RelatedPerson.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-nk1-to-relatedperson.html>
//!
//! - NK1-2 → `name` (XPN); NK1-3 → `relationship` (CWE); NK1-7 (contact role) → a second
//!   `relationship`.
//! - NK1-4 → `address` (XAD); NK1-5 → `telecom` (XTN, default use `home`); NK1-6 → `telecom`
//!   with use `work`.
//! - NK1-8/9 (DT) → `period`; NK1-12, NK1-33 → `identifier` (CX); NK1-15 → `gender` (IG map
//!   `AdministrativeSex`); NK1-16 → `birthDate`; NK1-20 → `communication.language`.
//! - `patient` is set by the message map (the Patient of the message).
//! - The other rows are listed in [`ROWS`] with the reason and reported when present.

use ehrkit_fhir_model::codes::{AdministrativeGender, ContactPointUse};
use ehrkit_fhir_model::resources::{RelatedPerson, RelatedPersonCommunication};
use ehrkit_fhir_model::{Period, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Cx, Text, Xad, Xpn, Xtn};
use ehrkit_hl7v2::Segment;

use super::pid_patient::translate;
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, cx_identifier::cx_identifier, dtm, text,
    xad_address::xad_address, xpn_human_name::xpn_human_name, xtn_contact_point::xtn_contact_point,
    Context,
};
use crate::v2_to_fhir::vocab::generated::ADMINISTRATIVE_SEX;
use crate::{Location, ReportKind};

const FILE: &str = "segment/nk1_related_person.rs";

/// Fields this map reads (NK1-1, the set id, carries no data; the others are reported when
/// present).
const MAPPED_FIELDS: &[usize] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 20, 33];

/// Converts the `occurrence`-th NK1 of a message (`patient` is left for the message map).
pub fn nk1_related_person(
    nk1: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> RelatedPerson {
    let at = |field: usize| Location::segment("NK1", occurrence).field(field);
    let mut p = RelatedPerson::default();

    for (r, xpn) in nk1.field(2).repetitions::<Xpn<'_>>().enumerate() {
        p.name
            .extend(xpn_human_name(&xpn, ctx, &at(2).repetition(r + 1)));
    }
    for f in [3, 7] {
        if let Some(cwe) = nk1.field(f).first::<Cwe<'_>>() {
            p.relationship
                .extend(cwe_codeable_concept(&cwe, ctx, &at(f)));
        }
    }
    for (r, xad) in nk1.field(4).repetitions::<Xad<'_>>().enumerate() {
        p.address
            .extend(xad_address(&xad, ctx, &at(4).repetition(r + 1)));
    }
    for (f, default_use) in [(5, ContactPointUse::Home), (6, ContactPointUse::Work)] {
        for (r, xtn) in nk1.field(f).repetitions::<Xtn<'_>>().enumerate() {
            if let Some(mut cp) = xtn_contact_point(&xtn, ctx, &at(f).repetition(r + 1)) {
                if cp.use_.is_none() && text(xtn.telecommunication_use_code()).is_none() {
                    cp.use_ = Some(Primitive::new(default_use.clone()));
                }
                p.telecom.push(cp);
            }
        }
    }
    let start = dtm::read_date(nk1.field(8).first::<Text<'_>>(), ctx, at(8));
    let end = dtm::read_date(nk1.field(9).first::<Text<'_>>(), ctx, at(9));
    if start.is_some() || end.is_some() {
        p.period = Some(Box::new(Period {
            start: start.map(Primitive::new),
            end: end.map(Primitive::new),
            ..Default::default()
        }));
    }
    for f in [12, 33] {
        for (r, cx) in nk1.field(f).repetitions::<Cx<'_>>().enumerate() {
            p.identifier
                .extend(cx_identifier(&cx, ctx, &at(f).repetition(r + 1)));
        }
    }
    if let Some(code) = nk1
        .field(15)
        .first::<Cwe<'_>>()
        .and_then(|c| text(c.identifier()))
    {
        p.gender = translate(&ADMINISTRATIVE_SEX, &code, ctx, &at(15))
            .and_then(|c| AdministrativeGender::from_code(&c))
            .map(Primitive::new);
    }
    if let Some(t) = nk1
        .field(16)
        .first::<Text<'_>>()
        .filter(|t| !t.is_null() && !t.is_empty())
    {
        match t.dtm() {
            Ok(v) => p.birth_date = dtm::date(&v.date()).map(Primitive::new),
            Err(_) => ctx.report(
                ReportKind::DataQuality(crate::DataProblem::InvalidDateTime),
                at(16),
            ),
        }
    }
    if let Some(cwe) = nk1.field(20).first::<Cwe<'_>>() {
        if let Some(language) = cwe_codeable_concept(&cwe, ctx, &at(20)) {
            p.communication.push(RelatedPersonCommunication {
                language: Some(Box::new(language)),
                ..Default::default()
            });
        }
    }

    for f in 1..=nk1.field_count() {
        let field = nk1.field(f);
        if !MAPPED_FIELDS.contains(&f) && field.repetition_count() > 0 && !field.is_null() {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    p
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; the field is reported as unmapped when present";

/// The spreadsheet rows of `NK1[RelatedPerson]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("NK1-2", "name[1]"),
    mapped("NK1-3", "relationship[1]"),
    mapped("NK1-4", "address[1]"),
    mapped("NK1-5", "telecom[1]"),
    mapped("NK1-6", "telecom[2]"),
    mapped("NK1-6", "telecom[2].use"),
    mapped("NK1-7", "relationship[2]"),
    mapped("NK1-8", "period.start"),
    mapped("NK1-9", "period.end"),
    mapped("NK1-12", "identifier[1]"),
    mapped("NK1-15", "gender"),
    mapped("NK1-16", "birthDate"),
    mapped("NK1-20", "communication.language"),
    unmapped("NK1-30", "name[2]", NOT_YET),
    unmapped("NK1-31", "telecom[3]", NOT_YET),
    unmapped("NK1-32", "address[2]", NOT_YET),
    mapped("NK1-33", "identifier[2]"),
    unmapped("NK1-37", "identifier[3].value", NOT_YET),
    unmapped("NK1-37", "identifier[3].system", NOT_YET),
    unmapped("NK1-37", "identifier[3].type.coding.code", NOT_YET),
    unmapped("NK1-40", "telecom[4]", NOT_YET),
    unmapped("NK1-41", "telecom[5]", NOT_YET),
];
