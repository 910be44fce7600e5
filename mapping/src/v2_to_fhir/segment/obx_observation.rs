//! `OBX[Observation]`: HL7 v2 OBX → FHIR Observation.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-obx-to-observation.html>
//!
//! - OBX-3 → `code` (CWE); absent: the data-absent-reason `unknown` and a report (FHIR requires
//!   a code).
//! - OBX-5 by OBX-2: `NM` → `valueQuantity` (OBX-6 units; UCUM → system and code); `CQ` →
//!   `valueQuantity` (its own units, else OBX-6); `ST`, `TX` → `valueString` (escapes
//!   decoded); `FT` → `valueString` with its formatting commands laid out (`FT[string]`); `CWE`/`CE`/`CNE`/`IS` →
//!   `valueCodeableConcept`; `SN` → `valueRatio` (separator `:` or `/`), `valueRange` (`-`),
//!   `valueString` (comparator `<>` or separator `+`, as the IG writes it), else `valueQuantity`,
//!   with OBX-6 as the unit of each quantity; `NR` → `valueRange` (OBX-6 units); `DR` →
//!   `valuePeriod`; `DTM`/`DT`/`TS` → `valueDateTime`; `TM` → `valueTime`; `ED` → the extension
//!   `extension-Observation.valueAttachment` (R5 cross-version, as the IG writes it; see
//!   `ED[Attachment]`); `RP` → the same extension with the pointer (RP.1) as its `url`
//!   (`rp_attachment`); `NA` (numeric array) → `dataAbsentReason` `unsupported` and the value
//!   reported (the IG's `valueSampledData` needs a sampling period and an origin v2 does not
//!   carry); `CF` → `valueCodeableConcept` (CWE's layout); `VR` → `valueString` (its ends
//!   joined by ` - `); an `SN` written `<0.10` in one component → `valueQuantity` with that
//!   comparator; any other `SN` no SN row reads → `valueString` (its parts, the IG's last SN
//!   row). Another value type is reported at OBX-2 and OBX-5 and gives `dataAbsentReason`
//!   `unsupported`; a value that does not convert is reported and gives `error`; never a panic.
//! - Real feeds send what their value type cannot hold, and dropping it would lose a result:
//!   - an `NM` written with a comparator (`<0.01`, `>=150`, which v2 spells as an SN) becomes
//!     `valueQuantity` with that `comparator`, reported as
//!     [`DataProblem::NumberWithComparator`];
//!   - any other single-component `NM`, `DT`, `DTM`, `TS` or `TM` value that does not read as
//!     its type (`5.0 H`, `Positive`, `TNP`), and a single-component value with OBX-2 absent,
//!     is kept as `valueString` (escapes decoded): the type problem is reported as before, and
//!     [`DataProblem::KeptAsString`] says the text was kept. No `dataAbsentReason` then.
//! - `OBX[Observation-Component]`: when OBX-5 repeats (and OBX-2 is not `NA`), each repetition is
//!   a `component` with OBX-3 as its code, the value as above and OBX-7 as its reference range;
//!   the Observation itself has no value. The rows are listed in [`COMPONENT_ROWS`].
//! - OBX-7 → `referenceRange.text`; OBX-8 → `interpretation` (IG map `InterpretationCodes`);
//!   OBX-11 → `status` (IG map `ObservationResultStatusCodesInterpretation`; absent or unmapped:
//!   `unknown`, reported); OBX-11 `N` → `dataAbsentReason` `not-asked`, `X` → `cancelled` with
//!   `dataAbsentReason` `cannot-be-obtained` (when there is no value) and the v2 code kept as an
//!   `alternate-codes` extension on `status`; OBX-14 → `effectiveDateTime`.
//! - `subject`, `encounter` are set by the message map. The other rows are listed in [`ROWS`]
//!   and reported when present.

use ehrkit_fhir_model::codes::{ObservationStatus, QuantityComparator};
use ehrkit_fhir_model::resources::{
    Observation, ObservationComponent, ObservationComponentValue, ObservationReferenceRange,
    ObservationValue,
};
use ehrkit_fhir_model::{
    Attachment, CodeableConcept, Coding, Decimal, ElementExt, Extension, ExtensionValue, Period,
    Primitive, Quantity, Range,
};
use ehrkit_hl7v2::datatypes::{Cq, Cwe, Dr, Ed, Ft, Nm, Nr, Rp, Sn, Text};
use ehrkit_hl7v2::Segment;

use super::pid_patient::vocab_coding;
use super::tq1_service_request::time_of_day;
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cq_quantity::cq_quantity,
    cwe_codeable_concept::cwe_codeable_concept,
    display_text, dtm,
    ed_attachment::{ed_attachment, rp_attachment},
    ft_text::{ft_text, Layout},
    nm_quantity::decimal,
    nm_quantity::nm_quantity,
    sn_quantity, sn_range, sn_ratio, text, text_ref,
    xtn_contact_point::translate,
    Context,
};
use crate::v2_to_fhir::vocab::generated::{
    INTERPRETATION_CODES, OBSERVATION_RESULT_STATUS_CODES_INTERPRETATION,
};
use crate::{DataProblem, Location, ReportKind};

