//! The property behind the `mapping_datatypes` fuzz target, shared by path with
//! `mapping/tests/fuzz_seeds.rs` so the seeds run the exact same check without cargo-fuzz.
//! Uses `ehrkit-mapping` and `ehrkit-hl7v2` through their public APIs only. Panics when the
//! property is violated; must never panic otherwise.

use ehrkit_hl7v2::datatypes::{Cq, Cwe, Cx, Ei, Hd, Sn, Text, Xad, Xpn, Xtn};
use ehrkit_hl7v2::Message;
use ehrkit_mapping::chrono_tz;
use ehrkit_mapping::v2_to_fhir::datatype::{
    cq_quantity::cq_quantity, cwe_codeable_concept::cwe_codeable_concept,
    cx_identifier::cx_identifier, dtm, ei_identifier::ei_identifier, hd_identifier::hd_identifier,
    nm_quantity::nm_quantity, sn_quantity::sn_quantity, sn_range::sn_range, sn_ratio::sn_ratio,
    xad_address::xad_address, xpn_human_name::xpn_human_name, xtn_contact_point::xtn_contact_point,
    Context,
};
use ehrkit_mapping::v2_to_fhir::segment::pid_patient::pid_patient;
use ehrkit_mapping::{Location, Profile};

/// Parses `data` as an HL7 v2 message, runs `PID[Patient]` on every PID and every datatype map
/// over every field repetition (up to a bound), with a profile without and with a source time zone. Checks: no panic; every
/// report entry points into a segment of the message; the report's OperationOutcome survives a
/// JSON round trip through ehrkit-fhir-model; a report entry's text never contains the value of
/// the field it is about (locations only, no PHI).
#[allow(dead_code)] // each fuzz target uses one property of this file
pub fn check_datatypes(data: &[u8]) {
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    let profiles = [
        Profile::generic(),
        Profile::generic().time_zone(chrono_tz::America::New_York),
    ];
    for profile in &profiles {
        let mut ctx = Context::new(profile);
        let mut values: Vec<String> = Vec::new();
        let mut occurrences: std::collections::BTreeMap<String, usize> = Default::default();
        for seg in msg.segments().take(64) {
            let name = seg.name().to_owned();
            let occ = {
                let n = occurrences.entry(name.clone()).or_default();
                *n += 1;
                *n
            };
            if name == "PID" {
                let _ = pid_patient(&seg, occ, &mut ctx);
            }
            for f in 1..=seg.field_count().min(40) {
                let field = seg.field(f);
                for r in 1..=field.repetition_count().min(8) {
                    let at = Location::segment(&name, occ).field(f).repetition(r);
                    if let Some(raw) = field.repetition_raw(r) {
                        if raw.len() >= 12 && raw.iter().all(u8::is_ascii_alphanumeric) {
                            values.push(String::from_utf8_lossy(raw).into_owned());
                        }
                    }
                    if let Some(v) = field.get::<Cx<'_>>(r) {
                        let _ = cx_identifier(&v, &mut ctx, &at);
                    }
                    if let Some(v) = field.get::<Xpn<'_>>(r) {
                        let _ = xpn_human_name(&v, &mut ctx, &at);
                    }
                    if let Some(v) = field.get::<Xad<'_>>(r) {
                        let _ = xad_address(&v, &mut ctx, &at);
                    }
                    if let Some(v) = field.get::<Xtn<'_>>(r) {
                        let _ = xtn_contact_point(&v, &mut ctx, &at);
                    }
                    if let Some(v) = field.get::<Cwe<'_>>(r) {
                        let _ = cwe_codeable_concept(&v, &mut ctx, &at);
                    }
                    if let Some(v) = field.get::<Ei<'_>>(r) {
                        let _ = ei_identifier(&v, &mut ctx, &at);
                    }
                    if let Some(v) = field.get::<Hd<'_>>(r) {
                        let _ = hd_identifier(&v, &ctx);
                    }
                    if let Some(v) = field.get::<Cq<'_>>(r) {
                        let _ = cq_quantity(&v, &mut ctx, &at);
                    }
                    if let Some(v) = field.get::<Sn<'_>>(r) {
                        let _ = sn_quantity(&v, &mut ctx, &at);
                        let _ = sn_range(&v, &mut ctx, &at);
                        let _ = sn_ratio(&v, &mut ctx, &at);
                    }
                    let _ = nm_quantity(field.get::<Text<'_>>(r), &mut ctx, &at);
                    if let Some(Ok(d)) = field.get::<Text<'_>>(r).map(|t| t.dtm()) {
                        if let Ok(i) = dtm::instant(&d, profile.source_time_zone) {
                            assert!(
                                ehrkit_fhir_model::Instant::new(i.value.as_str()).is_some(),
                                "instant reads back"
                            );
                        }
                    }
                    let _ = dtm::read_date_time(field.get::<Text<'_>>(r), &mut ctx, at.clone());
                    let _ = dtm::read_date(field.get::<Text<'_>>(r), &mut ctx, at);
                }
            }
        }
        for e in ctx.report.entries() {
            assert!(
                occurrences.contains_key(e.location.segment.as_str()),
                "report entry outside the message: {e}"
            );
            let text = e.to_string();
            for v in &values {
                assert!(
                    !text.contains(v.as_str()),
                    "report text holds a value: {text}"
                );
            }
        }
        let outcome = ctx.report.to_operation_outcome();
        let json = ehrkit_fhir_model::to_string(&outcome);
        let back: ehrkit_fhir_model::OperationOutcome =
            ehrkit_fhir_model::from_slice(json.as_bytes())
                .expect("OperationOutcome JSON reads back");
        assert_eq!(back, outcome, "OperationOutcome JSON round trip");
    }
}

