//! `PV1[Encounter]`: HL7 v2 PV1 → FHIR Encounter.
//!
//! IG: <https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-pv1-to-encounter.html>
//!
//! - PV1-2 → `class` through the IG map `PatientClass[EncounterClass]`; absent or not in the
//!   map: `class` is the v3 NullFlavor `UNK` (FHIR requires a class) and that is reported.
//! - `status`: PV1-45 valued → `finished` (IG row `PV1-45 → status="finished"`), else PV1-2
//!   through `PatientClass[EncounterStatus]` (IG row `PV1-2 → status`, IF PV1-45 NOT VALUED),
//!   else `unknown`: that is every message map whose PV1 sets the status (`event` `None`),
//!   ADT_A01/A02/A05/A06/A17 included. A map that sets it from the trigger event (`event`
//!   `Some`: only `ADT_A11`'s `MSH[Encounter]` row, for the cancels A11/A12/A13) goes through
//!   `Event[EncounterStatus]`, whatever PV1-45 says for a cancel; events the IG map does not
//!   list get a status from the event's meaning (A12 `in-progress`; see
//!   `NON_IG_EVENT_STATUS`), any other `unknown`, reported.
//! - PV1-7/8/9/17/52 (XCN) → `participant` of type `ATND`/`REF`/`CON`/`ADM`/`PART`
//!   (`v3-ParticipationType`), each individual a Practitioner (`XCN[Practitioner]`); the caller
//!   adds the Practitioners to the Bundle and sets the references.
//! - PV1-19 → `identifier` (CX), type `VN` when CX.5 gives none; PV1-50 (alternate visit id) →
//!   a second `identifier`.
//! - PV1-3 → `location[1]`, a chain of Locations (`PL[Location]`; the caller adds them), status
//!   `planned` for a preadmit (PV1-2 `P`), else `active`; PV1-40 (bed status, `BedStatus`) →
//!   the finest level's `operationalStatus`. PV1-6 (prior, `completed`), PV1-11 (temporary,
//!   `active`, `subject-locationClassification` `temporary`) and PV1-42 (pending, `reserved`)
//!   → further `location`s.
//! - PV1-4 → `type` (`AdmissionType`), PV1-10 → `serviceType` (`HospitalService`).
//! - `hospitalization`: PV1-5 `preAdmissionIdentifier`, PV1-13 `reAdmission`
//!   (`ReadmissionIndicator`), PV1-14 `admitSource`, PV1-15 `specialArrangement`
//!   (`AmbulatoryStatus`), PV1-16 `specialCourtesy` (`VIPIndicator`), PV1-36
//!   `dischargeDisposition` (`DischargeDisposition`), PV1-38 `dietPreference` (`DietType`). Each
//!   CWE keeps its v2 coding; the IG map's coding is added after it (a code the map lacks is
//!   reported).
//! - PV1-44/45 → `period`.
//! - PV1-37 (`DLD[Location-Discharge]`) → `hospitalization.destination`, a Location typed by
//!   DLD.1 (`DischargedToLocation`), added by the caller.
//! - The episode-of-care rows are not written (no EpisodeOfCare resources): listed in [`ROWS`]
//!   and reported when present.

use ehrkit_fhir_model::codes::{EncounterLocationStatus, EncounterStatus};
use ehrkit_fhir_model::resources::{
    Encounter, EncounterHospitalization, EncounterParticipant, Location as FhirLocation,
    Practitioner,
};
use ehrkit_fhir_model::{CodeableConcept, Coding, Extension, ExtensionValue, Period, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Cx, Dld, Pl, Text, Xcn};
use ehrkit_hl7v2::Segment;

