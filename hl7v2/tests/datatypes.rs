//! Typed datatype views over vendor-flavoured messages under `tests/data/dt_*`, plus proptest
//! round-trips for DTM, CX and XPN.

use std::borrow::Cow;

use ehrkit_hl7v2::datatypes::{
    read, repetitions, Cwe, Cx, DatatypeError, DateTimeParts, Dt, Dtm, Ei, FromRaw, Ft, Hd, Msg,
    Nm, Pl, Precision, Problem, Pt, Si, Text, Tm, Ts, Vid, Xad, Xcn, Xpn, Xtn,
};
use ehrkit_hl7v2::escape::DecodeOptions;
use ehrkit_hl7v2::{escape, Charset, Delimiters, Message};
use proptest::prelude::*;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Typed value at `path` of `msg`.
fn typed<'a, T: FromRaw<'a>>(msg: &Message<'a>, path: &str) -> T {
    read(msg, path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .unwrap_or_else(|| panic!("{path} absent"))
}

fn dec(t: Option<Text<'_>>) -> Option<String> {
    t.map(|t| t.decode().unwrap().into_owned())
}

#[test]
fn epic_pid3_repetitions_with_assigning_authorities() {
    let input = data("dt_epic_adt_a01.hl7");
    let msg = Message::parse(&input).unwrap();
    assert_eq!(msg.repetitions("PID-3"), 4);

    let mrn: Cx<'_> = typed(&msg, "PID-3(1)");
    assert_eq!(dec(mrn.id_number()).as_deref(), Some("E4567890"));
    assert_eq!(dec(mrn.identifier_type_code()).as_deref(), Some("MRN"));
    let aa = mrn.assigning_authority().unwrap();
    assert_eq!(dec(aa.namespace_id()).as_deref(), Some("EPIC"));
    assert!(aa.universal_id().is_none());
    assert!(mrn.assigning_facility().is_none());

    let mr: Cx<'_> = typed(&msg, "PID-3(2)");
    assert_eq!(dec(mr.id_number()).as_deref(), Some("12345"));
    let fac = mr.assigning_facility().unwrap();
    assert_eq!(dec(fac.namespace_id()).as_deref(), Some("UWHC"));
    assert_eq!(
        dec(fac.universal_id()).as_deref(),
        Some("2.16.840.1.113883.3.1")
    );
    assert_eq!(dec(fac.universal_id_type()).as_deref(), Some("ISO"));

    let ssn: Cx<'_> = typed(&msg, "PID-3(3)");
    let aa = ssn.assigning_authority().unwrap();
    assert_eq!(aa.raw(), b"SSA&2.16.840.1.113883.4.1&ISO");
    assert_eq!(
        dec(aa.universal_id()).as_deref(),
        Some("2.16.840.1.113883.4.1")
    );
    assert_eq!(dec(ssn.identifier_type_code()).as_deref(), Some("SS"));

    // The HL7 null as an ID number: valued, and null.
    let medicaid: Cx<'_> = typed(&msg, "PID-3(4)");
    assert!(medicaid.id_number().unwrap().is_null());
    assert!(!medicaid.is_null());
    assert_eq!(dec(medicaid.identifier_type_code()).as_deref(), Some("MA"));

    // Account number and visit number are CX as well.
    let an: Cx<'_> = typed(&msg, "PID-18");
    assert_eq!(dec(an.identifier_type_code()).as_deref(), Some("AN"));
    let vn: Cx<'_> = typed(&msg, "PV1-19");
    assert_eq!(dec(vn.id_number()).as_deref(), Some("900000123"));
}

#[test]
fn epic_names_addresses_phones() {
    let input = data("dt_epic_adt_a01.hl7");
    let msg = Message::parse(&input).unwrap();

    let legal: Xpn<'_> = typed(&msg, "PID-5(1)");
    let fam = legal.family_name().unwrap();
    assert_eq!(dec(fam.surname()).as_deref(), Some("O^BRIEN-SMITH"));
    assert_eq!(dec(fam.own_surname_prefix()).as_deref(), Some("O^"));
    assert_eq!(dec(fam.own_surname()).as_deref(), Some("BRIEN"));
    assert_eq!(dec(legal.given_name()).as_deref(), Some("MARY"));
    assert_eq!(
        dec(legal.second_and_further_given_names_or_initials_thereof()).as_deref(),
        Some("ANN")
    );
    assert_eq!(dec(legal.suffix()).as_deref(), Some("JR"));
    assert_eq!(dec(legal.prefix()).as_deref(), Some("DR"));
    assert!(legal.degree().is_none());
    assert_eq!(dec(legal.name_type_code()).as_deref(), Some("L"));

    let nick: Xpn<'_> = typed(&msg, "PID-5(2)");
    assert_eq!(dec(nick.surname()).as_deref(), Some("MOLLY"));
    assert!(nick.given_name().is_none());
    assert_eq!(dec(nick.name_type_code()).as_deref(), Some("N"));

    let maiden: Xpn<'_> = typed(&msg, "PID-5(3)");
    assert_eq!(dec(maiden.name_type_code()).as_deref(), Some("M"));
    let eff = maiden.effective_date().unwrap().dtm().unwrap().unwrap();
    assert_eq!(
        (eff.year(), eff.month(), eff.day()),
        (1990, Some(11), Some(1))
    );
    assert!(maiden.expiration_date().is_none());

    let dob: Dtm = typed(&msg, "PID-7");
    assert_eq!(dob.precision(), Precision::Day);
    assert_eq!(dob.to_string(), "19620314");

    let home: Xad<'_> = typed(&msg, "PID-11(1)");
    let street = home.street_address().unwrap();
    assert_eq!(
        dec(street.street_or_mailing_address()).as_deref(),
        Some("123 MAIN ST")
    );
    assert_eq!(dec(street.street_name()).as_deref(), Some("MAIN ST"));
    assert_eq!(dec(street.dwelling_number()).as_deref(), Some("123"));
    assert_eq!(dec(home.other_designation()).as_deref(), Some("APT 4B"));
    assert_eq!(dec(home.city()).as_deref(), Some("MADISON"));
    assert_eq!(dec(home.state_or_province()).as_deref(), Some("WI"));
    assert_eq!(
        dec(home.zip_or_postal_code()).as_deref(),
        Some("53703-1234")
    );
    assert_eq!(dec(home.country()).as_deref(), Some("USA"));
    assert_eq!(dec(home.address_type()).as_deref(), Some("H"));
    assert_eq!(dec(home.county_parish_code()).as_deref(), Some("DANE"));
    let mail: Xad<'_> = typed(&msg, "PID-11(2)");
    assert_eq!(dec(mail.address_type()).as_deref(), Some("M"));
    assert!(mail.other_designation().is_none());

    // Old formatted number and components in the same repetition: the components win.
    let home_phone: Xtn<'_> = typed(&msg, "PID-13(1)");
    assert_eq!(
        dec(home_phone.telephone_number()).as_deref(),
        Some("(608)555-0134X12")
    );
    let p = home_phone.phone().unwrap();
    assert_eq!(
        (p.country_code, p.area_code, p.local_number, p.extension),
        (Some("1"), Some("608"), "5550134", Some("12"))
    );
    assert_eq!(p.digits(), "16085550134");
    let email: Xtn<'_> = typed(&msg, "PID-13(2)");
    assert!(email.phone().is_none());
    assert_eq!(
        dec(email.email()).as_deref(),
        Some("mary.obrien@example.org")
    );
    assert_eq!(
        dec(email.telecommunication_use_code()).as_deref(),
        Some("NET")
    );
    let cell: Xtn<'_> = typed(&msg, "PID-13(3)");
    assert_eq!(
        dec(cell.telecommunication_equipment_type()).as_deref(),
        Some("CP")
    );
    assert_eq!(cell.phone().unwrap().local_number, "5559876");
    // Old form only (PID-14): parsed from XTN.1.
    let work: Xtn<'_> = typed(&msg, "PID-14");
    let p = work.phone().unwrap();
    assert_eq!(
        (p.area_code, p.local_number, p.extension),
        (Some("608"), "262-1000", None)
    );
    // NK1-5: bare formatted number, no other component.
    let nk: Xtn<'_> = typed(&msg, "NK1-5");
    assert_eq!(nk.phone().unwrap().digits(), "6085550135");

    let lang: Cwe<'_> = typed(&msg, "PID-15");
    let c = lang.primary().unwrap();
    assert_eq!(dec(c.identifier).as_deref(), Some("E"));
    assert_eq!(dec(c.text).as_deref(), Some("English"));
    assert_eq!(dec(c.coding_system).as_deref(), Some("HL70296"));
    assert!(lang.alternate().is_none());
}

#[test]
fn epic_header_location_provider() {
    let input = data("dt_epic_adt_a01.hl7");
    let msg = Message::parse(&input).unwrap();

    let sending: Hd<'_> = typed(&msg, "MSH-4");
    assert_eq!(dec(sending.namespace_id()).as_deref(), Some("UWHC"));
    assert_eq!(
        dec(sending.universal_id()).as_deref(),
        Some("1.2.840.114350.1.13.283")
    );
    let sent: Ts<'_> = typed(&msg, "MSH-7");
    let t = sent.dtm().unwrap().unwrap();
    assert_eq!(t.precision(), Precision::Second);
    assert_eq!(
        (t.hour(), t.minute(), t.second()),
        (Some(8), Some(30), Some(12))
    );
    assert_eq!(t.offset_minutes(), Some(-300));
    let mt: Msg<'_> = typed(&msg, "MSH-9");
    assert_eq!(dec(mt.message_code()).as_deref(), Some("ADT"));
    assert_eq!(dec(mt.trigger_event()).as_deref(), Some("A01"));
    assert_eq!(dec(mt.message_structure()).as_deref(), Some("ADT_A01"));
    let pt: Pt<'_> = typed(&msg, "MSH-11");
    assert_eq!(dec(pt.processing_id()).as_deref(), Some("P"));
    assert_eq!(dec(pt.processing_mode()).as_deref(), Some("T"));
    let vid: Vid<'_> = typed(&msg, "MSH-12");
    assert_eq!(dec(vid.version_id()).as_deref(), Some("2.5.1"));
    assert_eq!(
        dec(vid.internationalization_code().unwrap().identifier()).as_deref(),
        Some("USA")
    );
    let evn: Dtm = typed(&msg, "EVN-2");
    assert_eq!(evn.precision(), Precision::Minute);
    assert_eq!(evn.to_string(), "202403150830-0500");

    let loc: Pl<'_> = typed(&msg, "PV1-3");
    assert_eq!(
        dec(loc.point_of_care().unwrap().namespace_id()).as_deref(),
        Some("4WEST")
    );
    assert_eq!(
        dec(loc.room().unwrap().namespace_id()).as_deref(),
        Some("412")
    );
    assert_eq!(dec(loc.bed().unwrap().namespace_id()).as_deref(), Some("B"));
    let fac = loc.facility().unwrap();
    assert_eq!(dec(fac.namespace_id()).as_deref(), Some("UWHC"));
    assert_eq!(dec(fac.universal_id_type()).as_deref(), Some("ISO"));
    assert!(loc.location_status().is_none());
    assert_eq!(dec(loc.person_location_type()).as_deref(), Some("N"));
    assert_eq!(
        dec(loc.building().unwrap().namespace_id()).as_deref(),
        Some("MAIN")
    );
    assert_eq!(
        dec(loc.floor().unwrap().namespace_id()).as_deref(),
        Some("4")
    );
    assert_eq!(
        dec(loc.location_description()).as_deref(),
        Some("4 West Medical")
    );

    let attending: Xcn<'_> = typed(&msg, "PV1-7(1)");
    assert_eq!(dec(attending.id_number()).as_deref(), Some("1234567890"));
    assert_eq!(dec(attending.surname()).as_deref(), Some("WELBY"));
    assert_eq!(dec(attending.given_name()).as_deref(), Some("MARCUS"));
    assert_eq!(
        dec(attending.second_and_further_given_names_or_initials_thereof()).as_deref(),
        Some("J")
    );
    assert_eq!(dec(attending.suffix()).as_deref(), Some("III"));
    assert_eq!(dec(attending.prefix()).as_deref(), Some("DR"));
    assert_eq!(dec(attending.degree()).as_deref(), Some("MD"));
    let npi = attending.assigning_authority().unwrap();
    assert_eq!(dec(npi.namespace_id()).as_deref(), Some("NPI"));
    assert_eq!(
        dec(npi.universal_id()).as_deref(),
        Some("2.16.840.1.113883.4.6")
    );
    assert_eq!(dec(attending.name_type_code()).as_deref(), Some("L"));
    assert_eq!(
        dec(attending.identifier_type_code()).as_deref(),
        Some("NPI")
    );
    let internal: Xcn<'_> = typed(&msg, "PV1-7(2)");
    assert_eq!(
        dec(internal.identifier_type_code()).as_deref(),
        Some("PROVID")
    );
    assert_eq!(
        dec(internal.assigning_authority().unwrap().namespace_id()).as_deref(),
        Some("EPIC")
    );

    let admit: Dtm = typed(&msg, "PV1-44");
    assert_eq!(admit.to_string(), "20240315082500-0500");
    let set_id: Si = typed(&msg, "PID-1");
    assert_eq!(set_id.get(), 1);
    let coverage_start: Dt = typed(&msg, "IN1-12");
    assert_eq!(
        (coverage_start.year(), coverage_start.day()),
        (2024, Some(1))
    );
}

#[test]
fn cerner_component_phones_and_coded_values() {
    let input = data("dt_cerner_adt_a08.hl7");
    let msg = Message::parse(&input).unwrap();
    assert_eq!(msg.delimiters().truncation, Some(b'#'));

    let sent: Dtm = typed(&msg, "MSH-7");
    assert_eq!(sent.precision(), Precision::Fraction(4));
    assert_eq!(sent.nanosecond(), Some(123_400_000));
    assert_eq!(sent.offset_minutes(), Some(0));
    assert_eq!(sent.to_string(), "20240702141516.1234+0000");

    let name: Xpn<'_> = typed(&msg, "PID-5(1)");
    assert_eq!(dec(name.surname()).as_deref(), Some("Nguyen"));
    assert_eq!(dec(name.name_representation_code()).as_deref(), Some("A"));
    assert_eq!(dec(name.called_by()).as_deref(), Some("Ti"));

    let cmrn: Cx<'_> = typed(&msg, "PID-3(2)");
    assert_eq!(
        dec(cmrn.assigning_authority().unwrap().namespace_id()).as_deref(),
        Some("CMRN")
    );
    let mrn: Cx<'_> = typed(&msg, "PID-3(1)");
    assert_eq!(
        dec(mrn.assigning_facility().unwrap().namespace_id()).as_deref(),
        Some("OHMC")
    );

    // Component form only: no formatted number in XTN.1.
    let home: Xtn<'_> = typed(&msg, "PID-13(1)");
    assert!(home.telephone_number().is_none());
    let p = home.phone().unwrap();
    assert_eq!(
        (p.country_code, p.area_code, p.local_number),
        (Some("1"), Some("816"), "5550199")
    );
    let cell: Xtn<'_> = typed(&msg, "PID-13(2)");
    assert_eq!(cell.phone().unwrap().any_text, Some("call after 5pm"));
    let mail: Xtn<'_> = typed(&msg, "PID-13(3)");
    assert_eq!(
        dec(mail.communication_address()).as_deref(),
        Some("thi.nguyen@example.com")
    );
    let fax: Xtn<'_> = typed(&msg, "PID-13(4)");
    assert_eq!(
        dec(fax.telecommunication_equipment_type()).as_deref(),
        Some("FX")
    );
    assert_eq!(fax.phone().unwrap().local_number, "8165550177");
    let work: Xtn<'_> = typed(&msg, "PID-14");
    assert_eq!(work.phone().unwrap().extension, Some("2231"));

    // v2.7+ PL: point of care as HD.
    let loc: Pl<'_> = typed(&msg, "PV1-3");
    let poc = loc.point_of_care().unwrap();
    assert_eq!(dec(poc.namespace_id()).as_deref(), Some("ED"));
    assert_eq!(dec(poc.universal_id()).as_deref(), Some("1.2.3.4.5"));
    assert_eq!(
        dec(loc.building().unwrap().namespace_id()).as_deref(),
        Some("ED BUILDING")
    );

    // CWE with both triplets, versions, original text and OID.
    let code: Cwe<'_> = typed(&msg, "OBX-3");
    let all: Vec<_> = code.codings().collect();
    assert_eq!(all.len(), 2);
    assert_eq!(dec(all[0].identifier).as_deref(), Some("8302-2"));
    assert_eq!(
        dec(all[0].coding_system_version_id).as_deref(),
        Some("2.76")
    );
    assert_eq!(
        dec(all[0].coding_system_oid).as_deref(),
        Some("2.16.840.1.113883.6.1")
    );
    assert_eq!(dec(all[1].identifier).as_deref(), Some("HT"));
    assert_eq!(dec(all[1].coding_system).as_deref(), Some("99CRN"));
    assert_eq!(dec(all[1].coding_system_version_id).as_deref(), Some("V1"));
    assert_eq!(
        dec(code.original_text()).as_deref(),
        Some("measured standing")
    );
    let value: Cwe<'_> = typed(&msg, "OBX-5");
    assert_eq!(dec(value.identifier()).as_deref(), Some("170"));
    let n = value.identifier().unwrap().nm().unwrap();
    assert_eq!(n.as_f64(), 170.0);
    let visit: Cx<'_> = typed(&msg, "PV1-19");
    assert_eq!(
        dec(visit.identifier_type_code()).as_deref(),
        Some("FIN NBR")
    );
}

#[test]
fn oru_values_timestamps_and_formatted_text() {
    let input = data("dt_oru_r01_two_patients.hl7");
    let msg = Message::parse(&input).unwrap();

    let glucose: Nm<'_> = typed(&msg, "OBX(1)-5");
    assert_eq!(glucose.as_f64(), 105.0);
    let sodium: Nm<'_> = typed(&msg, "OBX(2)-5");
    assert_eq!(sodium.as_str(), "+0140.0");
    assert_eq!(sodium.decimal(), "140.0");
    let chol: Nm<'_> = typed(&msg, "OBX(6)-5");
    assert_eq!((chol.decimal().as_ref(), chol.as_f64()), ("-0.5", -0.5));

    let report = Ft::from_raw(msg.raw("OBX(3)-5").unwrap(), msg.delimiters()).unwrap();
    assert_eq!(
        report.decode().unwrap(),
        r"Comprehensive metabolic panel\.br\Glucose elevated & sodium normal.\.br\\.br\Reviewed by Dr. Welby\.sp2\End of report"
    );
    assert_eq!(
        report.plain_text().unwrap(),
        "Comprehensive metabolic panel\nGlucose elevated & sodium normal.\n\nReviewed by Dr. Welby\n\nEnd of report"
    );

    // Observation times of every precision in one message.
    let cases = [
        ("OBX(1)-14", "2024031509", Precision::Hour, None),
        ("OBX(2)-14", "202403150915", Precision::Minute, None),
        (
            "OBX(3)-14",
            "20240315091512.5-0500",
            Precision::Fraction(1),
            Some(-300),
        ),
        ("OBX(5)-14", "20240315", Precision::Day, None),
        ("OBX(6)-14", "2024", Precision::Year, None),
        ("OBR(3)-7", "202403", Precision::Month, None),
        ("OBR(2)-7", "2024031507-0500", Precision::Hour, Some(-300)),
        (
            "MSH-7",
            "20240315101500-0500",
            Precision::Second,
            Some(-300),
        ),
    ];
    for (path, text, precision, offset) in cases {
        let t: Dtm = typed(&msg, path);
        assert_eq!(t.precision(), precision, "{path}");
        assert_eq!(t.offset_minutes(), offset, "{path}");
        assert_eq!(t.to_string(), text, "{path}");
    }
    let t: Dtm = typed(&msg, "OBX(3)-14");
    assert_eq!(t.nanosecond(), Some(500_000_000));
    assert_eq!(t.time().unwrap().to_string(), "091512.5-0500");
    let partial: Dt = typed(&msg, "PID(2)-7");
    assert_eq!(
        (partial.year(), partial.month(), partial.day()),
        (1970, Some(1), None)
    );

    let placer: Ei<'_> = typed(&msg, "OBR(1)-2");
    assert_eq!(dec(placer.entity_identifier()).as_deref(), Some("ORD1001"));
    assert_eq!(dec(placer.namespace_id()).as_deref(), Some("EPIC"));
    let hd = placer.assigning_authority().unwrap();
    assert_eq!(hd.raw(), b"EPIC");
    let spec_type: Cwe<'_> = typed(&msg, "SPM-4");
    assert_eq!(
        dec(spec_type.name_of_coding_system()).as_deref(),
        Some("SCT")
    );
    let units: Cwe<'_> = typed(&msg, "OBX(1)-6");
    assert_eq!(dec(units.name_of_coding_system()).as_deref(), Some("UCUM"));
    assert!(units.text().is_none());
}

#[test]
fn bad_values_are_typed_errors() {
    let d = Delimiters::default();
    for (raw, offset, problem) in [
        ("2024-03-15", 4, Problem::BadOffset),
        ("20240230", 6, Problem::DayOutOfRange),
        ("202403151", 9, Problem::BadLength),
        ("20240315T1200", 8, Problem::NotADigit),
        ("2024031512.5", 10, Problem::BadFraction),
    ] {
        match Dtm::from_raw(raw.as_bytes(), &d) {
            Err(DatatypeError::Invalid {
                offset: o,
                problem: p,
                datatype,
            }) => {
                assert_eq!((datatype, o, p), ("DTM", offset, problem), "{raw}")
            }
            other => panic!("{raw}: {other:?}"),
        }
    }
    // Display names the problem and the place, not the value.
    let e = Dtm::from_raw(b"19621399", &d).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid DTM value at byte 4: month out of range (01-12)"
    );
    assert!(!e.to_string().contains("1962"));
    assert!(Tm::from_raw(b"25", &d).is_err());
    assert!(Nm::from_raw(b"12,5", &d).is_err());
    assert!(Si::from_raw(b"1.0", &d).is_err());
    assert_eq!(
        Dtm::from_raw(b"\"\"", &d),
        Err(DatatypeError::Null { datatype: "DTM" })
    );
    // A TS whose time is the HL7 null.
    assert!(Ts::parse(b"\"\"", &d).dtm().is_err());
    assert_eq!(Ts::parse(b"", &d).dtm(), Ok(None));
    // Bad escapes are reported by the decoder; decode_lossy keeps the text.
    let t = Text::new(b"caf\xe9", &d);
    assert!(matches!(t.decode(), Err(DatatypeError::Decode(_))));
    assert_eq!(t.decode_lossy(), "caf\u{fffd}");
}