const FILE: &str = "segment/obx_observation.rs";
const UCUM: &str = "http://unitsofmeasure.org";

/// Fields this map reads (OBX-1, the set id, carries no data; OBX-2 selects the value type).
const MAPPED_FIELDS: &[usize] = &[1, 2, 3, 5, 6, 7, 8, 11, 14];

/// Converts the `occurrence`-th OBX of a message.
pub fn obx_observation(obx: &Segment<'_>, occurrence: usize, ctx: &mut Context<'_>) -> Observation {
    let at = |field: usize| Location::segment("OBX", occurrence).field(field);
    let code = match obx
        .field(3)
        .first::<Cwe<'_>>()
        .and_then(|c| cwe_codeable_concept(&c, ctx, &at(3)))
    {
        Some(c) => c,
        None => {
            ctx.report(ReportKind::DataQuality(DataProblem::MissingRequired), at(3));
            data_absent()
        }
    };
    let mut o = Observation {
        code: Some(Box::new(code)),
        ..Default::default()
    };

    // OBX-2 compared upper case; borrowed when it already is (the usual case).
    let value_type_text = obx.field(2).text();
    let value_type: Option<std::borrow::Cow<'_, str>> = value_type_text.as_deref().map(|t| {
        let t = t.trim();
        if t.bytes().any(|b| b.is_ascii_lowercase()) {
            std::borrow::Cow::Owned(t.to_ascii_uppercase())
        } else {
            std::borrow::Cow::Borrowed(t)
        }
    });
    let five = obx.field(5);
    let repetitions = (1..=five.repetition_count())
        .filter(|&r| five.repetition_raw(r).is_some_and(|raw| !raw.is_empty()))
        .count();
    if repetitions > 1 && value_type.as_deref() != Some("NA") {
        // OBX[Observation-Component]: one component per OBX-5 repetition, with OBX-3 as its
        // code and OBX-7 as its reference range; the Observation itself has no value.
        let range = text(obx.field(7).first::<Text<'_>>());
        for r in 1..=five.repetition_count() {
            if five.repetition_raw(r).is_none_or(|raw| raw.is_empty()) {
                continue;
            }
            let mut c = ObservationComponent {
                code: o.code.clone(),
                ..Default::default()
            };
            value(obx, r, value_type.as_deref(), ctx, &at(5).repetition(r)).place(
                &mut c.value,
                &mut c.extension,
                &mut c.data_absent_reason,
                component_value,
            );
            if let Some(range) = &range {
                c.reference_range.push(ObservationReferenceRange {
                    text: Some(Primitive::new(range.clone())),
                    ..Default::default()
                });
            }
            o.component.push(c);
        }
    } else if five.repetition_count() > 0 && !five.is_null() {
        value(obx, 1, value_type.as_deref(), ctx, &at(5).repetition(1)).place(
            &mut o.value,
            &mut o.extension,
            &mut o.data_absent_reason,
            |v| v,
        );
        // NA: the repetitions are the array's rows, reported with the value.
        for r in 2..=five.repetition_count() {
            if five.repetition_raw(r).is_some_and(|raw| !raw.is_empty()) {
                ctx.report(ReportKind::UnmappedField, at(5).repetition(r));
            }
        }
    }

    // OBX-6 lives on in a quantity (NM, CQ, SN, NR) or in the IG's SN string form; a value
    // kept as text (`5.0 H`, `TNP`), a code or a date has no place for it: reported.
    if obx.field(6).text().is_some() && !units_carried(&o, obx, value_type.as_deref()) {
        ctx.report(ReportKind::UnmappedField, at(6));
    }
    if let Some(range) = text(obx.field(7).first::<Text<'_>>()).filter(|_| o.component.is_empty()) {
        o.reference_range.push(ObservationReferenceRange {
            text: Some(Primitive::new(range)),
            ..Default::default()
        });
    }
    for (r, cwe) in obx.field(8).repetitions::<Cwe<'_>>().enumerate() {
        if let Some(code) = text_ref(cwe.identifier()) {
            let at_r = at(8).repetition(r + 1);
            if let Some(c) = vocab_coding(&INTERPRETATION_CODES, &code, ctx, &at_r) {
                o.interpretation.push(CodeableConcept::from_coding(c));
            }
        }
    }
    // OBX-11 read once: the status, the missing-required check and N/X below.
    let status_text = obx.field(11).text();
    let status_code = status_text.as_deref().map(str::trim);
    let status = status_code.filter(|s| !s.is_empty()).and_then(|s| {
        translate(
            &OBSERVATION_RESULT_STATUS_CODES_INTERPRETATION,
            s,
            ctx,
            &at(11),
        )
    });
    if status_text.is_none() {
        ctx.report(
            ReportKind::DataQuality(DataProblem::MissingRequired),
            at(11),
        );
    }
    // `translate` borrows the code from the map: an empty one is no status, as before.
    let mut status = Primitive::new(
        status
            .and_then(ObservationStatus::from_code)
            .unwrap_or(ObservationStatus::Unknown),
    );
    let no_value = o.value.is_none() && o.extension.is_empty() && o.component.is_empty();
    match status_code {
        Some("N") if no_value => {
            o.data_absent_reason = Some(Box::new(absent_reason("not-asked")));
        }
        Some("X") => {
            if no_value {
                o.data_absent_reason = Some(Box::new(absent_reason("cannot-be-obtained")));
            }
            status.ext = Some(Box::new(ElementExt {
                extension: vec![Extension {
                    url: Some("http://hl7.org/fhir/StructureDefinition/alternate-codes".to_owned()),
                    value: Some(ExtensionValue::CodeableConcept(Box::new(
                        CodeableConcept::from_coding(Coding::with_code(
                            "http://terminology.hl7.org/CodeSystem/v2-0085",
                            "X",
                        )),
                    ))),
                    ..Default::default()
                }],
                ..Default::default()
            }));
        }
        _ => {}
    }
    o.status = Some(status);
    if let Some(t) = dtm::read_date_time(obx.field(14).first::<Text<'_>>(), ctx, at(14)) {
        o.effective =
            Some(ehrkit_fhir_model::resources::ObservationEffective::DateTime(Primitive::new(t)));
    }

    // The field numbers the map reads are skipped first (nine comparisons), so only the other
    // fields are looked up in the message's index; valued = present, not empty, not the HL7
    // null, read once from the raw field.
    for f in (1..=obx.field_count()).filter(|f| !MAPPED_FIELDS.contains(f)) {
        let valued = obx
            .field(f)
            .raw()
            .is_some_and(|raw| !raw.is_empty() && raw != b"\"\"");
        if valued && !crate::quirks::consumes_field(ctx.profile, obx, f) {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    o
}

/// What OBX-5 becomes.
enum ObxValue {
    /// `Observation.value[x]`.
    Observed(ObservationValue),
    /// The R5 cross-version extension `Observation.valueAttachment` (ED).
    Attachment(Box<Attachment>),
    /// No value: `dataAbsentReason` with this code (what went wrong is reported).
    Absent(&'static str),
}

impl ObxValue {
    /// Puts the value where it belongs in an Observation or one of its components (the same
    /// three elements in both): `value[x]` (through `convert`), the `valueAttachment`
    /// extension, or `dataAbsentReason`.
    fn place<T>(
        self,
        value: &mut Option<T>,
        extension: &mut Vec<Extension>,
        absent: &mut Option<Box<CodeableConcept>>,
        convert: impl FnOnce(ObservationValue) -> T,
    ) {
        match self {
            ObxValue::Observed(v) => *value = Some(convert(v)),
            ObxValue::Attachment(a) => extension.push(Extension {
                url: Some(VALUE_ATTACHMENT.to_owned()),
                value: Some(ExtensionValue::Attachment(a)),
                ..Default::default()
            }),
            ObxValue::Absent(reason) => *absent = Some(Box::new(absent_reason(reason))),
        }
    }
}

/// The `valueAttachment` extension the IG writes for ED values.
const VALUE_ATTACHMENT: &str =
    "https://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.valueAttachment";

/// OBX-5 repetition `rep` by value type.
fn value(
    obx: &Segment<'_>,
    rep: usize,
    value_type: Option<&str>,
    ctx: &mut Context<'_>,
    at: &Location,
) -> ObxValue {
    let five = obx.field(5);
    let before = ctx.report.len();
    let units_at = at.clone().field(6);
    let v = match value_type {
        Some("NM") => {
            let t = five.get::<Text<'_>>(rep);
            let q = match nm_with_comparator(t) {
                Some(q) => {
                    ctx.report(
                        ReportKind::DataQuality(DataProblem::NumberWithComparator),
                        at.clone(),
                    );
                    Some(q)
                }
                None => nm_quantity(t, ctx, at),
            };
            q.map(|mut q| {
                apply_units(&mut q, obx, ctx, &units_at);
                ObservationValue::Quantity(Box::new(q))
            })
        }
        Some("CQ") => five
            .get::<Cq<'_>>(rep)
            .and_then(|cq| cq_quantity(&cq, ctx, at))
            .map(|mut q| {
                if q.unit.is_none() {
                    apply_units(&mut q, obx, ctx, &units_at);
                }
                ObservationValue::Quantity(Box::new(q))
            }),
        Some("ST" | "TX") => display_text(five.get::<Text<'_>>(rep))
            .map(|s| ObservationValue::String(Primitive::new(s))),
        Some("FT") => five
            .get::<Ft<'_>>(rep)
            .and_then(|ft| ft_text(&ft, &Layout::default()))
            .map(|s| ObservationValue::String(Primitive::new(s))),
        // CF (coded with formatted text) has CWE's layout: the IG's CF[CodeableConcept] is
        // CWE[CodeableConcept].
        Some("CWE" | "CE" | "CNE" | "IS" | "CF") => five
            .get::<Cwe<'_>>(rep)
            .and_then(|c| cwe_codeable_concept(&c, ctx, at))
            .map(|c| ObservationValue::CodeableConcept(Box::new(c))),
        Some("SN") => sn_value(obx, rep, ctx, at, &units_at).or_else(|| {
            // `<0.10` in SN.1, comparator and number in one component (the IG's own ORU test
            // message writes it so): the quantity it means, reported.
            scalar_text(&five, rep)?;
            let mut q = nm_with_comparator(five.get::<Text<'_>>(rep))?;
            ctx.report(
                ReportKind::DataQuality(DataProblem::NumberWithComparator),
                at.clone(),
            );
            apply_units(&mut q, obx, ctx, &units_at);
            Some(ObservationValue::Quantity(Box::new(q)))
        }),
        // VR (value range): the IG writes it as `valueString`, its two ends joined.
        Some("VR") => joined_components(&five, rep, " - ")
            .map(|s| ObservationValue::String(Primitive::new(s))),
        Some("NR") => five.get::<Nr<'_>>(rep).and_then(|nr| {
            let mut range = Range::default();
            for (n, t, slot) in [
                (1, nr.low_value(), &mut range.low),
                (2, nr.high_value(), &mut range.high),
            ] {
                if let Some(d) = decimal(t, ctx, &at.clone().component(n)) {
                    let mut q = Quantity {
                        value: Some(Primitive::new(d)),
                        ..Default::default()
                    };
                    apply_units(&mut q, obx, ctx, &units_at);
                    *slot = Some(Box::new(q));
                }
            }
            (range.low.is_some() || range.high.is_some())
                .then(|| ObservationValue::Range(Box::new(range)))
        }),
        Some("DR") => five.get::<Dr<'_>>(rep).and_then(|dr| {
            let start = dtm::read_date_time(
                dr.range_start_date_time().and_then(|t| t.time()),
                ctx,
                at.clone().component(1),
            );
            let end = dtm::read_date_time(
                dr.range_end_date_time().and_then(|t| t.time()),
                ctx,
                at.clone().component(2),
            );
            (start.is_some() || end.is_some()).then(|| {
                ObservationValue::Period(Box::new(Period {
                    start: start.map(Primitive::new),
                    end: end.map(Primitive::new),
                    ..Default::default()
                }))
            })
        }),
        Some("DTM" | "DT" | "TS") => {
            dtm::read_date_time(five.get::<Text<'_>>(rep), ctx, at.clone())
                .map(|d| ObservationValue::DateTime(Primitive::new(d)))
        }
        Some("TM") => five
            .get::<Text<'_>>(rep)
            .and_then(|t| time_of_day(t, ctx, at.clone()))
            .map(|t| ObservationValue::Time(Primitive::new(t))),
        Some("ED") => {
            return match five
                .get::<Ed<'_>>(rep)
                .and_then(|ed| ed_attachment(&ed, ctx, at))
            {
                Some(a) if a.data.is_some() || a.url.is_some() => ObxValue::Attachment(Box::new(a)),
                _ => {
                    if ctx.report.len() == before {
                        ctx.report(
                            ReportKind::DataQuality(DataProblem::InvalidValue),
                            at.clone(),
                        );
                    }
                    ObxValue::Absent("error")
                }
            };
        }
        Some("RP") => {
            return match five
                .get::<Rp<'_>>(rep)
                .and_then(|rp| rp_attachment(&rp, ctx, at))
            {
                Some(a) => ObxValue::Attachment(Box::new(a)),
                None => {
                    if ctx.report.len() == before {
                        ctx.report(
                            ReportKind::DataQuality(DataProblem::InvalidValue),
                            at.clone(),
                        );
                    }
                    ObxValue::Absent("error")
                }
            };
        }
        Some("NA") => {
            // IG: valueSampledData, which needs a sampling period and an origin the NA value
            // does not carry: not invented. The values are reported as unmapped.
            ctx.report(ReportKind::UnmappedField, at.clone());
            return ObxValue::Absent("unsupported");
        }
        _ => {
            // An unknown or unsupported value type (VR, CF, …) or none at all. Without a type,
            // a plain value is still a result: kept as the text it is.
            let kept = value_type
                .is_none()
                .then(|| scalar_text(&five, rep))
                .flatten();
            if kept.is_none() {
                ctx.report(ReportKind::UnmappedField, at.clone());
            }
            ctx.report(
                ReportKind::DataQuality(DataProblem::InvalidValue),
                Location {
                    repetition: None,
                    ..at.clone().field(2)
                },
            );
            return match kept {
                Some(s) => {
                    ctx.report(
                        ReportKind::DataQuality(DataProblem::KeptAsString),
                        at.clone(),
                    );
                    ObxValue::Observed(ObservationValue::String(Primitive::new(s)))
                }
                None => ObxValue::Absent("unsupported"),
            };
        }
    };
    match v {
        Some(v) => ObxValue::Observed(v),
        None => {
            if ctx.report.len() == before {
                ctx.report(
                    ReportKind::DataQuality(DataProblem::InvalidValue),
                    at.clone(),
                );
            }
            // A scalar the type cannot read (`5.0 H` as NM, `Positive`, `TNP`): kept as text
            // rather than lost, reported on top of the type problem. An SN none of the IG's
            // rows reads is `valueString` by the IG's last SN row: its parts, space-separated.
            let kept = match value_type {
                Some("NM" | "DT" | "DTM" | "TS" | "TM") => scalar_text(&five, rep),
                Some("SN") => joined_components(&five, rep, " "),
                _ => None,
            };
            if let Some(s) = kept {
                ctx.report(
                    ReportKind::DataQuality(DataProblem::KeptAsString),
                    at.clone(),
                );
                return ObxValue::Observed(ObservationValue::String(Primitive::new(s)));
            }
            ObxValue::Absent("error")
        }
    }
}

/// The valued components of OBX-5 repetition `rep` (escapes decoded, trimmed) joined by `sep`.
fn joined_components(five: &ehrkit_hl7v2::Field<'_>, rep: usize, sep: &str) -> Option<String> {
    let parts = five.get::<Cwe<'_>>(rep)?;
    let texts: Vec<String> = (1..=parts.component_count())
        .filter_map(|n| text(parts.component(n)))
        .collect();
    (!texts.is_empty()).then(|| texts.join(sep))
}

/// OBX-5 repetition `rep` as text (escapes decoded, trimmed) when it is one component: a value
/// with components is not a scalar, and joining them would invent a format.
fn scalar_text(five: &ehrkit_hl7v2::Field<'_>, rep: usize) -> Option<String> {
    let raw = five.repetition_raw(rep)?;
    let t = five.get::<Text<'_>>(rep)?;
    if raw.contains(&t.delimiters().component) {
        return None;
    }
    text(Some(t))
}

/// An NM written with a leading comparator (`<0.01`, `>= 150`): real feeds put in NM what v2
/// spells as an SN. `None` when the text is not a comparator followed by a valid NM.
fn nm_with_comparator(t: Option<Text<'_>>) -> Option<Quantity> {
    // Every NM passes here: look at the first byte before reading any text.
    let first = t?.raw().iter().find(|b| !b.is_ascii_whitespace());
    if !matches!(first, Some(b'<' | b'>')) {
        return None;
    }
    let s = text_ref(t)?;
    let (comparator, rest) = [
        ("<=", QuantityComparator::LtEq),
        (">=", QuantityComparator::GtEq),
        ("<", QuantityComparator::Lt),
        (">", QuantityComparator::Gt),
    ]
    .into_iter()
    .find_map(|(p, c)| s.strip_prefix(p).map(|rest| (c, rest)))?;
    let n = Nm::parse(rest.trim().as_bytes()).ok()?;
    Some(Quantity {
        value: Some(Primitive::new(Decimal::new(&n.decimal())?)),
        comparator: Some(Primitive::new(comparator)),
        ..Default::default()
    })
}

/// OBX-5 of type SN: ratio, range, quantity, or the IG's string form (`<>` comparator, `+`
/// separator); OBX-6 gives the units of every quantity in it.
fn sn_value(
    obx: &Segment<'_>,
    rep: usize,
    ctx: &mut Context<'_>,
    at: &Location,
    units_at: &Location,
) -> Option<ObservationValue> {
    let sn = obx.field(5).get::<Sn<'_>>(rep)?;
    let comparator = text(sn.comparator());
    let separator = text(sn.separator_suffix());
    if comparator.as_deref() == Some("<>") || separator.as_deref() == Some("+") {
        let mut parts: Vec<String> = [comparator, text(sn.num1()), separator, text(sn.num2())]
            .into_iter()
            .flatten()
            .collect();
        if let Some(u) = obx.field(6).first::<Cwe<'_>>() {
            parts.extend(text(u.identifier()).or_else(|| text(u.text())));
        }
        return (!parts.is_empty())
            .then(|| ObservationValue::String(Primitive::new(parts.join(" "))));
    }
    match separator.as_deref() {
        Some(":" | "/") => sn_ratio::sn_ratio(&sn, ctx, at).map(|mut r| {
            for q in [&mut r.numerator, &mut r.denominator].into_iter().flatten() {
                apply_units(q, obx, ctx, units_at);
            }
            ObservationValue::Ratio(Box::new(r))
        }),
        Some("-") => sn_range::sn_range(&sn, ctx, at).map(|mut r| {
            for q in [&mut r.low, &mut r.high].into_iter().flatten() {
                apply_units(q, obx, ctx, units_at);
            }
            ObservationValue::Range(Box::new(r))
        }),
        _ => sn_quantity::sn_quantity(&sn, ctx, at).map(|mut q| {
            apply_units(&mut q, obx, ctx, units_at);
            ObservationValue::Quantity(Box::new(q))
        }),
    }
}

