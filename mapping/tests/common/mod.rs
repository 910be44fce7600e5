//! Helpers shared by the mapping crate's integration tests (`mod common;` in each).

use ehrkit_fhir_model::json::Value;

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