#[test]
fn text_in_a_latin1_message() {
    let input = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A08|1|P|2.5||||||8859/1\rPID|1||1^^^H^MR||M\xdcLLER^J\xc9R\xd4ME\r";
    let msg = Message::parse(input).unwrap();
    assert_eq!(msg.charset(), Charset::LATIN1);
    let name: Xpn<'_> = typed(&msg, "PID-5");
    let surname = name.surname().unwrap();
    // Views reached from a message decode in its character set (MSH-18).
    assert_eq!(surname.decode().unwrap(), "M\u{dc}LLER");
    assert_eq!(surname.charset(), Charset::LATIN1);
    let opts = DecodeOptions::default();
    assert_eq!(
        surname.decode_with(&opts, msg.charset()).unwrap(),
        "M\u{dc}LLER"
    );
    assert_eq!(
        name.given_name()
            .unwrap()
            .decode_with(&opts, msg.charset())
            .unwrap(),
        "J\u{c9}R\u{d4}ME"
    );
}

#[test]
fn other_delimiters_are_honoured() {
    let d = Delimiters {
        field: b'#',
        component: b':',
        repetition: b'*',
        escape: Some(b'!'),
        subcomponent: b'$',
        truncation: None,
    };
    let cx = Cx::parse(b"A!S!1:::AUTH$1.2$ISO:MR", &d);
    assert_eq!(dec(cx.id_number()).as_deref(), Some("A:1"));
    assert_eq!(
        dec(cx.assigning_authority().unwrap().universal_id()).as_deref(),
        Some("1.2")
    );
    assert_eq!(dec(cx.identifier_type_code()).as_deref(), Some("MR"));
    let t = Dtm::parse(b"20240101:S", &d).unwrap();
    assert_eq!(t.precision(), Precision::Day);
}