/// OBX-6 (CWE) as the unit of `q`: its text, else its code; UCUM → system and code.
fn apply_units(q: &mut Quantity, obx: &Segment<'_>, ctx: &mut Context<'_>, _at: &Location) {
    let Some(units) = obx.field(6).first::<Cwe<'_>>() else {
        return;
    };
    // Borrowed from the message until written: the code may be written twice (unit and code),
    // the system name is only looked up.
    let code = text_ref(units.identifier());
    q.unit = text(units.text())
        .or_else(|| code.as_deref().map(str::to_owned))
        .map(Primitive::new);
    let is_ucum = text_ref(units.name_of_coding_system())
        .and_then(|s| ctx.systems.coding_system(&s).map(|u| u.uri == UCUM))
        .unwrap_or(false);
    if is_ucum {
        q.system = Some(Primitive::new(UCUM.to_owned()));
        q.code = code.map(|c| Primitive::new(c.into_owned()));
    }
}

/// True when the Observation's value (or a component's) holds OBX-6: a quantity, range or
/// ratio, or the IG's SN string form (comparator `<>` or separator `+`, units written in).
fn units_carried(o: &Observation, obx: &Segment<'_>, value_type: Option<&str>) -> bool {
    let sn_string = || {
        value_type == Some("SN")
            && obx.field(5).repetitions::<Sn<'_>>().any(|sn| {
                text_ref(sn.comparator()).as_deref() == Some("<>")
                    || text_ref(sn.separator_suffix()).as_deref() == Some("+")
            })
    };
    let value = match &o.value {
        Some(
            ObservationValue::Quantity(_) | ObservationValue::Range(_) | ObservationValue::Ratio(_),
        ) => true,
        Some(ObservationValue::String(_)) => sn_string(),
        _ => false,
    };
    value
        || o.component.iter().any(|c| match &c.value {
            Some(
                ObservationComponentValue::Quantity(_)
                | ObservationComponentValue::Range(_)
                | ObservationComponentValue::Ratio(_),
            ) => true,
            Some(ObservationComponentValue::String(_)) => sn_string(),
            _ => false,
        })
}

