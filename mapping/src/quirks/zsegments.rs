//! [`Quirk::ZSegmentExtensions`]: Z-segment fields → extensions, per the site's table
//! ([`V2Settings::z_segments`](super::V2Settings)).

use ehrkit_fhir_model::{Extension, ExtensionValue, Primitive};
use ehrkit_hl7v2::datatypes::Text;
use ehrkit_hl7v2::{Message, Segment};

use super::{field_ref, ZTarget, ZValue};
use crate::v2_to_fhir::datatype::{text, Context};
use crate::{DataProblem, Location, Quirk, ReportKind};

/// Adds to `extensions` the mapped fields of the first occurrence of each Z-segment whose
/// extension goes on `target`.
pub(crate) fn apply(
    msg: &Message<'_>,
    target: ZTarget,
    extensions: &mut Vec<Extension>,
    ctx: &mut Context<'_>,
) {
    let profile = ctx.profile;
    for (key, z) in &profile.v2.z_segments {
        if z.resource != target {
            continue;
        }
        let Some((seg_id, n)) = field_ref(key) else {
            continue;
        };
        let Some(seg) = msg.segment(seg_id, 1) else {
            continue;
        };
        let Some(v) = text(seg.field(n).first::<Text<'_>>()) else {
            continue;
        };
        let at = Location::segment(seg_id, 1).field(n);
        let value = match z.value {
            ZValue::String => ExtensionValue::String(Primitive::new(v)),
            ZValue::Code => ExtensionValue::Code(Primitive::new(v)),
            ZValue::Boolean => match v.as_str() {
                "Y" | "y" => ExtensionValue::Boolean(Primitive::new(true)),
                "N" | "n" => ExtensionValue::Boolean(Primitive::new(false)),
                _ => {
                    ctx.report(ReportKind::DataQuality(DataProblem::InvalidValue), at);
                    continue;
                }
            },
        };
        extensions.push(Extension {
            url: Some(z.url.clone()),
            value: Some(value),
            ..Default::default()
        });
    }
}

/// True when the profile maps fields of this Z-segment (the `occurrence`-th with its id): its
/// valued fields outside the table are then reported one by one (and a mapped field whose
/// resource the message does not produce), instead of the whole segment.
pub(crate) fn z_segment_handled(
    seg: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> bool {
    let profile = ctx.profile;
    if !profile.has(Quirk::ZSegmentExtensions) || occurrence != 1 {
        return false;
    }
    let name = seg.name();
    let mapped: Vec<(usize, ZTarget)> = profile
        .v2
        .z_segments
        .iter()
        .filter_map(|(k, z)| {
            field_ref(k)
                .filter(|(s, _)| *s == name)
                .map(|(_, n)| (n, z.resource))
        })
        .collect();
    if mapped.is_empty() {
        return false;
    }
    let msg = seg.message();
    let has = |t: ZTarget| match t {
        ZTarget::Patient => msg.segment("PID", 1).is_some(),
        ZTarget::Encounter => msg.segment("PV1", 1).is_some() && msg.segment("PID", 1).is_some(),
    };
    for f in 1..=seg.field_count() {
        let field = seg.field(f);
        if field.repetition_count() == 0 || field.is_null() || field.text().is_none() {
            continue;
        }
        let carried = mapped.iter().any(|&(n, t)| n == f && has(t));
        if !carried {
            ctx.report(
                ReportKind::UnmappedField,
                Location::segment(name, occurrence).field(f),
            );
        }
    }
    true
}
