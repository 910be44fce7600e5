//! `ORU_R01`: HL7 v2 ORU^R01 (unsolicited observation result) → FHIR Bundle.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-message-oru-r01-to-bundle.html>
//!
//! Written: `PID[Patient]`, `PV1[Encounter]` (status `unknown` unless PV1-45 is valued: a
//! result says nothing about the visit), and per ORDER_OBSERVATION group (an optional ORC, its
//! OBR, TQ1s, OBXs, SPMs):
//! - a `DiagnosticReport` (`OBR[DiagnosticReport]`) whose `result`s are the Observations of the
//!   group's OBXs (`OBX[Observation]`, the NTEs after an OBX as its notes, `NTE[Observation]`);
//! - when the group has an ORC, a `ServiceRequest` (`ORC[ServiceRequest]`, then
//!   `OBR[ServiceRequest]` "IF ORC VALUED", then `TQ1[ServiceRequest]`) that the report is
//!   `basedOn`, with ORC-12 (else OBR-16) as requester Practitioner;
//! - the Specimen the OBR itself describes (`OBR[Specimen]`, row 4.2.2: OBR-7/8 collection
//!   time, OBR-9 volume, OBR-14 received time), first in the report's `specimen`;
//! - per SPM a `Specimen` (`SPM[Specimen]`) in the report's `specimen`; when the group has one
//!   Specimen every result references it (`Observation.specimen`, as `OBR[Specimen]` asks); OBXs
//!   after an SPM are specimen Observations (`focus` on the Specimen), not results.
//!
//! The ORDER_DOCUMENT of v2.7+ (an OBX, PRTs and a TXA between the ORC and its OBR) stays in
//! its order group: row 4.2.1.3.1 gives its OBX no target, so it is reported, and the OBR after
//! it is the ORC's (with the ORC's ServiceRequest), not a group of its own.
//!
//! ORU_R01 repeats its PATIENT_RESULT group: each PID is a Patient of its own (`PID[Patient]`
//! for the n-th PID; a PID repeating an earlier patient's identifiers is that same Patient; DB1, GT1, IN2 and CON are read for the first one only, see
//! `first_patient_segments`), the first PV1 after it is that patient's Encounter, and every
//! order group, and every OBX before any order, belongs to the PID before it. A result is never
//! given to another patient than the one whose group carries it. A further PV1 within one
//! patient's group, and a PV1 before any PID, are reported.
//!
//! Every Observation, report and request has its patient as `subject` and that patient's
//! Encounter as `encounter`. An NTE after an OBR (no IG target in ORU_R01), a TQ1 of a group without ORC (no
//! ServiceRequest to carry it), OBXs before any OBR (kept as Observations, not in a report), and
//! every other segment (NK1, PRT, CTI, …) are reported; Z-segments as Z-segments.
//!
//! Two OBRs with the same placer number (OBR-2) are two DiagnosticReports (and two
//! ServiceRequests) with ids of their own (the second reported as a duplicate identifier),
//! never one.

use ehrkit_fhir_model::resources::DiagnosticReport;
use ehrkit_fhir_model::Reference;
use ehrkit_hl7v2::Message;

use super::orm_o01::{
    add_obr_specimen, add_observation, add_service_request, add_specimens, dedupe_report,
    first_patient, observation, report_document, service_request, walk, Group,
};
use super::{add_encounter, finish, patient_id, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out, Role};
use crate::v2_to_fhir::datatype::Context;
use crate::v2_to_fhir::segment::{
    obr_diagnostic_report::obr_diagnostic_report_with, obr_service_request, obr_specimen,
    pid_patient::pid_patient, pv1_encounter::pv1_encounter,
};
use crate::{Location, Quirk, ReportKind};

/// Segments this map converts (the others are reported).
const MAPPED: &[&str] = &[
    "MSH", "PID", "PV1", "ORC", "OBR", "TQ1", "OBX", "NTE", "SPM", "DB1", "GT1", "IN2", "CON",
];