use super::pid_patient::{translate, vocab_coding};
use super::{mapped_in, unmapped, Row};
use crate::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept,
    cx_identifier::cx_identifier,
    dtm,
    pl_location::{pl_location, Level},
    text,
    xcn_practitioner::xcn_practitioner,
    Context,
};
use crate::v2_to_fhir::vocab::generated::{
    ADMISSION_TYPE, AMBULATORY_STATUS, BED_STATUS, DIET_TYPE, DISCHARGED_TO_LOCATION,
    DISCHARGE_DISPOSITION, EVENT_ENCOUNTER_STATUS, HOSPITAL_SERVICE, PATIENT_CLASS_ENCOUNTER_CLASS,
    PATIENT_CLASS_ENCOUNTER_STATUS, READMISSION_INDICATOR, VIP_INDICATOR,
};
use crate::v2_to_fhir::vocab::ConceptMap;
use crate::{DataProblem, Location, ReportKind};

const FILE: &str = "segment/pv1_encounter.rs";

/// Fields this map reads (PV1-1, the set id, carries no data; the others are reported when
/// present).
const MAPPED_FIELDS: &[usize] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 19, 36, 37, 38, 40, 42, 44, 45, 50, 52,
];

/// `subject-locationClassification`, the IG's marker of PV1-11 (temporary location).
pub const LOCATION_CLASSIFICATION: &str =
    "http://hl7.org/fhir/StructureDefinition/subject-locationClassification";

/// A location of the Encounter besides PV1-3: its `PL[Location]` levels (coarsest first), the
/// `Encounter.location.status` and extensions, and the field it comes from.
#[derive(Debug, Clone)]
pub struct OtherLocation {
    /// The levels; the caller adds them and points `Encounter.location.location` at the finest.
    pub levels: Vec<Level>,
    /// `Encounter.location.status`.
    pub status: EncounterLocationStatus,
    /// `Encounter.location.extension`.
    pub extension: Vec<Extension>,
    /// The PV1 field (6, 11, 42).
    pub field: usize,
}

/// The participant fields and their `v3-ParticipationType` codes.
const PARTICIPANTS: &[(usize, &str, &str)] = &[
    (7, "ATND", "attender"),
    (8, "REF", "referrer"),
    (9, "CON", "consultant"),
    (17, "ADM", "admitter"),
    (52, "PART", "Participation"),
];

/// Events that cancel an earlier one: their status comes from the event (IG
/// `Event[EncounterStatus]`: A11 `cancelled`, A13 `in-progress`) even when PV1-45 still carries
/// the discharge date being cancelled.
const CANCEL_EVENTS: &[&str] = &["A11", "A12", "A13"];

/// Statuses for visit events the IG map `Event[EncounterStatus]` does not list, from the
/// event's meaning in HL7 v2 chapter 3 (not from the IG): A06/A07 (change of patient class)
/// and A12 (cancel transfer) leave the patient in the facility, A14 (pending admit) is
/// planned, A17 (bed swap) moves two admitted patients.
const NON_IG_EVENT_STATUS: &[(&str, EncounterStatus)] = &[
    ("A06", EncounterStatus::InProgress),
    ("A07", EncounterStatus::InProgress),
    ("A12", EncounterStatus::InProgress),
    ("A14", EncounterStatus::Planned),
    ("A17", EncounterStatus::InProgress),
];

/// An Encounter and the Practitioners its participants point to: `practitioners[i]` (with
/// the location of its XCN) is `encounter.participant[i].individual`, to be set by the caller.
#[derive(Debug, Clone)]
pub struct EncounterParts {
    /// The Encounter (no id, no subject yet).
    pub encounter: Encounter,
    /// One Practitioner per participant, in order.
    pub practitioners: Vec<(Practitioner, Location)>,
    /// PV1-3 (assigned patient location) as `PL[Location]` levels, coarsest first; the caller
    /// adds them and appends `location[1]` pointing at the finest, with status
    /// [`EncounterParts::location_status`].
    pub location: Vec<Level>,
    /// PV1-3's `Encounter.location.status`: `planned` when PV1-2 is `P` (preadmit), else
    /// `active`.
    pub location_status: EncounterLocationStatus,
    /// PV1-6 (prior, `completed`), PV1-11 (temporary, `active`, classified `temporary`), PV1-42
    /// (pending, `reserved`), in that order after PV1-3.
    pub other_locations: Vec<OtherLocation>,
    /// PV1-37 (`DLD[Location-Discharge]`): the discharge destination, a Location typed by DLD.1
    /// (`DischargedToLocation`), and its identity key; the caller adds it and sets
    /// `hospitalization.destination`.
    pub destination: Option<(FhirLocation, String)>,
}

