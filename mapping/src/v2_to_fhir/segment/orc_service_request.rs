//! `ORC[ServiceRequest]`: HL7 v2 ORC (common order) → FHIR ServiceRequest.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-orc-to-servicerequest.html>
//!
//! - ORC-1 → `intent` `order`; → `status` through the IG map `OrderControlCode[ServiceRequest.status]`
//!   when ORC-5 is not valued.
//! - ORC-2 / ORC-3 (EI) → `identifier` of type `PLAC` / `FILL` (`v2-0203`); the message map lets
//!   OBR-2 / OBR-3 win when both are valued (IG conditions "IF OBR-2 NOT VALUED").
//! - ORC-4 → `requisition` of type `PGN`: in v2.7 and v2.8 (or whenever it has subcomponents) an
//!   EIP whose placer group (ORC-4.1) is the requisition and whose filler group (ORC-4.2) is an
//!   `identifier` of type `FGN` (when ORC-38 is not valued); otherwise (v2.6 and before, v2.9)
//!   an EI whose second component is the namespace of its authority.
//! - ORC-5 → `status` (IG map `OrderStatus`).
//! - ORC-9 → `authoredOn` when ORC-1 is `NW` (IG condition); otherwise reported.
//! - ORC-12 (XCN) → `requester`: a Practitioner (returned for the message map to add; the IG's
//!   intermediate PractitionerRole is not written, the reference goes to the Practitioner).
//! - ORC-16 (CWE) → extension `request-statusReason` when ORC-5 is not valued.
//! - ORC-29 (CWE) → `locationCode`.
//! - The other rows are listed in [`ROWS`] and reported when present. With no status source the
//!   status is `unknown` (FHIR requires one), reported.

use ehrkit_fhir_model::codes::{RequestIntent, RequestStatus};
use ehrkit_fhir_model::resources::{Practitioner, ServiceRequest};
use ehrkit_fhir_model::{
    CodeableConcept, Coding, Extension, ExtensionValue, Identifier, Primitive,
};
use ehrkit_hl7v2::datatypes::{Cwe, Ei, Eip, Text, Vid, Xcn};
use ehrkit_hl7v2::Segment;

use super::pid_patient::translate;
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, dtm, ei_identifier::ei_identifier, text,
    xcn_practitioner::xcn_practitioner, Context,
};
use crate::v2_to_fhir::vocab::generated::{
    ORDER_CONTROL_CODE_SERVICE_REQUEST_STATUS, ORDER_STATUS,
};
use crate::{DataProblem, Location, ReportKind};

const FILE: &str = "segment/orc_service_request.rs";
const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";

/// Fields this map reads.
pub(crate) const MAPPED_FIELDS: &[usize] = &[1, 2, 3, 4, 5, 9, 12, 16, 29];

/// A ServiceRequest from an ORC, and the Practitioner it names as requester (with the location
/// it came from) for the message map to add and reference.
#[derive(Debug, Clone)]
pub struct OrderParts {
    /// The request (no subject, encounter or requester reference yet).
    pub request: ServiceRequest,
    /// ORC-12 (or OBR-16) as a Practitioner, and where it was read.
    pub requester: Option<(Practitioner, Location)>,
}

