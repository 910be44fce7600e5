//! IG datatype maps, one file per map, each opening with the map's name and IG link
//! (`CX[Identifier]` → [`cx_identifier`],
//! <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-cx-to-identifier.html>).
//!
//! Every map reads an `ehrkit-hl7v2` typed view (never a path string), writes an
//! `ehrkit-fhir-model` value, and reports through the [`Context`] what it could not carry
//! (components present but not mapped, vocabulary misses, unknown systems, bad values), each
//! with its location and without the value.
//!
//! Implemented: [`dtm`] (DTM/DT → dateTime/date), [`cx_identifier`], [`dln_identifier`],
//! [`ei_identifier`],
//! [`hd_identifier`], [`xpn_human_name`], [`xad_address`], [`xtn_contact_point`],
//! [`cwe_codeable_concept`], [`nm_quantity`], [`cq_quantity`], [`sn_quantity`], [`sn_range`],
//! [`sn_ratio`], [`xcn_practitioner`], [`pl_location`]. The other datatype maps of
//! the IG come with the segment maps that need them.

pub mod cq_quantity;
pub mod cwe_codeable_concept;
pub mod cx_identifier;
pub mod dln_identifier;
pub mod dtm;
pub mod ed_attachment;
pub mod ei_identifier;
pub mod ft_text;
pub mod hd_identifier;
pub mod nm_quantity;
pub mod pl_location;
mod sn;
pub mod sn_quantity;
pub mod sn_range;
pub mod sn_ratio;
pub mod xad_address;
pub mod xcn_practitioner;
pub mod xon_organization;
pub mod xpn_human_name;
pub mod xtn_contact_point;

use std::borrow::Cow;

use ehrkit_hl7v2::datatypes::Text;
use ehrkit_hl7v2::escape::{DecodeOptions, Formatting};

use crate::{Location, Profile, Report, ReportKind, Systems};

/// What a datatype map needs: the profile, its system registry, and the report being written.
#[derive(Debug)]
pub struct Context<'p> {
    /// The profile in use.
    pub profile: &'p Profile,
    /// Its system registry ([`Profile::systems`]).
    pub systems: Systems,
    /// What was not mapped so far.
    pub report: Report,
}

impl<'p> Context<'p> {
    /// A context with an empty report.
    pub fn new(profile: &'p Profile) -> Self {
        Context {
            profile,
            systems: profile.systems(),
            report: Report::new(),
        }
    }

    /// Reports `kind` at `at`.
    pub fn report(&mut self, kind: ReportKind, at: Location) {
        self.report.push(kind, at);
    }
}

/// A text component as data: escapes decoded, trimmed; `None` for absent, empty, blank or the
/// HL7 null.
pub(crate) fn text(t: Option<Text<'_>>) -> Option<String> {
    text_ref(t).map(Cow::into_owned)
}

/// Text meant for a reader (OBX `ST`/`TX` values, document lines): as [`text`], but the
/// highlighting escapes `\H\` and `\N\` are dropped (plain text has no highlighting) and the
/// formatting commands senders put in TX (`\.br\`, `\.sp\`, ...) become line breaks, as
/// `ehrkit_hl7v2::escape::Formatting::Text` lays them out. Nothing else differs from [`text`].
pub(crate) fn display_text(t: Option<Text<'_>>) -> Option<String> {
    let t = t?;
    let has_escape = t.delimiters().escape.is_some_and(|e| t.raw().contains(&e));
    if !has_escape || t.is_null() {
        return text(Some(t));
    }
    let opts = DecodeOptions::default()
        .formatting(Formatting::Text)
        .lossy(true);
    // Never fails with these options; were it to, the text as `text` reads it is kept.
    let Ok(v) = t.decode_with(&opts, t.charset()) else {
        return text(Some(t));
    };
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// [`text`] borrowed from the message when nothing needs decoding (the usual case): for codes
/// that are only looked up or compared.
pub(crate) fn text_ref<'a>(t: Option<Text<'a>>) -> Option<Cow<'a, str>> {
    let t = t?;
    let raw = t.raw();
    // Most components are plain ASCII without escapes: read them as they are (the same text
    // `value` gives, without its decoding machinery).
    if raw.is_ascii() && t.delimiters().escape.is_none_or(|e| !raw.contains(&e)) {
        if t.is_null() {
            return None;
        }
        let v = std::str::from_utf8(raw).ok()?.trim();
        return (!v.is_empty()).then_some(Cow::Borrowed(v));
    }
    let v: Cow<'_, str> = t.value()?;
    let v = v.trim();
    (!v.is_empty()).then(|| Cow::Owned(v.to_owned()))
}

/// True when [`text`] of `t` would be `Some` (without building the string).
pub(crate) fn has_text(t: Option<Text<'_>>) -> bool {
    let Some(t) = t else {
        return false;
    };
    let raw = t.raw();
    if raw.is_ascii() && t.delimiters().escape.is_none_or(|e| !raw.contains(&e)) {
        return !t.is_null() && std::str::from_utf8(raw).is_ok_and(|v| !v.trim().is_empty());
    }
    t.value().is_some_and(|v| !v.trim().is_empty())
}

/// Reports, as unmapped, each valued component past `last`, the last component of the view's
/// datatype (HL7 v2.9, as the IG's datatype spreadsheets list them): no map reads such a
/// component (a site extension, a shifted field), so without this it would vanish unseen.
/// `written` is the view's component count, `component` its component accessor.
pub(crate) fn report_past_last<'a>(
    ctx: &mut Context<'_>,
    at: &Location,
    written: usize,
    last: usize,
    component: impl Fn(usize) -> Option<Text<'a>>,
) {
    for n in last + 1..=written {
        if has_text(component(n)) {
            ctx.report(ReportKind::UnmappedComponent, at.clone().component(n));
        }
    }
}

/// Reports each of `components` (1-based) of a view as unmapped when it is valued.
pub(crate) fn report_unmapped(
    ctx: &mut Context<'_>,
    at: &Location,
    components: impl IntoIterator<Item = (usize, bool)>,
) {
    for (n, valued) in components {
        if valued {
            ctx.report(ReportKind::UnmappedComponent, at.clone().component(n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Delimiters;

    #[test]
    fn has_text_agrees_with_text() {
        let d = Delimiters::default();
        for raw in [
            &b""[..],
            b"\"\"",
            b" ",
            b"\x0b",
            b" A ",
            b"\\T\\",
            b"\\H\\ \\N\\",
            b"\\X41\\",
            "é".as_bytes(),
            " \u{a0} ".as_bytes(),
            b"\xff",
        ] {
            let t = Text::new(raw, &d);
            assert_eq!(has_text(Some(t)), text(Some(t)).is_some(), "{raw:?}");
        }
        assert!(!has_text(None));
    }
}
