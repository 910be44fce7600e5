//! `ORM_O01`: HL7 v2 ORM^O01 (general order) → FHIR Bundle.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-message-orm-o01-to-bundle.html>
//!
//! Written: `PID[Patient]`, `PV1[Encounter]`, and per ORDER group (an ORC and its order detail)
//! one request: with an OBR (or the ORC alone) a `ServiceRequest` (`ORC[ServiceRequest]`, then
//! `OBR[ServiceRequest]`, `TQ1[ServiceRequest]`, `NTE[ServiceRequest]` as notes), its OBXs as
//! Observations in `supportingInfo` (`OBX[Observation]`, NTEs after an OBX as their notes);
//! with an RXO a `MedicationRequest` (`ORC[MedicationRequest]`, `RXO[MedicationRequest]`,
//! `RXR[MedicationRequest]`, `TQ1[MedicationRequest]`) and its `Medication`. Requesters
//! (ORC-12, else OBR-16 / RXO-14) are Practitioners. Every request has the Patient as
//! `subject` and the Encounter as `encounter`. An order's DG1s are Conditions in its
//! `reasonReference` (`DG1[Condition]`), the patient's AL1s AllergyIntolerances
//! (`AL1[AllergyIntolerance]`). Other segments (IN1, PV2, …) and Z-segments are reported.
//!
//! The ORDER-group walk here (`walk`) is shared by ORU_R01 and OML_O21.

use ehrkit_fhir_model::codes::MedicationRequestIntent;
use ehrkit_fhir_model::resources::{
    AllergyIntolerance, Condition, Medication, MedicationRequest, MedicationRequestMedication,
    Observation, Patient, Practitioner, ServiceRequest, Specimen,
};
use ehrkit_fhir_model::{Extension, ExtensionValue, Primitive, Reference};
use ehrkit_hl7v2::{Message, Segment};

use super::{finish, patient_id, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out, Role};
use crate::v2_to_fhir::datatype::Context;
use crate::v2_to_fhir::segment::{
    al1_allergy_intolerance::al1_allergy_intolerance,
    dg1_condition::dg1_condition,
    nte_observation::nte_observation,
    nte_service_request::nte_service_request,
    obr_service_request::obr_service_request,
    obr_specimen,
    obx_observation::{data_absent, obx_observation},
    orc_medication_request::{orc_medication_request, MedicationParts},
    orc_service_request::{orc_service_request, report_unmapped_fields, OrderParts},
    patient_other_sources::{first_patient_segments, patient_other_sources},
    pid_patient::pid_patient,
    rxe_medication_request::rxe_medication_request,
    rxo_medication_request::rxo_medication_request,
    rxr_medication_request::rxr_medication_request,
    spm_specimen::spm_specimen,
    tq1_medication_request::tq1_medication_request,
    tq1_service_request::tq1_service_request,
};
use crate::{Location, ReportKind};

/// Segments this map converts (the others are reported).
const MAPPED: &[&str] = &[
    "MSH", "PID", "PV1", "ORC", "OBR", "TQ1", "NTE", "OBX", "RXO", "RXR", "SPM", "AL1", "DG1",
    "DB1", "GT1", "IN2", "CON",
];

/// A segment and its occurrence among the message's segments of the same id.
pub(crate) type Seg<'m> = (Segment<'m>, usize);

/// An OBX and the NTEs after it.
pub(crate) struct Obs<'m> {
    pub(crate) obx: Seg<'m>,
    pub(crate) notes: Vec<Seg<'m>>,
    /// The occurrence of the PID it follows (0: none before it).
    pub(crate) patient: usize,
}

/// An SPM and the OBXs after it (specimen observations).
pub(crate) struct Spec<'m> {
    pub(crate) spm: Seg<'m>,
    pub(crate) observations: Vec<Obs<'m>>,
}

