//! `TQ1[ServiceRequest]`: HL7 v2 TQ1 (timing/quantity) → FHIR ServiceRequest.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-tq1-to-servicerequest.html>
//!
//! Applied to the ServiceRequest of the order group it belongs to:
//! - TQ1-2 (CQ) → `quantityQuantity`.
//! - TQ1-4 (TM, repeating) → `occurrenceTiming.repeat.timeOfDay`.
//! - TQ1-7 / TQ1-8 → `occurrenceTiming.repeat.boundsPeriod.start` / `.end`.
//! - TQ1-9 → `priority` (IG map `ExtendedPriorityCodes`, read from CWE.1) unless OBR-5 gave one.
//! - TQ1-11 → `note.text`.
//! - TQ1-13 (CQ) → `occurrenceTiming.repeat.duration` and `durationUnit` (UCUM units of time
//!   `s`, `min`, `h`, `d`, `wk`, `mo`, `a`; another unit is reported).
//! - TQ1-14 → `occurrenceTiming.repeat.countMax`.
//! - When OBR-6 already gave `occurrenceDateTime`, the timing fields are reported instead of
//!   overwriting it. TQ1-3 (RPT), TQ1-5, TQ1-6 are listed in [`ROWS`] and reported when present.

use std::num::NonZeroU32;

use ehrkit_fhir_model::codes::{RequestPriority, UnitsOfTime};
use ehrkit_fhir_model::resources::{
    ServiceRequest, ServiceRequestOccurrence, ServiceRequestQuantity,
};
use ehrkit_fhir_model::{
    Annotation, Period, Primitive, Time, Timing, TimingRepeat, TimingRepeatBounds,
};
use ehrkit_hl7v2::datatypes::{Cq, Cwe, Text};
use ehrkit_hl7v2::Segment;

use super::orc_service_request::{report_unmapped_fields, OrderParts};
use super::pid_patient::translate;
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cq_quantity::cq_quantity, dtm, nm_quantity::decimal, text, Context,
};
use crate::v2_to_fhir::vocab::generated::EXTENDED_PRIORITY_CODES;
use crate::{DataProblem, Location, ReportKind};

const FILE: &str = "segment/tq1_service_request.rs";

/// Fields this map reads (TQ1-1, the set id, carries no data).
const MAPPED_FIELDS: &[usize] = &[1, 2, 4, 7, 8, 9, 11, 13, 14];
const TIMING_FIELDS: &[usize] = &[4, 7, 8, 13, 14];

/// Applies the `occurrence`-th TQ1 of a message to `order`'s request.
pub fn tq1_service_request(
    tq1: &Segment<'_>,
    occurrence: usize,
    order: &mut OrderParts,
    ctx: &mut Context<'_>,
) {
    let at = |field: usize| Location::segment("TQ1", occurrence).field(field);
    let sr: &mut ServiceRequest = &mut order.request;
    if let Some(q) = tq1
        .field(2)
        .first::<Cq<'_>>()
        .and_then(|q| cq_quantity(&q, ctx, &at(2)))
    {
        sr.quantity = Some(ServiceRequestQuantity::Quantity(Box::new(q)));
    }
    let (repeat, timing_valued) = timing_repeat(tq1, ctx, &at);
    if timing_valued {
        match &sr.occurrence {
            None | Some(ServiceRequestOccurrence::Timing(_)) => {
                sr.occurrence = Some(ServiceRequestOccurrence::Timing(Box::new(Timing {
                    repeat: Some(Box::new(repeat)),
                    ..Default::default()
                })));
            }
            Some(_) => {
                for &f in TIMING_FIELDS {
                    if tq1.field(f).text().is_some() {
                        ctx.report(ReportKind::UnmappedField, at(f));
                    }
                }
            }
        }
    }
    if let Some(code) = tq1
        .field(9)
        .first::<Cwe<'_>>()
        .and_then(|c| text(c.identifier()))
    {
        let p = translate(&EXTENDED_PRIORITY_CODES, &code, ctx, &at(9))
            .and_then(|c| RequestPriority::from_code(&c));
        if sr.priority.is_none() {
            sr.priority = p.map(Primitive::new);
        }
    }
    for t in tq1.field(11).repetitions::<Text<'_>>() {
        if let Some(note) = text(Some(t)) {
            sr.note.push(Annotation {
                text: Some(Primitive::new(note)),
                ..Default::default()
            });
        }
    }
    report_unmapped_fields(tq1, occurrence, &[MAPPED_FIELDS], ctx);
}

