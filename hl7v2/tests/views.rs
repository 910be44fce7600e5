//! Typed repetition iterators and views (`segment.field(n)` → repetitions → `Cx`, `Xpn`, ...), read
//! the way a v2 → FHIR mapper and the MPI's PID reader read them: by component name, decoded, with
//! the HL7 null and absent/empty values handled the same way everywhere.

use ehrkit_hl7v2::datatypes::{
    Cwe, Cx, Ed, Ei, Hd, Pl, Sn, Text, Ts, View, Xad, Xcn, Xon, Xpn, Xtn,
};
use ehrkit_hl7v2::{Message, Value};

const ADT: &[u8] = b"MSH|^~\\&|EPIC|UCH^1.2.840.114350^ISO|LAB|UCH|20250314083015-0700||ADT^A01^ADT_A01|8234119|P|2.5.1\r\
EVN|A01|20250314083000\r\
PID|1||E3826471^^^EPIC&1.2.840.114350.1.13&ISO^MR^UCH~123-45-6789^^^SSA^SS~\"\"~~999^^^MPI^PI||SANTOS\\S\\GARCIA^MARIA^J^^DR^^L~SANTOS^MARIE^^^^^A||19761102|F|||1420 Larimer St^Apt 4^DENVER^CO^80202^USA^H~\"\"||^PRN^PH^^1^303^5551212~^NET^Internet^maria@example.org|||||||||||||||||Y^Yes^HL70136\r\
PD1|||GOOD HEALTH CLINIC^L^^^^NPI&2.16.840.1.113883.4.6&ISO^XX^^^1234567893\r\
PV1|1|I|4WEST^412^B^UCH&1.2.3&ISO||||1234567890^WELBY^MARCUS^J^^DR^MD^^NPI&2.16.840.1.113883.4.6&ISO^L^^^NPI\r\
OBX|1|SN|2345-7^Glucose^LN||<^70|mg/dL^^UCUM|70-99|L|||F\r\
OBX|2|ED|PDF^Report^L||LAB^AP^PDF^Base64^JVBERi0xLjQK||||||F\r";

