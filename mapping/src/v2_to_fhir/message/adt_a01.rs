//! `ADT_A01`: HL7 v2 ADT^A01 (admit/visit notification) → FHIR Bundle.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-message-adt-a01-to-bundle.html>
//!
//! The same map converts the ADT events that carry the same resources: A04 (register), A08
//! (update), A02 (transfer; IG map `ADT_A02`, a subset of these segments) and A03 (discharge).
//! The event sets the Encounter status through the IG map `Event[EncounterStatus]`
//! (A01/A02 `in-progress`, A03 `finished`, A04 `planned`, A08 `unknown`); PV1-45 valued makes it
//! `finished`.
//!
//! Resources written today (IG rows): `MSH[MessageHeader]` (Bundle type `message` only),
//! `PID[Patient]`, `NK1[RelatedPerson]` (when NK1-3.1 is not an organization contact:
//! `EMR`, `E`, `F`, `I`, `S` go to `NK1[Patient]`, not written yet, and the segment is reported),
//! `PV1[Encounter]` with its `XCN[Practitioner]` participants and its `PL[Location]` (PV1-3). Every other segment present
//! (EVN → Provenance, PD1, PV2, OBX, AL1, DG1, PR1, IN1, …) is reported as unmapped; Z-segments
//! as Z-segments.

use ehrkit_fhir_model::resources::RelatedPerson;
use ehrkit_fhir_model::Reference;
use ehrkit_hl7v2::datatypes::Cwe;
use ehrkit_hl7v2::Message;

use super::{add_encounter, finish, patient_id, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out, Role};
use crate::v2_to_fhir::datatype::{text, Context};
use crate::v2_to_fhir::segment::{
    nk1_related_person::nk1_related_person, pid_patient::pid_patient, pv1_encounter::pv1_encounter,
};
use crate::{Location, ReportKind};

/// NK1-3.1 codes the IG sends to `NK1[Patient]` (Patient.contact) instead of a RelatedPerson.
const CONTACT_ONLY: &[&str] = &["EMR", "E", "F", "I", "S"];

/// Segments this map converts (the others are reported).
const MAPPED: &[&str] = &["MSH", "PID", "NK1", "PV1"];

/// Converts an ADT A01/A02/A03/A04/A08 message.
pub(crate) fn convert(
    msg: &Message<'_>,
    event: &str,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Result<(), ConvertError> {
    let pid = msg.segment("PID", 1).ok_or(ConvertError::MissingSegment {
        segment: "PID",
        at: Location::segment("PID", 1),
    })?;
    let mut focus: Vec<Reference> = Vec::new();

    let patient = pid_patient(&pid, 1, ctx);
    let identifiers = patient.identifier.clone();
    let patient_ref = out.add(
        patient,
        patient_id,
        &identifiers,
        Role::Record,
        ctx,
        &Location::segment("PID", 1),
    );
    focus.push(patient_ref.clone());
    for (n, extra) in msg.segments_named("PID").enumerate().skip(1) {
        let _ = extra;
        ctx.report(ReportKind::UnmappedSegment, Location::segment("PID", n + 1));
    }

    for (n, nk1) in msg.segments_named("NK1").enumerate() {
        let at = Location::segment("NK1", n + 1);
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
        let mut rp = nk1_related_person(&nk1, n + 1, ctx);
        rp.patient = Some(Box::new(patient_ref.clone()));
        let identifiers = rp.identifier.clone();
        out.add(rp, related_person_id, &identifiers, Role::Record, ctx, &at);
    }

    if let Some(pv1) = msg.segment("PV1", 1) {
        let parts = pv1_encounter(&pv1, 1, Some(event), ctx);
        focus.push(add_encounter(parts, &patient_ref, ctx, out));
    }

    report_other_segments(msg, MAPPED, ctx);

    finish(msg, focus, ctx, out);
    Ok(())
}

fn related_person_id(r: &mut RelatedPerson) -> &mut Option<String> {
    &mut r.id
}
