//! Normalizing a 1,000-resource Epic-style Bundle (`ehrkit-mapping`'s `Normalizer`, the `epic`
//! profile) against the typed JSON parse of the same bytes (`ehrkit-fhir-model`), in one run.
//! Issue 13's goal: normalization costs at most half the parse.
//!
//! The Bundle is generated deterministically: 100 patients, each with an Epic Patient (type-text
//! identifiers, a space-padded INTERNAL id, legal-sex and sex-for-clinical-use extensions, the
//! SSN OID), an Encounter with Epic's class code system, five lab Observations (an Epic local
//! code and LOINC), a "no known allergies" AllergyIntolerance with its category, a Condition and a
//! MedicationRequest: 1,000 resources, nearly all of which the profile changes.
//!
//! `normalize` measures the normalization alone (the parsed Bundle is cloned outside the timed
//! part); `parse` is `from_slice::<Bundle>`; `parse+normalize` is both. Throughput is in
//! resources. Dropping results is never timed. A quick ratio (normalize / parse, medians of 15
//! rounds, same loop) is printed first.
#![allow(missing_docs)] // criterion_group! generates an undocumented `pub fn`
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ehrkit::fhir_model::{from_slice, Bundle};
use ehrkit::mapping::normalize::{FhirProfile, Normalizer};

const PATIENTS: usize = 100;
const RESOURCES: usize = PATIENTS * 10;

fn entry(out: &mut String, rtype: &str, id: &str, body: &str) {
    if !out.ends_with('[') {
        out.push(',');
    }
    out.push_str(&format!(
        r#"{{"fullUrl":"https://fhir.epic.test/api/FHIR/R4/{rtype}/{id}","resource":{{"resourceType":"{rtype}","id":"{id}",{body}}},"search":{{"mode":"match"}}}}"#
    ));
}

