//! Vendor FHIR shapes as the vendors document them (Oracle Health Millennium R4, Epic on FHIR),
//! run through the `Normalizer`: regression tests for defects found by probing with realistic
//! resources (references that must keep resolving, replaced values that must be kept, the same
//! fact from two vendors that must come out equal).

use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::{from_slice, to_vec, Resource, Validator};
use ehrkit_mapping::normalize::{FhirProfile, Normalizer};

fn oracle() -> Normalizer {
    Normalizer::new(FhirProfile::builtin("oracle_health").unwrap())
}

fn parse(json: &str) -> Resource {
    from_slice(json.as_bytes()).unwrap()
}

fn json(r: &Resource) -> Value {
    Value::parse(&to_vec(r)).unwrap()
}

/// Every `reference` string in `v`.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::String(s) if k == "reference" => out.push(s.clone()),
                    _ => references(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

/// The ids of a resource's contained resources.
fn contained_ids(v: &Value) -> Vec<String> {
    match v.get("contained") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|c| match c.get("id") {
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// An Oracle Health Encounter whose contained Locations refer to each other (a unit `partOf`
/// its facility), as Millennium returns the location hierarchy.
const ENCOUNTER_WITH_LOCATION_HIERARCHY: &str = r##"{"resourceType":"Encounter","id":"97953477",
 "contained":[
  {"resourceType":"Location","id":"2100000","name":"Baseline West Medical Center","status":"active"},
  {"resourceType":"Location","id":"2200000","name":"4 West","status":"active","partOf":{"reference":"#2100000"}}],
 "status":"finished",
 "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
 "subject":{"reference":"Patient/12724066"},
 "location":[{"location":{"reference":"#2200000"}},{"location":{"reference":"#2100000"}}]}"##;

#[test]
fn lifted_contained_locations_keep_their_references_to_each_other() {
    let out = oracle().normalize(parse(ENCOUNTER_WITH_LOCATION_HIERARCHY));
    assert_eq!(out.resources.len(), 3);
    for r in &out.resources {
        let v = json(r);
        let own = contained_ids(&v);
        let mut refs = Vec::new();
        references(&v, &mut refs);
        for x in refs {
            if let Some(local) = x.strip_prefix('#') {
                assert!(
                    own.iter().any(|c| c == local),
                    "{}/{}: `{x}` points at a contained resource it does not have",
                    r.resource_type(),
                    r.id().unwrap_or("-")
                );
            }
        }
        assert!(Validator::check(r).is_empty(), "{:?}", Validator::check(r));
    }
    let unit = out
        .resources
        .iter()
        .find(|r| r.id() == Some("97953477-2200000"))
        .expect("the unit is lifted");
    let mut refs = Vec::new();
    references(&json(unit), &mut refs);
    assert_eq!(refs, ["Location/97953477-2100000"]);
    // In a Bundle too (the lifted resources become entries).
    let bundle = parse(&format!(
        r#"{{"resourceType":"Bundle","type":"searchset","entry":[{{"fullUrl":"https://fhir.test/r4/t/Encounter/97953477","resource":{ENCOUNTER_WITH_LOCATION_HIERARCHY}}}]}}"#
    ));
    let out = oracle().normalize(bundle);
    let text = String::from_utf8(to_vec(&out.resources[0])).unwrap();
    assert!(!text.contains(r##""reference":"#"##), "{text}");
    assert!(text.contains(r#""partOf":{"reference":"Location/97953477-2100000"}"#));
}

/// The strings of `v` anywhere in it.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(_, x)| strings(x, out)),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::String(s) => out.push(s.clone()),
        _ => {}
    }
}

fn keeps(r: &Resource, value: &str) -> bool {
    let mut all = Vec::new();
    strings(&json(r), &mut all);
    all.iter().any(|s| s == value)
}

#[test]
fn a_status_text_the_code_overrides_is_kept_as_the_original() {
    // Oracle Health: the text says one thing, the code another; the code wins, the text the
    // clinician saw is kept (the README: replaced values are kept).
    let condition = parse(
        r#"{"resourceType":"Condition","id":"d-7654321",
        "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active","display":"Active"}],"text":"Active"},
        "verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed","display":"Confirmed"}],"text":"Probable"},
        "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"encounter-diagnosis"}]}],
        "code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"E11.9"}],"text":"Type 2 diabetes"},
        "subject":{"reference":"Patient/12724066"}}"#,
    );
    let n = oracle();
    let out = n.normalize(condition);
    let r = &out.resources[0];
    let Resource::Condition(c) = r else { panic!() };
    assert_eq!(
        c.verification_status.as_ref().unwrap().text_str(),
        Some("Confirmed")
    );
    assert!(keeps(r, "Probable"), "the replaced text is lost");
    assert!(Validator::check(r).is_empty(), "{:?}", Validator::check(r));
    assert!(
        n.normalize(r.clone()).changes.is_empty(),
        "not a fixed point"
    );
    // The text is not a value to log.
    assert!(out
        .changes
        .iter()
        .all(|c| !c.to_string().contains("Probable")));
}

