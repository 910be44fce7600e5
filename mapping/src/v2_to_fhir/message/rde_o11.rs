//! `RDE_O11`: HL7 v2 RDE^O11 (pharmacy/treatment encoded order) → FHIR Bundle.
//!
//! The IG 1.0.0 has no RDE_O11 message map; this follows its ORM_O01 map for the pharmacy
//! order (<https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-message-orm-o01-to-bundle.html>)
//! and Microsoft FHIR-Converter's RDE_O11 template (facts only).
//!
//! Written: `PID[Patient]`, `PV1[Encounter]`, and per ORDER group (ORC, optional RXO, RXE,
//! RXRs, TQ1s, NTEs) one `MedicationRequest` with intent `order` (`ORC[MedicationRequest]`,
//! `RXO[MedicationRequest]`, `RXE[MedicationRequest]` last so the encoded order wins,
//! `RXR[MedicationRequest]` per route, `TQ1[MedicationRequest]`, NTEs as notes), the
//! `Medication` it references (RXE-2 / RXO-1 code and form; the same drug twice is one
//! Medication) and the requester Practitioner. OBXs of an order are Observations in
//! `supportingInformation`. Other segments (RXC, FT1, CTI, AL1, …) and Z-segments are reported.

use ehrkit_fhir_model::codes::MedicationRequestIntent;
use ehrkit_hl7v2::Message;

use super::orm_o01::{
    add_medication_request, add_observation, group_location, medication_request, observation,
    report_loose, report_specimens, subject, walk,
};
use super::{finish, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out};
use crate::v2_to_fhir::datatype::Context;
use crate::{Location, ReportKind};

/// Segments this map converts (the others are reported).
const MAPPED: &[&str] = &[
    "MSH", "PID", "PV1", "ORC", "RXO", "RXE", "RXR", "TQ1", "NTE", "OBX", "SPM", "DB1", "GT1",
    "IN2", "CON",
];

/// Converts an RDE^O11 message.
pub(crate) fn convert(
    msg: &Message<'_>,
    _event: &str,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Result<(), ConvertError> {
    let (patient, encounter) = subject(msg, ctx, out);
    let w = walk(msg, false, ctx);
    let mut focus = Vec::new();
    for (i, g) in w.groups.iter().enumerate() {
        if g.patient > 1 {
            super::orm_o01::report_other_patient_group(&w, i, ctx);
            continue;
        }
        super::orm_o01::report_document(g, ctx);
        if let Some((_, n)) = &g.obr {
            ctx.report(ReportKind::UnmappedSegment, Location::segment("OBR", *n));
        }
        report_specimens(g, ctx);
        let mut supporting = Vec::new();
        for o in &g.observations {
            let obs = observation(o, ctx);
            supporting.push(add_observation(
                obs, o.obx.1, &patient, &encounter, ctx, out,
            ));
        }
        let mut parts = medication_request(g, MedicationRequestIntent::Order, ctx);
        parts.request.supporting_information = supporting;
        focus.push(add_medication_request(
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
