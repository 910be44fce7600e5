//! Issue 12 items 2, 6, 10: the converter on messages written for these tests
//! (`tests/data/`), the IG's ADT test message (`../shared`, skipped with a notice when absent),
//! determinism, Bundle types, references and the FHIR model's own round trip and validation.

mod common;
use common::{check_bundle, report_has};

use ehrkit_fhir_model::{Bundle, Resource};
use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{BundleKind, Conversion, ConvertError, Converter, Options};
use ehrkit_mapping::{DataProblem, Profile, ReportKind};

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn profile() -> Profile {
    Profile::generic().identifier_system("GHH", "https://fhir.ghh.test/sid/local")
}

fn convert_with(raw: &[u8], kind: BundleKind) -> Result<Conversion, ConvertError> {
    let msg = Message::parse(raw).expect("test message parses");
    Converter::new(profile(), Options::default().bundle_kind(kind)).convert(&msg)
}

fn convert(raw: &[u8]) -> Conversion {
    convert_with(raw, BundleKind::Transaction).expect("converts")
}

fn types(b: &Bundle) -> Vec<String> {
    b.entry
        .iter()
        .map(|e| e.resource.as_ref().unwrap().resource_type().to_owned())
        .collect()
}

fn json(b: &Bundle) -> String {
    ehrkit_fhir_model::to_string(b)
}

/// The Bundle's (first) Encounter.
fn encounter_of(b: &Bundle) -> Option<&Resource> {
    b.entry.iter().find_map(|e| {
        e.resource
            .as_deref()
            .filter(|r| r.resource_type() == "Encounter")
    })
}

#[test]
fn adt_a01_gives_patient_related_persons_encounter_and_practitioner() {
    let c = convert(&data("adt_a01_visit.hl7"));
    check_bundle(&c.bundle);
    assert_eq!(
        types(&c.bundle),
        [
            "Patient",
            "RelatedPerson",
            "RelatedPerson",
            "Practitioner",
            "Location",
            "Location",
            "Location",
            "Encounter",
            // OBX under PID (ADT_A01 OBS group), the EVN Provenance and its sending facility.
            "Observation",
            "Observation",
            "Organization",
            "Provenance"
        ]
    );
    let Some(Resource::Encounter(e)) = c.bundle.entry[7].resource.as_deref() else {
        panic!("Encounter after the Locations");
    };
    let class = e.class.as_ref().unwrap();
    assert_eq!(class.code.as_ref().unwrap().value.as_deref(), Some("IMP"));
    assert_eq!(
        e.status.as_ref().unwrap().value.as_ref().unwrap().as_code(),
        "in-progress"
    );
    // PV1-7 and PV1-17 name the same doctor, written the same: one Practitioner, two roles.
    assert_eq!(e.participant.len(), 2);
    assert_eq!(e.participant[0].individual, e.participant[1].individual);
    assert_eq!(
        e.identifier[0].value.as_ref().unwrap().value.as_deref(),
        Some("V1001")
    );
    assert_eq!(
        e.period
            .as_ref()
            .unwrap()
            .start
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .as_str(),
        "2026-03-01T12:00:00-05:00"
    );
    // Bundle-level MSH[Bundle] rows.
    assert_eq!(
        c.bundle
            .timestamp
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .as_str(),
        "2026-03-01T12:30:00-05:00"
    );
    // What is not converted is reported, by location: the Z-segment and the insurance-company
    // NK1 (NK1[Patient], not written). EVN (Provenance) and the OBXs (Observations) are mapped.
    assert!(report_has(&c, ReportKind::UnmappedSegment, "NK1[3]"));
    for at in ["EVN[1]", "OBX[1]", "OBX[2]"] {
        assert!(!report_has(&c, ReportKind::UnmappedSegment, at), "{at}");
    }
    assert!(report_has(&c, ReportKind::ZSegment, "ZPI[1]"));
    assert!(!report_has(&c, ReportKind::UnmappedField, "PV1[1]-3"));
    // PV1-3 `2000^2012^01`: bed 01, part of room 2012, part of point of care 2000.
    let location = |full_url: &str| {
        c.bundle
            .entry
            .iter()
            .find(|e| e.full_url.as_ref().unwrap().value.as_deref() == Some(full_url))
            .and_then(|e| match e.resource.as_deref() {
                Some(Resource::Location(l)) => Some(l.clone()),
                _ => None,
            })
            .expect("a Location entry")
    };
    let reference = |r: &ehrkit_fhir_model::Reference| r.reference.clone().unwrap().value.unwrap();
    let bed = location(&reference(e.location[0].location.as_ref().unwrap()));
    let room = location(&reference(bed.part_of.as_ref().unwrap()));
    let ward = location(&reference(room.part_of.as_ref().unwrap()));
    let value =
        |l: &ehrkit_fhir_model::Location| l.identifier[0].value.clone().unwrap().value.unwrap();
    assert_eq!(
        [value(&bed), value(&room), value(&ward)],
        ["01", "2012", "2000"]
    );
    assert!(ward.part_of.is_none());
    // PV1-10 (hospital service) is the Encounter's serviceType.
    assert!(!report_has(&c, ReportKind::UnmappedField, "PV1[1]-10"));
    assert!(e.service_type.is_some());
    // Set ids (PID-1, NK1-1, PV1-1) number segments; they carry no data to lose.
    for at in ["PID[1]-1", "NK1[1]-1", "PV1[1]-1"] {
        assert!(!report_has(&c, ReportKind::UnmappedField, at), "{at}");
    }
    // The report carries locations only.
    let oo = ehrkit_fhir_model::to_string(&c.report.to_operation_outcome());
    for phi in ["EVERYWOMAN", "NUCLEAR", "Chest pain", "555-44-4444"] {
        assert!(!oo.contains(phi), "{phi} leaked into the report");
    }
}