#[test]
fn a_no_known_allergy_text_replaced_by_the_canonical_one_is_kept() {
    // Epic: "No Known Allergies" as the SNOMED coding's display and the text.
    let nka = parse(
        r#"{"resourceType":"AllergyIntolerance","id":"eNKA1",
        "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
        "verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"unconfirmed"}]},
        "category":["food","medication","environment"],
        "code":{"coding":[{"system":"http://snomed.info/sct","code":"716186003","display":"No Known Allergies"}],"text":"NKA - patient states none"},
        "patient":{"reference":"Patient/erXuFYUfucBZaryVksYEcMg3"}}"#,
    );
    for name in ["epic", "oracle_health"] {
        let n = Normalizer::new(FhirProfile::builtin(name).unwrap());
        let out = n.normalize(nka.clone());
        let r = &out.resources[0];
        let Resource::AllergyIntolerance(a) = r else {
            panic!()
        };
        assert_eq!(
            a.code.as_ref().unwrap().text_str(),
            Some("No known allergy")
        );
        assert!(
            keeps(r, "NKA - patient states none"),
            "{name}: the replaced text is lost"
        );
        assert!(Validator::check(r).is_empty(), "{:?}", Validator::check(r));
        assert!(
            n.normalize(r.clone()).changes.is_empty(),
            "{name}: not a fixed point"
        );
    }
}

fn pair_equal(epic_json: &str, oracle_json: &str) {
    use ehrkit_mapping::normalize::without_provenance;
    let epic = FhirProfile::builtin("epic").unwrap();
    let oracle = FhirProfile::builtin("oracle_health").unwrap();
    let mut ns: Vec<&str> = epic.local_namespaces.iter().map(String::as_str).collect();
    ns.extend(oracle.local_namespaces.iter().map(String::as_str));
    let e = Normalizer::new(epic.clone()).normalize(parse(epic_json));
    let n = Normalizer::new(oracle.clone());
    let o = n.normalize(parse(oracle_json));
    let (a, b) = (
        without_provenance(&e.resources[0], &ns),
        without_provenance(&o.resources[0], &ns),
    );
    if let Some(at) = a.first_difference(&b) {
        panic!(
            "Epic and Oracle Health differ at {at}\nEpic: {}\nOracle Health: {}",
            String::from_utf8(a.to_vec()).unwrap(),
            String::from_utf8(b.to_vec()).unwrap()
        );
    }
    let en = Normalizer::new(epic);
    for (n, out) in [(&n, &o), (&en, &e)] {
        for r in &out.resources {
            assert!(Validator::check(r).is_empty(), "{:?}", Validator::check(r));
            assert!(
                n.normalize(r.clone()).changes.is_empty(),
                "not a fixed point"
            );
        }
    }
}

