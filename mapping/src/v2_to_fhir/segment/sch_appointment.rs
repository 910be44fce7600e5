//! `SCH[Appointment]`: HL7 v2 SCH (schedule activity information) → FHIR Appointment.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-sch-to-appointment.html>
//! (SCH-11 through `TQ[Appointment]`:
//! <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-tq-to-appointment.html>).
//!
//! - SCH-1 / SCH-2 → `identifier` (types `PLAC` / `FILL`, system from the EI's authority).
//! - SCH-7 → `reasonCode` (the IG's `AppointmentReasonCodes` when the code is in it), or
//!   `appointmentType` when CWE.3 names table `HL70277`; SCH-8 → `appointmentType` (the IG's
//!   `AppointmentTypeCodes` when the code is in it).
//! - SCH-9 → `minutesDuration`, in the units of SCH-10 (`s`, `min`, `h`, `d`; minutes when
//!   absent); a duration that is not a whole positive number of minutes is reported.
//! - SCH-11 (`TQ[Appointment]`): TQ.4 → `start`, TQ.5 → `end` (FHIR instants: a value without
//!   an offset takes the profile's zone, else it is reported and left out). The message map
//!   prefers TQ1-7/TQ1-8 (the segment that replaced SCH-11 in v2.6; SCH-11 is kept only for
//!   backward compatibility from v2.7) and falls back to the first AIS start and duration.
//! - SCH-12 (placer contact), SCH-16 (filler contact), SCH-20 (entered by) → participants with a
//!   Practitioner actor. The IG's types for SCH-12/16 are unresolved placeholders
//!   (`#placer contact#`), so those participants carry the role as `type.text`; SCH-20 gets
//!   `enterer` from `provenance-participant-type` as the IG writes it.
//! - SCH-25 → `status` through `FillerStatusCodes[Appointment]`; the trigger event decides when
//!   it fixes the status (see [`status_for_event`]).
//! - SCH-26 / SCH-27 → `basedOn`, a logical reference (`Reference.identifier`) to the placer /
//!   filler order; the SIU map replaces it with the ServiceRequest of `SCH[ServiceRequest]`
//!   when the message has a patient.
//!
//! Every other field present is reported.

use chrono::{DateTime as ChronoDateTime, Duration};
use ehrkit_fhir_model::codes::{AppointmentStatus, ParticipationStatus};
use ehrkit_fhir_model::resources::{Appointment, AppointmentParticipant, Practitioner};
use ehrkit_fhir_model::{CodeableConcept, Coding, DateTime, Instant, Period, Primitive, Reference};
use ehrkit_hl7v2::datatypes::{Cwe, Ei, Text, Tq, Xcn};
use ehrkit_hl7v2::Segment;

use super::pid_patient::translate;
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, dtm, ei_identifier::ei_identifier, text,
    xcn_practitioner::xcn_practitioner, Context,
};
use crate::v2_to_fhir::vocab::generated::{
    APPOINTMENT_REASON_CODES, APPOINTMENT_TYPE_CODES, FILLER_STATUS_CODES_APPOINTMENT,
};
use crate::v2_to_fhir::vocab::{ConceptMap, Translation};
use crate::{DataProblem, Location, ProfileTranslation, ReportKind};

const FILE: &str = "segment/sch_appointment.rs";

/// Fields this map reads (the others are reported when present).
const MAPPED_FIELDS: &[usize] = &[1, 2, 7, 8, 9, 10, 11, 12, 16, 20, 25, 26, 27];

/// An Appointment and the actors its participants need (the message map adds them to the
/// Bundle and sets `participant[index].actor`).
#[derive(Debug, Clone, PartialEq)]
pub struct AppointmentParts {
    /// The Appointment (no id, no patient participant: the message map adds them).
    pub appointment: Appointment,
    /// (participant index, Practitioner, where it was read).
    pub practitioners: Vec<(usize, Practitioner, Location)>,
    /// SCH-25 was valued and mapped (the status came from the message, not the event).
    pub status_from_sch: bool,
}