/// One order group: an ORC and/or an OBR (or a pharmacy segment), its timing, notes,
/// observations and specimens.
#[derive(Default)]
pub(crate) struct Group<'m> {
    pub(crate) orc: Option<Seg<'m>>,
    pub(crate) obr: Option<Seg<'m>>,
    /// RXO, RXE, RXR, in order.
    pub(crate) rx: Vec<Seg<'m>>,
    pub(crate) tq1: Vec<Seg<'m>>,
    /// NTEs after the ORC, OBR, TQ1 or pharmacy segments (before any OBX).
    pub(crate) notes: Vec<Seg<'m>>,
    pub(crate) observations: Vec<Obs<'m>>,
    pub(crate) specimens: Vec<Spec<'m>>,
    /// ORU's ORDER_DOCUMENT (v2.7+): the OBXs after the ORC and before its OBR that a TXA
    /// closes (IG `ORU_R01` row 4.2.1.3.1: no target; the message map reports them).
    pub(crate) document: Vec<Obs<'m>>,
    /// The occurrence of the PID the group follows (0: none before it). ORU_R01 repeats its
    /// PATIENT_RESULT group: a group after the second PID is the second patient's.
    pub(crate) patient: usize,
}

impl Group<'_> {
    fn has_detail(&self) -> bool {
        self.obr.is_some()
            || self
                .rx
                .iter()
                .any(|(s, _)| matches!(s.name(), "RXO" | "RXE"))
            || !self.observations.is_empty()
            || !self.specimens.is_empty()
    }
}

