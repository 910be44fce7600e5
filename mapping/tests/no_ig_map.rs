//! Issue 12, messages the IG has no map for (DFT_P03/P11, ADT_A03's structure, MDM_T01): where
//! the IG is silent the converter follows Microsoft FHIR-Converter's outputs, and the events
//! with an IG map (A01, T02) keep the IG's behaviour on the same segments, except for what DB1,
//! GT1, IN2 and CON say about the patient, which every message type reads (one Patient whatever
//! the message type).
//!
//! Messages written for these tests: `tests/data/siu_mdm_vxu_dft/dft_p03_patient_sources.hl7`,
//! `tests/data/adt/a03_death_accident_referral.hl7`,
//! `tests/data/siu_mdm_vxu_dft/mdm_t01_consent_order.hl7`.

mod common;
use common::{all, convert_transaction as convert};

use ehrkit_fhir_model::resources::{
    ChargeItem, Condition, Observation, ObservationValue, Patient, Procedure, ProcedurePerformed,
    ServiceRequest, Specimen,
};
use ehrkit_fhir_model::{CodeableConcept, Resource};
use ehrkit_mapping::v2_to_fhir::Conversion;

fn identifier_values(p: &Patient) -> Vec<String> {
    let mut v: Vec<String> = p
        .identifier
        .iter()
        .filter_map(|i| i.value.as_ref()?.value.clone())
        .collect();
    v.sort();
    v
}

fn families(p: &Patient) -> Vec<String> {
    p.name
        .iter()
        .map(|n| {
            let family = n.family.as_ref().and_then(|f| f.value.clone());
            let given: Vec<String> = n.given.iter().filter_map(|g| g.value.clone()).collect();
            format!("{}^{}", family.unwrap_or_default(), given.join(" "))
        })
        .collect()
}

fn code(c: Option<&CodeableConcept>) -> (String, String) {
    let coding = &c.expect("a code").coding[0];
    (
        coding
            .system
            .as_ref()
            .and_then(|s| s.value.clone())
            .unwrap(),
        coding.code.as_ref().and_then(|s| s.value.clone()).unwrap(),
    )
}

fn report(c: &Conversion) -> Vec<String> {
    c.report.entries().iter().map(|e| e.to_string()).collect()
}

fn patient(c: &Conversion) -> Patient {
    let v = all::<Patient>(&c.bundle);
    assert_eq!(v.len(), 1, "one Patient");
    v.into_iter().next().unwrap()
}

#[test]
fn dft_patient_gets_the_identifiers_and_names_db1_gt1_in2_give_about_the_patient() {
    let raw = common::data("siu_mdm_vxu_dft", "dft_p03_patient_sources.hl7");
    let c = convert(&raw);
    let p = patient(&c);
    // PID-3; DB1-3 of the DB1 about the patient (DB1-2 `PT`), not the spouse's (`SP`); GT1-2
    // and GT1-12 of the guarantor who is the patient (GT1-11 `SEL`), not the spouse's; IN2-6,
    // IN2-8, IN2-10, and IN2-1/IN2-2 because IN1-17 says the insured is the patient. The two
    // identical IN2s add each number once.
    assert_eq!(
        identifier_values(&p),
        [
            "123-45-6789",
            "77001",
            "987-65-4321",
            "DIS-4455",
            "G-77001",
            "INS-EMP-7",
            "MCD-66602",
            "MCR-55501",
            "MIL-77703",
        ]
    );
    // PID-5, and IN2-7 (Medicaid case name) once; GT1-3 repeats PID-5 and is not added again.
    assert_eq!(families(&p), ["NAKAMURA^HANA", "TANAKA^HANA"]);
    let medicare = p
        .identifier
        .iter()
        .find(|i| i.value.as_ref().and_then(|v| v.value.as_deref()) == Some("MCR-55501"))
        .unwrap();
    assert_eq!(
        medicare.system.as_ref().and_then(|s| s.value.as_deref()),
        Some("http://hl7.org/fhir/sid/us-medicare")
    );
    // No placeholder system is made up for the Medicaid and military numbers.
    let json = ehrkit_fhir_model::to_string(&p);
    assert!(!json.contains("example.com"), "{json}");

    // The segments about someone else are reported; the ones read report only what they did
    // not give.
    let r = report(&c);
    for lost in ["GT1[2]: segment not mapped", "DB1[2]: segment not mapped"] {
        assert!(r.contains(&lost.to_owned()), "{lost} in {r:?}");
    }
    for kept in ["GT1[1]", "DB1[1]", "IN2[1]", "IN2[2]"] {
        assert!(
            !r.contains(&format!("{kept}: segment not mapped")),
            "{kept} is read: {r:?}"
        );
    }
    assert!(
        r.contains(&"GT1[1]-8: field not mapped".to_owned()),
        "{r:?}"
    );

    // The Patient stays keyed by PID: the same id without those segments.
    let bare: String = raw
        .split('\r')
        .filter(|s| !s.starts_with("DB1") && !s.starts_with("GT1") && !s.starts_with("IN"))
        .map(|s| format!("{s}\r"))
        .collect();
    assert_eq!(patient(&convert(&bare)).id, p.id);
}

