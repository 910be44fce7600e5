//! `FT1[ChargeItem]`: HL7 v2 FT1 (financial transaction) → FHIR ChargeItem.
//!
//! The v2-to-FHIR IG has no FT1 map and no DFT message map; this one follows the outputs of
//! Microsoft FHIR-Converter's `DFT_P03` / `DFT_P11` templates for the facts (which field goes
//! where), read from its published expected outputs:
//! <https://github.com/microsoft/FHIR-Converter/tree/main/data/Templates/Hl7v2>.
//!
//! - FT1-2 (transaction id) → `identifier`.
//! - FT1-4 (transaction date, DR) → `occurrenceDateTime`, or `occurrencePeriod` when the range
//!   has an end; FT1-5 (posting date) → `enteredDate`.
//! - FT1-6 (transaction type, table 0017) → `status`: `CG` (charge) → `billable`; any other type
//!   (credit, payment, adjustment) → `unknown` (Microsoft writes `unknown` for every FT1), and
//!   FT1-6 is reported: `unknown` does not say the amount is not a charge.
//! - FT1-7 (transaction code) → `code` (required: absent → the data-absent-reason `unknown`,
//!   reported).
//! - FT1-10 (quantity) → `quantity.value`; FT1-11 (extended amount, CP: `price&currency`) →
//!   `priceOverride`.
//! - FT1-19 (diagnosis codes) → `reason`; FT1-20 (performed by) → `performer.actor`
//!   (Practitioners); FT1-24 (entered by) → `enterer`.
//! - FT1-25 (procedure code, CNE) → a Procedure (status `unknown`, `code` FT1-25) the message
//!   map makes one of the charge's `service`s, as Microsoft's templates do (they write it when
//!   the message has an ORC; here whenever FT1-25 is valued, so the code is never dropped).
//! - `subject`, `context` (the Encounter) and `account` are set by the message map. FT1-1 (set
//!   id) carries no data; every other field present (department, procedure code modifiers,
//!   NDC, …) is reported.

use ehrkit_fhir_model::codes::{ChargeItemStatus, EventStatus};
use ehrkit_fhir_model::resources::{
    ChargeItem, ChargeItemOccurrence, ChargeItemPerformer, Practitioner, Procedure,
};
use ehrkit_fhir_model::{Identifier, Money, Period, Primitive, Quantity};
use ehrkit_hl7v2::datatypes::{Cwe, Dr, Text, Xcn};
use ehrkit_hl7v2::Segment;

use super::obx_observation::data_absent;
use super::sch_appointment::report_fields;
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, dtm, nm_quantity::decimal, text,
    xcn_practitioner::xcn_practitioner, Context,
};
use crate::{DataProblem, Location, ReportKind};

/// A ChargeItem and the Practitioners it refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargeParts {
    /// The ChargeItem (no id, subject, context or account yet).
    pub charge: ChargeItem,
    /// (performer index, Practitioner, where it was read): FT1-20.
    pub performers: Vec<(usize, Practitioner, Location)>,
    /// FT1-24.
    pub enterer: Option<(Practitioner, Location)>,
    /// FT1-25: the Procedure charged for (no id or subject yet), and where it was read.
    pub procedure: Option<(Procedure, Location)>,
}

