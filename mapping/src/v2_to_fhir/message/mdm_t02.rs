//! `MDM_T02`: HL7 v2 MDM^T01/T02/T06/T10 (medical document management) → FHIR Bundle.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-message-mdm-t02-to-bundle.html>
//!
//! The IG maps T02 (original document notification and content); T01 (notification only), T06
//! (addendum, notification and content) and T10 (replacement, notification and content) carry
//! the same segments. Written: the Patient (`PID[Patient]`), the Encounter of PV1
//! (`PV1[Encounter]`), and one DocumentReference (`TXA[DocumentReference]`) whose `content`
//! comes from the OBXs (`OBX[DocumentReference]`: ED attachments, TX/FT text, RP links),
//! `subject` the Patient, `context.encounter` the Encounter, `author` / `authenticator`
//! Practitioners. T06 and T10 relate the document to its parent (TXA-13, `appends` /
//! `replaces`). The COMMON_ORDER groups (ORC, TQ1, OBR, NTE) become ServiceRequests
//! (`ORC[ServiceRequest]` and the others, as in ORM) that are the document's `context.related`.
//!
//! FHIR requires a `content`: a notification without content (T01, or no OBX) gets one
//! attachment with TXA-3's media type and `creation` (TXA-6) when there are any, else with the
//! `data-absent-reason` extension (`unknown`), and the missing content is reported at OBX.
//! EVN, CON, NTEs after the TXA and Z-segments are reported.
//!
//! T01 has a v2 structure of its own (MDM_T01, no OBX) and no IG map: where the IG is silent it
//! follows Microsoft FHIR-Converter's outputs, which add the consenter who is the patient
//! (CON-24 where CON-25 is `1`) to the Patient's names (`segment/patient_other_sources.rs`) and
//! write the Specimen each order's OBR describes (`OBR[Specimen]`) as the order's `specimen`.
//! T02, T06 and T10 keep the `MDM_T02` map (row 9: CON has no target; no Specimen target).

use ehrkit_fhir_model::resources::{DocumentReference, DocumentReferenceContext, Practitioner};
use ehrkit_fhir_model::{Attachment, Extension, ExtensionValue, Primitive, Reference, Resource};
use ehrkit_hl7v2::{Message, Segment};

use super::adt_a01::referenced_id;
use super::dft_p03::{add_order_request, Order};
use super::orm_o01::add_obr_specimen;
use super::{finish, patient_id, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out, Role};
use crate::v2_to_fhir::datatype::Context;
use crate::v2_to_fhir::segment::{
    obr_service_request, obr_specimen,
    patient_other_sources::{first_patient_segments, patient_other_sources, SEGMENTS as SOURCES},
    pid_patient::pid_patient,
    sch_appointment::report_fields,
    txa_document_reference::{txa_document_reference, DocumentContent},
};
use crate::{DataProblem, Location, ReportKind};

/// The extension that says why a required value is absent.
const DATA_ABSENT_REASON: &str = "http://hl7.org/fhir/StructureDefinition/data-absent-reason";

/// Segments this map reads (the others are reported).
const MAPPED: &[&str] = &[
    "MSH", "PID", "PV1", "TXA", "OBX", "ORC", "OBR", "TQ1", "NTE",
];

