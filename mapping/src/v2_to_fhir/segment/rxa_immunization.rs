//! `RXA[Immunization]`: HL7 v2 RXA (pharmacy/treatment administration) → FHIR Immunization,
//! with the two maps that fill the same Immunization in a VXU order group:
//! `RXR[Immunization]` (route and site) and `ORC[Immunization]` (order identifiers, ordering
//! provider).
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-rxa-to-immunization.html>,
//! <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-rxr-to-immunization.html>,
//! <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-orc-to-immunization.html>
//! (RXR and ORC for immunizations live here, beside the RXA they complete; each registers its
//! own rows).
//!
//! RXA:
//! - RXA-3 → `occurrenceDateTime` (absent: a `data-absent-reason` extension, reported); RXA-5 → `vaccineCode` (CVX → `http://hl7.org/fhir/sid/cvx`,
//!   NDC → `http://hl7.org/fhir/sid/ndc`, through the profile's systems); RXA-6/RXA-7 →
//!   `doseQuantity` (RXA-7 a CWE of units: UCUM as system and code). RXA-6 `999` (the CDC
//!   guide's "amount unknown") writes no dose.
//! - RXA-9 (administration notes, CDC table NIP001) → `reportOrigin`; its code `00` (new record)
//!   → `primarySource` true, another NIP001 code → false (Microsoft's output; the IG has no row).
//! - RXA-10 → `performer` with function `AP` (administering provider), a Practitioner.
//! - RXA-15 → `lotNumber` (first repetition); RXA-16 → `expirationDate`; RXA-17 →
//!   `manufacturer`, an Organization identified by the code (MVX) and named by its text.
//! - RXA-18 → `statusReason`; RXA-19 → `reasonCode`.
//! - RXA-20 → `status` through the IG map `CompletionStatus` (absent → `completed`; `PA`,
//!   partially administered, is `completed` there, and also `isSubpotent` with the
//!   `immunization-subpotent-reason` `partial`, so a partial dose does not read as a full one); RXA-21
//!   `D` (delete) → `entered-in-error` whatever RXA-20 says; RXA-22 → `recorded` when RXA-21 is
//!   `A`.
//! - RXA-27 → `location` (`PL[Location]`, the finest level). RXA-28 (its address) and the other
//!   fields are reported.
//!
//! RXR: RXR-1 → `route`, RXR-2 → `site` (CWE; HL70162 / HL70163 codes name their v2 code
//! systems, which is what the IG maps `RouteOfAdministration` / `BodyParts` give).
//!
//! ORC: ORC-2 / ORC-3 → `identifier` (types `PLAC` / `FILL`); ORC-9 → `recorded` (when RXA-22
//! gives none); ORC-12 → `performer` with function `OP` (ordering provider), written as a
//! Practitioner (PractitionerRole is not written yet). ORC-1 (order control) carries no data;
//! ORC-4, ORC-28 and the other fields are reported.

use ehrkit_fhir_model::codes::ImmunizationStatusCodes;
use ehrkit_fhir_model::resources::{
    Immunization, ImmunizationOccurrence, ImmunizationPerformer, Organization, Practitioner,
};
use ehrkit_fhir_model::{
    CodeableConcept, Coding, ElementExt, Extension, ExtensionValue, Identifier, Primitive, Quantity,
};
use ehrkit_hl7v2::datatypes::{Cwe, Ei, Pl, Text, Xcn};
use ehrkit_hl7v2::Segment;

use super::obx_observation::data_absent;
use super::pid_patient::translate;
use super::sch_appointment::{report_fields, v2_0203};
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::pl_location::{pl_location, Level};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, dtm, ei_identifier::ei_identifier,
    nm_quantity::decimal, text, xcn_practitioner::xcn_practitioner, Context,
};
use crate::v2_to_fhir::vocab::generated::COMPLETION_STATUS;
use crate::{DataProblem, Location, ReportKind, SystemSource};

const FILE: &str = "segment/rxa_immunization.rs";
const UCUM: &str = "http://unitsofmeasure.org";
const V2_0443: &str = "http://terminology.hl7.org/CodeSystem/v2-0443";