/// The Specimen an OBR describes (`OBR[Specimen]`), its collector (OBR-10) added as a
/// Practitioner, `subject` the Patient; `None` when the OBR says nothing about a specimen.
pub(crate) fn add_obr_specimen(
    obr: &Segment<'_>,
    n: usize,
    patient: Option<&Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Option<Reference> {
    let specimen = obr_specimen::obr_specimen(obr, n, ctx);
    let collector = obr_specimen::obr_collector(obr, n, ctx);
    if specimen.is_none() && collector.is_none() {
        return None;
    }
    let mut s = specimen.unwrap_or_default();
    if let Some((p, at)) = collector {
        let r = out.add_own(
            p,
            practitioner_id,
            |p| &p.identifier,
            Role::Shared,
            ctx,
            &at,
        );
        s.collection.get_or_insert_with(Default::default).collector = Some(Box::new(r));
    }
    s.subject = patient.cloned().map(Box::new);
    let at = Location::segment("OBR", n);
    Some(out.add(s, specimen_id, &[], Role::Record, ctx, &at))
}

/// Reports the OBXs (and their NTEs) of a group's ORDER_DOCUMENT: no IG target.
pub(crate) fn report_document(g: &Group<'_>, ctx: &mut Context<'_>) {
    for o in &g.document {
        for (s, n) in std::iter::once(&o.obx).chain(&o.notes) {
            ctx.report(ReportKind::UnmappedSegment, Location::segment(s.name(), *n));
        }
    }
}

/// The order groups of a message, the OBXs before any order, and the segments of the walk
/// that belong nowhere (an NTE after the patient, a TQ1 before any ORC: reported).
#[derive(Default)]
pub(crate) struct Walk<'m> {
    pub(crate) groups: Vec<Group<'m>>,
    pub(crate) loose: Vec<Obs<'m>>,
    pub(crate) stray: Vec<Seg<'m>>,
    /// DG1s by the index of their order group (ORM_O01, OML_O21: the request's reasons).
    pub(crate) diagnoses: Vec<(usize, Seg<'m>)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    Nothing,
    Order,
    Obx,
    Spm,
}

/// Splits a message into order groups (ORC starts one; an OBR, RXO or RXE joins the ORC
/// before it or starts one), each marked with the PID it follows. Z-segments and PRTs do not
/// end an OBX's or an order's segments (an NTE after them is still its). A PID closes the group
/// before it: what follows is never added to an earlier patient's order. Counts occurrences of every
/// segment id. PID and PV1 after the first are reported here unless `many_patients` (ORU_R01,
/// whose caller converts each patient group).
pub(crate) fn walk<'m>(
    msg: &'m Message<'m>,
    many_patients: bool,
    ctx: &mut Context<'_>,
) -> Walk<'m> {
    let mut w = Walk::default();
    let mut counts = super::Occurrences::default();
    let mut last = Last::Nothing;
    let mut in_spm = false;
    let mut patient = 0usize;
    for seg in msg.segments() {
        let name = seg.name();
        let n = counts.next(name);
        match name {
            "ORC" => {
                w.groups.push(Group {
                    orc: Some((seg, n)),
                    patient,
                    ..Default::default()
                });
                last = Last::Order;
                in_spm = false;
            }
            "OBR" => {
                match w.groups.last_mut().filter(|g| g.patient == patient) {
                    Some(g) if g.orc.is_some() && !g.has_detail() => g.obr = Some((seg, n)),
                    _ => w.groups.push(Group {
                        obr: Some((seg, n)),
                        patient,
                        ..Default::default()
                    }),
                }
                last = Last::Order;
                in_spm = false;
            }
            "RXO" | "RXE" => {
                match w.groups.last_mut().filter(|g| g.patient == patient) {
                    Some(g) if g.obr.is_none() && g.observations.is_empty() => g.rx.push((seg, n)),
                    _ => w.groups.push(Group {
                        rx: vec![(seg, n)],
                        patient,
                        ..Default::default()
                    }),
                }
                last = Last::Order;
            }
            "RXR" | "TQ1" => {
                match w.groups.last_mut().filter(|g| g.patient == patient) {
                    Some(g) if name == "RXR" => g.rx.push((seg, n)),
                    Some(g) => g.tq1.push((seg, n)),
                    None => w.stray.push((seg, n)),
                }
                last = Last::Order;
            }
            "NTE" => match (last, w.groups.last_mut().filter(|g| g.patient == patient)) {
                (Last::Obx, Some(g)) => {
                    let target = if in_spm {
                        g.specimens
                            .last_mut()
                            .and_then(|s| s.observations.last_mut())
                    } else {
                        g.observations.last_mut()
                    };
                    match target {
                        Some(o) => o.notes.push((seg, n)),
                        None => w.stray.push((seg, n)),
                    }
                }
                (Last::Obx, None) => match w.loose.last_mut() {
                    Some(o) => o.notes.push((seg, n)),
                    None => w.stray.push((seg, n)),
                },
                (Last::Order, Some(g)) => g.notes.push((seg, n)),
                _ => w.stray.push((seg, n)),
            },
            "OBX" => {
                let obs = Obs {
                    obx: (seg, n),
                    notes: Vec::new(),
                    patient,
                };
                match w.groups.last_mut().filter(|g| g.patient == patient) {
                    Some(g) if in_spm => match g.specimens.last_mut() {
                        Some(s) => s.observations.push(obs),
                        None => g.observations.push(obs),
                    },
                    Some(g) => g.observations.push(obs),
                    None => w.loose.push(obs),
                }
                last = Last::Obx;
            }
            "SPM" => {
                match w.groups.last_mut().filter(|g| g.patient == patient) {
                    Some(g) => g.specimens.push(Spec {
                        spm: (seg, n),
                        observations: Vec::new(),
                    }),
                    None => w.stray.push((seg, n)),
                }
                in_spm = true;
                last = Last::Spm;
            }
            "TXA" => {
                // ORDER_DOCUMENT: OBX {PRT} TXA between the ORC and its OBR. The OBXs are the
                // document's, not results; the OBR that follows joins the ORC's group.
                if let Some(g) = w
                    .groups
                    .last_mut()
                    .filter(|g| g.orc.is_some() && g.obr.is_none() && g.specimens.is_empty())
                {
                    g.document.append(&mut g.observations);
                }
                last = Last::Nothing;
            }
            "DG1" => {
                match w
                    .groups
                    .len()
                    .checked_sub(1)
                    .filter(|&i| w.groups[i].patient == patient)
                {
                    Some(i) => w.diagnoses.push((i, (seg, n))),
                    None => w.stray.push((seg, n)),
                }
                last = Last::Nothing;
            }
            "PID" | "PV1" => {
                if name == "PID" {
                    patient = n;
                }
                if n > 1 && !many_patients {
                    ctx.report(ReportKind::UnmappedSegment, Location::segment(name, n));
                }
                last = Last::Nothing;
            }
            // A Z-segment (site-defined, allowed anywhere) or a PRT (v2.7+: `OBX {PRT} {NTE}`,
            // `OBR {NTE} {PRT}`) does not end the OBX's or the order's segments: an NTE after
            // it is still theirs. Both are reported by the message map as before.
            "PRT" => {}
            _ if name.starts_with('Z') => {}
            _ => last = Last::Nothing,
        }
    }
    w
}