/// The status a SIU trigger event gives an Appointment, and whether the event fixes it
/// (`true`: cancellation S15, discontinuation S16, deletion S17, no-show S26, unblock S24 —
/// the event says what happened, whatever SCH-25 says) or is only the default when SCH-25 is
/// absent (`false`: booking S12, rescheduling S13, modification S14, the service/resource
/// notifications S18–S22, a blocked slot S23).
pub fn status_for_event(event: &str) -> Option<(AppointmentStatus, bool)> {
    Some(match event {
        "S12" | "S13" | "S14" | "S18" | "S19" | "S20" | "S21" | "S22" | "S23" => {
            (AppointmentStatus::Booked, false)
        }
        "S15" | "S16" | "S24" => (AppointmentStatus::Cancelled, true),
        "S17" => (AppointmentStatus::EnteredInError, true),
        "S26" => (AppointmentStatus::Noshow, true),
        _ => return None,
    })
}

/// Converts the `occurrence`-th SCH of a message sent with trigger `event`.
pub fn sch_appointment(
    sch: &Segment<'_>,
    occurrence: usize,
    event: &str,
    ctx: &mut Context<'_>,
) -> AppointmentParts {
    let at = |field: usize| Location::segment("SCH", occurrence).field(field);
    let mut a = Appointment::default();
    for (f, ty) in [(1, "PLAC"), (2, "FILL")] {
        if let Some(ei) = sch.field(f).first::<Ei<'_>>() {
            if let Some(mut id) = ei_identifier(&ei, ctx, &at(f)) {
                id.type_ = Some(Box::new(v2_0203(ty)));
                a.identifier.push(id);
            }
        }
    }

    if let Some(cwe) = sch.field(7).first::<Cwe<'_>>() {
        let table = text(cwe.name_of_coding_system()).map(|s| s.to_ascii_uppercase());
        if table.as_deref() == Some("HL70277") {
            a.appointment_type =
                coded(&cwe, &APPOINTMENT_TYPE_CODES, true, ctx, &at(7)).map(Box::new);
        } else {
            let named = table.as_deref() == Some("HL70276");
            a.reason_code
                .extend(coded(&cwe, &APPOINTMENT_REASON_CODES, named, ctx, &at(7)));
        }
    }
    if let Some(cwe) = sch.field(8).first::<Cwe<'_>>() {
        let named =
            text(cwe.name_of_coding_system()).is_some_and(|s| s.eq_ignore_ascii_case("HL70277"));
        if a.appointment_type.is_none() {
            a.appointment_type =
                coded(&cwe, &APPOINTMENT_TYPE_CODES, named, ctx, &at(8)).map(Box::new);
        } else {
            ctx.report(ReportKind::UnmappedField, at(8));
        }
    }
    if let Some(n) = text(sch.field(9).first::<Text<'_>>()) {
        let units = sch
            .field(10)
            .first::<Cwe<'_>>()
            .and_then(|c| text(c.identifier()));
        match minutes(&n, units.as_deref()) {
            Some(m) => a.minutes_duration = Some(Primitive::new(m)),
            None => ctx.report(ReportKind::DataQuality(DataProblem::InvalidValue), at(9)),
        }
    }

    if let Some(tq) = sch.field(11).first::<Tq<'_>>() {
        let tq_at = at(11);
        a.start = read_instant(
            tq.start_date_time().and_then(|t| t.time()),
            ctx,
            tq_at.clone().component(4),
        )
        .map(Primitive::new);
        a.end = read_instant(
            tq.end_date_time().and_then(|t| t.time()),
            ctx,
            tq_at.clone().component(5),
        )
        .map(Primitive::new);
        for n in [1, 2, 3, 6, 7, 8, 9, 10, 11, 12] {
            if text(tq.component(n)).is_some() {
                ctx.report(ReportKind::UnmappedComponent, tq_at.clone().component(n));
            }
        }
    }

    let mut practitioners = Vec::new();
    for (f, role) in [
        (12, Role::Text("placer contact")),
        (16, Role::Text("filler contact")),
        (20, Role::Enterer),
    ] {
        for (r, xcn) in sch.field(f).repetitions::<Xcn<'_>>().enumerate() {
            let at_r = at(f).repetition(r + 1);
            if let Some(p) = xcn_practitioner(&xcn, ctx, &at_r) {
                let type_ = match role {
                    Role::Text(t) => CodeableConcept {
                        text: Some(Primitive::new(t.to_owned())),
                        ..Default::default()
                    },
                    Role::Enterer => CodeableConcept::from_coding(Coding::with_code(
                        "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "enterer",
                    )),
                };
                a.participant.push(AppointmentParticipant {
                    type_: vec![type_],
                    ..Default::default()
                });
                practitioners.push((a.participant.len() - 1, p, at_r));
            }
        }
    }

    let from_sch = sch
        .field(25)
        .first::<Cwe<'_>>()
        .and_then(|c| text(c.identifier()))
        .and_then(|code| translate(&FILLER_STATUS_CODES_APPOINTMENT, &code, ctx, &at(25)))
        .and_then(|c| AppointmentStatus::from_code(&c));
    let status_from_sch = from_sch.is_some();
    a.status = Some(Primitive::new(resolve_status(
        from_sch,
        event,
        ctx,
        &at(25),
    )));

    for (f, ty) in [(26, "PLAC"), (27, "FILL")] {
        for (r, ei) in sch.field(f).repetitions::<Ei<'_>>().enumerate() {
            if let Some(mut id) = ei_identifier(&ei, ctx, &at(f).repetition(r + 1)) {
                id.type_ = Some(Box::new(v2_0203(ty)));
                a.based_on.push(Reference {
                    type_: Some(Primitive::new("ServiceRequest".to_owned())),
                    identifier: Some(Box::new(id)),
                    ..Default::default()
                });
            }
        }
    }

    for f in 1..=sch.field_count() {
        let field = sch.field(f);
        if !MAPPED_FIELDS.contains(&f) && field.repetition_count() > 0 && !field.is_null() {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    AppointmentParts {
        appointment: a,
        practitioners,
        status_from_sch,
    }
}

/// The Appointment status from SCH-25 (`from_sch`) and the trigger event: a fixing event wins
/// (a contradicting SCH-25 is reported); otherwise SCH-25, else the event's default.
pub(crate) fn resolve_status(
    from_sch: Option<AppointmentStatus>,
    event: &str,
    ctx: &mut Context<'_>,
    at: &Location,
) -> AppointmentStatus {
    match (status_for_event(event), from_sch) {
        (Some((fixed, true)), Some(s)) => {
            if s != fixed {
                ctx.report(
                    ReportKind::DataQuality(DataProblem::InvalidValue),
                    at.clone(),
                );
            }
            fixed
        }
        (Some((fixed, true)), None) => fixed,
        (_, Some(s)) => s,
        (Some((default, false)), None) => default,
        (None, None) => AppointmentStatus::Booked,
    }
}

/// How an SCH contact participant is typed.
#[derive(Clone, Copy)]
enum Role {
    Text(&'static str),
    Enterer,
}

/// A CWE as a CodeableConcept, with the IG map's coding first when the code is in `map`
/// (reported as a vocabulary miss only when the CWE names the map's table: `named`).
fn coded(
    cwe: &Cwe<'_>,
    map: &ConceptMap,
    named: bool,
    ctx: &mut Context<'_>,
    at: &Location,
) -> Option<CodeableConcept> {
    let mut cc = cwe_codeable_concept(cwe, ctx, at);
    let code = text(cwe.identifier());
    let mapped = code
        .as_deref()
        .and_then(|c| match ctx.profile.translate(map, c) {
            ProfileTranslation::Override(o) => Some(Coding::with_code(&o.system, &o.code)),
            ProfileTranslation::Ig(Translation::Mapped(m)) => {
                let mut coding = Coding::with_code(m.system, m.code);
                coding.display =
                    (!m.display.is_empty()).then(|| Primitive::new(m.display.to_owned()));
                Some(coding)
            }
            _ => None,
        });
    match (mapped, &mut cc) {
        (Some(coding), Some(cc))
            if !cc
                .coding
                .iter()
                .any(|c| c.system == coding.system && c.code == coding.code) =>
        {
            cc.coding.insert(0, coding);
        }
        (Some(_), Some(_)) => {}
        (Some(coding), None) => cc = Some(CodeableConcept::from_coding(coding)),
        (None, _) if named && code.is_some() => {
            ctx.report(ReportKind::VocabularyMiss { map: map.name }, at.clone());
        }
        _ => {}
    }
    cc
}

/// A duration in `units` (`s`, `min`, `h`, `d`, case-insensitive; minutes when absent) as a
/// whole, positive number of minutes.
fn minutes(n: &str, units: Option<&str>) -> Option<std::num::NonZeroU32> {
    let seconds = duration_seconds(n, units)?;
    if seconds.rem_euclid(60) != 0 {
        return None;
    }
    u32::try_from(seconds / 60)
        .ok()
        .and_then(std::num::NonZeroU32::new)
}

/// `n` (a whole number) in `units` as seconds; `None` for anything else.
pub(crate) fn duration_seconds(n: &str, units: Option<&str>) -> Option<i64> {
    let n: i64 = n.trim().parse().ok().filter(|v: &i64| *v >= 0)?;
    let per = match units.map(|u| u.trim().to_ascii_lowercase()).as_deref() {
        None | Some("min" | "mn" | "minutes" | "minute") => 60,
        Some("s" | "sec" | "seconds" | "second") => 1,
        Some("h" | "hr" | "hour" | "hours") => 3600,
        Some("d" | "day" | "days") => 86_400,
        Some(_) => return None,
    };
    n.checked_mul(per)
}

/// Reads a DTM component as a FHIR `instant`, reporting what keeps it from being one at `at`.
pub(crate) fn read_instant(
    t: Option<Text<'_>>,
    ctx: &mut Context<'_>,
    at: Location,
) -> Option<Instant> {
    let t = t.filter(|t| !t.is_null() && !t.is_empty())?;
    let Ok(v) = t.dtm() else {
        ctx.report(ReportKind::DataQuality(DataProblem::InvalidDateTime), at);
        return None;
    };
    match dtm::instant(&v, ctx.profile.source_time_zone) {
        Ok(c) => {
            if let Some(p) = c.problem {
                ctx.report(ReportKind::DataQuality(p), at);
            }
            Some(c.value)
        }
        Err(p) => {
            ctx.report(ReportKind::DataQuality(p), at);
            None
        }
    }
}

/// `start` plus `seconds`, in `start`'s own offset; `None` when `start` has no time.
pub(crate) fn plus_seconds(start: &str, seconds: i64) -> Option<String> {
    let t = ChronoDateTime::parse_from_rfc3339(start).ok()?;
    let end = t.checked_add_signed(Duration::try_seconds(seconds)?)?;
    Some(end.format("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

/// A resource segment's period (AIS/AIG/AIL/AIP): `start` from its start field, `end` = start +
/// duration (in the units field; minutes when absent). A start offset (relative to a start the
/// segment does not give) is reported.
pub(crate) fn resource_period(
    seg: &Segment<'_>,
    at: impl Fn(usize) -> Location,
    [start_f, offset_f, duration_f, units_f]: [usize; 4],
    ctx: &mut Context<'_>,
) -> Option<Period> {
    let start = dtm::read_date_time(seg.field(start_f).first::<Text<'_>>(), ctx, at(start_f));
    if seg.field(offset_f).text().is_some() {
        ctx.report(ReportKind::UnmappedField, at(offset_f));
    }
    let end = match (&start, text(seg.field(duration_f).first::<Text<'_>>())) {
        (Some(s), Some(d)) => {
            let units = seg
                .field(units_f)
                .first::<Cwe<'_>>()
                .and_then(|c| text(c.identifier()));
            match duration_seconds(&d, units.as_deref()) {
                None => {
                    ctx.report(
                        ReportKind::DataQuality(DataProblem::InvalidValue),
                        at(duration_f),
                    );
                    None
                }
                // A start kept as a day (no zone: reported at the start) has no time to add to.
                Some(secs) => {
                    match plus_seconds(s.as_str(), secs).and_then(|e| DateTime::new(&e)) {
                        Some(end) => Some(end),
                        None => {
                            ctx.report(ReportKind::UnmappedField, at(duration_f));
                            None
                        }
                    }
                }
            }
        }
        (None, Some(_)) => {
            ctx.report(ReportKind::UnmappedField, at(duration_f));
            None
        }
        _ => None,
    };
    (start.is_some() || end.is_some()).then(|| Period {
        start: start.map(Primitive::new),
        end: end.map(Primitive::new),
        ..Default::default()
    })
}

/// A resource's filler status (table 0278) as a participant status: booked, started, complete
/// → `accepted`; pending, waitlist, overbook → `tentative`; cancelled, discontinued, deleted,
/// blocked, no-show → `declined`. `None` for another code (the caller reports it).
pub(crate) fn participation_status(code: &str) -> Option<ParticipationStatus> {
    Some(match code.to_ascii_lowercase().as_str() {
        "booked" | "started" | "complete" => ParticipationStatus::Accepted,
        "pending" | "waitlist" | "overbook" => ParticipationStatus::Tentative,
        "cancelled" | "discontinued" | "deleted" | "blocked" | "noshow" => {
            ParticipationStatus::Declined
        }
        _ => return None,
    })
}

/// The participant status when the resource segment gives none: `accepted` for an Appointment
/// that is booked or under way, `needs-action` otherwise.
pub(crate) fn default_participation(status: Option<&AppointmentStatus>) -> ParticipationStatus {
    match status {
        Some(
            AppointmentStatus::Booked
            | AppointmentStatus::Arrived
            | AppointmentStatus::CheckedIn
            | AppointmentStatus::Fulfilled,
        ) => ParticipationStatus::Accepted,
        _ => ParticipationStatus::NeedsAction,
    }
}

/// A table 0203 identifier type.
pub(crate) fn v2_0203(code: &str) -> CodeableConcept {
    CodeableConcept::from_coding(Coding::with_code(
        "http://terminology.hl7.org/CodeSystem/v2-0203",
        code,
    ))
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const PLACEHOLDER: &str = "the IG's assignment is an unresolved placeholder (#placer contact#, \
                           #filler contact#); the role is written as participant.type.text";

/// The spreadsheet rows of `SCH[Appointment]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("SCH-1", "identifier[1]"),
    mapped("SCH-2", "identifier[2]"),
    mapped("SCH-7", "reasonCode[1]"),
    mapped("SCH-7", "appointmentType[1]"),
    mapped("SCH-8", "appointmentType[1]"),
    mapped("SCH-9", "minutesDuration[1]"),
    mapped("SCH-11", "$this"),
    mapped("SCH-12", "participant[1].actor(Practitioner)"),
    unmapped("SCH-12", "participant[1].type.coding.code", PLACEHOLDER),
    unmapped("SCH-12", "participant[1].type.coding.system", PLACEHOLDER),
    mapped("SCH-16", "participant[2].actor(Practitioner)"),
    unmapped("SCH-16", "participant[2].type.coding.code", PLACEHOLDER),
    unmapped("SCH-16", "participant[2].type.coding.system", PLACEHOLDER),
    mapped("SCH-20", "participant[3].actor(Practitioner)"),
    mapped("SCH-20", "participant[3].type[1].coding.code"),
    mapped("SCH-20", "participant[3].type[1].coding.system"),
    mapped("SCH-25", "status"),
    mapped("SCH-26", "basedOn(ServiceRequest)"),
    mapped("SCH-27", "basedOn(ServiceRequest)"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_offsets() {
        assert_eq!(minutes("60", Some("s")).map(|m| m.get()), Some(1));
        assert_eq!(minutes("70", Some("Min")).map(|m| m.get()), Some(70));
        assert_eq!(minutes("2", Some("h")).map(|m| m.get()), Some(120));
        assert_eq!(minutes("45", None).map(|m| m.get()), Some(45));
        assert_eq!(minutes("90", Some("s")), None);
        assert_eq!(minutes("0", None), None);
        assert_eq!(minutes("5", Some("fortnight")), None);
        assert_eq!(
            plus_seconds("2021-09-24T09:30:00+02:15", 50 * 60).as_deref(),
            Some("2021-09-24T10:20:00+02:15")
        );
        assert_eq!(plus_seconds("2021-09-24", 60), None);
    }

    #[test]
    fn the_event_fixes_cancellations_and_defaults_bookings() {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let at = Location::segment("SCH", 1).field(25);
        use AppointmentStatus as S;
        assert_eq!(resolve_status(None, "S12", &mut ctx, &at), S::Booked);
        assert_eq!(
            resolve_status(Some(S::Pending), "S12", &mut ctx, &at),
            S::Pending
        );
        assert_eq!(
            resolve_status(Some(S::Cancelled), "S15", &mut ctx, &at),
            S::Cancelled
        );
        assert!(ctx.report.entries().is_empty());
        assert_eq!(
            resolve_status(Some(S::Booked), "S17", &mut ctx, &at),
            S::EnteredInError
        );
        assert_eq!(resolve_status(None, "S26", &mut ctx, &at), S::Noshow);
        assert_eq!(ctx.report.entries().len(), 1);
    }
}

/// The actor of a participant read from a resource segment (AIG, AIL, AIP), for the message map
/// to add to the Bundle.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Actor {
    /// A Practitioner (AIP-3).
    Practitioner(ehrkit_fhir_model::resources::Practitioner),
    /// A Location known by its identifier (AIG-3).
    Location(ehrkit_fhir_model::resources::Location),
    /// A place, one Location per level, coarsest first (AIL-3).
    Place(Vec<crate::v2_to_fhir::datatype::pl_location::Level>),
}

/// One participant of an Appointment read from a resource segment.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceParticipant {
    /// The participant (no actor reference yet; `status` set).
    pub participant: AppointmentParticipant,
    /// Its actor, when the segment names one.
    pub actor: Option<Actor>,
    /// The field the actor was read from.
    pub at: Location,
}

/// A resource segment's filler status (its `field`) as the participant's status, else the
/// default for the Appointment's status.
pub(crate) fn participant_status(
    seg: &Segment<'_>,
    field: usize,
    appointment: Option<&AppointmentStatus>,
    ctx: &mut Context<'_>,
    at: Location,
) -> ParticipationStatus {
    match seg
        .field(field)
        .first::<Cwe<'_>>()
        .and_then(|c| text(c.identifier()))
    {
        Some(code) => participation_status(&code).unwrap_or_else(|| {
            ctx.report(ReportKind::DataQuality(DataProblem::InvalidValue), at);
            default_participation(appointment)
        }),
        None => default_participation(appointment),
    }
}

/// Reports every valued field of `seg` not in `mapped`.
pub(crate) fn report_fields(
    seg: &Segment<'_>,
    mapped: &[usize],
    ctx: &mut Context<'_>,
    at: impl Fn(usize) -> Location,
) {
    for f in 1..=seg.field_count() {
        let field = seg.field(f);
        if !mapped.contains(&f) && field.repetition_count() > 0 && !field.is_null() {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
}
