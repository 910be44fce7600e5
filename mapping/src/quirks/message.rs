//! Quirks applied to the whole message before the message map runs: the field allow-list and
//! the source time zone requirement.

use ehrkit_hl7v2::datatypes::Text;
use ehrkit_hl7v2::Message;

use super::field_ref;
use crate::v2_to_fhir::ConvertError;
use crate::{Location, Profile, Quirk, ReportKind};

/// What the allow-list left out: report kinds and locations.
pub(crate) type LeftOut = Vec<(ReportKind, Location)>;

/// [`Quirk::FieldAllowList`]: the message with only the allowed fields
/// ([`V2Settings::allowed_fields`](super::V2Settings)), and what was left out (whole segments
/// not listed, valued fields not listed), by location. `None` when the quirk is off, the list
/// is empty, or nothing would be left out. MSH is always kept whole.
pub(crate) fn allowed_only(msg: &Message<'_>, profile: &Profile) -> Option<(Vec<u8>, LeftOut)> {
    let list = &profile.v2.allowed_fields;
    if !profile.has(Quirk::FieldAllowList) || list.is_empty() {
        return None;
    }
    let sep = msg.delimiters().field;
    let mut out: Vec<u8> = Vec::with_capacity(msg.as_bytes().len());
    let mut left_out = Vec::new();
    let mut seen = crate::v2_to_fhir::message::Occurrences::default();
    for seg in msg.segments() {
        let name = seg.name();
        let occurrence = seen.next(name);
        if name == "MSH" || list.iter().any(|f| f == name) {
            out.extend_from_slice(seg.as_bytes());
            out.push(b'\r');
            continue;
        }
        let fields: Vec<usize> = list
            .iter()
            .filter_map(|f| field_ref(f).filter(|(s, _)| *s == name).map(|(_, n)| n))
            .collect();
        if fields.is_empty() {
            left_out.push((
                ReportKind::UnmappedSegment,
                Location::segment(name, occurrence),
            ));
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        for f in 1..=seg.field_count() {
            out.push(sep);
            let raw = seg.field_raw(f).unwrap_or_default();
            if fields.contains(&f) {
                out.extend_from_slice(raw);
            } else if !raw.is_empty() {
                left_out.push((
                    ReportKind::UnmappedField,
                    Location::segment(name, occurrence).field(f),
                ));
            }
        }
        out.push(b'\r');
    }
    (!left_out.is_empty()).then_some((out, left_out))
}

/// [`Quirk::RequireSourceTimeZone`]: refuses a message whose MSH-7 has a time without an offset
/// when the profile has no source time zone.
pub(crate) fn check_time_zone(msg: &Message<'_>, profile: &Profile) -> Result<(), ConvertError> {
    if !profile.has(Quirk::RequireSourceTimeZone) || profile.source_time_zone.is_some() {
        return Ok(());
    }
    let Some(msh) = msg.segment("MSH", 1) else {
        return Ok(());
    };
    let Some(t) = msh.field(7).first::<Text<'_>>() else {
        return Ok(());
    };
    let Ok(dtm) = t.dtm() else {
        return Ok(());
    };
    if dtm.hour().is_some() && dtm.offset_minutes().is_none() {
        return Err(ConvertError::MissingSourceTimeZone {
            at: Location::segment("MSH", 1).field(7),
        });
    }
    Ok(())
}
