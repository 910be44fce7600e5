//! `OBR[DiagnosticReport]`: HL7 v2 OBR → FHIR DiagnosticReport.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-obr-to-diagnosticreport.html>
//!
//! - OBR-2 / OBR-3 (EI) → `identifier` of type `PLAC` / `FILL` (`v2-0203`).
//! - OBR-4 → `code` (CWE); absent: data-absent-reason `unknown`, reported.
//! - OBR-7 → `effectiveDateTime`, or `effectivePeriod.start` when OBR-8 is valued (→ `.end`).
//! - OBR-22 → `issued` (an instant: needs an offset, else reported).
//! - OBR-25 → `status` (IG map `ResultStatusNonQueries`); absent or unmapped: `unknown`,
//!   reported.
//! - `subject`, `encounter`, `result` are set by the message map. The other rows are listed in
//!   [`ROWS`] and reported when present.

use ehrkit_fhir_model::codes::DiagnosticReportStatus;
use ehrkit_fhir_model::resources::{DiagnosticReport, DiagnosticReportEffective};
use ehrkit_fhir_model::{CodeableConcept, Coding, Period, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Ei, Text};
use ehrkit_hl7v2::Segment;

use super::obx_observation::data_absent;
use super::pid_patient::translate;
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, dtm, ei_identifier::ei_identifier, Context,
};
use crate::v2_to_fhir::vocab::generated::RESULT_STATUS_NON_QUERIES;
use crate::{DataProblem, Location, ReportKind};

const FILE: &str = "segment/obr_diagnostic_report.rs";

/// Fields this map reads (OBR-1, the set id, carries no data).
pub(crate) const MAPPED_FIELDS: &[usize] = &[1, 2, 3, 4, 7, 8, 22, 25];

/// Converts the `occurrence`-th OBR of a message; every field this map does not read is
/// reported.
pub fn obr_diagnostic_report(
    obr: &Segment<'_>,
    occurrence: usize,
    ctx: &mut Context<'_>,
) -> DiagnosticReport {
    obr_diagnostic_report_with(obr, occurrence, &[], ctx)
}

/// As [`obr_diagnostic_report`], when other maps of the same OBR (`OBR[ServiceRequest]`) read
/// the fields `also_mapped`: those are not reported.
pub fn obr_diagnostic_report_with(
    obr: &Segment<'_>,
    occurrence: usize,
    also_mapped: &[usize],
    ctx: &mut Context<'_>,
) -> DiagnosticReport {
    let at = |field: usize| Location::segment("OBR", occurrence).field(field);
    let mut d = DiagnosticReport::default();

    for (f, ty) in [(2, "PLAC"), (3, "FILL")] {
        if let Some(ei) = obr.field(f).first::<Ei<'_>>() {
            if let Some(mut id) = ei_identifier(&ei, ctx, &at(f)) {
                id.type_ = Some(Box::new(CodeableConcept::from_coding(Coding::with_code(
                    "http://terminology.hl7.org/CodeSystem/v2-0203",
                    ty,
                ))));
                d.identifier.push(id);
            }
        }
    }
    d.code = Some(Box::new(
        match obr
            .field(4)
            .first::<Cwe<'_>>()
            .and_then(|c| cwe_codeable_concept(&c, ctx, &at(4)))
        {
            Some(c) => c,
            None => {
                ctx.report(ReportKind::DataQuality(DataProblem::MissingRequired), at(4));
                data_absent()
            }
        },
    ));
    let start = dtm::read_date_time(obr.field(7).first::<Text<'_>>(), ctx, at(7));
    let end = dtm::read_date_time(obr.field(8).first::<Text<'_>>(), ctx, at(8));
    d.effective = match (start, end) {
        (Some(s), None) => Some(DiagnosticReportEffective::DateTime(Primitive::new(s))),
        (None, None) => None,
        (s, e) => Some(DiagnosticReportEffective::Period(Box::new(Period {
            start: s.map(Primitive::new),
            end: e.map(Primitive::new),
            ..Default::default()
        }))),
    };
    if let Some(t) = obr
        .field(22)
        .first::<Text<'_>>()
        .filter(|t| !t.is_null() && !t.is_empty())
    {
        match t.dtm() {
            Ok(v) => match dtm::instant(&v, ctx.profile.source_time_zone) {
                Ok(c) => {
                    if let Some(p) = c.problem {
                        ctx.report(ReportKind::DataQuality(p), at(22));
                    }
                    d.issued = Some(Primitive::new(c.value));
                }
                Err(p) => ctx.report(ReportKind::DataQuality(p), at(22)),
            },
            Err(_) => ctx.report(
                ReportKind::DataQuality(DataProblem::InvalidDateTime),
                at(22),
            ),
        }
    }
    let status = obr
        .field(25)
        .text()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .and_then(|s| translate(&RESULT_STATUS_NON_QUERIES, &s, ctx, &at(25)));
    d.status = Some(Primitive::new(
        status
            .and_then(|s| DiagnosticReportStatus::from_code(&s))
            .unwrap_or(DiagnosticReportStatus::Unknown),
    ));

    for f in 1..=obr.field_count() {
        let field = obr.field(f);
        if !MAPPED_FIELDS.contains(&f)
            && !also_mapped.contains(&f)
            && field.repetition_count() > 0
            && !field.is_null()
        {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    d
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; the field is reported as unmapped when present";
const ROLE: &str =
    "PractitionerRole resources are not written yet; the field is reported as unmapped when present";

/// The spreadsheet rows of `OBR[DiagnosticReport]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("OBR-2", "identifier[1]"),
    mapped("OBR-2", "identifier[1].type.coding.code"),
    mapped("OBR-2", "identifier[1].type.coding.system"),
    mapped("OBR-3", "identifier[2]"),
    mapped("OBR-3", "identifier[2].type.coding.code"),
    mapped("OBR-3", "identifier[2].type.coding.system"),
    mapped("OBR-4", "code"),
    mapped("OBR-7", "effectiveDateTime"),
    mapped("OBR-7", "effectivePeriod.start"),
    mapped("OBR-8", "effectivePeriod.end"),
    mapped("OBR-22", "issued"),
    unmapped("OBR-24", "category", NOT_YET),
    mapped("OBR-25", "status"),
    unmapped("OBR-32", "resultsInterpreter(PractitionerRole)", ROLE),
    unmapped("OBR-34", "performer[1](PractitionerRole)", ROLE),
    unmapped("OBR-34", "performer[1].extension[1].url", ROLE),
    unmapped(
        "OBR-34",
        "performer[1].extension[1].valueCodeableConcept.coding.code",
        ROLE,
    ),
    unmapped(
        "OBR-34",
        "performer[1].extension[1].valueCodeableConcept.coding.system",
        ROLE,
    ),
    unmapped("OBR-35", "performer[2](PractitionerRole)", ROLE),
    unmapped("OBR-35", "performer[2].extension[1].url", ROLE),
    unmapped(
        "OBR-35",
        "performer[2].extension[1].valueCodeableConcept.coding.code",
        ROLE,
    ),
    unmapped(
        "OBR-35",
        "performer[2].extension[1].valueCodeableConcept.coding.system",
        ROLE,
    ),
];
