//! Vendor FHIR → canonical (issue 13 items 1–3, FHIR half): one resource per quirk with its
//! expected output, the same clinical fact from Epic and Oracle Health normalizing to equal
//! canonical resources, the NHSN-Link-style operations, overlays and routing.
//!
//! Data: `tests/data/quirks/fhir/<vendor>/` — `site.toml` (the test site's overlay),
//! `<quirk-name>.json` + `<quirk-name>.expected.json` (a JSON array of the canonical resources),
//! `pair-<fact>.json` (the same fact in each vendor's shape). `EHRKIT_BLESS=1` rewrites the
//! expected files (review the diff).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::{from_slice, to_vec, Bundle, Resource};
use ehrkit_mapping::normalize::{
    without_provenance, CodeElement, ConditionalTransformOp, CopyElementOp, FhirProfile, FhirQuirk,
    FhirRouting, Normalized, Normalizer, Operation, SiteOverlay, TAG_SYSTEM,
};
use ehrkit_mapping::CodeOverride;

const VENDORS: &[&str] = &["epic", "oracle_health", "athenahealth"];

fn dir(vendor: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/quirks/fhir")
        .join(vendor)
}

fn site(vendor: &str) -> FhirProfile {
    let text = std::fs::read_to_string(dir(vendor).join("site.toml")).unwrap();
    SiteOverlay::from_toml(&text).unwrap().build().unwrap()
}

fn read(path: &Path) -> Resource {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn as_json(out: &Normalized) -> Value {
    Value::Array(
        out.resources
            .iter()
            .map(|r| Value::parse(&to_vec(r)).unwrap())
            .collect(),
    )
}

fn pretty(v: &Value) -> String {
    let s = String::from_utf8(v.to_vec()).unwrap();
    let j: serde_json::Value = serde_json::from_str(&s).unwrap();
    serde_json::to_string_pretty(&j).unwrap()
}

/// The quirk's resource, in the one vendor folder that has it.
fn quirk_file(q: FhirQuirk) -> (String, PathBuf) {
    let found: Vec<(String, PathBuf)> = VENDORS
        .iter()
        .map(|v| (v.to_string(), dir(v).join(format!("{}.json", q.name()))))
        .filter(|(_, p)| p.exists())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "quirk {} needs exactly one test resource tests/data/quirks/fhir/<vendor>/{}.json",
        q.name(),
        q.name()
    );
    found.into_iter().next().unwrap()
}

#[test]
fn every_quirk_has_a_resource_whose_output_it_changes() {
    let bless = std::env::var_os("EHRKIT_BLESS").is_some();
    for &q in FhirQuirk::ALL {
        let (vendor, path) = quirk_file(q);
        let profile = site(&vendor);
        assert!(
            profile.has(q),
            "{} is not in the {vendor} profile",
            q.name()
        );
        let input = read(&path);
        let out = Normalizer::new(profile.clone()).normalize(input.clone());
        let got = as_json(&out);
        let expected_path = path.with_extension("expected.json");
        if bless {
            std::fs::write(&expected_path, pretty(&got) + "\n").unwrap();
        }
        let expected = Value::parse(
            &std::fs::read(&expected_path)
                .unwrap_or_else(|_| panic!("{} has no expected output", path.display())),
        )
        .unwrap();
        if let Some(at) = got.first_difference(&expected) {
            panic!(
                "{}: output differs from {} at {at}:\n{}",
                q.name(),
                expected_path.display(),
                pretty(&got)
            );
        }
        assert!(
            out.changes.iter().any(|c| c.rule == q.name()),
            "{}: no change recorded under its name: {:?}",
            q.name(),
            out.changes
        );
        // Without the quirk (same site otherwise) the output is not the expected one: the
        // quirk still changes something.
        let without = Normalizer::new(profile.without(q)).normalize(input.clone());
        assert!(
            !as_json(&without).equivalent(&expected),
            "{} no longer changes the output of its test resource",
            q.name()
        );
        assert!(without.changes.iter().all(|c| c.rule != q.name()));
        // The generic profile shows what the vendor profile changes.
        let generic = Normalizer::new(FhirProfile::generic()).normalize(input);
        assert!(!as_json(&generic).equivalent(&expected), "{}", q.name());
    }
}