/// Converts an MDM^T01/T02/T06/T10 message.
pub(crate) fn convert(
    msg: &Message<'_>,
    event: &str,
    ctx: &mut Context<'_>,
    out: &mut Out,
) -> Result<(), ConvertError> {
    let txa = msg.segment("TXA", 1).ok_or(ConvertError::MissingSegment {
        segment: "TXA",
        at: Location::segment("TXA", 1),
    })?;
    let mut focus = Vec::new();
    // T01 (structure MDM_T01, no IG map) follows Microsoft's outputs: the consenter who is the
    // patient (CON-24 where CON-25 is `1`) is one of the Patient's names, and each order's OBR
    // describes a Specimen (`OBR[Specimen]`).
    let microsoft = event == "T01";
    let patient = msg.segment("PID", 1).map(|pid| {
        let mut patient = pid_patient(&pid, 1, ctx);
        let identifiers = patient.identifier.clone();
        patient_other_sources(first_patient_segments(msg, ctx), &mut patient, ctx);
        out.add(
            patient,
            patient_id,
            &identifiers,
            Role::Record,
            ctx,
            &Location::segment("PID", 1),
        )
    });
    let encounter = super::first_visit(msg, &patient, ctx, out);

    // COMMON_ORDER groups (ORC, TQ1, OBR, NTE before the TXA) → ServiceRequests
    // (`ORC[ServiceRequest]`, `OBR[ServiceRequest]`, `TQ1[ServiceRequest]`,
    // `NTE[ServiceRequest]`), the document's `context.related`.
    let mut groups: Vec<Order<'_>> = Vec::new();
    let mut counts = super::Occurrences::default();
    let mut after_txa = false;
    for seg in msg.segments() {
        let name = seg.name();
        let n = counts.next(name);
        match name {
            "TXA" => after_txa = true,
            "ORC" | "OBR" | "TQ1" | "NTE" if after_txa => {
                // NTE[DocumentReference] (notes on the content) is not written yet.
                ctx.report(ReportKind::UnmappedSegment, Location::segment(name, n))
            }
            "ORC" => groups.push(Order {
                orc: Some((seg, n)),
                ..Default::default()
            }),
            "OBR" => match groups.last_mut().filter(|g| g.obr.is_none()) {
                Some(g) => g.obr = Some((seg, n)),
                // The IG's COMMON_ORDER starts with its ORC (1..1): an OBR without one is
                // reported (below, as a group without ORC).
                None => groups.push(Order {
                    obr: Some((seg, n)),
                    ..Default::default()
                }),
            },
            "TQ1" => match groups.last_mut() {
                Some(g) => g.tq1.push((seg, n)),
                None => ctx.report(ReportKind::UnmappedSegment, Location::segment("TQ1", n)),
            },
            "NTE" => match groups.last_mut() {
                Some(g) => g.notes.push((seg, n)),
                None => ctx.report(ReportKind::UnmappedSegment, Location::segment("NTE", n)),
            },
            _ => {}
        }
    }
    let mut related = Vec::new();
    for g in &groups {
        let request = match &patient {
            Some(p) => add_order_request(g, !microsoft, p, &encounter, ctx, out),
            None => None,
        };
        if let (true, Some(r), Some((obr, n))) = (microsoft, &request, &g.obr) {
            add_order_specimen(obr, *n, r, patient.as_ref(), ctx, out);
        }
        match request {
            Some(r) => related.push(r),
            None => {
                // A ServiceRequest needs its subject (a PID) and its ORC: reported instead.
                for (seg, n) in g
                    .orc
                    .iter()
                    .chain(g.obr.iter())
                    .chain(g.tq1.iter())
                    .chain(g.notes.iter())
                {
                    ctx.report(
                        ReportKind::UnmappedSegment,
                        Location::segment(seg.name(), *n),
                    );
                }
            }
        }
    }

    let parts = txa_document_reference(&txa, 1, event, ctx);
    let mut d = parts.document;
    for (p, at) in parts.authors {
        d.author.push(add_practitioner(p, ctx, out, &at));
    }
    if let Some((p, at)) = parts.authenticator {
        d.authenticator = Some(Box::new(add_practitioner(p, ctx, out, &at)));
    }

    let mut content = DocumentContent::default();
    for (n, obx) in msg.segments_named("OBX").enumerate() {
        content.add_obx(&obx, n + 1, ctx);
    }
    d.content = content.into_content();
    if let Some(ct) = &parts.content_type {
        for c in &mut d.content {
            if let Some(a) = c.attachment.as_deref_mut() {
                if a.content_type.is_none() {
                    a.content_type = Some(Primitive::new(ct.clone()));
                }
            }
        }
    }
    if d.content.is_empty() {
        ctx.report(
            ReportKind::DataQuality(DataProblem::MissingRequired),
            Location::segment("OBX", 1),
        );
        let creation = d
            .date
            .as_ref()
            .and_then(|p| p.value.as_ref())
            .and_then(|i| ehrkit_fhir_model::DateTime::new(i.as_str()))
            .map(Primitive::new);
        let mut attachment = Attachment {
            content_type: parts.content_type.clone().map(Primitive::new),
            creation,
            ..Default::default()
        };
        if attachment.content_type.is_none() && attachment.creation.is_none() {
            // Nothing to say about the content: it is absent (FHIR needs one attachment).
            attachment.extension.push(Extension {
                url: Some(DATA_ABSENT_REASON.to_owned()),
                value: Some(ExtensionValue::Code(Primitive::new("unknown".to_owned()))),
                ..Default::default()
            });
        }
        d.content
            .push(ehrkit_fhir_model::resources::DocumentReferenceContent {
                attachment: Some(Box::new(attachment)),
                ..Default::default()
            });
    }
    d.subject = patient.clone().map(Box::new);
    if encounter.is_some() || !related.is_empty() {
        d.context = Some(Box::new(DocumentReferenceContext {
            encounter: encounter.clone().into_iter().collect(),
            related,
            ..Default::default()
        }));
    }
    for (n, _) in msg.segments_named("TXA").enumerate().skip(1) {
        ctx.report(ReportKind::UnmappedSegment, Location::segment("TXA", n + 1));
    }

    let mut identifiers: Vec<_> = d
        .master_identifier
        .as_deref()
        .cloned()
        .into_iter()
        .collect();
    identifiers.extend(d.identifier.iter().cloned());
    let r = out.add(
        d,
        document_id,
        &identifiers,
        Role::Record,
        ctx,
        &Location::segment("TXA", 1),
    );
    focus.insert(0, r);
    focus.extend(patient);
    focus.extend(encounter);

    let mapped: Vec<&str> = MAPPED.iter().chain(SOURCES).copied().collect();
    report_other_segments(msg, &mapped, ctx);
    finish(msg, focus, ctx, out);
    Ok(())
}

