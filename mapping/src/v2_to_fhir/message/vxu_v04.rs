//! `VXU_V04`: HL7 v2 VXU^V04 (unsolicited vaccination record update) → FHIR Bundle.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-message-vxu-v04-to-bundle.html>
//!
//! Written: the Patient (`PID[Patient]`), RelatedPersons (`NK1[RelatedPerson]`; an NK1 that is
//! only a contact, NK1-3 `EMR`/`E`/`F`/`I`/`S`, is reported as in ADT), the Encounter of PV1, and
//! per ORDER group (ORC, RXA, RXR, OBX…) one Immunization: `ORC[Immunization]`,
//! `RXA[Immunization]`, `RXR[Immunization]`, with its Practitioners (ORC-12 `OP`, RXA-10 `AP`),
//! manufacturer Organization and Locations. An RXA without an ORC before it (v2.3.1 senders)
//! starts a group of its own. Each ORC is also the order that led to the immunization: a
//! `ServiceRequest` (`ORC[ServiceRequest]`, IG row 12.1), written even when the group has no
//! RXA.
//!
//! OBXs of an order group: every one becomes an Observation (`OBX[Observation]`, IG row 12.6.1)
//! with `partOf` the Immunization; LOINC 64994-7 (vaccine funding program eligibility) also
//! fills `programEligibility` and 30963-3 (vaccine funding source) `fundingSource` of that
//! Immunization (the IG's note: "funding source, patient eligibility" may map to elements of
//! the Immunization). OBXs
//! before any order (PERSON_OBSERVATION) become Observations of the Patient. An NTE after an
//! OBX (a Z-segment or PRT between them aside) is that Observation's `note` (`NTE[Observation]`,
//! IG rows 11.3 and 12.6.3); any other NTE, PD1, PV2, IN1, GT1, TQ1, PRT and other segments are
//! reported.

use ehrkit_fhir_model::resources::{
    Immunization, Location as FhirLocation, Observation, Organization, Practitioner, RelatedPerson,
};
use ehrkit_fhir_model::Reference;
use ehrkit_hl7v2::datatypes::Cwe;
use ehrkit_hl7v2::{Message, Segment};

use super::orm_o01::{add_service_request, dedupe_report};
use super::{add_encounter, finish, patient_id, report_other_segments};
use crate::v2_to_fhir::convert::{ConvertError, Out, Role};
use crate::v2_to_fhir::datatype::{cwe_codeable_concept::cwe_codeable_concept, text, Context};
use crate::v2_to_fhir::segment::{
    nk1_related_person::nk1_related_person,
    nte_observation::nte_observation,
    obx_observation::obx_observation,
    orc_service_request::{self, orc_service_request, OrderParts},
    patient_other_sources::{first_patient_segments, patient_other_sources},
    pid_patient::pid_patient,
    pv1_encounter::pv1_encounter,
    rxa_immunization::{orc_immunization, rxa_immunization, rxr_immunization, ImmunizationParts},
};
use crate::{DataProblem, Location, ReportKind};

/// Segments this map reads (the others are reported).
const MAPPED: &[&str] = &[
    "MSH", "PID", "NK1", "PV1", "ORC", "RXA", "RXR", "OBX", "NTE", "DB1", "GT1", "IN2", "CON",
];

/// NK1-3.1 codes the IG sends to `NK1[Patient]` (Patient.contact) instead of a RelatedPerson.
const CONTACT_ONLY: &[&str] = &["EMR", "E", "F", "I", "S"];

/// LOINC: vaccine funding program eligibility category.
pub const ELIGIBILITY_LOINC: &str = "64994-7";
/// LOINC: vaccine funding source.
pub const FUNDING_SOURCE_LOINC: &str = "30963-3";

/// One ORDER group.
#[derive(Default)]
struct Order {
    parts: ImmunizationParts,
    has_rxa: bool,
    at: Option<Location>,
    observations: Vec<(Observation, usize)>,
    /// The NTEs (occurrences) attached to those Observations: reported with them when the
    /// group writes no Immunization.
    notes: Vec<usize>,
    /// The ORC as a ServiceRequest (IG VXU_V04 row 12.1).
    request: Option<(OrderParts, Location)>,
}