#[test]
fn coded_results_interpretations_and_reactions_agree_across_vendors() {
    // Oracle Health writes `userSelected` on every coding and puts the tenant code set first
    // in every coded element, not only in `Observation.code`; Epic writes neither.
    pair_equal(
        r#"{"resourceType":"Observation","id":"eUC1","status":"final",
        "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory","display":"Laboratory"}],"text":"Laboratory"}],
        "code":{"coding":[{"system":"http://loinc.org","code":"630-4","display":"Bacteria identified in Urine by Culture"}],"text":"Urine Culture"},
        "subject":{"reference":"Patient/eP"},"effectiveDateTime":"2019-05-28T14:40:00Z",
        "valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"10828004","display":"Positive"},{"system":"urn:oid:1.2.840.114350.1.13.0.1.7.2.123","code":"2","display":"Positive"}],"text":"Positive"},
        "interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"A","display":"Abnormal"}],"text":"Abnormal"}],
        "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"19146-0","display":"Reference lab test results"}],"text":"Organism"},
          "valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"112283007","display":"Escherichia coli"}],"text":"E. coli"}}]}"#,
        r#"{"resourceType":"Observation","id":"M-1234","status":"final",
        "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory","display":"Laboratory","userSelected":false}],"text":"Laboratory"}],
        "code":{"coding":[{"system":"https://fhir.cerner.com/ec2458f2-1e24-41c8-b71b-0e701af7583d/codeSet/72","code":"3349838","display":"Urine Culture","userSelected":true},{"system":"http://loinc.org","code":"630-4","display":"Bacteria identified in Urine by Culture","userSelected":false}],"text":"Urine Culture"},
        "subject":{"reference":"Patient/12724066"},"effectiveDateTime":"2019-05-28T14:40:00Z",
        "valueCodeableConcept":{"coding":[{"system":"https://fhir.cerner.com/ec2458f2-1e24-41c8-b71b-0e701af7583d/codeSet/1022","code":"123","display":"Positive","userSelected":true},{"system":"http://snomed.info/sct","code":"10828004","display":"Positive","userSelected":false}],"text":"Positive"},
        "interpretation":[{"coding":[{"system":"https://fhir.cerner.com/ec2458f2-1e24-41c8-b71b-0e701af7583d/codeSet/52","code":"201","display":"Abnormal","userSelected":true},{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"A","display":"Abnormal","userSelected":false}],"text":"Abnormal"}],
        "component":[{"code":{"coding":[{"system":"https://fhir.cerner.com/ec2458f2-1e24-41c8-b71b-0e701af7583d/codeSet/72","code":"77","display":"Organism","userSelected":true},{"system":"http://loinc.org","code":"19146-0","display":"Reference lab test results","userSelected":false}],"text":"Organism"},
          "valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"112283007","display":"Escherichia coli","userSelected":false}],"text":"E. coli"}}]}"#,
    );
    pair_equal(
        r#"{"resourceType":"AllergyIntolerance","id":"eA1",
        "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active","display":"Active"}],"text":"Active"},
        "category":["medication"],
        "code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7980","display":"Penicillin G"}],"text":"Penicillin"},
        "patient":{"reference":"Patient/eP"},
        "reaction":[{"manifestation":[{"coding":[{"system":"http://snomed.info/sct","code":"247472004","display":"Hives"},{"system":"urn:oid:1.2.840.114350.1.13.0.1.7.4.698084.10200","code":"5","display":"Hives"}],"text":"Hives"}],"severity":"moderate"}]}"#,
        r#"{"resourceType":"AllergyIntolerance","id":"12935051",
        "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active","display":"Active","userSelected":false}],"text":"Active"},
        "category":["medication"],
        "code":{"coding":[{"system":"https://fhir.cerner.com/ec2458f2-1e24-41c8-b71b-0e701af7583d/nomenclature","code":"7180","display":"Penicillin","userSelected":true},{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7980","display":"Penicillin G","userSelected":false}],"text":"Penicillin"},
        "patient":{"reference":"Patient/12724066"},
        "reaction":[{"manifestation":[{"coding":[{"system":"https://fhir.cerner.com/ec2458f2-1e24-41c8-b71b-0e701af7583d/nomenclature","code":"999","display":"Hives","userSelected":true},{"system":"http://snomed.info/sct","code":"247472004","display":"Hives","userSelected":false}],"text":"Hives"}],"severity":"moderate"}]}"#,
    );
}

