//! `ADT_A17`: HL7 v2 ADT^A17 (swap patients) → FHIR Bundle.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-message-adt-a17-to-bundle.html>
//!
//! Two patient groups (PID, PD1, PV1, PV2, DB1, OBX), each converted as in `ADT_A01` (its
//! `convert_group`): `Patient[1]` + `Encounter[1]`, `Patient[2]` + `Encounter[2]`,
//! each Encounter with its own PV1-3 location (the beds after the swap) and status
//! `in-progress` (both patients stay admitted; A17 is not in the IG's `Event[EncounterStatus]`).
//! EVN gives one Provenance whose target is both Patients and both Encounters. A message
//! without two PID groups is an error naming the missing one; a third group is reported.

use ehrkit_fhir_model::Reference;
use ehrkit_hl7v2::Message;

use super::adt_a01::{convert_group, groups, provenance, PatientKey, MAPPED};
use super::{finish, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out};
use crate::v2_to_fhir::datatype::Context;
use crate::{Location, ReportKind};

/// Converts an ADT^A17 message.
pub(crate) fn convert(
    msg: &Message<'_>,
    event: &str,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Result<(), ConvertError> {
    let groups = groups(msg);
    if groups.len() < 2 {
        return Err(ConvertError::MissingSegment {
            segment: "PID",
            at: Location::segment("PID", groups.len() + 1),
        });
    }
    let mut focus: Vec<Reference> = Vec::new();
    for g in &groups[..2] {
        focus.extend(convert_group(msg, g, event, PatientKey::Own, ctx, out).focus());
    }
    for g in &groups[2..] {
        ctx.report(ReportKind::UnmappedSegment, Location::segment("PID", g.pid));
        for (name, n) in &g.members {
            if MAPPED.contains(&name.as_str()) {
                ctx.report(ReportKind::UnmappedSegment, Location::segment(name, *n));
            }
        }
    }
    provenance(msg, event, &focus, ctx, out);
    report_other_segments(msg, MAPPED, ctx);
    finish(msg, focus, ctx, out);
    Ok(())
}