#[test]
fn transaction_entries_are_idempotent_requests() {
    let c = convert(&data("adt_a01_visit.hl7"));
    let req = |i: usize| {
        let r = c.bundle.entry[i]
            .request
            .as_ref()
            .expect("transaction entries have requests");
        (
            r.method
                .as_ref()
                .unwrap()
                .value
                .as_ref()
                .unwrap()
                .as_code()
                .to_owned(),
            r.url.as_ref().unwrap().value.clone().unwrap(),
            r.if_none_exist.as_ref().and_then(|v| v.value.clone()),
        )
    };
    // Patient: conditional update on its first identifier with a system.
    assert_eq!(
        req(0),
        (
            "PUT".to_owned(),
            "Patient?identifier=https://fhir.ghh.test/sid/local|555-44-4444".to_owned(),
            None
        )
    );
    // RelatedPerson without identifiers: update by its deterministic id.
    let rp_id = c.bundle.entry[1]
        .resource
        .as_ref()
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    assert_eq!(req(1).1, format!("RelatedPerson/{rp_id}"));
    // Practitioner (shared reference data): created only if absent.
    assert_eq!(req(3).0, "POST");
    assert_eq!(
        req(3).2.as_deref(),
        Some("identifier=http://hl7.org/fhir/sid/us-npi|004777")
    );
    // Location (identified by its path, not by a searchable identifier): update by id.
    assert!(req(4).1.starts_with("Location/"));
    assert_eq!(
        req(7).1,
        "Encounter?identifier=https://fhir.ghh.test/sid/local|V1001"
    );
}

#[test]
fn conversion_is_deterministic() {
    let raw = data("adt_a01_visit.hl7");
    for kind in [
        BundleKind::Transaction,
        BundleKind::Batch,
        BundleKind::Collection,
        BundleKind::Message,
    ] {
        let a = json(&convert_with(&raw, kind).unwrap().bundle);
        let b = json(&convert_with(&raw, kind).unwrap().bundle);
        assert_eq!(a, b, "{kind:?}");
    }
}

#[test]
fn the_same_patient_and_visit_keep_their_ids_across_messages() {
    let admit = convert(&data("adt_a01_visit.hl7")).bundle;
    let discharge = convert(&data("adt_a03_discharge.hl7")).bundle;
    check_bundle(&discharge);
    let id = |b: &Bundle, ty: &str| {
        b.entry
            .iter()
            .map(|e| e.resource.as_ref().unwrap())
            .find(|r| r.resource_type() == ty)
            .and_then(|r| r.id().map(str::to_owned))
            .unwrap()
    };
    assert_eq!(id(&admit, "Patient"), id(&discharge, "Patient"));
    assert_eq!(id(&admit, "Encounter"), id(&discharge, "Encounter"));
    let Some(Resource::Encounter(e)) = encounter_of(&discharge) else {
        panic!("an Encounter");
    };
    assert_eq!(
        e.status.as_ref().unwrap().value.as_ref().unwrap().as_code(),
        "finished"
    );
}

