//! `PR1[Procedure]`: HL7 v2 PR1 → FHIR Procedure.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-pr1-to-procedure.html>
//!
//! - `status`: the IG leaves it to the message context and says `unknown` when that is not
//!   clear; an ADT's PR1 does not say whether the procedure is done, so `unknown`.
//! - PR1-3 → `code` (`CNE[CodeableConcept]`); PR1-16 modifiers are appended to the first
//!   coding's code as `code:modifier` (the IG's `PR1-3.1 + ":" + PR1-16.1`, CPT modifier
//!   syntax); PR1-4 (description, deprecated) → `code.text` when PR1-3.9 gives none.
//! - PR1-5 → `performedDateTime`; with PR1-7 (minutes) and a PR1-5 of at least minute
//!   precision, `performedPeriod` from PR1-5 to PR1-5 + PR1-7 minutes.
//! - PR1-6 → `category`; PR1-15 → `reasonCode`; PR1-19 → `identifier` (`EI`, the business key).
//! - PR1-8 (anesthesiologist, SNOMED `88189002`), PR1-11 (surgeon, `304292004`), PR1-12
//!   (practitioners, no function) → `performer`, Practitioners the caller adds
//!   ([`ProcedureParts::performers`]).
//! - PR1-23 → `location`, `PL[Location]` levels the caller adds.
//! - PR1-25 (parent procedure, `EI[Procedure]`) → `partOf`: the message map points it at the
//!   PR1 of this message with that identifier (PR1-19), else at a Procedure carrying only that
//!   identifier, written as shared reference data (`POST` + `ifNoneExist`; an identifier
//!   without a system: `PUT Procedure/<id>` keyed by the sender and the value)
//!   ([`ProcedureParts::part_of`]).

use ehrkit_fhir_model::codes::EventStatus;
use ehrkit_fhir_model::resources::{
    Practitioner, Procedure, ProcedurePerformed, ProcedurePerformer,
};
use ehrkit_fhir_model::{CodeableConcept, Coding, DateTime, Identifier, Period, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Ei, Pl, Text, Xcn};
use ehrkit_hl7v2::Segment;

use super::{mapped_in, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept,
    dtm,
    ei_identifier::ei_identifier,
    pl_location::{pl_location, Level},
    text,
    xcn_practitioner::xcn_practitioner,
    Context,
};
use crate::{DataProblem, Location, ReportKind};

const FILE: &str = "segment/pr1_procedure.rs";

/// Fields this map reads (PR1-1, the set id, numbers the segment).
const MAPPED_FIELDS: &[usize] = &[1, 3, 4, 5, 6, 7, 8, 11, 12, 15, 16, 19, 23];

/// The performer fields and their SNOMED CT function codes.
const PERFORMERS: &[(usize, Option<(&str, &str)>)] = &[
    (8, Some(("88189002", "Anesthesiologist"))),
    (11, Some(("304292004", "Surgeon"))),
    (12, None),
];

/// A Procedure, its performers' Practitioners and its location.
#[derive(Debug, Clone)]
pub struct ProcedureParts {
    /// The Procedure (no id, no subject yet).
    pub procedure: Procedure,
    /// `performers[i]` is `procedure.performer[i].actor`, to be set by the caller.
    pub performers: Vec<(Practitioner, Location)>,
    /// PR1-23 levels, coarsest first; the caller adds them and sets `location` to the finest.
    pub location: Vec<Level>,
    /// PR1-25: the identifier of the parent procedure, for the caller to resolve into `partOf`.
    pub part_of: Option<Identifier>,
}