/// Converts a VXU^V04 message.
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
    let mut patient = pid_patient(&pid, 1, ctx);
    // Keyed by its PID identifiers; DB1, GT1, IN2 and CON add what they say about the patient.
    let identifiers = patient.identifier.clone();
    patient_other_sources(first_patient_segments(msg, ctx), &mut patient, ctx);
    let patient_ref = out.add(
        patient,
        patient_id,
        &identifiers,
        Role::Record,
        ctx,
        &Location::segment("PID", 1),
    );
    let mut focus = vec![patient_ref.clone()];

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
    let encounter = msg.segment("PV1", 1).map(|pv1| {
        let parts = pv1_encounter(&pv1, 1, None, ctx);
        add_encounter(parts, 1, &patient_ref, ctx, out)
    });

    let mut orders: Vec<Order> = Vec::new();
    let mut person_observations: Vec<(Observation, usize)> = Vec::new();
    let (mut n_orc, mut n_rxa, mut n_rxr, mut n_obx, mut n_pid, mut n_pv1) = (0, 0, 0, 0, 0, 0);
    let mut n_nte = 0;
    // An NTE belongs to the OBX before it (IG rows 11.3 and 12.6.3 → `Observation.note`); a
    // Z-segment or a PRT between them does not end the OBX's group, any other segment does.
    let mut after_obx = false;
    for seg in msg.segments() {
        let name = seg.name();
        if !matches!(name, "OBX" | "NTE" | "PRT") && !name.starts_with('Z') {
            after_obx = false;
        }
        match name {
            "ORC" => {
                n_orc += 1;
                let mut order = Order {
                    at: Some(Location::segment("ORC", n_orc)),
                    ..Default::default()
                };
                orc_immunization(&seg, n_orc, &mut order.parts, ctx);
                order.request = Some((
                    orc_service_request(&seg, n_orc, ctx),
                    Location::segment("ORC", n_orc),
                ));
                orders.push(order);
            }
            "RXA" => {
                n_rxa += 1;
                if orders.last().is_none_or(|o| o.has_rxa) {
                    orders.push(Order::default());
                }
                if let Some(o) = orders.last_mut() {
                    rxa_immunization(&seg, n_rxa, &mut o.parts, ctx);
                    o.has_rxa = true;
                    o.at = Some(Location::segment("RXA", n_rxa));
                }
            }
            "RXR" => {
                n_rxr += 1;
                match orders.last_mut().filter(|o| o.has_rxa) {
                    Some(o) => rxr_immunization(&seg, n_rxr, &mut o.parts.immunization, ctx),
                    None => {
                        ctx.report(ReportKind::UnmappedSegment, Location::segment("RXR", n_rxr))
                    }
                }
            }
            "OBX" => {
                n_obx += 1;
                match orders.last_mut() {
                    Some(o) => {
                        eligibility(&seg, &mut o.parts.immunization, ctx);
                        o.observations
                            .push((obx_observation(&seg, n_obx, ctx), n_obx));
                    }
                    None => person_observations.push((obx_observation(&seg, n_obx, ctx), n_obx)),
                }
                after_obx = true;
            }
            "NTE" => {
                n_nte += 1;
                let target = if !after_obx {
                    None
                } else if let Some(o) = orders.last_mut() {
                    o.notes.push(n_nte);
                    o.observations.last_mut()
                } else {
                    person_observations.last_mut()
                };
                match target {
                    Some((obs, _)) => obs.note.extend(nte_observation(&seg, n_nte, ctx)),
                    None => {
                        ctx.report(ReportKind::UnmappedSegment, Location::segment("NTE", n_nte))
                    }
                }
            }
            "PID" => {
                n_pid += 1;
                if n_pid > 1 {
                    ctx.report(ReportKind::UnmappedSegment, Location::segment("PID", n_pid));
                }
            }
            "PV1" => {
                n_pv1 += 1;
                if n_pv1 > 1 {
                    ctx.report(ReportKind::UnmappedSegment, Location::segment("PV1", n_pv1));
                }
            }
            _ => {}
        }
    }

    for (mut o, n) in person_observations {
        o.subject = Some(Box::new(patient_ref.clone()));
        o.encounter = encounter.clone().map(Box::new);
        focus.push(out.add(
            o,
            observation_id,
            &[],
            Role::Record,
            ctx,
            &Location::segment("OBX", n),
        ));
    }
    // Both ORC maps report the fields they do not read: a field one of them reads is mapped.
    forget_read_orc_fields(ctx);
    dedupe_report(ctx);
    let subject = Some(patient_ref.clone());
    for mut order in orders {
        if let Some((parts, at)) = order.request.take() {
            add_service_request(parts, at, &subject, &encounter, ctx, out);
        }
        let Some(at) = order.at.clone() else { continue };
        if !order.has_rxa {
            // An ORC without RXA: FHIR's Immunization needs a vaccine and an occurrence.
            ctx.report(
                ReportKind::DataQuality(DataProblem::MissingRequired),
                at.clone(),
            );
            for (_, n) in order.observations {
                ctx.report(ReportKind::UnmappedSegment, Location::segment("OBX", n));
            }
            for n in order.notes {
                ctx.report(ReportKind::UnmappedSegment, Location::segment("NTE", n));
            }
            continue;
        }
        let mut parts = order.parts;
        let mut imm = parts.immunization;
        for (i, p, p_at) in parts.practitioners.drain(..) {
            let identifiers = p.identifier.clone();
            let r = out.add(p, practitioner_id, &identifiers, Role::Shared, ctx, &p_at);
            if let Some(perf) = imm.performer.get_mut(i) {
                perf.actor = Some(Box::new(r));
            }
        }
        if let Some((org, o_at)) = parts.manufacturer.take() {
            let identifiers = org.identifier.clone();
            imm.manufacturer = Some(Box::new(out.add(
                org,
                organization_id,
                &identifiers,
                Role::Shared,
                ctx,
                &o_at,
            )));
        }
        let mut parent: Option<Reference> = None;
        for level in parts.location.drain(..) {
            let mut location = level.location;
            location.part_of = parent.take().map(Box::new);
            parent = Some(out.add_keyed(location, location_id, &level.key, ctx, &at));
        }
        imm.location = parent.map(Box::new);
        imm.patient = Some(Box::new(patient_ref.clone()));
        imm.encounter = encounter.clone().map(Box::new);
        let identifiers = imm.identifier.clone();
        let r = out.add(imm, immunization_id, &identifiers, Role::Record, ctx, &at);
        for (mut o, n) in order.observations {
            o.subject = Some(Box::new(patient_ref.clone()));
            o.encounter = encounter.clone().map(Box::new);
            o.part_of.push(r.clone());
            out.add(
                o,
                observation_id,
                &[],
                Role::Record,
                ctx,
                &Location::segment("OBX", n),
            );
        }
        focus.push(r);
    }
    focus.extend(encounter);

    report_other_segments(msg, MAPPED, ctx);
    finish(msg, focus, ctx, out);
    Ok(())
}

