//! `ADT_A03` (discharge/end visit), the part the ADT_A01 map does not cover.
//!
//! The IG has no `ADT_A03` message map, and A03 has a v2 structure of its own (ADT_A03, not
//! ADT_A01's). Issue 12 says to follow Microsoft FHIR-Converter's templates and expected outputs
//! where the IG has no map, so A03 is converted with the [`adt_a01`](super::adt_a01) map for
//! the segments the IG maps elsewhere (PID, PV1, DG1, PR1, IN1, ...) plus what Microsoft's
//! `ADT_A03` template writes from the segments the IG's ADT maps give no target:
//! - DB1, GT1, IN2: the patient's other identifiers and names
//!   (`segment/patient_other_sources.rs`; every ADT event reads them, not only A03).
//! - PDA (patient death and autopsy), its first occurrence:
//!   - each PDA-1 (death cause, CWE) → a Condition (`code`, `subject` the Patient);
//!   - PDA-4 (death certified date/time) with PDA-5.1 (certified by) → a Procedure
//!     `death-certification`, `performedDateTime` PDA-4, status from PDA-3 (`Y` `completed`,
//!     `N` `not-done`, else `unknown`);
//!   - PDA-7 (autopsy start and end, DR) with PDA-8.1 (autopsy performed by) → a Procedure
//!     `autopsy-performed`, `performedPeriod` PDA-7, status from PDA-6 as above;
//!   - Observations (status `final`) whose `valueCodeableConcept` is the v2 table 0136 code:
//!     `death-certificate` (PDA-3, with PDA-4 and PDA-5.1), `autopsy` (PDA-6, with PDA-7 and
//!     PDA-8.1), `coroner` (PDA-9).
//! - ACC (accident), its first occurrence → an Observation `injury-incident` (status
//!   `final`), `valueString` ACC-8 (accident description), `effectiveDateTime` ACC-1.
//! - RF1 (referral), each → a ServiceRequest (intent `order`), identifiers RF1-6 and each RF1-11
//!   (EI), status from RF1-1 (`A` `active`, `P` `on-hold`, `R` `revoked`, `E`
//!   `entered-in-error`, else `unknown`; RF1-25 `D` `entered-in-error`), `subject` the Patient,
//!   `encounter` the Encounter.
//!
//! The codes above have no standard code system; they are written in this crate's local
//! systems [`OBSERVATION_CODE`] and [`PROCEDURE_CODE`] (Microsoft uses `http://example.com/...`
//! placeholders, which the issue rules out). The fields of PDA, ACC and RF1 not read are
//! reported; a second PDA or ACC is reported as an unmapped segment.

use ehrkit_fhir_model::codes::{EventStatus, ObservationStatus, RequestIntent, RequestStatus};
use ehrkit_fhir_model::resources::{
    Condition, Observation, ObservationEffective, ObservationValue, Procedure, ProcedurePerformed,
    ServiceRequest,
};
use ehrkit_fhir_model::{CodeableConcept, Coding, Period, Primitive, Reference};
use ehrkit_hl7v2::datatypes::{Cwe, Dr, Ei, Text, Xcn};
use ehrkit_hl7v2::{Message, Segment};

use super::adt_a01::{Converted, Group, MAPPED};
use super::dft_p03::{condition_id, observation_id, procedure_id};
use crate::v2_to_fhir::convert::{Out, Role};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, dtm, ei_identifier::ei_identifier, text, Context,
};
use crate::v2_to_fhir::segment::sch_appointment::report_fields;
use crate::{Location, ReportKind};

/// The trigger event this map completes.
pub(crate) const EVENT: &str = "A03";

/// Local code system of the Observation codes written from PDA and ACC.
pub const OBSERVATION_CODE: &str = "urn:ehrkit:codesystem:observation-code";
/// Local code system of the Procedure codes written from PDA.
pub const PROCEDURE_CODE: &str = "urn:ehrkit:codesystem:procedure-code";

/// The segments an A03 reads: the ADT map's (with the patient's other sources), PDA, ACC, RF1.
pub(crate) fn mapped() -> Vec<&'static str> {
    MAPPED
        .iter()
        .chain(&["PDA", "ACC", "RF1"])
        .copied()
        .collect()
}

