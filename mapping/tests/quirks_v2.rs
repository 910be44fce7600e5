//! HL7 v2 vendor quirks (issue 13): one message per quirk under `tests/data/quirks/<vendor>/`,
//! with its expected canonical output in `<quirk>.expected.json`.
//!
//! For each case the message is converted three times: with the vendor's example site file
//! (`profiles/examples/<vendor>.toml`), with the same file minus the quirk, and with the
//! generic profile. The expected values must hold with the quirk, the `generic` values must
//! hold with the generic profile (they show what the quirk changes), and switching the quirk
//! off must change the output. [`every_quirk_has_a_case_that_it_changes`] fails when a
//! [`Quirk`] has no case.
//!
//! Expected files: `{"profile": "epic", "expect": {SELECTOR: VALUE}, "generic": {...},
//! "report": [...], "report_generic": [...], "error": "..."}`. A selector is
//! `Type[k]/path/...` (the k-th resource of that type, k = 0 by default), each path step a
//! key, an index or `key[field=value]` (the element of an array whose `field` is `value`);
//! `null` means absent, `"*"` present with any value. `report` lists report lines (substrings) the quirk's run must have,
//! `report_generic` lines the generic run has.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{Converter, Options};
use ehrkit_mapping::{Profile, Quirk};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn site(vendor: &str) -> Profile {
    let path = root().join(format!("profiles/examples/{vendor}.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Profile::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The Bundle as JSON and the report lines, or the error text.
fn convert(profile: &Profile, bytes: &[u8]) -> Result<(Value, Vec<String>), String> {
    let msg = Message::parse(bytes).map_err(|e| e.to_string())?;
    let c = Converter::new(profile.clone(), Options::default())
        .convert(&msg)
        .map_err(|e| e.to_string())?;
    let json = serde_json::from_str(&ehrkit_fhir_model::to_string(&c.bundle)).unwrap();
    Ok((
        json,
        c.report.entries().iter().map(|e| e.to_string()).collect(),
    ))
}

/// Splits a selector on `/` outside `[...]` (filter values are URLs).
fn steps(selector: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0usize);
    for (i, c) in selector.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '/' if depth == 0 => {
                out.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&selector[start..]);
    out
}

fn select<'v>(bundle: &'v Value, selector: &str) -> Option<&'v Value> {
    let mut steps = steps(selector).into_iter();
    let head = steps.next()?;
    let (ty, k) = match head.split_once('[') {
        Some((t, k)) => (t, k.trim_end_matches(']').parse::<usize>().ok()?),
        None => (head, 0),
    };
    let mut v = bundle["entry"]
        .as_array()?
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == ty)
        .nth(k)?;
    for step in steps {
        v = match step.split_once('[') {
            Some((key, filter)) => {
                let (field, want) = filter.trim_end_matches(']').split_once('=')?;
                v.get(key)?
                    .as_array()?
                    .iter()
                    .find(|e| e[field].as_str() == Some(want))?
            }
            None => match step.parse::<usize>() {
                Ok(i) => v.get(i)?,
                Err(_) => v.get(step)?,
            },
        };
    }
    Some(v)
}

fn check(bundle: &Value, expect: &Value, what: &str) {
    for (selector, want) in expect.as_object().expect("an object of selectors") {
        let got = select(bundle, selector);
        match want {
            Value::String(s) if s == "*" => {
                assert!(got.is_some(), "{what}: {selector} should be present")
            }
            Value::Null => assert!(
                got.is_none(),
                "{what}: {selector} should be absent, is {got:?}"
            ),
            want => assert_eq!(got, Some(want), "{what}: {selector}"),
        }
    }
}

struct Case {
    quirk: Quirk,
    vendor: String,
    message: Vec<u8>,
    expected: Value,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let dir = root().join("tests/data/quirks");
    for vendor in std::fs::read_dir(&dir).unwrap() {
        let vendor = vendor.unwrap().path();
        for file in std::fs::read_dir(&vendor).unwrap() {
            let path = file.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("hl7") {
                continue;
            }
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let quirk = *Quirk::ALL
                .iter()
                .find(|q| q.name() == name)
                .unwrap_or_else(|| panic!("{}: names no quirk", path.display()));
            let expected_path = path.with_extension("expected.json");
            let expected: Value = serde_json::from_str(
                &std::fs::read_to_string(&expected_path)
                    .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display())),
            )
            .unwrap();
            out.push(Case {
                quirk,
                vendor: vendor.file_name().unwrap().to_str().unwrap().to_owned(),
                message: std::fs::read(&path).unwrap(),
                expected,
            });
        }
    }
    out.sort_by_key(|c| c.quirk);
    out
}

