//! `SIU_S12`: HL7 v2 SIU^S12–S24, S26 (scheduling information unsolicited) → FHIR Bundle.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-message-siu-s12-to-bundle.html>
//!
//! Every SIU event shares the S12 structure; the event sets the Appointment's status with SCH-25
//! ([`status_for_event`]): S12 new booking, S13 rescheduling, S14 modification, S18–S22 changes
//! to a service or resource and S23 (a blocked slot) are `booked` unless SCH-25 says otherwise;
//! S15 cancellation, S16 discontinuation and S24 (a slot opened again) are `cancelled`, S17
//! deletion `entered-in-error` and S26 no-show `noshow` whatever SCH-25 says (a contradicting
//! SCH-25 is reported). S25 is not an SIU event (it is the schedule query SQM/SQR) and is
//! refused as unsupported.
//!
//! Written: one Appointment (`SCH[Appointment]`), the Patient (`PID[Patient]`, also the first
//! participant: `PID[Appointment]`), the Encounter of PV1 (`PV1[Encounter]`), and per resource
//! group the participants of `AIG[Appointment]` (a Location by identifier), `AIL[Appointment]`
//! (the place's Locations) and `AIP[Appointment]` (a Practitioner); `AIS[Appointment]` gives
//! `serviceType`. IF SCH-26 OR SCH-27 IS VALUED (rows 2 and 5.2.1), the order the appointment
//! is booked for: `SCH[ServiceRequest]` (placer/filler identifiers, `active`, `order`) with the
//! first AIS through `AIS[ServiceRequest]` (AIS-3 identifier, AIS-4/7 occurrence), written
//! create-only (`POST` + `ifNoneExist`: the ordering system's record is never overwritten) and
//! `basedOn` it. `start`/`end`: TQ1-7/TQ1-8 (the segment that replaced SCH-11 in v2.6), else
//! SCH-11, else the first AIS with a start (AIS-4 plus AIS-7); SCH-11 overridden by TQ1 is
//! reported. The NTEs after SCH and after an AIS become `comment`, one per line
//! (the IG's `NTE[Appointment-Comment]` targets an R5 extension; R4 has `comment`). The
//! patient's OBXs become Observations (`OBX[Observation]`) and DG1s Conditions
//! (`DG1[Condition]`), as the IG's SIU_S12 rows 4.4 and 4.5 say. NTEs after AIG/AIL/AIP (no IG
//! target), PV2, and every other segment are reported.
//!
//! An SIU that names no participant at all (no PID, no SCH contact, no AIG/AIL/AIP actor) is
//! refused as missing its PID: FHIR's Appointment needs one.
//!
//! The same appointment (SCH-1/SCH-2) from the same sender gets the same id in every event, so
//! an S15 after an S12 updates the one Appointment.

use ehrkit_fhir_model::resources::{
    Appointment, AppointmentParticipant, Location as FhirLocation, Practitioner,
};
use ehrkit_fhir_model::{Instant, Primitive, Reference};
use ehrkit_hl7v2::datatypes::Text;
use ehrkit_hl7v2::{Message, Segment};

use super::dft_p03::{add_conditions, add_observation};
use super::{finish, patient_id, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out, Role};
use crate::v2_to_fhir::datatype::{text, Context};
use crate::v2_to_fhir::segment::{
    aig_appointment::aig_appointment,
    ail_appointment::ail_appointment,
    aip_appointment::aip_appointment,
    ais_appointment::{ais_appointment, ServiceParts},
    ais_service_request::ais_service_request,
    pid_patient::pid_patient,
    sch_appointment::{
        default_participation, read_instant, report_fields, sch_appointment, Actor,
        ResourceParticipant,
    },
    sch_service_request::sch_service_request,
};
use crate::{Location, ReportKind};

pub use crate::v2_to_fhir::segment::sch_appointment::status_for_event;

/// Segments this map reads (the others are reported).
const MAPPED: &[&str] = &[
    "MSH", "SCH", "TQ1", "NTE", "PID", "PV1", "RGS", "AIS", "AIG", "AIL", "AIP", "OBX", "DG1",
];

/// Where the last NTE's text goes.
#[derive(Clone, Copy, PartialEq)]
enum After {
    Comment,
    Nothing,
}

