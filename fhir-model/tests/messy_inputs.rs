//! Messy real-world FHIR JSON: nesting bombs, odd numbers and escapes,
//! framing problems. Each case must give a value or a located error, never a
//! panic or a stack overflow.

use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::{from_slice, to_vec, ErrorKind, Resource};

/// Runs `f` on a thread with the 2 MiB stack that test threads (and tokio
/// workers) get by default, so a stack overflow shows up here.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic");
}

fn roundtrips(input: &str) -> bool {
    let r: Resource = from_slice(input.as_bytes()).expect("parses");
    let back = to_vec(&r);
    Value::parse(input.as_bytes())
        .unwrap()
        .first_difference(&Value::parse(&back).unwrap())
        .is_none()
}

fn contained_chain(levels: usize) -> String {
    let mut s = r#"{"resourceType":"Patient","id":"leaf"}"#.to_string();
    for i in 0..levels {
        s = format!(r#"{{"resourceType":"Patient","id":"p{i}","contained":[{s}]}}"#);
    }
    s
}

fn bundle_chain(levels: usize) -> String {
    let mut s = r#"{"resourceType":"Patient","id":"leaf"}"#.to_string();
    for _ in 0..levels {
        s = format!(
            r#"{{"resourceType":"Bundle","type":"collection","entry":[{{"resource":{s}}}]}}"#
        );
    }
    s
}

#[test]
fn nested_resources_are_bounded_not_a_stack_overflow() {
    on_small_stack(|| {
        // Within the JSON depth limit, but each nested resource costs a lot
        // of stack: these must fail with a located error, not abort.
        for input in [contained_chain(63), bundle_chain(42)] {
            let err = from_slice::<Resource>(input.as_bytes()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::TooDeep, "{err}");
            assert!(err.path.starts_with("$.contained[0].") || err.path.starts_with("$.entry[0]."));
        }
        // Realistic nesting (Bundle in Bundle, contained) still works.
        assert!(roundtrips(&bundle_chain(8)));
        assert!(roundtrips(&contained_chain(8)));
        // Worst case allowed: 8 nested Bundles, then extensions up to the
        // JSON depth limit (128).
        let mut ext = r#"{"url":"u","valueString":"v"}"#.to_string();
        for _ in 0..49 {
            ext = format!(r#"{{"url":"u","extension":[{ext}]}}"#);
        }
        let leaf = format!(r#"{{"resourceType":"Patient","extension":[{ext}]}}"#);
        let deepest = bundle_chain(8).replace(r#"{"resourceType":"Patient","id":"leaf"}"#, &leaf);
        assert!(roundtrips(&deepest));
        let limits = ehrkit_fhir_model::ParseOptions::default().max_nested_resources(2);
        let err =
            ehrkit_fhir_model::from_slice_with::<Resource>(bundle_chain(3).as_bytes(), &limits)
                .unwrap_err();
        assert_eq!(
            (err.kind, err.path.as_str()),
            (
                ErrorKind::TooDeep,
                "$.entry[0].resource.entry[0].resource.entry[0].resource"
            )
        );
    });
}

#[test]
fn ten_thousand_levels_are_an_error_not_a_crash() {
    on_small_stack(|| {
        let arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = from_slice::<Resource>(arrays.as_bytes()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Type("object"));
        let inside = format!(r#"{{"resourceType":"Patient","x":{arrays}}}"#);
        assert_eq!(
            from_slice::<Resource>(inside.as_bytes()).unwrap_err().kind,
            ErrorKind::TooDeep
        );
        assert_eq!(
            Value::parse(arrays.as_bytes()).unwrap_err().kind,
            ErrorKind::TooDeep
        );

        let mut ext = r#"{"url":"u","valueString":"v"}"#.to_string();
        for _ in 0..10_000 {
            ext = format!(r#"{{"url":"u","extension":[{ext}]}}"#);
        }
        let input = format!(r#"{{"resourceType":"Patient","extension":[{ext}]}}"#);
        let err = from_slice::<Resource>(input.as_bytes()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::TooDeep);
        assert!(err.path.starts_with("$.extension[0].extension[0]"));
    });
}

#[test]
fn numbers_keep_their_written_text() {
    for n in [
        "1.50",
        "1e3",
        "1E+3",
        "-0",
        "0.0000001",
        "123456789012345678901234.5",
        "-0.0e-0",
    ] {
        let input = format!(
            r#"{{"resourceType":"Observation","status":"final","code":{{"text":"x"}},"valueQuantity":{{"value":{n}}}}}"#
        );
        let r: Resource = from_slice(input.as_bytes()).unwrap();
        let out = String::from_utf8(to_vec(&r)).unwrap();
        assert!(out.contains(&format!(r#""value":{n}}}"#)), "{n}: {out}");
    }
    // 1.50 and 1.5 differ by written text.
    let a = Value::parse(br#"{"v":1.50}"#).unwrap();
    assert_eq!(
        a.first_difference(&Value::parse(br#"{"v":1.5}"#).unwrap())
            .as_deref(),
        Some("$.v")
    );
    // integer range errors carry the path
    let err = from_slice::<Resource>(
        br#"{"resourceType":"Patient","multipleBirthInteger":99999999999999999999999}"#,
    )
    .unwrap_err();
    assert_eq!(
        (err.kind, err.path.as_str()),
        (
            ErrorKind::Value("integer out of range"),
            "$.multipleBirthInteger"
        )
    );
}

#[test]
fn escapes_and_framing() {
    let r: Resource = from_slice(
        "\u{feff} \r\n\t{ \"name\" : [ { \"family\" : \"Ren\\u00e9 \\ud83d\\ude00 a\\/b\" } ] ,\n\"resourceType\":\"Patient\" } \n"
            .as_bytes(),
    )
    .unwrap();
    let out = String::from_utf8(to_vec(&r)).unwrap();
    assert!(out.contains("\"family\":\"René 😀 a/b\""), "{out}");
    for (input, kind, path) in [
        (
            &br#"{"resourceType":"Patient","name":[{"family":"\ud83d"}]}"#[..],
            "syntax",
            "$.name[0].family",
        ),
        (
            br#"{"resourceType":"Patient","name":[{"family":"\udc00"}]}"#,
            "syntax",
            "$.name[0].family",
        ),
        (
            b"{\"resourceType\":\"Patient\",\"id\":\"a\tb\"}",
            "syntax",
            "$.id",
        ),
        (br#"{"resourceType":"Patient"} x"#, "syntax", "$"),
        (b"", "syntax", "$"),
        (br#"[{"resourceType":"Patient"}]"#, "type", "$"),
        (br#"{"resourceType":7}"#, "type", "$.resourceType"),
        (br#"{"id":"x"}"#, "rt", "$"),
        (br#"{"resourceType":"Spaceship"}"#, "rt", "$"),
    ] {
        let err = from_slice::<Resource>(input).unwrap_err();
        let ok = match kind {
            "syntax" => matches!(err.kind, ErrorKind::Syntax(_)),
            "type" => matches!(err.kind, ErrorKind::Type(_)),
            _ => matches!(err.kind, ErrorKind::ResourceType(_)),
        };
        assert!(
            ok && err.path == path,
            "{}: {err}",
            String::from_utf8_lossy(input)
        );
    }
}

/// `Account` is outside the default features: it is kept as raw JSON, and a
/// repeated `resourceType` (even a conflicting one) must survive.
#[cfg(not(feature = "account"))]
#[test]
fn raw_resource_keeps_a_repeated_resource_type() {
    for input in [
        r#"{"resourceType":"Account","status":"active","resourceType":"Patient"}"#,
        r#"{"id":"a","resourceType":"Account","resourceType":"Account"}"#,
        r#"{"id":"a","resourceType":"Account","status":"active"}"#,
        r#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"id":"a","resourceType":"Account","resourceType":"X"}}]}"#,
    ] {
        let r: Resource = from_slice(input.as_bytes()).unwrap();
        assert!(
            roundtrips(input),
            "{input} -> {}",
            String::from_utf8_lossy(&to_vec(&r))
        );
    }
}

#[test]
fn negative_zero_integer_is_reported() {
    let parsed = ehrkit_fhir_model::from_slice_with::<Resource>(
        br#"{"resourceType":"Patient","multipleBirthInteger":-0}"#,
        &ehrkit_fhir_model::ParseOptions::default(),
    )
    .unwrap();
    assert!(
        parsed
            .issues
            .iter()
            .any(|i| i.path == "$.multipleBirthInteger" && i.message.contains("-0")),
        "{:?}",
        parsed.issues
    );
}