/// Runs one case; returns whether switching the quirk off changed the output.
fn run_case(case: &Case) -> bool {
    let what = format!("{}/{}", case.vendor, case.quirk.name());
    let vendor = case.expected["profile"]
        .as_str()
        .unwrap_or(case.vendor.as_str());
    let mut profile = site(vendor);
    assert!(
        profile.has(case.quirk) || case.quirk == Quirk::RequireSourceTimeZone,
        "{what}: the {vendor} site file must switch the quirk on"
    );
    if case.expected["without_time_zone"] == Value::Bool(true) {
        profile.source_time_zone = None;
    }
    let on = convert(&profile, &case.message);
    let off = convert(&profile.clone().without(case.quirk), &case.message);
    let generic = convert(&Profile::generic(), &case.message);
    let (generic_bundle, generic_report) =
        generic.unwrap_or_else(|e| panic!("{what}: generic: {e}"));
    check(
        &generic_bundle,
        &case.expected["generic"],
        &format!("{what} (generic)"),
    );
    for line in case.expected["report_generic"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let line = line.as_str().unwrap();
        assert!(
            generic_report.iter().any(|r| r.contains(line)),
            "{what} generic report lacks {line}: {generic_report:#?}"
        );
    }
    match case.expected["error"].as_str() {
        Some(err) => {
            let e = on.clone().expect_err(&what);
            assert!(e.contains(err), "{what}: {e}");
        }
        None => {
            let (bundle, report) = on.as_ref().unwrap_or_else(|e| panic!("{what}: {e}"));
            check(bundle, &case.expected["expect"], &what);
            for line in case.expected["report"].as_array().into_iter().flatten() {
                let line = line.as_str().unwrap();
                assert!(
                    report.iter().any(|r| r.contains(line)),
                    "{what} report lacks {line}: {report:#?}"
                );
            }
            for line in case.expected["report_absent"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let line = line.as_str().unwrap();
                assert!(
                    !report.iter().any(|r| r.contains(line)),
                    "{what} report has {line}: {report:#?}"
                );
            }
        }
    }
    on != off
}

#[test]
fn every_quirk_has_a_case_that_it_changes() {
    let cases = cases();
    let covered: BTreeSet<Quirk> = cases.iter().map(|c| c.quirk).collect();
    let missing: Vec<&str> = Quirk::ALL
        .iter()
        .filter(|q| !covered.contains(q))
        .map(|q| q.name())
        .collect();
    assert!(
        missing.is_empty(),
        "quirks without a test message: {missing:?}"
    );
    let mut inert = Vec::new();
    for case in &cases {
        if !run_case(case) {
            inert.push(case.quirk.name());
        }
    }
    assert!(
        inert.is_empty(),
        "quirks that no longer change their test's output: {inert:?}"
    );
}

#[test]
fn quirk_names_are_their_serde_names_and_all_is_complete() {
    for q in Quirk::ALL {
        assert_eq!(
            serde_json::to_value(q).unwrap(),
            Value::String(q.name().to_owned())
        );
    }
    let unique: BTreeSet<Quirk> = Quirk::ALL.iter().copied().collect();
    assert_eq!(unique.len(), Quirk::ALL.len());
    // Every quirk is in some built-in profile or example site file.
    let mut used = BTreeSet::new();
    for name in Profile::BUILTIN {
        used.extend(Profile::builtin(name).unwrap().quirks);
    }
    for v in [
        "epic",
        "oracle_health",
        "veradigm",
        "meditech",
        "athenahealth",
        "eclinicalworks",
        "nextgen",
    ] {
        used.extend(site(v).quirks);
    }
    assert_eq!(used, unique);
}