/// An Observation value as the same value of a component.
fn component_value(v: ObservationValue) -> ObservationComponentValue {
    match v {
        ObservationValue::Quantity(x) => ObservationComponentValue::Quantity(x),
        ObservationValue::CodeableConcept(x) => ObservationComponentValue::CodeableConcept(x),
        ObservationValue::String(x) => ObservationComponentValue::String(x),
        ObservationValue::Boolean(x) => ObservationComponentValue::Boolean(x),
        ObservationValue::Integer(x) => ObservationComponentValue::Integer(x),
        ObservationValue::Range(x) => ObservationComponentValue::Range(x),
        ObservationValue::Ratio(x) => ObservationComponentValue::Ratio(x),
        ObservationValue::SampledData(x) => ObservationComponentValue::SampledData(x),
        ObservationValue::Time(x) => ObservationComponentValue::Time(x),
        ObservationValue::DateTime(x) => ObservationComponentValue::DateTime(x),
        ObservationValue::Period(x) => ObservationComponentValue::Period(x),
    }
}

/// A `dataAbsentReason` of the FHIR data-absent-reason code system.
fn absent_reason(code: &str) -> CodeableConcept {
    CodeableConcept::from_coding(Coding::with_code(
        "http://terminology.hl7.org/CodeSystem/data-absent-reason",
        code,
    ))
}