/// Converts the `occurrence`-th PR1 of a message. PR1-25 (the parent procedure) is reported
/// when valued; a caller that resolves it uses [`pr1_procedure_with_parent`].
pub fn pr1_procedure(
    pr1: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> ProcedureParts {
    convert(pr1, occurrence, false, ctx)
}

/// Converts the `occurrence`-th PR1 of a message, PR1-25 included as
/// [`ProcedureParts::part_of`], which the caller resolves into `partOf`.
pub fn pr1_procedure_with_parent(
    pr1: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> ProcedureParts {
    convert(pr1, occurrence, true, ctx)
}

fn convert(
    pr1: &Segment<'_>,
    occurrence: usize,
    with_parent: bool,
    ctx: &mut Context<'_>,
) -> ProcedureParts {
    let at = |field: usize| Location::segment("PR1", occurrence).field(field);
    let mut p = Procedure {
        status: Some(Primitive::new(EventStatus::Unknown)),
        ..Default::default()
    };

    let cne = pr1.field(3).first::<Cwe<'_>>();
    let mut code = cne
        .as_ref()
        .and_then(|c| cwe_codeable_concept(c, ctx, &at(3)));
    // PR1-2 (coding method) names the system of a bare PR1-3 code (v2.3-style senders).
    let method_read = super::system_from_coding_method(
        &mut code,
        cne.as_ref(),
        pr1.field(2).first::<Text<'_>>(),
        ctx,
    );
    let modifiers: Vec<String> = pr1
        .field(16)
        .repetitions::<Cwe<'_>>()
        .filter_map(|c| text(c.identifier()))
        .collect();
    if !modifiers.is_empty() {
        match code.as_mut().and_then(|cc| cc.coding.first_mut()) {
            Some(Coding {
                code: Some(Primitive { value: Some(c), .. }),
                ..
            }) => {
                for m in &modifiers {
                    c.push(':');
                    c.push_str(m);
                }
            }
            _ => ctx.report(ReportKind::UnmappedField, at(16)),
        }
    }
    if let Some(description) = text(pr1.field(4).first::<Text<'_>>()) {
        let cc = code.get_or_insert_with(CodeableConcept::default);
        if cc.text.is_none() {
            cc.text = Some(Primitive::new(description));
        } else {
            ctx.report(ReportKind::UnmappedField, at(4));
        }
    }
    if code.is_none() {
        ctx.report(ReportKind::DataQuality(DataProblem::MissingRequired), at(3));
    }
    p.code = code.map(Box::new);

    let start_text = pr1.field(5).first::<Text<'_>>();
    let start = dtm::read_date_time(start_text, ctx, at(5));
    let minutes = pr1
        .field(7)
        .first::<Text<'_>>()
        .filter(|t| !t.is_null() && !t.is_empty());
    let minute_precision = start_text
        .and_then(|t| t.dtm().ok())
        .is_some_and(|d| d.minute().is_some());
    p.performed = match (start, minutes) {
        (Some(s), Some(m)) if minute_precision => match text(Some(m))
            .and_then(|m| m.parse::<i64>().ok())
            .and_then(|m| add_minutes(&s, m))
        {
            Some(end) => Some(ProcedurePerformed::Period(Box::new(Period {
                start: Some(Primitive::new(s)),
                end: Some(Primitive::new(end)),
                ..Default::default()
            }))),
            None => {
                ctx.report(ReportKind::DataQuality(DataProblem::InvalidNumber), at(7));
                Some(ProcedurePerformed::DateTime(Primitive::new(s)))
            }
        },
        (s, m) => {
            if m.is_some() {
                // PR1-7 needs a start of at least minute precision.
                ctx.report(ReportKind::UnmappedField, at(7));
            }
            s.map(|s| ProcedurePerformed::DateTime(Primitive::new(s)))
        }
    };

    p.category = pr1
        .field(6)
        .first::<Cwe<'_>>()
        .and_then(|c| cwe_codeable_concept(&c, ctx, &at(6)))
        .map(Box::new);
    for (r, cwe) in pr1.field(15).repetitions::<Cwe<'_>>().enumerate() {
        p.reason_code
            .extend(cwe_codeable_concept(&cwe, ctx, &at(15).repetition(r + 1)));
    }
    if let Some(ei) = pr1.field(19).first::<Ei<'_>>() {
        p.identifier.extend(ei_identifier(&ei, ctx, &at(19)));
    }

    let mut performers = Vec::new();
    for &(field, function) in PERFORMERS {
        for (r, xcn) in pr1.field(field).repetitions::<Xcn<'_>>().enumerate() {
            let at_r = at(field).repetition(r + 1);
            if let Some(practitioner) = xcn_practitioner(&xcn, ctx, &at_r) {
                p.performer.push(ProcedurePerformer {
                    function: function.map(|(code, display)| {
                        Box::new(CodeableConcept::from_coding(
                            Coding::with_code("http://snomed.info/sct", code).display(display),
                        ))
                    }),
                    ..Default::default()
                });
                performers.push((practitioner, at_r));
            }
        }
    }

    let location = pr1
        .field(23)
        .first::<Pl<'_>>()
        .map(|pl| pl_location(&pl, ctx, &at(23)))
        .unwrap_or_default();

    let part_of = if with_parent {
        pr1.field(25)
            .first::<Ei<'_>>()
            .and_then(|ei| ei_identifier(&ei, ctx, &at(25)))
    } else {
        None
    };

    for f in 1..=pr1.field_count() {
        let field = pr1.field(f);
        if !MAPPED_FIELDS.contains(&f)
            && (!with_parent || f != 25)
            && (f != 2 || !method_read)
            && field.repetition_count() > 0
            && !field.is_null()
        {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    ProcedureParts {
        procedure: p,
        performers,
        location,
        part_of,
    }
}

/// `start` (a FHIR dateTime with a time and an offset) plus `minutes`, same offset.
fn add_minutes(start: &DateTime, minutes: i64) -> Option<DateTime> {
    let t = chrono::DateTime::parse_from_rfc3339(start.as_str()).ok()?;
    let end = t.checked_add_signed(chrono::Duration::try_minutes(minutes)?)?;
    DateTime::new(&end.format("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

/// The spreadsheet rows of `PR1[Procedure]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("PR1", "status"),
    mapped("PR1-3", "code[1]"),
    mapped("PR1-4", "code.text"),
    mapped("PR1-5", "performedDateTime"),
    mapped("PR1-5", "performedPeriod.start"),
    mapped("PR1-6", "category"),
    mapped("PR1-7", "performedPeriod.end"),
    mapped("PR1-8", "performer[1].actor(Practitioner)"),
    mapped("PR1-8", "performer[1].function.coding.code"),
    mapped("PR1-8", "performer[1].function.coding.uri"),
    mapped("PR1-11", "performer[2].actor(Practitioner)"),
    mapped("PR1-11", "performer[2].function.coding.code"),
    mapped("PR1-11", "performer[2].function.coding.uri"),
    mapped("PR1-12", "performer[3].actor(Practitioner)"),
    mapped("PR1-15", "reasonCode"),
    mapped("PR1-16", "code[1].value"),
    mapped("PR1-19", "identifier"),
    mapped("PR1-23", "location(Location)"),
    mapped("PR1-25", "partOf(Procedure.identifier)"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use ehrkit_hl7v2::Message;

    #[test]
    fn cpt_with_modifier_period_and_surgeon() {
        let profile = crate::Profile::generic();
        let msg = Message::parse(
            b"MSH|^~\\&|A|B|C|D|2026||ADT^A03|1|P|2.5.1\rPR1|1||27447^Total knee arthroplasty^C4||202603021030-0500|I|95|5555^GAS^ANNA|||7777^CUTTER^SAM||||M17.11^Osteoarthritis right knee^I10|59^Distinct procedural service^CPTM|||PROC-9^EPIC\r",
        )
        .unwrap();
        let mut ctx = Context::new(&profile);
        let parts = pr1_procedure(&msg.segment("PR1", 1).unwrap(), 1, &mut ctx);
        let p = parts.procedure;
        let coding = &p.code.as_ref().unwrap().coding[0];
        assert_eq!(
            coding.code.as_ref().unwrap().value.as_deref(),
            Some("27447:59")
        );
        assert_eq!(
            coding.system.as_ref().unwrap().value.as_deref(),
            Some("http://www.ama-assn.org/go/cpt")
        );
        let Some(ProcedurePerformed::Period(period)) = &p.performed else {
            panic!("period expected: {:?}", p.performed);
        };
        assert_eq!(
            period
                .end
                .as_ref()
                .unwrap()
                .value
                .as_ref()
                .unwrap()
                .as_str(),
            "2026-03-02T12:05:00-05:00"
        );
        assert_eq!(parts.performers.len(), 2);
        assert_eq!(
            p.performer[1].function.as_ref().unwrap().coding[0]
                .code
                .as_ref()
                .unwrap()
                .value
                .as_deref(),
            Some("304292004")
        );
        assert_eq!(p.reason_code.len(), 1);
        assert_eq!(p.status.unwrap().value, Some(EventStatus::Unknown));
    }

    #[test]
    fn the_parent_is_reported_unless_the_caller_resolves_it() {
        let profile = crate::Profile::generic();
        let msg = Message::parse(
            b"MSH|^~\\&|A|B|C|D|2026||DFT^P03|1|P|2.5.1\rPR1|1||27447^TKA^C4||||||||||||||||||||||PARENT-1^EPIC\r",
        )
        .unwrap();
        let pr1 = msg.segment("PR1", 1).unwrap();
        let mut ctx = Context::new(&profile);
        assert!(pr1_procedure(&pr1, 1, &mut ctx).part_of.is_none());
        let report: Vec<String> = ctx.report.entries().iter().map(|e| e.to_string()).collect();
        assert_eq!(report, ["PR1[1]-25: field not mapped"]);
        let mut ctx = Context::new(&profile);
        let parts = pr1_procedure_with_parent(&pr1, 1, &mut ctx);
        assert_eq!(
            parts.part_of.unwrap().value.unwrap().value.as_deref(),
            Some("PARENT-1")
        );
        assert!(!ctx
            .report
            .entries()
            .iter()
            .any(|e| e.to_string() == "PR1[1]-25: field not mapped"));
    }
}