#[test]
fn every_example_site_file_loads_extends_its_vendor_and_converts() {
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("profiles/examples")).unwrap() {
        let path = entry.unwrap().path();
        let vendor = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let p = site(&vendor);
        let base = Profile::builtin(&vendor).expect("named after a built-in profile");
        assert!(base.quirks.is_subset(&p.quirks), "{vendor}");
        assert_ne!(p.name, base.name, "{vendor}: the site file names the site");
        assert!(
            p.source_time_zone.is_some(),
            "{vendor}: a site file says its time zone"
        );
        assert!(!p.v2.is_empty(), "{vendor}: site settings");
        // It round-trips as a full profile.
        assert_eq!(Profile::from_toml(&p.to_toml()).unwrap(), p, "{vendor}");
        assert_eq!(Profile::from_json(&p.to_json()).unwrap(), p, "{vendor}");
        // It converts a message of its own vendor's cases (the first one found).
        let dir = root().join("tests/data/quirks").join(&vendor);
        let dir = if dir.exists() {
            dir
        } else {
            root().join("tests/data/quirks/veradigm")
        };
        let first = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().and_then(|e| e.to_str()) == Some("hl7"))
            .unwrap();
        let (bundle, _) = convert(&p, &std::fs::read(&first).unwrap())
            .unwrap_or_else(|e| panic!("{vendor}: {e}"));
        assert_eq!(bundle["resourceType"], "Bundle");
        n += 1;
    }
    assert_eq!(n, 7);
}

#[test]
fn ce_and_cwe_values_convert_alike() {
    // v2.3/2.4 send CE where 2.5+ sends CWE: the same Observation either way (no quirk needed).
    let msg = |ty: &str| {
        format!(
            "MSH|^~\\&|LAB|H|RCV|RF|20260301123000-0500||ORU^R01|1|P|2.3\rPID|1||1^^^H^MR||DOE^J\rOBR|1|A|B|X^Culture^L\rOBX|1|{ty}|600-7^Bacteria identified^LN||112283007^E. coli^SCT||||||F\r"
        )
    };
    let (ce, ce_report) = convert(&Profile::generic(), msg("CE").as_bytes()).unwrap();
    let (cwe, cwe_report) = convert(&Profile::generic(), msg("CWE").as_bytes()).unwrap();
    let value = |b: &Value| select(b, "Observation/valueCodeableConcept").cloned();
    assert!(value(&ce).is_some());
    assert_eq!(value(&ce), value(&cwe));
    assert_eq!(ce_report, cwe_report);
}

#[test]
fn vendor_profiles_keep_the_generic_output_of_vendor_neutral_messages() {
    // A message none of the quirks touches: every built-in profile gives the generic Bundle.
    let msg = b"MSH|^~\\&|ADT1|GOOD HEALTH|RCV|RF|202603011230-0500||ADT^A01|MSG1|P|2.5\rPID|1||123^^^2.16.840.1.113883.19.5&2.16.840.1.113883.19.5&ISO^MR||DOE^JANE^^^^^L||19800101|F\rPV1|1|I|4WEST^412^B\r";
    let generic = convert(&Profile::generic(), msg).unwrap();
    for name in Profile::BUILTIN {
        let p = Profile::builtin(name).unwrap();
        assert_eq!(convert(&p, msg).unwrap(), generic, "{name}");
    }
}

/// The fields the Microsoft conformance test compares (issue 12), as one value: resource counts
/// per type; Patient identifier values, family names, birth date, gender; Encounter class,
/// status and identifier values; Observation, DiagnosticReport, ServiceRequest, Immunization
/// codes, statuses and values; Appointment status and times.
fn key_fields(bundle: &Value) -> Value {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut keys = Vec::new();
    let sorted = |v: &Value, f: &dyn Fn(&Value) -> Value| {
        let mut out: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| f(x).to_string())
            .collect();
        out.sort();
        out
    };
    for e in bundle["entry"].as_array().into_iter().flatten() {
        let r = &e["resource"];
        let ty = r["resourceType"].as_str().unwrap_or("").to_owned();
        *counts.entry(ty.clone()).or_default() += 1;
        let k = match ty.as_str() {
            "Patient" => serde_json::json!([
                sorted(&r["identifier"], &|i| i["value"].clone()),
                sorted(&r["name"], &|n| n["family"].clone()),
                r["birthDate"],
                r["gender"]
            ]),
            "Encounter" => serde_json::json!([
                r["class"]["code"],
                r["status"],
                sorted(&r["identifier"], &|i| i["value"].clone())
            ]),
            "Observation" | "DiagnosticReport" | "ServiceRequest" | "Immunization" => {
                serde_json::json!([
                    sorted(&r["code"]["coding"], &|c| c["code"].clone()),
                    sorted(&r["vaccineCode"]["coding"], &|c| c["code"].clone()),
                    r["status"],
                    r["valueQuantity"]["value"],
                    r["valueString"],
                    sorted(&r["identifier"], &|i| i["value"].clone())
                ])
            }
            "Appointment" => serde_json::json!([r["status"], r["start"], r["end"]]),
            _ => continue,
        };
        keys.push(k.to_string());
    }
    keys.sort();
    serde_json::json!({"counts": counts, "keys": keys})
}