/// TQ1-4, 7, 8, 13, 14 as a `Timing.repeat`; true when any of them was valued.
pub(crate) fn timing_repeat(
    tq1: &Segment<'_>,
    ctx: &mut Context<'_>,
    at: &dyn Fn(usize) -> Location,
) -> (TimingRepeat, bool) {
    let mut repeat = TimingRepeat::default();
    for (r, t) in tq1.field(4).repetitions::<Text<'_>>().enumerate() {
        if let Some(time) = time_of_day(t, ctx, at(4).repetition(r + 1)) {
            repeat.time_of_day.push(Primitive::new(time));
        }
    }
    let start = dtm::read_date_time(tq1.field(7).first::<Text<'_>>(), ctx, at(7));
    let end = dtm::read_date_time(tq1.field(8).first::<Text<'_>>(), ctx, at(8));
    if start.is_some() || end.is_some() {
        repeat.bounds = Some(TimingRepeatBounds::Period(Box::new(Period {
            start: start.map(Primitive::new),
            end: end.map(Primitive::new),
            ..Default::default()
        })));
    }
    if let Some(cq) = tq1.field(13).first::<Cq<'_>>() {
        repeat.duration = decimal(cq.quantity(), ctx, &at(13).component(1)).map(Primitive::new);
        if let Some(unit) = cq.units().and_then(|u| text(u.identifier())) {
            match UnitsOfTime::from_code(&unit)
                .filter(|u| !matches!(u, UnitsOfTime::Unrecognized(_)))
            {
                Some(u) => repeat.duration_unit = Some(Primitive::new(u)),
                None => ctx.report(
                    ReportKind::DataQuality(DataProblem::InvalidValue),
                    at(13).component(2),
                ),
            }
        }
    }
    if let Some(n) = text(tq1.field(14).first::<Text<'_>>()) {
        match n.parse::<u32>().ok().and_then(NonZeroU32::new) {
            Some(n) => repeat.count_max = Some(Primitive::new(n)),
            None => ctx.report(ReportKind::DataQuality(DataProblem::InvalidNumber), at(14)),
        }
    }
    let valued = repeat != TimingRepeat::default();
    (repeat, valued)
}

/// A TM as a FHIR `time` (`hh:mm:ss`); a time with an offset or a bad value is reported.
pub(crate) fn time_of_day(t: Text<'_>, ctx: &mut Context<'_>, at: Location) -> Option<Time> {
    if t.is_null() || t.is_empty() {
        return None;
    }
    let Ok(tm) = t.tm() else {
        ctx.report(ReportKind::DataQuality(DataProblem::InvalidDateTime), at);
        return None;
    };
    if tm.offset_minutes().is_some() {
        // FHIR `time` has no zone: the offset cannot be carried.
        ctx.report(ReportKind::UnmappedComponent, at.clone());
    }
    let mut s = format!(
        "{:02}:{:02}:{:02}",
        tm.hour(),
        tm.minute().unwrap_or(0),
        tm.second().unwrap_or(0)
    );
    if let Some(ns) = tm.nanosecond().filter(|n| *n > 0) {
        let frac = format!("{ns:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let time = Time::new(&s);
    if time.is_none() {
        ctx.report(ReportKind::DataQuality(DataProblem::InvalidDateTime), at);
    }
    time
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; the field is reported as unmapped when present";
const DERIVED: &str = "the IG derives bounds from TQ1-7/8 ± TQ1-6; date arithmetic on partial v2 timestamps is not done: reported when present";

/// The spreadsheet rows of `TQ1[ServiceRequest]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("TQ1-2", "quantityQuantity"),
    unmapped(
        "TQ1-3",
        "occurrenceTiming",
        "RPT (repeat pattern) → Timing is not converted yet; reported when present",
    ),
    mapped("TQ1-4", "occurrenceTiming.repeat.timeOfDay"),
    unmapped("TQ1-5", "occurrenceTIming.repeat.offset", NOT_YET),
    unmapped("TQ1-6", "occurrenceTiming.boundsDuration", NOT_YET),
    unmapped("TQ1-6", "occurrenceTiming.boundsPeriod.end", DERIVED),
    unmapped("TQ1-6", "occurrenceTiming.boundsPeriod.start", DERIVED),
    mapped("TQ1-7", "occurrenceTiming.repeat.boundsPeriod.start"),
    mapped("TQ1-8", "occurrenceTiming.repeat.boundsPeriod.end"),
    mapped("TQ1-9", "priority"),
    mapped("TQ1-11", "note(Annotation.text)"),
    mapped("TQ1-13", "occurrenceTiming.duration"),
    mapped("TQ1-13", "occurrenceTiming.durationUnit"),
    mapped("TQ1-14", "occurrenceTiming.repeat.countMax"),
];