/// `code` when the source has none: data-absent-reason `unknown`.
pub(crate) fn data_absent() -> CodeableConcept {
    CodeableConcept::from_coding(Coding::with_code(
        "http://terminology.hl7.org/CodeSystem/data-absent-reason",
        "unknown",
    ))
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; the field is reported as unmapped when present";
const PERFORMER: &str =
    "performers (Organization, PractitionerRole) are not written yet; reported when present";

/// The spreadsheet rows of `OBX[Observation]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("OBX-3", "code"),
    unmapped("OBX-4", "$this", NOT_YET),
    mapped("OBX-5", "valueQuantity.value"),
    mapped("OBX-5", "valueString"),
    mapped("OBX-5", "valueCodeableConcept[1]"),
    mapped("OBX-5", "valueCodeableConcept"),
    mapped("OBX-5", "valuePeriod"),
    mapped("OBX-5", "valueDateTime"),
    mapped("OBX-5", "valueRange"),
    mapped("OBX-5", "valueTime"),
    mapped("OBX-5", "valueRatio[1]"),
    mapped("OBX-5", "valueRange[1]"),
    mapped("OBX-5", "valueQuantity[1]"),
    unmapped("OBX-5", "valueSampedData", "SampledData needs a sampling period and origin the NA value does not carry (the IG defers its guidance): dataAbsentReason unsupported, the value reported"),
    mapped("OBX-5", "extension[1].url"),
    mapped("OBX-5", "extension[1].valueAttachment"),
    mapped("OBX-6", "valueQuantity[1]"),
    mapped("OBX-6", "valueRange[1].low"),
    mapped("OBX-6", "valueRange[1].high"),
    mapped("OBX-6", "valueRatio[1].numerator"),
    mapped("OBX-6", "valueRatio[1].denominator"),
    mapped("OBX-7", "referenceRange.text"),
    mapped("OBX-8", "interpretation"),
    unmapped("OBX-10", "extension[2].uri", NOT_YET),
    unmapped("OBX-10", "extension[2].valueCodeableConcept", NOT_YET),
    mapped("OBX-11", "status"),
    mapped("OBX-11", "status.extension[1].url"),
    mapped("OBX-11", "status.extension[1].valueCodeableConcept.coding.code"),
    mapped("OBX-11", "status.extension[1].valueCodeableConcept.coding.system"),
    mapped("OBX-11", "dataAbsentReason.coding[2].code"),
    mapped("OBX-11", "dataAbsentReason.coding[2].system"),
    mapped("OBX-14", "effectiveDateTime"),
    unmapped("OBX-15", "performer[2](Organization)", PERFORMER),
    unmapped("OBX-15", "performer[2](PractitionerRole)", PERFORMER),
    unmapped(
        "OBX-16",
        "performer[1](PractitionerRole.practitioner(Practitioner))",
        PERFORMER,
    ),
    unmapped(
        "OBX-16",
        "performer[1](PractitionerRole.code.coding.code)",
        PERFORMER,
    ),
    unmapped(
        "OBX-16",
        "performer[1](PractitionerRole.code.coding.system)",
        PERFORMER,
    ),
    unmapped("OBX-17", "method", NOT_YET),
    unmapped("OBX-18", "device(Device.identifier)", NOT_YET),
    unmapped("OBX-19", "extension[2].url", NOT_YET),
    unmapped("OBX-19", "extension[2].valueDateTime", NOT_YET),
    unmapped("OBX-20", "bodySite", NOT_YET),
    unmapped("OBX-21", "identifier", NOT_YET),
    unmapped("OBX-21", "identifier.type.coding.code", NOT_YET),
    unmapped("OBX-23", "performer[2](Organization)", PERFORMER),
    unmapped(
        "OBX-23",
        "performer[2](PractitionerRole[1].organization(Organization))",
        PERFORMER,
    ),
    unmapped("OBX-24", "performer[2](Organization.address)", PERFORMER),
    unmapped(
        "OBX-24",
        "performer[2](PractitionerRole[1].organization(Organization.address))",
        PERFORMER,
    ),
    unmapped(
        "OBX-25",
        "performer[2](PractitionerRole[1].practitioner)",
        PERFORMER,
    ),
    unmapped(
        "OBX-25",
        "performer[2](PractitionerRole[1].code.coding.code)",
        PERFORMER,
    ),
    unmapped(
        "OBX-25",
        "performer[2](PractitionerRole[1].code.coding.system)",
        PERFORMER,
    ),
    unmapped("OBX-29", "category[1].coding.code", NOT_YET),
    unmapped("OBX-29", "category[1].coding.system", NOT_YET),
    unmapped("OBX-30", "extension[2].url", NOT_YET),
    unmapped(
        "OBX-30",
        "extension[2].valueCodeableConcept.coding.code",
        NOT_YET,
    ),
    unmapped(
        "OBX-30",
        "extension[2].valueCodeableConcept.coding.system",
        NOT_YET,
    ),
    unmapped("OBX-33", "extension[1].uri", NOT_YET),
    unmapped(
        "OBX-33",
        "extension[1].valueReference(Group.member.entity(Specimen.identifier[1])",
        NOT_YET,
    ),
    unmapped("OBX-33", "extension[2].uri", NOT_YET),
    unmapped(
        "OBX-33",
        "extension[2].valueReference(Group.member.entity(Specimen.identifier[2]))",
        NOT_YET,
    ),
    unmapped("OBX-33", "specimen(Specimen.identifier[1])", NOT_YET),
    unmapped("OBX-33", "specimen(Specimen.identifier[2])", NOT_YET),
];

