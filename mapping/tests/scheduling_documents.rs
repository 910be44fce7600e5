//! Issue 12 item 2 (SIU, MDM, VXU, DFT): Appointment status per event and start/end with
//! offsets, DocumentReference text and ED attachments, Immunization CVX codes, eligibility and
//! status, ChargeItem and Account; every Bundle round-trips through `ehrkit-fhir-model`, passes
//! its validation and resolves its references; ids are deterministic.

mod common;
use common::check_bundle;

use base64::Engine as _;
use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::{Bundle, Resource};
use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{BundleKind, Conversion, Converter, Options};
use ehrkit_mapping::Profile;

fn data(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/siu_mdm_vxu_dft/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn convert_with(raw: &[u8], profile: Profile) -> Conversion {
    let msg = Message::parse(raw).expect("test message parses");
    let c = Converter::new(
        profile,
        Options::default().bundle_kind(BundleKind::Transaction),
    )
    .convert(&msg)
    .expect("converts");
    check_bundle(&c.bundle);
    c
}

fn convert(raw: &[u8]) -> Conversion {
    convert_with(raw, Profile::generic())
}

/// The Bundle as JSON, parsed into a generic value (to read any element by path).
fn value(b: &Bundle) -> Value {
    Value::parse(ehrkit_fhir_model::to_string(b).as_bytes()).unwrap()
}

/// The resources of type `ty`, as JSON values.
fn all(b: &Bundle, ty: &str) -> Vec<Value> {
    let Value::Object(root) = value(b) else {
        panic!()
    };
    let entries = root
        .iter()
        .find(|(k, _)| k == "entry")
        .map(|(_, v)| v.clone());
    let Some(Value::Array(entries)) = entries else {
        return vec![];
    };
    entries
        .into_iter()
        .filter_map(|e| get(&e, "resource").cloned())
        .filter(|r| str_at(r, "resourceType") == Some(ty))
        .collect()
}

fn one(b: &Bundle, ty: &str) -> Value {
    let mut v = all(b, ty);
    assert_eq!(v.len(), 1, "one {ty}");
    v.pop().unwrap()
}

/// `a.b.0.c` in a JSON value.
fn get<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(v, |v, step| match (v, step.parse::<usize>()) {
            (Value::Array(items), Ok(i)) => items.get(i),
            (Value::Object(members), _) => members.iter().find(|(k, _)| k == step).map(|(_, v)| v),
            _ => None,
        })
}

fn str_at<'v>(v: &'v Value, path: &str) -> Option<&'v str> {
    match get(v, path)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// `fullUrl` of every entry whose resource is a `ty`.
fn full_urls(b: &Bundle, ty: &str) -> Vec<String> {
    b.entry
        .iter()
        .filter(|e| e.resource.as_deref().map(Resource::resource_type) == Some(ty))
        .map(|e| e.full_url.as_ref().unwrap().value.clone().unwrap())
        .collect()
}

fn report(c: &Conversion) -> Vec<String> {
    c.report.entries().iter().map(|e| e.to_string()).collect()
}

fn decoded(attachment: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(str_at(attachment, "data").expect("data"))
        .expect("data is base64")
}