#[test]
fn dft_ft1_25_is_the_procedure_the_charge_is_for() {
    let c = convert(&common::data(
        "siu_mdm_vxu_dft",
        "dft_p03_patient_sources.hl7",
    ));
    let procedures = all::<Procedure>(&c.bundle);
    assert_eq!(procedures.len(), 1, "FT1-25");
    assert_eq!(code(procedures[0].code.as_deref()).1, "99213");
    let json = ehrkit_fhir_model::to_string(&procedures[0]);
    assert!(json.contains(r#""status":"unknown""#), "{json}");
    let charges = all::<ChargeItem>(&c.bundle);
    let url = format!("urn:uuid:{}", procedures[0].id.as_deref().unwrap());
    assert!(charges[0].service.iter().any(|s| s
        .reference
        .as_ref()
        .and_then(|r| r.value.as_deref())
        == Some(url.as_str())));
    assert!(!report(&c).contains(&"FT1[1]-25: field not mapped".to_owned()));

    // ACC: the accident as an `injury-incident` Observation (ACC-8), as in A03.
    let observations = all::<Observation>(&c.bundle);
    assert_eq!(observations.len(), 1);
    assert_eq!(
        code(observations[0].code.as_deref()),
        (
            "urn:ehrkit:codesystem:observation-code".to_owned(),
            "injury-incident".to_owned()
        )
    );
    assert!(
        matches!(&observations[0].value, Some(ObservationValue::String(s)) if s.value.as_deref() == Some("slipped on ice"))
    );
    assert!(!report(&c).contains(&"ACC[1]: segment not mapped".to_owned()));
}

fn a03() -> String {
    common::data("adt", "a03_death_accident_referral.hl7")
}

#[test]
fn a03_follows_microsoft_for_pda_acc_rf1_and_the_patient_sources() {
    let c = convert(&a03());
    let p = patient(&c);
    assert_eq!(identifier_values(&p), ["88001", "DIS-1212", "MCR-31313"]);
    assert_eq!(families(&p), ["BRENNAN^THOMAS", "BRENNAN^TOM"]);
    let patient_url = format!("urn:uuid:{}", p.id.as_deref().unwrap());

    // PDA-3, PDA-6, PDA-9 and ACC-8 as Observations of the patient.
    let observations = all::<Observation>(&c.bundle);
    let by_code = |code: &str| -> Observation {
        observations
            .iter()
            .find(|o| {
                o.code
                    .as_deref()
                    .is_some_and(|c| self::code(Some(c)).1 == code)
            })
            .unwrap_or_else(|| panic!("an Observation {code}"))
            .clone()
    };
    assert_eq!(observations.len(), 4);
    for (code, answer) in [
        ("death-certificate", "Y"),
        ("autopsy", "Y"),
        ("coroner", "N"),
    ] {
        let o = by_code(code);
        assert_eq!(
            self::code(o.code.as_deref()).0,
            "urn:ehrkit:codesystem:observation-code"
        );
        let Some(ObservationValue::CodeableConcept(v)) = &o.value else {
            panic!("{code}: a coded value");
        };
        assert_eq!(
            self::code(Some(&**v)),
            (
                "http://terminology.hl7.org/CodeSystem/v2-0136".to_owned(),
                answer.to_owned()
            )
        );
        assert_eq!(
            o.subject
                .as_ref()
                .and_then(|s| s.reference.as_ref())
                .and_then(|r| r.value.clone()),
            Some(patient_url.clone())
        );
    }
    let incident = by_code("injury-incident");
    assert!(
        matches!(&incident.value, Some(ObservationValue::String(s)) if s.value.as_deref() == Some("fall from ladder"))
    );

    // PDA-4/5 and PDA-7/8: the death certification and the autopsy as Procedures.
    let procedures = all::<Procedure>(&c.bundle);
    assert_eq!(procedures.len(), 2);
    let certification = procedures
        .iter()
        .find(|p| code(p.code.as_deref()).1 == "death-certification")
        .unwrap();
    assert!(matches!(
        certification.performed,
        Some(ProcedurePerformed::DateTime(_))
    ));
    let autopsy = procedures
        .iter()
        .find(|p| code(p.code.as_deref()).1 == "autopsy-performed")
        .unwrap();
    let Some(ProcedurePerformed::Period(period)) = &autopsy.performed else {
        panic!("autopsy period");
    };
    assert!(period.start.is_some() && period.end.is_some());
    let json = ehrkit_fhir_model::to_string(autopsy);
    assert!(json.contains(r#""status":"completed""#), "{json}");

    // PDA-1: the cause of death as a Condition.
    let conditions = all::<Condition>(&c.bundle);
    assert_eq!(conditions.len(), 1);
    assert_eq!(code(conditions[0].code.as_deref()).1, "I46.9");

    // RF1: the referral as a ServiceRequest with RF1-6 and RF1-11.
    let requests = all::<ServiceRequest>(&c.bundle);
    assert_eq!(requests.len(), 1);
    let ids: Vec<String> = requests[0]
        .identifier
        .iter()
        .filter_map(|i| i.value.as_ref()?.value.clone())
        .collect();
    assert_eq!(ids, ["REF-7001", "EXT-7002"]);
    let json = ehrkit_fhir_model::to_string(&requests[0]);
    assert!(
        json.contains(r#""status":"active""#) && json.contains(r#""intent":"order""#),
        "{json}"
    );

    let r = report(&c);
    for seg in ["PDA", "ACC", "RF1", "DB1", "IN2"] {
        assert!(
            !r.contains(&format!("{seg}[1]: segment not mapped")),
            "{seg} is read: {r:?}"
        );
    }
    assert!(
        r.contains(&"PDA[1]-2: field not mapped".to_owned()),
        "{r:?}"
    );
}

#[test]
fn a01_with_the_same_segments_keeps_the_ig_map() {
    // ADT_A01 rows 30 (ACC), 29.7.1 (RF1), 33 (PDA): no target, so no resources from them.
    // Rows 21 (DB1) and 29.2 (IN2) have no target either, but what they say about the patient
    // is read for every event: the Patient is the same as the A03's, identifiers and names
    // included, so that whichever of the two a server receives last does not drop them.
    let raw = a03()
        .replace("ADT^A03^ADT_A03", "ADT^A01^ADT_A01")
        .replace("EVN|A03", "EVN|A01");
    let c = convert(&raw);
    let from_a03 = convert(&a03());
    assert_eq!(
        identifier_values(&patient(&c)),
        identifier_values(&patient(&from_a03))
    );
    assert!(identifier_values(&patient(&c)).len() > 1);
    assert_eq!(families(&patient(&c)), families(&patient(&from_a03)));
    assert_eq!(
        ehrkit_fhir_model::to_string(&patient(&c)),
        ehrkit_fhir_model::to_string(&patient(&from_a03))
    );
    let kinds: Vec<&str> = c
        .bundle
        .entry
        .iter()
        .filter_map(|e| e.resource.as_deref())
        .filter(|r| {
            matches!(
                r,
                Resource::Observation(_)
                    | Resource::Procedure(_)
                    | Resource::Condition(_)
                    | Resource::ServiceRequest(_)
            )
        })
        .map(|r| r.resource_type())
        .collect();
    assert!(kinds.is_empty(), "{kinds:?}");
    let r = report(&c);
    for seg in ["PDA", "ACC", "RF1"] {
        assert!(
            r.contains(&format!("{seg}[1]: segment not mapped")),
            "{seg}: {r:?}"
        );
    }
    for seg in ["DB1", "IN2"] {
        assert!(
            !r.contains(&format!("{seg}[1]: segment not mapped")),
            "{seg} is read: {r:?}"
        );
    }
    // The same patient either way.
    assert_eq!(patient(&c).id, patient(&convert(&a03())).id);
}

fn t01() -> String {
    common::data("siu_mdm_vxu_dft", "mdm_t01_consent_order.hl7")
}

#[test]
fn t01_adds_the_consenting_patient_and_the_specimen_of_the_order() {
    let c = convert(&t01());
    // CON-24 repetition 1 (CON-25 `1`, self) is the patient; repetition 2 (`3`) is not.
    assert_eq!(
        families(&patient(&c)),
        ["OYELARAN^FOLAKE", "OYELARAN^FOLAKE A"]
    );
    let specimens = all::<Specimen>(&c.bundle);
    assert_eq!(specimens.len(), 1, "OBR-7 describes the collection");
    let json = ehrkit_fhir_model::to_string(&specimens[0]);
    assert!(json.contains("2026-04-16T09:15:00-04:00"), "{json}");
    let requests = all::<ServiceRequest>(&c.bundle);
    assert_eq!(requests.len(), 1);
    let specimen_url = format!("urn:uuid:{}", specimens[0].id.as_deref().unwrap());
    assert_eq!(
        requests[0].specimen[0]
            .reference
            .as_ref()
            .and_then(|r| r.value.clone()),
        Some(specimen_url)
    );
    let r = report(&c);
    assert!(
        !r.contains(&"CON[1]: segment not mapped".to_owned()),
        "{r:?}"
    );
    assert!(
        !r.contains(&"OBR[1]-7: field not mapped".to_owned()),
        "{r:?}"
    );
}

#[test]
fn t02_with_the_same_segments_keeps_the_ig_map() {
    // MDM_T02: no Specimen target. Row 9 (CON) has no target, but the consenter who is the
    // patient is read for every event: the Patient is the same as the T01's.
    let raw = t01()
        .replace("MDM^T01^MDM_T01", "MDM^T02^MDM_T02")
        .replace("EVN|T01", "EVN|T02");
    let c = convert(&raw);
    assert_eq!(
        families(&patient(&c)),
        ["OYELARAN^FOLAKE", "OYELARAN^FOLAKE A"]
    );
    assert_eq!(
        ehrkit_fhir_model::to_string(&patient(&c)),
        ehrkit_fhir_model::to_string(&patient(&convert(&t01())))
    );
    assert!(all::<Specimen>(&c.bundle).is_empty());
    assert!(!report(&c).contains(&"CON[1]: segment not mapped".to_owned()));
}

/// The patient segments of `dft_p03_patient_sources.hl7` (PID, DB1s, GT1s, IN1, IN2s) carried
/// by a message of type `msh9` with `rest` after them.
fn same_patient_in(msh9: &str, rest: &str) -> String {
    let dft = common::data("siu_mdm_vxu_dft", "dft_p03_patient_sources.hl7");
    let patient_segments: Vec<&str> = dft
        .split('\r')
        .filter(|s| {
            ["PID|", "DB1|", "GT1|", "IN1|", "IN2|"]
                .iter()
                .any(|p| s.starts_with(p))
        })
        .collect();
    format!(
        "MSH|^~\\&|HIS|GENHOSP|EHRKIT|HUB|20260412090000-0400||{msh9}|M-{}|P|2.5.1\r{}\r{rest}",
        msh9.replace('^', "-"),
        patient_segments.join("\r")
    )
}

#[test]
fn a_patient_is_the_same_whichever_message_type_brought_it() {
    // Were DB1/GT1/IN2 read only for some message types, the conditional update of the next
    // message of another type would drop the identifiers they gave from the server's Patient.
    let messages = [
        same_patient_in(
            "DFT^P03",
            "FT1|1|TX-2001||20260412|20260412|CG|99213^Visit^C4",
        ),
        same_patient_in("ADT^A08^ADT_A01", "PV1|1|O"),
        same_patient_in("ADT^A01^ADT_A01", "PV1|1|O"),
        same_patient_in("ADT^A03^ADT_A03", "PV1|1|O"),
        same_patient_in(
            "ORM^O01",
            "ORC|NW|ORD-1^HIS\rOBR|1|ORD-1^HIS||2345-7^Glucose^LN",
        ),
        same_patient_in(
            "OML^O21^OML_O21",
            "ORC|NW|ORD-1^HIS\rOBR|1|ORD-1^HIS||2345-7^Glucose^LN",
        ),
        same_patient_in(
            "ORU^R01^ORU_R01",
            "OBR|1|ORD-1^HIS|F-1^LAB|2345-7^Glucose^LN|||20260412080000-0400|||||||||||||||||F\r\
             OBX|1|NM|2345-7^Glucose^LN||101|mg/dL^mg/dL^UCUM|||||F",
        ),
        same_patient_in(
            "VXU^V04^VXU_V04",
            "ORC|RE||IZ-1^HIS\rRXA|0|1|20260412||08^HepB^CVX|0.5|mL^mL^UCUM",
        ),
        same_patient_in(
            "RDE^O11^RDE_O11",
            "ORC|NW|RX-1^HIS\rRXE|^^^20260412|197361^Amlodipine 5 MG^RXNORM|5||mg^mg^UCUM",
        ),
    ];
    let patients: Vec<(String, Patient)> = messages
        .iter()
        .map(|m| (m[..60].to_owned(), patient(&convert(m))))
        .collect();
    let (_, first) = &patients[0];
    assert_eq!(identifier_values(first).len(), 9, "{first:?}");
    for (msg, p) in &patients {
        assert_eq!(p.id, first.id, "{msg}");
        assert_eq!(
            ehrkit_fhir_model::to_string(p),
            ehrkit_fhir_model::to_string(first),
            "{msg}"
        );
    }
}

#[test]
fn the_guarantor_of_a_second_patient_is_reported_not_given_to_the_first() {
    // An ORU with two patients (its second PATIENT_RESULT group): each PID is a Patient, and
    // DB1/GT1/IN2/CON are read for the first only; the second's GT1 (guarantor: self) is about
    // the second, so it is reported rather than given to the first.
    let raw =
        "MSH|^~\\&|LAB|GENHOSP|EHRKIT|HUB|20260412090000-0400||ORU^R01^ORU_R01|TWO-1|P|2.5.1\r\
               PID|1||77001^^^GENHOSP^MR||NAKAMURA^HANA\r\
               GT1|1|G-77001^^^GENHOSP^GI|NAKAMURA^HANA||||||||SEL\r\
               OBR|1|ORD-1^HIS|F-1^LAB|2345-7^Glucose^LN|||20260412080000-0400|||||||||||||||||F\r\
               OBX|1|NM|2345-7^Glucose^LN||101|mg/dL^mg/dL^UCUM|||||F\r\
               PID|2||88002^^^GENHOSP^MR||OKAFOR^CHIDI\r\
               GT1|1|G-88002^^^GENHOSP^GI|OKAFOR^CHIDI||||||||SEL\r";
    let c = convert(raw);
    let patients = all::<Patient>(&c.bundle);
    assert_eq!(patients.len(), 2);
    assert_eq!(identifier_values(&patients[0]), ["77001", "G-77001"]);
    assert_eq!(families(&patients[0]), ["NAKAMURA^HANA"]);
    assert_eq!(identifier_values(&patients[1]), ["88002"]);
    assert_eq!(families(&patients[1]), ["OKAFOR^CHIDI"]);
    let r = report(&c);
    assert!(
        r.contains(&"GT1[2]: segment not mapped".to_owned()),
        "{r:?}"
    );
    assert!(
        !r.contains(&"GT1[1]: segment not mapped".to_owned()),
        "{r:?}"
    );
}