const DERIVED_FROM: &str = "the attachment is kept in the component (valueAttachment extension); no DocumentReference is written from an OBX";

/// The spreadsheet rows of `OBX[Observation-Component]` (OBX-5 repeating) and how this map
/// handles each.
pub static COMPONENT_ROWS: &[Row] = &[
    mapped("OBX-3", "code"),
    mapped("OBX-3", "component[each].code"),
    unmapped("OBX-4", "$this", NOT_YET),
    mapped("OBX-5", "component[each].valueQuantity"),
    mapped("OBX-5", "component[each].valueString"),
    mapped("OBX-5", "component[each].valueCodeableConcept"),
    mapped("OBX-5", "component[each].valuePeriod"),
    mapped("OBX-5", "component[each].valueDateTime"),
    mapped("OBX-5", "component[each].valueRange"),
    mapped("OBX-5", "component[each].valueTime"),
    mapped("OBX-5", "component[each].valueRatio[1]"),
    mapped("OBX-5", "component[each].valueRange[1]"),
    mapped("OBX-5", "component[each].valueQuantity[1]"),
    mapped("OBX-5", "component[each].extension[1].url"),
    mapped("OBX-5", "component[each].extension[1].valueAttachment"),
    unmapped("OBX-5", "derivedFrom(DocumentReference)", DERIVED_FROM),
    mapped("OBX-6", "component[each].valueQuantity"),
    mapped("OBX-6", "component[each].valueQuantity[1]"),
    mapped("OBX-6", "component[each].valueRange[1].low"),
    mapped("OBX-6", "component[each].valueRange[1].high"),
    mapped("OBX-6", "component[each].valueRatio[1].numerator"),
    mapped("OBX-6", "component[each].valueRatio[1].denominator"),
    mapped("OBX-7", "component[each].referenceRange.text"),
    mapped("OBX-8", "interpretation"),
    unmapped("OBX-10", "extension[2].uri", NOT_YET),
    unmapped("OBX-10", "extension[2].valueCodeableConcept", NOT_YET),
    mapped("OBX-11", "status"),
    mapped("OBX-11", "status.extension[1].url"),
    mapped(
        "OBX-11",
        "status.extension[1].valueCodeableConcept.coding.code",
    ),
    mapped(
        "OBX-11",
        "status.extension[1].valueCodeableConcept.coding.system",
    ),
    mapped("OBX-11", "dataAbsentReason.coding[2].code"),
    mapped("OBX-11", "dataAbsentReason.coding[2].system"),
    mapped("OBX-14", "effectiveDateTime"),
    unmapped(
        "OBX-16",
        "performer[1](PractitionerRole.practitioner(Practitioner))",
        PERFORMER,
    ),
    unmapped(
        "OBX-16",
        "performer[1](PractitionerRole.code.coding.code)",
        PERFORMER,
    ),
    unmapped(
        "OBX-16",
        "performer[1](PractitionerRole.code.coding.system)",
        PERFORMER,
    ),
    unmapped("OBX-17", "method", NOT_YET),
    unmapped("OBX-18", "device(Device.identifier)", NOT_YET),
    unmapped("OBX-19", "extension[1].url", NOT_YET),
    unmapped("OBX-19", "extension[1].valueDateTime", NOT_YET),
    unmapped("OBX-20", "bodySite", NOT_YET),
    unmapped("OBX-21", "identifier", NOT_YET),
    unmapped("OBX-21", "identifier.type.coding.code", NOT_YET),
    unmapped("OBX-23", "performer[2](Organization)", PERFORMER),
    unmapped(
        "OBX-23",
        "performer[2](PractitionerRole.organization(Organization))",
        PERFORMER,
    ),
    unmapped("OBX-24", "performer[2](Organization.address)", PERFORMER),
    unmapped(
        "OBX-24",
        "performer[2](PractitionerRole.organization(Organization.address))",
        PERFORMER,
    ),
    unmapped("OBX-25", "performer[2](PractitionerRole)", PERFORMER),
    unmapped(
        "OBX-25",
        "performer[2](PractitionerRole.code.coding.value)",
        PERFORMER,
    ),
    unmapped(
        "OBX-25",
        "performer[2](PractitionerRole.code.coding.system)",
        PERFORMER,
    ),
    unmapped("OBX-29", "category[1].coding.code", NOT_YET),
    unmapped("OBX-29", "category[1].coding.system", NOT_YET),
    unmapped("OBX-30", "extension[2].url", NOT_YET),
    unmapped(
        "OBX-30",
        "extension[2].valueCodeableConcept.coding.code",
        NOT_YET,
    ),
    unmapped(
        "OBX-30",
        "extension[2].valueCodeableConcept.coding.system",
        NOT_YET,
    ),
    unmapped("OBX-33", "extension[1].uri", NOT_YET),
    unmapped(
        "OBX-33",
        "extension[1].valueReference(Group.member.entity(Specimen.identifier[1])",
        NOT_YET,
    ),
    unmapped("OBX-33", "extension[2].uri", NOT_YET),
    unmapped(
        "OBX-33",
        "extension[2].valueReference(Group.member.entity(Specimen.identifier[2]))",
        NOT_YET,
    ),
    unmapped("OBX-33", "specimen(Specimen.identifier[1])", NOT_YET),
    unmapped("OBX-33", "specimen(Specimen.identifier[2])", NOT_YET),
];
