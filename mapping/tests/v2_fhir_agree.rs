//! The v2 and FHIR paths agree (issue 13 item 4): an Epic ADT^A01 converted with the `epic` v2
//! profile and the Epic FHIR Patient of the same person read from Epic's API and normalized with
//! the `epic` FHIR profile give the same canonical Patient — identifier systems and values (and
//! the MRN's and SSN's v2-0203 types), name uses, gender, address. The converter's Patient is
//! already canonical: the Normalizer has nothing to change on it.
//!
//! Data: `tests/data/quirks/fhir/epic/pair-v2-adt-a01.hl7` and `pair-v2-patient.json`; the
//! site is `tests/data/quirks/fhir/epic/site.toml` (FHIR) and the same systems for the v2
//! profile below.

use std::path::{Path, PathBuf};

use ehrkit_fhir_model::{from_slice, Patient, Resource};
use ehrkit_hl7v2::Message;
use ehrkit_mapping::normalize::{Normalizer, SiteOverlay, V2_0203};
use ehrkit_mapping::v2_to_fhir::{Converter, Options};
use ehrkit_mapping::Profile;

const MRN: &str = "https://fhir.valley-health.test/sid/mrn";
const EPI: &str = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.0";
const SSN: &str = "http://hl7.org/fhir/sid/us-ssn";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/quirks/fhir/epic")
}

fn normalizer() -> Normalizer {
    let text = std::fs::read_to_string(dir().join("site.toml")).unwrap();
    Normalizer::new(SiteOverlay::from_toml(&text).unwrap().build().unwrap())
}

/// The site's v2 profile: Epic's, with the authorities of this site.
fn v2_profile() -> Profile {
    Profile::builtin("epic")
        .expect("the epic v2 profile")
        .identifier_system("EPIC", MRN)
        .identifier_system("EPI", EPI)
}

fn from_v2() -> Patient {
    let bytes = std::fs::read(dir().join("pair-v2-adt-a01.hl7")).unwrap();
    let msg = Message::parse(&bytes).unwrap();
    let conversion = Converter::new(v2_profile(), Options::default())
        .convert(&msg)
        .unwrap();
    let patient = conversion
        .bundle
        .resources_of::<Patient>()
        .next()
        .expect("a Patient")
        .clone();
    patient
}

fn from_fhir() -> Patient {
    let bytes = std::fs::read(dir().join("pair-v2-patient.json")).unwrap();
    let out = normalizer().normalize(from_slice(&bytes).unwrap());
    match out.resources.into_iter().next() {
        Some(Resource::Patient(p)) => *p,
        other => panic!("{other:?}"),
    }
}

fn type_code(i: &ehrkit_fhir_model::Identifier) -> Option<&str> {
    i.type_.as_ref().and_then(|t| t.code_in(V2_0203))
}

#[test]
fn identifiers_agree() {
    let (v2, fhir) = (from_v2(), from_fhir());
    for (system, value, code) in [
        (MRN, "203177", Some("MR")),
        (EPI, "E4921", None),
        (SSN, "000-00-0001", Some("SS")),
    ] {
        let find = |p: &Patient, side: &str| {
            p.identifier
                .iter()
                .find(|i| i.system_str() == Some(system))
                .unwrap_or_else(|| panic!("{side}: no identifier {system} in {:?}", p.identifier))
                .clone()
        };
        let (a, b) = (find(&v2, "v2"), find(&fhir, "FHIR"));
        assert_eq!(a.value_str(), Some(value), "v2 {system}");
        assert_eq!(b.value_str(), Some(value), "FHIR {system}");
        if let Some(code) = code {
            assert_eq!(type_code(&a), Some(code), "v2 {system}");
            assert_eq!(type_code(&b), Some(code), "FHIR {system}");
        }
    }
}

fn names(p: &Patient) -> Vec<(Option<String>, Option<String>, Vec<String>)> {
    p.name
        .iter()
        .map(|n| {
            (
                n.use_
                    .as_ref()
                    .and_then(|u| u.value.as_ref())
                    .map(|u| format!("{u:?}")),
                n.family.as_ref().and_then(|f| f.value.clone()),
                n.given.iter().filter_map(|g| g.value.clone()).collect(),
            )
        })
        .collect()
}

#[test]
fn names_and_their_uses_agree() {
    let (v2, fhir) = (names(&from_v2()), names(&from_fhir()));
    assert_eq!(v2, fhir);
    assert_eq!(v2[0].0.as_deref(), Some("Official"));
    assert_eq!(v2[1].0.as_deref(), Some("Usual"));
}

#[test]
fn gender_agrees() {
    let g = |p: &Patient| p.gender.as_ref().and_then(|g| g.value.clone());
    assert_eq!(g(&from_v2()), g(&from_fhir()));
    assert!(g(&from_v2()).is_some());
}

#[test]
fn address_agrees() {
    let a = |p: &Patient| {
        let mut v =
            ehrkit_fhir_model::json::Value::parse(&ehrkit_fhir_model::to_vec(&p.address[0]))
                .unwrap();
        // The v2 converter may add `type` (XAD-7 H is home, not a postal/physical type) or
        // `text`; compare the parts issue 13 names.
        if let ehrkit_fhir_model::json::Value::Object(m) = &mut v {
            m.retain(|(k, _)| {
                [
                    "use",
                    "line",
                    "city",
                    "district",
                    "state",
                    "postalCode",
                    "country",
                ]
                .contains(&k.as_str())
            });
        }
        v
    };
    let (x, y) = (a(&from_v2()), a(&from_fhir()));
    assert!(
        x.equivalent(&y),
        "v2 {} vs FHIR {}",
        String::from_utf8_lossy(&x.to_vec()),
        String::from_utf8_lossy(&y.to_vec())
    );
}

#[test]
fn the_converters_patient_is_already_canonical_for_the_normalizer() {
    let out = normalizer().normalize(Resource::Patient(Box::new(from_v2())));
    assert!(out.changes.is_empty(), "{:?}", out.changes);
}
