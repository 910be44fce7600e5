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
                occurrences.contains_key(&e.location.segment),
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
