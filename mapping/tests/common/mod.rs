//! Helpers shared by the mapping crate's integration tests (`mod common;` in each).
// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeSet;

use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::{Bundle, Validator};

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