#[test]
fn pid3_identifiers_by_component_name() {
    let msg = Message::parse(ADT).unwrap();
    let pid = msg.segment("PID", 1).unwrap();
    let f3 = pid.field(3);
    assert_eq!(f3.number(), 3);
    assert_eq!(f3.repetition_count(), 5);
    let ids: Vec<Cx<'_>> = f3.repetitions().collect();
    assert_eq!(ids.len(), 5);
    let mrn = ids[0];
    assert_eq!(mrn.id().unwrap().value().as_deref(), Some("E3826471"));
    let auth: Hd<'_> = mrn.assigning_authority().unwrap();
    assert_eq!(
        auth.namespace_id().unwrap().value().as_deref(),
        Some("EPIC")
    );
    assert_eq!(
        auth.universal_id().unwrap().value().as_deref(),
        Some("1.2.840.114350.1.13")
    );
    assert_eq!(
        auth.universal_id_type().unwrap().value().as_deref(),
        Some("ISO")
    );
    assert_eq!(
        mrn.identifier_type_code().unwrap().value().as_deref(),
        Some("MR")
    );
    assert_eq!(
        mrn.assigning_facility()
            .unwrap()
            .namespace_id()
            .unwrap()
            .value()
            .as_deref(),
        Some("UCH")
    );
    // The HL7 null repetition: a view that says so, with no data.
    assert!(ids[2].is_null());
    assert!(ids[2].id().unwrap().is_null());
    assert_eq!(ids[2].id().unwrap().value(), None);
    // The empty repetition between two others: empty view, every component absent.
    assert!(ids[3].is_empty());
    assert!(ids[3].id().is_none());
    assert_eq!(f3.get::<Cx<'_>>(5).unwrap().id().unwrap().raw(), b"999");
    assert!(f3.get::<Cx<'_>>(6).is_none());
    assert!(f3.get::<Cx<'_>>(0).is_none());
}

#[test]
fn names_addresses_telecoms_are_decoded() {
    let msg = Message::parse(ADT).unwrap();
    let pid = msg.segment("PID", 1).unwrap();
    let names: Vec<Xpn<'_>> = pid.field(5).repetitions().collect();
    assert_eq!(
        names[0].surname().unwrap().value().as_deref(),
        Some("SANTOS^GARCIA")
    );
    assert_eq!(
        names[0].given_name().unwrap().value().as_deref(),
        Some("MARIA")
    );
    assert_eq!(names[0].prefix().unwrap().value().as_deref(), Some("DR"));
    assert_eq!(
        names[0].name_type_code().unwrap().value().as_deref(),
        Some("L")
    );
    assert_eq!(
        names[1].name_type_code().unwrap().value().as_deref(),
        Some("A")
    );
    let dob = pid
        .field(7)
        .first::<Ts<'_>>()
        .unwrap()
        .dtm()
        .unwrap()
        .unwrap();
    assert_eq!(
        (dob.year(), dob.month(), dob.day()),
        (1976, Some(11), Some(2))
    );
    assert_eq!(pid.field(8).text().as_deref(), Some("F"));
    let addrs: Vec<Xad<'_>> = pid.field(11).repetitions().collect();
    assert_eq!(addrs.len(), 2);
    assert_eq!(
        addrs[0]
            .street_address()
            .unwrap()
            .street_or_mailing_address()
            .unwrap()
            .value()
            .as_deref(),
        Some("1420 Larimer St")
    );
    assert_eq!(addrs[0].city().unwrap().value().as_deref(), Some("DENVER"));
    assert!(addrs[1].is_null());
    let telecoms: Vec<Xtn<'_>> = pid.field(13).repetitions().collect();
    assert_eq!(telecoms[0].phone().unwrap().digits(), "13035551212");
    assert_eq!(
        telecoms[1].email().unwrap().value().as_deref(),
        Some("maria@example.org")
    );
    let ethnic = pid.field(30).first::<Cwe<'_>>().unwrap();
    assert_eq!(ethnic.identifier().unwrap().value().as_deref(), Some("Y"));
    assert_eq!(
        ethnic.name_of_coding_system().unwrap().value().as_deref(),
        Some("HL70136")
    );
}

#[test]
fn absent_empty_and_null_fields() {
    let msg = Message::parse(ADT).unwrap();
    let pid = msg.segment("PID", 1).unwrap();
    let absent = pid.field(40);
    assert!(!absent.is_present());
    assert_eq!(absent.value(), Value::Absent);
    assert_eq!(absent.repetition_count(), 0);
    assert!(absent.first::<Cx<'_>>().is_none());
    assert_eq!(absent.text(), None);
    let empty = pid.field(2);
    assert!(empty.is_present());
    assert_eq!(empty.value(), Value::Empty);
    assert_eq!(empty.repetitions::<Cx<'_>>().count(), 0);
    assert!(pid.field(0).raw().is_none());
    assert_eq!(pid.field_raw(8), Some(&b"F"[..]));
}

#[test]
fn provider_organization_location_and_results() {
    let msg = Message::parse(ADT).unwrap();
    let pv1 = msg.segment("PV1", 1).unwrap();
    let loc = pv1.field(3).first::<Pl<'_>>().unwrap();
    assert_eq!(
        loc.point_of_care()
            .unwrap()
            .namespace_id()
            .unwrap()
            .value()
            .as_deref(),
        Some("4WEST")
    );
    assert_eq!(
        loc.facility().unwrap().universal_id().unwrap().raw(),
        b"1.2.3"
    );
    let doc = pv1.field(7).first::<Xcn<'_>>().unwrap();
    assert_eq!(
        doc.id_number().unwrap().value().as_deref(),
        Some("1234567890")
    );
    assert_eq!(doc.surname().unwrap().value().as_deref(), Some("WELBY"));
    assert_eq!(
        doc.identifier_type_code().unwrap().value().as_deref(),
        Some("NPI")
    );
    let org = msg
        .segment("PD1", 1)
        .unwrap()
        .field(3)
        .first::<Xon<'_>>()
        .unwrap();
    assert_eq!(
        org.organization_name().unwrap().value().as_deref(),
        Some("GOOD HEALTH CLINIC")
    );
    assert_eq!(
        org.identifier().unwrap().value().as_deref(),
        Some("1234567893")
    );
    let obx: Vec<_> = msg.segments_named("OBX").collect();
    assert_eq!(obx.len(), 2);
    let sn = obx[0].field(5).first::<Sn<'_>>().unwrap();
    assert_eq!(sn.comparator().unwrap().value().as_deref(), Some("<"));
    assert_eq!(sn.num1().unwrap().nm().unwrap().as_f64(), 70.0);
    let units = obx[0].field(6).first::<Cwe<'_>>().unwrap();
    assert_eq!(
        units.identifier().unwrap().value().as_deref(),
        Some("mg/dL")
    );
    let ed = obx[1].field(5).first::<Ed<'_>>().unwrap();
    assert_eq!(ed.data().unwrap().raw(), b"JVBERi0xLjQK");
    let sender = msg
        .segment("MSH", 1)
        .unwrap()
        .field(4)
        .first::<Hd<'_>>()
        .unwrap();
    assert_eq!(
        sender.universal_id().unwrap().value().as_deref(),
        Some("1.2.840.114350")
    );
    assert_eq!(<Ei<'_> as View<'_>>::CODE, "EI");
    assert_eq!(<Text<'_> as View<'_>>::CODE, "ST");
}

#[test]
fn views_split_components_at_character_boundaries() {
    // A Big5 character whose trail byte is 0x5E ("^") inside the surname: the views read the
    // message's character set, so it neither splits the name nor decodes wrongly.
    let ch = (0x4E00u32..0x9FA5)
        .filter_map(char::from_u32)
        .find(|c| {
            let s = c.to_string();
            let (b, _, bad) = encoding_rs::BIG5.encode(&s);
            !bad && b.len() == 2 && b[1] == b'^'
        })
        .expect("a Big5 character ending in 0x5E");
    let enc = encoding_rs::BIG5.encode(&ch.to_string()).0.into_owned();
    let mut raw = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5||||||BIG-5\rPID|1||42||".to_vec();
    raw.extend_from_slice(&enc);
    raw.extend_from_slice(b"^MEI||19800101|F\r");
    let msg = Message::parse(&raw).unwrap();
    let pid = msg.segment("PID", 1).unwrap();
    let name = pid.field(5).first::<Xpn<'_>>().unwrap();
    assert_eq!(name.component_count(), 2);
    assert_eq!(
        name.surname().unwrap().value().as_deref(),
        Some(ch.to_string().as_str())
    );
    assert_eq!(name.given_name().unwrap().value().as_deref(), Some("MEI"));
    let typed: Xpn<'_> = msg.typed("PID-5").unwrap().unwrap();
    assert_eq!(typed.given_name().unwrap().raw(), b"MEI");
}

#[test]
fn latin1_views_decode_in_the_message_charset() {
    let raw =
        b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5||||||8859/1\rPID|1||42||M\xdcLLER^J\xd6RG\r";
    let msg = Message::parse(raw).unwrap();
    let name = msg
        .segment("PID", 1)
        .unwrap()
        .field(5)
        .first::<Xpn<'_>>()
        .unwrap();
    assert_eq!(name.surname().unwrap().value().as_deref(), Some("MÜLLER"));
    assert_eq!(name.given_name().unwrap().decode().unwrap(), "JÖRG");
}

#[test]
fn repetitions_of_empty_null_and_sparse_fields() {
    let msg =
        Message::parse(b"MSH|^~\\&|A|B|C|D|20250101||ADT^A01|1|P|2.5\rPID|1||A~~B||\"\"|X~|~\r")
            .unwrap();
    let pid = msg.segment("PID", 1).unwrap();
    let reps = |n: usize| -> (usize, Vec<Option<&[u8]>>) {
        let f = pid.field(n);
        (
            f.repetition_count(),
            (0..=4).map(|r| f.repetition_raw(r)).collect(),
        )
    };
    // One repetition; r = 0 and past the end are absent.
    assert_eq!(reps(1), (1, vec![None, Some(&b"1"[..]), None, None, None]));
    // An empty field (`||`) has no repetitions at all.
    assert_eq!(reps(2), (0, vec![None; 5]));
    assert_eq!(reps(4), (0, vec![None; 5]));
    // An empty repetition between two others is there, and empty.
    assert_eq!(
        reps(3),
        (
            3,
            vec![None, Some(&b"A"[..]), Some(&b""[..]), Some(&b"B"[..]), None]
        )
    );
    // The HL7 null is one repetition.
    assert_eq!(
        reps(5),
        (1, vec![None, Some(&b"\"\""[..]), None, None, None])
    );
    // Trailing empty repetitions count.
    assert_eq!(
        reps(6),
        (2, vec![None, Some(&b"X"[..]), Some(&b""[..]), None, None])
    );
    assert_eq!(
        reps(7),
        (2, vec![None, Some(&b""[..]), Some(&b""[..]), None, None])
    );
    // Absent.
    assert_eq!(reps(30), (0, vec![None; 5]));
}