#[test]
fn versioned_references_follow_a_rewritten_id() {
    // A Provenance (or any resource) may point at a version: `Type/id/_history/n`.
    let long = "eB".repeat(40);
    let bundle = parse(&format!(
        r#"{{"resourceType":"Bundle","type":"searchset","entry":[
        {{"fullUrl":"https://fhir.test/r4/Encounter/{long}","resource":{{"resourceType":"Encounter","id":"{long}","status":"finished",
          "class":{{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"}}}}}},
        {{"fullUrl":"https://fhir.test/r4/Observation/o1","resource":{{"resourceType":"Observation","id":"o1","status":"final","code":{{"text":"x"}},
          "encounter":{{"reference":"Encounter/{long}/_history/2"}}}}}},
        {{"fullUrl":"https://fhir.test/r4/Provenance/p1","resource":{{"resourceType":"Provenance","id":"p1","recorded":"2019-05-28T14:40:00Z",
          "target":[{{"reference":"https://fhir.test/r4/Encounter/{long}/_history/2"}}],"agent":[{{"who":{{"display":"x"}}}}]}}}}]}}"#
    ));
    let out = Normalizer::new(FhirProfile::generic()).normalize(bundle);
    let Resource::Bundle(b) = &out.resources[0] else {
        panic!()
    };
    let new_id = b.entry[0]
        .resource
        .as_ref()
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    assert_ne!(new_id, long);
    let text = String::from_utf8(to_vec(&out.resources[0])).unwrap();
    assert!(
        text.contains(&format!(r#""reference":"Encounter/{new_id}/_history/2""#)),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            r#""reference":"https://fhir.test/r4/Encounter/{new_id}/_history/2""#
        )),
        "{text}"
    );
    assert!(!text.contains(&format!("Encounter/{long}/")), "{text}");
}

#[test]
fn an_id_fix_on_a_type_without_rules_keeps_its_extensions_in_one_member() {
    // Organizations and Medications come with Epic's Patients and MedicationRequests; the id
    // fix keeps the original id in an extension, next to the resource's own extensions.
    let long = "eC".repeat(40);
    let org = parse(&format!(
        r#"{{"resourceType":"Organization","id":"{long}","extension":[{{"url":"http://example.org/fhir/ext/region","valueString":"North"}}],"name":"Epic Hospital System"}}"#
    ));
    let n = Normalizer::new(FhirProfile::builtin("epic").unwrap());
    let out = n.normalize(org);
    let text = String::from_utf8(to_vec(&out.resources[0])).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        text.matches(r#""extension":"#).count(),
        1,
        "one extension member: {text}"
    );
    let urls: Vec<&str> = v["extension"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            "http://example.org/fhir/ext/region",
            "urn:ehrkit:normalization:original-id"
        ]
    );
    assert!(n.normalize(out.resources[0].clone()).changes.is_empty());
}

#[test]
fn the_same_instant_with_and_without_zero_milliseconds_agrees_across_vendors() {
    // Oracle Health writes most instants with `.000` (effectiveDateTime, issued, recordedDate,
    // periods); Epic writes whole seconds. Same instant, same canonical text.
    pair_equal(
        r#"{"resourceType":"Observation","id":"eL1","status":"final",
        "code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose [Mass/volume] in Serum or Plasma"}],"text":"Glucose"},
        "subject":{"reference":"Patient/eP"},
        "effectiveDateTime":"2020-07-06T21:11:00Z","issued":"2020-07-06T21:13:23Z",
        "valueQuantity":{"value":95,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}"#,
        r#"{"resourceType":"Observation","id":"L-197392513","meta":{"versionId":"1","lastUpdated":"2020-07-06T21:13:24.000Z"},"status":"final",
        "code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose [Mass/volume] in Serum or Plasma"}],"text":"Glucose"},
        "subject":{"reference":"Patient/12724066"},
        "effectiveDateTime":"2020-07-06T21:11:00.000Z","issued":"2020-07-06T21:13:23.000Z",
        "valueQuantity":{"value":95,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}"#,
    );
    pair_equal(
        r#"{"resourceType":"Encounter","id":"eE1","status":"finished",
        "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB","display":"ambulatory"},
        "subject":{"reference":"Patient/eP"},
        "period":{"start":"2024-03-01T14:10:00Z","end":"2024-03-01T14:55:00-05:00"}}"#,
        r#"{"resourceType":"Encounter","id":"97953477","status":"finished",
        "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB","display":"ambulatory"},
        "subject":{"reference":"Patient/12724066"},
        "period":{"start":"2024-03-01T14:10:00.000Z","end":"2024-03-01T14:55:00.000-05:00"}}"#,
    );
    // A fraction that is not zero is precision the vendor has: kept.
    let out = oracle().normalize(parse(
        r#"{"resourceType":"Observation","id":"L-1","status":"final","code":{"text":"x"},"effectiveDateTime":"2020-07-06T21:11:00.250Z"}"#,
    ));
    let text = String::from_utf8(to_vec(&out.resources[0])).unwrap();
    assert!(
        text.contains(r#""effectiveDateTime":"2020-07-06T21:11:00.250Z""#),
        "{text}"
    );
}