#[test]
fn encounter_status_follows_pv1_not_the_event() {
    // IG: ADT_A01/A02 have no MSH[Encounter] row; PV1[Encounter] row PV1-2 (`I`) through
    // PatientClass[EncounterStatus] gives `in-progress` whatever the event. Only ADT_A11's
    // MSH[Encounter] row uses the event (A11 `cancelled`).
    let raw = String::from_utf8(data("adt_a01_visit.hl7")).unwrap();
    for (event, status) in [
        ("A01", "in-progress"),
        ("A02", "in-progress"),
        ("A04", "in-progress"),
        ("A08", "in-progress"),
        ("A11", "cancelled"),
    ] {
        let msg = raw.replace("ADT^A01^ADT_A01", &format!("ADT^{event}^ADT_A01"));
        let c = convert(msg.as_bytes());
        check_bundle(&c.bundle);
        let e = c
            .bundle
            .entry
            .iter()
            .find_map(|e| match e.resource.as_deref() {
                Some(Resource::Encounter(e)) => Some(e),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            e.status.as_ref().unwrap().value.as_ref().unwrap().as_code(),
            status,
            "{event}"
        );
    }
}

#[test]
fn two_objects_with_one_identifier_are_never_merged() {
    let c = convert(&data("adt_a01_duplicate_nk1_ids.hl7"));
    check_bundle(&c.bundle);
    let related: Vec<&Resource> = c
        .bundle
        .entry
        .iter()
        .map(|e| e.resource.as_deref().unwrap())
        .filter(|r| r.resource_type() == "RelatedPerson")
        .collect();
    assert_eq!(related.len(), 2);
    assert_ne!(related[0].id(), related[1].id());
    assert!(report_has(
        &c,
        ReportKind::DataQuality(DataProblem::DuplicateIdentifier),
        "NK1[2]"
    ));
    // The second one is not sent as a conditional update on the shared identifier (that would
    // overwrite the first on the server): it is updated by its own id.
    let second = c
        .bundle
        .entry
        .iter()
        .filter(|e| e.resource.as_deref().unwrap().resource_type() == "RelatedPerson")
        .nth(1)
        .unwrap();
    let url = second
        .request
        .as_ref()
        .unwrap()
        .url
        .as_ref()
        .unwrap()
        .value
        .clone()
        .unwrap();
    assert!(url.starts_with("RelatedPerson/"), "{url}");
}

#[test]
fn bundle_types() {
    let raw = data("adt_a01_visit.hl7");
    let collection = convert_with(&raw, BundleKind::Collection).unwrap().bundle;
    check_bundle(&collection);
    assert!(collection.entry.iter().all(|e| e.request.is_none()));
    let batch = convert_with(&raw, BundleKind::Batch).unwrap().bundle;
    check_bundle(&batch);
    assert!(batch.entry.iter().all(|e| e.request.is_some()));
    let message = convert_with(&raw, BundleKind::Message).unwrap().bundle;
    check_bundle(&message);
    assert_eq!(types(&message)[0], "MessageHeader");
    let Some(Resource::MessageHeader(h)) = message.entry[0].resource.as_deref() else {
        panic!("MessageHeader first");
    };
    assert_eq!(h.focus.len(), 2, "Patient and Encounter");
    let source = h.source.as_ref().unwrap();
    assert_eq!(source.name.as_ref().unwrap().value.as_deref(), Some("ADT1"));
    assert!(message.entry.iter().all(|e| e.request.is_none()));
    let json = json(&message);
    assert!(json.contains(r#""type":"message""#), "{json}");
}

#[test]
fn a_resource_base_gives_absolute_full_urls_and_relative_references() {
    let raw = data("adt_a01_visit.hl7");
    let msg = Message::parse(&raw).unwrap();
    let profile = profile().resource_base("https://fhir.ghh.test/r4");
    let c = Converter::new(profile, Options::default())
        .convert(&msg)
        .unwrap();
    let first = c.bundle.entry[0]
        .full_url
        .as_ref()
        .unwrap()
        .value
        .clone()
        .unwrap();
    assert!(
        first.starts_with("https://fhir.ghh.test/r4/Patient/"),
        "{first}"
    );
    let Some(Resource::Encounter(e)) = encounter_of(&c.bundle) else {
        panic!("an Encounter")
    };
    let subject = e
        .subject
        .as_ref()
        .unwrap()
        .reference
        .as_ref()
        .unwrap()
        .value
        .clone()
        .unwrap();
    assert!(
        first.ends_with(&subject),
        "{subject} is relative to {first}"
    );
}

#[test]
fn unsupported_message_types_are_named() {
    let raw = b"MSH|^~\\&|MFS|GHH|RCV|RF|202603011230-0500||MFN^M02|M1|P|2.5\rMFI|PRA\r";
    let err = convert_with(raw, BundleKind::Transaction).unwrap_err();
    assert!(matches!(err, ConvertError::UnsupportedMessageType { .. }));
    let text = err.to_string();
    assert!(
        text.contains("ORU^R01") && text.contains("MSH[1]-9"),
        "{text}"
    );

    let raw = b"MSH|^~\\&|LAB|GHH|RCV|RF|202603011230-0500||ADT^A01|M1|P|2.5\rPV1|1|I\r";
    let err = convert_with(raw, BundleKind::Transaction).unwrap_err();
    assert_eq!(err.to_string(), "PID[1]: required segment PID is absent");
}

#[test]
fn ig_adt_and_oru_test_messages_convert() {
    let Some(dir) = ehrkit_testkit::shared::require(
        "corpus/v2-to-fhir/hl7-v2-to-fhir-ig/input",
        "the IG's ADT and ORU test messages",
    ) else {
        return;
    };
    let mut n = 0;
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.contains("ADT") || name.contains("ORU")
        })
        .collect();
    names.sort();
    for path in names {
        let raw = std::fs::read(&path).unwrap();
        for msg in Message::parse_all(&raw) {
            let msg = msg.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for kind in [BundleKind::Transaction, BundleKind::Message] {
                let c = Converter::new(Profile::generic(), Options::default().bundle_kind(kind))
                    .convert(&msg)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                check_bundle(&c.bundle);
                assert!(c.bundle.entry.iter().any(|e| e
                    .resource
                    .as_deref()
                    .unwrap()
                    .resource_type()
                    == "Patient"));
            }
            n += 1;
        }
    }
    assert!(
        n >= 2,
        "expected the ADT and ORU messages in {}",
        dir.display()
    );
}

fn resources<'b>(b: &'b Bundle, ty: &str) -> Vec<&'b Resource> {
    b.entry
        .iter()
        .map(|e| e.resource.as_deref().unwrap())
        .filter(|r| r.resource_type() == ty)
        .collect()
}