/// The property behind the `v2_to_fhir` fuzz target: any message the parser accepts converts
/// (or is refused with a typed error) without panicking, for every Bundle type and with and
/// without a source time zone; a Bundle is the same on a second run (deterministic ids), reads
/// back equal from its own JSON, passes the FHIR model's structural validation, has unique fullUrls, and every reference in it resolves to one
/// of its entries; the report never quotes a value (locations only).
#[allow(dead_code)] // each fuzz target uses one property of this file
pub fn check_convert(data: &[u8]) {
    use ehrkit_mapping::v2_to_fhir::{BundleKind, Converter, Options};
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    let profiles = [
        Profile::generic(),
        Profile::generic()
            .time_zone(chrono_tz::America::New_York)
            .resource_base("https://fhir.example.test/r4"),
    ];
    for profile in profiles {
        for kind in [
            BundleKind::Transaction,
            BundleKind::Batch,
            BundleKind::Collection,
            BundleKind::Message,
        ] {
            let converter = Converter::new(profile.clone(), Options::default().bundle_kind(kind));
            let first = converter.convert(&msg);
            let second = converter.convert(&msg);
            let (c, again) = match (first, second) {
                (Ok(c), Ok(again)) => (c, again),
                (Err(a), Err(b)) => {
                    assert_eq!(a, b, "errors are deterministic");
                    continue;
                }
                _ => panic!("one run converted, the other did not"),
            };
            let json = ehrkit_fhir_model::to_string(&c.bundle);
            assert_eq!(
                json,
                ehrkit_fhir_model::to_string(&again.bundle),
                "not deterministic"
            );
            let back: ehrkit_fhir_model::Bundle = ehrkit_fhir_model::from_slice(json.as_bytes())
                .unwrap_or_else(|e| panic!("Bundle JSON does not read back: {e}"));
            assert!(back == c.bundle, "Bundle changed in a JSON round trip");
            let issues = ehrkit_fhir_model::Validator::check(&c.bundle);
            assert!(issues.is_empty(), "structural validation: {issues:?}");
            let full_urls: std::collections::BTreeSet<String> = c
                .bundle
                .entry
                .iter()
                .filter_map(|e| e.full_url.as_ref()?.value.clone())
                .collect();
            assert_eq!(
                full_urls.len(),
                c.bundle.entry.len(),
                "fullUrls missing or repeated"
            );
            let value = ehrkit_fhir_model::json::Value::parse(json.as_bytes()).unwrap();
            let mut refs = Vec::new();
            references(&value, &mut refs);
            for r in refs {
                assert!(
                    full_urls
                        .iter()
                        .any(|u| u == &r || u.ends_with(&format!("/{r}"))),
                    "reference {r} resolves to no entry"
                );
            }
            // No value leaks into the report. Only values with a digit are looked for: ids,
            // numbers and dates always have one, while the OperationOutcome's own words (the key
            // `resourceType`, map names such as `TelecommunicationUseCode`) are letters only, so
            // a field that happens to spell one of them is no leak.
            let oo = ehrkit_fhir_model::to_string(&c.report.to_operation_outcome());
            for seg in msg.segments() {
                for f in 1..=seg.field_count().min(40) {
                    if let Some(raw) = seg.field(f).raw() {
                        if raw.len() >= 12
                            && raw.iter().all(u8::is_ascii_alphanumeric)
                            && raw.iter().any(u8::is_ascii_digit)
                        {
                            let v = String::from_utf8_lossy(raw);
                            assert!(!oo.contains(v.as_ref()), "report quotes a field value");
                        }
                    }
                }
            }
        }
    }
}