/// T01: the Specimen the order's OBR describes (`OBR[Specimen]`), subject the Patient, as the
/// order's `specimen`; the OBR fields neither the request nor the Specimen reads are reported.
fn add_order_specimen(
    obr: &Segment<'_>,
    n: usize,
    request: &Reference,
    patient: Option<&Reference>,
    ctx: &mut Context<'_>,
    out: &mut Out,
) {
    let mapped: Vec<usize> = obr_service_request::MAPPED_FIELDS
        .iter()
        .chain(obr_specimen::MAPPED_FIELDS)
        .copied()
        .collect();
    report_fields(obr, &mapped, ctx, |f| Location::segment("OBR", n).field(f));
    let Some(r) = add_obr_specimen(obr, n, patient, ctx, out) else {
        return;
    };
    let Some(id) = referenced_id(request) else {
        return;
    };
    for e in out.entries.iter_mut().rev() {
        if let Some(Resource::ServiceRequest(sr)) = e.resource.as_deref_mut() {
            if sr.id.as_deref() == Some(id) {
                sr.specimen.push(r);
                return;
            }
        }
    }
}

fn add_practitioner(
    p: Practitioner,
    ctx: &mut Context<'_>,
    out: &mut Out,
    at: &Location,
) -> ehrkit_fhir_model::Reference {
    let identifiers = p.identifier.clone();
    out.add(p, practitioner_id, &identifiers, Role::Shared, ctx, at)
}

fn document_id(r: &mut DocumentReference) -> &mut Option<String> {
    &mut r.id
}
fn practitioner_id(r: &mut Practitioner) -> &mut Option<String> {
    &mut r.id
}