#[test]
fn vendor_profiles_keep_the_key_fields_of_the_microsoft_corpus() {
    // Issue 13: the Microsoft corpus agreement does not drop with a vendor profile switched on
    // for its vendor-neutral messages. Every key field the conformance test compares is the
    // same under every built-in profile as under `generic`.
    let dir = ehrkit_testkit::shared_or_skip!(
        "corpus/v2-to-fhir/microsoft-fhir-converter",
        "the Microsoft FHIR-Converter corpus under vendor profiles"
    );
    let inputs = ehrkit_testkit::shared::files(&dir.join("input"), &["hl7"]);
    assert!(inputs.len() >= 50, "{} inputs", inputs.len());
    let mut differ = Vec::new();
    for path in &inputs {
        let bytes = std::fs::read(path).unwrap();
        let generic = convert(&Profile::generic(), &bytes).map(|(b, _)| key_fields(&b));
        for name in Profile::BUILTIN {
            let p = Profile::builtin(name).unwrap();
            let ours = convert(&p, &bytes).map(|(b, _)| key_fields(&b));
            if ours != generic {
                differ.push(format!(
                    "{name}: {}",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "key fields changed by a vendor profile: {differ:#?}"
    );
}

#[path = "../../fuzz/props/mapping.rs"]
mod props;

fn profile_seeds() -> Vec<Vec<u8>> {
    let dir = root().join("../fuzz/seeds/mapping_profile");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    /// The `mapping_profile` fuzz property on edited seeds (profiles, site overlays, routing
    /// tables with bytes replaced, inserted or cut): never a panic, every error located.
    #[test]
    fn edited_profile_and_routing_files_never_panic_and_errors_are_located(
        seed in 0usize..64,
        edits in proptest::collection::vec((0usize..4096, 0u8..3, proptest::sample::select(b"\"[]=.\n-#,{}0aZ \\\x00\xff".to_vec())), 1..6),
    ) {
        let seeds = profile_seeds();
        let mut bytes = seeds[seed % seeds.len()].clone();
        for (pos, op, b) in edits {
            let at = pos % (bytes.len() + 1);
            match op {
                0 if at < bytes.len() => bytes[at] = b,
                1 => bytes.insert(at, b),
                _ if at < bytes.len() => { bytes.remove(at); }
                _ => {}
            }
        }
        props::check_profile(&bytes);
    }
}

#[test]
fn the_example_routing_table_sends_each_vendor_case_to_its_site_profile() {
    use ehrkit_mapping::{Routing, Selected};
    let dir = root().join("profiles");
    let text = std::fs::read_to_string(dir.join("routing.toml")).unwrap();
    let routing = Routing::from_toml(&text, &dir).unwrap();
    for case in cases() {
        let msg = Message::parse(&case.message).unwrap();
        let chosen = routing.select(&msg);
        let vendor = case.expected["profile"]
            .as_str()
            .unwrap_or(case.vendor.as_str());
        assert!(
            matches!(chosen.by, Selected::Rule(_)),
            "{}: {:?}",
            case.quirk.name(),
            chosen.by
        );
        assert_eq!(
            chosen.profile.vendor.as_deref(),
            Some(vendor),
            "{}",
            case.quirk.name()
        );
        // The routed profile converts the case as the test above does.
        assert_eq!(
            convert(chosen.profile, &case.message).ok(),
            convert(&site(vendor), &case.message).ok(),
            "{}",
            case.quirk.name()
        );
    }
    // An unknown sender gets the default; an explicit override wins.
    let msg =
        Message::parse(b"MSH|^~\\&|OTHER|X|R|F|20260301123000-0500||ADT^A01|1|P|2.5\r").unwrap();
    assert_eq!(routing.select(&msg).by, Selected::Default);
    let forced = routing.with_override(Profile::builtin("meditech").unwrap());
    assert_eq!(forced.select(&msg).profile.name, "meditech");
}