/// Every `reference` string in a JSON value.
#[allow(dead_code)]
fn references(v: &ehrkit_fhir_model::json::Value, out: &mut Vec<String>) {
    use ehrkit_fhir_model::json::Value;
    match v {
        Value::Object(members) => {
            for (k, v) in members {
                match (k.as_str(), v) {
                    ("reference", Value::String(s)) => out.push(s.clone()),
                    _ => references(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, out)),
        _ => {}
    }
}

/// The property behind the `mapping_profile` fuzz target: profile and routing-table TOML
/// (vendor profiles, site overlays, routing tables) never panic, and every error says where:
/// a TOML error has a span inside the input, a value error names its field (or rule). A
/// profile that loads is valid, round-trips through TOML and JSON, and converts a small
/// message without panicking.
#[allow(dead_code)] // each fuzz target uses one property of this file
pub fn check_profile(data: &[u8]) {
    use ehrkit_mapping::{Error, ProfileProblem, Routing};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let located = |e: &Error| match e {
        Error::ProfileToml(t) => t.span().is_some_and(|s| s.end <= text.len()),
        Error::ProfileJson(_) => true,
        Error::InvalidProfile { field, .. } | Error::InvalidRoute { field, .. } => {
            !field.is_empty()
        }
        Error::RouteProfile { .. } | Error::RouteFile { .. } => true,
        _ => false,
    };
    match Profile::from_toml(text) {
        Ok(p) => {
            p.validate().expect("a loaded profile is valid");
            let again = Profile::from_toml(&p.to_toml()).expect("to_toml reads back");
            assert_eq!(again, p, "TOML round trip");
            let again = Profile::from_json(&p.to_json()).expect("to_json reads back");
            assert_eq!(again, p, "JSON round trip");
            let msg = Message::parse(
                b"MSH|^~\\&|EPIC|GHH|RCV|RF|20260301123000-0500||ADT^A01|1|P|2.5\rPID|1|P2^^^EXT|E1^^^EPIC^MRN~9^^^EPI^MR||DOE^J~DOE^JJ^^^^^D||19800101|F||C||||||||HAR1\rPV1|1|I|W^1^B||||1^A^B^^^^^^PROVID~2^A^B^^^^^^NPI||||||||||||77\rZPD|1|ACTIVE\r",
            )
            .expect("the fixed message parses");
            let _ = ehrkit_mapping::v2_to_fhir::Converter::new(p, Default::default()).convert(&msg);
        }
        Err(e) => assert!(located(&e), "profile error without a location: {e}"),
    }
    let resolve = |name: &str| {
        Profile::builtin(name).ok_or(Error::InvalidProfile {
            field: "profile".into(),
            problem: ProfileProblem::UnknownBuiltin,
        })
    };
    match Routing::from_toml_with(text, resolve) {
        Ok(r) => {
            let _ = r.select_for([Some("EPIC"), None], [Some("GHH"), None]);
        }
        Err(e) => assert!(located(&e), "routing error without a location: {e}"),
    }
}