/// The Patient (first PID) and Encounter (first PV1, with a Patient) of a message.
pub(crate) fn subject(
    msg: &Message<'_>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> (Option<Reference>, Option<Reference>) {
    let patient = first_patient(msg, ctx, out);
    let encounter = super::first_visit(msg, &patient, ctx, out);
    (patient, encounter)
}

/// The Patient of the first PID, with what DB1, GT1, IN2 and CON say about them.
pub(crate) fn first_patient(
    msg: &Message<'_>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Option<Reference> {
    msg.segment("PID", 1).map(|pid| {
        let mut patient: Patient = pid_patient(&pid, 1, ctx);
        let at = Location::segment("PID", 1);
        let sources = first_patient_segments(msg, ctx);
        if sources.is_empty() {
            return out.add_own(
                patient,
                patient_id,
                |p| &p.identifier,
                Role::Record,
                ctx,
                &at,
            );
        }
        // Keyed by its PID identifiers; DB1, GT1, IN2 and CON add what they say about the
        // patient, as in every other message type.
        let identifiers = patient.identifier.clone();
        patient_other_sources(sources, &mut patient, ctx);
        out.add(patient, patient_id, &identifiers, Role::Record, ctx, &at)
    })
}

/// Converts an OBX and its notes into an Observation (no subject yet).
pub(crate) fn observation(o: &Obs<'_>, ctx: &mut Context<'_>) -> Observation {
    let (obx, n) = &o.obx;
    let mut obs = obx_observation(obx, *n, ctx);
    for (nte, m) in &o.notes {
        obs.note.extend(nte_observation(nte, *m, ctx));
    }
    obs
}

