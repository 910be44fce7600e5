//! `ADT_A40` (also ADT^A39): HL7 v2 merge patient → FHIR Bundle.
//!
//! The IG 1.0.0 has no message map for ADT^A39/A40 (nor an `MRG[Patient]` segment map);
//! Microsoft's FHIR-Converter (template `ADT_A40`) writes only a `Linkage` (source = the PID's
//! identifier, historical = MRG-1's) and no Patient. This map follows issue 12 and FHIR's own
//! merge semantics instead (R4 `Patient.link`):
//!
//! - each PID group (PID, PD1, MRG, PV1) gives the **surviving** Patient from the PID
//!   (`PID[Patient]`, keyed by its identifiers) with `link` type `replaces` → the merged one;
//! - its MRG gives the **merged** Patient ([`mrg_patient`]): MRG-1/MRG-4 identifiers (its
//!   business key: the id earlier messages from this sender gave that record, and in a
//!   transaction `PUT Patient?identifier=<prior>`), MRG-7 name, `active` `false`, `link` type
//!   `replaced-by` → the survivor. A transaction replaces the merged record's content with this
//!   (a server keeps its history); the survivor is written as usual.
//! - a PV1 in the group gives an Encounter (status `unknown`: a merge says nothing about the
//!   visit); EVN gives one Provenance whose target is every Patient.
//!
//! A group without MRG is an error naming it (a merge without a merged record).

use ehrkit_fhir_model::codes::LinkType;
use ehrkit_fhir_model::resources::{Patient, PatientLink};
use ehrkit_fhir_model::{Primitive, Reference};
use ehrkit_hl7v2::Message;

use super::adt_a01::{
    convert_group, groups, missing_pid, patient_mut, provenance, PatientKey, MAPPED,
};
use super::{finish, patient_id, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out, Role};
use crate::v2_to_fhir::datatype::Context;
use crate::v2_to_fhir::segment::mrg_patient::mrg_patient;
use crate::Location;

/// Segments this map converts.
const MAPPED_HERE: &[&str] = &["MRG"];

/// Converts an ADT^A39 or ADT^A40 message.
pub(crate) fn convert(
    msg: &Message<'_>,
    event: &str,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Result<(), ConvertError> {
    let groups = groups(msg);
    if groups.is_empty() {
        return Err(missing_pid());
    }
    for g in &groups {
        if g.first("MRG").is_none() {
            return Err(ConvertError::MissingSegment {
                segment: "MRG",
                at: Location::segment("PID", g.pid),
            });
        }
    }
    let mut focus: Vec<Reference> = Vec::new();
    for g in &groups {
        let converted = convert_group(msg, g, event, PatientKey::Own, ctx, out);
        let survivor = converted.patient.clone();
        focus.extend(converted.focus());
        for (i, n) in g.all("MRG").enumerate() {
            let Some(mrg) = msg.segment("MRG", n) else {
                continue;
            };
            let at = Location::segment("MRG", n);
            if i > 0 {
                // One merged record per patient group.
                ctx.report(crate::ReportKind::UnmappedSegment, at);
                continue;
            }
            let mut merged: Patient = mrg_patient(&mrg, n, ctx);
            merged.link.push(link(&survivor, LinkType::ReplacedBy));
            let identifiers = merged.identifier.clone();
            let merged_ref = out.add(merged, patient_id, &identifiers, Role::Record, ctx, &at);
            if let Some(p) = patient_mut(out, &survivor) {
                p.link.push(link(&merged_ref, LinkType::Replaces));
            }
            focus.push(merged_ref);
        }
    }
    provenance(msg, event, &focus, ctx, out);
    let mapped: Vec<&str> = MAPPED.iter().chain(MAPPED_HERE).copied().collect();
    report_other_segments(msg, &mapped, ctx);
    finish(msg, focus, ctx, out);
    Ok(())
}

fn link(other: &Reference, ty: LinkType) -> PatientLink {
    PatientLink {
        other: Some(Box::new(other.clone())),
        type_: Some(Primitive::new(ty)),
        ..Default::default()
    }
}