/// Converts the `occurrence`-th PV1 of a message whose trigger event is `event` (`Some("A01")`;
/// `None` for messages whose event says nothing about the visit, such as ORU^R01: the status
/// is then `unknown` unless PV1-45 is valued).
pub fn pv1_encounter(
    pv1: &Segment<'_>,
    occurrence: usize,
    event: Option<&str>,
    ctx: &mut Context<'_>,
) -> EncounterParts {
    let at = |field: usize| Location::segment("PV1", occurrence).field(field);
    let mut e = Encounter::default();

    let class = pv1
        .field(2)
        .first::<Cwe<'_>>()
        .and_then(|c| text(c.identifier()));
    let class_code = class.clone();
    e.class = Some(Box::new(
        match class.and_then(|c| vocab_coding(&PATIENT_CLASS_ENCOUNTER_CLASS, &c, ctx, &at(2))) {
            Some(c) => c,
            None => {
                if pv1.field(2).text().is_none() {
                    ctx.report(ReportKind::DataQuality(DataProblem::MissingRequired), at(2));
                }
                Coding::with_code("http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "UNK")
            }
        },
    ));

    let ended = pv1
        .field(45)
        .first::<Text<'_>>()
        .is_some_and(|t| !t.is_null() && !t.is_empty());
    let cancels = event.is_some_and(|e| CANCEL_EVENTS.contains(&e));
    let status = if ended && !cancels {
        Some(EncounterStatus::Finished)
    } else {
        event.and_then(|event| {
            if let Some((_, status)) = NON_IG_EVENT_STATUS.iter().find(|(e, _)| *e == event) {
                return Some(status.clone());
            }
            translate(
                &EVENT_ENCOUNTER_STATUS,
                event,
                ctx,
                &Location::segment("MSH", 1).field(9),
            )
            .and_then(|c| EncounterStatus::from_code(&c))
        })
    };
    // IG row `PV1-2 → status` (`PatientClass[EncounterStatus]`, IF PV1-45 NOT VALUED): used
    // when the message map sets no status from the event (`event` is `None`).
    let status = status.or_else(|| {
        if ended || event.is_some() {
            return None;
        }
        translate(
            &PATIENT_CLASS_ENCOUNTER_STATUS,
            class_code.as_deref()?,
            ctx,
            &at(2),
        )
        .and_then(|c| EncounterStatus::from_code(&c))
    });
    e.status = Some(Primitive::new(status.unwrap_or(EncounterStatus::Unknown)));

    let mut practitioners = Vec::new();
    for &(field, code, display) in PARTICIPANTS {
        for (r, xcn) in pv1.field(field).repetitions::<Xcn<'_>>().enumerate() {
            let at_r = at(field).repetition(r + 1);
            if let Some(p) = xcn_practitioner(&xcn, ctx, &at_r) {
                e.participant.push(EncounterParticipant {
                    type_: vec![CodeableConcept {
                        coding: vec![Coding::with_code(
                            "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            code,
                        )
                        .display(display)],
                        ..Default::default()
                    }],
                    ..Default::default()
                });
                practitioners.push((p, at_r));
            }
        }
    }

    for (r, cx) in pv1.field(19).repetitions::<Cx<'_>>().enumerate() {
        if let Some(mut id) = cx_identifier(&cx, ctx, &at(19).repetition(r + 1)) {
            if id.type_.is_none() {
                id.type_ = Some(Box::new(CodeableConcept::from_coding(Coding::with_code(
                    "http://terminology.hl7.org/CodeSystem/v2-0203",
                    "VN",
                ))));
            }
            e.identifier.push(id);
        }
    }

    for (r, cx) in pv1.field(50).repetitions::<Cx<'_>>().enumerate() {
        e.identifier
            .extend(cx_identifier(&cx, ctx, &at(50).repetition(r + 1)));
    }

    if let Some(cwe) = pv1.field(4).first::<Cwe<'_>>() {
        e.type_
            .extend(coded(&cwe, Some(&ADMISSION_TYPE), ctx, &at(4)));
    }
    if let Some(cwe) = pv1.field(10).first::<Cwe<'_>>() {
        e.service_type = coded(&cwe, Some(&HOSPITAL_SERVICE), ctx, &at(10)).map(Box::new);
    }
    hospitalization(pv1, &mut e, ctx, &at);

    let start = dtm::read_date_time(pv1.field(44).first::<Text<'_>>(), ctx, at(44));
    let end = dtm::read_date_time(pv1.field(45).first::<Text<'_>>(), ctx, at(45));
    if start.is_some() || end.is_some() {
        e.period = Some(Box::new(Period {
            start: start.map(Primitive::new),
            end: end.map(Primitive::new),
            ..Default::default()
        }));
    }

    for f in 1..=pv1.field_count() {
        let field = pv1.field(f);
        if !MAPPED_FIELDS.contains(&f) && field.repetition_count() > 0 && !field.is_null() {
            ctx.report(ReportKind::UnmappedField, at(f));
        }
    }
    let mut location = pv1
        .field(3)
        .first::<Pl<'_>>()
        .map(|pl| pl_location(&pl, ctx, &at(3)))
        .unwrap_or_default();
    bed_status(pv1, &mut location, ctx, &at(40));
    let location_status = if class_code.as_deref() == Some("P") {
        EncounterLocationStatus::Planned
    } else {
        EncounterLocationStatus::Active
    };
    let destination = destination(pv1, ctx, &at(37));
    let mut other_locations = Vec::new();
    for (field, status) in [
        (6, EncounterLocationStatus::Completed),
        (11, EncounterLocationStatus::Active),
        (42, EncounterLocationStatus::Reserved),
    ] {
        let levels = pv1
            .field(field)
            .first::<Pl<'_>>()
            .map(|pl| pl_location(&pl, ctx, &at(field)))
            .unwrap_or_default();
        if levels.is_empty() {
            continue;
        }
        let extension = if field == 11 {
            vec![Extension {
                url: Some(LOCATION_CLASSIFICATION.to_owned()),
                value: Some(ExtensionValue::CodeableConcept(Box::new(
                    CodeableConcept::from_coding(Coding::with_code(
                        "http://hl7.org/fhir/ValueSet/subject-location",
                        "temporary",
                    )),
                ))),
                ..Default::default()
            }]
        } else {
            Vec::new()
        };
        other_locations.push(OtherLocation {
            levels,
            status,
            extension,
            field,
        });
    }
    crate::quirks::encounter::encounter(pv1, occurrence, &mut e, &mut practitioners, ctx);
    EncounterParts {
        encounter: e,
        practitioners,
        location,
        location_status,
        other_locations,
        destination,
    }
}

/// PV1-37 → a Location typed by DLD.1 (`DLD[Location-Discharge]`); DLD.2 (effective date) has
/// no row and is reported.
fn destination(
    pv1: &Segment<'_>,
    ctx: &mut Context<'_>,
    at: &Location,
) -> Option<(FhirLocation, String)> {
    let dld = pv1.field(37).first::<Dld<'_>>()?;
    if dld
        .component(2)
        .is_some_and(|t| !t.is_empty() && !t.is_null())
    {
        ctx.report(ReportKind::UnmappedComponent, at.clone().component(2));
    }
    let cwe = dld.discharge_to_location()?;
    let ty = coded(
        &cwe,
        Some(&DISCHARGED_TO_LOCATION),
        ctx,
        &at.clone().component(1),
    )?;
    let raw = String::from_utf8_lossy(cwe.raw()).into_owned();
    Some((
        FhirLocation {
            type_: vec![ty],
            ..Default::default()
        },
        format!("pv1-37:{}:{raw}", raw.len()),
    ))
}

/// PV1-40 (bed status, `BedStatus`) → `operationalStatus` of PV1-3's finest level, when PV1-3
/// names a room or bed (IG condition `PV1-3.2 OR PV1-3.3 VALUED`); else reported.
fn bed_status(pv1: &Segment<'_>, location: &mut [Level], ctx: &mut Context<'_>, at: &Location) {
    let Some(code) = pv1
        .field(40)
        .first::<Cwe<'_>>()
        .and_then(|c| text(c.identifier()))
    else {
        return;
    };
    let room_or_bed = pv1.field(3).first::<Pl<'_>>().is_some_and(|pl| {
        pl.room().is_some_and(|h| !h.is_empty()) || pl.bed().is_some_and(|h| !h.is_empty())
    });
    match location.last_mut() {
        Some(finest) if room_or_bed => {
            if let Some(coding) = vocab_coding(&BED_STATUS, &code, ctx, at) {
                finest.location.operational_status = Some(Box::new(coding));
            }
        }
        _ => ctx.report(ReportKind::UnmappedField, at.clone()),
    }
}

