//! FHIR Patient → PatientRecord (feature `fhir`).
#![cfg(feature = "fhir")]

use ehrkit_identity::fhir::record_from_patient_json;
use ehrkit_identity::{FsModel, MatchConfig, NameType, PatientRecord, Sex, Ssn, Verdict};

#[test]
fn patient_maps_to_record() {
    let json = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/patient_smith.json"
    ))
    .unwrap();
    let r = record_from_patient_json(&json).unwrap();
    assert_eq!(r.key, "urn:oid:1.2.36.146.595.217.0.1|12345");
    assert_eq!(r.identifiers.len(), 2);
    assert_eq!(r.identifiers[0].id_type, "MR");
    assert_eq!(r.names[0].family, "Chalmers");
    assert_eq!(r.names[0].given, "Peter");
    assert_eq!(r.names[0].middle, vec!["James".to_string()]);
    assert_eq!(r.names[0].suffix.as_deref(), Some("Jr"));
    assert_eq!(r.names[1].name_type, NameType::Maiden);
    assert_eq!(r.sex, Some(Sex::Male));
    let d = r.birth_date.unwrap();
    assert_eq!((d.year, d.month, d.day), (1974, Some(12), Some(25)));
    assert_eq!(r.addresses[0].postcode, "3999");
    assert_eq!(r.phones, vec!["(03) 5555 6473".to_string()]);
    assert_eq!(r.emails, vec!["Peter@Example.org".to_string()]);
    assert_eq!(r.ssn, Some(Ssn::Full("123456789".into())));
    // The same person recorded in v2 style matches the FHIR-built record.
    let v2 = PatientRecord::builder("LAB|9")
        .name("CHALMERS", "Pete")
        .birth_date_str("12/25/1974")
        .ssn("123456789")
        .build();
    let model = FsModel::untrained(MatchConfig::default());
    let (fa, fb) = (
        model.features(std::slice::from_ref(&r)),
        model.features(std::slice::from_ref(&v2)),
    );
    assert_eq!(model.score(&fa, 0, &fb, 0).verdict, Verdict::Match);
    assert!(record_from_patient_json(b"{\"resourceType\":\"Observation\"}").is_err());
}
