//! `OBR[ServiceRequest]`: HL7 v2 OBR (observation request) → FHIR ServiceRequest.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-obr-to-servicerequest.html>
//!
//! Applied on top of the ServiceRequest of the ORC in the same order group (or a fresh one):
//! - OBR-2 / OBR-3 (EI) → `identifier` of type `PLAC` / `FILL`, replacing the ORC's of the same
//!   type (the IG writes ORC-2/3 only "IF OBR-2/3 NOT VALUED").
//! - OBR-4 → `code`; OBR-5 → `priority` (IG map `ExtendedPriorityCodes`); OBR-6 →
//!   `occurrenceDateTime`.
//! - OBR-11 → `intent`: `G` → `reflex-order`, otherwise `order` (the IG's `A` → `#add-on#` is no
//!   R4 code: `order` is kept and OBR-11 reported).
//! - OBR-16 (XCN) → `requester` Practitioner when ORC-12 gave none.
//! - OBR-29 (EIP, parent order) → `basedOn` as a logical reference (`identifier`, `type`
//!   ServiceRequest; no parent resource): the placer's number (29.1), else the filler's (29.2);
//!   the IG leaves the choice to the implementation when both are valued, so 29.2 is then
//!   reported. Not when OBR-50 is valued (IG condition): OBR-29 is then reported.
//! - OBR-31 → `reasonCode`; OBR-46 / OBR-47 → `orderDetail`.
//! - OBR-53 (alternate placer order number, CX) → `identifier` of type `PLAC`, after OBR-2's.
//! - The other rows are listed in [`ROWS`]; the message map reports the fields neither this map
//!   nor `OBR[DiagnosticReport]` reads.

use ehrkit_fhir_model::codes::{RequestIntent, RequestPriority, RequestStatus};
use ehrkit_fhir_model::resources::{ServiceRequest, ServiceRequestOccurrence};
use ehrkit_fhir_model::{Primitive, Reference};
use ehrkit_hl7v2::datatypes::{Cwe, Cx, Ei, Eip, Text, Xcn};
use ehrkit_hl7v2::Segment;

use super::orc_service_request::{field_text, type_code, typed_ei, v2_0203, OrderParts};
use super::pid_patient::translate;
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, cx_identifier::cx_identifier, dtm,
    ei_identifier::ei_identifier, xcn_practitioner::xcn_practitioner, Context,
};
use crate::v2_to_fhir::vocab::generated::EXTENDED_PRIORITY_CODES;
use crate::{Location, ReportKind};

const FILE: &str = "segment/obr_service_request.rs";

/// Fields this map reads (OBR-1, the set id, carries no data).
pub(crate) const MAPPED_FIELDS: &[usize] = &[1, 2, 3, 4, 5, 6, 11, 16, 29, 31, 46, 47, 53];

/// Applies the `occurrence`-th OBR of a message to `order` (the ORC's request, or
/// [`OrderParts::empty`]). Reports nothing about fields it does not read: the message map does,
/// knowing which other maps read the same OBR.
pub fn obr_service_request(
    obr: &Segment<'_>,
    occurrence: usize,
    order: &mut OrderParts,
    ctx: &mut Context<'_>,
) {
    let at = |field: usize| Location::segment("OBR", occurrence).field(field);
    let sr = &mut order.request;
    for (f, ty) in [(2, "PLAC"), (3, "FILL")] {
        if let Some(id) = typed_ei(obr.field(f).first::<Ei<'_>>(), ty, ctx, &at(f)) {
            sr.identifier.retain(|i| type_code(i) != Some(ty));
            sr.identifier.push(id);
        }
    }
    sr.identifier
        .sort_by_key(|i| usize::from(type_code(i) != Some("PLAC")));
    for (r, cx) in obr.field(53).repetitions::<Cx<'_>>().enumerate() {
        if let Some(mut id) = cx_identifier(&cx, ctx, &at(53).repetition(r + 1)) {
            id.type_ = Some(Box::new(v2_0203("PLAC")));
            if !sr.identifier.contains(&id) {
                sr.identifier.push(id);
            }
        }
    }
    sr.code = obr
        .field(4)
        .first::<Cwe<'_>>()
        .and_then(|c| cwe_codeable_concept(&c, ctx, &at(4)))
        .map(Box::new);
    if let Some(p) = field_text(obr, 5) {
        sr.priority = translate(&EXTENDED_PRIORITY_CODES, &p, ctx, &at(5))
            .and_then(|c| RequestPriority::from_code(&c))
            .map(Primitive::new);
    }
    if let Some(t) = dtm::read_date_time(obr.field(6).first::<Text<'_>>(), ctx, at(6)) {
        sr.occurrence = Some(ServiceRequestOccurrence::DateTime(Primitive::new(t)));
    }
    match field_text(obr, 11).as_deref() {
        Some("G") => sr.intent = Some(Primitive::new(RequestIntent::ReflexOrder)),
        Some("A") => ctx.report(ReportKind::UnmappedField, at(11)),
        _ => {}
    }
    if order.requester.is_none() {
        order.requester = obr
            .field(16)
            .first::<Xcn<'_>>()
            .and_then(|x| xcn_practitioner(&x, ctx, &at(16).repetition(1)))
            .map(|mut p| {
                crate::quirks::merge_provider_repeats(&obr.field(16), &mut p, ctx, &at(16));
                (p, at(16).repetition(1))
            });
    }
    parent_order(obr, ctx, &at(29), &mut sr.based_on);
    for (f, target) in [(31, 0), (46, 1), (47, 1)] {
        for (r, cwe) in obr.field(f).repetitions::<Cwe<'_>>().enumerate() {
            if let Some(c) = cwe_codeable_concept(&cwe, ctx, &at(f).repetition(r + 1)) {
                if target == 0 {
                    sr.reason_code.push(c);
                } else {
                    sr.order_detail.push(c);
                }
            }
        }
    }
}