/// The resources PDA, ACC and RF1 of `group` give (see the module docs); returns their
/// references.
pub(crate) fn add_segments_without_ig_target(
    msg: &Message<'_>,
    group: &Group,
    converted: &Converted,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Vec<Reference> {
    let mut refs = Vec::new();
    let patient = &converted.patient;
    for (i, n) in group.all("PDA").enumerate() {
        match (i, msg.segment("PDA", n)) {
            (0, Some(pda)) => refs.extend(pda_resources(&pda, n, patient, ctx, out)),
            _ => ctx.report(ReportKind::UnmappedSegment, Location::segment("PDA", n)),
        }
    }
    for (i, n) in group.all("ACC").enumerate() {
        match (i, msg.segment("ACC", n)) {
            (0, Some(acc)) => refs.push(acc_observation(&acc, n, patient, ctx, out)),
            _ => ctx.report(ReportKind::UnmappedSegment, Location::segment("ACC", n)),
        }
    }
    for n in group.all("RF1") {
        if let Some(rf1) = msg.segment("RF1", n) {
            refs.push(rf1_service_request(
                &rf1,
                n,
                patient,
                converted.encounter.as_ref(),
                ctx,
                out,
            ));
        }
    }
    refs
}

fn coding(system: &str, code: &str, display: &str) -> CodeableConcept {
    CodeableConcept {
        coding: vec![Coding {
            system: Some(Primitive::new(system.to_owned())),
            code: Some(Primitive::new(code.to_owned())),
            display: Some(Primitive::new(display.to_owned())),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The code of a field's first repetition (`Y`, `N`, `P`, ...).
fn code_of(seg: &Segment<'_>, field: usize) -> Option<String> {
    seg.field(field)
        .first::<Cwe<'_>>()
        .and_then(|c| text(c.identifier()))
}

fn valued(seg: &Segment<'_>, field: usize) -> bool {
    let f = seg.field(field);
    f.repetition_count() > 0 && !f.is_null()
}

/// The first component (id number) of an XCN field: who certified or performed.
fn person_valued(seg: &Segment<'_>, field: usize) -> bool {
    seg.field(field)
        .first::<Xcn<'_>>()
        .and_then(|x| text(x.component(1)))
        .is_some()
}

/// A yes/no indicator as the HL7 table 0136 coding Microsoft writes (`Y` / `N` only).
fn yes_no(code: Option<&str>) -> Option<CodeableConcept> {
    let system = "http://terminology.hl7.org/CodeSystem/v2-0136";
    match code? {
        "Y" => Some(coding(system, "Y", "Yes")),
        "N" => Some(coding(system, "N", "No")),
        _ => None,
    }
}

fn procedure_status(code: Option<&str>) -> EventStatus {
    match code {
        Some("Y") => EventStatus::Completed,
        Some("N") => EventStatus::NotDone,
        _ => EventStatus::Unknown,
    }
}

fn pda_resources(
    pda: &Segment<'_>,
    n: usize,
    patient: &Reference,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Vec<Reference> {
    let at = |f: usize| Location::segment("PDA", n).field(f);
    let subject = Some(Box::new(patient.clone()));
    let mut refs = Vec::new();
    for (r, cwe) in pda.field(1).repetitions::<Cwe<'_>>().enumerate() {
        let cause_at = at(1).repetition(r + 1);
        if let Some(code) = cwe_codeable_concept(&cwe, ctx, &cause_at) {
            let c = Condition {
                code: Some(Box::new(code)),
                subject: subject.clone(),
                ..Default::default()
            };
            refs.push(out.add(c, condition_id, &[], Role::Record, ctx, &cause_at));
        }
    }
    let certified = valued(pda, 4) && person_valued(pda, 5);
    let autopsied = valued(pda, 7) && person_valued(pda, 8);
    let (certificate, autopsy) = (code_of(pda, 3), code_of(pda, 6));
    if certified {
        let performed = dtm::read_date_time(pda.field(4).first::<Text<'_>>(), ctx, at(4));
        let p = Procedure {
            status: Some(Primitive::new(procedure_status(certificate.as_deref()))),
            code: Some(Box::new(coding(
                PROCEDURE_CODE,
                "death-certification",
                "Death Certification",
            ))),
            subject: subject.clone(),
            performed: performed.map(|d| ProcedurePerformed::DateTime(Primitive::new(d))),
            ..Default::default()
        };
        refs.push(out.add(p, procedure_id, &[], Role::Record, ctx, &at(4)));
    }
    if autopsied {
        let period = pda.field(7).first::<Dr<'_>>().map(|dr| Period {
            start: dtm::read_date_time(
                dr.range_start_date_time().and_then(|t| t.time()),
                ctx,
                at(7).component(1),
            )
            .map(Primitive::new),
            end: dtm::read_date_time(
                dr.range_end_date_time().and_then(|t| t.time()),
                ctx,
                at(7).component(2),
            )
            .map(Primitive::new),
            ..Default::default()
        });
        let p = Procedure {
            status: Some(Primitive::new(procedure_status(autopsy.as_deref()))),
            code: Some(Box::new(coding(
                PROCEDURE_CODE,
                "autopsy-performed",
                "Autopsy Performed",
            ))),
            subject: subject.clone(),
            performed: period
                .filter(|p| p.start.is_some() || p.end.is_some())
                .map(|p| ProcedurePerformed::Period(Box::new(p))),
            ..Default::default()
        };
        refs.push(out.add(p, procedure_id, &[], Role::Record, ctx, &at(7)));
    }
    let observations = [
        (3, certified, "death-certificate", "Death Certificate"),
        (6, autopsied, "autopsy", "Autopsy"),
        (9, true, "coroner", "Coroner"),
    ];
    for (field, condition, code, display) in observations {
        let value = code_of(pda, field);
        if !condition || value.is_none() {
            continue;
        }
        let o = Observation {
            status: Some(Primitive::new(ObservationStatus::Final)),
            code: Some(Box::new(coding(OBSERVATION_CODE, code, display))),
            subject: subject.clone(),
            value: yes_no(value.as_deref()).map(|c| ObservationValue::CodeableConcept(Box::new(c))),
            ..Default::default()
        };
        refs.push(out.add(o, observation_id, &[], Role::Record, ctx, &at(field)));
    }
    report_fields(pda, &[1, 3, 4, 6, 7, 9], ctx, at);
    refs
}

/// ACC → the `injury-incident` Observation of `patient` (also used by the DFT map, which has no
/// IG map either and whose Microsoft outputs write the same).
pub(crate) fn acc_observation(
    acc: &Segment<'_>,
    n: usize,
    patient: &Reference,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Reference {
    let at = |f: usize| Location::segment("ACC", n).field(f);
    let effective = dtm::read_date_time(acc.field(1).first::<Text<'_>>(), ctx, at(1));
    let o = Observation {
        status: Some(Primitive::new(ObservationStatus::Final)),
        code: Some(Box::new(coding(
            OBSERVATION_CODE,
            "injury-incident",
            "Injury Incident Description Narrative",
        ))),
        subject: Some(Box::new(patient.clone())),
        effective: effective.map(|d| ObservationEffective::DateTime(Primitive::new(d))),
        value: text(acc.field(8).first::<Text<'_>>())
            .map(|s| ObservationValue::String(Primitive::new(s))),
        ..Default::default()
    };
    report_fields(acc, &[1, 8], ctx, at);
    out.add(
        o,
        observation_id,
        &[],
        Role::Record,
        ctx,
        &Location::segment("ACC", n),
    )
}

fn rf1_service_request(
    rf1: &Segment<'_>,
    n: usize,
    patient: &Reference,
    encounter: Option<&Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Reference {
    let at = |f: usize| Location::segment("RF1", n).field(f);
    let mut sr = ServiceRequest {
        intent: Some(Primitive::new(RequestIntent::Order)),
        subject: Some(Box::new(patient.clone())),
        encounter: encounter.cloned().map(Box::new),
        ..Default::default()
    };
    let status = if code_of(rf1, 25).as_deref() == Some("D") {
        RequestStatus::EnteredInError
    } else {
        match code_of(rf1, 1).as_deref() {
            Some("A") => RequestStatus::Active,
            Some("P") => RequestStatus::OnHold,
            Some("R") => RequestStatus::Revoked,
            Some("E") => RequestStatus::EnteredInError,
            _ => RequestStatus::Unknown,
        }
    };
    sr.status = Some(Primitive::new(status));
    for f in [6, 11] {
        for (r, ei) in rf1.field(f).repetitions::<Ei<'_>>().enumerate() {
            if let Some(id) = ei_identifier(&ei, ctx, &at(f).repetition(r + 1)) {
                if !sr.identifier.contains(&id) {
                    sr.identifier.push(id);
                }
            }
        }
    }
    report_fields(rf1, &[1, 6, 11, 25], ctx, at);
    let identifiers = sr.identifier.clone();
    out.add(
        sr,
        service_request_id,
        &identifiers,
        Role::Record,
        ctx,
        &Location::segment("RF1", n),
    )
}

fn service_request_id(r: &mut ServiceRequest) -> &mut Option<String> {
    &mut r.id
}
