//! `DFT_P03` / `DFT_P11`: HL7 v2 DFT (detail financial transaction) → FHIR Bundle.
//!
//! The v2-to-FHIR IG has no DFT message map; this one follows Microsoft FHIR-Converter's
//! `DFT_P03` / `DFT_P11` outputs for the facts:
//! <https://github.com/microsoft/FHIR-Converter/tree/main/data/Templates/Hl7v2>.
//!
//! Written: the Patient (`PID[Patient]`), the Encounter of PV1 (`PV1[Encounter]`), an Account
//! for PID-18 (patient account number, `CX[Identifier]`; status `active`, `subject` the Patient),
//! one ChargeItem per FT1 (`FT1[ChargeItem]`) with `subject` the Patient, `context` the
//! Encounter and `account` the Account, and a Procedure for its FT1-25 (procedure code) that is
//! one of the charge's `service`s; the PR1s (`PR1[Procedure]`) and OBXs
//! (`OBX[Observation]`) of an FT1's group become Procedures and Observations that are the
//! ChargeItem's `service`; an order group (ORC, OBR, TQ1, NTE, OBX) gives a ServiceRequest (the
//! charge's `supportingInformation`) and a DiagnosticReport with its OBXs as results (the
//! charge's `service`), as in ORU; DG1s become Conditions (`DG1[Condition]`) of the Patient.
//! DB1, GT1 and IN2 add the patient's other identifiers and names to the Patient where they
//! are about the patient (DB1-2 `PT`, GT1-11 `SEL`, every IN2: see
//! `segment/patient_other_sources.rs`), as
//! Microsoft's outputs do; the Patient keeps its PID identifiers as its key.
//! The first ACC is an `injury-incident` Observation (as in Microsoft's outputs; see
//! `message/adt_a03.rs`). EVN, PD1, PRT, DRG, IN1, IN3, ROL, the other GT1s and Z-segments are
//! reported.

use ehrkit_fhir_model::codes::AccountStatus;
use ehrkit_fhir_model::resources::{
    Account, ChargeItem, Condition, DiagnosticReport, Observation, Practitioner, Procedure,
};
use ehrkit_fhir_model::{Primitive, Reference};
use ehrkit_hl7v2::datatypes::Cx;
use ehrkit_hl7v2::{Message, Segment};

use super::adt_a01::add_levels;
use super::adt_a03::acc_observation;
use super::orm_o01::add_service_request;
use super::{add_encounter, finish, patient_id, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out, Role};
use crate::v2_to_fhir::datatype::{cx_identifier::cx_identifier, Context};
use crate::v2_to_fhir::segment::{
    dg1_condition::dg1_condition,
    ft1_charge_item::ft1_charge_item,
    nte_service_request::nte_service_request,
    obr_diagnostic_report::obr_diagnostic_report_with,
    obr_service_request,
    obr_service_request::obr_service_request,
    obx_observation::obx_observation,
    orc_service_request::orc_service_request,
    patient_other_sources::{numbered, patient_other_sources},
    pid_patient::pid_patient,
    pr1_procedure::pr1_procedure,
    pv1_encounter::pv1_encounter,
    sch_appointment::report_fields,
    tq1_service_request::tq1_service_request,
};
use crate::{Location, ReportKind};

/// Segments this map reads (the others are reported).
const MAPPED: &[&str] = &[
    "MSH", "PID", "PV1", "FT1", "PR1", "OBX", "DG1", "ORC", "OBR", "TQ1", "NTE", "DB1", "GT1",
    "IN2", "ACC",
];

