//! Issue 12 items 2 and 3 for the ADT family: the events beyond A01 (A05–A47), their clinical
//! segments (EVN, PV2, DG1, AL1, IAM, PR1, IN1, MRG) and the resources they give, on messages
//! written for these tests (`tests/data/adt/`, Epic-like and Cerner-like).
//!
//! Every Bundle is checked the same way: JSON round trip through `ehrkit-fhir-model`, its
//! structural validation, every reference resolving to an entry, unique ids, and the same
//! Bundle from a second conversion (deterministic ids).

mod common;
use common::{all, references, report_has};

use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::resources::{
    AllergyIntolerance, Condition, Coverage, Encounter, Organization, Patient, Procedure,
    Provenance,
};
use ehrkit_fhir_model::{Bundle, Resource, TypedResource};
use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{BundleKind, Conversion, ConvertError, Converter, Options};
use ehrkit_mapping::{DataProblem, Profile, ReportKind};

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/adt/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn convert_with(
    raw: &[u8],
    profile: Profile,
    kind: BundleKind,
) -> Result<Conversion, ConvertError> {
    let msg = Message::parse(raw).expect("test message parses");
    Converter::new(profile, Options::default().bundle_kind(kind)).convert(&msg)
}

/// Converts twice (the Bundles must be equal) and checks the Bundle.
fn convert_profile(name: &str, profile: Profile) -> Conversion {
    let raw = data(name);
    let c = convert_with(&raw, profile.clone(), BundleKind::Transaction).expect("converts");
    let again = convert_with(&raw, profile, BundleKind::Transaction).expect("converts");
    assert_eq!(
        c.bundle, again.bundle,
        "{name}: same Bundle on a second conversion"
    );
    check_bundle(&c.bundle);
    c
}

fn convert(name: &str) -> Conversion {
    convert_profile(name, Profile::generic())
}

fn check_bundle(b: &Bundle) {
    common::check_bundle(b);
    let mut refs = Vec::new();
    references(
        &Value::parse(ehrkit_fhir_model::to_string(b).as_bytes()).unwrap(),
        &mut refs,
    );
    assert!(!refs.is_empty(), "an ADT Bundle references its Patient");
}

fn one<R: TypedResource + Clone>(b: &Bundle) -> R {
    let v = all::<R>(b);
    assert_eq!(v.len(), 1, "exactly one {}", R::TYPE_NAME);
    v.into_iter().next().unwrap()
}

/// The `urn:uuid:` reference of the entry holding `r`.
fn reference_of<R: TypedResource>(r: &R) -> String {
    format!("urn:uuid:{}", r.id().unwrap())
}

fn reference(r: &Option<Box<ehrkit_fhir_model::Reference>>) -> String {
    r.as_ref()
        .and_then(|r| r.reference.as_ref())
        .and_then(|s| s.value.clone())
        .unwrap_or_default()
}