/// OBR-29 → a logical `basedOn` reference to the parent order (see the module doc).
fn parent_order(obr: &Segment<'_>, ctx: &mut Context<'_>, at: &Location, out: &mut Vec<Reference>) {
    if obr.field(29).text().is_none() {
        return;
    }
    if obr.field(50).text().is_some() {
        ctx.report(ReportKind::UnmappedField, at.clone());
        return;
    }
    let Some(eip) = obr.field(29).first::<Eip<'_>>() else {
        return;
    };
    let id = |ei: Option<Ei<'_>>, n: usize, ctx: &mut Context<'_>| {
        ei.and_then(|ei| ei_identifier(&ei, ctx, &at.clone().component(n)))
    };
    let filler_valued = eip
        .filler_assigned_identifier()
        .is_some_and(|ei| !ei.is_empty() && !ei.is_null());
    let chosen = match id(eip.placer_assigned_identifier(), 1, ctx) {
        Some(placer) => {
            if filler_valued {
                ctx.report(ReportKind::UnmappedComponent, at.clone().component(2));
            }
            Some(placer)
        }
        None => id(eip.filler_assigned_identifier(), 2, ctx),
    };
    out.extend(chosen.map(|i| Reference {
        type_: Some(Primitive::new("ServiceRequest".to_owned())),
        identifier: Some(Box::new(i)),
        ..Default::default()
    }));
}

impl OrderParts {
    /// A request with no ORC: intent `order`, status `unknown` (the OBR carries no order
    /// status).
    pub fn empty() -> Self {
        OrderParts {
            request: ServiceRequest {
                intent: Some(Primitive::new(RequestIntent::Order)),
                status: Some(Primitive::new(RequestStatus::Unknown)),
                ..Default::default()
            },
            requester: None,
        }
    }
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; the field is reported as unmapped when present";

/// The spreadsheet rows of `OBR[ServiceRequest]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("OBR", "intent"),
    mapped("OBR-2", "identifier[1]"),
    mapped("OBR-2", "identifier[1].type.coding.code"),
    mapped("OBR-2", "identifier[1].type.coding.system"),
    mapped("OBR-3", "identifier[2]"),
    mapped("OBR-3", "identifier[2].type.coding.code"),
    mapped("OBR-3", "identifier[2].type.coding.system"),
    mapped("OBR-4", "code"),
    mapped("OBR-5", "priority"),
    mapped("OBR-6", "occurrenceDateTime"),
    mapped("OBR-11", "intent"),
    unmapped(
        "OBR-13",
        "extension[1].url",
        "an R5 cross-version extension (CodeableReference) with no R4 form here; reported",
    ),
    unmapped(
        "OBR-13",
        "extension[1].valueCodeableReference.concept",
        "an R5 cross-version extension (CodeableReference) with no R4 form here; reported",
    ),
    mapped("OBR-16", "requester(Practitioner)"),
    unmapped("OBR-17", "requester.extension[1].url", NOT_YET),
    unmapped(
        "OBR-17",
        "requester.extension[1].valueContactPoint",
        NOT_YET,
    ),
    unmapped(
        "OBR-27",
        "$this",
        "TQ (deprecated since v2.5; TQ1 carries timing) is not converted; reported when present",
    ),
    mapped("OBR-29", "basedOn[1].identifier"),
    mapped("OBR-29", "basedOn[1].type"),
    mapped("OBR-29", "basedOn[2].identifier"),
    mapped("OBR-29", "basedOn[2].type"),
    mapped("OBR-31", "reasonCode"),
    mapped("OBR-46", "orderDetail[1]"),
    mapped("OBR-47", "orderDetail[2]"),
    mapped("OBR-53", "identifier[3]"),
    mapped("OBR-53", "identifier[3].type.coding.code"),
    mapped("OBR-53", "identifier[3].type.coding.system"),
];
