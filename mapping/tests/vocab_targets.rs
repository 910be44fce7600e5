//! Every FHIR code an IG vocabulary map gives, where the converter reads it as a FHIR code
//! enum (`Observation.status`, `ContactPoint.system`, …), is a code of that enum (issue 12,
//! *Nothing silently lost*): a target the enum does not know would be dropped after the map
//! said "mapped", with nothing in the report. The one known exception, `CP` → `mobile` (a
//! ContactPoint *use*, in the IG's equipment-type map), is handled by `XTN[ContactPoint]`.

use ehrkit_fhir_model::codes::{
    AddressType, AddressUse, AdministrativeGender, AllergyIntoleranceCategory,
    AllergyIntoleranceCriticality, AllergyIntoleranceSeverity, AllergyIntoleranceType,
    AppointmentStatus, ContactPointSystem, ContactPointUse, DiagnosticReportStatus,
    EncounterStatus, ImmunizationStatusCodes, NameUse, ObservationStatus, RequestPriority,
    RequestStatus, SpecimenStatus,
};
use ehrkit_mapping::v2_to_fhir::vocab::generated as g;
use ehrkit_mapping::v2_to_fhir::vocab::ConceptMap;

/// `map: v2 code -> FHIR code` for each target `known` refuses.
fn unknown(map: &ConceptMap, known: impl Fn(&str) -> bool) -> Vec<String> {
    map.entries
        .iter()
        .filter_map(|e| e.target.as_ref().map(|t| (e.code, t.code)))
        .filter(|(_, t)| !t.is_empty() && !known(t))
        .map(|(c, t)| format!("{}: {c} -> {t}", map.name))
        .collect()
}

#[test]
fn ig_targets_read_as_fhir_enums_are_codes_of_them() {
    let found: Vec<String> = [
        unknown(&g::EXTENDED_PRIORITY_CODES, |c| {
            RequestPriority::from_code(c).is_some()
        }),
        unknown(&g::FILLER_STATUS_CODES_APPOINTMENT, |c| {
            AppointmentStatus::from_code(c).is_some()
        }),
        unknown(&g::YES_NO_INDICATOR_AVAILABILITY_STATUS, |c| {
            SpecimenStatus::from_code(c).is_some()
        }),
        unknown(&g::OBSERVATION_RESULT_STATUS_CODES_INTERPRETATION, |c| {
            ObservationStatus::from_code(c).is_some()
        }),
        unknown(&g::EVENT_ENCOUNTER_STATUS, |c| {
            EncounterStatus::from_code(c).is_some()
        }),
        unknown(&g::PATIENT_CLASS_ENCOUNTER_STATUS, |c| {
            EncounterStatus::from_code(c).is_some()
        }),
        unknown(&g::ORDER_CONTROL_CODE_SERVICE_REQUEST_STATUS, |c| {
            RequestStatus::from_code(c).is_some()
        }),
        unknown(&g::ORDER_STATUS, |c| RequestStatus::from_code(c).is_some()),
        unknown(&g::ADMINISTRATIVE_SEX, |c| {
            AdministrativeGender::from_code(c).is_some()
        }),
        unknown(&g::RESULT_STATUS_NON_QUERIES, |c| {
            DiagnosticReportStatus::from_code(c).is_some()
        }),
        unknown(&g::ALLERGEN_TYPE_ALLERGY_INTOLERANCE_CATEGORY, |c| {
            AllergyIntoleranceCategory::from_code(c).is_some()
        }),
        unknown(&g::ALLERGY_TYPE, |c| {
            AllergyIntoleranceType::from_code(c).is_some()
        }),
        unknown(&g::ALLERGY_SEVERITY_ALLERGY_INTOLERANCE_CRITICALITY, |c| {
            AllergyIntoleranceCriticality::from_code(c).is_some()
        }),
        unknown(
            &g::ALLERGY_SEVERITY_ALLERGY_INTOLERANCE_REACTION_SEVERITY,
            |c| AllergyIntoleranceSeverity::from_code(c).is_some(),
        ),
        unknown(&g::COMPLETION_STATUS, |c| {
            ImmunizationStatusCodes::from_code(c).is_some()
        }),
        unknown(&g::ADDRESS_TYPE_TYPE, |c| {
            AddressType::from_code(c).is_some()
        }),
        unknown(&g::ADDRESS_TYPE_USE, |c| AddressUse::from_code(c).is_some()),
        unknown(&g::NAME_TYPE, |c| NameUse::from_code(c).is_some()),
        unknown(&g::TELECOMMUNICATION_EQUIPMENT_TYPE, |c| {
            ContactPointSystem::from_code(c).is_some()
        }),
        unknown(&g::TELECOMMUNICATION_USE_CODE, |c| {
            ContactPointUse::from_code(c).is_some()
        }),
    ]
    .concat();
    assert_eq!(found, ["TelecommunicationEquipmentType: CP -> mobile"]);
}