/// Drops the "field not mapped" entries of ORC fields that `ORC[ServiceRequest]` reads
/// (`ORC[Immunization]` reports them; every ORC of a VXU is both).
fn forget_read_orc_fields(ctx: &mut Context<'_>) {
    let old = std::mem::take(&mut ctx.report);
    for e in old.entries() {
        let read = e.kind == ReportKind::UnmappedField
            && e.location.segment == "ORC"
            && e.location
                .field
                .is_some_and(|f| orc_service_request::MAPPED_FIELDS.contains(&f));
        if !read {
            ctx.report.push(e.kind, e.location.clone());
        }
    }
}

/// An OBX of an order group that also fills the Immunization itself: eligibility →
/// `programEligibility`, funding source → `fundingSource`. The OBX is an Observation as well
/// (its own map reports what it does not carry), so problems of the value are not reported a
/// second time here.
fn eligibility(obx: &Segment<'_>, imm: &mut Immunization, ctx: &Context<'_>) {
    let code = obx
        .field(3)
        .first::<Cwe<'_>>()
        .and_then(|c| text(c.identifier()));
    let mut scratch = Context::new(ctx.profile);
    let mut value = || {
        obx.field(5)
            .first::<Cwe<'_>>()
            .and_then(|c| cwe_codeable_concept(&c, &mut scratch, &Location::segment("OBX", 1)))
    };
    match code.as_deref() {
        Some(ELIGIBILITY_LOINC) => imm.program_eligibility.extend(value()),
        Some(FUNDING_SOURCE_LOINC) => {
            if let Some(v) = value() {
                imm.funding_source = Some(Box::new(v));
            }
        }
        _ => {}
    }
}

fn related_person_id(r: &mut RelatedPerson) -> &mut Option<String> {
    &mut r.id
}
fn observation_id(r: &mut Observation) -> &mut Option<String> {
    &mut r.id
}
fn immunization_id(r: &mut Immunization) -> &mut Option<String> {
    &mut r.id
}
fn practitioner_id(r: &mut Practitioner) -> &mut Option<String> {
    &mut r.id
}
fn organization_id(r: &mut Organization) -> &mut Option<String> {
    &mut r.id
}
fn location_id(r: &mut FhirLocation) -> &mut Option<String> {
    &mut r.id
}
