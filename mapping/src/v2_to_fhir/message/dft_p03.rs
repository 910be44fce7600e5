//! `DFT_P03` / `DFT_P11`: HL7 v2 DFT (detail financial transaction) → FHIR Bundle.
//!
//! The v2-to-FHIR IG has no DFT message map; this one follows Microsoft FHIR-Converter's
//! `DFT_P03` / `DFT_P11` outputs for the facts:
//! <https://github.com/microsoft/FHIR-Converter/tree/main/data/Templates/Hl7v2>.
//!
//! Written: the Patient (`PID[Patient]`), the Encounter of PV1 (`PV1[Encounter]`), an Account
//! for PID-18 (patient account number, `CX[Identifier]`; status `active`, `subject` the Patient),
//! and one ChargeItem per FT1 (`FT1[ChargeItem]`) with `subject` the Patient, `context` the
//! Encounter and `account` the Account. EVN, PD1, PRT, ORC, OBR, OBX, NTE, DG1, DRG, GT1, IN1,
//! IN2, IN3, PR1, ROL and Z-segments are reported (Microsoft also writes Procedures,
//! Conditions, Coverage and more from them: those maps belong to other message maps).

use ehrkit_fhir_model::codes::AccountStatus;
use ehrkit_fhir_model::resources::{Account, ChargeItem, Practitioner};
use ehrkit_fhir_model::{Primitive, Reference};
use ehrkit_hl7v2::datatypes::Cx;
use ehrkit_hl7v2::Message;

use super::{add_encounter, finish, patient_id, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out, Role};
use crate::v2_to_fhir::datatype::{cx_identifier::cx_identifier, Context};
use crate::v2_to_fhir::segment::{
    ft1_charge_item::ft1_charge_item, pid_patient::pid_patient, pv1_encounter::pv1_encounter,
};
use crate::{Location, ReportKind};

/// Segments this map reads (the others are reported).
const MAPPED: &[&str] = &["MSH", "PID", "PV1", "FT1"];

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
    let patient = pid_patient(&pid, 1, &mut pid_ctx);
    for e in pid_ctx.report.entries() {
        if !(has_account && e.location == account_at && e.kind == ReportKind::UnmappedField) {
            ctx.report(e.kind, e.location.clone());
        }
    }
    let identifiers = patient.identifier.clone();
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
        .map(|pv1| add_encounter(pv1_encounter(&pv1, 1, None, ctx), &patient_ref, ctx, out));

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

    for (n, ft1) in msg.segments_named("FT1").enumerate() {
        let at = Location::segment("FT1", n + 1);
        let parts = ft1_charge_item(&ft1, n + 1, ctx);
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
        charge.subject = Some(Box::new(patient_ref.clone()));
        charge.context = encounter.clone().map(Box::new);
        charge.account.extend(account.clone());
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
fn charge_id(r: &mut ChargeItem) -> &mut Option<String> {
    &mut r.id
}
fn practitioner_id(r: &mut Practitioner) -> &mut Option<String> {
    &mut r.id
}
