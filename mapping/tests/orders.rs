//! Issue 12 items 2 and 3 for orders and results: ORU_R01 (several order groups, ORC, TQ1, many
//! OBX value types, NTE, SPM), ORM_O01, OML_O21 and RDE_O11, on messages written for these tests
//! (`tests/data/orders/`): a Cerner-like ORU, an Epic-like ORM, an OML with SPM and TQ1, an RDE.

mod common;
use common::{check_bundle, report_has};

use std::collections::BTreeSet;

use ehrkit_fhir_model::resources::{
    AllergyIntolerance, Condition, DiagnosticReport, Encounter, Medication, MedicationRequest,
    Observation, Patient, Practitioner, ServiceRequest, Specimen,
};
use ehrkit_fhir_model::{Bundle, Resource};
use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{BundleKind, Conversion, Converter, Options};
use ehrkit_mapping::{DataProblem, Profile, ReportKind};

const FILES: &[&str] = &[
    "oru_r01_cerner.hl7",
    "oru_r01_shared_placer.hl7",
    "orm_o01_epic.hl7",
    "oml_o21_lab.hl7",
    "rde_o11_pharmacy.hl7",
    "oru_r01_order_document.hl7",
];

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/orders/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn profile() -> Profile {
    Profile::generic()
        .identifier_system("EPIC", "https://fhir.epic.test/sid/order")
        .identifier_system("CERNER", "https://fhir.cerner.test/sid/accession")
}

fn convert_kind(raw: &[u8], kind: BundleKind) -> Conversion {
    let msg = Message::parse(raw).expect("test message parses");
    Converter::new(profile(), Options::default().bundle_kind(kind))
        .convert(&msg)
        .expect("converts")
}

fn convert(name: &str) -> Conversion {
    convert_kind(&data(name), BundleKind::Transaction)
}

fn json<T: ehrkit_fhir_model::ToJson + ?Sized>(v: &T) -> String {
    ehrkit_fhir_model::to_string(v)
}

fn full_url_of(b: &Bundle, id: &str) -> String {
    b.entry
        .iter()
        .find(|e| e.resource.as_ref().unwrap().id() == Some(id))
        .and_then(|e| e.full_url.as_ref()?.value.clone())
        .unwrap()
}

fn reference(r: &Option<Box<ehrkit_fhir_model::Reference>>) -> String {
    r.as_ref()
        .unwrap()
        .reference
        .as_ref()
        .unwrap()
        .value
        .clone()
        .unwrap()
}

macro_rules! all_of {
    ($b:expr, $variant:ident) => {
        $b.entry
            .iter()
            .filter_map(|e| match e.resource.as_deref() {
                Some(Resource::$variant(r)) => Some(r.as_ref()),
                _ => None,
            })
            .collect::<Vec<&$variant>>()
    };
}

/// The Observation whose first coding has LOINC code `code`.
fn obs<'b>(b: &'b Bundle, code: &str) -> &'b Observation {
    all_of!(b, Observation)
        .into_iter()
        .find(|o| {
            o.code.as_ref().unwrap().coding[0]
                .code
                .as_ref()
                .unwrap()
                .value
                .as_deref()
                == Some(code)
        })
        .unwrap_or_else(|| panic!("no Observation {code}"))
}

fn has(o: &Observation, part: &str) -> bool {
    json(o).contains(part)
}

#[test]
fn every_order_bundle_round_trips_validates_and_resolves_in_every_bundle_kind() {
    for f in FILES {
        for kind in [
            BundleKind::Transaction,
            BundleKind::Batch,
            BundleKind::Collection,
            BundleKind::Message,
        ] {
            let c = convert_kind(&data(f), kind);
            check_bundle(&c.bundle);
            // The report names locations only, and becomes an OperationOutcome.
            let _ = c.report.to_operation_outcome();
        }
    }
}

#[test]
fn conversion_is_deterministic() {
    for f in FILES {
        let a = json(&convert(f).bundle);
        let b = json(&convert(f).bundle);
        assert_eq!(a, b, "{f}");
    }
}