/// Converts an SIU^S12–S24/S26 message.
pub(crate) fn convert(
    msg: &Message<'_>,
    event: &str,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Result<(), ConvertError> {
    let sch = msg.segment("SCH", 1).ok_or(ConvertError::MissingSegment {
        segment: "SCH",
        at: Location::segment("SCH", 1),
    })?;
    let parts = sch_appointment(&sch, 1, event, ctx);
    let mut appointment = parts.appointment;
    let status = appointment.status.as_ref().and_then(|s| s.value.clone());

    let mut focus = Vec::new();
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
    if let Some(p) = &patient {
        appointment.participant.insert(
            0,
            AppointmentParticipant {
                actor: Some(Box::new(p.clone())),
                status: Some(Primitive::new(default_participation(status.as_ref()))),
                ..Default::default()
            },
        );
        focus.push(p.clone());
    }
    let shift = usize::from(patient.is_some());
    for (i, practitioner, at) in parts.practitioners {
        let r = add_practitioner(practitioner, ctx, out, &at);
        if let Some(p) = appointment.participant.get_mut(i + shift) {
            p.actor = Some(Box::new(r));
            p.status = Some(Primitive::new(default_participation(status.as_ref())));
        }
    }
    let encounter = super::first_visit(msg, &patient, ctx, out);
    focus.extend(encounter.clone());

    let mut comments: Vec<String> = Vec::new();
    let mut after = After::Nothing;
    let mut counts = super::Occurrences::default();
    let mut ais_period = None;
    let mut ais_status = None;
    let mut first_service: Option<ServiceParts> = None;
    for seg in msg.segments() {
        let name = seg.name();
        let n = counts.next(name);
        match name {
            "SCH" if n == 1 => after = After::Comment,
            "TQ1" if n == 1 => tq1_timing(&seg, ctx, &mut appointment),
            "NTE" => match after {
                After::Comment => comments.extend(nte_lines(&seg)),
                After::Nothing => {
                    ctx.report(ReportKind::UnmappedSegment, Location::segment("NTE", n))
                }
            },
            "AIS" => {
                after = After::Comment;
                let s = ais_appointment(&seg, n, ctx);
                if first_service.is_none() {
                    first_service = Some(s.clone());
                }
                appointment.service_type.extend(s.service_type);
                if ais_period.is_none() {
                    ais_period = s.period;
                }
                if ais_status.is_none() {
                    ais_status = s.status;
                }
            }
            "AIG" | "AIL" | "AIP" => {
                after = After::Nothing;
                let rp = match name {
                    "AIG" => aig_appointment(&seg, n, status.as_ref(), ctx),
                    "AIL" => ail_appointment(&seg, n, status.as_ref(), ctx),
                    _ => aip_appointment(&seg, n, status.as_ref(), ctx),
                };
                add_participant(rp, &mut appointment, ctx, out);
            }
            "OBX" => {
                after = After::Nothing;
                match &patient {
                    Some(p) => {
                        focus.push(add_observation(&seg, n, p, encounter.as_ref(), ctx, out))
                    }
                    None => ctx.report(ReportKind::UnmappedSegment, Location::segment("OBX", n)),
                }
            }
            "SCH" | "TQ1" | "PID" | "PV1" if n > 1 => {
                ctx.report(ReportKind::UnmappedSegment, Location::segment(name, n));
                after = After::Nothing;
            }
            "PID" | "PV1" | "RGS" | "MSH" => {}
            // A Z-segment (site-defined, allowed anywhere) does not end the SCH's or the AIS's
            // NTEs; it is reported as before.
            _ if name.starts_with('Z') => {}
            _ => after = After::Nothing,
        }
    }
    if let Some(p) = &patient {
        focus.extend(add_conditions(msg, p, encounter.as_ref(), ctx, out));
    } else {
        for n in 1..=msg.segments_named("DG1").count() {
            ctx.report(ReportKind::UnmappedSegment, Location::segment("DG1", n));
        }
    }
    if !parts.status_from_sch {
        if let Some(s) = ais_status {
            // AIS-10 stands in for an absent SCH-25, unless the event fixes the status.
            if !matches!(status_for_event(event), Some((_, true))) {
                appointment.status = Some(Primitive::new(s));
            }
        }
    }
    if appointment.start.is_none() && appointment.end.is_none() {
        if let Some(period) = ais_period {
            let instant = |v: Option<&Primitive<ehrkit_fhir_model::DateTime>>| {
                v.and_then(|p| p.value.as_ref())
                    .and_then(|d| Instant::new(d.as_str()))
                    .map(Primitive::new)
            };
            appointment.start = instant(period.start.as_ref());
            appointment.end = instant(period.end.as_ref());
        }
    }
    if !comments.is_empty() {
        appointment.comment = Some(Primitive::new(comments.join("\n")));
    }

    if appointment.participant.is_empty() {
        // FHIR requires a participant (1..*): with no patient and no resource named, there is
        // no Appointment to write.
        return Err(ConvertError::MissingSegment {
            segment: "PID",
            at: Location::segment("PID", 1),
        });
    }
    // IG SIU_S12 rows 2 and 5.2.1: IF SCH-26 OR SCH-27 IS VALUED, the order the appointment is
    // booked for (SCH[ServiceRequest], the first AIS through AIS[ServiceRequest]). It is the
    // ordering system's record: created when the server lacks it, never overwritten here. Its
    // subject is required: without a PID `basedOn` stays a logical reference.
    if let (Some(p), Some(mut sr)) = (&patient, sch_service_request(&appointment)) {
        // The key is the order's own number (SCH-26/27), never AIS-3: a service code is shared
        // by every order for that service.
        let identifiers = sr.identifier.clone();
        if let Some(service) = &first_service {
            ais_service_request(service, &mut sr);
        }
        sr.subject = Some(Box::new(p.clone()));
        let r = out.add(
            sr,
            service_request_id,
            &identifiers,
            Role::Shared,
            ctx,
            &Location::segment("SCH", 1),
        );
        appointment.based_on = vec![r];
    }
    let identifiers = appointment.identifier.clone();
    let r = out.add(
        appointment,
        appointment_id,
        &identifiers,
        Role::Record,
        ctx,
        &Location::segment("SCH", 1),
    );
    focus.insert(0, r);

    report_other_segments(msg, MAPPED, ctx);
    finish(msg, focus, ctx, out);
    Ok(())
}

/// TQ1-7 → `start`, TQ1-8 → `end`. TQ1 replaced SCH-11 in v2.6 (SCH-11 is kept only for
/// backward compatibility from v2.7): when both give times, TQ1's win and SCH-11 is reported as
/// not mapped. Other TQ1 fields are reported.
fn tq1_timing(tq1: &Segment<'_>, ctx: &mut Context<'_>, a: &mut Appointment) {
    let at = |f: usize| Location::segment("TQ1", 1).field(f);
    let start = read_instant(tq1.field(7).first::<Text<'_>>(), ctx, at(7));
    let end = read_instant(tq1.field(8).first::<Text<'_>>(), ctx, at(8));
    if start.is_some() || end.is_some() {
        if a.start.is_some() || a.end.is_some() {
            ctx.report(
                ReportKind::UnmappedField,
                Location::segment("SCH", 1).field(11),
            );
        }
        a.start = start.map(Primitive::new);
        a.end = end.map(Primitive::new);
    }
    report_fields(tq1, &[1, 7, 8], ctx, at);
}

/// The lines of an NTE's comment (NTE-3, one per repetition).
fn nte_lines(nte: &Segment<'_>) -> Vec<String> {
    nte.field(3)
        .repetitions::<Text<'_>>()
        .filter_map(|t| text(Some(t)))
        .collect()
}

/// Adds a resource segment's participant and its actor.
fn add_participant(
    rp: ResourceParticipant,
    appointment: &mut Appointment,
    ctx: &mut Context<'_>,
    out: &mut Out,
) {
    let mut participant = rp.participant;
    participant.actor = match rp.actor {
        Some(Actor::Practitioner(p)) => Some(add_practitioner(p, ctx, out, &rp.at)),
        Some(Actor::Location(l)) => {
            let identifiers = l.identifier.clone();
            Some(out.add(l, location_id, &identifiers, Role::Shared, ctx, &rp.at))
        }
        Some(Actor::Place(levels)) => {
            let mut parent: Option<Reference> = None;
            for level in levels {
                let mut location = level.location;
                location.part_of = parent.take().map(Box::new);
                parent = Some(out.add_keyed(location, location_id, &level.key, ctx, &rp.at));
            }
            parent
        }
        None => None,
    }
    .map(Box::new);
    if participant.actor.is_none() && participant.type_.is_empty() {
        // FHIR needs an actor or a type on each participant (app-1): nothing to write.
        ctx.report(
            ReportKind::DataQuality(crate::DataProblem::MissingRequired),
            rp.at,
        );
        return;
    }
    appointment.participant.push(participant);
}

fn add_practitioner(
    p: Practitioner,
    ctx: &mut Context<'_>,
    out: &mut Out,
    at: &Location,
) -> Reference {
    let identifiers = p.identifier.clone();
    out.add(p, practitioner_id, &identifiers, Role::Shared, ctx, at)
}

fn appointment_id(r: &mut Appointment) -> &mut Option<String> {
    &mut r.id
}
fn practitioner_id(r: &mut Practitioner) -> &mut Option<String> {
    &mut r.id
}
fn location_id(r: &mut FhirLocation) -> &mut Option<String> {
    &mut r.id
}

fn service_request_id(r: &mut ehrkit_fhir_model::resources::ServiceRequest) -> &mut Option<String> {
    &mut r.id
}
