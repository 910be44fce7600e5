//! Property tests: generated FHIR JSON round-trips; any JSON never panics.

use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::{from_slice, to_vec, Resource};
use proptest::prelude::*;

fn json_string(s: &str) -> String {
    let mut w = Value::String(s.to_owned()).to_vec();
    w.shrink_to_fit();
    String::from_utf8(w).unwrap()
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{1,22})?([eE][+-]?[0-9]{1,3})?".prop_map(Value::Number),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(("[a-zA-Z_]{1,8}", inner), 0..5).prop_map(Value::Object),
        ]
    })
}

prop_compose! {
    fn patient_json()(
        id in "[A-Za-z0-9.-]{1,20}",
        family in "\\PC{0,20}",
        given in prop::collection::vec(prop::option::of("\\PC{1,10}"), 1..4),
        ext_at in prop::collection::vec(any::<bool>(), 4),
        active in any::<bool>(),
        decimal in "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{1,22})?([eE][+-]?[0-9]{1,3})?",
        birth in "(19|20)[0-9]{2}(-(0[1-9]|1[0-2])(-(0[1-9]|1[0-9]|2[0-8]))?)?",
        unknown in any_json(),
    ) -> String {
        let mut values = Vec::new();
        let mut exts = Vec::new();
        for (i, g) in given.iter().enumerate() {
            let with_ext = ext_at[i] || g.is_none();
            values.push(g.as_deref().map_or("null".to_string(), json_string));
            exts.push(if with_ext {
                format!(r#"{{"extension":[{{"url":"http://x/e","valueDecimal":{decimal}}}]}}"#)
            } else {
                "null".to_string()
            });
        }
        let any_value = given.iter().any(Option::is_some);
        let any_ext = exts.iter().any(|e| e != "null");
        let mut name = format!(r#""family":{}"#, json_string(&family));
        if any_value {
            name.push_str(&format!(r#","given":[{}]"#, values.join(",")));
        }
        if any_ext {
            name.push_str(&format!(r#","_given":[{}]"#, exts.join(",")));
        }
        let unknown = String::from_utf8(unknown.to_vec()).unwrap();
        format!(
            r#"{{"resourceType":"Patient","id":"{id}","active":{active},"birthDate":"{birth}","name":[{{{name}}}],"zzUnknown":{unknown}}}"#
        )
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn patient_roundtrips(input in patient_json()) {
        let r: Resource = from_slice(input.as_bytes()).unwrap();
        let out = to_vec(&r);
        let a = Value::parse(input.as_bytes()).unwrap();
        let b = Value::parse(&out).unwrap();
        prop_assert_eq!(a.first_difference(&b), None);
        let again: Resource = from_slice(&out).unwrap();
        prop_assert_eq!(again, r);
    }

    #[test]
    fn any_json_never_panics(v in any_json(), rt in prop::sample::select(vec!["Patient", "Observation", "Bundle", "Basic"])) {
        let mut members = match v { Value::Object(m) => m, other => vec![("x".to_string(), other)] };
        members.insert(0, ("resourceType".to_string(), Value::String(rt.to_string())));
        let bytes = Value::Object(members).to_vec();
        if let Ok(r) = from_slice::<Resource>(&bytes) {
            let out = to_vec(&r);
            let again: Resource = from_slice(&out).unwrap();
            prop_assert_eq!(to_vec(&again), out);
        }
    }

    #[test]
    fn json_value_matches_serde_json(v in any_json()) {
        let bytes = v.to_vec();
        let ours = Value::parse(&bytes).unwrap();
        prop_assert_eq!(&ours, &v);
        let theirs: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(t) => t,
            Err(e) => {
                // serde_json (without arbitrary_precision) rejects huge exponents; we keep the text.
                prop_assert!(e.to_string().contains("number out of range"), "{}", e);
                return Ok(());
            }
        };
        // Same structure (serde_json merges duplicate keys, so compare key sets only when unique).
        prop_assert_eq!(matches!(theirs, serde_json::Value::Object(_)), matches!(ours, Value::Object(_)));
    }
}
