//! `ADT_A01`: HL7 v2 ADT^A01 (admit/visit notification) → FHIR Bundle.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-message-adt-a01-to-bundle.html>
//!
//! The same map converts the ADT events that carry the same segments (a subset of ADT_A01's
//! structure) and resources:
//! - with an IG message map: A02 (`ADT_A02`), A05 (`ADT_A05`, also A14 and A28 by the v2
//!   structure table), A06 (`ADT_A06`, also A07), A11 (`ADT_A09`'s structure, IG map `ADT_A11`,
//!   also A12 and A13 by the v2 structure table);
//! - without one (A03, A04, A08, A31 use ADT_A01's or ADT_A05's structure): the ADT_A01 map.
//!
//! Encounter status, by the IG's rows: the maps `ADT_A01`, `ADT_A02`, `ADT_A05`, `ADT_A06` and
//! `ADT_A17` send PV1 to `PV1[Encounter]` and have no `MSH[Encounter]` row, so the status is
//! `finished` when PV1-45 is valued (row `PV1-45`), else PV1-2 through
//! `PatientClass[EncounterStatus]` (row `PV1-2`: `P` `planned`, `I`/`O`/`E`/... `in-progress`,
//! `U` `unknown`). Only `ADT_A11` (row 1, `MSH[Encounter]`: MSH-9 through
//! `Event[EncounterStatus]`) takes it from the event: A11 `cancelled`, and the other cancels
//! converted alike, A12 and A13 `in-progress` (see
//! [`pv1_encounter`](crate::v2_to_fhir::segment::pv1_encounter)). The merges (A39, A40, A47; no
//! IG map) are about the patient record: a PV1 they carry gives status `unknown`.
//!
//! Resources (IG rows): `MSH[MessageHeader]` (Bundle type `message` only), `EVN[Provenance]`
//! (target: the Patient and Encounter; agent EVN-5, else the sending facility MSH-4 as an
//! Organization, `MSH[Provenance-Operator]`), `PID[Patient]`, `NK1[RelatedPerson]` (when NK1-3.1
//! is not `EMR`, `E`, `F`, `I`, `S`: those go to `NK1[Patient]`, not written yet, the segment
//! reported), `PV1[Encounter]` + `PV2[Encounter]` with their `XCN[Practitioner]` participants and
//! `PL[Location]`s, `OBX[Observation]` (subject the Patient), `AL1[AllergyIntolerance]`,
//! `IAM[AllergyIntolerance]`, `DG1[Condition]` + `DG1[Encounter]` (`Encounter.diagnosis`),
//! `PR1[Procedure]`, `IN1[Coverage]` (payor and policy holder Organizations). Every other
//! segment present (PD1, ROL, DB1, GT1, IN2, IN3, ACC, UB1, …: no IG segment map or not written
//! yet) is reported as unmapped; Z-segments as Z-segments.
//!
//! `convert_group` (crate-internal) converts one patient group (a PID and the segments after it up to the
//! next PID); the A17 swap and the A39/A40/A47 maps reuse it per group.

use ehrkit_fhir_model::resources::{
    AllergyIntolerance, Condition, Coverage, Encounter, EncounterLocation, Observation,
    Organization, Patient, Practitioner, Procedure, Provenance, ProvenanceAgent, RelatedPerson,
};
use ehrkit_fhir_model::{Identifier, Primitive, Reference, Resource};
use ehrkit_hl7v2::datatypes::{Cwe, Hd, Text};
use ehrkit_hl7v2::{Message, Segment};

use super::{add_encounter, adt_a03, finish, patient_id, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out, Role};
use crate::v2_to_fhir::datatype::pl_location::Level;
use crate::v2_to_fhir::datatype::{hd_identifier::hd_identifier, text, Context};
use crate::v2_to_fhir::segment::{
    al1_allergy_intolerance::al1_allergy_intolerance,
    dg1_condition::{dg1_condition, DUE_TO},
    dg1_encounter::dg1_encounter,
    evn_provenance::{evn_provenance, read_instant},
    iam_allergy_intolerance::{iam_allergy_intolerance, Recorder},
    in1_coverage::{in1_coverage, Subscriber},
    nk1_related_person::nk1_related_person,
    obx_observation::obx_observation,
    patient_other_sources::{patient_other_sources, SEGMENTS as PATIENT_SOURCES},
    pid_patient::pid_patient,
    pr1_procedure::pr1_procedure_with_parent,
    pv1_encounter::pv1_encounter,
    pv2_encounter::pv2_encounter,
};
use crate::{DataProblem, Location, ReportKind};