#[test]
fn a_status_given_only_as_text_gets_its_code() {
    // US Core binds clinicalStatus and verificationStatus (required): a status sent only as
    // text ("Active") is the same fact as the coded one another vendor sends.
    pair_equal(
        r#"{"resourceType":"Condition","id":"eC1",
        "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active","display":"Active"}],"text":"Active"},
        "verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed","display":"Confirmed"}],"text":"Confirmed"},
        "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"problem-list-item","display":"Problem List Item"}]}],
        "code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006","display":"Diabetes mellitus type 2"}],"text":"Diabetes"},
        "subject":{"reference":"Patient/eP"}}"#,
        r#"{"resourceType":"Condition","id":"p-1",
        "clinicalStatus":{"text":"Active"},
        "verificationStatus":{"text":"Confirmed"},
        "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"problem-list-item","display":"Problem List Item"}]}],
        "code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006","display":"Diabetes mellitus type 2"}],"text":"Diabetes"},
        "subject":{"reference":"Patient/12724066"}}"#,
    );
    // A text that is no status display is left as it is (noted, not guessed).
    let out = oracle().normalize(parse(
        r#"{"resourceType":"AllergyIntolerance","id":"a1","clinicalStatus":{"text":"Current"},"patient":{"reference":"Patient/1"}}"#,
    ));
    let Resource::AllergyIntolerance(a) = &out.resources[0] else {
        panic!()
    };
    assert!(a.clinical_status.as_ref().unwrap().coding.is_empty());
    assert!(out
        .notes
        .iter()
        .any(|n| n.path == "AllergyIntolerance.clinicalStatus"));
    assert!(out.notes.iter().all(|n| !n.to_string().contains("Current")));
}

#[test]
fn hl7_codings_come_before_the_tenant_code_set_in_every_element() {
    // Millennium puts its code set first also where the standard coding is an HL7
    // terminology (v3 interpretation, v3 ActSite), not only LOINC/SNOMED; a reader taking the
    // first coding must get the standard one.
    let out = oracle().normalize(parse(
        r#"{"resourceType":"Immunization","id":"M-197200089","status":"completed",
        "vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"140"}]},
        "patient":{"reference":"Patient/12724066"},"occurrenceDateTime":"2019-10-01",
        "site":{"coding":[{"system":"https://fhir.cerner.com/ec2458f2-1e24-41c8-b71b-0e701af7583d/codeSet/97","code":"14","display":"Left Deltoid","userSelected":true},{"system":"http://terminology.hl7.org/CodeSystem/v3-ActSite","code":"LD","display":"left deltoid","userSelected":false}],"text":"Left Deltoid"}}"#,
    ));
    let Resource::Immunization(i) = &out.resources[0] else {
        panic!()
    };
    let site = i.site.as_ref().unwrap();
    assert_eq!(
        site.coding[0].system_str(),
        Some("http://terminology.hl7.org/CodeSystem/v3-ActSite")
    );
    assert_eq!(site.coding.len(), 2);
}

