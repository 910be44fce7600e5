//! `ED[Attachment]`: HL7 v2 ED (encapsulated data) → FHIR Attachment.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-ed-to-attachment.html>
//! (the same rows as `ED[DocumentReference]`, there under `content.attachment`).
//!
//! - ED.3 (data subtype) → `contentType`. The IG copies ED.3 as it is, but senders write a bare
//!   subtype (`PDF`) with the type of data in ED.2 (`AP`, `application`); FHIR needs a media type,
//!   so `contentType` is `type/subtype`: ED.3 as written when it already has a `/`, else ED.2
//!   (table 0191 `AP`/`IM`/`AU`/`TEXT` or a media top-level name) and ED.3, lower case. When
//!   neither gives a media type, `contentType` is left out and ED.2/ED.3 are reported
//!   ([`DataProblem::InvalidValue`]).
//! - ED.5 (data) → `data` (base64Binary) by ED.4 (encoding, table 0299): `Base64` is checked
//!   (line breaks and blanks dropped) and kept as written; `Hex` is decoded and written as
//!   Base64; `A` (ASCII text, escapes decoded) is written as the Base64 of its UTF-8 bytes.
//!   Data that does not decode by its encoding, an unknown encoding or a missing one is
//!   reported and no `data` is written (never a guess).
//! - ED.1 (source application) is reported when valued. `size` and `hash` are not written: the
//!   IG does not map them.
//!
//! An RP (reference pointer) is an Attachment too ([`rp_attachment`]): the IG's OBX map sends
//! an RP OBX-5 to the same `valueAttachment` extension as an ED, through this map. RP.1 (the
//! pointer) is the `url`; RP.3 (type of data) and RP.4 (subtype) give `contentType` as ED.2 and
//! ED.3 do; RP.2 (the application holding the data) has no Attachment element and is reported.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ehrkit_fhir_model::{Attachment, Primitive};
use ehrkit_hl7v2::datatypes::{Ed, Rp};

use super::{report_unmapped, text, Context};
use crate::{DataProblem, Location, ReportKind};

/// Converts one ED found at `at`. `None` when neither a content type nor data could be written
/// (what was wrong is reported).
pub fn ed_attachment(ed: &Ed<'_>, ctx: &mut Context<'_>, at: &Location) -> Option<Attachment> {
    if ed.is_empty() || ed.is_null() {
        return None;
    }
    report_unmapped(ctx, at, [(1, ed.source_application().is_some())]);
    let mut a = Attachment {
        content_type: content_type(
            text(ed.type_of_data()).as_deref(),
            text(ed.data_subtype()).as_deref(),
        )
        .map(Primitive::new),
        ..Default::default()
    };
    if a.content_type.is_none() && (ed.type_of_data().is_some() || ed.data_subtype().is_some()) {
        ctx.report(
            ReportKind::DataQuality(DataProblem::InvalidValue),
            at.clone().component(3),
        );
    }
    let data = ed.data().filter(|d| !d.is_empty() && !d.is_null());
    if let Some(data) = data {
        let encoding = text(ed.encoding());
        let converted = match encoding.as_deref().map(str::to_ascii_uppercase).as_deref() {
            Some("BASE64") => data.value().and_then(|v| base64_checked(&v)),
            Some("HEX") => data.value().and_then(|v| hex_to_base64(&v)),
            Some("A") => data.value().map(|v| STANDARD.encode(v.as_bytes())),
            None => {
                ctx.report(
                    ReportKind::DataQuality(DataProblem::MissingRequired),
                    at.clone().component(4),
                );
                return a.content_type.is_some().then_some(a);
            }
            Some(_) => {
                ctx.report(
                    ReportKind::DataQuality(DataProblem::InvalidValue),
                    at.clone().component(4),
                );
                return a.content_type.is_some().then_some(a);
            }
        };
        match converted {
            Some(d) => a.data = Some(Primitive::new(d)),
            None => ctx.report(
                ReportKind::DataQuality(DataProblem::InvalidValue),
                at.clone().component(5),
            ),
        }
    }
    (a.content_type.is_some() || a.data.is_some()).then_some(a)
}

/// `type/subtype` from ED.2 and ED.3 (see the module documentation).
/// Converts one RP found at `at`: an Attachment with the pointer as `url`. `None` when RP.1 is
/// not valued (reported as missing: an Attachment that points nowhere carries nothing).
pub fn rp_attachment(rp: &Rp<'_>, ctx: &mut Context<'_>, at: &Location) -> Option<Attachment> {
    if rp.is_empty() || rp.is_null() {
        return None;
    }
    report_unmapped(ctx, at, [(2, rp.application_id().is_some())]);
    let Some(url) = text(rp.pointer()) else {
        ctx.report(
            ReportKind::DataQuality(DataProblem::MissingRequired),
            at.clone().component(1),
        );
        return None;
    };
    let content_type = content_type(
        text(rp.type_of_data()).as_deref(),
        text(rp.subtype()).as_deref(),
    );
    if content_type.is_none() && (rp.type_of_data().is_some() || rp.subtype().is_some()) {
        ctx.report(
            ReportKind::DataQuality(DataProblem::InvalidValue),
            at.clone().component(3),
        );
    }
    Some(Attachment {
        content_type: content_type.map(Primitive::new),
        url: Some(Primitive::new(url)),
        ..Default::default()
    })
}