#[test]
fn cerner_oru_has_two_order_groups_with_requests_specimen_and_results() {
    let c = convert("oru_r01_cerner.hl7");
    let b = &c.bundle;
    let reports = all_of!(b, DiagnosticReport);
    let requests = all_of!(b, ServiceRequest);
    let specimens = all_of!(b, Specimen);
    assert_eq!(
        (
            reports.len(),
            requests.len(),
            specimens.len(),
            all_of!(b, Observation).len()
        ),
        (2, 2, 3, 23)
    );
    assert_eq!((reports[0].result.len(), reports[1].result.len()), (21, 2));

    // ORC + OBR → ServiceRequest: placer and filler identifiers with the profile's systems.
    let sr = requests[0];
    let ids: Vec<(String, String, String)> = sr
        .identifier
        .iter()
        .map(|i| {
            (
                i.type_.as_ref().unwrap().coding[0]
                    .code
                    .as_ref()
                    .unwrap()
                    .value
                    .clone()
                    .unwrap(),
                i.system.as_ref().unwrap().value.clone().unwrap(),
                i.value.as_ref().unwrap().value.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            (
                "PLAC".into(),
                "https://fhir.epic.test/sid/order".into(),
                "ORD1001".into()
            ),
            (
                "FILL".into(),
                "https://fhir.cerner.test/sid/accession".into(),
                "LAB5001".into()
            ),
        ]
    );
    let srj = json(sr);
    for part in [
        r#""status":"completed""#,
        r#""intent":"order""#,
        r#""priority":"stat""#,
        r#""occurrenceTiming":{"repeat":{"boundsPeriod":{"start":"2026-03-05T09:00:00-06:00"}}}"#,
    ] {
        assert!(srj.contains(part), "{part} not in {srj}");
    }
    // The requester is the NPI Practitioner of ORC-12.
    let requester = reference(&sr.requester);
    let practitioner = all_of!(b, Practitioner)
        .into_iter()
        .find(|p| full_url_of(b, p.id.as_deref().unwrap()) == requester)
        .expect("requester resolves");
    assert!(json(practitioner)
        .contains(r#""system":"http://hl7.org/fhir/sid/us-npi","value":"1234567890""#));

    // The report is based on the request, names the specimens (the OBR's own, OBR[Specimen],
    // then the SPM's); results reference the request and the SPM's.
    let dr = reports[0];
    let sr_url = full_url_of(b, sr.id.as_deref().unwrap());
    let sp_url = full_url_of(b, specimens[0].id.as_deref().unwrap());
    assert_eq!(
        dr.based_on[0].reference.as_ref().unwrap().value.as_deref(),
        Some(&*sr_url)
    );
    assert_eq!(dr.specimen.len(), 2);
    assert_eq!(
        dr.specimen[1].reference.as_ref().unwrap().value.as_deref(),
        Some(&*sp_url)
    );
    let glucose = obs(b, "2345-7");
    assert_eq!(reference(&glucose.specimen), sp_url);
    assert_eq!(
        glucose.based_on[0]
            .reference
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some(&*sr_url)
    );
    // The second group has its own request and no SPM: only its OBR's specimen (OBR-7).
    assert_eq!(
        reports[1].based_on[0]
            .reference
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some(&*full_url_of(b, requests[1].id.as_deref().unwrap()))
    );
    assert_eq!(reports[1].specimen.len(), 1);
    assert!(obs(b, "718-7").specimen.is_none());

    // SPM → Specimen.
    let spj = json(specimens[0]);
    for part in [
        r#""system":"http://terminology.hl7.org/CodeSystem/v2-0487","code":"SER""#,
        r#""code":"PGN"}]},"system":"https://fhir.cerner.test/sid/accession","value":"SPC123""#,
        r#""code":"FGN"}]}"#,
        r#""status":"available""#,
        r#""receivedTime":"2026-03-05T10:00:00-06:00""#,
        r#""collectedDateTime":"2026-03-05T09:15:00-06:00""#,
        r#""quantity":{"value":5,"unit":"milliliter","system":"http://unitsofmeasure.org","code":"mL"}"#,
        r#""method":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0488","code":"VENIP""#,
        r#""note":[{"text":"Hemolyzed slightly"}]"#,
    ] {
        assert!(spj.contains(part), "{part} not in {spj}");
    }

    // NTE after the OBR has no IG target in ORU_R01: reported; the NTE after OBX-1 is its note.
    assert!(report_has(&c, ReportKind::UnmappedSegment, "NTE[1]"));
    assert!(has(glucose, r#""note":[{"text":"Patient not fasting"}]"#));
    assert!(report_has(&c, ReportKind::ZSegment, "ZCR[1]"));
}

#[test]
fn obx_value_types_become_observation_values() {
    let c = convert("oru_r01_cerner.hl7");
    let b = &c.bundle;
    let cases: &[(&str, &str)] = &[
        // NM with UCUM units, interpretation through the IG map.
        (
            "2345-7",
            r#""valueQuantity":{"value":105,"unit":"milligrams per deciliter","system":"http://unitsofmeasure.org","code":"mg/dL"}"#,
        ),
        (
            "2345-7",
            r#""interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"H""#,
        ),
        ("2345-7", r#""status":"final""#),
        // SN: comparator with units; range with units on both ends.
        (
            "2160-0",
            r#""valueQuantity":{"value":0.5,"comparator":"<","unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}"#,
        ),
        (
            "33762-6",
            r#""high":{"value":200,"unit":"pg/mL","system":"http://unitsofmeasure.org","code":"pg/mL"}"#,
        ),
        ("33762-6", r#""low":{"value":100,"unit":"pg/mL""#),
        // CWE (local system), CE (SNOMED CT), CNE (LOINC answer); OBX-11 C → corrected.
        (
            "5778-6",
            r#""valueCodeableConcept":{"coding":[{"system":"urn:ehrkit:unknown-system:codesystem:L","code":"YELLOW","display":"Yellow"}]}"#,
        ),
        ("5778-6", r#""status":"corrected""#),
        (
            "882-1",
            r#""valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"278149003""#,
        ),
        (
            "30525-0",
            r#""valueCodeableConcept":{"coding":[{"system":"http://loinc.org","code":"LA11832-1""#,
        ),
        // ST, TX (escapes decoded), FT (formatting laid out as a real line break).
        ("8251-1", r#""valueString":"Repeat in 3 months""#),
        ("11546-9", r#""valueString":"Mild & stable""#),
        ("11546-9", r#""status":"preliminary""#),
        ("59776-5", r#""valueString":"Line one\nLine two""#),
        // DT, TS (date precision kept), DTM, TM.
        ("11778-8", r#""valueDateTime":"2026-09-01""#),
        ("8665-2", r#""valueDateTime":"2026-03-01""#),
        ("82810-3", r#""valueDateTime":"2026-03-05T08:30:00-06:00""#),
        ("8302-2", r#""valueTime":"08:30:00""#),
        // CQ with its own UCUM units; NR with OBX-6 units.
        (
            "29463-7",
            r#""valueQuantity":{"value":70,"unit":"kilogram","system":"http://unitsofmeasure.org","code":"kg"}"#,
        ),
        (
            "2857-1",
            r#""valueRange":{"low":{"value":1.5,"unit":"ng/mL","system":"http://unitsofmeasure.org","code":"ng/mL"},"high":{"value":4.0,"#,
        ),
        // ED → the IG's valueAttachment extension.
        (
            "11502-2",
            r#""extension":[{"url":"https://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.valueAttachment","valueAttachment":{"contentType":"application/pdf","data":"JVBERi0xLjQK"}}]"#,
        ),
        // NA: no SampledData without a period; dataAbsentReason, the value reported.
        (
            "8867-4",
            r#""dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"unsupported"}]}"#,
        ),
        // An unknown value type: reported, never a panic.
        ("99999-9", r#""code":"unsupported""#),
        // OBX-11 X → cancelled, the v2 code kept, data absent; N → not-asked.
        (
            "2823-3",
            r#""status":"cancelled","_status":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/alternate-codes","valueCodeableConcept":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0085","code":"X"}]}}]}"#,
        ),
        ("2823-3", r#""code":"cannot-be-obtained""#),
        ("1751-7", r#""code":"not-asked""#),
    ];
    for (code, part) in cases {
        let o = obs(b, code);
        assert!(has(o, part), "{code}: {part} not in {}", json(o));
    }
    // Every value type gave a value, an attachment or a reason, never nothing.
    for o in all_of!(b, Observation) {
        assert!(
            o.value.is_some() || !o.extension.is_empty() || o.data_absent_reason.is_some(),
            "{}",
            json(o)
        );
    }
    assert!(report_has(&c, ReportKind::UnmappedField, "OBX[15]-5(1)"));
    assert!(report_has(&c, ReportKind::UnmappedField, "OBX[19]-5(1)"));
    assert!(report_has(
        &c,
        ReportKind::DataQuality(DataProblem::InvalidValue),
        "OBX[19]-2"
    ));
    assert!(report_has(
        &c,
        ReportKind::VocabularyMiss {
            map: "ObservationResultStatusCodesInterpretation"
        },
        "OBX[21]-11"
    ));
}

#[test]
fn bad_values_are_reported_with_their_location_and_never_panic() {
    let c = convert("oru_r01_bad_values.hl7");
    check_bundle(&c.bundle);
    let b = &c.bundle;
    // A scalar its type cannot read is kept as text, beside the report of the problem.
    for (n, code, text) in [
        (1, "2345-7", "abc"),
        (2, "8302-2", "99"),
        (3, "11778-8", "2026-13-45"),
        (5, "1234-5", "text"),
    ] {
        let o = obs(b, code);
        let part = format!(r#""valueString":"{text}""#);
        assert!(
            has(o, &part) && o.data_absent_reason.is_none(),
            "{code}: {}",
            json(o)
        );
        let at = format!("OBX[{n}]-5(1)");
        assert!(
            report_has(&c, ReportKind::DataQuality(DataProblem::KeptAsString), &at),
            "{at}: {:?}",
            c.report
        );
    }
    // Base64 that does not decode is not a scalar to keep: data absent.
    let o = obs(b, "11502-2");
    assert!(
        o.value.is_none() && o.data_absent_reason.is_some(),
        "{}",
        json(o)
    );
    for (kind, at) in [
        (
            ReportKind::DataQuality(DataProblem::InvalidNumber),
            "OBX[1]-5(1)",
        ),
        (
            ReportKind::DataQuality(DataProblem::InvalidDateTime),
            "OBX[2]-5(1)",
        ),
        (
            ReportKind::DataQuality(DataProblem::InvalidDateTime),
            "OBX[3]-5(1)",
        ),
        (
            ReportKind::DataQuality(DataProblem::InvalidValue),
            "OBX[4]-5(1).5",
        ),
        (
            ReportKind::DataQuality(DataProblem::InvalidValue),
            "OBX[5]-2",
        ),
        (ReportKind::UnmappedSegment, "TQ1[1]"),
    ] {
        assert!(report_has(&c, kind, at), "{kind:?} at {at}: {:?}", c.report);
    }
    // SN with `<>` is the IG's string form.
    assert!(has(obs(b, "2160-0"), r#""valueString":"<> 5 mg/dL""#));
    // No report text carries a value.
    let oo = json(&c.report.to_operation_outcome());
    for value in ["abc", "not*base64", "2026-13-45", "notadate"] {
        assert!(!oo.contains(value), "{value} leaked into {oo}");
    }
}

/// What labs really put in OBX-5: an NM with a comparator, words in an NM, no OBX-2 at all.
/// None of it may be lost: a comparator becomes the Quantity's, any other plain text is kept as
/// `valueString`; each is reported where it was.
#[test]
fn vendor_values_a_type_cannot_hold_are_kept_not_lost() {
    let c = convert("oru_r01_vendor_values.hl7");
    check_bundle(&c.bundle);
    let b = &c.bundle;
    for (code, part) in [
        (
            "2345-7",
            r#""valueQuantity":{"value":500,"comparator":">","unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}"#,
        ),
        ("2160-0", r#""valueQuantity":{"value":0.2,"comparator":"<""#),
        (
            "2951-2",
            r#""valueQuantity":{"value":120,"comparator":"<=""#,
        ),
        ("5902-2", r#""valueString":"TNP""#),
        ("6690-2", r#""valueString":"5.0 H""#),
        ("8251-1", r#""valueString":"Specimen & label verified""#),
        ("82810-3", r#""valueString":"see note""#),
        ("2823-3", r#""valueString":"<>4""#),
        // CF is CWE's layout; VR is a string of its ends; an SN no row reads is its parts.
        (
            "5778-6",
            r#""valueCodeableConcept":{"coding":[{"system":"urn:ehrkit:unknown-system:codesystem:L","code":"YEL","display":"Yellow"}]}"#,
        ),
        ("99998-1", r#""valueString":"10 - 20""#),
        ("14682-9", r#""valueString":"abc def""#),
        // `<0.10` as an SN in one component, as the IG's own ORU test message writes it.
        (
            "6265-3",
            r#""valueQuantity":{"value":0.10,"comparator":"<","unit":"kU/L"}"#,
        ),
    ] {
        let o = obs(b, code);
        assert!(has(o, part), "{code}: {part} not in {}", json(o));
        assert!(o.data_absent_reason.is_none(), "{code}: {}", json(o));
    }
    // A value with components is not a scalar: not joined into an invented text.
    let o = obs(b, "1234-5");
    assert!(
        o.value.is_none() && o.data_absent_reason.is_some(),
        "{}",
        json(o)
    );

    let kinds = |at: &str| -> Vec<ReportKind> {
        c.report
            .entries()
            .iter()
            .filter(|e| e.location.to_string() == at)
            .map(|e| e.kind)
            .collect()
    };
    let comparator = ReportKind::DataQuality(DataProblem::NumberWithComparator);
    let kept = ReportKind::DataQuality(DataProblem::KeptAsString);
    let number = ReportKind::DataQuality(DataProblem::InvalidNumber);
    for n in 1..=3 {
        assert_eq!(kinds(&format!("OBX[{n}]-5(1)")), [comparator]);
    }
    for n in [4, 5, 9] {
        assert_eq!(kinds(&format!("OBX[{n}]-5(1)")), [number, kept]);
    }
    assert_eq!(
        kinds("OBX[7]-5(1)"),
        [ReportKind::DataQuality(DataProblem::InvalidDateTime), kept]
    );
    assert!(
        kinds("OBX[12]-5(1)").contains(&kept),
        "{:?}",
        kinds("OBX[12]-5(1)")
    );
    assert!(kinds("OBX[10]-5(1)").is_empty() && kinds("OBX[11]-5(1)").is_empty());
    assert!(kinds("OBX[13]-5(1)").contains(&comparator));
    // No OBX-2: the missing type is reported, the value kept (so not "unmapped").
    assert_eq!(kinds("OBX[6]-5(1)"), [kept]);
    assert_eq!(
        kinds("OBX[6]-2"),
        [ReportKind::DataQuality(DataProblem::InvalidValue)]
    );
    // The report still carries no value.
    let oo = json(&c.report.to_operation_outcome());
    for value in ["TNP", "5.0 H", "see note", "500", "label"] {
        assert!(!oo.contains(value), "{value} leaked into {oo}");
    }
}

/// The subject of a clinical resource, as its reference text.
fn subject_of(r: &Resource) -> String {
    let subject = match r {
        Resource::Observation(o) => &o.subject,
        Resource::DiagnosticReport(d) => &d.subject,
        Resource::ServiceRequest(s) => &s.subject,
        Resource::Specimen(s) => &s.subject,
        Resource::Encounter(e) => &e.subject,
        _ => return String::new(),
    };
    reference(subject)
}

/// ORU_R01 repeats PATIENT_RESULT: the results after the second PID are the second patient's.
/// Filing them under the first patient would put one patient's cholesterol in another's chart.
#[test]
fn each_patient_of_an_oru_gets_their_own_results_never_another_patients() {
    let c = convert("oru_r01_two_patients.hl7");
    check_bundle(&c.bundle);
    let b = &c.bundle;
    let patients: Vec<&Patient> = all_of!(b, Patient);
    assert_eq!(patients.len(), 2);
    let mrn = |p: &Patient| {
        p.identifier[0]
            .value
            .as_ref()
            .unwrap()
            .value
            .clone()
            .unwrap()
    };
    assert_eq!(mrn(patients[0]), "E1001");
    assert_eq!(mrn(patients[1]), "E2002");
    let mary = full_url_of(b, patients[0].id.as_deref().unwrap());
    let robert = full_url_of(b, patients[1].id.as_deref().unwrap());

    // Whose each clinical resource is, by its code (or its specimen's type).
    let mut owners: Vec<(String, String)> = Vec::new();
    for e in &b.entry {
        let r = e.resource.as_deref().unwrap();
        let owner = subject_of(r);
        let what = match r {
            Resource::Observation(o) => o.code.as_ref().unwrap().coding[0]
                .code
                .as_ref()
                .unwrap()
                .value
                .clone()
                .unwrap(),
            Resource::DiagnosticReport(d) => {
                format!(
                    "report {}",
                    d.code.as_ref().unwrap().coding[0]
                        .code
                        .as_ref()
                        .unwrap()
                        .value
                        .clone()
                        .unwrap()
                )
            }
            Resource::ServiceRequest(s) => format!(
                "request {}",
                s.identifier[0]
                    .value
                    .as_ref()
                    .unwrap()
                    .value
                    .clone()
                    .unwrap()
            ),
            Resource::Specimen(_) => "specimen".to_owned(),
            Resource::Encounter(e) => format!(
                "visit {}",
                e.identifier[0]
                    .value
                    .as_ref()
                    .unwrap()
                    .value
                    .clone()
                    .unwrap()
            ),
            _ => continue,
        };
        owners.push((what, owner));
    }
    let owner = |what: &str| -> Vec<&str> {
        owners
            .iter()
            .filter(|(w, _)| w == what)
            .map(|(_, o)| o.as_str())
            .collect()
    };
    assert_eq!(owner("2345-7"), [mary.as_str()]);
    assert_eq!(owner("report 2345-7"), [mary.as_str()]);
    assert_eq!(owner("request ORD1001"), [mary.as_str()]);
    assert_eq!(owner("visit V1001"), [mary.as_str()]);
    assert_eq!(owner("2093-3"), [robert.as_str()]);
    assert_eq!(owner("report 2093-3"), [robert.as_str()]);
    assert_eq!(owner("request ORD2001"), [robert.as_str()]);
    assert_eq!(owner("visit V2002"), [robert.as_str()]);
    // An OBX before the second patient's order is that patient's too.
    assert_eq!(owner("8251-1"), [robert.as_str()]);
    // Each OBR-7 is a Specimen of its patient; Robert's SPM is a second one of his.
    assert_eq!(
        owner("specimen"),
        [mary.as_str(), robert.as_str(), robert.as_str()]
    );

    // Robert's results are in Robert's visit.
    let visits: Vec<&Encounter> = all_of!(b, Encounter);
    let robert_visit = full_url_of(b, visits[1].id.as_deref().unwrap());
    let cholesterol = obs(b, "2093-3");
    assert_eq!(reference(&cholesterol.encounter), robert_visit);

    // The second patient is converted, not reported; the PV1 after Robert's results is.
    assert!(!report_has(&c, ReportKind::UnmappedSegment, "PID[2]"));
    assert!(report_has(&c, ReportKind::UnmappedSegment, "PV1[3]"));
}

/// A lab that repeats the same PID per order group sends one patient: one Patient, every
/// result its own, in the visit of the first group; no second Patient by position.
#[test]
fn an_oru_repeating_the_same_pid_per_order_is_one_patient() {
    let raw =
        "MSH|^~\\&|BEAKER|UWHC|EHR|UWHC|20240315101500-0500||ORU^R01^ORU_R01|SAME-1|P|2.5.1\r\
        PID|1||E1001^^^EPIC^MR||OBRIEN^MARY||19620314|F\r\
        PV1|1|O|LAB^^^UWHC||||||||||||||||V1001^^^EPIC^VN\r\
        OBR|1|ORD1001^EPIC|LAB1001^BEAKER|2345-7^Glucose^LN\r\
        OBX|1|NM|2345-7^Glucose^LN||105|mg/dL^^UCUM|||||F\r\
        PID|2||E1001^^^EPIC^MR||OBRIEN^MARY^ANN||19620314|F\r\
        OBR|1|ORD2001^EPIC|LAB2001^BEAKER|2093-3^Cholesterol^LN\r\
        OBX|1|NM|2093-3^Cholesterol^LN||180|mg/dL^^UCUM|||||F\r";
    let c = convert_kind(raw.as_bytes(), BundleKind::Transaction);
    check_bundle(&c.bundle);
    let b = &c.bundle;
    let patients: Vec<&Patient> = all_of!(b, Patient);
    assert_eq!(patients.len(), 1, "{:?}", c.report);
    // The second PID adds a middle name: its description holds all of the first one.
    assert!(
        json(patients[0]).contains(r#""given":["MARY","ANN"]"#),
        "{}",
        json(patients[0])
    );
    let mary = full_url_of(b, patients[0].id.as_deref().unwrap());
    let visits: Vec<&Encounter> = all_of!(b, Encounter);
    assert_eq!(visits.len(), 1);
    let visit = full_url_of(b, visits[0].id.as_deref().unwrap());
    for code in ["2345-7", "2093-3"] {
        let o = obs(b, code);
        assert_eq!(reference(&o.subject), mary, "{code}");
        assert_eq!(reference(&o.encounter), visit, "{code}");
    }
    assert!(report_has(
        &c,
        ReportKind::DataQuality(DataProblem::SharedDescribedDifferently),
        "PID[2]"
    ));
    assert!(!c
        .report
        .entries()
        .iter()
        .any(|e| e.kind == ReportKind::DataQuality(DataProblem::DuplicateIdentifier)));
}

/// ORM_O01 carries one patient: an order after a second PID is not the first patient's. It is
/// reported, segment by segment, and not converted.
#[test]
fn an_order_after_a_second_pid_is_reported_never_given_to_the_first_patient() {
    let c = convert("orm_o01_second_pid.hl7");
    check_bundle(&c.bundle);
    let b = &c.bundle;
    let requests: Vec<&ServiceRequest> = all_of!(b, ServiceRequest);
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].identifier[0]
            .value
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some("ORD1001")
    );
    assert!(all_of!(b, Observation).is_empty());
    assert!(all_of!(b, Condition).is_empty());
    assert_eq!(all_of!(b, Patient).len(), 1);
    for at in ["PID[2]", "ORC[2]", "OBR[2]", "DG1[1]", "OBX[1]"] {
        assert!(
            report_has(&c, ReportKind::UnmappedSegment, at),
            "{at}: {:?}",
            c.report
        );
    }
}

#[test]
fn two_orders_sharing_a_placer_number_are_never_merged() {
    let c = convert("oru_r01_shared_placer.hl7");
    check_bundle(&c.bundle);
    let b = &c.bundle;
    let reports = all_of!(b, DiagnosticReport);
    let requests = all_of!(b, ServiceRequest);
    assert_eq!((reports.len(), requests.len()), (2, 2));
    assert_ne!(reports[0].id, reports[1].id);
    assert_ne!(requests[0].id, requests[1].id);
    // Each report keeps its own result and its own request.
    for (d, value) in reports.iter().zip(["99", "180"]) {
        assert_eq!(d.result.len(), 1);
        let r = d.result[0]
            .reference
            .as_ref()
            .unwrap()
            .value
            .clone()
            .unwrap();
        let o = all_of!(b, Observation)
            .into_iter()
            .find(|o| full_url_of(b, o.id.as_deref().unwrap()) == r)
            .unwrap();
        assert!(has(o, &format!(r#""valueQuantity":{{"value":{value},"#)));
    }
    assert_eq!(
        reports[1].based_on[0]
            .reference
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some(&*full_url_of(b, requests[1].id.as_deref().unwrap()))
    );
    for at in ["ORC[2]", "OBR[2]"] {
        assert!(report_has(
            &c,
            ReportKind::DataQuality(DataProblem::DuplicateIdentifier),
            at
        ));
    }
    // The second request is written by id, never as a conditional update over the first.
    let second = b
        .entry
        .iter()
        .find(|e| e.resource.as_ref().unwrap().id() == requests[1].id.as_deref())
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
    assert_eq!(
        url,
        format!("ServiceRequest/{}", requests[1].id.as_deref().unwrap())
    );
    let first = b
        .entry
        .iter()
        .find(|e| e.resource.as_ref().unwrap().id() == requests[0].id.as_deref())
        .unwrap();
    assert_eq!(
        first
            .request
            .as_ref()
            .unwrap()
            .url
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some("ServiceRequest?identifier=https://fhir.epic.test/sid/order|ORD2001")
    );
}

#[test]
fn epic_orm_gives_service_requests_with_notes_and_supporting_observations() {
    let c = convert("orm_o01_epic.hl7");
    let b = &c.bundle;
    let requests = all_of!(b, ServiceRequest);
    assert_eq!(requests.len(), 2);
    let first = json(requests[0]);
    for part in [
        r#""identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"PLAC"}]},"system":"https://fhir.epic.test/sid/order","value":"4500001"}]"#,
        r#""requisition":{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"PGN"}]},"system":"https://fhir.epic.test/sid/order","value":"GRP77"}"#,
        r#""status":"active""#,
        r#""intent":"order""#,
        r#""priority":"routine""#,
        r#""code":{"coding":[{"system":"http://loinc.org","code":"24331-1","display":"Lipid panel"}]}"#,
        r#""occurrenceDateTime":"2026-03-07T08:00:00-07:00""#,
        r#""authoredOn":"2026-03-06T10:10:00-07:00""#,
        r#""note":[{"text":"Patient to fast 12 hours"}]"#,
    ] {
        assert!(first.contains(part), "{part} not in {first}");
    }
    assert!(json(requests[1]).contains(r#""priority":"stat""#));
    // OBX in the order → supportingInfo; the requester is one Practitioner for both orders.
    let info = requests[0].supporting_info[0]
        .reference
        .as_ref()
        .unwrap()
        .value
        .clone()
        .unwrap();
    assert_eq!(
        info,
        full_url_of(b, obs(b, "49541-6").id.as_deref().unwrap())
    );
    assert_eq!(all_of!(b, Practitioner).len(), 1);
    assert_eq!(
        reference(&requests[0].requester),
        reference(&requests[1].requester)
    );
    assert_eq!(
        reference(&requests[0].subject),
        full_url_of(b, all_of!(b, Patient)[0].id.as_deref().unwrap())
    );
    // The order's DG1 is a Condition in reasonReference; the patient's AL1 an AllergyIntolerance.
    let condition = all_of!(b, Condition)[0];
    assert_eq!(
        requests[0].reason_reference[0]
            .reference
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some(&*full_url_of(b, condition.id.as_deref().unwrap()))
    );
    assert!(requests[1].reason_reference.is_empty());
    assert!(
        json(condition).contains(
            r#""code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"E11.9""#
        ) || json(condition).contains(r#""code":"E11.9""#),
        "{}",
        json(condition)
    );
    assert_eq!(
        reference(&condition.subject),
        reference(&requests[0].subject)
    );
    let allergy = all_of!(b, AllergyIntolerance)[0];
    assert_eq!(reference(&allergy.patient), reference(&requests[0].subject));
    assert!(
        json(allergy).contains(r#""code":"70618""#),
        "{}",
        json(allergy)
    );
    // ORC-7 (TQ, deprecated) and the Z-segment are reported.
    assert!(report_has(&c, ReportKind::UnmappedField, "ORC[1]-7"));
    // An RXR in a lab order has no MedicationRequest to go to: reported, not dropped.
    let raw = b"MSH|^~\\&|EPIC|UCH|LAB|UCHLAB|202603061015-0700||ORM^O01|RXR1|P|2.3\r\
PID|1||E1^^^EPIC^MRN\r\
ORC|NW|4500003^EPIC\r\
OBR|1|4500003^EPIC||2345-7^Glucose^LN\r\
RXR|PO^Oral^HL70162\r";
    let stray = convert_kind(raw, BundleKind::Transaction);
    assert!(report_has(&stray, ReportKind::UnmappedSegment, "RXR[1]"));
    assert!(report_has(&c, ReportKind::ZSegment, "ZEP[1]"));
}

#[test]
fn oml_gives_a_service_request_with_timing_and_its_specimen() {
    let c = convert("oml_o21_lab.hl7");
    let b = &c.bundle;
    let sr = all_of!(b, ServiceRequest)[0];
    let sp = all_of!(b, Specimen)[0];
    let sp_url = full_url_of(b, sp.id.as_deref().unwrap());
    assert_eq!(
        sr.specimen[0].reference.as_ref().unwrap().value.as_deref(),
        Some(&*sp_url)
    );
    let srj = json(sr);
    for part in [
        r#""status":"active""#,
        r#""quantityQuantity":{"value":1,"unit":"each","system":"http://unitsofmeasure.org","code":"{each}"}"#,
        r#""occurrenceTiming":{"repeat":{"boundsPeriod":{"start":"2026-03-07T08:00:00+01:00","end":"2026-03-08T08:00:00+01:00"},"countMax":3,"duration":2,"durationUnit":"h","timeOfDay":["08:00:00","20:00:00"]}}"#,
        r#""priority":"routine""#,
        r#""note":[{"text":"Draw before breakfast"},{"text":"Collect in gold top"}]"#,
    ] {
        assert!(srj.contains(part), "{part} not in {srj}");
    }
    let spj = json(sp);
    for part in [
        r#""code":"PGN"}]},"system":"urn:ehrkit:unknown-system:identifier:HIS","value":"SPEC55"}"#,
        r#""collectedPeriod":{"start":"2026-03-07T08:15:00+01:00","end":"2026-03-07T08:20:00+01:00"}"#,
        r#""code":"BLD","display":"Whole blood""#,
    ] {
        assert!(spj.contains(part), "{part} not in {spj}");
    }
    // The OBX after the SPM is about the specimen.
    let t = obs(b, "8310-5");
    assert_eq!(
        t.focus[0].reference.as_ref().unwrap().value.as_deref(),
        Some(&*sp_url)
    );
}

#[test]
fn rde_gives_a_medication_request_and_its_medication() {
    let c = convert("rde_o11_pharmacy.hl7");
    let b = &c.bundle;
    let mr = all_of!(b, MedicationRequest)[0];
    let med = all_of!(b, Medication)[0];
    let mrj = json(mr);
    assert!(mrj.contains(&format!(
        r#""medicationReference":{{"reference":"{}"}}"#,
        full_url_of(b, med.id.as_deref().unwrap())
    )));
    for part in [
        r#""status":"active""#,
        r#""intent":"order""#,
        r#""authoredOn":"2026-03-08T11:55:00-05:00""#,
        r#""doseRange":{"low":{"value":5,"unit":"milligram","system":"http://unitsofmeasure.org","code":"mg"},"high":{"value":10,"#,
        r#""route":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0162","code":"PO","display":"Oral"}]}"#,
        r#""dispenseRequest":{"numberOfRepeatsAllowed":2,"quantity":{"value":30,"unit":"Tablet"}}"#,
        r#""reasonCode":[{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"I10""#,
        r#""boundsPeriod":{"start":"2026-03-08T12:00:00-05:00","end":"2026-04-08T12:00:00-05:00"}"#,
        r#""note":[{"text":"Monitor blood pressure"}]"#,
        r#""value":"RX7001""#,
        r#""value":"RXF7001""#,
    ] {
        assert!(mrj.contains(part), "{part} not in {mrj}");
    }
    let mj = json(med);
    assert!(mj.contains(
        r#""code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"197361""#
    ));
    assert!(mj.contains(r#""form":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0292","code":"TAB""#));
    assert!(report_has(&c, ReportKind::UnmappedField, "RXE[1]-1"));
    let requester = reference(&mr.requester);
    assert_eq!(
        requester,
        full_url_of(b, all_of!(b, Practitioner)[0].id.as_deref().unwrap())
    );
}

#[test]
fn an_order_without_a_patient_is_reported_not_invented() {
    // ServiceRequest.subject and MedicationRequest.subject / medication[x] are required: with no
    // PID (or no drug code) the element carries the data-absent-reason extension (`unknown`),
    // the Bundle stays valid, and the gap is reported.
    let raw = b"MSH|^~\\&|EPIC|UCH|LAB|UCHLAB|202603061015-0700||ORM^O01|NOPID1|P|2.3\r\
ORC|NW|4500009^EPIC\r\
OBR|1|4500009^EPIC||2345-7^Glucose^LN\r";
    let c = convert_kind(raw, BundleKind::Transaction);
    check_bundle(&c.bundle);
    let sr = json(all_of!(c.bundle, ServiceRequest)[0]);
    assert!(
        sr.contains(r#""subject":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}"#),
        "{sr}"
    );
    assert!(report_has(
        &c,
        ReportKind::DataQuality(DataProblem::MissingRequired),
        "PID[1]"
    ));
    let raw = b"MSH|^~\\&|PHARM|GHH|RX|GHHRX|20260308120000-0500||RDE^O11|RDE2|P|2.5.1\r\
ORC|NW|RX7002^PHARM\r\
RXE|^^^20260308^^R||5\r";
    let c = convert_kind(raw, BundleKind::Transaction);
    check_bundle(&c.bundle);
    let mr = json(all_of!(c.bundle, MedicationRequest)[0]);
    assert!(mr.contains(r#""medicationCodeableConcept":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"unknown"}]}"#), "{mr}");
    assert!(mr.contains(r#""subject":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason""#), "{mr}");
    assert!(report_has(
        &c,
        ReportKind::DataQuality(DataProblem::MissingRequired),
        "ORC[1]"
    ));
}

#[test]
fn one_problem_is_reported_once_even_when_two_maps_read_the_field() {
    // OBR[DiagnosticReport] and OBR[ServiceRequest] both read OBR-2/3/4: an unknown system
    // there is one report entry, not two.
    for f in FILES {
        let c = convert(f);
        let mut seen = BTreeSet::new();
        for e in c.report.entries() {
            assert!(
                seen.insert((e.location.to_string(), format!("{:?}", e.kind))),
                "{f}: {} {:?} reported twice",
                e.location,
                e.kind
            );
        }
    }
}

#[test]
fn orc_4_is_a_placer_and_filler_group_pair_when_it_has_subcomponents() {
    // ORC-4 with subcomponents is EIP (placer group ^ filler group), not an EI with an authority.
    let raw = b"MSH|^~\\&|HIS|GHH|LIS|GHHLAB|20260307090000+0100||OML^O21^OML_O21|GRP1|P|2.5.1\r\
PID|1||P778^^^GHH^MR||LABPATIENT^CARA||19900202|F\r\
ORC|NW|PL9002^HIS||GRPP-1&HIS^GRPF-9&LAB|SC\r\
OBR|1|PL9002^HIS||2093-3^Cholesterol^LN\r";
    let c = convert_kind(raw, BundleKind::Transaction);
    let sr = json(all_of!(c.bundle, ServiceRequest)[0]);
    assert!(
        sr.contains(r#""requisition":{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"PGN"}]},"system":"urn:ehrkit:unknown-system:identifier:HIS","value":"GRPP-1"}"#),
        "{sr}"
    );
    assert!(
        sr.contains(r#"{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"FGN"}]},"system":"urn:ehrkit:unknown-system:identifier:LAB","value":"GRPF-9"}"#),
        "{sr}"
    );
    // v2.3 (the Epic-like ORM): ORC-4 is an EI whose second component is its namespace.
    let orm = json(all_of!(convert("orm_o01_epic.hl7").bundle, ServiceRequest)[0]);
    assert!(orm.contains(r#""system":"https://fhir.epic.test/sid/order","value":"GRP77"}"#));
}

#[test]
fn orc_4_of_v2_5_1_is_an_ei_whose_second_component_is_its_namespace() {
    // ORC-4 is EI before v2.7 (IG ORC[ServiceRequest] ORC-4 rows: "If ORC-4 data type EI is
    // used"): `GORD5501^NIST EHR` is the requisition, and "NIST EHR" is no filler group number.
    let c = convert("oru_r01_orc4_ei.hl7");
    let sr = all_of!(c.bundle, ServiceRequest)[0].clone();
    let requisition = sr.requisition.as_deref().expect("requisition");
    assert_eq!(
        requisition.value.as_ref().and_then(|v| v.value.as_deref()),
        Some("GORD5501")
    );
    let values: Vec<_> = sr
        .identifier
        .iter()
        .filter_map(|i| i.value.as_ref()?.value.as_deref())
        .collect();
    assert_eq!(values, ["ORD5501", "R-5501"], "{}", json(&sr));
}

#[test]
fn an_rp_value_is_the_value_attachment_extension_with_the_pointer_as_url() {
    // IG OBX[Observation] OBX-5 "IF OBX-2 EQUALS RP": extension[1] valueAttachment. RP.1 (the
    // pointer, escapes decoded) is the url, RP.3/RP.4 the content type.
    let c = convert("oru_r01_reference_pointer.hl7");
    let obs = all_of!(c.bundle, Observation);
    let first = json(obs[0]);
    assert!(
        first.contains(r#""extension":[{"url":"https://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.valueAttachment","valueAttachment":{"contentType":"image/jpeg","url":"https://pacs.ghh.test/wado?study=1.2.3&series=4"}}]"#),
        "{first}"
    );
    assert!(obs[0].data_absent_reason.is_none(), "{first}");
    assert!(!report_has(&c, ReportKind::UnmappedField, "OBX[1]-5(1)"));
    assert!(!report_has(
        &c,
        ReportKind::DataQuality(DataProblem::InvalidValue),
        "OBX[1]-2"
    ));
    // RP.2 (the application holding the data) has no Attachment target: reported.
    assert!(report_has(
        &c,
        ReportKind::UnmappedComponent,
        "OBX[1]-5(1).2"
    ));
    // No pointer: no attachment, the gap reported, dataAbsentReason `error`.
    let second = obs[1];
    assert!(second.extension.is_empty(), "{}", json(second));
    assert!(second.data_absent_reason.is_some());
    assert!(report_has(
        &c,
        ReportKind::DataQuality(DataProblem::MissingRequired),
        "OBX[2]-5(1).1"
    ));
}

#[test]
fn an_al1_of_a_prior_result_is_no_allergy_of_the_patient() {
    // IG OML_O21: the PATIENT group's AL1 is an AllergyIntolerance; an AL1 after an order's
    // specimen belongs to PRIOR_RESULT (row 6.4.10.3), which has no target: reported.
    let c = convert("oml_o21_prior_result.hl7");
    let allergies = all_of!(c.bundle, AllergyIntolerance);
    assert_eq!(allergies.len(), 1);
    assert!(json(allergies[0]).contains(r#""code":"70618""#));
    assert!(report_has(&c, ReportKind::UnmappedSegment, "AL1[2]"));
    assert!(!report_has(&c, ReportKind::UnmappedSegment, "AL1[1]"));
}

#[test]
fn an_obr_with_collection_facts_is_a_specimen_too() {
    // IG ORU_R01 row 4.2.2 / OML_O21 row 6.4.1: OBR → Specimen (`OBR[Specimen]`): OBR-7/8 the
    // collection period, OBR-9 the volume, OBR-14 the received time; first in the report's
    // specimens, before the SPM's. An OBR without those fields describes no specimen.
    let c = convert("oru_r01_obr_specimen.hl7");
    let b = &c.bundle;
    let specimens = all_of!(b, Specimen);
    assert_eq!(
        specimens.len(),
        2,
        "OBR[1] and SPM[1]; OBR[2] has no specimen facts"
    );
    let from_obr = json(specimens[1]);
    for part in [
        r#""receivedTime":"2026-03-12T09:30:00-05:00""#,
        r#""collectedPeriod":{"start":"2026-03-12T08:00:00-05:00","end":"2026-03-12T08:15:00-05:00"}"#,
        r#""quantity":{"value":25,"unit":"milliliter","system":"http://unitsofmeasure.org","code":"mL"}"#,
    ] {
        assert!(from_obr.contains(part), "{part} in {from_obr}");
    }
    let reports = all_of!(b, DiagnosticReport);
    let refs: Vec<_> = reports[0]
        .specimen
        .iter()
        .map(|r| r.reference.as_ref().unwrap().value.clone().unwrap())
        .collect();
    assert_eq!(
        refs,
        [
            full_url_of(b, specimens[1].id.as_deref().unwrap()),
            full_url_of(b, specimens[0].id.as_deref().unwrap())
        ]
    );
    assert!(reports[1].specimen.is_empty());
    for f in ["OBR[1]-7", "OBR[1]-8", "OBR[1]-9", "OBR[1]-14"] {
        assert!(!report_has(&c, ReportKind::UnmappedField, f), "{f}");
    }

    // OML: the request's specimens.
    let raw = String::from_utf8(data("oru_r01_obr_specimen.hl7"))
        .unwrap()
        .replace("ORU^R01^ORU_R01", "OML^O21^OML_O21")
        .replace(
            "PID|1||S5001^^^GHH^MR||SAMPLER^SAM||19820808|M\r",
            "PID|1||S5001^^^GHH^MR||SAMPLER^SAM||19820808|M\rORC|NW|PL5001^EHR\r",
        );
    let c = convert_kind(raw.as_bytes(), BundleKind::Transaction);
    let requests = all_of!(c.bundle, ServiceRequest);
    assert_eq!(requests[0].specimen.len(), 2);
    assert_eq!(all_of!(c.bundle, Specimen).len(), 2);
}

#[test]
fn obr_29_is_a_logical_reference_to_the_parent_order() {
    // IG OBR[ServiceRequest] OBR-29 (IF OBR-50 NOT VALUED): the parent's placer number (29.1),
    // else its filler number (29.2), as `basedOn.identifier` of type ServiceRequest; no parent
    // resource is invented. Both valued: the placer's is used, the filler's reported.
    let c = convert("orm_o01_parent_order.hl7");
    let requests = all_of!(c.bundle, ServiceRequest);
    assert_eq!(requests.len(), 2, "no parent ServiceRequest resource");
    let parent = |sr: &ServiceRequest| {
        assert_eq!(sr.based_on.len(), 1, "{}", json(sr));
        let r = &sr.based_on[0];
        assert!(r.reference.is_none());
        assert_eq!(
            r.type_.as_ref().and_then(|t| t.value.as_deref()),
            Some("ServiceRequest")
        );
        r.identifier
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .value
            .clone()
            .unwrap()
    };
    assert_eq!(parent(requests[0]), "PAI-291");
    assert_eq!(parent(requests[1]), "FAI-293");
    assert!(report_has(&c, ReportKind::UnmappedComponent, "OBR[1]-29.2"));
    assert!(!report_has(&c, ReportKind::UnmappedField, "OBR[1]-29"));
    assert!(!report_has(&c, ReportKind::UnmappedField, "OBR[2]-29"));
}

#[test]
fn a_repeating_obx_5_becomes_components() {
    let raw = b"MSH|^~\\&|CERNER|MERCY|LIS|LAB|20260305150000-0600||ORU^R01|COMP1|P|2.5.1\r\
PID|1||88001234^^^MERCY^MR||TESTPATIENT^ALICE||19750412|F\r\
OBR|1|C1^EPIC||8867-4^Heart rate^LN\r\
OBX|1|NM|8867-4^Heart rate^LN||72~75~~71|/min^per minute^UCUM|60-100|||F\r\
OBX|2|CWE|5778-6^Color^LN||YEL^Yellow^L~RED^Red^L||||||F\r";
    let c = convert_kind(raw, BundleKind::Transaction);
    check_bundle(&c.bundle);
    let hr = obs(&c.bundle, "8867-4");
    assert!(hr.value.is_none() && hr.reference_range.is_empty());
    assert_eq!(hr.component.len(), 3, "the empty repetition is skipped");
    let j = json(hr);
    assert!(
        j.contains(r#""component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"valueQuantity":{"value":72,"unit":"per minute","system":"http://unitsofmeasure.org","code":"/min"},"referenceRange":[{"text":"60-100"}]}"#),
        "{j}"
    );
    assert!(j.contains(r#""valueQuantity":{"value":71,"#), "{j}");
    let color = json(obs(&c.bundle, "5778-6"));
    assert!(color.contains(r#""code":"RED","display":"Red""#), "{color}");
    assert!(!report_has(&c, ReportKind::UnmappedField, "OBX[1]-5(2)"));
}

#[test]
fn sparse_order_segments_still_give_valid_bundles() {
    let messages: &[&[u8]] = &[
        b"MSH|^~\\&|PHARM|GHH|RX|GHHRX|20260308120000-0500||RDE^O11|S1|P|2.5.1\rPID|1||R1^^^GHH^MR\rORC|NW|RX1^PHARM\rRXE||197361^Amlodipine^RXNORM\rTQ1|1\rRXR|\r",
        b"MSH|^~\\&|HIS|GHH|LIS|LAB|20260307090000+0100||OML^O21|S2|P|2.5.1\rPID|1||P1^^^GHH^MR\rORC|NW\rTQ1|1\rOBR|1\rSPM|1\rSPM|2|&&&\rOBX|1|NM|1-1^X^LN\r",
        b"MSH|^~\\&|LAB|GHH|RCV|RF|20260303101500-0500||ORU^R01|S3|P|2.5.1\rPID|1||1^^^GHH^MR\rORC|RE\rOBR|1\rTQ1|1\rOBX|1|ED|1-1^X^LN||^^^^\rSPM|1\r",
        b"MSH|^~\\&|EPIC|UCH|LAB|UCHLAB|202603061015-0700||ORM^O01|S4|P|2.3\rPID|1||E1^^^EPIC^MRN\rORC|NW\rRXO|^^\rRXR|\rNTE|1\r",
        b"MSH|^~\\&|EPIC|UCH|LAB|UCHLAB|202603061015-0700||ORM^O01|S5|P|2.3\rNTE|1||orphan\rTQ1|1\rOBX|1|ST|1-1^X^LN||x\rORC|\r",
    ];
    for raw in messages {
        for kind in [BundleKind::Transaction, BundleKind::Message] {
            let c = convert_kind(raw, kind);
            check_bundle(&c.bundle);
            assert!(
                !json(&c.bundle).contains("{}"),
                "an empty element: {}",
                json(&c.bundle)
            );
        }
    }
}

#[test]
fn segments_a_pharmacy_order_cannot_carry_are_reported_once() {
    let raw = b"MSH|^~\\&|PHARM|GHH|RX|GHHRX|20260308120000-0500||RDE^O11|SPM1|P|2.5.1\r\
PID|1||R1^^^GHH^MR\r\
ORC|NW|RX1^PHARM\r\
RXE||197361^Amlodipine^RXNORM\r\
SPM|1|S1\r\
OBX|1|NM|2345-7^Glucose^LN||99\r\
NTE|1||after the specimen OBX\r";
    let c = convert_kind(raw, BundleKind::Transaction);
    check_bundle(&c.bundle);
    for at in ["SPM[1]", "OBX[1]", "NTE[1]"] {
        let n = c
            .report
            .entries()
            .iter()
            .filter(|e| e.kind == ReportKind::UnmappedSegment && e.location.to_string() == at)
            .count();
        assert_eq!(n, 1, "{at} reported {n} times: {:?}", c.report);
    }
}

/// OBX FT values are laid out by `FT[string]` (`datatype/ft_text.rs`): `\.in\` sets the
/// margin of the following lines, `\.ti\` a temporary indent for the next line only.
#[test]
fn obx_ft_indents_become_layout() {
    let raw = String::from_utf8(data("oru_r01_cerner.hl7")).unwrap();
    let raw = raw.replace(
        "Line one\\.br\\Line two",
        "Line one\\.in+2\\\\.br\\Line two\\.br\\\\.ti-2\\Line three",
    );
    let c = convert_kind(raw.as_bytes(), BundleKind::Transaction);
    let o = json(obs(&c.bundle, "59776-5"));
    assert!(
        o.contains(r#""valueString":"Line one\n  Line two\nLine three""#),
        "{o}"
    );
}

#[test]
fn an_order_document_between_orc_and_obr_keeps_the_order_group_whole() {
    // ORU_R01 v2.8: ORC, ORDER_DOCUMENT (OBX, TXA; row 4.2.1.3.1: no target), then the OBR of
    // the same ORDER_OBSERVATION. One group: the report is based on the ORC's request and has
    // the OBR's result only; the document OBX is reported, not made a result.
    let c = convert("oru_r01_order_document.hl7");
    let b = &c.bundle;
    let of = |ty: &str| -> Vec<&Resource> {
        b.entry
            .iter()
            .filter_map(|e| e.resource.as_deref())
            .filter(|r| r.resource_type() == ty)
            .collect()
    };
    assert_eq!(of("ServiceRequest").len(), 1);
    assert_eq!(of("Observation").len(), 1, "the glucose result only");
    let reports = of("DiagnosticReport");
    assert_eq!(reports.len(), 1);
    let Resource::DiagnosticReport(d) = reports[0] else {
        unreachable!()
    };
    assert_eq!(d.based_on.len(), 1, "based on the ORC's request");
    assert_eq!(d.result.len(), 1);
    assert!(report_has(&c, ReportKind::UnmappedSegment, "OBX[1]"));
    assert!(report_has(&c, ReportKind::UnmappedSegment, "TXA[1]"));
    assert!(!report_has(&c, ReportKind::UnmappedSegment, "OBX[2]"));
    // OBR-53 (alternate placer order number) → identifier of type PLAC (`OBR[ServiceRequest]`).
    let Resource::ServiceRequest(sr) = of("ServiceRequest")[0] else {
        unreachable!()
    };
    let alternate = sr
        .identifier
        .iter()
        .find(|i| i.value.as_ref().and_then(|v| v.value.as_deref()) == Some("ALT-9901"))
        .expect("OBR-53 among the identifiers");
    assert!(
        json(alternate).contains(r#""code":"PLAC""#),
        "{}",
        json(alternate)
    );
    assert!(!report_has(&c, ReportKind::UnmappedField, "OBR[1]-53"));
    // OBR-10 (collector) → the OBR's Specimen `collection.collector`, a Practitioner
    // (`OBR[Specimen]`).
    let Resource::Specimen(s) = of("Specimen")[0] else {
        unreachable!()
    };
    let collector = reference(&s.collection.as_ref().unwrap().collector);
    let Resource::Practitioner(p) = of("Practitioner")
        .into_iter()
        .find(|p| full_url_of(b, p.id().unwrap()) == collector)
        .expect("the collector is in the Bundle")
    else {
        unreachable!()
    };
    assert!(json(&**p).contains("COLLECT"), "{}", json(&**p));
    assert!(!report_has(&c, ReportKind::UnmappedField, "OBR[1]-10"));
}