#[test]
fn no_stray_quirk_files() {
    let names: BTreeSet<&str> = FhirQuirk::ALL.iter().map(|q| q.name()).collect();
    for v in VENDORS {
        for e in std::fs::read_dir(dir(v)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            let Some(stem) = name.strip_suffix(".json") else {
                // The v2 side of a pair (tests/v2_fhir_agree.rs) and the site overlay.
                assert!(
                    name == "site.toml" || (name.starts_with("pair-") && name.ends_with(".hl7")),
                    "{v}/{name}"
                );
                continue;
            };
            let stem = stem.strip_suffix(".expected").unwrap_or(stem);
            assert!(
                stem.starts_with("pair-") || names.contains(stem),
                "{v}/{name} names no quirk"
            );
        }
    }
}

#[test]
fn every_change_is_tagged_on_its_resource_and_carries_no_values() {
    for &q in FhirQuirk::ALL {
        let (vendor, path) = quirk_file(q);
        let out = Normalizer::new(site(&vendor)).normalize(read(&path));
        for c in &out.changes {
            let r = out
                .resources
                .iter()
                .find(|r| {
                    r.resource_type() == c.resource_type && r.id() == c.resource_id.as_deref()
                })
                .unwrap_or_else(|| panic!("{c}: no such resource in the output"));
            let json = String::from_utf8(to_vec(r)).unwrap();
            assert!(
                json.contains(&format!(r#""system":"{TAG_SYSTEM}","code":"{}""#, c.rule)),
                "{c}: not tagged in {json}"
            );
        }
        // Paths and rule names only: no identifier values, codes or names from the input.
        for c in out
            .changes
            .iter()
            .map(|c| c.to_string())
            .chain(out.notes.iter().map(|n| n.to_string()))
        {
            for secret in [
                "203177",
                "Z6130",
                "TQUINT22",
                "000-00-0001",
                "Quint",
                "Strawberries",
            ] {
                assert!(!c.contains(secret), "{c}");
            }
        }
    }
}

#[test]
fn normalizing_twice_changes_nothing_more() {
    for &q in FhirQuirk::ALL {
        let (vendor, path) = quirk_file(q);
        let n = Normalizer::new(site(&vendor));
        let once = n.normalize(read(&path));
        for r in once.resources.clone() {
            let twice = n.normalize(r.clone());
            assert!(
                twice.changes.is_empty(),
                "{}: {:?}",
                q.name(),
                twice.changes
            );
            assert_eq!(to_vec(&twice.resources[0]), to_vec(&r));
        }
    }
}

/// Epic and Oracle Health versions of one clinical fact: equal once normalized (ids and
/// provenance aside), and not equal before (the normalizer did the work).
fn pair(fact: &str) {
    let epic = site("epic");
    let oracle = site("oracle_health");
    let mut ns: Vec<&str> = epic.local_namespaces.iter().map(String::as_str).collect();
    ns.extend(oracle.local_namespaces.iter().map(String::as_str));
    let e_in = read(&dir("epic").join(format!("pair-{fact}.json")));
    let o_in = read(&dir("oracle_health").join(format!("pair-{fact}.json")));
    assert!(
        !without_provenance(&e_in, &ns).equivalent(&without_provenance(&o_in, &ns)),
        "{fact}: the inputs are already equal"
    );
    let e = Normalizer::new(epic.clone()).normalize(e_in);
    let o = Normalizer::new(oracle.clone()).normalize(o_in);
    let (a, b) = (
        without_provenance(&e.resources[0], &ns),
        without_provenance(&o.resources[0], &ns),
    );
    if let Some(at) = a.first_difference(&b) {
        panic!(
            "{fact}: Epic and Oracle Health differ at {at}\nEpic:\n{}\nOracle Health:\n{}",
            pretty(&a),
            pretty(&b)
        );
    }
}

#[test]
fn same_patient_from_epic_and_oracle_health() {
    pair("patient");
}

#[test]
fn same_allergy_from_epic_and_oracle_health() {
    pair("allergy");
}

#[test]
fn same_no_known_allergy_from_epic_and_oracle_health() {
    pair("no-known-allergy");
}

#[test]
fn same_encounter_class_from_epic_and_oracle_health() {
    pair("encounter");
}

#[test]
fn same_lab_result_from_epic_and_oracle_health() {
    pair("lab");
}

#[test]
fn the_canonical_patient_has_the_us_core_shape() {
    let out = Normalizer::new(site("epic")).normalize(read(&dir("epic").join("pair-patient.json")));
    let Resource::Patient(p) = &out.resources[0] else {
        panic!()
    };
    let mrn = p
        .identifier
        .iter()
        .find(|i| i.system_str() == Some("https://fhir.valley-health.test/sid/mrn"))
        .expect("MRN under the site's system");
    assert!(mrn
        .type_
        .as_ref()
        .unwrap()
        .has_coding("http://terminology.hl7.org/CodeSystem/v2-0203", "MR"));
    assert_eq!(mrn.value_str(), Some("203177"));
    let internal = p
        .identifier
        .iter()
        .find(|i| {
            i.type_.as_ref().is_some_and(|t| {
                t.has_coding("http://terminology.hl7.org/CodeSystem/v2-0203", "PI")
            })
        })
        .unwrap();
    assert_eq!(internal.value_str(), Some("Z6130"));
    assert!(p
        .identifier
        .iter()
        .any(|i| i.system_str() == Some("http://hl7.org/fhir/sid/us-ssn")));
    // The Epic legal-sex extension is provenance now (meta.extension), US Core's stays.
    assert!(p
        .extension
        .iter()
        .all(|e| !e.url.as_deref().unwrap().contains("open.epic.com")));
    assert!(p.meta.as_ref().unwrap().extension.iter().any(|e| e
        .url
        .as_deref()
        .unwrap()
        .ends_with("legal-sex")));
}

#[test]
fn encounter_class_codes_come_from_the_site_concept_map_and_unknown_ones_are_noted() {
    let n = Normalizer::new(site("epic"));
    let enc = |code: &str| -> Resource {
        from_slice(format!(r#"{{"resourceType":"Encounter","id":"e1","status":"in-progress",
          "class":{{"system":"urn:oid:1.2.840.114350.1.72.1.7.7.10.696784.13260","code":"{code}"}}}}"#).as_bytes()).unwrap()
    };
    let out = n.normalize(enc("3"));
    let json = String::from_utf8(to_vec(&out.resources[0])).unwrap();
    assert!(json.contains(r#""class":{"extension":[{"url":"urn:ehrkit:normalization:epic-encounter-class","valueCoding":{"system":"urn:oid:1.2.840.114350.1.72.1.7.7.10.696784.13260","code":"3"}}],"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP""#), "{json}");
    assert_eq!(out.changes[0].operation, Operation::ConceptMap);
    assert_eq!(out.changes[0].path, "Encounter.class");
    // A code the site has not mapped is left alone, and said so.
    let out = n.normalize(enc("99"));
    assert!(out.changes.is_empty());
    assert_eq!(out.notes.len(), 1);
    assert_eq!(out.notes[0].reason, "code not in the concept map");
    // The built-in Epic profile knows the sandbox's codes only.
    let out = Normalizer::new(FhirProfile::epic()).normalize(enc("3"));
    assert!(out.changes.is_empty());
}

fn patient_with_id(id: &str) -> String {
    format!(r#"{{"resourceType":"Patient","id":"{id}","name":[{{"family":"Quint"}}]}}"#)
}

#[test]
fn ids_over_64_characters_are_rewritten_with_every_reference_and_kept() {
    let long = "a".repeat(65);
    let bundle = format!(
        r#"{{"resourceType":"Bundle","type":"searchset","entry":[
          {{"fullUrl":"https://ehr.test/fhir/Patient/{long}","resource":{}}},
          {{"fullUrl":"https://ehr.test/fhir/Observation/o1","resource":{{"resourceType":"Observation","id":"o1","status":"final",
            "code":{{"text":"x"}},"subject":{{"reference":"Patient/{long}"}},
            "performer":[{{"reference":"https://ehr.test/fhir/Patient/{long}"}}]}}}}]}}"#,
        patient_with_id(&long)
    );
    let b: Bundle = from_slice(bundle.as_bytes()).unwrap();
    let out = Normalizer::new(FhirProfile::generic()).normalize_bundle(b);
    let json = String::from_utf8(to_vec(&out.bundle)).unwrap();
    assert!(!json.contains(&format!("Patient/{long}")), "{json}");
    let new_id = out.bundle.entry[0]
        .resource
        .as_ref()
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    assert!(new_id.len() <= 64);
    assert!(json.contains(&format!(
        r#""fullUrl":"https://ehr.test/fhir/Patient/{new_id}""#
    )));
    assert!(json.contains(&format!(r#""subject":{{"reference":"Patient/{new_id}"}}"#)));
    assert!(json.contains(&format!(
        r#""reference":"https://ehr.test/fhir/Patient/{new_id}""#
    )));
    assert!(json.contains(&format!(
        r#""identifier":[{{"system":"urn:ehrkit:normalization:original-id","value":"{long}"}}]"#
    )));
    let c = &out.changes[0];
    assert_eq!(
        (c.operation, c.rule.as_str(), c.path.as_str()),
        (Operation::IdFix, "id-fix", "Patient.id")
    );
    // Same input, same new id (deterministic), and an id that is fine is left alone.
    let again = Normalizer::new(FhirProfile::generic())
        .normalize(from_slice(patient_with_id(&long).as_bytes()).unwrap());
    assert_eq!(again.resources[0].id(), Some(new_id.as_str()));
    let ok = Normalizer::new(FhirProfile::generic())
        .normalize(from_slice(patient_with_id(&"b".repeat(64)).as_bytes()).unwrap());
    assert!(ok.changes.is_empty());
}

#[test]
fn period_precision_is_made_equal() {
    let enc: Resource = from_slice(
        br#"{"resourceType":"Encounter","id":"e1","status":"finished",
            "period":{"start":"2024-03-01","end":"2024-03-01T14:55:00-05:00"}}"#,
    )
    .unwrap();
    let out = Normalizer::new(FhirProfile::generic()).normalize(enc);
    let json = String::from_utf8(to_vec(&out.resources[0])).unwrap();
    assert!(
        json.contains(
            r#""period":{"start":"2024-03-01T00:00:00-05:00","_start":{"extension":[{"url":"urn:ehrkit:normalization:original-value","valueDateTime":"2024-03-01"}]},"end":"2024-03-01T14:55:00-05:00"}"#
        ),
        "{json}"
    );
    assert_eq!(out.changes[0].operation, Operation::PeriodPrecision);
    // The end of a month-precision end is the month's last second.
    let cond: Resource = from_slice(
        br#"{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p"},
            "onsetPeriod":{"start":"2024-02-10T08:00:00Z","end":"2024-02"}}"#,
    )
    .unwrap();
    let out = Normalizer::new(FhirProfile::generic()).normalize(cond);
    let json = String::from_utf8(to_vec(&out.resources[0])).unwrap();
    assert!(json.contains(r#""end":"2024-02-29T23:59:59Z""#), "{json}");
    // Off: unchanged.
    let mut p = FhirProfile::generic();
    p.fix_period_precision = false;
    let enc: Resource = from_slice(
        br#"{"resourceType":"Encounter","id":"e1","status":"finished","period":{"start":"2024-03-01","end":"2024-03-01T14:55:00Z"}}"#,
    )
    .unwrap();
    assert!(Normalizer::new(p).normalize(enc).changes.is_empty());
}

#[test]
fn copy_element_and_conditional_transform_from_a_site_overlay() {
    let overlay = SiteOverlay {
        base: "generic".into(),
        copy_elements: vec![CopyElementOp {
            name: "class-from-type".into(),
            from: CodeElement::EncounterType,
            to: CodeElement::EncounterClass,
            system: Some("http://terminology.hl7.org/CodeSystem/v3-ActCode".into()),
        }],
        conditional_transforms: vec![ConditionalTransformOp {
            name: "ed-visits-are-emergency".into(),
            when: CodeElement::EncounterServiceType,
            system: "https://fhir.site.test/cs/service".into(),
            code: "ED".into(),
            target: CodeElement::EncounterType,
            set: CodeOverride::new("50849002", "http://snomed.info/sct")
                .display("Emergency room admission"),
        }],
        ..Default::default()
    };
    let n = Normalizer::new(overlay.build().unwrap());
    let enc: Resource = from_slice(
        br#"{"resourceType":"Encounter","id":"e1","status":"finished",
            "type":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"EMER"}]}],
            "serviceType":{"coding":[{"system":"https://fhir.site.test/cs/service","code":"ED"}]}}"#,
    )
    .unwrap();
    let out = n.normalize(enc);
    let json = String::from_utf8(to_vec(&out.resources[0])).unwrap();
    assert!(
        json.contains(
            r#""class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"EMER"}"#
        ),
        "{json}"
    );
    assert!(json.contains(r#""type":[{"coding":[{"system":"http://snomed.info/sct","code":"50849002","display":"Emergency room admission"},{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"EMER"}]}]"#), "{json}");
    let ops: Vec<(Operation, &str)> = out
        .changes
        .iter()
        .map(|c| (c.operation, c.rule.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            (Operation::CopyElement, "class-from-type"),
            (Operation::ConditionalTransform, "ed-visits-are-emergency")
        ]
    );
    // The condition does not hold: nothing.
    let enc: Resource = from_slice(
        br#"{"resourceType":"Encounter","id":"e2","status":"finished","class":{"code":"AMB"}}"#,
    )
    .unwrap();
    assert!(n.normalize(enc).changes.is_empty());
}

#[test]
fn contained_locations_are_lifted_in_a_bundle_with_full_urls() {
    let enc = std::fs::read_to_string(dir("oracle_health").join("oracle-contained-locations.json"))
        .unwrap();
    let bundle = format!(
        r#"{{"resourceType":"Bundle","type":"searchset","entry":[{{"fullUrl":"https://fhir-ehr.cerner.test/r4/t/Encounter/97953483","resource":{enc}}}]}}"#
    );
    let out = Normalizer::new(site("oracle_health"))
        .normalize_bundle(from_slice(bundle.as_bytes()).unwrap());
    assert_eq!(out.bundle.entry.len(), 2);
    let loc = &out.bundle.entry[1];
    assert_eq!(
        loc.full_url.as_ref().and_then(|u| u.value.as_deref()),
        Some("https://fhir-ehr.cerner.test/r4/t/Location/97953483-32216049")
    );
    let json = String::from_utf8(to_vec(&out.bundle)).unwrap();
    assert!(
        json.contains(r##""location":{"reference":"Location/97953483-32216049""##),
        "{json}"
    );
    assert!(!json.contains("\"contained\""));
}

#[test]
fn routing_picks_site_profiles_by_base_url_with_an_override() {
    let routes = FhirRouting::from_toml(
        r#"
default = "generic"
[[route]]
base = "https://fhir.valley-health.test/interconnect-fhir-oauth/api/FHIR/R4"
profile = "valley-health-epic"
[[route]]
base = "https://fhir-ehr.cerner.com/r4/ec2458f2-1e24-41c8-b71b-0e701af7583d"
profile = "valley-health-millennium"
"#,
    )
    .unwrap()
    .profile(site("epic"))
    .profile(site("oracle_health"));
    let pick = |url: &str, o: Option<&str>| routes.select(url, o).unwrap().name;
    assert_eq!(
        pick(
            "https://fhir.valley-health.test/interconnect-fhir-oauth/api/FHIR/R4/",
            None
        ),
        "valley-health-epic"
    );
    assert_eq!(
        pick(
            "https://fhir-ehr.cerner.com/r4/ec2458f2-1e24-41c8-b71b-0e701af7583d",
            None
        ),
        "valley-health-millennium"
    );
    assert_eq!(pick("https://elsewhere.test/fhir", None), "generic");
    assert_eq!(
        pick(
            "https://fhir.valley-health.test/interconnect-fhir-oauth/api/FHIR/R4",
            Some("athenahealth")
        ),
        "athenahealth"
    );
    // The site's profile behaves as the site's.
    let epic = routes
        .select(
            "https://fhir.valley-health.test/interconnect-fhir-oauth/api/FHIR/R4",
            None,
        )
        .unwrap();
    assert!(epic.identifier_types["MRN"].system.is_some());
}

#[test]
fn resource_types_without_rules_pass_through_unchanged() {
    let json = br#"{"resourceType":"Practitioner","id":"p1","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}],"name":[{"family":"Ng"}]}"#;
    for name in ehrkit_mapping::normalize::BUILTIN_FHIR_PROFILES {
        let out = Normalizer::new(FhirProfile::builtin(name).unwrap())
            .normalize(from_slice(json).unwrap());
        assert!(out.changes.is_empty(), "{name}");
        assert_eq!(
            to_vec(&out.resources[0]),
            to_vec(&from_slice::<Resource>(json).unwrap())
        );
    }
}

// ---------------------------------------------------------------- fuzz property, seeds, proptest

#[path = "../../fuzz/props/normalize.rs"]
mod props;

fn fuzz_seeds() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/fhir_normalize");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn fhir_normalize_fuzz_seeds_hold_the_property() {
    let seeds = fuzz_seeds();
    assert!(seeds.len() >= 20, "{} seeds", seeds.len());
    for path in seeds {
        eprintln!("seed {}", path.display());
        props::check(&std::fs::read(&path).unwrap());
    }
}

mod prop {
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ A-Za-z0-9.-]{0,12}",
            Just("     Z6130".to_owned()),
            Just("x".repeat(70)),
            Just("a-195900.E-60178".to_owned()),
            Just("S-1".to_owned()),
            Just("".to_owned()),
        ]
    }

    fn system() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("urn:oid:1.2.840.114350.1.72.1.7.7.10.696784.13260".to_owned()),
            Just("urn:oid:2.16.840.1.113883.4.1".to_owned()),
            Just("http://terminology.hl7.org/CodeSystem/v2-0203".to_owned()),
            Just("https://fhir.cerner.com/t/codeSet/4".to_owned()),
            Just("http://snomed.info/sct".to_owned()),
            Just("http://loinc.org".to_owned()),
            Just(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification".to_owned()
            ),
            "[a-z:/.]{0,10}",
        ]
    }

    fn code() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("5".to_owned()),
            Just("13".to_owned()),
            Just("MR".to_owned()),
            Just("716186003".to_owned()),
            Just("409137002".to_owned()),
            Just("confirmed".to_owned()),
            Just("female".to_owned()),
            "[A-Za-z0-9]{0,6}",
        ]
    }

    fn coding() -> impl Strategy<Value = String> {
        (system(), code(), text(), any::<bool>()).prop_map(|(s, c, d, u)| {
            format!(r#"{{"system":"{s}","code":"{c}","display":"{d}","userSelected":{u}}}"#)
        })
    }

    fn concept() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(coding(), 0..3),
            prop::option::of(text()),
        )
            .prop_map(|(c, t)| {
                let t = t.map(|t| format!(r#","text":"{t}""#)).unwrap_or_default();
                format!(r#"{{"coding":[{}]{t}}}"#, c.join(","))
            })
    }

    fn identifier() -> impl Strategy<Value = String> {
        (concept(), prop::option::of(system()), text(), any::<bool>()).prop_map(|(t, s, v, absent)| {
            let s = match (s, absent) {
                (_, true) => r#","_system":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}"#.to_owned(),
                (Some(s), _) => format!(r#","system":"{s}""#),
                (None, _) => String::new(),
            };
            format!(r#"{{"type":{t}{s},"value":"{v}"}}"#)
        })
    }

    fn date() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("2024".to_owned()),
            Just("2024-02".to_owned()),
            Just("2024-02-29".to_owned()),
            Just("2024-03-01T10:00:00Z".to_owned()),
            Just("2024-03-01T10:00:00-05:00".to_owned()),
        ]
    }

    fn resource() -> impl Strategy<Value = String> {
        let ext = (
            code(),
            prop_oneof![
                Just("http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex"),
                Just(
                    "http://open.epic.com/FHIR/StructureDefinition/extension/sex-for-clinical-use"
                ),
                Just("https://fhir-ehr.cerner.com/r4/StructureDefinition/x"),
                Just("https://fhir.athena.io/StructureDefinition/ah-practice"),
                Just("http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex"),
            ],
        )
            .prop_map(|(c, u)| {
                if u.ends_with("us-core-sex") {
                    format!(r#"{{"url":"{u}","valueCode":"{c}"}}"#)
                } else {
                    format!(
                        r#"{{"url":"{u}","valueCodeableConcept":{{"coding":[{{"code":"{c}"}}]}}}}"#
                    )
                }
            });
        (
            text(),
            prop::collection::vec(identifier(), 0..3),
            prop::collection::vec(ext, 0..3),
            concept(),
            concept(),
            (date(), date()),
            0..5usize,
        )
            .prop_map(|(id, ids, exts, c1, c2, (d1, d2), kind)| {
                let common = format!(
                    r#""id":"{id}","extension":[{}],"identifier":[{}]"#,
                    exts.join(","),
                    ids.join(",")
                );
                match kind {
                    0 => format!(r#"{{"resourceType":"Patient",{common},"active":false,"link":[{{"other":{{"reference":"Patient/{id}"}},"type":"replaced-by"}}]}}"#),
                    1 => format!(r##"{{"resourceType":"Encounter",{common},"status":"finished","class":{{"system":"urn:oid:1.2.840.114350.1.72.1.7.7.10.696784.13260","code":"{}"}},"type":[{c1}],"period":{{"start":"{d1}","end":"{d2}"}},"contained":[{{"resourceType":"Location","id":"{id}"}}],"location":[{{"location":{{"reference":"#{id}"}}}}]}}"##, if d1.len() % 2 == 0 { "5" } else { "99" }),
                    2 => format!(r#"{{"resourceType":"AllergyIntolerance",{common},"category":["medication"],"criticality":"high","code":{c1},"verificationStatus":{c2},"clinicalStatus":{c2},"patient":{{"reference":"Patient/x"}}}}"#),
                    3 => format!(r#"{{"resourceType":"Observation",{common},"status":"final","code":{c1},"category":[{c2}],"effectivePeriod":{{"start":"{d1}","end":"{d2}"}}}}"#),
                    _ => format!(r#"{{"resourceType":"Condition",{common},"code":{c1},"verificationStatus":{c2},"subject":{{"reference":"Patient/x"}},"onsetPeriod":{{"start":"{d1}","end":"{d2}"}}}}"#),
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Never panics, and holds the fuzz property, on any resource fhir-model accepts.
        #[test]
        fn normalizing_any_accepted_resource_holds_the_property(json in resource()) {
            super::props::check(json.as_bytes());
        }

        /// Single-byte mutations of the seeds: whatever still parses holds the property.
        #[test]
        fn mutated_seeds_hold_the_property(seed in 0usize..1000, at in 0usize..100_000, byte in any::<u8>()) {
            let seeds = super::fuzz_seeds();
            let mut data = std::fs::read(&seeds[seed % seeds.len()]).unwrap();
            let at = at % data.len();
            data[at] = byte;
            super::props::check(&data);
        }
    }
}

/// Regression (found by the proptest): the id fix keeps the original id, spaces and all, as an
/// identifier; the Epic padded-identifier quirk must not trim that one on the next pass (the
/// normalizer's own identifiers are not vendor data).
#[test]
fn the_kept_original_id_is_not_trimmed_on_a_second_pass() {
    let n = Normalizer::new(FhirProfile::epic());
    let r: Resource =
        from_slice(br#"{"resourceType":"Encounter","id":"  Z1 ","status":"finished"}"#).unwrap();
    let once = n.normalize(r);
    let json = String::from_utf8(to_vec(&once.resources[0])).unwrap();
    assert!(json.contains(r#""value":"  Z1 ""#), "{json}");
    let twice = n.normalize(once.resources[0].clone());
    assert!(twice.changes.is_empty(), "{:?}", twice.changes);
}

/// Regression (found by the proptest): a Location lifted out of `contained` goes through the
/// same rules as any resource (here a padded identifier), so the output is a fixed point.
#[test]
fn lifted_resources_are_normalized_too() {
    let n = Normalizer::new(FhirProfile::oracle_health().with(FhirQuirk::EpicPaddedIdentifier));
    let r: Resource = from_slice(
        br##"{"resourceType":"Encounter","id":"e1","status":"finished",
            "contained":[{"resourceType":"Location","id":"l1","identifier":[{"value":" 9 "}]}],
            "location":[{"location":{"reference":"#l1"}}]}"##,
    )
    .unwrap();
    let once = n.normalize(r);
    assert_eq!(once.resources.len(), 2);
    let json = String::from_utf8(to_vec(&once.resources[1])).unwrap();
    assert!(json.contains(r#""identifier":[{"value":"9"}]"#), "{json}");
    for r in once.resources {
        let again = n.normalize(r);
        assert!(again.changes.is_empty(), "{:?}", again.changes);
    }
}

/// Regression (found by the proptest): an Oracle Health SSN whose type has only the tenant
/// coding gets its v2-0203 `SS` coding and the tenant-label text handled in one pass.
#[test]
fn ssn_type_and_tenant_label_settle_in_one_pass() {
    let n = Normalizer::new(FhirProfile::oracle_health());
    let r: Resource = from_slice(
        br#"{"resourceType":"Patient","id":"1","identifier":[{"type":{"coding":[
            {"system":"https://fhir.cerner.com/t/codeSet/4","code":"18","display":"SSN"}],"text":"SSN"},
            "system":"urn:oid:2.16.840.1.113883.4.1","value":"000-00-0002"}]}"#,
    )
    .unwrap();
    let once = n.normalize(r);
    let json = String::from_utf8(to_vec(&once.resources[0])).unwrap();
    assert!(json.contains(r#""type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"SS","display":"Social Security number"},{"system":"https://fhir.cerner.com/t/codeSet/4","code":"18","display":"SSN"}]}"#), "{json}");
    let again = n.normalize(once.resources[0].clone());
    assert!(again.changes.is_empty(), "{:?}", again.changes);
}