/// The Epic-style searchset: `RESOURCES` resources.
fn epic_bundle() -> Vec<u8> {
    let mut s = String::from(
        r#"{"resourceType":"Bundle","type":"searchset","total":1000,"link":[{"relation":"self","url":"https://fhir.epic.test/api/FHIR/R4/Patient"}],"entry":["#,
    );
    let epic = "urn:oid:1.2.840.114350.1.13.0.1.7";
    for i in 0..PATIENTS {
        let pid = format!("e{i:04}Xq9VQEgP8drUUqCWzHfw3");
        let sex = if i % 2 == 0 { "female" } else { "male" };
        entry(
            &mut s,
            "Patient",
            &pid,
            &format!(
                r#""extension":[{{"valueCodeableConcept":{{"coding":[{{"system":"{epic}.10.698084.130.657370.19999000","code":"{sex}","display":"{sex}"}}]}},"url":"http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex"}},{{"valueCodeableConcept":{{"coding":[{{"system":"{epic}.10.698084.130.657370.19999000","code":"{sex}","display":"{sex}"}}]}},"url":"http://open.epic.com/FHIR/StructureDefinition/extension/sex-for-clinical-use"}},{{"extension":[{{"valueCoding":{{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2106-3","display":"White"}},"url":"ombCategory"}},{{"valueString":"White","url":"text"}}],"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"}}],"identifier":[{{"use":"usual","type":{{"text":"EPI"}},"system":"{epic}.5.737384.0","value":"E{i}"}},{{"use":"usual","type":{{"text":"MRN"}},"system":"{epic}.5.737384.14","value":"20{i:04}"}},{{"use":"usual","type":{{"text":"INTERNAL"}},"system":"{epic}.2.698084","value":"     Z{i:04}"}},{{"use":"usual","type":{{"text":"MYCHARTLOGIN"}},"system":"{epic}.2.698084","value":"PT{i}"}},{{"use":"usual","system":"urn:oid:2.16.840.1.113883.4.1","value":"000-00-{i:04}"}}],"active":true,"name":[{{"use":"official","text":"Pat{i} Test","family":"Test","given":["Pat{i}"]}}],"telecom":[{{"system":"phone","value":"555-555-{i:04}","use":"home"}}],"gender":"{sex}","birthDate":"19{y:02}-0{m}-1{d}","address":[{{"use":"home","line":["{i} Orchard Way"],"city":"Springvale","state":"WI","postalCode":"53090","country":"US"}}]"#,
                y = 40 + i % 60,
                m = 1 + i % 9,
                d = i % 10,
            ),
        );
        let eid = format!("eEnc{i:04}jtns4iFbEJA3");
        entry(
            &mut s,
            "Encounter",
            &eid,
            &format!(
                r#""identifier":[{{"use":"usual","system":"{epic}.3.698084.8","value":"{n}"}}],"status":"finished","class":{{"system":"urn:oid:1.2.840.114350.1.72.1.7.7.10.696784.13260","code":"{c}","display":"Support OP Encounter"}},"type":[{{"coding":[{{"system":"{epic}.10.698084.30","code":"101","display":"Office Visit"}}],"text":"Office Visit"}}],"subject":{{"reference":"Patient/{pid}","display":"Test, Pat{i}"}},"period":{{"start":"2024-03-01T14:10:00Z","end":"2024-03-01T14:55:00Z"}}"#,
                n = 27000 + i,
                c = if i % 3 == 0 { "5" } else { "13" },
            ),
        );
        for (k, (loinc, name, value)) in [
            ("718-7", "Hemoglobin", "13.2"),
            ("4544-3", "Hematocrit", "40.1"),
            ("6690-2", "WBC", "6.4"),
            ("789-8", "RBC", "4.61"),
            ("777-3", "Platelets", "250"),
        ]
        .into_iter()
        .enumerate()
        {
            entry(
                &mut s,
                "Observation",
                &format!("eObs{i:04}{k}RaV6fCDMxgDPRJpxk2Hh2gYcH"),
                &format!(
                    r#""status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory","display":"Laboratory"}}],"text":"Laboratory"}}],"code":{{"coding":[{{"system":"{epic}.2.768282","code":"12340001{k}","display":"{name}"}},{{"system":"http://loinc.org","code":"{loinc}","display":"{name}"}}],"text":"{name}"}},"subject":{{"reference":"Patient/{pid}"}},"encounter":{{"reference":"Encounter/{eid}"}},"effectiveDateTime":"2024-03-01T14:30:00Z","issued":"2024-03-01T16:02:11Z","valueQuantity":{{"value":{value},"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"}}"#,
                ),
            );
        }
        entry(
            &mut s,
            "AllergyIntolerance",
            &format!("eAlg{i:04}8lXUsMUqzug3"),
            &format!(
                r#""clinicalStatus":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active","display":"Active"}}]}},"verificationStatus":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"confirmed","display":"Confirmed"}}]}},"category":["medication"],"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"716186003","display":"No Known Allergies"}}],"text":"No Known Allergies"}},"patient":{{"reference":"Patient/{pid}"}},"recordedDate":"2023-11-20T15:02:00Z""#,
            ),
        );
        entry(
            &mut s,
            "Condition",
            &format!("eCnd{i:04}Hr3kSo5Vs3"),
            &format!(
                r#""clinicalStatus":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}}]}},"category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"problem-list-item"}}]}}],"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"38341003","display":"Hypertensive disorder"}},{{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"I10"}}],"text":"Hypertension"}},"subject":{{"reference":"Patient/{pid}"}},"onsetPeriod":{{"start":"2019-05-02","end":"2024-01-10T09:00:00Z"}}"#,
            ),
        );
        entry(
            &mut s,
            "MedicationRequest",
            &format!("eMed{i:04}Wq2rT8"),
            &format!(
                r#""status":"active","intent":"order","medicationCodeableConcept":{{"coding":[{{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"314076","display":"lisinopril 10 MG Oral Tablet"}}],"text":"lisinopril 10 mg tablet"}},"subject":{{"reference":"Patient/{pid}"}},"authoredOn":"2024-01-10T09:12:00Z","dosageInstruction":[{{"text":"Take 1 tablet by mouth daily"}}]"#,
            ),
        );
    }
    s.push_str("]}");
    s.into_bytes()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let bytes = epic_bundle();
    let parsed: Bundle = from_slice(&bytes).expect("the generated Bundle parses");
    assert_eq!(parsed.entry.len(), RESOURCES);
    let normalizer = Normalizer::new(FhirProfile::epic());
    let changes = normalizer.normalize_bundle(parsed.clone()).changes.len();

    // A quick in-run ratio, printed (not asserted: the machine may be busy).
    let (mut p, mut n) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let t = Instant::now();
        let b: Bundle = from_slice(&bytes).unwrap();
        p.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let out = normalizer.normalize_bundle(b);
        n.push(t.elapsed().as_secs_f64());
        std::hint::black_box(out);
    }
    let (p, n) = (median(p), median(n));
    eprintln!(
        "fhir_normalize: {RESOURCES} resources, {} bytes, {changes} changes; parse {:.2} ms, normalize {:.2} ms ({:.0} resources/s), normalize/parse = {:.2}",
        bytes.len(),
        p * 1e3,
        n * 1e3,
        RESOURCES as f64 / n,
        n / p
    );

    let mut g = c.benchmark_group("fhir_normalize/epic-1000");
    g.throughput(Throughput::Elements(RESOURCES as u64));
    // Dropping the result is outside the timed part for all three (as for `normalize`'s
    // batches): each measures its own work only.
    g.bench_function("parse", |b| {
        b.iter_with_large_drop(|| from_slice::<Bundle>(std::hint::black_box(&bytes)).unwrap())
    });
    g.bench_function("normalize", |b| {
        b.iter_batched(
            || parsed.clone(),
            |bundle| normalizer.normalize_bundle(bundle),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("parse+normalize", |b| {
        b.iter_with_large_drop(|| {
            normalizer.normalize_bundle(from_slice::<Bundle>(&bytes).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
