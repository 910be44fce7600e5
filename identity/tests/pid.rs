//! PID → PatientRecord on authored messages and the shared HL7 v2 corpus.

use ehrkit_identity::normalize::DatePrecision;
use ehrkit_identity::pid::record_from_hl7;
use ehrkit_identity::Error;
use ehrkit_identity::{FsModel, MatchConfig, NameType, PatientIndex, Sex, Ssn, Verdict};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/").to_string() + name).unwrap()
}

#[test]
fn pid_fields_map_in_order() {
    let r = record_from_hl7(&data("adt_a04_pid.hl7")).unwrap();
    assert_eq!(r.key, "EPIC|12345");
    let ids: Vec<(&str, &str, &str)> = r
        .identifiers
        .iter()
        .map(|i| (i.authority.as_str(), i.id_type.as_str(), i.value.as_str()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("EPIC", "MR", "12345"),
            ("SSA", "SS", "987-65-4321"),
            ("CERNER", "MR", "A77")
        ]
    );
    assert_eq!(r.names.len(), 2);
    assert_eq!(r.names[0].family, "O'Brien");
    assert_eq!(r.names[0].given, "Robert");
    assert_eq!(r.names[0].middle, vec!["James".to_string()]);
    assert_eq!(r.names[0].suffix.as_deref(), Some("Jr"));
    assert_eq!(r.names[0].prefix.as_deref(), Some("Dr"));
    assert_eq!(r.names[0].name_type, NameType::Legal);
    assert_eq!(r.names[1].name_type, NameType::Maiden);
    let dob = r.birth_date.unwrap();
    assert_eq!((dob.year, dob.month, dob.day), (1970, Some(3), Some(14)));
    assert_eq!(r.sex, Some(Sex::Male));
    assert_eq!(
        r.addresses[0].lines,
        vec!["12 Elm St".to_string(), "Apt 4".to_string()]
    );
    assert_eq!(r.addresses[0].city, "Springfield");
    assert_eq!(r.addresses[0].postcode, "01101-2233");
    assert_eq!(r.addresses[0].address_type.as_deref(), Some("H"));
    // Phones are the digits of the XTN (components, else the old formatted XTN.1).
    assert_eq!(
        r.phones,
        vec!["14135550101".to_string(), "4135550199".to_string()]
    );
    assert_eq!(r.emails, vec!["bob@example.org".to_string()]);
    assert_eq!(r.ssn, Some(Ssn::Full("123456789".into())));
}

#[test]
fn telecoms_nulls_and_escapes_read_through_the_views() {
    let msg = b"MSH|^~\\&|EPIC|HOSP|MPI|HOSP|20240101120000||ADT^A08|MSG9|P|2.5.1\r\
PID|1||\"\"~55^^^EPIC^MR||O\\S\\NEIL^ANN^\"\"||\"\"|\"\"|||\"\"||\
ann@example.org^NET^Internet~^PRN^PH^^^617^5550123^^^^^~\"\"||||||\"\"\r";
    let r = record_from_hl7(msg).unwrap();
    assert_eq!(r.key, "EPIC|55", "the null repetition of PID-3 is skipped");
    assert_eq!(r.names[0].family, "O^NEIL", "escapes decoded");
    assert!(r.names[0].middle.is_empty(), "null middle name");
    assert_eq!(r.birth_date, None);
    assert_eq!(r.sex, None, "the HL7 null is no value, not an unknown code");
    assert!(r.addresses.is_empty());
    // An e-mail in XTN.1 of an Internet entry (pre-v2.3 habit) was missed before.
    assert_eq!(r.emails, vec!["ann@example.org".to_string()]);
    assert_eq!(r.phones, vec!["6175550123".to_string()]);
    assert_eq!(r.ssn, None);
}

#[test]
fn two_feeds_resolve_to_one_patient() {
    let a = record_from_hl7(&data("adt_a04_pid.hl7")).unwrap();
    let b = record_from_hl7(&data("adt_a08_pid.hl7")).unwrap();
    assert_eq!(b.key, "CERNER|A77");
    assert_eq!(b.birth_date.unwrap().precision(), DatePrecision::Year);
    let idx = PatientIndex::new(FsModel::untrained(MatchConfig::default())).unwrap();
    let ea = idx.upsert(a).unwrap().enterprise_id;
    let c = idx.query(&b, 3).unwrap();
    assert_eq!(c[0].score.verdict, Verdict::Match);
    assert_eq!(idx.upsert(b).unwrap().enterprise_id, ea);
}

#[test]
fn errors_are_reported() {
    assert!(matches!(
        record_from_hl7(&data("pid_without_id.hl7")),
        Err(Error::NoIdentifier)
    ));
    assert!(matches!(
        record_from_hl7(b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rEVN|A01\r"),
        Err(Error::NoPid)
    ));
    assert!(matches!(record_from_hl7(b"not hl7"), Err(Error::Hl7(_))));
}

#[test]
fn shared_corpus_pid_segments() {
    let Some(dir) = ehrkit_testkit::shared::require("corpus/hl7v2", "the PID corpus test") else {
        return;
    };
    let (mut built, mut with_pid) = (0, 0);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for p in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "hl7"))
    {
        let bytes = std::fs::read(p).unwrap();
        match record_from_hl7(&bytes) {
            Ok(r) => {
                with_pid += 1;
                built += 1;
                assert!(!r.key.is_empty());
                assert!(!r.identifiers.is_empty());
            }
            Err(Error::NoIdentifier) => with_pid += 1,
            Err(Error::NoPid | Error::Hl7(_)) => {}
            Err(e) => panic!("{}: {e}", p.display()),
        }
    }
    eprintln!("PID corpus: {built} records built from {with_pid} messages with PID");
    assert!(built >= 20, "only {built} records");
}