fn content_type(type_of_data: Option<&str>, subtype: Option<&str>) -> Option<String> {
    let subtype = subtype?.trim();
    if subtype.contains('/') {
        return Some(subtype.to_ascii_lowercase());
    }
    let top = match type_of_data?.trim().to_ascii_uppercase().as_str() {
        "AP" | "APPLICATION" => "application",
        "IM" | "IMAGE" => "image",
        "AU" | "AUDIO" => "audio",
        "TEXT" | "TX" => "text",
        "VIDEO" => "video",
        "MULTIPART" => "multipart",
        "MODEL" => "model",
        _ => return None,
    };
    let sub = match subtype.to_ascii_uppercase().as_str() {
        "JPG" => "jpeg".to_owned(),
        "TIF" => "tiff".to_owned(),
        "OCTETSTREAM" => "octet-stream".to_owned(),
        s if !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
        {
            s.to_ascii_lowercase()
        }
        _ => return None,
    };
    Some(format!("{top}/{sub}"))
}

/// Base64 data with blanks and line breaks dropped, when it decodes; `None` otherwise.
fn base64_checked(v: &str) -> Option<String> {
    let compact: String = v.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    STANDARD.decode(compact.as_bytes()).ok().map(|_| compact)
}

/// Hex pairs (blanks allowed between them) as Base64; `None` on an odd count or a non-hex digit.
fn hex_to_base64(v: &str) -> Option<String> {
    let digits: Vec<u8> = v.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = digits
        .chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect::<Option<Vec<u8>>>()?;
    Some(STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    fn run(raw: &[u8]) -> (Option<Attachment>, Vec<String>) {
        let profile = crate::Profile::generic();
        let mut ctx = Context::new(&profile);
        let a = ed_attachment(
            &Ed::parse(raw, &Delimiters::default()),
            &mut ctx,
            &Location::segment("OBX", 2).field(5),
        );
        (
            a,
            ctx.report.entries().iter().map(|e| e.to_string()).collect(),
        )
    }

    fn data(a: &Attachment) -> Vec<u8> {
        STANDARD
            .decode(a.data.as_ref().unwrap().value.as_deref().unwrap())
            .unwrap()
    }

    #[test]
    fn base64_pdf_is_kept_and_typed() {
        let (a, report) = run(b"^AP^PDF^Base64^JVBERi0x\\X0D0A\\LjQK");
        let a = a.unwrap();
        assert_eq!(
            a.content_type.as_ref().unwrap().value.as_deref(),
            Some("application/pdf")
        );
        assert_eq!(data(&a), b"%PDF-1.4\n");
        assert!(report.is_empty(), "{report:?}");
    }

    #[test]
    fn hex_and_ascii_become_base64() {
        let (a, _) = run(b"^TEXT^plain^Hex^48 656C6C6F");
        let a = a.unwrap();
        assert_eq!(data(&a), b"Hello");
        assert_eq!(
            a.content_type.as_ref().unwrap().value.as_deref(),
            Some("text/plain")
        );
        let (a, _) = run(b"^text^plain^A^Fe \\T\\ Na");
        assert_eq!(data(&a.unwrap()), b"Fe & Na");
    }

    #[test]
    fn bad_data_and_unknown_types_are_reported_not_guessed() {
        let (a, report) = run(b"APP^XX^PDF^Base64^not*base64");
        assert!(a.is_none());
        assert_eq!(
            report,
            [
                "OBX[2]-5.1: component not mapped",
                "OBX[2]-5.3: value not valid for its FHIR element",
                "OBX[2]-5.5: value not valid for its FHIR element",
            ]
        );
        let (a, report) = run(b"^AP^PDF^Hex^ABC");
        assert!(a.unwrap().data.is_none());
        assert_eq!(report, ["OBX[2]-5.5: value not valid for its FHIR element"]);
        let (_, report) = run(b"^AP^PDF^^QUJD");
        assert_eq!(report, ["OBX[2]-5.4: required value absent"]);
        let (_, report) = run(b"^AP^PDF^UU^QUJD");
        assert_eq!(report, ["OBX[2]-5.4: value not valid for its FHIR element"]);
    }
}
