//! Helpers shared by the mapping crate's integration tests (`mod common;` in each).
// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeSet;

use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::{Bundle, BundleEntryRequest, TypedResource, Validator};
use ehrkit_hl7v2::Message;
use ehrkit_mapping::v2_to_fhir::{BundleKind, Conversion, Converter, Options};
use ehrkit_mapping::{Profile, ReportKind};

/// The test message `tests/data/<dir>/<name>` (written for these tests).
pub fn data(dir: &str, name: &str) -> String {
    let path = format!("{}/tests/data/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Converts `raw` with the generic profile into a transaction Bundle, which must survive a
/// JSON round trip through `ehrkit-fhir-model` and pass its structural validation.
pub fn convert_transaction(raw: &str) -> Conversion {
    let msg = Message::parse(raw.as_bytes()).expect("test message parses");
    let c = Converter::new(
        Profile::generic(),
        Options::default().bundle_kind(BundleKind::Transaction),
    )
    .convert(&msg)
    .expect("converts");
    let text = ehrkit_fhir_model::to_string(&c.bundle);
    let back: Bundle = ehrkit_fhir_model::from_slice(text.as_bytes()).expect("JSON reads back");
    assert_eq!(back, c.bundle, "round trip changed the Bundle");
    let issues = Validator::check(&c.bundle);
    assert!(issues.is_empty(), "{issues:?}");
    c
}

/// Whether the conversion's report has an entry of `kind` at `at` (`OBX[2]-5`).
pub fn report_has(c: &Conversion, kind: ReportKind, at: &str) -> bool {
    c.report
        .entries()
        .iter()
        .any(|e| e.kind == kind && e.location.to_string() == at)
}

/// The resources of type `R`, in Bundle order.
pub fn all<R: TypedResource + Clone>(b: &Bundle) -> Vec<R> {
    b.entry
        .iter()
        .filter_map(|e| e.resource.as_deref().and_then(R::from_resource))
        .cloned()
        .collect()
}

/// The request of the entry holding the resource whose id is `id`, and its method's code
/// (`POST`, `PUT`).
#[track_caller]
pub fn request_of<'b>(b: &'b Bundle, id: Option<&str>) -> (&'b BundleEntryRequest, &'b str) {
    let entry = b
        .entry
        .iter()
        .find(|e| e.resource.as_ref().and_then(|r| r.id()) == id)
        .expect("an entry holds the resource");
    let request = entry.request.as_deref().expect("the entry has a request");
    let method = request
        .method
        .as_ref()
        .and_then(|m| m.value.as_ref())
        .map(|m| m.as_code())
        .expect("the request has a method");
    (request, method)
}

/// Every `reference` string anywhere in a JSON tree, in document order.
pub fn references(v: &Value, out: &mut Vec<String>) {
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

/// The checks every Bundle a test produces must pass: JSON round trip through
/// `ehrkit-fhir-model`, its structural validation, a unique `fullUrl` and a unique id on every
/// entry, every internal reference resolving to an entry. `Err` says which failed (no message
/// content).
pub fn bundle_problems(b: &Bundle) -> Result<(), String> {
    let text = ehrkit_fhir_model::to_string(b);
    let back: Bundle = ehrkit_fhir_model::from_slice(text.as_bytes())
        .map_err(|e| format!("JSON does not read back: {e}"))?;
    if &back != b {
        return Err("the JSON round trip changed the Bundle".into());
    }
    let issues = Validator::check(b);
    if !issues.is_empty() {
        return Err(format!("validation: {issues:?}"));
    }
    let full_urls: BTreeSet<String> = b
        .entry
        .iter()
        .filter_map(|e| e.full_url.as_ref()?.value.clone())
        .collect();
    if full_urls.len() != b.entry.len() {
        return Err("fullUrls are missing or not unique".into());
    }
    let ids: BTreeSet<&str> = b
        .entry
        .iter()
        .filter_map(|e| e.resource.as_deref()?.id())
        .collect();
    if ids.len() != b.entry.len() {
        return Err("resource ids are missing or not unique".into());
    }
    let mut refs = Vec::new();
    references(
        &Value::parse(text.as_bytes()).map_err(|e| e.to_string())?,
        &mut refs,
    );
    for r in refs {
        if !full_urls.contains(&r) {
            return Err(format!("reference {r} resolves to no entry"));
        }
    }
    Ok(())
}

/// [`bundle_problems`] as an assertion.
#[track_caller]
pub fn check_bundle(b: &Bundle) {
    if let Err(e) = bundle_problems(b) {
        panic!("{e}");
    }
}