/// An Immunization and the resources it refers to, for the message map to add.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImmunizationParts {
    /// The Immunization (no id, patient or encounter yet).
    pub immunization: Immunization,
    /// (performer index, Practitioner, where it was read).
    pub practitioners: Vec<(usize, Practitioner, Location)>,
    /// RXA-17.
    pub manufacturer: Option<(Organization, Location)>,
    /// RXA-27, coarsest level first.
    pub location: Vec<Level>,
}

/// Reads the `occurrence`-th ORC of a message into `parts` (`ORC[Immunization]`).
pub fn orc_immunization(
    orc: &Segment<'_>,
    occurrence: usize,
    parts: &mut ImmunizationParts,
    ctx: &mut Context<'_>,
) {
    let at = |field: usize| Location::segment("ORC", occurrence).field(field);
    let imm = &mut parts.immunization;
    for (f, ty) in [(2, "PLAC"), (3, "FILL")] {
        if let Some(mut id) = orc
            .field(f)
            .first::<Ei<'_>>()
            .and_then(|ei| ei_identifier(&ei, ctx, &at(f)))
        {
            id.type_ = Some(Box::new(v2_0203(ty)));
            imm.identifier.push(id);
        }
    }
    if imm.recorded.is_none() {
        imm.recorded =
            dtm::read_date_time(orc.field(9).first::<Text<'_>>(), ctx, at(9)).map(Primitive::new);
    }
    if let Some(p) = orc
        .field(12)
        .first::<Xcn<'_>>()
        .and_then(|x| xcn_practitioner(&x, ctx, &at(12).repetition(1)))
    {
        imm.performer.push(performer("OP", "Ordering Provider"));
        parts
            .practitioners
            .push((imm.performer.len() - 1, p, at(12).repetition(1)));
    }
    report_fields(orc, &[1, 2, 3, 9, 12], ctx, at);
}

/// Reads the `occurrence`-th RXA of a message into `parts` (`RXA[Immunization]`).
pub fn rxa_immunization(
    rxa: &Segment<'_>,
    occurrence: usize,
    parts: &mut ImmunizationParts,
    ctx: &mut Context<'_>,
) {
    let at = |field: usize| Location::segment("RXA", occurrence).field(field);
    let mut mapped = vec![1, 2, 3, 5, 6, 7, 9, 10, 15, 16, 17, 18, 19, 20, 21, 27];
    let imm = &mut parts.immunization;

    match dtm::read_date_time(rxa.field(3).first::<Text<'_>>(), ctx, at(3)) {
        Some(t) => imm.occurrence = Some(ImmunizationOccurrence::DateTime(Primitive::new(t))),
        None => {
            // occurrence[x] is required: the time is absent, and said so.
            ctx.report(ReportKind::DataQuality(DataProblem::MissingRequired), at(3));
            imm.occurrence = Some(ImmunizationOccurrence::DateTime(Primitive {
                value: None,
                ext: Some(Box::new(ElementExt {
                    extension: vec![Extension {
                        url: Some(
                            "http://hl7.org/fhir/StructureDefinition/data-absent-reason".to_owned(),
                        ),
                        value: Some(ExtensionValue::Code(Primitive::new("unknown".to_owned()))),
                        ..Default::default()
                    }],
                    ..Default::default()
                })),
            }));
        }
    }
    let code = rxa
        .field(5)
        .first::<Cwe<'_>>()
        .and_then(|c| cwe_codeable_concept(&c, ctx, &at(5)));
    if code.is_none() {
        ctx.report(ReportKind::DataQuality(DataProblem::MissingRequired), at(5));
    }
    imm.vaccine_code = Some(Box::new(code.unwrap_or_else(data_absent)));

    let amount = text(rxa.field(6).first::<Text<'_>>()).filter(|a| a != "999");
    if let Some(value) = amount.and_then(|_| decimal(rxa.field(6).first::<Text<'_>>(), ctx, &at(6)))
    {
        let mut q = Quantity {
            value: Some(Primitive::new(value)),
            ..Default::default()
        };
        if let Some(units) = rxa.field(7).first::<Cwe<'_>>() {
            let code = text(units.identifier());
            q.unit = text(units.text())
                .or_else(|| code.clone())
                .map(Primitive::new);
            let is_ucum = text(units.name_of_coding_system())
                .and_then(|s| ctx.systems.coding_system(&s).map(|u| u.uri == UCUM))
                .unwrap_or(false);
            if is_ucum {
                q.system = Some(Primitive::new(UCUM.to_owned()));
                q.code = code.map(Primitive::new);
            }
        }
        imm.dose_quantity = Some(Box::new(q));
    }

    if let Some(cwe) = rxa.field(9).first::<Cwe<'_>>() {
        let code = text(cwe.identifier());
        let nip001 =
            text(cwe.name_of_coding_system()).is_some_and(|s| s.eq_ignore_ascii_case("NIP001"));
        if nip001 {
            imm.primary_source = code.as_deref().map(|c| Primitive::new(c == "00"));
        }
        imm.report_origin = cwe_codeable_concept(&cwe, ctx, &at(9)).map(Box::new);
    }

    for (r, xcn) in rxa.field(10).repetitions::<Xcn<'_>>().enumerate() {
        let at_r = at(10).repetition(r + 1);
        if let Some(p) = xcn_practitioner(&xcn, ctx, &at_r) {
            imm.performer
                .push(performer("AP", "Administering Provider"));
            parts.practitioners.push((imm.performer.len() - 1, p, at_r));
        }
    }
    imm.lot_number = text(rxa.field(15).first::<Text<'_>>()).map(Primitive::new);
    for r in 2..=rxa.field(15).repetition_count() {
        ctx.report(ReportKind::UnmappedField, at(15).repetition(r));
    }
    if let Some(t) = rxa
        .field(16)
        .first::<Text<'_>>()
        .filter(|t| !t.is_empty() && !t.is_null())
    {
        match t.dt().ok().and_then(|d| dtm::date(&d)) {
            Some(d) => imm.expiration_date = Some(Primitive::new(d)),
            None => ctx.report(
                ReportKind::DataQuality(DataProblem::InvalidDateTime),
                at(16),
            ),
        }
    }
    if let Some(cwe) = rxa.field(17).first::<Cwe<'_>>() {
        parts.manufacturer = organization(&cwe, ctx, &at(17)).map(|o| (o, at(17)));
    }
    imm.status_reason = rxa
        .field(18)
        .first::<Cwe<'_>>()
        .and_then(|c| cwe_codeable_concept(&c, ctx, &at(18)))
        .map(Box::new);
    for (r, cwe) in rxa.field(19).repetitions::<Cwe<'_>>().enumerate() {
        imm.reason_code
            .extend(cwe_codeable_concept(&cwe, ctx, &at(19).repetition(r + 1)));
    }

    let action = text(rxa.field(21).first::<Text<'_>>()).map(|a| a.to_ascii_uppercase());
    let status = if action.as_deref() == Some("D") {
        ImmunizationStatusCodes::EnteredInError
    } else {
        match text(rxa.field(20).first::<Text<'_>>()) {
            None => ImmunizationStatusCodes::Completed,
            Some(code) => {
                // `PA` (partially administered) is `completed` in the IG's map, like `CP`: the
                // part of the dose not given is said with `isSubpotent` (reason `partial`).
                if code.eq_ignore_ascii_case("PA") {
                    imm.is_subpotent = Some(Primitive::new(true));
                    imm.subpotent_reason
                        .push(CodeableConcept::from_coding(Coding::with_code(
                            "http://terminology.hl7.org/CodeSystem/immunization-subpotent-reason",
                            "partial",
                        )));
                }
                translate(&COMPLETION_STATUS, &code, ctx, &at(20))
                    .and_then(|c| ImmunizationStatusCodes::from_code(&c))
                    .unwrap_or(ImmunizationStatusCodes::Completed)
            }
        }
    };
    imm.status = Some(Primitive::new(status));
    if action.as_deref() == Some("A") {
        mapped.push(22);
        if let Some(t) = dtm::read_date_time(rxa.field(22).first::<Text<'_>>(), ctx, at(22)) {
            imm.recorded = Some(Primitive::new(t));
        }
    }
    if let Some(pl) = rxa.field(27).first::<Pl<'_>>() {
        parts.location = pl_location(&pl, ctx, &at(27));
    }
    report_fields(rxa, &mapped, ctx, at);
}