/// Adds an Observation for `subject` / `encounter`; returns its reference.
pub(crate) fn add_observation(
    mut obs: Observation,
    n: usize,
    patient: &Option<Reference>,
    encounter: &Option<Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Reference {
    obs.subject = patient.clone().map(Box::new);
    obs.encounter = encounter.clone().map(Box::new);
    out.add(
        obs,
        observation_id,
        &[],
        Role::Record,
        ctx,
        &Location::segment("OBX", n),
    )
}

/// Adds the Specimens of a group (and their observations, `focus` on the Specimen); returns
/// their references.
pub(crate) fn add_specimens(
    g: &Group<'_>,
    patient: &Option<Reference>,
    encounter: &Option<Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Vec<Reference> {
    let mut refs = Vec::new();
    for s in &g.specimens {
        let (spm, n) = &s.spm;
        let mut specimen = spm_specimen(spm, *n, ctx);
        specimen.subject = patient.clone().map(Box::new);
        let identifiers = specimen.identifier.clone();
        let r = out.add(
            specimen,
            specimen_id,
            &identifiers,
            Role::Record,
            ctx,
            &Location::segment("SPM", *n),
        );
        for o in &s.observations {
            let mut obs = observation(o, ctx);
            obs.focus.push(r.clone());
            obs.specimen = Some(Box::new(r.clone()));
            add_observation(obs, o.obx.1, patient, encounter, ctx, out);
        }
        refs.push(r);
    }
    refs
}

/// AL1 → AllergyIntolerance of the Patient (`AL1[AllergyIntolerance]`; ORM_O01 3.7,
/// OML_O21 5.11). Without a Patient (`patient` is required) each AL1 is reported, and so is an
/// AL1 after the first order segment: in OML_O21 it belongs to a PRIOR_RESULT (row 6.4.10.3,
/// no target), ORM_O01 has none there.
pub(crate) fn add_allergies(
    msg: &Message<'_>,
    patient: &Option<Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) {
    let mut in_orders = false;
    let mut n = 0;
    for seg in msg.segments() {
        match seg.name() {
            "ORC" | "OBR" => {
                in_orders = true;
                continue;
            }
            "AL1" => n += 1,
            _ => continue,
        }
        let al1 = seg;
        let (Some(p), false) = (patient, in_orders) else {
            ctx.report(ReportKind::UnmappedSegment, Location::segment("AL1", n));
            continue;
        };
        let mut a = al1_allergy_intolerance(&al1, n, ctx);
        a.patient = Some(Box::new(p.clone()));
        out.add(
            a,
            allergy_id,
            &[],
            Role::Record,
            ctx,
            &Location::segment("AL1", n),
        );
    }
}

/// The DG1s of order group `group` → Conditions (`DG1[Condition]`), for `ServiceRequest.reasonReference`
/// (ORM_O01 4.2.4, OML_O21 6.4.6). Without a Patient (`subject` is required) each DG1 is
/// reported.
pub(crate) fn add_diagnoses(
    w: &Walk<'_>,
    group: usize,
    patient: &Option<Reference>,
    encounter: &Option<Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Vec<Reference> {
    let mut refs = Vec::new();
    for (_, (dg1, n)) in w.diagnoses.iter().filter(|(i, _)| *i == group) {
        let at = Location::segment("DG1", *n);
        let Some(p) = patient else {
            ctx.report(ReportKind::UnmappedSegment, at);
            continue;
        };
        let parts = dg1_condition(dg1, *n, &[], ctx);
        let mut c = parts.condition;
        c.subject = Some(Box::new(p.clone()));
        c.encounter = encounter.clone().map(Box::new);
        if let Some((pr, pr_at)) = parts.asserter {
            c.asserter = Some(Box::new(add_practitioner(pr, &pr_at, ctx, out)));
        }
        let identifiers = c.identifier.clone();
        refs.push(out.add(c, condition_id, &identifiers, Role::Record, ctx, &at));
    }
    refs
}

/// A Practitioner (shared reference data) added once; its reference.
pub(crate) fn add_practitioner(
    p: Practitioner,
    at: &Location,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Reference {
    out.add_own(p, practitioner_id, |p| &p.identifier, Role::Shared, ctx, at)
}

/// The ServiceRequest of a group from its ORC, OBR, TQ1s and order NTEs (in that order of
/// precedence). `report_obr`: report the OBR fields this map does not read (false when another
/// map of the same OBR, `OBR[DiagnosticReport]`, reports them).
pub(crate) fn service_request(
    g: &Group<'_>,
    report_obr: bool,
    notes: bool,
    ctx: &mut Context<'_>,
) -> OrderParts {
    let mut parts = match &g.orc {
        Some((orc, n)) => orc_service_request(orc, *n, ctx),
        None => OrderParts::empty(),
    };
    if let Some((obr, n)) = &g.obr {
        obr_service_request(obr, *n, &mut parts, ctx);
        if report_obr {
            report_unmapped_fields(
                obr,
                *n,
                &[crate::v2_to_fhir::segment::obr_service_request::MAPPED_FIELDS],
                ctx,
            );
        }
    }
    for (tq1, n) in &g.tq1 {
        tq1_service_request(tq1, *n, &mut parts, ctx);
    }
    if notes {
        for (nte, n) in &g.notes {
            parts.request.note.extend(nte_service_request(nte, *n, ctx));
        }
    }
    parts
}

/// Adds a ServiceRequest (and its requester) for `patient`; returns its reference.
pub(crate) fn add_service_request(
    parts: OrderParts,
    at: Location,
    patient: &Option<Reference>,
    encounter: &Option<Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Reference {
    let mut sr: ServiceRequest = parts.request;
    if let Some((p, p_at)) = parts.requester {
        sr.requester = Some(Box::new(add_practitioner(p, &p_at, ctx, out)));
    }
    if patient.is_none() {
        // ServiceRequest.subject is required; an order message without a PID has none.
        ctx.report(
            ReportKind::DataQuality(crate::DataProblem::MissingRequired),
            Location::segment("PID", 1),
        );
    }
    sr.subject = Some(Box::new(patient.clone().unwrap_or_else(absent_reference)));
    sr.encounter = encounter.clone().map(Box::new);
    out.add_own(
        sr,
        service_request_id,
        |s| &s.identifier,
        Role::Record,
        ctx,
        &at,
    )
}

/// The MedicationRequest of a pharmacy group (ORC, RXO, RXE, RXR, TQ1, order NTEs).
pub(crate) fn medication_request(
    g: &Group<'_>,
    intent: MedicationRequestIntent,
    ctx: &mut Context<'_>,
) -> MedicationParts {
    let mut parts = match &g.orc {
        Some((orc, n)) => orc_medication_request(orc, *n, intent, ctx),
        None => MedicationParts {
            request: MedicationRequest {
                intent: Some(Primitive::new(intent)),
                status: Some(Primitive::new(
                    ehrkit_fhir_model::codes::MedicationrequestStatus::Unknown,
                )),
                ..Default::default()
            },
            ..Default::default()
        },
    };
    let mut routes = 0;
    for (seg, n) in &g.rx {
        match seg.name() {
            "RXO" => rxo_medication_request(seg, *n, &mut parts, ctx),
            "RXE" => rxe_medication_request(seg, *n, &mut parts, ctx),
            _ => {
                rxr_medication_request(seg, *n, routes, &mut parts, ctx);
                routes += 1;
            }
        }
    }
    for (tq1, n) in &g.tq1 {
        tq1_medication_request(tq1, *n, &mut parts, ctx);
    }
    for (nte, n) in &g.notes {
        parts.request.note.extend(nte_service_request(nte, *n, ctx));
    }
    // A TQ1 or RXR with nothing in it leaves no empty dosage behind (FHIR: no empty elements).
    parts
        .request
        .dosage_instruction
        .retain(|d| *d != ehrkit_fhir_model::Dosage::default());
    parts
}

/// Adds a MedicationRequest, its Medication and requester; returns its reference.
pub(crate) fn add_medication_request(
    parts: MedicationParts,
    at: Location,
    patient: &Option<Reference>,
    encounter: &Option<Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Reference {
    let mut mr = parts.request;
    match parts.medication {
        Some(m) => {
            let key = medication_key(&m).unwrap_or_else(|| format!("at:{at}"));
            let r = out.add_keyed(m, medication_id, &key, ctx, &at);
            mr.medication = Some(MedicationRequestMedication::Reference(Box::new(r)));
        }
        None => {
            // MedicationRequest.medication[x] is required: no give/requested code in the order.
            ctx.report(
                ReportKind::DataQuality(crate::DataProblem::MissingRequired),
                at.clone(),
            );
            mr.medication = Some(MedicationRequestMedication::CodeableConcept(Box::new(
                data_absent(),
            )));
        }
    }
    if patient.is_none() {
        ctx.report(
            ReportKind::DataQuality(crate::DataProblem::MissingRequired),
            Location::segment("PID", 1),
        );
    }
    if let Some((p, p_at)) = parts.requester {
        mr.requester = Some(Box::new(add_practitioner(p, &p_at, ctx, out)));
    }
    mr.subject = Some(Box::new(patient.clone().unwrap_or_else(absent_reference)));
    mr.encounter = encounter.clone().map(Box::new);
    let identifiers = mr.identifier.clone();
    out.add(
        mr,
        medication_request_id,
        &identifiers,
        Role::Record,
        ctx,
        &at,
    )
}

/// A required reference whose target the message does not give (no PID for a request's
/// `subject`): only the `data-absent-reason` extension (`unknown`), as FHIR asks for a
/// required element with no value; never an invented Patient.
pub(crate) fn absent_reference() -> Reference {
    Reference {
        extension: vec![Extension {
            url: Some("http://hl7.org/fhir/StructureDefinition/data-absent-reason".to_owned()),
            value: Some(ExtensionValue::Code(Primitive::new("unknown".to_owned()))),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A Medication's identity: its first coding's system and code (the same drug named twice in a
/// message is one Medication), and its form.
fn medication_key(m: &Medication) -> Option<String> {
    let c = m.code.as_ref()?.coding.first()?;
    let system = c
        .system
        .as_ref()
        .and_then(|s| s.value.as_deref())
        .unwrap_or("");
    let code = c.code.as_ref()?.value.as_deref()?;
    let form = m
        .form
        .as_ref()
        .and_then(|f| f.coding.first())
        .and_then(|c| c.code.as_ref())
        .and_then(|c| c.value.as_deref())
        .unwrap_or("");
    Some(format!(
        "medication:{}:{system}|{}:{code}|{form}",
        system.len(),
        code.len()
    ))
}

/// Converts an ORM^O01 message.
pub(crate) fn convert(
    msg: &Message<'_>,
    _event: &str,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Result<(), ConvertError> {
    let (patient, encounter) = subject(msg, ctx, out);
    add_allergies(msg, &patient, ctx, out);
    let w = walk(msg, false, ctx);
    let mut focus = Vec::new();
    for (i, g) in w.groups.iter().enumerate() {
        if g.patient > 1 {
            report_other_patient_group(&w, i, ctx);
            continue;
        }
        report_document(g, ctx);
        let pharmacy = g.rx.iter().any(|(s, _)| s.name() == "RXO");
        let at = group_location(g);
        let reasons = add_diagnoses(&w, i, &patient, &encounter, ctx, out);
        let mut supporting = Vec::new();
        for o in &g.observations {
            let obs = observation(o, ctx);
            supporting.push(add_observation(
                obs, o.obx.1, &patient, &encounter, ctx, out,
            ));
        }
        report_specimens(g, ctx);
        if pharmacy {
            let mut parts = medication_request(g, MedicationRequestIntent::OriginalOrder, ctx);
            parts.request.supporting_information = supporting;
            parts.request.reason_reference = reasons;
            focus.push(add_medication_request(
                parts, at, &patient, &encounter, ctx, out,
            ));
        } else {
            // RXR (or RXE) with no RXO: no MedicationRequest to carry them.
            for (s, n) in &g.rx {
                ctx.report(ReportKind::UnmappedSegment, Location::segment(s.name(), *n));
            }
            let mut parts = service_request(g, true, true, ctx);
            parts.request.supporting_info = supporting;
            parts.request.reason_reference = reasons;
            focus.push(add_service_request(
                parts, at, &patient, &encounter, ctx, out,
            ));
        }
    }
    report_loose(&w, ctx);
    report_other_segments(msg, MAPPED, ctx);
    if let Some(p) = patient {
        focus.insert(0, p);
    }
    finish(msg, focus, ctx, out);
    Ok(())
}

/// Where a group's request is reported and keyed: its ORC, else its OBR, else its first
/// pharmacy segment.
pub(crate) fn group_location(g: &Group<'_>) -> Location {
    g.orc
        .as_ref()
        .or(g.obr.as_ref())
        .or(g.rx.first())
        .map(|(s, n)| Location::segment(s.name(), *n))
        .unwrap_or_else(|| Location::segment("ORC", 1))
}

/// Drops repeated report entries (the same kind at the same location), keeping the first: two
/// maps of one segment (`OBR[DiagnosticReport]` and `OBR[ServiceRequest]`) read the same fields
/// and meet the same problems.
pub(crate) fn dedupe_report(ctx: &mut Context<'_>) {
    ctx.report.dedup();
}

/// Reports every segment of the `i`-th order group of `w` (and its DG1s) as unmapped: the
/// group follows a second PID in a message map that carries one patient (ORM_O01, RDE_O11),
/// so its orders are not the first patient's and are not given to them.
pub(crate) fn report_other_patient_group(w: &Walk<'_>, i: usize, ctx: &mut Context<'_>) {
    let g = &w.groups[i];
    let mut segments: Vec<(&str, usize)> = Vec::new();
    segments.extend(g.orc.iter().chain(&g.obr).map(|(s, n)| (s.name(), *n)));
    for (s, n) in g.rx.iter().chain(&g.tq1).chain(&g.notes) {
        segments.push((s.name(), *n));
    }
    let observations = g
        .observations
        .iter()
        .chain(&g.document)
        .chain(g.specimens.iter().flat_map(|s| &s.observations));
    for o in observations {
        segments.push(("OBX", o.obx.1));
        segments.extend(o.notes.iter().map(|(_, n)| ("NTE", *n)));
    }
    segments.extend(g.specimens.iter().map(|s| ("SPM", s.spm.1)));
    segments.extend(
        w.diagnoses
            .iter()
            .filter(|(j, _)| *j == i)
            .map(|(_, (_, n))| ("DG1", *n)),
    );
    for (name, n) in segments {
        ctx.report(ReportKind::UnmappedSegment, Location::segment(name, n));
    }
}

/// Reports SPMs (and their OBXs) of a message map that does not convert them.
pub(crate) fn report_specimens(g: &Group<'_>, ctx: &mut Context<'_>) {
    for s in &g.specimens {
        ctx.report(
            ReportKind::UnmappedSegment,
            Location::segment("SPM", s.spm.1),
        );
        for o in &s.observations {
            ctx.report(
                ReportKind::UnmappedSegment,
                Location::segment("OBX", o.obx.1),
            );
            for (_, n) in &o.notes {
                ctx.report(ReportKind::UnmappedSegment, Location::segment("NTE", *n));
            }
        }
    }
}

/// Reports OBXs outside any order and segments of the walk that belong nowhere.
pub(crate) fn report_loose(w: &Walk<'_>, ctx: &mut Context<'_>) {
    for o in &w.loose {
        ctx.report(
            ReportKind::UnmappedSegment,
            Location::segment("OBX", o.obx.1),
        );
        for (_, n) in &o.notes {
            ctx.report(ReportKind::UnmappedSegment, Location::segment("NTE", *n));
        }
    }
    for (s, n) in &w.stray {
        ctx.report(ReportKind::UnmappedSegment, Location::segment(s.name(), *n));
    }
}

fn allergy_id(r: &mut AllergyIntolerance) -> &mut Option<String> {
    &mut r.id
}
fn condition_id(r: &mut Condition) -> &mut Option<String> {
    &mut r.id
}
pub(crate) fn observation_id(r: &mut Observation) -> &mut Option<String> {
    &mut r.id
}
fn specimen_id(r: &mut Specimen) -> &mut Option<String> {
    &mut r.id
}
fn practitioner_id(r: &mut Practitioner) -> &mut Option<String> {
    &mut r.id
}
fn service_request_id(r: &mut ServiceRequest) -> &mut Option<String> {
    &mut r.id
}
fn medication_request_id(r: &mut MedicationRequest) -> &mut Option<String> {
    &mut r.id
}
fn medication_id(r: &mut Medication) -> &mut Option<String> {
    &mut r.id
}
