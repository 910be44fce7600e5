//! `ORU_R01`: HL7 v2 ORU^R01 (unsolicited observation result) → FHIR Bundle.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-message-oru-r01-to-bundle.html>
//!
//! Written today: `PID[Patient]`, `PV1[Encounter]` (status `unknown` unless PV1-45 is valued:
//! a result says nothing about the visit), per OBR a `DiagnosticReport` (`OBR[DiagnosticReport]`)
//! whose `result`s are the Observations of the OBXs that follow it (`OBX[Observation]`), and
//! the NTEs that follow an OBX as its notes (`NTE[Observation]`). Every Observation and report
//! has the Patient as `subject` and the Encounter as `encounter`. An NTE after an OBR (IG:
//! `NTE[ServiceRequest]`, ServiceRequest not written yet) or after the patient, and every other
//! segment (ORC, SPM, TQ1, NK1, …) is reported; Z-segments as Z-segments.
//!
//! Two OBRs with the same placer number (OBR-2) are two DiagnosticReports with ids of their own
//! (the second one reported as a duplicate identifier), never one.

use ehrkit_fhir_model::resources::{DiagnosticReport, Observation};
use ehrkit_fhir_model::Reference;
use ehrkit_hl7v2::Message;

use super::{add_encounter, finish, patient_id, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out, Role};
use crate::v2_to_fhir::datatype::Context;
use crate::v2_to_fhir::segment::{
    nte_observation::nte_observation, obr_diagnostic_report::obr_diagnostic_report,
    obx_observation::obx_observation, pid_patient::pid_patient, pv1_encounter::pv1_encounter,
};
use crate::{Location, ReportKind};

/// Segments this map converts (the others are reported).
const MAPPED: &[&str] = &["MSH", "PID", "PV1", "OBR", "OBX", "NTE"];

/// One OBR and the OBXs after it (or OBXs before any OBR).
struct Group {
    report: Option<(DiagnosticReport, usize)>,
    observations: Vec<(Observation, usize)>,
}

/// Converts an ORU^R01 message.
pub(crate) fn convert(
    msg: &Message<'_>,
    _event: &str,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Result<(), ConvertError> {
    let mut focus: Vec<Reference> = Vec::new();
    let patient = msg.segment("PID", 1).map(|pid| {
        let patient = pid_patient(&pid, 1, ctx);
        let identifiers = patient.identifier.clone();
        out.add(
            patient,
            patient_id,
            &identifiers,
            Role::Record,
            ctx,
            &Location::segment("PID", 1),
        )
    });
    let encounter = match (msg.segment("PV1", 1), &patient) {
        (Some(pv1), Some(p)) => {
            let parts = pv1_encounter(&pv1, 1, None, ctx);
            Some(add_encounter(parts, p, ctx, out))
        }
        (Some(_), None) => {
            ctx.report(ReportKind::UnmappedSegment, Location::segment("PV1", 1));
            None
        }
        _ => None,
    };

    let mut groups: Vec<Group> = Vec::new();
    let (mut n_obr, mut n_obx, mut n_nte, mut n_pid, mut n_pv1) = (0, 0, 0, 0, 0);
    let mut last_is_obx = false;
    for seg in msg.segments() {
        match seg.name() {
            "OBR" => {
                n_obr += 1;
                groups.push(Group {
                    report: Some((obr_diagnostic_report(&seg, n_obr, ctx), n_obr)),
                    observations: Vec::new(),
                });
                last_is_obx = false;
            }
            "OBX" => {
                n_obx += 1;
                let o = obx_observation(&seg, n_obx, ctx);
                if groups.is_empty() {
                    groups.push(Group {
                        report: None,
                        observations: Vec::new(),
                    });
                }
                if let Some(g) = groups.last_mut() {
                    g.observations.push((o, n_obx));
                }
                last_is_obx = true;
            }
            "NTE" => {
                n_nte += 1;
                let target = groups
                    .last_mut()
                    .and_then(|g| g.observations.last_mut())
                    .filter(|_| last_is_obx);
                match target {
                    Some((o, _)) => o.note.extend(nte_observation(&seg, n_nte, ctx)),
                    None => {
                        ctx.report(ReportKind::UnmappedSegment, Location::segment("NTE", n_nte))
                    }
                }
            }
            "PID" => {
                n_pid += 1;
                if n_pid > 1 {
                    ctx.report(ReportKind::UnmappedSegment, Location::segment("PID", n_pid));
                }
                last_is_obx = false;
            }
            "PV1" => {
                n_pv1 += 1;
                if n_pv1 > 1 {
                    ctx.report(ReportKind::UnmappedSegment, Location::segment("PV1", n_pv1));
                }
                last_is_obx = false;
            }
            _ => last_is_obx = false,
        }
    }

    for group in groups {
        let mut results = Vec::new();
        // Vendor quirks: text lines joined, order questions kept out of the results.
        let mut observations = crate::quirks::observations::join_text(msg, group.observations, ctx);
        let questions = crate::quirks::observations::order_questions(msg, &mut observations, ctx);
        for (mut o, n) in observations {
            o.subject = patient.clone().map(Box::new);
            o.encounter = encounter.clone().map(Box::new);
            let r = out.add(
                o,
                observation_id,
                &[],
                Role::Record,
                ctx,
                &Location::segment("OBX", n),
            );
            if !questions.contains(&n) {
                results.push(r);
            }
        }
        match group.report {
            Some((mut d, n)) => {
                d.subject = patient.clone().map(Box::new);
                d.encounter = encounter.clone().map(Box::new);
                d.result = results;
                let identifiers = d.identifier.clone();
                focus.push(out.add(
                    d,
                    report_id,
                    &identifiers,
                    Role::Record,
                    ctx,
                    &Location::segment("OBR", n),
                ));
            }
            None => focus.extend(results),
        }
    }

    report_other_segments(msg, MAPPED, ctx);
    finish(msg, focus, ctx, out);
    Ok(())
}

fn observation_id(r: &mut Observation) -> &mut Option<String> {
    &mut r.id
}
fn report_id(r: &mut DiagnosticReport) -> &mut Option<String> {
    &mut r.id
}