/// NK1-3.1 codes the IG sends to `NK1[Patient]` (Patient.contact) instead of a RelatedPerson.
const CONTACT_ONLY: &[&str] = &["EMR", "E", "F", "I", "S"];

/// Segments the ADT maps convert (the others are reported).
pub(crate) const MAPPED: &[&str] = &[
    "MSH", "EVN", "PID", "NK1", "PV1", "PV2", "OBX", "AL1", "IAM", "DG1", "PR1", "IN1", "DB1",
    "GT1", "IN2", "CON",
];

/// Merge events (no IG message map), about the patient record rather than a visit: a PV1 they
/// carry gives status `unknown` without a report.
const RECORD_EVENTS: &[&str] = &["A39", "A40", "A47"];

/// Events converted with the IG map `ADT_A11`, whose row 1 (`MSH[Encounter]`) sets the status
/// from MSH-9 through `Event[EncounterStatus]`. Every other ADT map has no such row: its PV1
/// gives the status (`PV1[Encounter]` rows PV1-2 and PV1-45).
const STATUS_FROM_EVENT: &[&str] = &["A11", "A12", "A13"];

/// Converts a single-patient ADT message (A01–A08, A11–A14, A28, A31).
pub(crate) fn convert(
    msg: &Message<'_>,
    event: &str,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Result<(), ConvertError> {
    let groups = groups(msg);
    let Some(first) = groups.first() else {
        return Err(missing_pid());
    };
    let converted = convert_group(msg, first, event, PatientKey::Own, ctx, out);
    // One patient per message in these events: a PID after the first is reported.
    for g in groups.iter().skip(1) {
        ctx.report(ReportKind::UnmappedSegment, Location::segment("PID", g.pid));
        for (name, n) in &g.members {
            if MAPPED.contains(&name.as_str()) {
                ctx.report(ReportKind::UnmappedSegment, Location::segment(name, *n));
            }
        }
    }
    let mut focus = converted.focus();
    if event == adt_a03::EVENT {
        focus.extend(adt_a03::add_segments_without_ig_target(
            msg, first, &converted, ctx, out,
        ));
    }
    provenance(msg, event, &focus, ctx, out);
    if event == adt_a03::EVENT {
        report_other_segments(msg, &adt_a03::mapped(), ctx);
    } else {
        report_other_segments(msg, MAPPED, ctx);
    }
    finish(msg, focus, ctx, out);
    Ok(())
}

pub(crate) fn missing_pid() -> ConvertError {
    ConvertError::MissingSegment {
        segment: "PID",
        at: Location::segment("PID", 1),
    }
}

/// A patient group: the `pid`-th PID and the segments after it, before the next PID, by
/// (segment id, occurrence in the message).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// Occurrence of the group's PID.
    pub(crate) pid: usize,
    /// The segments of the group after the PID.
    pub(crate) members: Vec<(String, usize)>,
}

impl Group {
    /// Occurrences of segment `name` in this group.
    pub(crate) fn all(&self, name: &str) -> impl Iterator<Item = usize> + '_ {
        let name = name.to_owned();
        self.members
            .iter()
            .filter(move |(s, _)| *s == name)
            .map(|(_, n)| *n)
    }

    /// The first occurrence of segment `name` in this group.
    pub(crate) fn first(&self, name: &str) -> Option<usize> {
        self.all(name).next()
    }
}

/// The message's patient groups, in order.
pub(crate) fn groups(msg: &Message<'_>) -> Vec<Group> {
    let mut seen = super::Occurrences::default();
    let mut out: Vec<Group> = Vec::new();
    for seg in msg.segments() {
        let name = seg.name();
        let n = seen.next(name);
        if name == "PID" {
            out.push(Group {
                pid: n,
                members: Vec::new(),
            });
        } else if let Some(g) = out.last_mut() {
            g.members.push((name.to_owned(), n));
        }
    }
    out
}

/// How the group's Patient is keyed.
#[derive(Debug, Clone)]
pub(crate) enum PatientKey {
    /// By its own identifiers (PID-2/3/4/19/20).
    Own,
    /// By the identifiers it had before (A47 MRG-1): the record keeps its id and a transaction
    /// updates it where it is (`PUT Patient?identifier=<old>`); the prior identifiers stay on
    /// it with `use` `old`.
    Prior(Vec<Identifier>),
}