#[test]
fn views_borrow_the_input() {
    let input = data("dt_epic_adt_a01.hl7");
    let msg = Message::parse(&input).unwrap();
    let cx: Cx<'_> = typed(&msg, "PID-3(2)");
    let id = cx.id_number().unwrap();
    let range = input.as_ptr_range();
    assert!(range.contains(&id.raw().as_ptr()));
    assert!(matches!(id.decode().unwrap(), Cow::Borrowed("12345")));
}

#[cfg(feature = "chrono")]
#[test]
fn chrono_conversions_keep_precision() {
    use chrono::{Datelike, Timelike};
    let d = Delimiters::default();
    let t = Dtm::parse(b"20240315091512.5-0500", &d).unwrap();
    let c = t.to_chrono();
    assert_eq!(c.precision, Precision::Fraction(1));
    assert_eq!(c.naive.nanosecond(), 500_000_000);
    assert_eq!(
        c.with_offset().unwrap().to_rfc3339(),
        "2024-03-15T09:15:12.500-05:00"
    );
    assert_eq!(Dtm::from_chrono(&c), t);
    let month = Dtm::parse(b"202403", &d).unwrap().to_chrono();
    assert_eq!((month.naive.month(), month.naive.day()), (3, 1));
    assert_eq!(month.precision, Precision::Month);
    assert!(month.with_offset().is_none());
    let utc = chrono::FixedOffset::east_opt(0).unwrap();
    assert_eq!(
        month.with_offset_or(utc).unwrap().to_rfc3339(),
        "2024-03-01T00:00:00+00:00"
    );
    let (date, p) = Dt::parse(b"19620314", &d).unwrap().to_chrono();
    assert_eq!((date.year(), date.ordinal(), p), (1962, 73, Precision::Day));
    let (time, off, p) = Tm::parse(b"0930-0800", &d).unwrap().to_chrono();
    assert_eq!((time.hour(), time.minute()), (9, 30));
    assert_eq!(off.unwrap().local_minus_utc(), -8 * 3600);
    assert_eq!(p, Precision::Minute);
}

