//! The datatype maps on a message authored for these tests (`tests/data/adt_a01_datatypes.hl7`),
//! read through `ehrkit-hl7v2`'s typed repetition views.

use ehrkit_hl7v2::datatypes::{Cwe, Cx, Xpn};
use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::datatype::{
    cwe_codeable_concept::cwe_codeable_concept, cx_identifier::cx_identifier, dtm,
    xpn_human_name::xpn_human_name, Context,
};
use ehrkit_mapping::{Location, Profile};

const ADT: &[u8] = include_bytes!("data/adt_a01_datatypes.hl7");

fn s(p: &Option<ehrkit_fhir_model::Primitive<String>>) -> Option<&str> {
    p.as_ref().and_then(|p| p.value.as_deref())
}

#[test]
fn pid_identifiers_names_and_birth_date() {
    let msg = Message::parse(ADT).unwrap();
    let pid = msg.segment("PID", 1).unwrap();
    let profile = Profile::generic().time_zone(chrono_tz::America::Chicago);
    let mut ctx = Context::new(&profile);

    let ids: Vec<_> = pid
        .field(3)
        .repetitions::<Cx<'_>>()
        .enumerate()
        .filter_map(|(i, cx)| {
            cx_identifier(
                &cx,
                &mut ctx,
                &Location::segment("PID", 1).field(3).repetition(i + 1),
            )
        })
        .collect();
    let systems: Vec<_> = ids.iter().map(|i| s(&i.system).unwrap()).collect();
    assert_eq!(
        systems,
        [
            "urn:oid:2.16.840.1.113883.19.5",
            "http://hl7.org/fhir/sid/us-ssn",
            "urn:ehrkit:unknown-system:identifier:LOCALCLINIC",
        ]
    );
    assert_eq!(s(&ids[0].value), Some("PATID1234"));

    let names: Vec<_> = pid
        .field(5)
        .repetitions::<Xpn<'_>>()
        .enumerate()
        .filter_map(|(i, x)| {
            xpn_human_name(
                &x,
                &mut ctx,
                &Location::segment("PID", 1).field(5).repetition(i + 1),
            )
        })
        .collect();
    assert_eq!(names.len(), 2);
    assert_eq!(s(&names[1].family), Some("EVERYMAN"));
    let start = names[1].period.as_ref().unwrap().start.as_ref().unwrap();
    assert_eq!(
        start.value.as_ref().unwrap().as_str(),
        "1990-01-01T10:00:00-06:00"
    );

    let birth = pid.field(7).first::<ehrkit_hl7v2::datatypes::Text<'_>>();
    let birth = dtm::read_date_time(birth, &mut ctx, Location::segment("PID", 1).field(7)).unwrap();
    assert_eq!(birth.as_str(), "1980-06-15");

    let report: Vec<String> = ctx.report.entries().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        report,
        [
            "PID[1]-3(3).4: unknown coding or identifier system; fallback URI used",
            "PID[1]-3(3).5: code not in the IG map IdentifierType",
        ]
    );
    // The report carries locations, never values.
    assert!(!report
        .iter()
        .any(|r| r.contains("X77") || r.contains("EVERY")));
    let outcome = ctx.report.to_operation_outcome();
    assert_eq!(outcome.issue.len(), 2);
}

#[test]
fn obx_code_as_codeable_concept() {
    let msg = Message::parse(ADT).unwrap();
    let obx = msg.segment("OBX", 1).unwrap();
    let profile = Profile::generic().coding_system("99LAB", "https://lab.good-health.test/codes");
    let mut ctx = Context::new(&profile);
    let cwe = obx.field(3).first::<Cwe<'_>>().unwrap();
    let cc = cwe_codeable_concept(&cwe, &mut ctx, &Location::segment("OBX", 1).field(3)).unwrap();
    let systems: Vec<_> = cc.coding.iter().map(|c| s(&c.system).unwrap()).collect();
    assert_eq!(
        systems,
        ["http://loinc.org", "https://lab.good-health.test/codes"]
    );
    assert!(ctx.report.is_empty());
}