/// What a group produced.
#[derive(Debug, Clone)]
pub(crate) struct Converted {
    /// The Patient.
    pub(crate) patient: Reference,
    /// The Encounter, when the group has a PV1.
    pub(crate) encounter: Option<Reference>,
}

impl Converted {
    /// The Patient, then the Encounter.
    pub(crate) fn focus(&self) -> Vec<Reference> {
        std::iter::once(self.patient.clone())
            .chain(self.encounter.clone())
            .collect()
    }
}

/// Converts one patient group: PID, NK1, PV1, PV2, OBX, AL1, IAM, DG1, PR1, IN1.
pub(crate) fn convert_group(
    msg: &Message<'_>,
    group: &Group,
    event: &str,
    key: PatientKey,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Converted {
    let segment = |name: &str, n: usize| -> Option<Segment<'_>> { msg.segment(name, n) };
    let pid_at = Location::segment("PID", group.pid);
    let mut patient = segment("PID", group.pid)
        .map(|pid| pid_patient(&pid, group.pid, ctx))
        .unwrap_or_default();
    let key_identifiers = match key {
        PatientKey::Own => patient.identifier.clone(),
        PatientKey::Prior(prior) => {
            for mut id in prior.iter().cloned() {
                if !patient
                    .identifier
                    .iter()
                    .any(|i| i.system == id.system && i.value == id.value)
                {
                    id.use_ = Some(Primitive::new(ehrkit_fhir_model::codes::IdentifierUse::Old));
                    patient.identifier.push(id);
                }
            }
            prior
        }
    };
    // The Patient data in DB1, GT1, IN2 and CON (no IG target; Microsoft's outputs), for every
    // event so that the Patient is the same whichever event brought it.
    let members = group
        .members
        .iter()
        .filter(|(name, _)| name == "IN1" || PATIENT_SOURCES.contains(&name.as_str()))
        .filter_map(|(name, n)| Some((segment(name, *n)?, *n)));
    patient_other_sources(members, &mut patient, ctx);
    let patient_ref = out.add(
        patient,
        patient_id,
        &key_identifiers,
        Role::Record,
        ctx,
        &pid_at,
    );

    for n in group.all("NK1") {
        let Some(nk1) = segment("NK1", n) else {
            continue;
        };
        let at = Location::segment("NK1", n);
        let relationship = nk1
            .field(3)
            .first::<Cwe<'_>>()
            .and_then(|c| text(c.identifier()));
        if relationship
            .as_deref()
            .is_some_and(|r| CONTACT_ONLY.contains(&r))
        {
            ctx.report(ReportKind::UnmappedSegment, at);
            continue;
        }
        let mut rp = nk1_related_person(&nk1, n, ctx);
        rp.patient = Some(Box::new(patient_ref.clone()));
        let identifiers = rp.identifier.clone();
        out.add(rp, related_person_id, &identifiers, Role::Record, ctx, &at);
    }

    let status_event = STATUS_FROM_EVENT.contains(&event).then_some(event);
    let record_event = RECORD_EVENTS.contains(&event);
    let mut encounter_ref = None;
    if let Some(pv1_n) = group.first("PV1") {
        if let Some(pv1) = segment("PV1", pv1_n) {
            let mut parts = pv1_encounter(&pv1, pv1_n, status_event, ctx);
            if record_event
                && parts
                    .encounter
                    .period
                    .as_ref()
                    .is_none_or(|p| p.end.is_none())
            {
                // A merge (no IG map) says nothing about the visit: the status stays
                // `unknown` rather than PV1-2's.
                parts.encounter.status = Some(Primitive::new(
                    ehrkit_fhir_model::codes::EncounterStatus::Unknown,
                ));
            }
            let mut planned: Vec<Level> = Vec::new();
            let mut pv2_n = None;
            if let Some(n) = group.first("PV2") {
                if let Some(pv2) = segment("PV2", n) {
                    let more = pv2_encounter(&pv2, n, &mut parts.encounter, ctx);
                    parts.practitioners.extend(more.practitioners);
                    planned = more.planned_location;
                    pv2_n = Some(n);
                }
            }
            let r = add_encounter(parts, pv1_n, &patient_ref, ctx, out);
            if let Some(n) = pv2_n {
                if let Some(finest) =
                    add_levels(planned, &Location::segment("PV2", n).field(1), ctx, out)
                {
                    if let Some(e) = encounter_mut(out, &r) {
                        e.location.push(EncounterLocation {
                            location: Some(Box::new(finest)),
                            status: Some(Primitive::new(
                                ehrkit_fhir_model::codes::EncounterLocationStatus::Planned,
                            )),
                            ..Default::default()
                        });
                    }
                }
            }
            encounter_ref = Some(r);
        }
        for extra in group.all("PV1").skip(1) {
            ctx.report(ReportKind::UnmappedSegment, Location::segment("PV1", extra));
        }
    }
    for extra in group
        .all("PV2")
        .skip(if encounter_ref.is_some() { 1 } else { 0 })
    {
        ctx.report(ReportKind::UnmappedSegment, Location::segment("PV2", extra));
    }

    let subject = Some(Box::new(patient_ref.clone()));
    let encounter = encounter_ref.clone().map(Box::new);

    for n in group.all("OBX") {
        let Some(obx) = segment("OBX", n) else {
            continue;
        };
        let mut o = obx_observation(&obx, n, ctx);
        o.subject = subject.clone();
        o.encounter = encounter.clone();
        let identifiers = o.identifier.clone();
        out.add(
            o,
            observation_id,
            &identifiers,
            Role::Record,
            ctx,
            &Location::segment("OBX", n),
        );
    }

    for n in group.all("AL1") {
        let Some(al1) = segment("AL1", n) else {
            continue;
        };
        let mut a = al1_allergy_intolerance(&al1, n, ctx);
        a.patient = subject.clone();
        out.add(
            a,
            allergy_id,
            &[],
            Role::Record,
            ctx,
            &Location::segment("AL1", n),
        );
    }

    for n in group.all("IAM") {
        let Some(iam) = segment("IAM", n) else {
            continue;
        };
        let at = Location::segment("IAM", n);
        let parts = iam_allergy_intolerance(&iam, n, ctx);
        let mut a = parts.allergy;
        a.patient = subject.clone();
        a.recorder = match parts.recorder {
            None => None,
            Some(Recorder::Patient) => Some(Box::new(patient_ref.clone())),
            Some(Recorder::Practitioner(p)) => {
                let ids = p.identifier.clone();
                Some(Box::new(out.add(
                    p,
                    practitioner_id,
                    &ids,
                    Role::Shared,
                    ctx,
                    &at.clone().field(14),
                )))
            }
            Some(Recorder::RelatedPerson(mut rp)) => {
                rp.patient = subject.clone();
                Some(Box::new(out.add(
                    rp,
                    related_person_id,
                    &[],
                    Role::Record,
                    ctx,
                    &at.clone().field(14),
                )))
            }
        };
        let identifiers = a.identifier.clone();
        out.add(a, allergy_id, &identifiers, Role::Record, ctx, &at);
    }

    let mut conditions: Vec<(Vec<Identifier>, Reference)> = Vec::new();
    let mut due_to: Vec<(Reference, Identifier, Location)> = Vec::new();
    for n in group.all("DG1") {
        let Some(dg1) = segment("DG1", n) else {
            continue;
        };
        let at = Location::segment("DG1", n);
        // DG1-6/15 go to Encounter.diagnosis when there is an Encounter; DG1-22 is resolved
        // below.
        let encounter_fields: &[usize] = if encounter_ref.is_some() {
            &[6, 15, 22]
        } else {
            &[22]
        };
        let parts = dg1_condition(&dg1, n, encounter_fields, ctx);
        let mut c = parts.condition;
        c.subject = subject.clone();
        c.encounter = encounter.clone();
        if let Some((p, p_at)) = parts.asserter {
            let ids = p.identifier.clone();
            c.asserter = Some(Box::new(out.add(
                p,
                practitioner_id,
                &ids,
                Role::Shared,
                ctx,
                &p_at,
            )));
        }
        let identifiers = c.identifier.clone();
        let condition = out.add(c, condition_id, &identifiers, Role::Record, ctx, &at);
        conditions.push((identifiers, condition.clone()));
        if let Some(parent) = parts.due_to {
            due_to.push((condition.clone(), parent, at.clone().field(22)));
        }
        if let Some(e_ref) = &encounter_ref {
            let diagnosis = dg1_encounter(&dg1, n, condition, ctx);
            if let Some(e) = encounter_mut(out, e_ref) {
                e.diagnosis.push(diagnosis);
            }
        }
    }

    for (child, parent, at) in due_to {
        let stub = || Condition {
            identifier: vec![parent.clone()],
            subject: subject.clone(),
            ..Default::default()
        };
        let Some(r) = parent_reference(&conditions, &parent, stub, condition_id, ctx, out, &at)
        else {
            continue;
        };
        if let Some(c) = condition_mut(out, &child) {
            c.extension.push(ehrkit_fhir_model::Extension {
                url: Some(DUE_TO.to_owned()),
                value: Some(ehrkit_fhir_model::ExtensionValue::Reference(Box::new(r))),
                ..Default::default()
            });
        }
    }

    let mut procedures: Vec<(Vec<Identifier>, Reference)> = Vec::new();
    let mut part_of: Vec<(Reference, Identifier, Location)> = Vec::new();
    for n in group.all("PR1") {
        let Some(pr1) = segment("PR1", n) else {
            continue;
        };
        let at = Location::segment("PR1", n);
        let parts = pr1_procedure_with_parent(&pr1, n, ctx);
        let mut p = parts.procedure;
        p.subject = subject.clone();
        p.encounter = encounter.clone();
        for (i, (practitioner, p_at)) in parts.performers.into_iter().enumerate() {
            let ids = practitioner.identifier.clone();
            let r = out.add(
                practitioner,
                practitioner_id,
                &ids,
                Role::Shared,
                ctx,
                &p_at,
            );
            if let Some(performer) = p.performer.get_mut(i) {
                performer.actor = Some(Box::new(r));
            }
        }
        p.location = add_levels(parts.location, &at.clone().field(23), ctx, out).map(Box::new);
        let identifiers = p.identifier.clone();
        let procedure = out.add(p, procedure_id, &identifiers, Role::Record, ctx, &at);
        procedures.push((identifiers, procedure.clone()));
        if let Some(parent) = parts.part_of {
            part_of.push((procedure, parent, at.clone().field(25)));
        }
    }
    for (child, parent, at) in part_of {
        let stub = || Procedure {
            identifier: vec![parent.clone()],
            status: Some(Primitive::new(
                ehrkit_fhir_model::codes::EventStatus::Unknown,
            )),
            subject: subject.clone(),
            ..Default::default()
        };
        let Some(r) = parent_reference(&procedures, &parent, stub, procedure_id, ctx, out, &at)
        else {
            continue;
        };
        if let Some(p) = procedure_mut(out, &child) {
            p.part_of.push(r);
        }
    }

    for n in group.all("IN1") {
        let Some(in1) = segment("IN1", n) else {
            continue;
        };
        let at = Location::segment("IN1", n);
        let parts = in1_coverage(&in1, n, ctx);
        let Some(payor) = parts.payor else {
            ctx.report(
                ReportKind::DataQuality(DataProblem::MissingRequired),
                at.clone().field(4),
            );
            continue;
        };
        let mut c = parts.coverage;
        c.beneficiary = subject.clone();
        let ids = payor.identifier.clone();
        c.payor.push(out.add(
            payor,
            organization_id,
            &ids,
            Role::Shared,
            ctx,
            &at.clone().field(4),
        ));
        if let Some(holder) = parts.policy_holder {
            let ids = holder.identifier.clone();
            c.policy_holder = Some(Box::new(out.add(
                holder,
                organization_id,
                &ids,
                Role::Shared,
                ctx,
                &at.clone().field(11),
            )));
        }
        c.subscriber = match parts.subscriber {
            None => None,
            Some(Subscriber::Patient) => Some(Box::new(patient_ref.clone())),
            Some(Subscriber::RelatedPerson(mut rp)) => {
                rp.patient = subject.clone();
                Some(Box::new(out.add(
                    *rp,
                    related_person_id,
                    &[],
                    Role::Record,
                    ctx,
                    &at.clone().field(16),
                )))
            }
        };
        out.add(c, coverage_id, &[], Role::Record, ctx, &at);
    }

    Converted {
        patient: patient_ref,
        encounter: encounter_ref,
    }
}

/// The reference for a parent resource named by its identifier (DG1-22, PR1-25, an
/// `EI[Condition]` / `EI[Procedure]`): the resource of this message with that identifier, else
/// a resource carrying only the identifier (`stub`), added as shared reference data so a server
/// creates it when it lacks it and never overwrites the one it has. An identifier without a
/// system cannot be searched that way (`identifier=value` matches any system): its stub is keyed
/// by the sender and the value and written by id (`PUT Type/id`, the same id in every message of
/// that sender). An identifier without a value is reported at `at` and gives no reference.
#[allow(clippy::too_many_arguments)]
fn parent_reference<R: ehrkit_fhir_model::TypedResource + PartialEq>(
    known: &[(Vec<Identifier>, Reference)],
    parent: &Identifier,
    stub: impl FnOnce() -> R,
    id_of: fn(&mut R) -> &mut Option<String>,
    ctx: &mut Context<'_>,
    out: &mut Out,
    at: &Location,
) -> Option<Reference> {
    let same = |i: &Identifier| i.system == parent.system && i.value == parent.value;
    if let Some((_, r)) = known.iter().find(|(ids, _)| ids.iter().any(same)) {
        return Some(r.clone());
    }
    if parent.system.is_none() {
        let Some(value) = parent.value.as_ref().and_then(|v| v.value.as_deref()) else {
            ctx.report(ReportKind::UnmappedField, at.clone());
            return None;
        };
        let key = format!("parent-without-system:{}:{value}", R::TYPE_NAME);
        return Some(out.add_keyed(stub(), id_of, &key, ctx, at));
    }
    Some(out.add(
        stub(),
        id_of,
        std::slice::from_ref(parent),
        Role::Shared,
        ctx,
        at,
    ))
}

/// `EVN[Provenance]` for the message, its target `focus`. Left out (and reported) when FHIR's
/// required `recorded` (EVN-2, else MSH-7) or agent (EVN-5, else MSH-4) cannot be written.
pub(crate) fn provenance(
    msg: &Message<'_>,
    event: &str,
    focus: &[Reference],
    ctx: &mut Context<'_>,
    out: &mut Out,
) {
    let Some(evn) = msg.segment("EVN", 1) else {
        return;
    };
    let (code, _) = msg.message_type();
    let code: String = code
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let parts = evn_provenance(&evn, 1, &format!("{code}^{event}"), ctx);
    let mut p: Provenance = parts.provenance;
    if p.recorded.is_none() {
        // MSH-7's problems are reported by MSH[Bundle]: read it quietly here.
        let mut quiet = Context::new(ctx.profile);
        p.recorded = msg.segment("MSH", 1).and_then(|msh| {
            read_instant(
                msh.field(7).first::<Text<'_>>(),
                &mut quiet,
                &Location::segment("MSH", 1).field(7),
            )
        });
    }
    if p.recorded.is_none() {
        ctx.report(
            ReportKind::DataQuality(DataProblem::MissingRequired),
            Location::segment("EVN", 1).field(2),
        );
        ctx.report(ReportKind::UnmappedSegment, Location::segment("EVN", 1));
        return;
    }
    let who = match parts.operator {
        Some((practitioner, at)) => {
            let ids = practitioner.identifier.clone();
            Some(out.add(practitioner, practitioner_id, &ids, Role::Shared, ctx, &at))
        }
        None => sending_facility(msg, ctx, out),
    };
    let Some(who) = who else {
        ctx.report(
            ReportKind::DataQuality(DataProblem::MissingRequired),
            Location::segment("EVN", 1).field(5),
        );
        ctx.report(ReportKind::UnmappedSegment, Location::segment("EVN", 1));
        return;
    };
    p.agent.push(ProvenanceAgent {
        who: Some(Box::new(who)),
        ..Default::default()
    });
    if let Some((location, key)) = parts.location {
        p.location = Some(Box::new(out.add_keyed(
            location,
            location_id,
            &key,
            ctx,
            &Location::segment("EVN", 1).field(7),
        )));
    }
    p.target = focus.to_vec();
    out.add(
        p,
        provenance_id,
        &[],
        Role::Record,
        ctx,
        &Location::segment("EVN", 1),
    );
}

/// `MSH[Provenance-Operator]`: the sending facility (MSH-4) as an Organization.
fn sending_facility(msg: &Message<'_>, ctx: &mut Context<'_>, out: &mut Out) -> Option<Reference> {
    let msh = msg.segment("MSH", 1)?;
    let hd = msh.field(4).first::<Hd<'_>>()?;
    let identifier = hd_identifier(&hd, ctx);
    if identifier.is_empty() {
        return None;
    }
    let org = Organization {
        name: text(hd.namespace_id()).map(Primitive::new),
        identifier,
        ..Default::default()
    };
    let raw = String::from_utf8_lossy(hd.raw()).into_owned();
    Some(out.add_keyed(
        org,
        organization_id,
        &format!("msh-4:{}:{raw}", raw.len()),
        ctx,
        &Location::segment("MSH", 1).field(4),
    ))
}

/// Adds `PL[Location]` levels (coarsest first) chained by `partOf`; the finest, if any.
pub(crate) fn add_levels(
    levels: Vec<Level>,
    at: &Location,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Option<Reference> {
    let mut parent: Option<Reference> = None;
    for level in levels {
        let mut location = level.location;
        location.part_of = parent.take().map(Box::new);
        parent = Some(out.add_keyed(location, location_id, &level.key, ctx, at));
    }
    parent
}

/// The id a Bundle reference points at (`urn:uuid:<id>` or `Type/<id>`).
pub(crate) fn referenced_id(r: &Reference) -> Option<&str> {
    let s = r.reference.as_ref()?.value.as_deref()?;
    Some(s.rsplit(['/', ':']).next().unwrap_or(s))
}

/// The Encounter entry `r` points at, to add what later segments (DG1, PV2-1) give it.
pub(crate) fn encounter_mut<'o>(out: &'o mut Out, r: &Reference) -> Option<&'o mut Encounter> {
    let id = referenced_id(r)?.to_owned();
    out.entries
        .iter_mut()
        .rev()
        .find_map(|e| match e.resource.as_deref_mut() {
            Some(Resource::Encounter(enc)) if enc.id.as_deref() == Some(id.as_str()) => {
                Some(&mut **enc)
            }
            _ => None,
        })
}