/// Reads the `occurrence`-th RXR of a message into `imm` (`RXR[Immunization]`).
pub fn rxr_immunization(
    rxr: &Segment<'_>,
    occurrence: usize,
    imm: &mut Immunization,
    ctx: &mut Context<'_>,
) {
    let at = |field: usize| Location::segment("RXR", occurrence).field(field);
    let read = |f: usize, ctx: &mut Context<'_>| {
        rxr.field(f)
            .first::<Cwe<'_>>()
            .and_then(|c| cwe_codeable_concept(&c, ctx, &at(f)))
            .map(Box::new)
    };
    imm.route = read(1, ctx);
    imm.site = read(2, ctx);
    report_fields(rxr, &[1, 2], ctx, at);
}

/// A performer with a table 0443 function.
fn performer(code: &str, display: &str) -> ImmunizationPerformer {
    let mut coding = Coding::with_code(V2_0443, code);
    coding.display = Some(Primitive::new(display.to_owned()));
    ImmunizationPerformer {
        function: Some(Box::new(CodeableConcept::from_coding(coding))),
        ..Default::default()
    }
}

/// `CWE[Organization]`: CWE.1 → the identifier (system: the coding system CWE.3), CWE.2 → name.
fn organization(cwe: &Cwe<'_>, ctx: &mut Context<'_>, at: &Location) -> Option<Organization> {
    let value = text(cwe.identifier());
    let name = text(cwe.text());
    if value.is_none() && name.is_none() {
        return None;
    }
    let system = text(cwe.name_of_coding_system()).and_then(|s| {
        let u = ctx
            .systems
            .coding_system(&s)
            .map(|u| (u.uri.into_owned(), u.source))?;
        if u.1 == SystemSource::Fallback {
            ctx.report(
                ReportKind::DataQuality(DataProblem::UnknownSystem),
                at.clone().component(3),
            );
        }
        Some(u.0)
    });
    Some(Organization {
        identifier: value
            .map(|v| Identifier {
                value: Some(Primitive::new(v)),
                system: system.map(Primitive::new),
                ..Default::default()
            })
            .into_iter()
            .collect(),
        name: name.map(Primitive::new),
        ..Default::default()
    })
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const NOT_YET: &str = "not written yet; the field is reported as unmapped when present";

/// The spreadsheet rows of `RXA[Immunization]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("RXA-3", "occurrenceDateTime"),
    mapped("RXA-5", "vaccineCode"),
    mapped("RXA-6", "doseQuantity.value"),
    mapped("RXA-7", "doseQuantity"),
    mapped("RXA-10", "performer.actor(Practitioner)"),
    mapped("RXA-10", "performer.function.coding.code"),
    mapped("RXA-10", "performer.function.coding.system"),
    mapped("RXA-15", "lotNumber"),
    mapped("RXA-16", "expirationDate"),
    mapped("RXA-17", "manufacturer(Organization)"),
    mapped("RXA-18", "statusReason"),
    mapped("RXA-19", "reasonCode"),
    mapped("RXA-20", "status"),
    mapped("RXA-21", "status"),
    mapped("RXA-22", "recorded"),
    mapped("RXA-27", "location[1](Location)"),
    unmapped("RXA-28", "location[1](Location.address)", NOT_YET),
];

/// The spreadsheet rows of `RXR[Immunization]` and how this map handles each.
pub static RXR_ROWS: &[Row] = &[mapped("RXR-1", "route"), mapped("RXR-2", "site")];

/// The spreadsheet rows of `ORC[Immunization]` and how this map handles each.
pub static ORC_ROWS: &[Row] = &[
    mapped("ORC-2", "identifier[1]"),
    mapped("ORC-2", "identifier[1].type.coding.code=\"PLAC\""),
    mapped("ORC-2", "identifier[1].type.coding.system"),
    mapped("ORC-3", "identifier[2]"),
    mapped("ORC-3", "identifier[2].type.coding.code"),
    mapped("ORC-3", "identifier[2].type.coding.system"),
    unmapped("ORC-4", "identifier[3]", NOT_YET),
    unmapped("ORC-4", "identifier[4]", NOT_YET),
    mapped("ORC-9", "recorded"),
    mapped("ORC-12", "performer.actor(PractitionerRole)"),
    mapped("ORC-12", "performer.function.coding.code"),
    mapped("ORC-12", "performer.function.coding.system"),
    unmapped("ORC-28", "meta.security", NOT_YET),
];