/// The message with `from` replaced by `to` (once; the test message must contain it).
fn edited(raw: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    assert!(text.contains(from), "{from} not in the message");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn siu_s12_books_the_appointment_with_its_times_and_participants() {
    let c = convert(&data("siu_s12_veradigm.hl7"));
    let b = &c.bundle;
    let a = one(b, "Appointment");
    assert_eq!(str_at(&a, "status"), Some("booked"));
    // SCH-11 TQ.4 / TQ.5 keep the sender's offset.
    assert_eq!(str_at(&a, "start"), Some("2026-03-20T14:00:00-05:00"));
    assert_eq!(str_at(&a, "end"), Some("2026-03-20T14:30:00-05:00"));
    assert_eq!(
        get(&a, "minutesDuration"),
        Some(&Value::Number("30".into()))
    );
    assert_eq!(
        str_at(&a, "comment"),
        Some("Bring current medication list\nArrive 15 minutes early\nReview blood pressure log")
    );
    assert_eq!(str_at(&a, "identifier.0.value"), Some("APT-7731"));
    assert_eq!(str_at(&a, "identifier.0.type.coding.0.code"), Some("PLAC"));
    assert_eq!(str_at(&a, "identifier.1.type.coding.0.code"), Some("FILL"));
    assert_eq!(str_at(&a, "serviceType.0.coding.0.code"), Some("99213"));
    assert_eq!(
        str_at(&a, "serviceType.0.coding.0.system"),
        Some("http://www.ama-assn.org/go/cpt")
    );
    let reason = get(&a, "reasonCode.0.coding").unwrap();
    assert!(
        matches!(reason, Value::Array(c) if c.iter().any(|c| str_at(c, "system") == Some("http://terminology.hl7.org/CodeSystem/v2-0276") && str_at(c, "code") == Some("ROUTINE")))
    );

    // Participants: the patient first, SCH-16 filler contact, AIG equipment (a Location by
    // identifier), AIL room (the finest Location of the place), AIP practitioner.
    let patient = full_urls(b, "Patient");
    assert_eq!(
        str_at(&a, "participant.0.actor.reference"),
        Some(patient[0].as_str())
    );
    assert_eq!(str_at(&a, "participant.0.status"), Some("accepted"));
    assert_eq!(
        str_at(&a, "participant.1.type.0.text"),
        Some("filler contact")
    );
    // The filler contact and the AIP personnel are the same doctor: one Practitioner entry.
    let practitioners = full_urls(b, "Practitioner");
    assert_eq!(practitioners.len(), 1);
    assert_eq!(
        str_at(&a, "participant.1.actor.reference"),
        Some(practitioners[0].as_str())
    );
    assert_eq!(
        str_at(&a, "participant.4.actor.reference"),
        Some(practitioners[0].as_str())
    );
    assert_eq!(
        str_at(&a, "participant.4.type.0.coding.0.code"),
        Some("ATND")
    );
    assert_eq!(
        str_at(&a, "participant.4.period.end"),
        Some("2026-03-20T14:30:00-05:00")
    );
    // AIG-8 + AIG-11 (10 min).
    assert_eq!(
        str_at(&a, "participant.2.period.start"),
        Some("2026-03-20T14:10:00-05:00")
    );
    assert_eq!(
        str_at(&a, "participant.2.period.end"),
        Some("2026-03-20T14:20:00-05:00")
    );
    let equipment_ref = str_at(&a, "participant.2.actor.reference").unwrap();
    let room_ref = str_at(&a, "participant.3.actor.reference").unwrap();
    let locations = all(b, "Location");
    let by_url = |url: &str| {
        let i = full_urls(b, "Location")
            .iter()
            .position(|u| u == url)
            .unwrap();
        locations[i].clone()
    };
    assert_eq!(
        str_at(&by_url(equipment_ref), "identifier.0.value"),
        Some("SPIRO-2")
    );
    assert_eq!(str_at(&by_url(equipment_ref), "name"), Some("Spirometer"));
    assert_eq!(
        str_at(&by_url(room_ref), "identifier.0.value"),
        Some("EXAM3")
    );
    assert!(str_at(&by_url(room_ref), "partOf.reference").is_some());
    // The PV1 visit is there too, and the patient's OBX and DG1 (IG SIU_S12 rows 4.4, 4.5).
    assert_eq!(all(b, "Encounter").len(), 1);
    let obs = one(b, "Observation");
    assert_eq!(str_at(&obs, "code.coding.0.code"), Some("8480-6"));
    assert_eq!(str_at(&obs, "subject.reference"), Some(patient[0].as_str()));
    let condition = one(b, "Condition");
    assert_eq!(str_at(&condition, "code.coding.0.code"), Some("I10"));
    assert_eq!(
        str_at(&condition, "subject.reference"),
        Some(patient[0].as_str())
    );
    // The patient account number has no home in an SIU Bundle: reported, by location only.
    assert!(report(&c).contains(&"PID[1]-18: field not mapped".to_owned()));
    assert!(!report(&c)
        .iter()
        .any(|r| r.contains("RIVERA") || r.contains("APT-7731")));
}

#[test]
fn siu_s15_cancels_the_same_appointment_and_takes_the_profile_zone() {
    let s12 = convert(&data("siu_s12_veradigm.hl7"));
    let raw = data("siu_s15_veradigm.hl7");
    let c = convert(&raw);
    let a = one(&c.bundle, "Appointment");
    assert_eq!(str_at(&a, "status"), Some("cancelled"));
    // Same sender, same SCH-1: the S15 updates the S12's Appointment.
    assert_eq!(
        str_at(&a, "id"),
        str_at(&one(&s12.bundle, "Appointment"), "id")
    );
    assert_eq!(str_at(&a, "comment"), Some("Patient called to cancel"));
    // TQ1-7/8 have no offset and the generic profile no zone: no instant, reported.
    assert_eq!(get(&a, "start"), None);
    let r = report(&c);
    assert!(
        r.contains(
            &"TQ1[1]-7: timestamp without offset and no source time zone; day kept".to_owned()
        ),
        "{r:?}"
    );
    // The AIP's own filler status: cancelled → declined.
    let aip = match get(&a, "participant") {
        Some(Value::Array(p)) => p.last().unwrap().clone(),
        _ => panic!(),
    };
    assert_eq!(str_at(&aip, "status"), Some("declined"));

    // With the sender's zone (Veradigm sites send local times), TQ1 gives the instants; 2026-03-20
    // is daylight time in Chicago.
    let zoned = Profile::generic().time_zone(ehrkit_mapping::chrono_tz::America::Chicago);
    let c = convert_with(&raw, zoned);
    let a = one(&c.bundle, "Appointment");
    assert_eq!(str_at(&a, "start"), Some("2026-03-20T14:00:00-05:00"));
    assert_eq!(str_at(&a, "end"), Some("2026-03-20T14:30:00-05:00"));
    let aip = match get(&a, "participant") {
        Some(Value::Array(p)) => p.last().unwrap().clone(),
        _ => panic!(),
    };
    assert_eq!(
        str_at(&aip, "period.end"),
        Some("2026-03-20T14:30:00-05:00")
    );
}

#[test]
fn tq1_times_win_over_the_withdrawn_sch_11() {
    let raw = edited(
        &data("siu_s12_veradigm.hl7"),
        "\rNTE|1||Bring",
        "\rTQ1|1||||||20260320150000-0500|20260320153000-0500\rNTE|1||Bring",
    );
    let c = convert(&raw);
    let a = one(&c.bundle, "Appointment");
    assert_eq!(str_at(&a, "start"), Some("2026-03-20T15:00:00-05:00"));
    assert_eq!(str_at(&a, "end"), Some("2026-03-20T15:30:00-05:00"));
    assert!(report(&c).contains(&"SCH[1]-11: field not mapped".to_owned()));
}

#[test]
fn an_appointment_without_any_participant_is_refused_not_written_invalid() {
    // FHIR requires a participant; neither a patient nor a resource is named.
    let msg =
        Message::parse(b"MSH|^~\\&|TW|FP|R|F|20260315093000-0500||SIU^S12|M1|P|2.3\rSCH|A1|A1\r")
            .unwrap();
    let err = Converter::new(Profile::generic(), Options::default())
        .convert(&msg)
        .unwrap_err();
    assert_eq!(err.to_string(), "PID[1]: required segment PID is absent");

    // A visit without its patient is reported, not dropped in silence.
    let msg = Message::parse(
        b"MSH|^~\\&|TW|FP|R|F|20260315093000-0500||SIU^S12|M1|P|2.3\rSCH|A1|A1\rPV1|1|O\r\
          AIP|1|A|1447^WELBY^MARCUS",
    )
    .unwrap();
    let c = Converter::new(Profile::generic(), Options::default())
        .convert(&msg)
        .unwrap();
    check_bundle(&c.bundle);
    assert!(report(&c).contains(&"PV1[1]: segment not mapped".to_owned()));
    assert_eq!(all(&c.bundle, "Encounter").len(), 0);
}

#[test]
fn appointment_status_follows_the_event() {
    let s12 = data("siu_s12_veradigm.hl7");
    // SCH-25 absent: the event decides.
    let no_status = edited(&s12, "|Booked\r", "|\r");
    for (event, status) in [
        ("S12", "booked"),
        ("S13", "booked"),
        ("S14", "booked"),
        ("S15", "cancelled"),
        ("S16", "cancelled"),
        ("S17", "entered-in-error"),
        ("S26", "noshow"),
    ] {
        let raw = edited(&no_status, "SIU^S12", &format!("SIU^{event}"));
        let c = convert(&raw);
        // AIS-10 `Booked` stands in for SCH-25 only where the event does not fix the status.
        assert_eq!(
            str_at(&one(&c.bundle, "Appointment"), "status"),
            Some(status),
            "{event}"
        );
    }
    // SCH-25 decides a booking event's status...
    let pending = edited(&s12, "|Booked\r", "|Pending\r");
    let c = convert(&pending);
    assert_eq!(
        str_at(&one(&c.bundle, "Appointment"), "status"),
        Some("pending")
    );
    // ...but not a deletion's: the event wins and the contradiction is reported.
    let c = convert(&edited(&s12, "SIU^S12", "SIU^S17"));
    assert_eq!(
        str_at(&one(&c.bundle, "Appointment"), "status"),
        Some("entered-in-error")
    );
    assert!(report(&c).contains(&"SCH[1]-25: value not valid for its FHIR element".to_owned()));
    // S25 is a query event, not an SIU notification.
    let s25 = edited(&s12, "SIU^S12", "SIU^S25");
    let msg = Message::parse(&s25).unwrap();
    let err = Converter::new(Profile::generic(), Options::default())
        .convert(&msg)
        .unwrap_err();
    assert!(
        err.to_string().contains("SIU^S25 is not supported"),
        "{err}"
    );
}

#[test]
fn mdm_t02_ft_text_is_laid_out_in_one_attachment() {
    let c = convert(&data("mdm_t02_ft.hl7"));
    let b = &c.bundle;
    let d = one(b, "DocumentReference");
    assert_eq!(str_at(&d, "status"), Some("current"));
    assert_eq!(str_at(&d, "docStatus"), Some("final"));
    assert_eq!(str_at(&d, "date"), Some("2026-04-02T10:05:00-04:00"));
    assert_eq!(str_at(&d, "masterIdentifier.value"), Some("DOC-0042-1"));
    assert_eq!(str_at(&d, "type.coding.0.code"), Some("DS"));
    let content = get(&d, "content").unwrap();
    assert!(matches!(content, Value::Array(c) if c.len() == 1));
    let attachment = get(&d, "content.0.attachment").unwrap();
    assert_eq!(
        str_at(attachment, "contentType"),
        Some("text/plain; charset=utf-8")
    );
    // `\.br\` a line break, `\.in+2\` an indent, `\T\` an ampersand, one OBX a line.
    assert_eq!(
        String::from_utf8(decoded(attachment)).unwrap(),
        "Admitted for chest pain.\nTroponin negative x2.\n  Plan: follow up in clinic & repeat ECG.\nDischarged home."
    );
    assert_eq!(
        str_at(&d, "subject.reference"),
        Some(full_urls(b, "Patient")[0].as_str())
    );
    assert_eq!(
        str_at(&d, "context.encounter.0.reference"),
        Some(full_urls(b, "Encounter")[0].as_str())
    );
    let doctor = full_urls(b, "Practitioner");
    assert_eq!(
        doctor.len(),
        1,
        "author, authenticator and PV1-7 are one doctor"
    );
    assert_eq!(str_at(&d, "author.0.reference"), Some(doctor[0].as_str()));
    assert_eq!(
        str_at(&d, "authenticator.reference"),
        Some(doctor[0].as_str())
    );
    // A T02 has no parent: TXA-13 is reported, not related.
    assert_eq!(get(&d, "relatesTo"), None);
    assert!(report(&c).contains(&"TXA[1]-13: field not mapped".to_owned()));
}

#[test]
fn addenda_and_replacements_relate_to_the_parent_and_notifications_keep_a_content() {
    let raw = data("mdm_t02_ft.hl7");
    for (event, code) in [("T06", "appends"), ("T10", "replaces")] {
        let c = convert(&edited(&raw, "MDM^T02", &format!("MDM^{event}")));
        let d = one(&c.bundle, "DocumentReference");
        assert_eq!(str_at(&d, "relatesTo.0.code"), Some(code), "{event}");
        assert_eq!(
            str_at(&d, "relatesTo.0.target.identifier.value"),
            Some("DOC-0041-1")
        );
    }
    // T01: the notification alone. FHIR needs a content: the origination time, and the missing
    // content is reported.
    let text = String::from_utf8(raw)
        .unwrap()
        .replacen("MDM^T02", "MDM^T01", 1);
    let t01: String = text
        .split('\r')
        .filter(|s| !s.starts_with("OBX"))
        .map(|s| format!("{s}\r"))
        .collect();
    let c = convert(t01.trim_end_matches('\r').as_bytes());
    let d = one(&c.bundle, "DocumentReference");
    assert_eq!(
        str_at(&d, "content.0.attachment.creation"),
        Some("2026-04-02T10:05:00-04:00")
    );
    assert!(report(&c).contains(&"OBX[1]: required value absent".to_owned()));
}

#[test]
fn the_order_of_a_document_is_its_related_service_request() {
    let raw = edited(
        &data("mdm_t02_ft.hl7"),
        "\rTXA|",
        "\rORC|RE|ORD-77^GENHOSP\rOBR|1|ORD-77^GENHOSP||18842-5^Discharge summary^LN\rTXA|",
    );
    let raw = edited(&raw, "||||||F\r", "||||||F\rNTE|1||Dictated, not read\r");
    let c = convert(&raw);
    let b = &c.bundle;
    let sr = one(b, "ServiceRequest");
    assert_eq!(str_at(&sr, "identifier.0.value"), Some("ORD-77"));
    assert_eq!(
        str_at(&sr, "subject.reference"),
        Some(full_urls(b, "Patient")[0].as_str())
    );
    let d = one(b, "DocumentReference");
    assert_eq!(
        str_at(&d, "context.related.0.reference"),
        Some(full_urls(b, "ServiceRequest")[0].as_str())
    );
    // An NTE on the content (NTE[DocumentReference]) is not written: reported.
    assert!(report(&c).contains(&"NTE[1]: segment not mapped".to_owned()));
}

#[test]
fn a_notification_with_nothing_to_show_still_gives_a_valid_content() {
    // No OBX, no origination time, no media type: FHIR still needs a content with an
    // attachment; it says the data is absent (convert() checks the Bundle's validation).
    let c = convert(
        b"MSH|^~\\&|DICTATION|GENHOSP|EHRKIT|HUB|20260402101500-0400||MDM^T01|DOC-7|P|2.5.1\r\
          PID|1||55001^^^GENHOSP^MR||OKAFOR^CHIDI\r\
          TXA|1|DS||||||||||DOC-7-1^GENHOSP\r",
    );
    let d = one(&c.bundle, "DocumentReference");
    assert_eq!(
        str_at(&d, "content.0.attachment.extension.0.url"),
        Some("http://hl7.org/fhir/StructureDefinition/data-absent-reason")
    );
    assert_eq!(
        str_at(&d, "content.0.attachment.extension.0.valueCode"),
        Some("unknown")
    );
    assert!(report(&c).contains(&"OBX[1]: required value absent".to_owned()));
}

#[test]
fn mdm_ed_pdf_becomes_a_decodable_attachment() {
    let raw = data("mdm_t02_ed_pdf.hl7");
    let c = convert(&raw);
    let d = one(&c.bundle, "DocumentReference");
    let attachment = get(&d, "content.0.attachment").unwrap();
    assert_eq!(str_at(attachment, "contentType"), Some("application/pdf"));
    let pdf = decoded(attachment);
    assert!(pdf.starts_with(b"%PDF-1.4\n"));
    assert!(pdf.ends_with(b"%%EOF\n"));
    assert_eq!(str_at(&d, "docStatus"), Some("final"));
    // ED.1 (source application) is reported, not dropped silently.
    assert!(report(&c).contains(&"OBX[1]-5(1).1: component not mapped".to_owned()));

    // Data that is not Base64 is reported and not written; the document still converts.
    let bad = edited(&raw, "^Base64^JVBERi", "^Base64^*VBERi");
    let c = convert(&bad);
    assert!(
        report(&c).contains(&"OBX[1]-5(1).5: value not valid for its FHIR element".to_owned()),
        "{:?}",
        report(&c)
    );
    let d = one(&c.bundle, "DocumentReference");
    assert_eq!(
        str_at(&d, "content.0.attachment.contentType"),
        Some("application/pdf")
    );
    assert_eq!(get(&d, "content.0.attachment.data"), None);
}

#[test]
fn vxu_two_rxa_give_two_immunizations_with_cvx_codes_and_eligibility() {
    let c = convert(&data("vxu_v04_two_rxa.hl7"));
    let b = &c.bundle;
    let imms = all(b, "Immunization");
    assert_eq!(imms.len(), 2);
    let (hep_b, mmr) = (&imms[0], &imms[1]);
    for (imm, code) in [(hep_b, "08"), (mmr, "03")] {
        assert_eq!(
            str_at(imm, "vaccineCode.coding.0.system"),
            Some("http://hl7.org/fhir/sid/cvx")
        );
        assert_eq!(str_at(imm, "vaccineCode.coding.0.code"), Some(code));
        assert_eq!(
            str_at(imm, "patient.reference"),
            Some(full_urls(b, "Patient")[0].as_str())
        );
    }
    assert_eq!(str_at(hep_b, "status"), Some("completed"));
    assert_eq!(
        str_at(hep_b, "occurrenceDateTime"),
        Some("2026-05-01T09:15:00-05:00")
    );
    assert_eq!(str_at(hep_b, "identifier.0.value"), Some("PO-881"));
    assert_eq!(str_at(hep_b, "lotNumber"), Some("HB7734"));
    assert_eq!(str_at(hep_b, "expirationDate"), Some("2027-01-31"));
    assert_eq!(str_at(hep_b, "doseQuantity.code"), Some("mL"));
    assert_eq!(
        str_at(hep_b, "doseQuantity.system"),
        Some("http://unitsofmeasure.org")
    );
    assert_eq!(get(hep_b, "primarySource"), Some(&Value::Bool(true)));
    assert_eq!(str_at(hep_b, "site.coding.0.code"), Some("RT"));
    assert_eq!(
        str_at(hep_b, "site.coding.0.system"),
        Some("http://terminology.hl7.org/CodeSystem/v2-0163")
    );
    assert_eq!(str_at(hep_b, "route.coding.0.code"), Some("C28161"));
    // OBX 64994-7 → programEligibility, 30963-3 → fundingSource (not Observations).
    assert_eq!(
        str_at(hep_b, "programEligibility.0.coding.0.code"),
        Some("V02")
    );
    assert_eq!(
        str_at(hep_b, "programEligibility.0.coding.0.system"),
        Some("http://terminology.hl7.org/CodeSystem/v2-0064")
    );
    assert_eq!(str_at(hep_b, "fundingSource.coding.0.code"), Some("VXC50"));
    assert_eq!(
        str_at(hep_b, "performer.0.function.coding.0.code"),
        Some("OP")
    );
    assert_eq!(
        str_at(hep_b, "performer.1.function.coding.0.code"),
        Some("AP")
    );
    let org = one(b, "Organization");
    assert_eq!(str_at(&org, "name"), Some("Merck and Co., Inc."));
    assert_eq!(
        str_at(hep_b, "manufacturer.reference"),
        Some(full_urls(b, "Organization")[0].as_str())
    );
    // Every OBX of the order stays an Observation too (IG VXU_V04 row 12.6.1), part of the
    // first Immunization: eligibility, funding source, VIS document type.
    let obs = all(b, "Observation");
    let codes: Vec<_> = obs
        .iter()
        .map(|o| str_at(o, "code.coding.0.code"))
        .collect();
    assert_eq!(codes, [Some("64994-7"), Some("30963-3"), Some("69764-9")]);
    for o in &obs {
        assert_eq!(
            str_at(o, "partOf.0.reference"),
            Some(full_urls(b, "Immunization")[0].as_str())
        );
    }
    // OBX-17 (the eligibility's method) is the Observation's: reported by its map, once.
    let r = report(&c);
    assert_eq!(
        r.iter().filter(|e| e.starts_with("OBX[2]-5(1).3")).count(),
        1,
        "{r:?}"
    );
    // The refused MMR: RXA-20 RE → not-done with RXA-18 as the reason; RXA-6 999 → no dose.
    assert_eq!(str_at(mmr, "status"), Some("not-done"));
    assert_eq!(str_at(mmr, "statusReason.coding.0.code"), Some("00"));
    assert_eq!(get(mmr, "doseQuantity"), None);
    assert_ne!(str_at(hep_b, "id"), str_at(mmr, "id"));
    // The mother is a RelatedPerson of the patient.
    assert_eq!(
        str_at(&one(b, "RelatedPerson"), "patient.reference"),
        Some(full_urls(b, "Patient")[0].as_str())
    );

    // RXA-21 D deletes whatever RXA-20 says.
    let deleted = edited(&data("vxu_v04_two_rxa.hl7"), "|CP|A", "|CP|D");
    let c = convert(&deleted);
    assert_eq!(
        str_at(&all(&c.bundle, "Immunization")[0], "status"),
        Some("entered-in-error")
    );
}

#[test]
fn vxu_orc_is_also_the_service_request_behind_the_immunization() {
    // IG VXU_V04 row 12.1: each ORC is an Immunization (ORC[Immunization]) and a ServiceRequest
    // (ORC[ServiceRequest]), the order that led to the immunization; an ORC without RXA still
    // is its order.
    let c = convert(&data("vxu_v04_order_request.hl7"));
    let b = &c.bundle;
    let requests = all(b, "ServiceRequest");
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(str_at(first, "identifier.0.value"), Some("PO-901"));
    assert_eq!(
        str_at(first, "identifier.0.type.coding.0.code"),
        Some("PLAC")
    );
    assert_eq!(str_at(first, "identifier.1.value"), Some("FO-901"));
    assert_eq!(
        str_at(first, "identifier.1.type.coding.0.code"),
        Some("FILL")
    );
    assert_eq!(str_at(first, "status"), Some("completed"));
    assert_eq!(str_at(first, "intent"), Some("order"));
    assert_eq!(
        str_at(first, "subject.reference"),
        Some(full_urls(b, "Patient")[0].as_str())
    );
    // ORC-12: one Practitioner, the request's requester and the Immunization's OP performer.
    let doctor = full_urls(b, "Practitioner");
    assert_eq!(doctor.len(), 1);
    assert_eq!(
        str_at(first, "requester.reference"),
        Some(doctor[0].as_str())
    );
    let imm = one(b, "Immunization");
    assert_eq!(
        str_at(&imm, "performer.0.actor.reference"),
        Some(doctor[0].as_str())
    );
    assert_eq!(str_at(&requests[1], "identifier.0.value"), Some("PO-902"));
    // ORC-5 and ORC-9 are read by ORC[ServiceRequest]: not reported as unmapped.
    let r = report(&c);
    assert!(!r.iter().any(|e| e.starts_with("ORC[1]-5")), "{r:?}");
}

#[test]
fn an_administration_without_its_time_says_the_time_is_absent() {
    // RXA-3 is required in v2 and occurrence[x] in FHIR: the Immunization is still written,
    // valid, with a data-absent-reason, and the gap is reported.
    let raw = edited(
        &data("vxu_v04_two_rxa.hl7"),
        "RXA|0|1|20260501092000-0500|",
        "RXA|0|1||",
    );
    let c = convert(&raw);
    let mmr = &all(&c.bundle, "Immunization")[1];
    assert_eq!(get(mmr, "occurrenceDateTime"), None);
    assert_eq!(
        str_at(mmr, "_occurrenceDateTime.extension.0.valueCode"),
        Some("unknown")
    );
    assert!(report(&c).contains(&"RXA[2]-3: required value absent".to_owned()));
}

#[test]
fn dft_p03_two_ft1_give_charge_items_on_one_account() {
    let c = convert(&data("dft_p03_two_ft1.hl7"));
    let b = &c.bundle;
    let account = one(b, "Account");
    assert_eq!(str_at(&account, "status"), Some("active"));
    assert_eq!(str_at(&account, "identifier.0.value"), Some("ACCT-9001"));
    assert_eq!(
        str_at(&account, "identifier.0.system"),
        Some("urn:oid:2.16.840.1.113883.3.5555")
    );
    let account_url = full_urls(b, "Account").remove(0);
    let charges = all(b, "ChargeItem");
    assert_eq!(charges.len(), 2);
    for (ch, code, qty) in [(&charges[0], "71045", "1"), (&charges[1], "93000", "2")] {
        assert_eq!(str_at(ch, "code.coding.0.code"), Some(code));
        assert_eq!(
            str_at(ch, "code.coding.0.system"),
            Some("http://www.ama-assn.org/go/cpt")
        );
        assert_eq!(get(ch, "quantity.value"), Some(&Value::Number(qty.into())));
        assert_eq!(str_at(ch, "status"), Some("billable"));
        assert_eq!(
            str_at(ch, "account.0.reference"),
            Some(account_url.as_str())
        );
        assert_eq!(
            str_at(ch, "subject.reference"),
            Some(full_urls(b, "Patient")[0].as_str())
        );
        assert_eq!(
            str_at(ch, "context.reference"),
            Some(full_urls(b, "Encounter")[0].as_str())
        );
        assert_eq!(str_at(ch, "reason.0.coding.0.code"), Some("R07.9"));
    }
    assert_eq!(
        get(&charges[0], "priceOverride.value"),
        Some(&Value::Number("85.50".into()))
    );
    assert_eq!(str_at(&charges[0], "priceOverride.currency"), Some("USD"));
    assert_eq!(
        str_at(&charges[0], "occurrenceDateTime"),
        Some("2026-04-10")
    );
    assert_eq!(
        str_at(&charges[1], "occurrencePeriod.end"),
        Some("2026-04-11")
    );
    assert!(str_at(&charges[0], "enterer.reference").is_some());
    // The PR1 after the first FT1 and the OBX after the second are their services.
    assert_eq!(
        str_at(&charges[0], "service.0.reference"),
        Some(full_urls(b, "Procedure")[0].as_str())
    );
    assert_eq!(
        str_at(&charges[1], "service.0.reference"),
        Some(full_urls(b, "Observation")[0].as_str())
    );
    assert_eq!(get(&charges[0], "service.1"), None);
    assert_eq!(
        str_at(&one(b, "Condition"), "code.coding.0.code"),
        Some("R07.9")
    );
    // PID-18 went to the Account: not reported as unmapped; EVN is.
    let r = report(&c);
    assert!(!r.iter().any(|e| e.starts_with("PID[1]-18")), "{r:?}");
    assert!(r.contains(&"EVN[1]: segment not mapped".to_owned()));
}

#[test]
fn a_financial_order_group_gives_its_request_and_report() {
    // FINANCIAL_COMMON_ORDER after the second FT1: ORC + OBR + OBX → ServiceRequest,
    // DiagnosticReport with the Observation as result; the report is the charge's service and
    // the request its supporting information.
    let raw = edited(
        &data("dft_p03_two_ft1.hl7"),
        "\rOBX|1|NM|8867-4",
        "\rORC|RE|ORD-9^GENHOSP\rOBR|1|ORD-9^GENHOSP||93000^Electrocardiogram complete^C4|||20260410\rOBX|1|NM|8867-4",
    );
    let c = convert(&raw);
    let b = &c.bundle;
    let sr = one(b, "ServiceRequest");
    assert_eq!(str_at(&sr, "identifier.0.value"), Some("ORD-9"));
    let dr = one(b, "DiagnosticReport");
    assert_eq!(str_at(&dr, "code.coding.0.code"), Some("93000"));
    let sr_url = full_urls(b, "ServiceRequest").remove(0);
    let obs_url = full_urls(b, "Observation").remove(0);
    assert_eq!(str_at(&dr, "basedOn.0.reference"), Some(sr_url.as_str()));
    assert_eq!(str_at(&dr, "result.0.reference"), Some(obs_url.as_str()));
    let charges = all(b, "ChargeItem");
    assert_eq!(
        str_at(&charges[1], "service.0.reference"),
        Some(full_urls(b, "DiagnosticReport")[0].as_str())
    );
    assert_eq!(
        str_at(&charges[1], "supportingInformation.0.reference"),
        Some(sr_url.as_str())
    );
}

#[test]
fn ids_are_deterministic() {
    for n in [
        "siu_s12_veradigm",
        "siu_s15_veradigm",
        "mdm_t02_ft",
        "mdm_t02_ed_pdf",
        "vxu_v04_two_rxa",
        "dft_p03_two_ft1",
    ] {
        let raw = data(&format!("{n}.hl7"));
        let a = ehrkit_fhir_model::to_string(&convert(&raw).bundle);
        let b = ehrkit_fhir_model::to_string(&convert(&raw).bundle);
        assert_eq!(a, b, "{n}");
        // Every Bundle type is structurally valid and resolves its references.
        for kind in [
            BundleKind::Batch,
            BundleKind::Collection,
            BundleKind::Message,
        ] {
            let msg = Message::parse(&raw).unwrap();
            let c = Converter::new(Profile::generic(), Options::default().bundle_kind(kind))
                .convert(&msg)
                .unwrap();
            check_bundle(&c.bundle);
        }
    }
}

/// IG `PV1[Encounter]` row `PV1-2 → status` (`PatientClass[EncounterStatus]`, IF PV1-45 NOT
/// VALUED): a message whose map sets no status from the event (here MDM) takes it from the
/// patient class; a discharge date still gives `finished`.
#[test]
fn encounter_status_from_patient_class_when_the_event_sets_none() {
    let msg = |pv1: &str| {
        format!(
            "MSH|^~\\&|DICTATION|GENHOSP|EHRKIT|HUB|20260402101500-0400||MDM^T02|DOC-8|P|2.5.1\r\
             PID|1||55001^^^GENHOSP^MR||OKAFOR^CHIDI\r\
             {pv1}\r\
             TXA|1|DS|TX|||||||||DOC-8-1^GENHOSP||||||AU\r\
             OBX|1|TX|||Note text\r"
        )
    };
    let status = |pv1: &str| {
        let c = convert(msg(pv1).as_bytes());
        let e = one(&c.bundle, "Encounter");
        str_at(&e, "status").map(str::to_owned)
    };
    assert_eq!(status("PV1|1|P").as_deref(), Some("planned"));
    assert_eq!(status("PV1|1|I").as_deref(), Some("in-progress"));
    let discharged = format!("PV1|1|P{}|202604020900-0400", "|".repeat(42));
    assert_eq!(status(&discharged).as_deref(), Some("finished"));
}