#[test]
fn oru_r01_reports_observations_values_and_notes() {
    let c = convert(&data("oru_r01_two_obr_same_placer.hl7"));
    check_bundle(&c.bundle);
    let reports = resources(&c.bundle, "DiagnosticReport");
    let observations = resources(&c.bundle, "Observation");
    assert_eq!((reports.len(), observations.len()), (2, 7));
    let Resource::DiagnosticReport(first) = reports[0] else {
        panic!()
    };
    assert_eq!(first.result.len(), 6);
    assert_eq!(
        first
            .status
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .as_code(),
        "final"
    );
    assert_eq!(
        first
            .issued
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .as_str(),
        "2026-03-03T10:00:00-05:00"
    );
    let obs = |i: usize| match observations[i] {
        Resource::Observation(o) => o.as_ref().clone(),
        _ => panic!(),
    };
    let json = |i: usize| ehrkit_fhir_model::to_string(&obs(i));
    // NM with UCUM units, reference range, interpretation, note from the two NTE-3 repetitions.
    let cholesterol = json(0);
    for part in [
        r#""valueQuantity":{"value":196,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}"#,
        r#""referenceRange":[{"text":"<200"}]"#,
        r#""note":[{"text":"Reference range per NCEP\nSecond line"}]"#,
        r#""status":"final""#,
    ] {
        assert!(cholesterol.contains(part), "{part} not in {cholesterol}");
    }
    assert!(
        json(1).contains(r#""valueQuantity":{"value":150,"comparator":">""#),
        "{}",
        json(1)
    );
    assert!(json(2).contains(r#""valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"112144000""#), "{}", json(2));
    assert!(
        json(3).contains(r#""valueString":"See note""#)
            && json(3).contains(r#""status":"preliminary""#)
    );
    assert!(
        json(4).contains(r#""valueDateTime":"2026-03-02T12:00:00-05:00""#),
        "{}",
        json(4)
    );
    assert!(json(5).contains(r#""valueRatio""#), "{}", json(5));
    assert!(
        json(6).contains(r#""valueString":"Normal & unremarkable""#),
        "{}",
        json(6)
    );
    // The NTE after the OBR (no target in the IG's ORU_R01 map) is reported, not dropped; the
    // SPM is a Specimen (`SPM[Specimen]`, see tests/orders.rs), and so is the OBR's own
    // collection time (`OBR[Specimen]`, ORU_R01 row 4.2.2).
    assert!(report_has(&c, ReportKind::UnmappedSegment, "NTE[1]"));
    assert_eq!(resources(&c.bundle, "Specimen").len(), 2);
    // Every Observation is about the Patient, in the Encounter.
    for o in &observations {
        let Resource::Observation(o) = o else {
            panic!()
        };
        assert!(o.subject.is_some() && o.encounter.is_some());
    }
}

#[test]
fn two_obrs_with_the_same_placer_number_stay_two_reports() {
    let c = convert(&data("oru_r01_two_obr_same_placer.hl7"));
    let reports = resources(&c.bundle, "DiagnosticReport");
    assert_eq!(reports.len(), 2);
    assert_ne!(reports[0].id(), reports[1].id());
    assert!(report_has(
        &c,
        ReportKind::DataQuality(DataProblem::DuplicateIdentifier),
        "OBR[2]"
    ));
    let Resource::DiagnosticReport(second) = reports[1] else {
        panic!()
    };
    assert_eq!(second.result.len(), 1, "the second OBR keeps its own OBX");
}