/// A CWE as a CodeableConcept, with the FHIR coding of `map` (when given and the code is in
/// it; a miss is reported) after the v2 coding.
fn coded(
    cwe: &Cwe<'_>,
    map: Option<&ConceptMap>,
    ctx: &mut Context<'_>,
    at: &Location,
) -> Option<CodeableConcept> {
    let mut cc = cwe_codeable_concept(cwe, ctx, at);
    if let (Some(map), Some(code)) = (map, text(cwe.identifier())) {
        if let Some(coding) = vocab_coding(map, &code, ctx, at) {
            let cc = cc.get_or_insert_with(CodeableConcept::default);
            if !cc.coding.contains(&coding) {
                cc.coding.push(coding);
            }
        }
    }
    cc
}

/// PV1-5, PV1-13–16, PV1-36, PV1-38 → `hospitalization` (written only when one is valued).
fn hospitalization(
    pv1: &Segment<'_>,
    e: &mut Encounter,
    ctx: &mut Context<'_>,
    at: &dyn Fn(usize) -> Location,
) {
    let mut h = EncounterHospitalization {
        pre_admission_identifier: pv1
            .field(5)
            .first::<Cx<'_>>()
            .and_then(|cx| cx_identifier(&cx, ctx, &at(5)))
            .map(Box::new),
        ..Default::default()
    };
    let one = |f: usize, map: Option<&ConceptMap>, ctx: &mut Context<'_>| {
        pv1.field(f)
            .first::<Cwe<'_>>()
            .and_then(|c| coded(&c, map, ctx, &at(f)))
    };
    h.re_admission = one(13, Some(&READMISSION_INDICATOR), ctx).map(Box::new);
    h.admit_source = one(14, None, ctx).map(Box::new);
    h.special_arrangement
        .extend(one(15, Some(&AMBULATORY_STATUS), ctx));
    h.special_courtesy
        .extend(one(16, Some(&VIP_INDICATOR), ctx));
    h.discharge_disposition = one(36, Some(&DISCHARGE_DISPOSITION), ctx).map(Box::new);
    h.diet_preference.extend(one(38, Some(&DIET_TYPE), ctx));
    if h != EncounterHospitalization::default() {
        e.hospitalization = Some(Box::new(h));
    }
}

