//! `OML_O21`: HL7 v2 OML^O21 (laboratory order) → FHIR Bundle.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-message-oml-o21-to-bundle.html>
//!
//! Written: `PID[Patient]`, `PV1[Encounter]`, and per ORDER group one `ServiceRequest`
//! (`ORC[ServiceRequest]`, `TQ1[ServiceRequest]`, `OBR[ServiceRequest]`, `NTE[ServiceRequest]`
//! as notes) whose `supportingInfo` are the Observations of its OBXs (`OBX[Observation]`) and
//! whose `specimen`s are the Specimens of its SPMs (`SPM[Specimen]`; OBXs after an SPM are
//! Observations with `focus` and `specimen` on it), the first being the Specimen the OBR itself
//! describes (`OBR[Specimen]`, row 6.4.1: OBR-7/8 collection time, OBR-9 volume, OBR-14
//! received time). ORC-12 (else OBR-16) is the requester
//! Practitioner; its DG1s are Conditions in `reasonReference` (`DG1[Condition]`), the patient's
//! AL1s AllergyIntolerances (`AL1[AllergyIntolerance]`). Other segments (NK1, IN1, PRT, …) and
//! Z-segments are reported.

use ehrkit_hl7v2::Message;

use super::orm_o01::{
    add_allergies, add_diagnoses, add_obr_specimen, add_observation, add_service_request,
    add_specimens, group_location, observation, report_loose, service_request, subject, walk,
};
use super::{finish, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out};
use crate::v2_to_fhir::datatype::Context;
use crate::v2_to_fhir::segment::obr_service_request;
use crate::v2_to_fhir::segment::obr_specimen;
use crate::v2_to_fhir::segment::orc_service_request::report_unmapped_fields;
use crate::{Location, ReportKind};

/// Segments this map converts (the others are reported).
const MAPPED: &[&str] = &[
    "MSH", "PID", "PV1", "ORC", "OBR", "TQ1", "NTE", "OBX", "SPM", "AL1", "DG1", "DB1", "GT1",
    "IN2", "CON",
];

/// Converts an OML^O21 message.
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
        super::orm_o01::report_document(g, ctx);
        for (s, n) in &g.rx {
            ctx.report(ReportKind::UnmappedSegment, Location::segment(s.name(), *n));
        }
        let reasons = add_diagnoses(&w, i, &patient, &encounter, ctx, out);
        let mut specimens = add_specimens(g, &patient, &encounter, ctx, out);
        if let Some((obr, n)) = &g.obr {
            if let Some(r) = add_obr_specimen(obr, *n, patient.as_ref(), ctx, out) {
                specimens.insert(0, r);
            }
            report_unmapped_fields(
                obr,
                *n,
                &[
                    obr_service_request::MAPPED_FIELDS,
                    obr_specimen::MAPPED_FIELDS,
                ],
                ctx,
            );
        }
        let mut supporting = Vec::new();
        for o in &g.observations {
            let obs = observation(o, ctx);
            supporting.push(add_observation(
                obs, o.obx.1, &patient, &encounter, ctx, out,
            ));
        }
        let mut parts = service_request(g, false, true, ctx);
        parts.request.supporting_info = supporting;
        parts.request.specimen = specimens;
        parts.request.reason_reference = reasons;
        focus.push(add_service_request(
            parts,
            group_location(g),
            &patient,
            &encounter,
            ctx,
            out,
        ));
    }
    report_loose(&w, ctx);
    report_other_segments(msg, MAPPED, ctx);
    if let Some(p) = patient {
        focus.insert(0, p);
    }
    finish(msg, focus, ctx, out);
    Ok(())
}
