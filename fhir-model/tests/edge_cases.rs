//! Edge cases of FHIR JSON named in the issue, plus helpers and validation.

use ehrkit_fhir_model::codes::{AdministrativeGender, ObservationStatus};
use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::{
    from_slice, from_slice_with, to_string, to_vec, Bundle, CodeableConcept, Coding, ErrorKind,
    Extension, ExtensionValue, Observation, ObservationValue, ParseOptions, Patient, Reference,
    Resource, Severity, UnknownPolicy, Validator,
};

fn same_json(a: &[u8], b: &[u8]) -> bool {
    Value::parse(a)
        .unwrap()
        .equivalent(&Value::parse(b).unwrap())
}

fn roundtrip_text(input: &str) -> String {
    let r: Resource = from_slice(input.as_bytes()).expect("parses");
    to_string(&r)
}

#[test]
fn unknown_element_kept_rejected_or_dropped() {
    let input = r#"{"resourceType":"Patient","name":[{"family":"X","nickname":{"a":[1.0,null]}}],"fhir_comments":["c"]}"#;
    // lenient: kept and written back
    let out = roundtrip_text(input);
    assert!(same_json(input.as_bytes(), out.as_bytes()), "{out}");
    // rejected: error with the JSON path
    let reject = ParseOptions::default().unknown_elements(UnknownPolicy::Reject);
    let err = from_slice_with::<Resource>(input.as_bytes(), &reject).unwrap_err();
    assert_eq!(err.path, "$.name[0].nickname");
    // drop: gone, with a warning naming the path
    let opts = ParseOptions::default().unknown_elements(UnknownPolicy::Drop);
    let parsed = from_slice_with::<Resource>(input.as_bytes(), &opts).unwrap();
    assert!(!to_string(&parsed.value).contains("nickname"));
    let paths: Vec<&str> = parsed.issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["$.name[0].nickname", "$.fhir_comments"]);
    assert!(parsed
        .issues
        .iter()
        .all(|i| i.severity == Severity::Warning));
}

#[test]
fn strict_is_a_setter_independent_of_the_unknown_policy() {
    let bad_code = br#"{"resourceType":"Patient","gender":"robot","nickname":"x"}"#;
    // strict: the code outside the required value set fails, with its path
    let strict = ParseOptions::default().strict(true);
    let err = from_slice_with::<Patient>(bad_code, &strict).unwrap_err();
    assert_eq!(err.path, "$.gender");
    // strict(false) turns it off again
    let lenient = ParseOptions::default().strict(true).strict(false);
    assert!(!lenient.strict);
    let parsed = from_slice_with::<Patient>(bad_code, &lenient).unwrap();
    assert_eq!(parsed.issues[0].path, "$.gender");
    // strict does not change the unknown-element policy: kept by default
    let unknown_only = br#"{"resourceType":"Patient","nickname":"x"}"#;
    let parsed = from_slice_with::<Patient>(unknown_only, &strict).unwrap();
    assert!(to_string(&parsed.value).contains("nickname"));
    // both together, in either order
    for opts in [
        ParseOptions::default()
            .strict(true)
            .unknown_elements(UnknownPolicy::Reject),
        ParseOptions::default()
            .unknown_elements(UnknownPolicy::Reject)
            .strict(true),
    ] {
        assert!(opts.strict);
        let err = from_slice_with::<Patient>(unknown_only, &opts).unwrap_err();
        assert_eq!(err.path, "$.nickname");
    }
}