#[test]
fn locations_lifted_into_a_searchset_are_includes_not_matches() {
    // A searchset's matches are what was asked for (`Bundle.total` counts them); a Location
    // the normalizer lifts out of an Encounter was not asked for.
    let bundle = parse(&format!(
        r#"{{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{{"fullUrl":"https://fhir.test/r4/t/Encounter/97953477","resource":{ENCOUNTER_WITH_LOCATION_HIERARCHY},"search":{{"mode":"match"}}}}]}}"#
    ));
    let out = oracle().normalize(bundle);
    let v: serde_json::Value = serde_json::from_slice(&to_vec(&out.resources[0])).unwrap();
    let entries = v["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let modes: Vec<&str> = entries
        .iter()
        .map(|e| e["search"]["mode"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(modes, ["match", "include", "include"]);
    assert_eq!(v["total"], 1);
    assert!(Validator::check(&out.resources[0]).is_empty());
}

#[test]
fn epic_status_codings_with_a_code_system_version_agree_with_oracle_ones() {
    // Epic writes `version` ("4.0.0") on the status codings of Conditions and allergies;
    // Oracle Health does not. Same status.
    pair_equal(
        r#"{"resourceType":"Condition","id":"ePJugUlqfIbIyVVibZWYmHQ3",
        "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","version":"4.0.0","code":"active","display":"Active"}],"text":"Active"},
        "verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","version":"4.0.0","code":"confirmed","display":"Confirmed"}],"text":"Confirmed"},
        "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"problem-list-item","display":"Problem List Item"}]}],
        "code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006","display":"Diabetes mellitus type 2"}],"text":"Diabetes"},
        "subject":{"reference":"Patient/eP"}}"#,
        r#"{"resourceType":"Condition","id":"p-1",
        "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active","display":"Active"}],"text":"Active"},
        "verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed","display":"Confirmed"}],"text":"Confirmed"},
        "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"problem-list-item","display":"Problem List Item"}]}],
        "code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006","display":"Diabetes mellitus type 2"}],"text":"Diabetes"},
        "subject":{"reference":"Patient/12724066"}}"#,
    );
    // The version is kept with the coding, not dropped.
    let epic = Normalizer::new(FhirProfile::builtin("epic").unwrap());
    let out = epic.normalize(parse(
        r#"{"resourceType":"AllergyIntolerance","id":"eA1","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","version":"4.0.0","code":"active"}]},"patient":{"reference":"Patient/eP"}}"#,
    ));
    let Resource::AllergyIntolerance(a) = &out.resources[0] else {
        panic!()
    };
    let c = &a.clinical_status.as_ref().unwrap().coding[0];
    assert!(c.version.is_none());
    assert!(keeps(&out.resources[0], "4.0.0"));
    assert!(epic.normalize(out.resources[0].clone()).changes.is_empty());
}

#[test]
fn an_epic_local_category_next_to_the_standard_one_is_provenance() {
    // Epic labs carry a second category, Epic's own (`…798268.30` `Lab`, text "Lab"), next to
    // `laboratory`: a concept of local codings only is the vendor's, like a local coding.
    pair_equal(
        r#"{"resourceType":"Observation","id":"eL2","status":"final",
        "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory","display":"Laboratory"}],"text":"Laboratory"},
                    {"coding":[{"system":"urn:oid:1.2.840.114350.1.13.0.1.7.10.798268.30","code":"Lab","display":"Lab"}],"text":"Lab"}],
        "code":{"coding":[{"system":"urn:oid:1.2.840.114350.1.13.0.1.7.2.768282","code":"1554-5","display":"GLUCOSE"},{"system":"http://loinc.org","code":"2345-7","display":"Glucose [Mass/volume] in Serum or Plasma"}],"text":"Glucose"},
        "subject":{"reference":"Patient/eP"},"effectiveDateTime":"2020-07-06T21:11:00Z",
        "valueQuantity":{"value":95,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}"#,
        r#"{"resourceType":"Observation","id":"L-197392513","status":"final",
        "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory","display":"Laboratory"}],"text":"Laboratory"}],
        "code":{"coding":[{"system":"https://fhir.cerner.com/ec2458f2-1e24-41c8-b71b-0e701af7583d/codeSet/72","code":"2700655","display":"Glucose Lvl","userSelected":true},{"system":"http://loinc.org","code":"2345-7","display":"Glucose [Mass/volume] in Serum or Plasma"}],"text":"Glucose"},
        "subject":{"reference":"Patient/12724066"},"effectiveDateTime":"2020-07-06T21:11:00.000Z",
        "valueQuantity":{"value":95,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}"#,
    );
}