/// Converts an ORU^R01 message.
pub(crate) fn convert(
    msg: &Message<'_>,
    _event: &str,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Result<(), ConvertError> {
    let subjects = subjects(msg, ctx, out);
    // The patient (and visit) of the n-th PID; before any PID, the first.
    let none = (None, None);
    let of = |pid: usize| subjects.get(pid.max(1) - 1).unwrap_or(&none);
    let w = walk(msg, true, ctx);
    let mut focus = Vec::new();

    // OBXs before any order: Observations of the patient (IG PATIENT_OBSERVATION).
    for o in &w.loose {
        let (patient, encounter) = of(o.patient);
        let obs = observation(o, ctx);
        focus.push(add_observation(obs, o.obx.1, patient, encounter, ctx, out));
    }
    for (s, n) in &w.stray {
        ctx.report(ReportKind::UnmappedSegment, Location::segment(s.name(), *n));
    }

    for g in &w.groups {
        let (patient, encounter) = of(g.patient);
        for (s, n) in &g.rx {
            ctx.report(ReportKind::UnmappedSegment, Location::segment(s.name(), *n));
        }
        // NTE after OBR/ORC: the IG's ORU_R01 map gives it no target.
        for (_, n) in &g.notes {
            ctx.report(ReportKind::UnmappedSegment, Location::segment("NTE", *n));
        }
        // ORDER_DOCUMENT (row 4.2.1.3.1, OBX: no target; its TXA is reported as unmapped).
        report_document(g, ctx);
        let specimens = add_specimens(g, patient, encounter, ctx, out);
        let one_specimen = (specimens.len() == 1).then(|| specimens[0].clone());

        let request = match &g.orc {
            Some(_) => {
                let parts = service_request(g, g.obr.is_none(), false, ctx);
                let at = g
                    .orc
                    .as_ref()
                    .map(|(_, n)| Location::segment("ORC", *n))
                    .unwrap_or_else(|| Location::segment("ORC", 1));
                Some(add_service_request(parts, at, patient, encounter, ctx, out))
            }
            None => {
                for (_, n) in &g.tq1 {
                    ctx.report(ReportKind::UnmappedSegment, Location::segment("TQ1", *n));
                }
                None
            }
        };

        let mut results = Vec::with_capacity(g.observations.len());
        if !ctx.profile.has(Quirk::JoinTextLines) && !ctx.profile.has(Quirk::OrderQuestions) {
            // Without the quirks below, each Observation goes straight into the Bundle (no
            // list of them all first: each is built once and moved once less). Adding one
            // reports nothing (its positional id is unique), so the report reads as below.
            for o in &g.observations {
                let mut obs = observation(o, ctx);
                if obs.specimen.is_none() {
                    obs.specimen = one_specimen.clone().map(Box::new);
                }
                if let Some(r) = &request {
                    obs.based_on.push(r.clone());
                }
                results.push(add_observation(obs, o.obx.1, patient, encounter, ctx, out));
            }
        } else {
            add_quirky_observations(
                msg,
                g,
                (patient, encounter),
                one_specimen.as_ref(),
                request.as_ref(),
                &mut results,
                ctx,
                out,
            );
        }
        match &g.obr {
            Some((obr, n)) => {
                let mut also = obr_specimen::MAPPED_FIELDS.to_vec();
                if g.orc.is_some() {
                    also.extend_from_slice(obr_service_request::MAPPED_FIELDS);
                }
                let mut d = obr_diagnostic_report_with(obr, *n, &also, ctx);
                let mut specimens = specimens;
                if let Some(r) = add_obr_specimen(obr, *n, patient.as_ref(), ctx, out) {
                    specimens.insert(0, r);
                }
                d.subject = patient.clone().map(Box::new);
                d.encounter = encounter.clone().map(Box::new);
                d.result = results;
                d.specimen = specimens;
                d.based_on.extend(request);
                focus.push(out.add_own(
                    d,
                    report_id,
                    |d| &d.identifier,
                    Role::Record,
                    ctx,
                    &Location::segment("OBR", *n),
                ));
            }
            None => {
                // An ORC without OBR: the request (and any results) stand alone.
                focus.extend(request);
                focus.extend(results);
            }
        }
    }

    report_other_segments(msg, MAPPED, ctx);
    dedupe_report(ctx);
    if focus.is_empty() {
        focus.extend(subjects.iter().filter_map(|(p, _)| p.clone()));
    }
    finish(msg, focus, ctx, out);
    Ok(())
}

/// The patient and visit of each PATIENT_RESULT group, by PID occurrence: the first PID's
/// Patient (with DB1/GT1/IN2/CON), then each further PID's, each with the first PV1 after it.
fn subjects(
    msg: &Message<'_>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Vec<(Option<Reference>, Option<Reference>)> {
    let mut subjects: Vec<(Option<Reference>, Option<Reference>)> = Vec::new();
    let (mut pids, mut pv1s) = (0usize, 0usize);
    for seg in msg.segments() {
        match seg.name() {
            "PID" => {
                pids += 1;
                let patient = if pids == 1 {
                    first_patient(msg, ctx, out)
                } else {
                    // A PID repeating an earlier one (a lab repeats it per order group) is the
                    // same patient: one Patient (RecordOnce), not a second one by position.
                    let patient = pid_patient(&seg, pids, ctx);
                    Some(out.add_own(
                        patient,
                        patient_id,
                        |p| &p.identifier,
                        Role::RecordOnce,
                        ctx,
                        &Location::segment("PID", pids),
                    ))
                };
                subjects.push((patient, None));
            }
            "PV1" => {
                pv1s += 1;
                match subjects.last_mut() {
                    Some((Some(p), visit @ None)) => {
                        let parts = pv1_encounter(&seg, pv1s, None, ctx);
                        *visit = Some(add_encounter(parts, pv1s, p, ctx, out));
                    }
                    _ => ctx.report(ReportKind::UnmappedSegment, Location::segment("PV1", pv1s)),
                }
            }
            _ => {}
        }
    }
    // The same patient again without a PV1 of its own: still in the visit given before.
    for i in 1..subjects.len() {
        if subjects[i].1.is_none() {
            let earlier = subjects[..i]
                .iter()
                .find(|(p, e)| e.is_some() && *p == subjects[i].0)
                .and_then(|(_, e)| e.clone());
            subjects[i].1 = earlier;
        }
    }
    subjects
}

/// The group's Observations with the vendor quirks that need them all at once (text lines
/// joined, order questions kept out of the results and attached to the request).
#[allow(clippy::too_many_arguments)]
fn add_quirky_observations(
    msg: &Message<'_>,
    g: &Group<'_>,
    (patient, encounter): (&Option<Reference>, &Option<Reference>),
    one_specimen: Option<&Reference>,
    request: Option<&Reference>,
    results: &mut Vec<Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) {
    // Vendor quirks: text lines joined, order questions kept out of the results.
    let converted: Vec<_> = g
        .observations
        .iter()
        .map(|o| (observation(o, ctx), o.obx.1))
        .collect();
    let mut converted = crate::quirks::observations::join_text(msg, converted, ctx);
    let questions = crate::quirks::observations::order_questions(msg, &mut converted, ctx);
    let mut supporting = Vec::new();
    for (mut obs, n) in converted {
        if obs.specimen.is_none() {
            obs.specimen = one_specimen.cloned().map(Box::new);
        }
        if let Some(r) = request {
            obs.based_on.push(r.clone());
        }
        let r = add_observation(obs, n, patient, encounter, ctx, out);
        if questions.contains(&n) {
            supporting.push(r);
        } else {
            results.push(r);
        }
    }
    crate::quirks::observations::attach_questions(&mut out.entries, request, supporting);
}

fn report_id(r: &mut DiagnosticReport) -> &mut Option<String> {
    &mut r.id
}
