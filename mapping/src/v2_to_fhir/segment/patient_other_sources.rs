//! Patient data carried outside PID (DB1, GT1, IN2, CON) → the Patient's `identifier` and
//! `name`, for the message structures the IG has no map for.
//!
//! No IG map: the IG's message maps give none of these segments a target (`ADT_A01` rows 21
//! DB1, 28 GT1, 29.2 IN2; `MDM_T02` row 9 CON): they leave the data unmapped rather than send it
//! elsewhere. Every map whose message carries a Patient and can carry these segments (all ADT
//! events, ORM_O01, ORU_R01, OML_O21, RDE_O11, VXU_V04, MDM, DFT) calls this, so the same patient
//! gets the same identifiers and names whichever message type brought it: were the DB1/GT1/IN2
//! identifiers written only by some message types (Microsoft writes them for most ADT events and
//! DFT, not for orders), a conditional `PUT Patient?identifier=…` from the next message of
//! another type would drop them again on the server. The Patient's id and its conditional query
//! stay those of its PID identifiers. What is read follows Microsoft FHIR-Converter's outputs
//! (its `Resource/_Patient.liquid` and the root templates that include it), whose facts are:
//! - DB1 whose DB1-2 (disabled person code) is `PT` (the patient): each DB1-3 (CX) →
//!   `identifier`.
//! - GT1 whose GT1-11 (guarantor relationship) is `SEL` and which names no guarantor
//!   organization (GT1-21): the guarantor is the patient. Each GT1-2 and GT1-19 (CX) →
//!   `identifier`; GT1-12 (SSN) → `identifier` (type `SS`, system
//!   `http://hl7.org/fhir/sid/us-ssn`); each GT1-3 (XPN) → `name`. Any other GT1 is a guarantor
//!   who is someone else: reported as an unmapped segment.
//! - IN2, each one: IN2-6 (Medicare number; type `MC`, system
//!   `http://hl7.org/fhir/sid/us-medicare`), IN2-8 (Medicaid number; type `MA`), IN2-10
//!   (military id; type `MI`) and each IN2-61 (CX) → `identifier`; each IN2-7 (Medicaid case
//!   name, XPN) → `name`. When the IN1 before it says the insured is the patient (IN1-17 `SEL`),
//!   also each IN2-1 (CX) and IN2-2 (SSN, as GT1-12).
//! - CON: the CON-24 (consenter, XPN) repetitions whose CON-25 repetition (consenter's
//!   relationship, HL7 table 0548) is `1` (self) → `name`.
//!
//! Microsoft's placeholder systems for the Medicaid and military numbers (`http://example.com/...`)
//! are not written: those identifiers carry their type only. An identifier or name the Patient
//! already has (PID-5 repeated in GT1-3, the same IN2 twice) is not added again (a name whatever
//! its `use`). A segment that contributes has its other valued fields reported as unmapped; the IN1
//! segments are left to the message map (read here only for IN1-17).

use ehrkit_fhir_model::resources::Patient;
use ehrkit_fhir_model::{HumanName, Identifier, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Cx, Text, Xpn};
use ehrkit_hl7v2::{Message, Segment};

use super::orc_service_request::v2_0203;
use super::sch_appointment::report_fields;
use crate::v2_to_fhir::datatype::{
    cx_identifier::cx_identifier, text, xpn_human_name::xpn_human_name, Context,
};
use crate::{Location, ReportKind};

/// The segments this map reads (IN1 only for IN1-17).
pub(crate) const SEGMENTS: &[&str] = &["DB1", "GT1", "IN2", "CON"];

