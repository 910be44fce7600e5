//! `TXA[DocumentReference]`: HL7 v2 TXA (transcription document header) → FHIR
//! DocumentReference, and `OBX[DocumentReference]`: the document's content from its OBXs.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-txa-to-documentreference.html>
//! and <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-obx-to-documentreference.html>
//! (`OBX[DocumentReference]` lives here, beside the header it fills, and registers its own rows).
//!
//! TXA:
//! - TXA-2 → `type`; TXA-12 → `masterIdentifier` (EI); TXA-16 → `identifier`.
//! - TXA-6 (origination) → `date` (an instant: without an offset or a source zone it is left
//!   out and reported). The IG's R5 `extension-date` rows are not written (R4 has `date`).
//! - TXA-9 → `author`, TXA-10 → `authenticator` (Practitioners, `XCN[Practitioner]`).
//! - TXA-17 (completion status, table 0271) → `docStatus`: `LA` (legally authenticated) and
//!   `AU` (authenticated) → `final`; `DI`, `DO`, `IN`, `IP`, `PA` → `preliminary`; another code is
//!   reported. The IG gives no ConceptMap for table 0271.
//! - TXA-18 → `securityLabel` (IG map `DocumentConfidentialityStatus`).
//! - TXA-19 (availability) → `status`: `AV` or absent → `current`; `OB` (obsolete) →
//!   `superseded`; `CA` (cancelled) → `entered-in-error`; `UN` (unavailable) → `current`, reported.
//!   (The IG keeps CA/OB/UN only in a status extension; R4 requires a status, and these are the
//!   codes that say it.)
//! - TXA-25 → `description`.
//! - TXA-3 (content presentation) → `content.attachment.contentType` when it is a media type
//!   (`type/subtype`) and the content has none; the table 0191 codes (`TX`, `FT`, `AP`) say what
//!   the OBX value types already say, and are reported.
//! - TXA-13 (parent document) → `relatesTo` (`appends` for an addendum T06, `replaces` for a
//!   replacement T10), a logical reference by identifier; not written for other events
//!   (reported).
//!
//! OBX content (OBX-5 by OBX-2, `content`):
//! - `ED` → one `content` per repetition (`ED[Attachment]`).
//! - `TX`, `FT`, `ST` → the text of all such OBXs of the document, one line per OBX-5
//!   repetition and per OBX, in one `content` with `contentType` `text/plain; charset=utf-8`
//!   and the UTF-8 text as `data`. FT formatting commands are laid out as text (`\.br\` a line
//!   break, `\.sp\` blank lines: `FT[string]`, `datatype/ft_text.rs`). The IG's content types
//!   (`text/hl7v2` for FT kept raw, `application/text` for TX) are not used: the text is laid
//!   out, and `application/text` is not a registered media type.
//! - `RP` → one `content` per repetition with RP.1 as `url`.
//! - Other value types and the other OBX fields are reported.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ehrkit_fhir_model::codes::{
    CompositionStatus, DocumentReferenceStatus, DocumentRelationshipType,
};
use ehrkit_fhir_model::resources::{
    DocumentReference, DocumentReferenceContent, DocumentReferenceRelatesTo, Practitioner,
};
use ehrkit_fhir_model::{Attachment, CodeableConcept, Primitive, Reference};
use ehrkit_hl7v2::datatypes::{Cwe, Ed, Ei, Ft, Rp, Text, Xcn};
use ehrkit_hl7v2::escape::{DecodeOptions, Formatting};
use ehrkit_hl7v2::Segment;

use super::pid_patient::vocab_coding;
use super::sch_appointment::{read_instant, report_fields};
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept,
    ed_attachment::ed_attachment,
    ei_identifier::ei_identifier,
    ft_text::{ft_text, Layout},
    text,
    xcn_practitioner::xcn_practitioner,
    Context,
};
use crate::v2_to_fhir::vocab::generated::DOCUMENT_CONFIDENTIALITY_STATUS;
use crate::{DataProblem, Location, ReportKind};

const FILE: &str = "segment/txa_document_reference.rs";

/// The content type of laid-out TX/FT text.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// A DocumentReference and the Practitioners it refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentParts {
    /// The DocumentReference (no id, subject, content or context yet).
    pub document: DocumentReference,
    /// TXA-9 authors, in order, with where each was read.
    pub authors: Vec<(Practitioner, Location)>,
    /// TXA-10 authenticator.
    pub authenticator: Option<(Practitioner, Location)>,
    /// TXA-3 as a media type, when it is one.
    pub content_type: Option<String>,
}