/// The Condition entry `r` points at (DG1-22 is resolved after every DG1 is added).
fn condition_mut<'o>(out: &'o mut Out, r: &Reference) -> Option<&'o mut Condition> {
    let id = referenced_id(r)?.to_owned();
    out.entries
        .iter_mut()
        .rev()
        .find_map(|e| match e.resource.as_deref_mut() {
            Some(Resource::Condition(c)) if c.id.as_deref() == Some(id.as_str()) => Some(&mut **c),
            _ => None,
        })
}

/// The Procedure entry `r` points at (PR1-25 is resolved after every PR1 is added).
fn procedure_mut<'o>(out: &'o mut Out, r: &Reference) -> Option<&'o mut Procedure> {
    let id = referenced_id(r)?.to_owned();
    out.entries
        .iter_mut()
        .rev()
        .find_map(|e| match e.resource.as_deref_mut() {
            Some(Resource::Procedure(p)) if p.id.as_deref() == Some(id.as_str()) => Some(&mut **p),
            _ => None,
        })
}

/// The Patient entry `r` points at (a merge links the survivor after the merged one exists).
pub(crate) fn patient_mut<'o>(out: &'o mut Out, r: &Reference) -> Option<&'o mut Patient> {
    let id = referenced_id(r)?.to_owned();
    out.entries
        .iter_mut()
        .rev()
        .find_map(|e| match e.resource.as_deref_mut() {
            Some(Resource::Patient(p)) if p.id.as_deref() == Some(id.as_str()) => Some(&mut **p),
            _ => None,
        })
}

fn related_person_id(r: &mut RelatedPerson) -> &mut Option<String> {
    &mut r.id
}
fn practitioner_id(r: &mut Practitioner) -> &mut Option<String> {
    &mut r.id
}
fn observation_id(r: &mut Observation) -> &mut Option<String> {
    &mut r.id
}
fn allergy_id(r: &mut AllergyIntolerance) -> &mut Option<String> {
    &mut r.id
}
fn condition_id(r: &mut Condition) -> &mut Option<String> {
    &mut r.id
}
fn procedure_id(r: &mut Procedure) -> &mut Option<String> {
    &mut r.id
}
fn coverage_id(r: &mut Coverage) -> &mut Option<String> {
    &mut r.id
}
fn organization_id(r: &mut Organization) -> &mut Option<String> {
    &mut r.id
}
fn provenance_id(r: &mut Provenance) -> &mut Option<String> {
    &mut r.id
}
fn location_id(r: &mut ehrkit_fhir_model::resources::Location) -> &mut Option<String> {
    &mut r.id
}