/// Adds to `patient` what the DB1, GT1, IN2 and CON segments among `segments` (each with its
/// occurrence in the message, in message order) say about the patient, and reports what they
/// carry besides. Segments with other ids are skipped, except IN1 whose IN1-17 decides whether
/// the next IN2 is about the patient.
pub(crate) fn patient_other_sources<'m>(
    segments: impl IntoIterator<Item = (Segment<'m>, usize)>,
    patient: &mut Patient,
    ctx: &mut Context<'_>,
) {
    let mut insured_is_patient = false;
    for (seg, n) in segments {
        let name = seg.name();
        let at = |f: usize| Location::segment(name, n).field(f);
        match name {
            "IN1" => insured_is_patient = first_code(&seg, 17).as_deref() == Some("SEL"),
            "DB1" => {
                if first_code(&seg, 2).as_deref() != Some("PT") {
                    ctx.report(ReportKind::UnmappedSegment, Location::segment(name, n));
                    continue;
                }
                add_cx(&seg, 3, &at, patient, ctx);
                report_fields(&seg, &[1, 2, 3], ctx, at);
            }
            "GT1" => {
                let organization = seg.field(21);
                let is_patient = first_code(&seg, 11).as_deref() == Some("SEL")
                    && (organization.repetition_count() == 0 || organization.is_null());
                if !is_patient {
                    ctx.report(ReportKind::UnmappedSegment, Location::segment(name, n));
                    continue;
                }
                add_cx(&seg, 2, &at, patient, ctx);
                add_cx(&seg, 19, &at, patient, ctx);
                add_typed(&seg, 12, "SS", Some(US_SSN), patient);
                add_names(&seg, 3, &at, patient, ctx);
                report_fields(&seg, &[1, 2, 3, 11, 12, 19], ctx, at);
            }
            "IN2" => {
                add_typed(&seg, 6, "MC", Some(US_MEDICARE), patient);
                add_typed(&seg, 8, "MA", None, patient);
                add_typed(&seg, 10, "MI", None, patient);
                add_cx(&seg, 61, &at, patient, ctx);
                add_names(&seg, 7, &at, patient, ctx);
                let mapped: &[usize] = if insured_is_patient {
                    add_cx(&seg, 1, &at, patient, ctx);
                    add_typed(&seg, 2, "SS", Some(US_SSN), patient);
                    &[1, 2, 6, 7, 8, 10, 61]
                } else {
                    &[6, 7, 8, 10, 61]
                };
                report_fields(&seg, mapped, ctx, at);
            }
            "CON" => {
                let relationships = seg.field(25);
                let mut read = false;
                for (i, xpn) in seg.field(24).repetitions::<Xpn<'_>>().enumerate() {
                    let is_patient = relationships
                        .get::<Cwe<'_>>(i + 1)
                        .and_then(|c| text(c.identifier()))
                        .is_some_and(|c| c == "1");
                    if !is_patient {
                        continue;
                    }
                    read = true;
                    if let Some(h) = xpn_human_name(&xpn, ctx, &at(24).repetition(i + 1)) {
                        push_name(patient, h);
                    }
                }
                if read {
                    report_fields(&seg, &[1, 24, 25], ctx, at);
                } else {
                    ctx.report(ReportKind::UnmappedSegment, Location::segment(name, n));
                }
            }
            _ => {}
        }
    }
}

/// The segments [`patient_other_sources`] reads for the patient of the first PID of a
/// single-patient message: its IN1, DB1, GT1, IN2 and CON before a second PID, each with its
/// occurrence in the message, in message order (no allocation when there are none). The DB1,
/// GT1, IN2 and CON after a second PID are about another patient, whom these maps do not
/// convert: each is reported as an unmapped segment, so none is lost without a word.
pub(crate) fn first_patient_segments<'m>(
    msg: &'m Message<'m>,
    ctx: &mut Context<'_>,
) -> Vec<(Segment<'m>, usize)> {
    const READ: [&str; 5] = ["IN1", "DB1", "GT1", "IN2", "CON"];
    let mut seen = [0usize; READ.len()];
    let mut pids = 0usize;
    let mut found = Vec::new();
    for seg in msg.segments() {
        let name = seg.name();
        if name == "PID" {
            pids += 1;
            continue;
        }
        let Some(i) = READ.iter().position(|r| *r == name) else {
            continue;
        };
        seen[i] += 1;
        if pids <= 1 {
            found.push((seg, seen[i]));
        } else if i > 0 {
            ctx.report(
                ReportKind::UnmappedSegment,
                Location::segment(name, seen[i]),
            );
        }
    }
    found
}