/// Converts a DFT^P03 or DFT^P11 message.
pub(crate) fn convert(
    msg: &Message<'_>,
    _event: &str,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Result<(), ConvertError> {
    let pid = msg.segment("PID", 1).ok_or(ConvertError::MissingSegment {
        segment: "PID",
        at: Location::segment("PID", 1),
    })?;
    // PID-18 (patient account number) is the Account's identifier, read below: PID[Patient]
    // does not map it, so its "field not mapped" entry is dropped when the Account is written.
    let account_at = Location::segment("PID", 1).field(18);
    let has_account = pid.field(18).first::<Cx<'_>>().is_some();
    let mut pid_ctx = Context::new(ctx.profile);
    let mut patient = pid_patient(&pid, 1, &mut pid_ctx);
    for e in pid_ctx.report.entries() {
        if !(has_account && e.location == account_at && e.kind == ReportKind::UnmappedField) {
            ctx.report(e.kind, e.location.clone());
        }
    }
    // The Patient is keyed by its PID identifiers; DB1, GT1 and IN2 add what they say about
    // the patient (Microsoft's DFT outputs).
    let identifiers = patient.identifier.clone();
    patient_other_sources(numbered(msg), &mut patient, ctx);
    let patient_ref = out.add(
        patient,
        patient_id,
        &identifiers,
        Role::Record,
        ctx,
        &Location::segment("PID", 1),
    );
    let mut focus = vec![patient_ref.clone()];
    let encounter = msg
        .segment("PV1", 1)
        .map(|pv1| add_encounter(pv1_encounter(&pv1, 1, None, ctx), 1, &patient_ref, ctx, out));

    let account = pid
        .field(18)
        .first::<Cx<'_>>()
        .and_then(|cx| cx_identifier(&cx, ctx, &account_at.clone().repetition(1)))
        .map(|id| {
            let account = Account {
                identifier: vec![id],
                status: Some(Primitive::new(AccountStatus::Active)),
                subject: vec![patient_ref.clone()],
                ..Default::default()
            };
            let identifiers = account.identifier.clone();
            out.add(
                account,
                account_id,
                &identifiers,
                Role::Record,
                ctx,
                &account_at,
            )
        });

    // FT1 groups: each FT1 with the PR1s and order groups (ORC, OBR, TQ1, NTE, OBX) that follow
    // it: its services (Procedures, DiagnosticReports, Observations without an OBR) and
    // supporting information (ServiceRequests).
    let mut groups: Vec<(usize, Vec<Reference>, Vec<Reference>)> = Vec::new();
    let mut order: Option<Order<'_>> = None;
    let mut counts = super::Occurrences::default();
    let mut loose: Vec<Reference> = Vec::new();
    for seg in msg.segments() {
        let name = seg.name();
        let n = counts.next(name);
        let ends_order = match name {
            "ORC" => true,
            "OBR" => order.as_ref().is_some_and(|o| o.obr.is_some()),
            "TQ1" | "NTE" | "OBX" => false,
            _ => true,
        };
        if ends_order {
            if let Some(o) = order.take() {
                let (services, requests) = add_order(o, &patient_ref, &encounter, ctx, out);
                match groups.last_mut() {
                    Some((_, s, r)) => {
                        s.extend(services);
                        r.extend(requests);
                    }
                    None => {
                        loose.extend(services);
                        loose.extend(requests);
                    }
                }
            }
        }
        match name {
            "FT1" => groups.push((n, Vec::new(), Vec::new())),
            "PR1" => {
                let r = add_procedure(&seg, n, &patient_ref, encounter.as_ref(), ctx, out);
                match groups.last_mut() {
                    Some((_, services, _)) => services.push(r),
                    None => loose.push(r),
                }
            }
            "ORC" => {
                order = Some(Order {
                    orc: Some((seg, n)),
                    ..Default::default()
                })
            }
            "OBR" => order.get_or_insert_with(Order::default).obr = Some((seg, n)),
            "TQ1" | "NTE" | "OBX" => {
                let o = order.get_or_insert_with(Order::default);
                match name {
                    "TQ1" => o.tq1.push((seg, n)),
                    "NTE" => o.notes.push((seg, n)),
                    _ => o.obx.push((seg, n)),
                }
            }
            _ => {}
        }
    }
    if let Some(o) = order.take() {
        let (services, requests) = add_order(o, &patient_ref, &encounter, ctx, out);
        match groups.last_mut() {
            Some((_, s, r)) => {
                s.extend(services);
                r.extend(requests);
            }
            None => {
                loose.extend(services);
                loose.extend(requests);
            }
        }
    }
    focus.extend(loose);
    // ACC: the accident as an `injury-incident` Observation, as Microsoft writes it (its first
    // ACC; another is reported).
    for (i, acc) in msg.segments_named("ACC").enumerate() {
        if i == 0 {
            focus.push(acc_observation(&acc, 1, &patient_ref, ctx, out));
        } else {
            ctx.report(ReportKind::UnmappedSegment, Location::segment("ACC", i + 1));
        }
    }
    focus.extend(add_conditions(
        msg,
        &patient_ref,
        encounter.as_ref(),
        ctx,
        out,
    ));
    let ft1s: Vec<_> = msg.segments_named("FT1").collect();
    for (n, services, requests) in groups {
        let Some(ft1) = ft1s.get(n - 1) else { continue };
        let at = Location::segment("FT1", n);
        let parts = ft1_charge_item(ft1, n, ctx);
        let mut charge = parts.charge;
        for (i, p, p_at) in parts.performers {
            let r = add_practitioner(p, ctx, out, &p_at);
            if let Some(perf) = charge.performer.get_mut(i) {
                perf.actor = Some(Box::new(r));
            }
        }
        if let Some((p, p_at)) = parts.enterer {
            charge.enterer = Some(Box::new(add_practitioner(p, ctx, out, &p_at)));
        }
        let mut services = services;
        if let Some((mut p, p_at)) = parts.procedure {
            // FT1-25: the procedure charged for, as Microsoft writes it.
            p.subject = Some(Box::new(patient_ref.clone()));
            p.encounter = encounter.clone().map(Box::new);
            services.insert(0, out.add(p, procedure_id, &[], Role::Record, ctx, &p_at));
        }
        charge.subject = Some(Box::new(patient_ref.clone()));
        charge.context = encounter.clone().map(Box::new);
        charge.account.extend(account.clone());
        charge.service = services;
        charge.supporting_information = requests;
        let identifiers = charge.identifier.clone();
        focus.push(out.add(charge, charge_id, &identifiers, Role::Record, ctx, &at));
    }
    if msg.segments_named("FT1").next().is_none() {
        ctx.report(
            ReportKind::DataQuality(crate::DataProblem::MissingRequired),
            Location::segment("FT1", 1),
        );
    }
    focus.extend(account);
    focus.extend(encounter);

    report_other_segments(msg, MAPPED, ctx);
    finish(msg, focus, ctx, out);
    Ok(())
}

/// `DG1[Condition]` for every DG1 of `msg`: Conditions of `subject` (and `encounter`), their
/// asserters added as Practitioners. DG1-22 (parent diagnosis) is reported when valued.
pub(crate) fn add_conditions(
    msg: &Message<'_>,
    subject: &Reference,
    encounter: Option<&Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Vec<Reference> {
    let mut refs = Vec::new();
    for (i, dg1) in msg.segments_named("DG1").enumerate() {
        let n = i + 1;
        let at = Location::segment("DG1", n);
        let parts = dg1_condition(&dg1, n, &[], ctx);
        let mut c = parts.condition;
        c.subject = Some(Box::new(subject.clone()));
        c.encounter = encounter.cloned().map(Box::new);
        if let Some((p, p_at)) = parts.asserter {
            c.asserter = Some(Box::new(add_practitioner(p, ctx, out, &p_at)));
        }
        report_parent_once(&dg1, 22, &at, ctx);
        let identifiers = c.identifier.clone();
        refs.push(out.add(c, condition_id, &identifiers, Role::Record, ctx, &at));
    }
    refs
}

/// `PR1[Procedure]` for the `occurrence`-th PR1: a Procedure of `subject`, its performers and
/// location added. PR1-25 (parent procedure) is reported when valued.
pub(crate) fn add_procedure(
    pr1: &Segment<'_>,
    occurrence: usize,
    subject: &Reference,
    encounter: Option<&Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Reference {
    let at = Location::segment("PR1", occurrence);
    let parts = pr1_procedure(pr1, occurrence, ctx);
    let mut p = parts.procedure;
    p.subject = Some(Box::new(subject.clone()));
    p.encounter = encounter.cloned().map(Box::new);
    for (i, (practitioner, p_at)) in parts.performers.into_iter().enumerate() {
        let r = add_practitioner(practitioner, ctx, out, &p_at);
        if let Some(performer) = p.performer.get_mut(i) {
            performer.actor = Some(Box::new(r));
        }
    }
    p.location = add_levels(parts.location, &at.clone().field(23), ctx, out).map(Box::new);
    report_parent_once(pr1, 25, &at, ctx);
    let identifiers = p.identifier.clone();
    out.add(p, procedure_id, &identifiers, Role::Record, ctx, &at)
}

/// `OBX[Observation]` for the `occurrence`-th OBX: an Observation of `subject`.
pub(crate) fn add_observation(
    obx: &Segment<'_>,
    occurrence: usize,
    subject: &Reference,
    encounter: Option<&Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Reference {
    let mut o = obx_observation(obx, occurrence, ctx);
    o.subject = Some(Box::new(subject.clone()));
    o.encounter = encounter.cloned().map(Box::new);
    out.add(
        o,
        observation_id,
        &[],
        Role::Record,
        ctx,
        &Location::segment("OBX", occurrence),
    )
}

/// An order group (ORC, OBR, TQ1s, NTEs, OBXs) of a financial or document message.
#[derive(Default)]
pub(crate) struct Order<'m> {
    pub(crate) orc: Option<(Segment<'m>, usize)>,
    pub(crate) obr: Option<(Segment<'m>, usize)>,
    pub(crate) tq1: Vec<(Segment<'m>, usize)>,
    pub(crate) notes: Vec<(Segment<'m>, usize)>,
    pub(crate) obx: Vec<(Segment<'m>, usize)>,
}

/// The ServiceRequest of an order group with an ORC (`ORC[ServiceRequest]`, then
/// `OBR[ServiceRequest]`, `TQ1[ServiceRequest]`, `NTE[ServiceRequest]`); `None` without an ORC.
/// `report_obr`: report the OBR fields the request does not read (false when
/// `OBR[DiagnosticReport]` reads the same OBR and reports them).
pub(crate) fn add_order_request(
    order: &Order<'_>,
    report_obr: bool,
    patient: &Reference,
    encounter: &Option<Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Option<Reference> {
    let (orc, n) = order.orc.as_ref()?;
    let mut parts = orc_service_request(orc, *n, ctx);
    if let Some((obr, n)) = &order.obr {
        obr_service_request(obr, *n, &mut parts, ctx);
        if report_obr {
            report_fields(obr, obr_service_request::MAPPED_FIELDS, ctx, |f| {
                Location::segment("OBR", *n).field(f)
            });
        }
    }
    for (tq1, n) in &order.tq1 {
        tq1_service_request(tq1, *n, &mut parts, ctx);
    }
    for (nte, n) in &order.notes {
        parts.request.note.extend(nte_service_request(nte, *n, ctx));
    }
    Some(add_service_request(
        parts,
        Location::segment("ORC", *n),
        &Some(patient.clone()),
        encounter,
        ctx,
        out,
    ))
}

/// A financial order group: its ServiceRequest (with an ORC), DiagnosticReport (with an OBR,
/// `OBR[DiagnosticReport]`, its OBXs as `result`s, `basedOn` the request) or, without an OBR,
/// its OBXs as Observations. Returns (services, requests).
fn add_order(
    order: Order<'_>,
    patient: &Reference,
    encounter: &Option<Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> (Vec<Reference>, Vec<Reference>) {
    let request = add_order_request(&order, order.obr.is_none(), patient, encounter, ctx, out);
    if order.orc.is_none() {
        for (seg, n) in order.tq1.iter().chain(order.notes.iter()) {
            // TQ1/NTE belong to the request, which needs an ORC.
            ctx.report(
                ReportKind::UnmappedSegment,
                Location::segment(seg.name(), *n),
            );
        }
    }
    let mut results = Vec::new();
    for (obx, n) in &order.obx {
        let mut o = obx_observation(obx, *n, ctx);
        o.subject = Some(Box::new(patient.clone()));
        o.encounter = encounter.clone().map(Box::new);
        o.based_on.extend(request.clone());
        results.push(out.add(
            o,
            observation_id,
            &[],
            Role::Record,
            ctx,
            &Location::segment("OBX", *n),
        ));
    }
    let services = match &order.obr {
        Some((obr, n)) => {
            let also: &[usize] = if order.orc.is_some() {
                obr_service_request::MAPPED_FIELDS
            } else {
                &[]
            };
            let mut d = obr_diagnostic_report_with(obr, *n, also, ctx);
            d.subject = Some(Box::new(patient.clone()));
            d.encounter = encounter.clone().map(Box::new);
            d.result = results;
            d.based_on.extend(request.clone());
            let identifiers = d.identifier.clone();
            vec![out.add(
                d,
                report_id,
                &identifiers,
                Role::Record,
                ctx,
                &Location::segment("OBR", *n),
            )]
        }
        None => results,
    };
    (services, request.into_iter().collect())
}

/// A parent link (DG1-22, PR1-25) this message map does not resolve: reported when valued,
/// unless the segment map reported it already.
fn report_parent_once(seg: &Segment<'_>, field: usize, at: &Location, ctx: &mut Context<'_>) {
    let f = seg.field(field);
    let at = at.clone().field(field);
    let reported = ctx.report.entries().iter().any(|e| e.location == at);
    if f.repetition_count() > 0 && !f.is_null() && !reported {
        ctx.report(ReportKind::UnmappedField, at);
    }
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

fn account_id(r: &mut Account) -> &mut Option<String> {
    &mut r.id
}
pub(crate) fn condition_id(r: &mut Condition) -> &mut Option<String> {
    &mut r.id
}
pub(crate) fn procedure_id(r: &mut Procedure) -> &mut Option<String> {
    &mut r.id
}
pub(crate) fn observation_id(r: &mut Observation) -> &mut Option<String> {
    &mut r.id
}
fn report_id(r: &mut DiagnosticReport) -> &mut Option<String> {
    &mut r.id
}
fn charge_id(r: &mut ChargeItem) -> &mut Option<String> {
    &mut r.id
}
fn practitioner_id(r: &mut Practitioner) -> &mut Option<String> {
    &mut r.id
}