/// Converts the `occurrence`-th TXA of a message of trigger `event` (`T06` addendum, `T10`
/// replacement make TXA-13 a `relatesTo`).
pub fn txa_document_reference(
    txa: &Segment<'_>,
    occurrence: usize,
    event: &str,
    ctx: &mut Context<'_>,
) -> DocumentParts {
    let at = |field: usize| Location::segment("TXA", occurrence).field(field);
    let mut d = DocumentReference {
        type_: txa
            .field(2)
            .first::<Cwe<'_>>()
            .and_then(|c| cwe_codeable_concept(&c, ctx, &at(2)))
            .map(Box::new),
        ..Default::default()
    };
    let mut mapped = vec![1, 2, 6, 9, 10, 12, 16, 17, 18, 19, 25];

    let content_type = text(txa.field(3).first::<Text<'_>>());
    let content_type = match content_type {
        Some(ct) if ct.contains('/') => {
            mapped.push(3);
            Some(ct.to_ascii_lowercase())
        }
        _ => None,
    };

    d.date = read_instant(txa.field(6).first::<Text<'_>>(), ctx, at(6)).map(Primitive::new);

    let mut authors = Vec::new();
    for (r, xcn) in txa.field(9).repetitions::<Xcn<'_>>().enumerate() {
        let at_r = at(9).repetition(r + 1);
        if let Some(p) = xcn_practitioner(&xcn, ctx, &at_r) {
            authors.push((p, at_r));
        }
    }
    let authenticator = txa.field(10).first::<Xcn<'_>>().and_then(|x| {
        let at_r = at(10).repetition(1);
        xcn_practitioner(&x, ctx, &at_r).map(|p| (p, at_r))
    });
    for r in 2..=txa.field(10).repetition_count() {
        ctx.report(ReportKind::UnmappedField, at(10).repetition(r));
    }

    if let Some(ei) = txa.field(12).first::<Ei<'_>>() {
        d.master_identifier = ei_identifier(&ei, ctx, &at(12)).map(Box::new);
    }
    if let Some(v) = text(txa.field(16).first::<Text<'_>>()) {
        d.identifier.push(ehrkit_fhir_model::Identifier {
            value: Some(Primitive::new(v)),
            ..Default::default()
        });
    }
    if let Some(code) = text(txa.field(17).first::<Text<'_>>()) {
        match code.to_ascii_uppercase().as_str() {
            "LA" | "AU" => d.doc_status = Some(Primitive::new(CompositionStatus::Final)),
            "DI" | "DO" | "IN" | "IP" | "PA" => {
                d.doc_status = Some(Primitive::new(CompositionStatus::Preliminary))
            }
            _ => ctx.report(ReportKind::DataQuality(DataProblem::InvalidValue), at(17)),
        }
    }
    for (r, t) in txa.field(18).repetitions::<Text<'_>>().enumerate() {
        if let Some(code) = text(Some(t)) {
            let at_r = at(18).repetition(r + 1);
            if let Some(c) = vocab_coding(&DOCUMENT_CONFIDENTIALITY_STATUS, &code, ctx, &at_r) {
                d.security_label.push(CodeableConcept::from_coding(c));
            }
        }
    }
    let status = match text(txa.field(19).first::<Text<'_>>())
        .map(|s| s.to_ascii_uppercase())
        .as_deref()
    {
        None | Some("AV") => DocumentReferenceStatus::Current,
        Some("OB") => DocumentReferenceStatus::Superseded,
        Some("CA") => DocumentReferenceStatus::EnteredInError,
        Some(_) => {
            ctx.report(ReportKind::DataQuality(DataProblem::InvalidValue), at(19));
            DocumentReferenceStatus::Current
        }
    };
    d.status = Some(Primitive::new(status));
    d.description = text(txa.field(25).first::<Text<'_>>()).map(Primitive::new);

    let relation = match event {
        "T06" => Some(DocumentRelationshipType::Appends),
        "T10" => Some(DocumentRelationshipType::Replaces),
        _ => None,
    };
    if let Some(code) = relation {
        mapped.push(13);
        if let Some(target) = txa
            .field(13)
            .first::<Ei<'_>>()
            .and_then(|ei| ei_identifier(&ei, ctx, &at(13)))
        {
            d.relates_to.push(DocumentReferenceRelatesTo {
                code: Some(Primitive::new(code)),
                target: Some(Box::new(Reference {
                    type_: Some(Primitive::new("DocumentReference".to_owned())),
                    identifier: Some(Box::new(target)),
                    ..Default::default()
                })),
                ..Default::default()
            });
        } else {
            ctx.report(
                ReportKind::DataQuality(DataProblem::MissingRequired),
                at(13),
            );
        }
    }

    report_fields(txa, &mapped, ctx, at);
    DocumentParts {
        document: d,
        authors,
        authenticator,
        content_type,
    }
}

/// The content of a document being read from its OBXs (`OBX[DocumentReference]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentContent {
    /// ED and RP contents, in order.
    pub attachments: Vec<Attachment>,
    /// TX/FT/ST lines, in order.
    pub lines: Vec<String>,
}

