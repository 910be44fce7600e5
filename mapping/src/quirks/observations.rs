//! Quirks applied to the Observations of one OBR group: text lines joined, order questions.

use ehrkit_fhir_model::resources::{Observation, ObservationValue};
use ehrkit_fhir_model::{BundleEntry, CodeableConcept, Coding, Primitive, Reference, Resource};
use ehrkit_hl7v2::{Message, Segment};

use crate::v2_to_fhir::datatype::Context;
use crate::Quirk;

const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// [`Quirk::JoinTextLines`]: consecutive OBX (`n` and `n + 1`) of type TX or ST with the same
/// OBX-3 and a string value are one Observation whose value is the lines joined with `\n`
/// (notes kept in order). `observations` holds each Observation with its OBX occurrence.
pub(crate) fn join_text(
    msg: &Message<'_>,
    observations: Vec<(Observation, usize)>,
    ctx: &Context<'_>,
) -> Vec<(Observation, usize)> {
    if !ctx.profile.has(Quirk::JoinTextLines) || observations.len() < 2 {
        return observations;
    }
    let obx: Vec<Segment<'_>> = msg.segments_named("OBX").collect();
    let key = |n: usize| {
        let seg = obx.get(n.checked_sub(1)?)?;
        let ty = seg.field(2).text()?.trim().to_ascii_uppercase();
        matches!(ty.as_str(), "TX" | "ST").then(|| (ty, seg.field(3).raw().map(<[u8]>::to_vec)))
    };
    let mut out: Vec<(Observation, usize, usize)> = Vec::new();
    for (o, n) in observations {
        if let Some((prev, first, last)) = out.last_mut() {
            let joinable = *last + 1 == n
                && key(n).is_some()
                && key(n) == key(*first)
                && matches!(prev.value, Some(ObservationValue::String(_)));
            if joinable {
                if let (Some(ObservationValue::String(a)), Some(ObservationValue::String(b))) =
                    (&mut prev.value, &o.value)
                {
                    let line = b.value.clone().unwrap_or_default();
                    let text = a.value.get_or_insert_with(String::new);
                    text.push('\n');
                    text.push_str(&line);
                    prev.note.extend(o.note);
                    *last = n;
                    continue;
                }
                if o.value.is_none() {
                    // An empty line of the report.
                    if let Some(ObservationValue::String(a)) = &mut prev.value {
                        a.value.get_or_insert_with(String::new).push('\n');
                    }
                    prev.note.extend(o.note);
                    *last = n;
                    continue;
                }
            }
        }
        out.push((o, n, n));
    }
    out.into_iter().map(|(o, first, _)| (o, first)).collect()
}

/// [`Quirk::OrderQuestions`]: the OBX occurrences among `observations` whose OBX-29 is `QST`
/// (answers to order questions, not results). Their Observations get category `survey`; the
/// caller leaves them out of `DiagnosticReport.result`.
pub(crate) fn order_questions(
    msg: &Message<'_>,
    observations: &mut [(Observation, usize)],
    ctx: &Context<'_>,
) -> Vec<usize> {
    if !ctx.profile.has(Quirk::OrderQuestions) {
        return Vec::new();
    }
    let obx: Vec<Segment<'_>> = msg.segments_named("OBX").collect();
    let mut out = Vec::new();
    for (o, n) in observations.iter_mut() {
        let is_question = n
            .checked_sub(1)
            .and_then(|i| obx.get(i))
            .and_then(|s| s.field(29).text())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("QST"));
        if is_question {
            o.category.push(CodeableConcept::from_coding(Coding {
                system: Some(Primitive::new(OBSERVATION_CATEGORY.to_owned())),
                code: Some(Primitive::new("survey".to_owned())),
                ..Default::default()
            }));
            out.push(*n);
        }
    }
    out
}

/// [`Quirk::OrderQuestions`]: adds the question Observations `questions` to the
/// `supportingInfo` of the ServiceRequest entry `request` already in the Bundle.
pub(crate) fn attach_questions(
    entries: &mut [BundleEntry],
    request: Option<&Reference>,
    questions: Vec<Reference>,
) {
    let Some(request) = request else { return };
    if questions.is_empty() {
        return;
    }
    let target = request.reference.as_ref().and_then(|r| r.value.as_deref());
    for entry in entries {
        let url = entry.full_url.as_ref().and_then(|u| u.value.as_deref());
        let matches = match (url, target) {
            (Some(u), Some(t)) => u == t || u.ends_with(&format!("/{t}")),
            _ => false,
        };
        if !matches {
            continue;
        }
        if let Some(Resource::ServiceRequest(sr)) = entry.resource.as_deref_mut() {
            sr.supporting_info.extend(questions);
            return;
        }
    }
}