#[test]
fn a_no_known_allergy_display_replaced_by_the_canonical_one_is_kept() {
    // athenahealth-style: SNOMED 409137002 with the FSN-like display the vendor shows.
    let n = Normalizer::new(FhirProfile::builtin("epic").unwrap());
    let out = n.normalize(parse(
        r#"{"resourceType":"AllergyIntolerance","id":"a-195900.allergy-2",
        "code":{"coding":[{"system":"http://snomed.info/sct","code":"409137002","display":"No known history of drug allergy"}]},
        "patient":{"reference":"Patient/a-195900.E-60178"}}"#,
    ));
    let r = &out.resources[0];
    let Resource::AllergyIntolerance(a) = r else {
        panic!()
    };
    let c = &a.code.as_ref().unwrap().coding[0];
    assert_eq!(
        c.display.as_ref().unwrap().value.as_deref(),
        Some("No known drug allergy")
    );
    assert!(
        keeps(r, "No known history of drug allergy"),
        "the vendor's display is lost"
    );
    assert!(Validator::check(r).is_empty(), "{:?}", Validator::check(r));
    assert!(
        n.normalize(r.clone()).changes.is_empty(),
        "not a fixed point"
    );
}

#[test]
fn a_date_the_period_fix_widens_is_kept_as_the_original() {
    // Epic: a problem's onset known to the day, its end to the minute. The widened start
    // claims midnight; the date the vendor sent is kept next to it.
    let n = Normalizer::new(FhirProfile::builtin("epic").unwrap());
    let out = n.normalize(parse(
        r#"{"resourceType":"Condition","id":"eOCME5XZ-WcnT7HIbfmUhHA3","subject":{"reference":"Patient/eP"},
        "onsetPeriod":{"start":"2015-03-01","end":"2015-03-02T08:00:00+01:00"}}"#,
    ));
    let r = &out.resources[0];
    let v: serde_json::Value = serde_json::from_slice(&to_vec(r)).unwrap();
    assert_eq!(v["onsetPeriod"]["start"], "2015-03-01T00:00:00+01:00");
    assert!(keeps(r, "2015-03-01"), "the date sent is lost: {v}");
    assert!(Validator::check(r).is_empty(), "{:?}", Validator::check(r));
    assert!(
        n.normalize(r.clone()).changes.is_empty(),
        "not a fixed point"
    );
}

#[test]
fn how_a_server_renders_a_reference_is_provenance() {
    // Epic gives references a `display` and a `type`; Oracle Health often a bare
    // `reference`. Who the subject is, is the reference (a server id), not its rendering.
    pair_equal(
        r#"{"resourceType":"Encounter","id":"eE2","status":"finished",
        "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB","display":"ambulatory"},
        "subject":{"reference":"Patient/erXuFYUfucBZaryVksYEcMg3","type":"Patient","display":"Lin, Derrick"},
        "participant":[{"individual":{"reference":"Practitioner/eM5CWtq15N0WJeuCet5bJlQ3","type":"Practitioner","display":"Physician Family Medicine, MD"}}]}"#,
        r#"{"resourceType":"Encounter","id":"97953477","status":"finished",
        "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB","display":"ambulatory"},
        "subject":{"reference":"Patient/12724066"},
        "participant":[{"individual":{"reference":"Practitioner/593923","display":"Cerner Test, Physician - Hospitalist Cerner"}}]}"#,
    );
}