/// Converts the `occurrence`-th FT1 of a message.
pub fn ft1_charge_item(ft1: &Segment<'_>, occurrence: usize, ctx: &mut Context<'_>) -> ChargeParts {
    let at = |field: usize| Location::segment("FT1", occurrence).field(field);
    let mut c = ChargeItem::default();
    if let Some(v) = text(ft1.field(2).first::<Text<'_>>()) {
        c.identifier.push(Identifier {
            value: Some(Primitive::new(v)),
            ..Default::default()
        });
    }
    if let Some(dr) = ft1.field(4).first::<Dr<'_>>() {
        let start = dtm::read_date_time(
            dr.range_start_date_time().and_then(|t| t.time()),
            ctx,
            at(4).component(1),
        );
        let end = dtm::read_date_time(
            dr.range_end_date_time().and_then(|t| t.time()),
            ctx,
            at(4).component(2),
        );
        c.occurrence = match (start, end) {
            (Some(s), None) => Some(ChargeItemOccurrence::DateTime(Primitive::new(s))),
            (s, Some(e)) => Some(ChargeItemOccurrence::Period(Box::new(Period {
                start: s.map(Primitive::new),
                end: Some(Primitive::new(e)),
                ..Default::default()
            }))),
            (None, None) => None,
        };
    }
    c.entered_date =
        dtm::read_date_time(ft1.field(5).first::<Text<'_>>(), ctx, at(5)).map(Primitive::new);
    let kind = ft1
        .field(6)
        .first::<Cwe<'_>>()
        .and_then(|k| text(k.identifier()));
    c.status = Some(Primitive::new(match kind.as_deref() {
        Some("CG") => ChargeItemStatus::Billable,
        _ => ChargeItemStatus::Unknown,
    }));
    // A credit, payment or adjustment has no ChargeItem status: `unknown` does not carry it,
    // and without it the amount reads as a charge. Reported.
    if kind.as_deref().is_some_and(|k| k != "CG") {
        ctx.report(ReportKind::UnmappedField, at(6));
    }
    let code = ft1
        .field(7)
        .first::<Cwe<'_>>()
        .and_then(|k| cwe_codeable_concept(&k, ctx, &at(7)));
    if code.is_none() {
        ctx.report(ReportKind::DataQuality(DataProblem::MissingRequired), at(7));
    }
    c.code = Some(Box::new(code.unwrap_or_else(data_absent)));
    if let Some(q) = decimal(ft1.field(10).first::<Text<'_>>(), ctx, &at(10)) {
        c.quantity = Some(Box::new(Quantity {
            value: Some(Primitive::new(q)),
            ..Default::default()
        }));
    }
    c.price_override = money(ft1, 11, ctx, at(11)).map(Box::new);
    for (r, cwe) in ft1.field(19).repetitions::<Cwe<'_>>().enumerate() {
        c.reason
            .extend(cwe_codeable_concept(&cwe, ctx, &at(19).repetition(r + 1)));
    }
    let mut performers = Vec::new();
    for (r, xcn) in ft1.field(20).repetitions::<Xcn<'_>>().enumerate() {
        let at_r = at(20).repetition(r + 1);
        if let Some(p) = xcn_practitioner(&xcn, ctx, &at_r) {
            c.performer.push(ChargeItemPerformer::default());
            performers.push((c.performer.len() - 1, p, at_r));
        }
    }
    let enterer = ft1.field(24).first::<Xcn<'_>>().and_then(|x| {
        let at_r = at(24).repetition(1);
        xcn_practitioner(&x, ctx, &at_r).map(|p| (p, at_r))
    });
    let procedure = ft1.field(25).first::<Cwe<'_>>().and_then(|k| {
        let code = cwe_codeable_concept(&k, ctx, &at(25))?;
        let p = Procedure {
            status: Some(Primitive::new(EventStatus::Unknown)),
            code: Some(Box::new(code)),
            ..Default::default()
        };
        Some((p, at(25)))
    });
    report_fields(ft1, &[1, 2, 4, 5, 6, 7, 10, 11, 19, 20, 24, 25], ctx, at);
    ChargeParts {
        charge: c,
        performers,
        enterer,
        procedure,
    }
}

/// A CP field (`price&currency^price type^…`): the price (a MO in subcomponents) as Money.
/// Components after the price are reported.
fn money(seg: &Segment<'_>, field: usize, ctx: &mut Context<'_>, at: Location) -> Option<Money> {
    let cp = seg.field(field).first::<Cwe<'_>>()?;
    for n in 2..=6 {
        if text(cp.component(n)).is_some() {
            ctx.report(ReportKind::UnmappedComponent, at.clone().component(n));
        }
    }
    let price = cp.component(1)?;
    let sub = price.delimiters().subcomponent;
    let mut parts = price.raw().splitn(2, |b| *b == sub);
    let amount = parts.next().map(|a| Text::new(a, price.delimiters()));
    let value = decimal(amount, ctx, &at.clone().component(1))?;
    let currency = parts
        .next()
        .map(|c| String::from_utf8_lossy(c).trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty());
    let currency = match currency {
        Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => Some(c),
        Some(_) => {
            ctx.report(
                ReportKind::DataQuality(DataProblem::InvalidValue),
                at.component(1).subcomponent(2),
            );
            None
        }
        None => None,
    };
    Some(Money {
        value: Some(Primitive::new(value)),
        currency: currency.map(Primitive::new),
        ..Default::default()
    })
}