const fn mapped(identifier: &'static str, fhir_attribute: &'static str) -> Row {
    mapped_in(FILE, identifier, fhir_attribute)
}

const EPISODE: &str =
    "EpisodeOfCare is not produced; the field is reported as unmapped when present";

/// The spreadsheet rows of `PV1[Encounter]` and how this map handles each.
pub static ROWS: &[Row] = &[
    mapped("PV1-2", "class"),
    mapped("PV1-2", "status"),
    mapped("PV1-3", "location[1].location(Location)"),
    mapped("PV1-3", "location[1].status"),
    mapped("PV1-4", "type"),
    mapped("PV1-5", "hospitalization.preAdmissionIdentifier"),
    mapped("PV1-6", "location[2].location(Location)"),
    mapped("PV1-6", "location[2].status"),
    mapped("PV1-7", "participant[1].individual(Practitioner)"),
    mapped("PV1-7", "participant[1].type.coding.code"),
    mapped("PV1-7", "participant[1].type.coding.system"),
    mapped("PV1-7", "participant[1].type.coding.display"),
    mapped("PV1-8", "participant[2].individual(Practitioner)"),
    mapped("PV1-8", "participant[2].type.coding.code"),
    mapped("PV1-8", "participant[2].type.coding.system"),
    mapped("PV1-8", "participant[2].type.text"),
    mapped("PV1-9", "participant[3].individual(Practitioner)"),
    mapped("PV1-9", "participant[3].type.coding.code"),
    mapped("PV1-9", "participant[3].type.coding.system"),
    mapped("PV1-9", "participant[3].type.text"),
    mapped("PV1-10", "serviceType"),
    mapped("PV1-11", "location[3].location(Location)"),
    mapped("PV1-11", "location[3].status"),
    mapped("PV1-11", "location[3].extension.url"),
    mapped(
        "PV1-11",
        "location[3].extension.valueCodeableConcept.coding.code",
    ),
    mapped(
        "PV1-11",
        "location[3].extension.valueCodeableConcept.coding.system",
    ),
    mapped("PV1-13", "hospitalization.reAdmission"),
    mapped("PV1-14", "hospitalization.admitSource"),
    mapped("PV1-15", "hospitalization.specialArrangement"),
    mapped("PV1-16", "hospitalization.specialCourtesy"),
    mapped("PV1-17", "participant[4].individual(Practitioner)"),
    mapped("PV1-17", "participant[4].type.coding.code"),
    mapped("PV1-17", "participant[4].type.coding.system"),
    mapped("PV1-17", "participant[4].type.text"),
    mapped("PV1-19", "identifier[1]"),
    mapped("PV1-19", "identifier[1].type.coding.code"),
    mapped("PV1-19", "identifier[1].type.coding.system"),
    mapped("PV1-19", "identifier[1].type.text"),
    mapped("PV1-36", "hospitalization.dischargeDisposition"),
    mapped("PV1-37", "hospitalization.destination(Location)"),
    mapped("PV1-38", "hospitalization.dietPreference"),
    mapped("PV1-40", "location[1].location(Location.operationalStatus)"),
    mapped("PV1-42", "location[4].location(Location)"),
    mapped("PV1-42", "location[4].status"),
    mapped("PV1-44", "period.start"),
    mapped("PV1-45", "period.end"),
    mapped("PV1-45", r#"status="finished""#),
    mapped("PV1-50", "identifier[2]"),
    mapped("PV1-52", "participant[5].individual(Practitioner)"),
    mapped("PV1-52", r#"participant[5].type.coding.code="PART""#),
    mapped("PV1-52", "participant[5].type.coding.system"),
    mapped("PV1-52", r#"participant[5].type.text="Participation""#),
    unmapped(
        "PV1-53",
        "episodeOfCare(EpisodeOfCare[1].extension.url)",
        EPISODE,
    ),
    unmapped(
        "PV1-53",
        "episodeOfCare(EpisodeOfCare[1].extension.valueString)",
        EPISODE,
    ),
    unmapped(
        "PV1-54",
        "episodeOfCare(EpisodeOfCare[1].identifier)",
        EPISODE,
    ),
];
