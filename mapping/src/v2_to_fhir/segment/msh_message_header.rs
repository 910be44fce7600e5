//! `MSH[MessageHeader]`: HL7 v2 MSH → FHIR MessageHeader (Bundle type `message` only).
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-msh-to-messageheader.html>
//!
//! - MSH-9 → `eventCoding` (system `v2-0003`, the trigger event).
//! - MSH-3 → `source`: HD.1 → `name`; `endpoint` (required by FHIR) is HD.2 as a URI when the
//!   profile's systems know it as one (`urn:oid:…`), else the profile's unknown-system base
//!   followed by `application:` and the percent-encoded namespace.
//! - MSH-5 → `destination[1]` the same way.
//! - MSH-4/6 (sender/receiver Organizations), MSH-8, 17, 19, 22–27 are not written yet and are
//!   reported when present. MSH-7 and MSH-10 go to the Bundle (`MSH[Bundle]`), MSH-1/2
//!   (delimiters) and MSH-11/12 (processing id, version) govern parsing.

use ehrkit_fhir_model::resources::{
    MessageHeader, MessageHeaderDestination, MessageHeaderEvent, MessageHeaderSource,
};
use ehrkit_fhir_model::{Coding, Primitive};
use ehrkit_hl7v2::datatypes::Hd;
use ehrkit_hl7v2::Segment;

use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{text, Context};
use crate::{Authority, Location, ReportKind, SystemSource};

const FILE: &str = "segment/msh_message_header.rs";

/// MSH fields every Bundle carries or that govern parsing.
const BUNDLE_FIELDS: &[usize] = &[1, 2, 7, 9, 10, 11, 12];

/// Converts MSH into a MessageHeader (no id, no focus: the message map sets them).
pub fn msh_message_header(msh: &Segment<'_>, ctx: &mut Context<'_>) -> MessageHeader {
    let event = msh
        .get("9.2")
        .map(|e| e.trim().to_owned())
        .unwrap_or_default();
    let mut h = MessageHeader {
        event: Some(MessageHeaderEvent::Coding(Box::new(Coding::with_code(
            "http://terminology.hl7.org/CodeSystem/v2-0003",
            &event,
        )))),
        ..Default::default()
    };
    let (name, endpoint) = application(msh.field(3).first::<Hd<'_>>(), ctx);
    h.source = Some(Box::new(MessageHeaderSource {
        name: name.map(Primitive::new),
        endpoint: Some(Primitive::new(endpoint)),
        ..Default::default()
    }));
    if let Some(hd) = msh.field(5).first::<Hd<'_>>().filter(|h| !h.is_empty()) {
        let (name, endpoint) = application(Some(hd), ctx);
        h.destination.push(MessageHeaderDestination {
            name: name.map(Primitive::new),
            endpoint: Some(Primitive::new(endpoint)),
            ..Default::default()
        });
    }
    report_fields(msh, ctx, &[3, 5]);
    h
}

/// Reports the MSH fields a Bundle without a MessageHeader does not carry.
pub fn report_outside_message(msh: &Segment<'_>, ctx: &mut Context<'_>) {
    report_fields(msh, ctx, &[]);
}

fn report_fields(msh: &Segment<'_>, ctx: &mut Context<'_>, also_mapped: &[usize]) {
    for f in 1..=msh.field_count() {
        let field = msh.field(f);
        if !BUNDLE_FIELDS.contains(&f)
            && !also_mapped.contains(&f)
            && field.repetition_count() > 0
            && !field.is_null()
        {
            ctx.report(
                ReportKind::UnmappedField,
                Location::segment("MSH", 1).field(f),
            );
        }
    }
}

/// An application HD as (name, endpoint URI).
fn application(hd: Option<Hd<'_>>, ctx: &Context<'_>) -> (Option<String>, String) {
    let name = hd.and_then(|h| text(h.namespace_id()));
    let uid = hd.and_then(|h| text(h.universal_id()));
    let ty = hd.and_then(|h| text(h.universal_id_type()));
    let uri = uid.as_deref().and_then(|u| {
        ctx.systems
            .identifier_system(Authority {
                namespace: None,
                universal_id: Some(u),
                universal_id_type: ty.as_deref(),
            })
            .filter(|s| s.source == SystemSource::Universal)
            .map(|s| s.uri.into_owned())
    });
    let endpoint = uri.unwrap_or_else(|| {
        let label = name.as_deref().or(uid.as_deref()).unwrap_or("unknown");
        let enc: String = label
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("{}application:{enc}", ctx.systems.base())
    });
    (name, endpoint)
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; the field is reported as unmapped when present";
const ORGANIZATION: &str =
    "needs XON/HD[Organization] (Organization resources), not written yet; reported when present";

/// The spreadsheet rows of `MSH[MessageHeader]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("MSH-3", "source[1]"),
    mapped("MSH-3", "source[1].endpoint"),
    unmapped("MSH-4", "sender(Organization)", ORGANIZATION),
    unmapped("MSH-5", "destination[1].target(Device)", NOT_YET),
    mapped("MSH-5", "destination[1].name"),
    mapped("MSH-5", "destination[1].endpoint"),
    unmapped(
        "MSH-6",
        "destination[1].receiver(Organization)",
        ORGANIZATION,
    ),
    unmapped("MSH-8", "meta.security", NOT_YET),
    mapped("MSH-9", "eventCoding"),
    unmapped("MSH-11", "meta", NOT_YET),
    unmapped(
        "MSH-17",
        "sender(Organization.address.country)",
        ORGANIZATION,
    ),
    unmapped("MSH-19", "language", NOT_YET),
    unmapped("MSH-22", "responsible(Organization)", ORGANIZATION),
    unmapped(
        "MSH-23",
        "destination[1].receiver(Organization)",
        ORGANIZATION,
    ),
    unmapped("MSH-24", "source", NOT_YET),
    unmapped("MSH-24", "source.endpoint.extension.url", NOT_YET),
    unmapped("MSH-24", "source.endpoint.extension.valueCode", NOT_YET),
    unmapped("MSH-25", "destination[1]", NOT_YET),
    unmapped("MSH-25", "destination[1].endpoint.extension.url", NOT_YET),
    unmapped(
        "MSH-25",
        "destination[1].endpoint.extension.valueCode",
        NOT_YET,
    ),
    unmapped("MSH-26", "meta.security[2]", NOT_YET),
    unmapped("MSH-27", "meta.security[2]", NOT_YET),
];