// ------------------------------------------------------------------------ shared corpus checks

fn corpus_files() -> Option<Vec<(String, Vec<u8>)>> {
    let root = ehrkit_testkit::shared::require("corpus", "corpus datatype checks")?;
    let mut dirs = vec![root.join("hl7v2")];
    for sub in [
        "microsoft-fhir-converter",
        "hl7-v2-to-fhir-ig",
        "linuxforhealth",
    ] {
        dirs.push(root.join("v2-to-fhir").join(sub).join("input"));
    }
    let mut out: Vec<_> = dirs
        .iter()
        .flat_map(|dir| ehrkit_testkit::shared::files(dir, &["hl7", "txt"]))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    Some(out)
}

#[test]
fn corpus_typed_fields() {
    let Some(files) = corpus_files() else { return };
    let (mut values, mut dtm_ok, mut dtm_bad) = (0usize, 0usize, 0usize);
    for (file, bytes) in &files {
        for msg in Message::parse_all(bytes) {
            let Ok(msg) = msg else { continue };
            let d = *msg.delimiters();
            for seg in msg.segments() {
                let name = seg.name();
                let reps = |n: usize| -> Vec<&[u8]> {
                    match seg.field_raw(n) {
                        Some(f) if !(name == "MSH" && n <= 2) => repetitions(f, &d).collect(),
                        _ => Vec::new(),
                    }
                };
                let composite_fields: &[(&str, usize)] = &[
                    ("PID", 3),
                    ("PID", 5),
                    ("PID", 11),
                    ("PID", 13),
                    ("PID", 14),
                    ("PV1", 3),
                    ("PV1", 7),
                    ("OBX", 3),
                    ("OBR", 4),
                    ("OBR", 16),
                    ("MSH", 9),
                    ("MSH", 4),
                ];
                for &(seg_name, n) in composite_fields {
                    if seg_name != name {
                        continue;
                    }
                    for rep in reps(n) {
                        values += 1;
                        // Any type: the components put back together give the value.
                        let cx = Cx::parse(rep, &d);
                        let joined: Vec<&[u8]> = (1..=cx.component_count())
                            .map(|i| cx.component_raw(i).unwrap())
                            .collect();
                        assert_eq!(joined.join(&d.component), rep, "{file} {name}-{n}");
                        for i in 1..=cx.component_count() {
                            if let Some(t) = cx.component(i) {
                                let _ = t.decode_lossy();
                            }
                        }
                        let _ = Xpn::parse(rep, &d).surname().map(|t| t.decode_lossy());
                        let _ = Xtn::parse(rep, &d).phone();
                        let _ = Cwe::parse(rep, &d).codings().count();
                        let _ = Pl::parse(rep, &d).facility().map(|h| h.universal_id());
                        let _ = Xcn::parse(rep, &d)
                            .assigning_authority()
                            .map(|h| h.namespace_id());
                    }
                }
                let dtm_fields: &[(&str, usize)] = &[
                    ("MSH", 7),
                    ("EVN", 2),
                    ("PID", 7),
                    ("PV1", 44),
                    ("OBR", 7),
                    ("OBR", 22),
                    ("OBX", 14),
                    ("ORC", 9),
                    ("SPM", 17),
                ];
                for &(seg_name, n) in dtm_fields {
                    if seg_name != name {
                        continue;
                    }
                    for rep in reps(n).into_iter().filter(|r| !r.is_empty()) {
                        let time = &rep[..rep
                            .iter()
                            .position(|b| *b == d.component)
                            .unwrap_or(rep.len())];
                        match Dtm::parse(rep, &d) {
                            Ok(t) => {
                                dtm_ok += 1;
                                // Exact round-trip of what was written.
                                assert_eq!(t.to_string().as_bytes(), time, "{file} {name}-{n}");
                            }
                            Err(e) => {
                                dtm_bad += 1;
                                // The corpus's only bad times: a "DOB" placeholder and 29 Feb 2017.
                                let known = time == b"DOB" || time.starts_with(b"20170229");
                                assert!(known, "{file} {name}-{n}: {e}");
                            }
                        }
                    }
                }
            }
        }
    }
    println!(
        "corpus: {} files, {values} composite values, DTM {dtm_ok} valid / {dtm_bad} invalid",
        files.len()
    );
    assert!(values > 500, "{values}");
    assert!(dtm_ok > 800, "{dtm_ok}");
}