fn code(cc: &ehrkit_fhir_model::CodeableConcept) -> Vec<(String, String)> {
    cc.coding
        .iter()
        .map(|c| {
            (
                c.system
                    .as_ref()
                    .and_then(|s| s.value.clone())
                    .unwrap_or_default(),
                c.code
                    .as_ref()
                    .and_then(|s| s.value.clone())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn status(e: &Encounter) -> String {
    e.status
        .as_ref()
        .unwrap()
        .value
        .as_ref()
        .unwrap()
        .as_code()
        .to_owned()
}

fn request_url(b: &Bundle, id: &str) -> String {
    b.entry
        .iter()
        .find(|e| e.resource.as_ref().unwrap().id() == Some(id))
        .and_then(|e| e.request.as_ref())
        .and_then(|r| r.url.as_ref().and_then(|u| u.value.clone()))
        .unwrap_or_default()
}

const EPIC_MRN: &str = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14";

#[test]
fn epic_a01_with_clinical_segments() {
    let c = convert("epic_a01_clinical.hl7");
    let b = &c.bundle;
    let patient: Patient = one(b);
    let patient_ref = reference_of(&patient);
    let encounter: Encounter = one(b);
    let encounter_ref = reference_of(&encounter);
    assert_eq!(status(&encounter), "in-progress");
    assert_eq!(reference(&encounter.subject), patient_ref);

    // PV2: admit reason (ICD-10), priority 2 → v3 UR, mode of arrival A, length 3 days.
    assert_eq!(
        code(&encounter.reason_code[0]),
        [(
            "http://hl7.org/fhir/sid/icd-10".to_owned(),
            "R07.9".to_owned()
        )]
    );
    assert!(code(encounter.priority.as_ref().unwrap()).contains(&(
        "http://terminology.hl7.org/CodeSystem/v3-ActPriority".to_owned(),
        "UR".to_owned()
    )));
    assert!(encounter.extension.iter().any(|e| e.url.as_deref()
        == Some("http://hl7.org/fhir/StructureDefinition/encounter-modeOfArrival")));
    assert_eq!(
        encounter
            .length
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .to_string(),
        "3"
    );

    // DG1 → Conditions (subject, encounter), referenced from Encounter.diagnosis with use/rank.
    let conditions: Vec<Condition> = all(b);
    assert_eq!(conditions.len(), 2);
    assert_eq!(
        code(conditions[0].code.as_ref().unwrap()),
        [(
            "http://hl7.org/fhir/sid/icd-10".to_owned(),
            "I21.4".to_owned()
        )]
    );
    for cond in &conditions {
        assert_eq!(reference(&cond.subject), patient_ref);
        assert_eq!(reference(&cond.encounter), encounter_ref);
    }
    assert!(conditions[0].asserter.is_some());
    assert_eq!(encounter.diagnosis.len(), 2);
    assert_eq!(
        reference(&encounter.diagnosis[0].condition),
        reference_of(&conditions[0])
    );
    assert!(
        code(encounter.diagnosis[0].use_.as_ref().unwrap()).contains(&(
            "http://terminology.hl7.org/CodeSystem/diagnosis-role".to_owned(),
            "AD".to_owned()
        ))
    );
    assert_eq!(
        encounter.diagnosis[1]
            .rank
            .as_ref()
            .unwrap()
            .value
            .map(|n| n.get()),
        Some(2)
    );

    // AL1 → AllergyIntolerance: severity → criticality through the IG map.
    let allergies: Vec<AllergyIntolerance> = all(b);
    assert_eq!(allergies.len(), 3);
    let criticality: Vec<Option<&str>> = allergies
        .iter()
        .map(|a| {
            a.criticality
                .as_ref()
                .and_then(|c| c.value.as_ref())
                .map(|v| v.as_code())
        })
        .collect();
    assert_eq!(criticality, [Some("high"), Some("low"), None]);
    assert_eq!(
        allergies[2].category[0].value.as_ref().map(|c| c.as_code()),
        Some("food")
    );
    for a in &allergies {
        assert_eq!(reference(&a.patient), patient_ref);
    }

    // PR1 → Procedure: CPT with modifier, period from PR1-5 + 95 minutes, two performers.
    let procedure: Procedure = one(b);
    assert_eq!(
        code(procedure.code.as_ref().unwrap()),
        [(
            "http://www.ama-assn.org/go/cpt".to_owned(),
            "92928:LC".to_owned()
        )]
    );
    assert_eq!(procedure.performer.len(), 2);
    assert!(procedure.performer.iter().all(|p| p.actor.is_some()));
    assert_eq!(reference(&procedure.encounter), encounter_ref);

    // IN1 → Coverage: payor Organization, self subscriber = the Patient, subscriberId.
    let coverage: Coverage = one(b);
    assert_eq!(reference(&coverage.beneficiary), patient_ref);
    assert_eq!(reference(&coverage.subscriber), patient_ref);
    let payors: Vec<Organization> = all(b);
    let payor = payors
        .iter()
        .find(|o| {
            reference_of(*o)
                == coverage.payor[0]
                    .reference
                    .as_ref()
                    .unwrap()
                    .value
                    .clone()
                    .unwrap()
        })
        .expect("payor in the Bundle");
    assert_eq!(
        payor.name.as_ref().unwrap().value.as_deref(),
        Some("Blue Cross Blue Shield of Wisconsin")
    );
    assert!(coverage.extension.iter().any(|e| e.url.as_deref()
        == Some("http://hl7.org/fhir/5.0/StructureDefinition/extension-subscriberId")));

    // EVN → Provenance: recorded EVN-2, reason PATRQT, agent the EVN-5 clerk, target the
    // Patient and Encounter.
    let provenance: Provenance = one(b);
    assert_eq!(
        provenance
            .recorded
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .as_str(),
        "2026-03-02T08:30:00-05:00"
    );
    assert!(code(&provenance.reason[0]).contains(&(
        "http://terminology.hl7.org/CodeSystem/v3-ActReason".to_owned(),
        "PATRQT".to_owned()
    )));
    let targets: Vec<String> = provenance
        .target
        .iter()
        .map(|t| t.reference.as_ref().unwrap().value.clone().unwrap())
        .collect();
    assert_eq!(targets, [patient_ref.clone(), encounter_ref.clone()]);
    assert!(provenance.agent[0].who.is_some());

    // Observations from the ADT's OBX belong to the Patient.
    let observations: Vec<ehrkit_fhir_model::resources::Observation> = all(b);
    assert_eq!(observations.len(), 2);

    // IN1-17 `SEL`: the insured is the patient, so IN2-1 (employee id) and IN2-2 (SSN) are the
    // Patient's; the SSN PID-19 already gave is not written twice.
    let ids: Vec<(Option<String>, Option<String>)> = patient
        .identifier
        .iter()
        .map(|i| {
            (
                i.system.as_ref().and_then(|p| p.value.clone()),
                i.value.as_ref().and_then(|p| p.value.clone()),
            )
        })
        .collect();
    let ssn = (
        Some("http://hl7.org/fhir/sid/us-ssn".to_owned()),
        Some("987654321".to_owned()),
    );
    assert_eq!(ids.iter().filter(|i| **i == ssn).count(), 1, "{ids:?}");
    assert!(ids.contains(&(None, Some("1".to_owned()))), "{ids:?}");
    assert!(!report_has(&c, ReportKind::UnmappedSegment, "IN2[1]"));

    // Not mapped, reported by location: PD1, the GT1 of a guarantor who is not the patient
    // (GT1-11 empty), the Z-segment.
    assert!(report_has(&c, ReportKind::UnmappedSegment, "PD1[1]"));
    assert!(report_has(&c, ReportKind::UnmappedSegment, "GT1[1]"));
    assert!(report_has(&c, ReportKind::ZSegment, "ZPD[1]"));
}

#[test]
fn two_al1_with_the_same_allergen_stay_two_allergies() {
    let c = convert("epic_a01_clinical.hl7");
    let allergies: Vec<AllergyIntolerance> = all(&c.bundle);
    let penicillin: Vec<&AllergyIntolerance> = allergies
        .iter()
        .filter(|a| code(a.code.as_ref().unwrap())[0].1 == "7980")
        .collect();
    assert_eq!(penicillin.len(), 2, "AL1-1 and AL1-2 name the same drug");
    assert_ne!(penicillin[0].id, penicillin[1].id);
    assert_ne!(penicillin[0].reaction, penicillin[1].reaction);
    // Each is written by its own id, never as a conditional update that would overwrite the other.
    for a in penicillin {
        let url = request_url(&c.bundle, a.id.as_deref().unwrap());
        assert_eq!(
            url,
            format!("AllergyIntolerance/{}", a.id.as_deref().unwrap())
        );
    }
}

#[test]
fn two_dg1_with_one_identifier_are_not_merged() {
    let raw = String::from_utf8(data("epic_a01_clinical.hl7")).unwrap();
    // DG1-20 of the second DG1 repeats the first's identifier.
    let raw = raw.replace("|W|||||||||2\r", "|W|||||||||2|||||DX-80001-1^EPIC\r");
    assert!(raw.contains("2|||||DX-80001-1^EPIC"));
    let c = convert_with(raw.as_bytes(), Profile::generic(), BundleKind::Transaction).unwrap();
    check_bundle(&c.bundle);
    let conditions: Vec<Condition> = all(&c.bundle);
    assert_eq!(conditions.len(), 2);
    assert_ne!(conditions[0].id, conditions[1].id);
    assert!(report_has(
        &c,
        ReportKind::DataQuality(DataProblem::DuplicateIdentifier),
        "DG1[2]"
    ));
}

#[test]
fn cerner_a08_with_source_zone() {
    let c = convert_profile(
        "cerner_a08_clinical.hl7",
        Profile::generic().time_zone(chrono_tz::America::Chicago),
    );
    let b = &c.bundle;
    let encounter: Encounter = one(b);
    // PV1-2 `O` (PatientClass[EncounterStatus]): ADT_A01's map has no MSH[Encounter] row, so
    // A08 itself sets nothing.
    assert_eq!(status(&encounter), "in-progress");
    assert_eq!(
        encounter
            .class
            .as_ref()
            .unwrap()
            .code
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some("AMB")
    );
    let allergies: Vec<AllergyIntolerance> = all(b);
    assert_eq!(allergies.len(), 2);
    // MO (moderate) has no criticality in the IG map; its reaction severity is moderate.
    assert_eq!(allergies[0].criticality.as_ref().unwrap().value, None);
    assert_eq!(
        allergies[0].reaction[0]
            .severity
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .map(|s| s.as_code()),
        Some("moderate")
    );
    // MA (miscellaneous allergy) has no FHIR category: the v2 code stays in alternate-codes.
    let category = &allergies[1].category[0];
    assert_eq!(category.value, None);
    assert_eq!(
        category.ext.as_ref().unwrap().extension[0].url.as_deref(),
        Some("http://hl7.org/fhir/StructureDefinition/alternate-codes")
    );
    let condition: Condition = one(b);
    assert_eq!(
        code(condition.code.as_ref().unwrap()),
        [(
            "http://hl7.org/fhir/sid/icd-10".to_owned(),
            "I10".to_owned()
        )]
    );
    // DG1-4 (description) is carried as the code's text.
    assert_eq!(
        condition
            .code
            .as_ref()
            .unwrap()
            .text
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some("Essential hypertension")
    );
    // EVN-2 without an offset gets the profile's zone (CST in March before the DST change).
    let provenance: Provenance = one(b);
    assert_eq!(
        provenance
            .recorded
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .as_str(),
        "2026-03-05T14:15:00-06:00"
    );
    // IN1-17 `01` is not `SEL`: the subscriber is a RelatedPerson named by IN1-16.
    let coverage: Coverage = one(b);
    assert!(reference(&coverage.subscriber).starts_with("urn:uuid:"));
    assert_ne!(
        reference(&coverage.subscriber),
        reference_of(&one::<Patient>(b))
    );
}

#[test]
fn cerner_a08_without_a_zone_leaves_provenance_out_and_says_so() {
    let raw = data("cerner_a08_clinical.hl7");
    let c = convert_with(&raw, Profile::generic(), BundleKind::Transaction).unwrap();
    check_bundle(&c.bundle);
    assert!(all::<Provenance>(&c.bundle).is_empty());
    assert!(report_has(
        &c,
        ReportKind::DataQuality(DataProblem::MissingRequired),
        "EVN[1]-2"
    ));
    assert!(report_has(&c, ReportKind::UnmappedSegment, "EVN[1]"));
}

#[test]
fn a40_merge_links_survivor_and_merged_patient() {
    let c = convert("epic_a40_merge.hl7");
    let b = &c.bundle;
    let patients: Vec<Patient> = all(b);
    assert_eq!(patients.len(), 2);
    let (survivor, merged) = (&patients[0], &patients[1]);
    assert_eq!(
        survivor.identifier[0]
            .value
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some("E2000451")
    );
    assert_eq!(
        merged.identifier[0]
            .value
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some("E2999001")
    );
    assert_eq!(
        merged.identifier[0]
            .system
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some(EPIC_MRN)
    );
    assert_eq!(merged.active.as_ref().unwrap().value, Some(false));
    assert_eq!(merged.name[0].given[0].value.as_deref(), Some("PATTY"));
    let link_of = |p: &Patient| {
        let l = &p.link[0];
        (
            l.type_
                .as_ref()
                .unwrap()
                .value
                .as_ref()
                .unwrap()
                .as_code()
                .to_owned(),
            reference(&l.other),
        )
    };
    assert_eq!(
        link_of(survivor),
        ("replaces".to_owned(), reference_of(merged))
    );
    assert_eq!(
        link_of(merged),
        ("replaced-by".to_owned(), reference_of(survivor))
    );
    // The merged record is updated where it is, by its prior identifier.
    assert_eq!(
        request_url(b, merged.id.as_deref().unwrap()),
        format!("Patient?identifier={EPIC_MRN}|E2999001")
    );
    // No PV1: no Encounter; the Provenance targets both Patients.
    assert!(all::<Encounter>(b).is_empty());
    let provenance: Provenance = one(b);
    assert_eq!(provenance.target.len(), 2);
}

#[test]
fn a40_merged_patient_has_the_id_earlier_messages_gave_it() {
    // An A01 for the record that is later merged away (MRN E2999001) ...
    let a01 = String::from_utf8(data("epic_a01_clinical.hl7"))
        .unwrap()
        .replace("E2000451^^^EPIC", "E2999001^^^EPIC");
    let before = convert_with(a01.as_bytes(), Profile::generic(), BundleKind::Transaction).unwrap();
    let old: Patient = one(&before.bundle);
    // ... and the A40 that merges it: the merged Patient is that same resource.
    let c = convert("epic_a40_merge.hl7");
    let patients: Vec<Patient> = all(&c.bundle);
    assert_eq!(patients[1].id, old.id);
}

#[test]
fn a17_swap_gives_two_patients_and_two_encounters() {
    let c = convert("epic_a17_swap.hl7");
    let b = &c.bundle;
    let patients: Vec<Patient> = all(b);
    let encounters: Vec<Encounter> = all(b);
    assert_eq!(patients.len(), 2);
    assert_eq!(encounters.len(), 2);
    for (p, e) in patients.iter().zip(&encounters) {
        assert_eq!(reference(&e.subject), reference_of(p));
        assert_eq!(status(e), "in-progress");
    }
    // Each Encounter is in its own bed (bed B and bed A of room 412).
    let beds: Vec<String> = encounters
        .iter()
        .map(|e| reference(&e.location[0].location))
        .collect();
    assert_ne!(beds[0], beds[1]);
    // The shared attending is one Practitioner.
    assert_eq!(
        all::<ehrkit_fhir_model::resources::Practitioner>(b).len(),
        1
    );
    let provenance: Provenance = one(b);
    assert_eq!(provenance.target.len(), 4);
}

/// Two visits without a visit number (PV1-19) are two Encounters of their own, each located
/// at its own PV1: the second is not taken for a duplicate of the first.
#[test]
fn a17_without_visit_numbers_keeps_two_encounters_apart_without_a_false_duplicate() {
    let raw = String::from_utf8(data("epic_a17_swap.hl7")).unwrap();
    let raw: String = raw
        .split('\r')
        .filter(|s| !s.is_empty())
        .map(|s| match s.find("||V100") {
            Some(i) if s.starts_with("PV1") => format!("{}\r", &s[..i]),
            _ => format!("{s}\r"),
        })
        .collect();
    assert!(!raw.contains("V100"), "{raw}");
    let c = convert_with(raw.as_bytes(), Profile::generic(), BundleKind::Transaction).unwrap();
    check_bundle(&c.bundle);
    let encounters: Vec<Encounter> = all(&c.bundle);
    assert_eq!(encounters.len(), 2);
    assert_ne!(encounters[0].id, encounters[1].id);
    let duplicates: Vec<String> = c
        .report
        .entries()
        .iter()
        .filter(|e| e.kind == ReportKind::DataQuality(DataProblem::DuplicateIdentifier))
        .map(|e| e.location.to_string())
        .collect();
    assert!(duplicates.is_empty(), "{duplicates:?}");
    // The same message converts to the same ids (the second visit's id is its position's).
    let again = convert_with(raw.as_bytes(), Profile::generic(), BundleKind::Transaction).unwrap();
    let ids = |c: &Conversion| -> Vec<Option<String>> {
        all::<Encounter>(&c.bundle)
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(ids(&c), ids(&again));
}

/// One NPI is one practitioner, however each field spells the name: the attending (PV1-7)
/// and the admitting doctor (PV1-17) give one Practitioner, written once and created only if
/// absent. Two entries with one NPI would leave a server with two resources for one doctor.
#[test]
fn one_npi_written_two_ways_is_one_practitioner_and_the_difference_is_reported() {
    let npi = "NPI&2.16.840.1.113883.4.6&ISO";
    let raw = format!(
        "MSH|^~\\&|EPIC|GHH|HUB|EHRKIT|20260311100000-0500||ADT^A01^ADT_A01|N1|P|2.5.1\r\
         EVN|A01|20260311095900-0500\r\
         PID|1||E1^^^EPIC^MR||SAMPLE^PAT||19700412|F\r\
         PV1|1|I|4W^412^B||||1234567890^WELBY^MARCUS^^^^MD^^{npi}^L^^^NPI||||||||||\
         1234567890^WELBIE^MARCUS^J^^DR^^^{npi}^L^^^NPI\r"
    );
    let c = convert_with(raw.as_bytes(), Profile::generic(), BundleKind::Transaction).unwrap();
    check_bundle(&c.bundle);
    let practitioners: Vec<ehrkit_fhir_model::resources::Practitioner> = all(&c.bundle);
    assert_eq!(practitioners.len(), 1, "{practitioners:?}");
    // Neither description holds all of the other (WELBY / WELBIE): the first (PV1-7) is kept.
    let name = &practitioners[0].name[0];
    assert_eq!(
        name.family.as_ref().and_then(|f| f.value.as_deref()),
        Some("WELBY")
    );
    assert!(name.given.iter().all(|g| g.value.as_deref() != Some("J")));
    let encounter: Encounter = one(&c.bundle);
    let who: Vec<String> = encounter
        .participant
        .iter()
        .map(|p| reference(&p.individual))
        .collect();
    assert_eq!(who.len(), 2);
    assert_eq!(who[0], who[1]);
    assert_eq!(
        request_url(&c.bundle, practitioners[0].id.as_deref().unwrap()),
        "Practitioner"
    );
    let kinds: Vec<String> = c
        .report
        .entries()
        .iter()
        .filter(|e| matches!(e.kind, ReportKind::DataQuality(_)))
        .map(|e| format!("{:?} {}", e.kind, e.location))
        .collect();
    assert!(
        report_has(
            &c,
            ReportKind::DataQuality(DataProblem::SharedDescribedDifferently),
            "PV1[1]-17(1)"
        ),
        "{kinds:?}"
    );
    assert!(!c
        .report
        .entries()
        .iter()
        .any(|e| e.kind == ReportKind::DataQuality(DataProblem::DuplicateIdentifier)));
}

/// A bare NPI first (PV1-7 without a name) and the named doctor later (PV1-17): the one
/// Practitioner keeps the name, since the later description holds all of the earlier one.
#[test]
fn one_npi_first_bare_then_named_keeps_the_named_description() {
    let npi = "NPI&2.16.840.1.113883.4.6&ISO";
    let raw = format!(
        "MSH|^~\\&|EPIC|GHH|HUB|EHRKIT|20260311100000-0500||ADT^A01^ADT_A01|N2|P|2.5.1\r\
         EVN|A01|20260311095900-0500\r\
         PID|1||E1^^^EPIC^MR||SAMPLE^PAT||19700412|F\r\
         PV1|1|I|4W^412^B||||1234567890^^^^^^^^{npi}^^^^NPI||||||||||\
         1234567890^WELBY^MARCUS^J^^DR^^^{npi}^L^^^NPI\r"
    );
    let c = convert_with(raw.as_bytes(), Profile::generic(), BundleKind::Transaction).unwrap();
    check_bundle(&c.bundle);
    let practitioners: Vec<ehrkit_fhir_model::resources::Practitioner> = all(&c.bundle);
    assert_eq!(practitioners.len(), 1, "{practitioners:?}");
    let name = &practitioners[0].name[0];
    assert_eq!(
        name.family.as_ref().and_then(|f| f.value.as_deref()),
        Some("WELBY")
    );
    assert!(report_has(
        &c,
        ReportKind::DataQuality(DataProblem::SharedDescribedDifferently),
        "PV1[1]-17(1)"
    ));
}

#[test]
fn a17_with_one_patient_is_an_error_naming_the_second_pid() {
    let raw = String::from_utf8(data("epic_a17_swap.hl7")).unwrap();
    let one_group: String = raw.split('\r').take(4).map(|s| format!("{s}\r")).collect();
    let err = convert_with(
        one_group.as_bytes(),
        Profile::generic(),
        BundleKind::Transaction,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "PID[2]: required segment PID is absent");
}

#[test]
fn a47_keeps_the_record_and_its_prior_identifier() {
    let c = convert("epic_a47_identifier_change.hl7");
    let b = &c.bundle;
    let patient: Patient = one(b);
    let ids: Vec<(Option<&str>, Option<&str>)> = patient
        .identifier
        .iter()
        .map(|i| {
            (
                i.value.as_ref().unwrap().value.as_deref(),
                i.use_
                    .as_ref()
                    .and_then(|u| u.value.as_ref())
                    .map(|u| u.as_code()),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [(Some("E3000123"), None), (Some("E2000451"), Some("old"))]
    );
    // Keyed by the prior identifier: the same id as the A01 for E2000451 gave, and updated
    // where it is.
    let a01 = convert("epic_a01_clinical.hl7");
    assert_eq!(patient.id, one::<Patient>(&a01.bundle).id);
    assert_eq!(
        request_url(b, patient.id.as_deref().unwrap()),
        format!("Patient?identifier={EPIC_MRN}|E2000451")
    );
    // MRG-3 (prior account) has no map here: reported.
    assert!(report_has(&c, ReportKind::UnmappedField, "MRG[1]-3"));
}

#[test]
fn a47_and_a40_without_mrg_are_errors() {
    for name in ["epic_a47_identifier_change.hl7", "epic_a40_merge.hl7"] {
        let raw = String::from_utf8(data(name)).unwrap();
        let no_mrg: String = raw
            .split('\r')
            .filter(|s| !s.starts_with("MRG") && !s.is_empty())
            .map(|s| format!("{s}\r"))
            .collect();
        let err = convert_with(
            no_mrg.as_bytes(),
            Profile::generic(),
            BundleKind::Transaction,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "PID[1]: required segment MRG is absent",
            "{name}"
        );
    }
}

#[test]
fn encounter_status_per_event() {
    let base = String::from_utf8(data("epic_a11_cancel.hl7")).unwrap();
    // PV1-2 is `I` and PV1-45 is empty: the maps without an `MSH[Encounter]` row (all but
    // ADT_A11) take `in-progress` from PV1-2 (PatientClass[EncounterStatus]); the cancels follow
    // the event (tests/adt_encounter_status.rs has the PV1-2 `O`/`P` and PV1-45 cases).
    let cases = [
        ("A01", "in-progress"),
        ("A02", "in-progress"),
        ("A03", "in-progress"),
        ("A04", "in-progress"),
        ("A05", "in-progress"),
        ("A06", "in-progress"),
        ("A07", "in-progress"),
        ("A08", "in-progress"),
        ("A11", "cancelled"),
        ("A12", "in-progress"),
        ("A13", "in-progress"),
        ("A14", "in-progress"),
        ("A28", "in-progress"),
        ("A31", "in-progress"),
    ];
    for (event, expected) in cases {
        let raw = base.replace("ADT^A11^ADT_A09", &format!("ADT^{event}"));
        let c = convert_with(raw.as_bytes(), Profile::generic(), BundleKind::Transaction)
            .unwrap_or_else(|e| panic!("{event}: {e}"));
        check_bundle(&c.bundle);
        let e: Encounter = one(&c.bundle);
        assert_eq!(status(&e), expected, "{event}");
        // No event code is looked up where the map takes the status from PV1.
        assert!(
            !c.report.entries().iter().any(|r| matches!(r.kind, ReportKind::VocabularyMiss { map } if map == "Event[EncounterStatus]")),
            "{event}: {:?}",
            c.report.entries()
        );
    }
}

#[test]
fn a11_cancel_stays_cancelled_even_with_a_discharge_date() {
    let raw = String::from_utf8(data("epic_a11_cancel.hl7")).unwrap();
    let raw = raw.replace(
        "698084.8&ISO^VN\r",
        "698084.8&ISO^VN|||||||||||||||||||||||||202603020800-0500|202603020900-0500\r",
    );
    let c = convert_with(raw.as_bytes(), Profile::generic(), BundleKind::Transaction).unwrap();
    let e: Encounter = one(&c.bundle);
    assert_eq!(status(&e), "cancelled");
    assert!(e.period.as_ref().unwrap().end.is_some());
}

#[test]
fn message_bundles_carry_a_message_header_and_resolve() {
    for name in [
        "epic_a01_clinical.hl7",
        "epic_a40_merge.hl7",
        "epic_a17_swap.hl7",
        "epic_a47_identifier_change.hl7",
    ] {
        for kind in [
            BundleKind::Message,
            BundleKind::Collection,
            BundleKind::Batch,
        ] {
            let c = convert_with(&data(name), Profile::generic(), kind).unwrap();
            check_bundle(&c.bundle);
            if kind == BundleKind::Message {
                assert!(matches!(
                    c.bundle.entry[0].resource.as_deref(),
                    Some(Resource::MessageHeader(_))
                ));
            }
        }
    }
}

#[test]
fn reports_carry_no_values() {
    let c = convert("epic_a01_clinical.hl7");
    let text: String = c
        .report
        .entries()
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    for phi in ["SAMPLE", "E2000451", "LAKE", "987654321", "EPIC-ONLY-FLAG"] {
        assert!(!text.contains(phi), "{phi} in report:\n{text}");
    }
}

/// Every ADT message in the shared corpora (Microsoft FHIR-Converter inputs, the IG's test
/// message) converts without error into a Bundle that passes the checks; skipped with a notice
/// when `../shared` is absent.
#[test]
fn shared_corpus_adt_messages_convert() {
    let Some(dir) =
        ehrkit_testkit::shared::require("corpus/v2-to-fhir", "the ADT corpus conversion test")
    else {
        return;
    };
    let mut converted = 0;
    for path in ehrkit_testkit::shared::files(&dir, &["hl7"]) {
        let raw = std::fs::read(&path).unwrap();
        let Ok(msg) = Message::parse(&raw) else {
            continue;
        };
        if msg.message_type().0.as_deref() != Some("ADT") {
            continue;
        }
        for kind in [BundleKind::Transaction, BundleKind::Message] {
            let c = Converter::new(Profile::generic(), Options::default().bundle_kind(kind))
                .convert(&msg)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            check_bundle(&c.bundle);
        }
        converted += 1;
    }
    println!("ADT corpus messages converted: {converted}");
    assert!(converted >= 15, "{converted}");
}

#[test]
fn pv1_type_service_hospitalization_alternate_visit_and_other_participant() {
    let c = convert("epic_a03_discharge_hospitalization.hl7");
    let e: Encounter = one(&c.bundle);
    assert_eq!(status(&e), "finished");
    // PV1-4 admission type, with the IG's AdmissionType coding.
    assert_eq!(code(&e.type_[0])[0].1, "E");
    // PV1-10 hospital service.
    assert_eq!(code(e.service_type.as_ref().unwrap())[0].1, "CAR");
    // PV1-19 and PV1-50: two identifiers.
    let ids: Vec<Option<&str>> = e
        .identifier
        .iter()
        .map(|i| i.value.as_ref().unwrap().value.as_deref())
        .collect();
    assert_eq!(ids, [Some("V100451"), Some("ALT-77")]);
    let h = e.hospitalization.as_ref().expect("hospitalization");
    assert_eq!(
        h.pre_admission_identifier
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some("PRE-5521")
    );
    assert_eq!(code(h.re_admission.as_ref().unwrap())[0].1, "R");
    assert_eq!(code(h.admit_source.as_ref().unwrap())[0].1, "7");
    assert_eq!(code(&h.special_arrangement[0])[0].1, "A0");
    assert_eq!(code(&h.special_courtesy[0])[0].1, "VIP");
    assert_eq!(code(h.discharge_disposition.as_ref().unwrap())[0].1, "01");
    assert_eq!(code(&h.diet_preference[0])[0].1, "D");
    // PV1-37 (DLD): the discharge destination, a Location typed by DLD.1.
    let destination = reference(&h.destination);
    let locations: Vec<ehrkit_fhir_model::resources::Location> = all(&c.bundle);
    let place = locations
        .iter()
        .find(|l| reference_of(*l) == destination)
        .expect("destination in the Bundle");
    assert_eq!(code(&place.type_[0])[0].1, "SNF");
    // PV1-52: a fifth kind of participant, `PART`.
    let part = e
        .participant
        .iter()
        .find(|p| code(&p.type_[0])[0].1 == "PART")
        .expect("PV1-52 participant");
    assert!(part.individual.is_some());
    for f in [4, 5, 10, 13, 14, 15, 16, 36, 37, 38, 50, 52] {
        assert!(
            !report_has(&c, ReportKind::UnmappedField, &format!("PV1[1]-{f}")),
            "PV1-{f} reported as unmapped"
        );
    }
}

#[test]
fn dg1_due_to_and_pr1_part_of_resolve_in_the_message_or_to_a_create_only_stub() {
    let raw = String::from_utf8(data("epic_a01_clinical.hl7")).unwrap();
    // DG1-2's parent (DG1-22) is DG1-1 (its DG1-20); PR1-1's parent (PR1-25) is a procedure
    // this message does not carry.
    let raw = raw
        .replace("|W|||||||||2\r", "|W|||||||||2|||||||DX-80001-1^EPIC\r")
        .replace(
            "PROC-80001-1^EPIC\r",
            "PROC-80001-1^EPIC||||||PROC-PARENT-9^EPIC\r",
        );
    assert!(raw.contains("2|||||||DX-80001-1^EPIC\r") && raw.contains("||PROC-PARENT-9^EPIC\r"));
    let c = convert_with(raw.as_bytes(), Profile::generic(), BundleKind::Transaction).unwrap();
    check_bundle(&c.bundle);
    let conditions: Vec<Condition> = all(&c.bundle);
    assert_eq!(
        conditions.len(),
        2,
        "the parent is the message's own DG1, not a new one"
    );
    let due_to = conditions[1]
        .extension
        .iter()
        .find(|e| {
            e.url.as_deref() == Some("http://hl7.org/fhir/StructureDefinition/condition-dueTo")
        })
        .expect("dueTo");
    let Some(ehrkit_fhir_model::ExtensionValue::Reference(r)) = &due_to.value else {
        panic!("{due_to:?}");
    };
    assert_eq!(
        r.reference.as_ref().unwrap().value.as_deref(),
        Some(reference_of(&conditions[0]).as_str())
    );
    let procedures: Vec<Procedure> = all(&c.bundle);
    assert_eq!(procedures.len(), 2);
    let (child, parent) = (&procedures[0], &procedures[1]);
    assert_eq!(
        reference(&Some(Box::new(child.part_of[0].clone()))),
        reference_of(parent)
    );
    assert_eq!(
        parent.identifier[0]
            .value
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some("PROC-PARENT-9")
    );
    // The stub is created only when the server lacks it, never overwriting the real one.
    let (request, method) = common::request_of(&c.bundle, parent.id.as_deref());
    assert_eq!(method, "POST");
    assert!(request
        .if_none_exist
        .as_ref()
        .and_then(|q| q.value.as_deref())
        .is_some_and(|q| q.ends_with("|PROC-PARENT-9")));
}

#[test]
fn a_parent_without_a_system_gets_no_invented_system() {
    // PR1-25 without an authority: the parent Procedure holds the value alone (keyed by the
    // sender and the value, tests/adt_parent_procedure.rs), never a guessed system.
    let raw = String::from_utf8(data("epic_a01_clinical.hl7")).unwrap();
    let raw = raw.replace(
        "PROC-80001-1^EPIC\r",
        "PROC-80001-1^EPIC||||||PARENT-NO-SYSTEM\r",
    );
    let c = convert_with(raw.as_bytes(), Profile::generic(), BundleKind::Transaction).unwrap();
    check_bundle(&c.bundle);
    let procedures = all::<Procedure>(&c.bundle);
    assert_eq!(procedures.len(), 2);
    assert_eq!(
        reference(&Some(Box::new(procedures[0].part_of[0].clone()))),
        reference_of(&procedures[1])
    );
    assert!(procedures[1].identifier[0].system.is_none());
    assert!(!report_has(&c, ReportKind::UnmappedField, "PR1[1]-25"));
}

/// Every prefix of every ADT test message (cut at every other byte) either converts into a Bundle that
/// passes the checks or is refused with a typed error: the ADT maps never panic on a message
/// cut short (a lost MRG, a PV1 without its PV2, half a field).
#[test]
fn every_prefix_of_the_adt_messages_converts_or_is_refused() {
    let dir = format!("{}/tests/data/adt", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let (mut converted, mut refused) = (0usize, 0usize);
    for name in names {
        let raw = data(&name);
        // Every other byte (and the whole message): cuts inside every field of every segment.
        for cut in (8..raw.len()).step_by(2).chain([raw.len()]) {
            let Ok(msg) = Message::parse(&raw[..cut]) else {
                continue;
            };
            match Converter::new(Profile::generic(), Options::default()).convert(&msg) {
                Ok(c) => {
                    common::check_bundle(&c.bundle);
                    converted += 1;
                }
                Err(_) => refused += 1,
            }
        }
    }
    assert!(converted > 500, "{converted} converted, {refused} refused");
}

#[test]
fn a02_transfer_writes_current_prior_temporary_and_pending_locations() {
    let c = convert("epic_a02_transfer_locations.hl7");
    let b = &c.bundle;
    let e: Encounter = one(b);
    let locations: Vec<ehrkit_fhir_model::resources::Location> = all(b);
    let finest = |r: &Option<Box<ehrkit_fhir_model::Reference>>| {
        let target = reference(r);
        locations
            .iter()
            .find(|l| reference_of(*l) == target)
            .expect("location in the Bundle")
            .clone()
    };
    let summary: Vec<(String, Option<String>, usize)> = e
        .location
        .iter()
        .map(|l| {
            (
                finest(&l.location).identifier[0]
                    .value
                    .as_ref()
                    .unwrap()
                    .value
                    .clone()
                    .unwrap(),
                l.status
                    .as_ref()
                    .and_then(|s| s.value.as_ref())
                    .map(|s| s.as_code().to_owned()),
                l.extension.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("1".to_owned(), Some("active".to_owned()), 0),
            ("B".to_owned(), Some("completed".to_owned()), 0),
            ("XR2".to_owned(), Some("active".to_owned()), 1),
            ("A".to_owned(), Some("reserved".to_owned()), 0),
        ]
    );
    // PV1-40 (bed status) is the current bed's operational status.
    let bed = finest(&e.location[0].location);
    assert_eq!(
        bed.operational_status
            .as_ref()
            .unwrap()
            .code
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some("O")
    );
    for f in [6, 11, 40, 42] {
        assert!(
            !report_has(&c, ReportKind::UnmappedField, &format!("PV1[1]-{f}")),
            "PV1-{f}"
        );
    }
}