impl DocumentContent {
    /// Adds the content of the `occurrence`-th OBX of the message.
    pub fn add_obx(&mut self, obx: &Segment<'_>, occurrence: usize, ctx: &mut Context<'_>) {
        let at = |field: usize| Location::segment("OBX", occurrence).field(field);
        let value_type = obx.field(2).text().map(|t| t.trim().to_ascii_uppercase());
        let five = obx.field(5);
        let mut mapped = vec![1, 2];
        match value_type.as_deref() {
            Some("ED") => {
                mapped.push(5);
                for (r, ed) in five.repetitions::<Ed<'_>>().enumerate() {
                    if let Some(a) = ed_attachment(&ed, ctx, &at(5).repetition(r + 1)) {
                        self.attachments.push(a);
                    }
                }
            }
            Some("TX" | "ST") => {
                mapped.push(5);
                for t in five.repetitions::<Text<'_>>() {
                    self.lines.push(display_line(t));
                }
            }
            Some("FT") => {
                mapped.push(5);
                let layout = Layout::default();
                for ft in five.repetitions::<Ft<'_>>() {
                    self.lines.push(ft_text(&ft, &layout).unwrap_or_default());
                }
            }
            Some("RP") => {
                mapped.push(5);
                for (r, rp) in five.repetitions::<Rp<'_>>().enumerate() {
                    match text(rp.pointer()) {
                        Some(url) => self.attachments.push(Attachment {
                            url: Some(Primitive::new(url)),
                            ..Default::default()
                        }),
                        None => ctx.report(
                            ReportKind::DataQuality(DataProblem::MissingRequired),
                            at(5).repetition(r + 1),
                        ),
                    }
                }
            }
            _ => {}
        }
        report_fields(obx, &mapped, ctx, at);
    }

    /// The DocumentReference contents: the attachments, then the text (if any) as one
    /// `text/plain` attachment.
    pub fn into_content(self) -> Vec<DocumentReferenceContent> {
        let mut attachments = self.attachments;
        if !self.lines.is_empty() {
            let body = self.lines.join("\n");
            attachments.push(Attachment {
                content_type: Some(Primitive::new(TEXT_CONTENT_TYPE.to_owned())),
                data: Some(Primitive::new(STANDARD.encode(body.as_bytes()))),
                ..Default::default()
            });
        }
        attachments
            .into_iter()
            .map(|a| DocumentReferenceContent {
                attachment: Some(Box::new(a)),
                ..Default::default()
            })
            .collect()
    }
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const R5_DATE: &str = "an R5 backport extension for a date; R4's DocumentReference.date is written";

/// The spreadsheet rows of `TXA[DocumentReference]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("TXA-2", "type"),
    mapped("TXA-3", "content.attachment.contentType"),
    mapped("TXA-6", "date"),
    unmapped("TXA-6", "extension[1].url", R5_DATE),
    unmapped("TXA-6", "extension[1].valueDate", R5_DATE),
    mapped("TXA-9", "author(Practitioner)"),
    mapped("TXA-10", "authenticator(Practitioner)"),
    mapped("TXA-12", "masterIdentifier"),
    mapped("TXA-16", "identifier[1]"),
    mapped("TXA-17", "docStatus"),
    mapped("TXA-18", "securityLabel"),
    mapped("TXA-19", "status"),
    unmapped(
        "TXA-19",
        "status.extension[1].url",
        "CA/OB map to the R4 status codes entered-in-error/superseded; UN is reported",
    ),
    unmapped(
        "TXA-19",
        "status.extension[1].valueCodeableConcept",
        "CA/OB map to the R4 status codes entered-in-error/superseded; UN is reported",
    ),
    mapped("TXA-25", "description"),
];

/// The spreadsheet rows of `OBX[DocumentReference]` and how this map handles each.
pub static OBX_ROWS: &[Row] = &[
    mapped("OBX-5", "content[1].attachment"),
    mapped("OBX-5", "content[2].data"),
    unmapped(
        "OBX-5",
        "content[2].contentType",
        "FT is laid out as text: content type text/plain; charset=utf-8, not raw text/hl7v2",
    ),
    mapped("OBX-5", "content[3].url"),
    mapped("OBX-5", "content[4].data"),
    unmapped(
        "OBX-5",
        "content[4].contentType",
        "application/text is not a registered media type: text/plain; charset=utf-8",
    ),
];

/// One TX/ST line of a document as written (leading spaces and blank lines kept: TX is laid
/// out by its sender), escapes decoded, the highlighting escapes `\H\` `\N\` dropped and
/// the formatting commands senders put in TX (`\.br\`) laid out as line breaks.
fn display_line(t: Text<'_>) -> String {
    if t.raw().is_empty() || t.is_null() {
        return String::new();
    }
    let opts = DecodeOptions::default()
        .formatting(Formatting::Text)
        .lossy(true);
    match t.decode_with(&opts, t.charset()) {
        Ok(v) => v.into_owned(),
        Err(_) => t.value().map(|v| v.into_owned()).unwrap_or_default(),
    }
}