// ----------------------------------------------------------------------------------- proptest

fn precision_strategy() -> impl Strategy<Value = Precision> {
    prop_oneof![
        Just(Precision::Year),
        Just(Precision::Month),
        Just(Precision::Day),
        Just(Precision::Hour),
        Just(Precision::Minute),
        Just(Precision::Second),
        (1u8..=4).prop_map(Precision::Fraction),
    ]
}

fn days_in(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Text for one component: anything printable, delimiters and escape characters included.
fn component_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r"[A-Za-z0-9 .'\-^&~|\\éü]{0,12}").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dtm_format_parse_round_trip(
        year in 0u16..=9999,
        month in 1u8..=12,
        day_seed in 0u8..31,
        hour in 0u8..24,
        minute in 0u8..60,
        second in 0u8..60,
        nanos in 0u32..1_000_000_000,
        precision in precision_strategy(),
        offset in proptest::option::of(-1439i16..=1439),
    ) {
        let day = day_seed % days_in(year, month) + 1;
        let parts = DateTimeParts { year, month, day, hour, minute, second, nanosecond: nanos, offset_minutes: offset };
        let t = Dtm::from_parts(&parts, precision).unwrap();
        let text = t.to_string();
        let expect_len = match precision {
            Precision::Year => 4, Precision::Month => 6, Precision::Day => 8,
            Precision::Hour => 10, Precision::Minute => 12, Precision::Second => 14,
            Precision::Fraction(n) => 15 + usize::from(n),
        } + if offset.is_some() { 5 } else { 0 };
        prop_assert_eq!(text.len(), expect_len);
        let back = Dtm::parse(text.as_bytes(), &Delimiters::default()).unwrap();
        prop_assert_eq!(back, t);
        prop_assert_eq!(back.precision(), precision);
        prop_assert_eq!(back.year(), year);
        prop_assert_eq!(back.offset_minutes(), offset);
        if precision >= Precision::Day { prop_assert_eq!(back.day(), Some(day)); }
        if precision >= Precision::Second { prop_assert_eq!(back.second(), Some(second)); }
        if let Precision::Fraction(n) = precision {
            let unit = 10u32.pow(9 - u32::from(n));
            prop_assert_eq!(back.nanosecond(), Some(nanos / unit * unit));
        }
        #[cfg(feature = "chrono")]
        prop_assert_eq!(Dtm::from_chrono(&back.to_chrono()), back);
        // The date and time parts round-trip as DT and TM.
        let d = Delimiters::default();
        let date = Dt::parse(back.date().to_string().as_bytes(), &d).unwrap();
        prop_assert_eq!(date.to_string(), back.date().to_string());
        prop_assert_eq!((date.year(), date.month(), date.day()), (back.year(), back.month(), back.day()));
        if let Some(time) = back.time() {
            let tm = Tm::parse(time.to_string().as_bytes(), &d).unwrap();
            prop_assert_eq!(tm, time);
            prop_assert_eq!(Some(tm.hour()), back.hour());
            prop_assert_eq!(tm.minute(), back.minute());
            prop_assert_eq!(tm.offset_minutes(), offset);
        } else {
            prop_assert!(precision < Precision::Hour);
        }
    }

    #[test]
    fn near_valid_dtm_text_round_trips_or_errs_inside(
        text in r"[0-9]{2,16}(\.[0-9]{0,10})?([+-][0-9]{3,5})?",
    ) {
        let d = Delimiters::default();
        match Dtm::parse(text.as_bytes(), &d) {
            // Whatever is accepted is written back exactly as it was.
            Ok(t) => prop_assert_eq!(t.to_string(), text.clone()),
            Err(DatatypeError::Invalid { offset, .. }) => prop_assert!(offset <= text.len()),
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
        if let Ok(t) = Tm::parse(text.as_bytes(), &d) {
            prop_assert_eq!(t.to_string(), text.clone());
        }
        if let Ok(t) = Dt::parse(text.as_bytes(), &d) {
            prop_assert_eq!(t.to_string(), text);
        }
    }

    #[test]
    fn nm_keeps_text_and_converts(
        sign in prop_oneof![Just(""), Just("+"), Just("-")],
        int in "[0-9]{0,8}",
        frac in proptest::option::of("[0-9]{0,6}"),
    ) {
        prop_assume!(!int.is_empty() || frac.as_ref().is_some_and(|f| !f.is_empty()));
        let text = match &frac {
            Some(f) => format!("{sign}{int}.{f}"),
            None => format!("{sign}{int}"),
        };
        let n = Nm::from_raw(text.as_bytes(), &Delimiters::default()).unwrap();
        prop_assert_eq!(n.as_str(), text.as_str());
        let expected: f64 = format!("{sign}0{int}.{}0", frac.clone().unwrap_or_default()).parse().unwrap();
        prop_assert_eq!(n.as_f64(), expected);
        // The canonical decimal is itself a valid NM with the same value and no sign or leading zeros.
        let dec = n.decimal();
        let again = Nm::from_raw(dec.as_bytes(), &Delimiters::default()).unwrap();
        prop_assert_eq!(again.as_f64(), expected);
        prop_assert!(!dec.starts_with('+') && !dec.ends_with('.'));
        prop_assert!(!dec.trim_start_matches('-').starts_with("00"));
        prop_assert_eq!(again.decimal(), dec.clone());
    }

    #[test]
    fn cx_components_round_trip(
        id in component_text(),
        check in component_text(),
        ns in component_text(),
        uid in component_text(),
        kind in component_text(),
        fac in component_text(),
    ) {
        let d = Delimiters::default();
        let e = |s: &str| escape::encode(s, &d).into_owned();
        let raw = format!("{}^{}^^{}&{}&ISO^{}^{}", e(&id), e(&check), e(&ns), e(&uid), e(&kind), e(&fac));
        let cx = Cx::parse(raw.as_bytes(), &d);
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        prop_assert_eq!(dec(cx.id_number()), some(&id));
        prop_assert_eq!(dec(cx.identifier_check_digit()), some(&check));
        prop_assert!(cx.check_digit_scheme().is_none());
        let aa = cx.assigning_authority().unwrap();
        prop_assert_eq!(dec(aa.namespace_id()), some(&ns));
        prop_assert_eq!(dec(aa.universal_id()), some(&uid));
        prop_assert_eq!(dec(aa.universal_id_type()), Some("ISO".to_string()));
        prop_assert_eq!(dec(cx.identifier_type_code()), some(&kind));
        prop_assert_eq!(dec(cx.assigning_facility().and_then(|h| h.namespace_id())), some(&fac));
        prop_assert_eq!(cx.component_count(), 6);
        prop_assert!(cx.component_raw(7).is_none());
    }

    #[test]
    fn xpn_components_round_trip(
        names in proptest::collection::vec(component_text(), 7),
        own_prefix in component_text(),
    ) {
        let d = Delimiters::default();
        let e = |s: &str| escape::encode(s, &d).into_owned();
        let raw = format!(
            "{}&{}^{}^{}^{}^{}^{}^{}",
            e(&names[0]), e(&own_prefix), e(&names[1]), e(&names[2]), e(&names[3]), e(&names[4]),
            e(&names[5]), e(&names[6]),
        );
        let xpn = Xpn::parse(raw.as_bytes(), &d);
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let fam = xpn.family_name();
        prop_assert_eq!(dec(fam.and_then(|f| f.surname())), some(&names[0]));
        prop_assert_eq!(dec(fam.and_then(|f| f.own_surname_prefix())), some(&own_prefix));
        prop_assert_eq!(dec(xpn.given_name()), some(&names[1]));
        prop_assert_eq!(dec(xpn.second_and_further_given_names_or_initials_thereof()), some(&names[2]));
        prop_assert_eq!(dec(xpn.suffix()), some(&names[3]));
        prop_assert_eq!(dec(xpn.prefix()), some(&names[4]));
        prop_assert_eq!(dec(xpn.degree()), some(&names[5]));
        prop_assert_eq!(dec(xpn.name_type_code()), some(&names[6]));
        prop_assert!(xpn.name_representation_code().is_none());
    }

    #[test]
    fn arbitrary_input_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..40)) {
        let d = Delimiters::default();
        let _ = Dtm::parse(&raw, &d);
        let _ = Dt::parse(&raw, &d);
        let _ = Tm::parse(&raw, &d);
        let _ = Nm::parse(&raw);
        let _ = Si::parse(&raw);
        let x = Xtn::parse(&raw, &d);
        let _ = x.phone();
        let _ = x.email();
        let c = Cwe::parse(&raw, &d);
        prop_assert!(c.codings().count() <= 3);
        let cx = Cx::parse(&raw, &d);
        let _ = cx.assigning_authority().map(|h| h.universal_id());
        let _ = Ei::parse(&raw, &d).assigning_authority();
        let _ = Ft::new(&raw, &d).plain_text();
        let _ = Pl::parse(&raw, &d).comprehensive_location_identifier().map(|e| e.assigning_authority());
    }
}