/// Every segment of `msg` with its occurrence among the segments with its id (1-based), in
/// message order.
pub(crate) fn numbered<'m>(msg: &'m Message<'m>) -> Vec<(Segment<'m>, usize)> {
    let mut seen = crate::v2_to_fhir::message::Occurrences::default();
    msg.segments()
        .map(|seg| {
            let n = seen.next(seg.name());
            (seg, n)
        })
        .collect()
}

const US_SSN: &str = "http://hl7.org/fhir/sid/us-ssn";
const US_MEDICARE: &str = "http://hl7.org/fhir/sid/us-medicare";

/// The first component of a field's first repetition (a coded field's code).
fn first_code(seg: &Segment<'_>, field: usize) -> Option<String> {
    seg.field(field)
        .first::<Cwe<'_>>()
        .and_then(|c| text(c.identifier()))
}

fn add_cx(
    seg: &Segment<'_>,
    field: usize,
    at: &impl Fn(usize) -> Location,
    patient: &mut Patient,
    ctx: &mut Context<'_>,
) {
    for (r, cx) in seg.field(field).repetitions::<Cx<'_>>().enumerate() {
        if let Some(id) = cx_identifier(&cx, ctx, &at(field).repetition(r + 1)) {
            push_identifier(patient, id);
        }
    }
}

/// A plain-text number (ST) with a table 0203 type and, when known, its system.
fn add_typed(
    seg: &Segment<'_>,
    field: usize,
    type_code: &str,
    system: Option<&str>,
    patient: &mut Patient,
) {
    let Some(value) = text(seg.field(field).first::<Text<'_>>()) else {
        return;
    };
    push_identifier(
        patient,
        Identifier {
            value: Some(Primitive::new(value)),
            system: system.map(|s| Primitive::new(s.to_owned())),
            type_: Some(Box::new(v2_0203(type_code))),
            ..Default::default()
        },
    );
}

fn add_names(
    seg: &Segment<'_>,
    field: usize,
    at: &impl Fn(usize) -> Location,
    patient: &mut Patient,
    ctx: &mut Context<'_>,
) {
    for (r, xpn) in seg.field(field).repetitions::<Xpn<'_>>().enumerate() {
        if let Some(h) = xpn_human_name(&xpn, ctx, &at(field).repetition(r + 1)) {
            push_name(patient, h);
        }
    }
}

/// Adds `id` unless the Patient has it already: the same identifier, or the same system and
/// value written differently (PID-19's SSN has its type's display, GT1-12's and IN2-2's do not).
fn push_identifier(patient: &mut Patient, id: Identifier) {
    fn system_value(i: &Identifier) -> (Option<&str>, Option<&str>) {
        (
            i.system.as_ref().and_then(|p| p.value.as_deref()),
            i.value.as_ref().and_then(|p| p.value.as_deref()),
        )
    }
    let key = system_value(&id);
    let same_system_value = |i: &Identifier| key.0.is_some() && system_value(i) == key;
    if !patient
        .identifier
        .iter()
        .any(|i| *i == id || same_system_value(i))
    {
        patient.identifier.push(id);
    }
}

/// Adds `name` unless the Patient has it already: the same parts, whatever its `use` (a
/// profile may set a default use on PID-5's names that GT1-3 or CON-24 repeats without).
fn push_name(patient: &mut Patient, name: HumanName) {
    let same = |a: &HumanName| {
        a.family == name.family
            && a.given == name.given
            && a.prefix == name.prefix
            && a.suffix == name.suffix
            && a.text == name.text
            && a.period == name.period
    };
    if !patient.name.iter().any(same) {
        patient.name.push(name);
    }
}