#[test]
fn decimals_keep_their_text() {
    for d in [
        "1.50",
        "1e3",
        "12345678901234567890.123",
        "-0.000000000000000000001",
        "1E-7",
        "0",
    ] {
        let input = format!(
            r#"{{"resourceType":"Observation","status":"final","code":{{"text":"t"}},"valueQuantity":{{"value":{d}}}}}"#
        );
        let obs: Observation = from_slice(input.as_bytes()).unwrap();
        let Some(ObservationValue::Quantity(q)) = &obs.value else {
            panic!("quantity expected")
        };
        assert_eq!(
            q.value.as_ref().unwrap().value.as_ref().unwrap().as_str(),
            d
        );
        let out = to_string(&obs);
        assert!(out.contains(&format!(r#""value":{d}"#)), "{out}");
    }
}

#[test]
fn primitive_extension_without_value_and_arrays_with_nulls() {
    let input = r#"{"resourceType":"Patient",
      "_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]},
      "name":[{"given":["Ann",null,"Eve"],"_given":[null,{"id":"g2","extension":[{"url":"http://x/y","valueString":"z"}]},null]}]}"#;
    let p: Patient = from_slice(input.as_bytes()).unwrap();
    let bd = p.birth_date.as_ref().unwrap();
    assert!(bd.value.is_none());
    assert_eq!(bd.extension().len(), 1);
    let given = &p.name[0].given;
    assert_eq!(given.len(), 3);
    assert_eq!(given[0].value.as_deref(), Some("Ann"));
    assert!(given[1].value.is_none() && given[1].ext.as_ref().unwrap().id.as_deref() == Some("g2"));
    assert!(given[2].ext.is_none());
    assert!(same_json(input.as_bytes(), &to_vec(&p)));
}

#[test]
fn unknown_resource_type_is_an_error() {
    let err = from_slice::<Resource>(br#"{"resourceType":"Spaceship","id":"1"}"#).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::ResourceType(_)), "{err}");
    let err = from_slice::<Resource>(br#"{"id":"1"}"#).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::ResourceType(_)));
    // resourceType not first is fine
    let r: Resource =
        from_slice(br#"{"id":"1","gender":"male","resourceType":"Patient"}"#).unwrap();
    assert_eq!((r.resource_type(), r.id()), ("Patient", Some("1")));
    // asking for a Patient but getting an Observation
    let err = from_slice::<Patient>(br#"{"resourceType":"Observation"}"#).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::ResourceType(_)));
}

#[test]
fn two_values_for_one_choice_element() {
    let input = r#"{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueString":"a","valueBoolean":true}"#;
    let parsed =
        from_slice_with::<Observation>(input.as_bytes(), &ParseOptions::default()).unwrap();
    assert!(matches!(
        parsed.value.value,
        Some(ObservationValue::String(_))
    ));
    assert_eq!(parsed.issues.len(), 1);
    assert_eq!(parsed.issues[0].path, "$.valueBoolean");
    // nothing lost
    assert!(same_json(input.as_bytes(), &to_vec(&parsed.value)));
    // validation reports it
    let issues = Validator::check(&parsed.value);
    assert!(
        issues.iter().any(|i| i.path == "$.valueBoolean"),
        "{issues:?}"
    );
    // strict fails
    let err =
        from_slice_with::<Observation>(input.as_bytes(), &ParseOptions::default().strict(true))
            .unwrap_err();
    assert_eq!(err.path, "$.valueBoolean");
}

#[test]
fn missing_required_element_parses_leniently_then_fails_validation() {
    let input = br#"{"resourceType":"Observation","component":[{"valueString":"x"}]}"#;
    let obs: Observation = from_slice(input).unwrap();
    let issues = Validator::check(&obs);
    let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["$.status", "$.code", "$.component[0].code"]);
    let ok = Observation::new(ObservationStatus::Final, CodeableConcept::from_text("t"));
    assert!(Validator::check(&ok).is_empty());
}

#[test]
fn empty_array_null_field_and_duplicate_key_do_not_panic() {
    let parsed = from_slice_with::<Patient>(
        br#"{"resourceType":"Patient","name":[]}"#,
        &ParseOptions::default(),
    )
    .unwrap();
    assert!(parsed.value.name.is_empty());
    assert_eq!(parsed.issues[0].path, "$.name");

    let parsed = from_slice_with::<Patient>(
        br#"{"resourceType":"Patient","gender":null}"#,
        &ParseOptions::default(),
    )
    .unwrap();
    assert!(parsed.value.gender.is_none());
    assert_eq!(parsed.issues[0].path, "$.gender");

    let dup = br#"{"resourceType":"Patient","gender":"male","gender":"female"}"#;
    let parsed = from_slice_with::<Patient>(dup, &ParseOptions::default()).unwrap();
    assert_eq!(
        parsed.value.gender.as_ref().unwrap().value,
        Some(AdministrativeGender::Male)
    );
    assert_eq!(parsed.issues[0].path, "$.gender");
    assert!(
        to_string(&parsed.value).contains("female"),
        "second value kept"
    );
    let err = from_slice_with::<Patient>(dup, &ParseOptions::default().strict(true)).unwrap_err();
    assert_eq!(err.path, "$.gender");
}

#[test]
fn sixty_deep_extensions_and_depth_limit() {
    let mut ext = r#"{"url":"http://x/leaf","valueString":"v"}"#.to_string();
    for _ in 0..59 {
        ext = format!(r#"{{"url":"http://x/n","extension":[{ext}]}}"#);
    }
    let input = format!(r#"{{"resourceType":"Patient","extension":[{ext}]}}"#);
    let p: Patient = from_slice(input.as_bytes()).unwrap();
    let mut depth = 0;
    let mut e: &Extension = &p.extension[0];
    while let Some(next) = e.extension.first() {
        depth += 1;
        e = next;
    }
    assert_eq!(depth, 59);
    assert!(matches!(e.value, Some(ExtensionValue::String(_))));
    assert!(same_json(input.as_bytes(), &to_vec(&p)));

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let input = format!(r#"{{"resourceType":"Patient","x":{deep}}}"#);
    let err = from_slice::<Resource>(input.as_bytes()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooDeep);
}

#[test]
fn integers_are_range_checked_and_dates_keep_precision() {
    let bad = [
        r#"{"resourceType":"Patient","multipleBirthInteger":2147483648}"#,
        r#"{"resourceType":"Patient","multipleBirthInteger":1.0}"#,
        r#"{"resourceType":"Patient","multipleBirthInteger":"1"}"#,
        r#"{"resourceType":"Patient","photo":[{"size":-1}]}"#,
        r#"{"resourceType":"Patient","active":"true"}"#,
    ];
    for b in bad {
        let err = from_slice::<Resource>(b.as_bytes()).unwrap_err();
        assert!(err.path.starts_with("$."), "{err}");
    }
    let ok = r#"{"resourceType":"Patient","multipleBirthInteger":-2147483648,"birthDate":"1974-12",
       "deceasedDateTime":"2015-02-07T13:28:17.239+02:00"}"#;
    assert!(same_json(ok.as_bytes(), roundtrip_text(ok).as_bytes()));
    // a malformed date is kept (lenient) with an issue, and fails strict reading
    let d = br#"{"resourceType":"Patient","birthDate":"12/01/1974"}"#;
    let parsed = from_slice_with::<Patient>(d, &ParseOptions::default()).unwrap();
    assert_eq!(parsed.issues[0].path, "$.birthDate");
    assert!(same_json(d, &to_vec(&parsed.value)));
    assert!(from_slice_with::<Patient>(d, &ParseOptions::default().strict(true)).is_err());
}

#[test]
fn codes_outside_required_value_set() {
    let input = br#"{"resourceType":"Patient","gender":"robot"}"#;
    let parsed = from_slice_with::<Patient>(input, &ParseOptions::default()).unwrap();
    assert_eq!(
        parsed.value.gender.as_ref().unwrap().value,
        Some(AdministrativeGender::Unrecognized("robot".into()))
    );
    assert_eq!(parsed.issues[0].path, "$.gender");
    assert!(same_json(input, &to_vec(&parsed.value)));
    assert_eq!(Validator::check(&parsed.value)[0].path, "$.gender");
    assert!(from_slice_with::<Patient>(input, &ParseOptions::default().strict(true)).is_err());
}

#[test]
fn bad_json_reports_location() {
    for (input, _) in [
        (
            &br#"{"resourceType":"Patient","name":[{"family":"X"}"#[..],
            "eof",
        ),
        (&br#"{"resourceType":"Patient","id":"a\q"}"#[..], "escape"),
        (
            &b"{\"resourceType\":\"Patient\",\"id\":\"\xff\"}"[..],
            "utf8",
        ),
        (&br#"{"resourceType":"Patient"} x"#[..], "trailing"),
        (&br#""#[..], "empty"),
    ] {
        let err = from_slice::<Resource>(input).unwrap_err();
        assert!(err.offset <= input.len());
        let _ = err.to_string();
    }
}

#[test]
fn helpers_reference_coding_bundle() {
    let mut p = Patient {
        id: Some("123".into()),
        ..Default::default()
    };
    p.gender = Some(AdministrativeGender::Female.into());
    let r = Reference::to(&p);
    assert_eq!(r.reference_str(), Some("Patient/123"));
    assert!(r.is_to::<Patient>());
    let abs = Reference::from_str_ref("https://ehr.example/fhir/Patient/123/_history/4");
    let t = abs.target().unwrap();
    assert_eq!(
        (t.base, t.resource_type, t.id, t.version),
        (
            Some("https://ehr.example/fhir"),
            "Patient",
            "123",
            Some("4")
        )
    );
    assert!(Reference::from_str_ref("urn:uuid:1234").target().is_none());

    let cc = CodeableConcept::from_coding(
        Coding::with_code("http://loinc.org", "8867-4").display("Heart rate"),
    );
    assert!(cc.has_coding("http://loinc.org", "8867-4"));
    assert_eq!(cc.code_in("http://loinc.org"), Some("8867-4"));

    let mut b = Bundle::new(ehrkit_fhir_model::codes::BundleType::Collection);
    b.push_resource(Resource::Patient(Box::new(p)));
    b.push_resource(Resource::Observation(Box::new(Observation::new(
        ObservationStatus::Final,
        cc,
    ))));
    assert_eq!(b.resources_of::<Patient>().count(), 1);
    assert_eq!(
        b.resources_of::<Observation>()
            .next()
            .unwrap()
            .code
            .as_ref()
            .unwrap()
            .code_in("http://loinc.org"),
        Some("8867-4")
    );
    let json = to_vec(&b);
    let back: Bundle = from_slice(&json).unwrap();
    assert_eq!(back, b);
}

#[test]
fn disabled_or_raw_resources_are_kept() {
    // Resources always round-trip through Value-equivalent JSON, even inside a Bundle.
    let input = br#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"a"}},{"fullUrl":"urn:x","resource":{"resourceType":"Basic","code":{"text":"b"}}}]}"#;
    let b: Bundle = from_slice(input).unwrap();
    assert_eq!(b.resources().count(), 2);
    assert!(same_json(input, &to_vec(&b)));
}