/// Converts the `occurrence`-th ORC of a message.
pub fn orc_service_request(
    orc: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> OrderParts {
    let at = |field: usize| Location::segment("ORC", occurrence).field(field);
    let mut sr = ServiceRequest {
        intent: Some(Primitive::new(RequestIntent::Order)),
        ..Default::default()
    };
    for (f, ty) in [(2, "PLAC"), (3, "FILL")] {
        if let Some(id) = typed_ei(orc.field(f).first::<Ei<'_>>(), ty, ctx, &at(f)) {
            sr.identifier.push(id);
        }
    }
    if group_is_eip(orc) {
        // v2.7, v2.8: ORC-4 is EIP: the placer group number (PGN) and the filler's (FGN, an
        // identifier when ORC-38 is not valued).
        if let Some(eip) = orc.field(4).first::<Eip<'_>>() {
            sr.requisition = typed_ei(
                eip.placer_assigned_identifier(),
                "PGN",
                ctx,
                &at(4).component(1),
            )
            .map(Box::new);
            let filler = eip.filler_assigned_identifier();
            if orc.field(38).text().is_none() {
                sr.identifier
                    .extend(typed_ei(filler, "FGN", ctx, &at(4).component(2)));
            } else if filler.is_some() {
                ctx.report(ReportKind::UnmappedComponent, at(4).component(2));
            }
        }
    } else {
        sr.requisition = typed_ei(orc.field(4).first::<Ei<'_>>(), "PGN", ctx, &at(4)).map(Box::new);
    }

    let control = orc.field(1).text().map(|s| s.trim().to_ascii_uppercase());
    let order_status = orc
        .field(5)
        .text()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let status = match &order_status {
        Some(s) => translate(&ORDER_STATUS, s, ctx, &at(5)),
        None => control
            .as_deref()
            .filter(|c| !c.is_empty())
            .and_then(|c| translate(&ORDER_CONTROL_CODE_SERVICE_REQUEST_STATUS, c, ctx, &at(1))),
    };
    sr.status = Some(Primitive::new(
        match status.and_then(|s| RequestStatus::from_code(&s)) {
            Some(s) => s,
            None => {
                if order_status.is_none() && control.as_deref().is_none_or(str::is_empty) {
                    ctx.report(ReportKind::DataQuality(DataProblem::MissingRequired), at(5));
                }
                RequestStatus::Unknown
            }
        },
    ));

    let nine = dtm::read_date_time(orc.field(9).first::<Text<'_>>(), ctx, at(9));
    if let Some(t) = nine {
        if control.as_deref() == Some("NW") {
            sr.authored_on = Some(Primitive::new(t));
        } else {
            // The IG writes ORC-9 of other order controls as a businessEvent extension: not yet.
            ctx.report(ReportKind::UnmappedField, at(9));
        }
    }

    let requester = orc
        .field(12)
        .first::<Xcn<'_>>()
        .and_then(|x| xcn_practitioner(&x, ctx, &at(12).repetition(1)))
        .map(|mut p| {
            crate::quirks::merge_provider_repeats(&orc.field(12), &mut p, ctx, &at(12));
            (p, at(12).repetition(1))
        });

    if order_status.is_none() {
        if let Some(reason) = orc
            .field(16)
            .first::<Cwe<'_>>()
            .and_then(|c| cwe_codeable_concept(&c, ctx, &at(16)))
        {
            sr.extension.push(Extension {
                url: Some("http://hl7.org/fhir/StructureDefinition/request-statusReason".into()),
                value: Some(ExtensionValue::CodeableConcept(Box::new(reason))),
                ..Default::default()
            });
        }
    } else if orc.field(16).text().is_some() {
        ctx.report(ReportKind::UnmappedField, at(16));
    }
    for (r, cwe) in orc.field(29).repetitions::<Cwe<'_>>().enumerate() {
        if let Some(c) = cwe_codeable_concept(&cwe, ctx, &at(29).repetition(r + 1)) {
            sr.location_code.push(c);
        }
    }
    let twelve = orc.field(12);
    for r in 2..=twelve.repetition_count() {
        if twelve.repetition_raw(r).is_some_and(|raw| !raw.is_empty()) {
            ctx.report(ReportKind::UnmappedField, at(12).repetition(r));
        }
    }
    report_unmapped_fields(orc, occurrence, &[MAPPED_FIELDS], ctx);
    OrderParts {
        request: sr,
        requester,
    }
}

/// True when ORC-4 is an EIP (placer group ^ filler group): the message is v2.7 or v2.8 (the
/// IG's ORC-4 rows: EI, then EIP, then EI again from v2.9 with ORC-38), or the field has
/// subcomponents. Otherwise it is an EI whose second component is the namespace of its
/// authority (`GORD874233^NIST EHR` in a v2.5.1 message).
fn group_is_eip(orc: &Segment<'_>) -> bool {
    let four = orc.field(4);
    let subcomponents = four
        .repetition_raw(1)
        .is_some_and(|raw| raw.contains(&orc.message().delimiters().subcomponent));
    let eip_version = orc
        .message()
        .segment("MSH", 1)
        .and_then(|msh| msh.field(12).first::<Vid<'_>>())
        .and_then(|v| text(v.version_id()))
        .and_then(|v| {
            let mut parts = v.split('.');
            let major: u32 = parts.next()?.trim().parse().ok()?;
            let minor: u32 = parts.next().unwrap_or("0").trim().parse().ok()?;
            Some((2, 7) <= (major, minor) && (major, minor) < (2, 9))
        })
        .unwrap_or(false);
    subcomponents || eip_version
}

/// An EI as an Identifier of `v2-0203` type `ty`.
pub(crate) fn typed_ei(
    ei: Option<Ei<'_>>,
    ty: &str,
    ctx: &mut Context<'_>,
    at: &Location,
) -> Option<Identifier> {
    let mut id = ei_identifier(&ei?, ctx, at)?;
    id.type_ = Some(Box::new(v2_0203(ty)));
    Some(id)
}

/// A `v2-0203` identifier type.
pub(crate) fn v2_0203(code: &str) -> CodeableConcept {
    CodeableConcept::from_coding(Coding::with_code(V2_0203, code))
}

/// The `v2-0203` type code of an identifier (`PLAC`, `FILL`), if it has one.
pub(crate) fn type_code(id: &Identifier) -> Option<&str> {
    id.type_
        .as_ref()?
        .coding
        .first()?
        .code
        .as_ref()?
        .value
        .as_deref()
}

/// Reports every valued field of `seg` that none of `mapped` lists.
pub(crate) fn report_unmapped_fields(
    seg: &Segment<'_>,
    occurrence: usize,
    mapped: &[&[usize]],
    ctx: &mut Context<'_>,
) {
    for f in 1..=seg.field_count() {
        let field = seg.field(f);
        if !mapped.iter().any(|m| m.contains(&f))
            && field.repetition_count() > 0
            && !field.is_null()
        {
            ctx.report(
                ReportKind::UnmappedField,
                Location::segment(seg.name(), occurrence).field(f),
            );
        }
    }
}

/// A trimmed, decoded field text, `None` when empty.
pub(crate) fn field_text(seg: &Segment<'_>, f: usize) -> Option<String> {
    text(seg.field(f).first::<Text<'_>>())
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; the field is reported as unmapped when present";
const BUSINESS_EVENT: &str = "the businessEvent extension is not written; ORC-1 gives status and intent, ORC-9 of an order control other than NW is reported";
const ORGANIZATION: &str =
    "Organization and PractitionerRole resources are not written yet; reported when present";

/// The spreadsheet rows of `ORC[ServiceRequest]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("ORC-1", "status"),
    mapped("ORC-1", "intent"),
    unmapped("ORC-1", "extension.url", BUSINESS_EVENT),
    unmapped("ORC-1", "extension[1].extension[1].url", BUSINESS_EVENT),
    unmapped(
        "ORC-1",
        "extension[1].extension[1].valueCodeableConcept.coding.code",
        BUSINESS_EVENT,
    ),
    unmapped(
        "ORC-1",
        "extension[1].extension[1].valueCodeableConcept.coding.system",
        BUSINESS_EVENT,
    ),
    mapped("ORC-2", "identifier[1]"),
    mapped("ORC-2", "identifier[1].type.coding.code"),
    mapped("ORC-2", "identifier[1].type.coding.system"),
    mapped("ORC-3", "identifier[2]"),
    mapped("ORC-3", "identifier[2].type.coding.code"),
    mapped("ORC-3", "identifier[2].type.coding.system"),
    mapped("ORC-4", "requisition[1].value"),
    mapped("ORC-4", "requisition[1].type.coding.code"),
    mapped("ORC-4", "requisition[1].type.coding.system"),
    mapped("ORC-4", "requisition[2].value"),
    mapped("ORC-4", "requisition[2].type.coding.code"),
    mapped("ORC-4", "requisition[2].type.coding.system"),
    mapped("ORC-4", "identifier[3].value"),
    mapped("ORC-4", "identifier[3].type.coding.code"),
    mapped("ORC-4", "identifier[3].type.coding.system"),
    mapped("ORC-5", "status"),
    unmapped(
        "ORC-7",
        "$this",
        "TQ (deprecated since v2.5; TQ1 carries timing) is not converted; reported when present",
    ),
    mapped("ORC-9", "authoredOn"),
    unmapped("ORC-9", "extension[2].url", BUSINESS_EVENT),
    unmapped("ORC-9", "extension[2].extension[1].url", BUSINESS_EVENT),
    unmapped(
        "ORC-9",
        "extension[2].extension[1].valuedateTime",
        BUSINESS_EVENT,
    ),
    mapped("ORC-12", "requester(PractitionerRole.practitioner)"),
    unmapped("ORC-14", "extension[3].url", NOT_YET),
    unmapped("ORC-14", "extension[3].valueContactPoint", NOT_YET),
    mapped("ORC-16", "extension[3].url"),
    mapped("ORC-16", "extension[3].valueCodeableConcept"),
    unmapped(
        "ORC-21",
        "requester(PractitionerRole.organization(Organization))",
        ORGANIZATION,
    ),
    unmapped(
        "ORC-22",
        "requester(PractitionerRole.organization(Organization.address))",
        ORGANIZATION,
    ),
    unmapped(
        "ORC-23",
        "requester(PractitionerRole.organization(Organization.telecom))",
        ORGANIZATION,
    ),
    unmapped(
        "ORC-24",
        "requester(PractitionerRole.practitioner(Practitioner.address))",
        ORGANIZATION,
    ),
    unmapped("ORC-28", "meta.security", NOT_YET),
    mapped("ORC-29", "locationCode"),
    unmapped("ORC-33", "identifier[4]", NOT_YET),
    unmapped("ORC-33", "identifier[4].type.coding.code", NOT_YET),
    unmapped("ORC-33", "identifier[4].type.coding.system", NOT_YET),
    unmapped("ORC-38", "identifier[5].value", NOT_YET),
    unmapped("ORC-38", "identifier[5].type.coding.code", NOT_YET),
    unmapped("ORC-38", "identifier[5].type.coding.system", NOT_YET),
];
