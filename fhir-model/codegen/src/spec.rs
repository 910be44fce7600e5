//! Reading the definitions out of the unpacked npm package.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::names::upper_first;

/// The string member `k` of `v`, or `""`.
pub fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The definitions the generator uses, from one package directory.
pub struct Package {
    /// Concrete complex datatypes, sorted by name.
    pub datatypes: Vec<Value>,
    /// Concrete resources, sorted by name.
    pub resources: Vec<Value>,
    /// Value sets by canonical URL.
    pub value_sets: HashMap<String, Value>,
    /// Code systems by canonical URL.
    pub code_systems: HashMap<String, Value>,
}

impl Package {
    /// Reads every StructureDefinition, ValueSet and CodeSystem of `dir`.
    /// Panics with the file name on unreadable input (a generator, not a library).
    pub fn load(dir: &Path) -> Package {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        let mut sds = Vec::new();
        let mut value_sets = HashMap::new();
        let mut code_systems = HashMap::new();
        for f in &files {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("StructureDefinition-") {
                let v = read_json(f);
                if s(&v, "derivation") == "specialization" && v["abstract"] != Value::Bool(true) {
                    sds.push(v);
                }
            } else if name.starts_with("ValueSet-") {
                let v = read_json(f);
                value_sets.insert(s(&v, "url").to_owned(), v);
            } else if name.starts_with("CodeSystem-") {
                let v = read_json(f);
                code_systems.insert(s(&v, "url").to_owned(), v);
            }
        }
        sds.sort_by(|a, b| s(a, "name").cmp(s(b, "name")));
        let mut datatypes = Vec::new();
        let mut resources = Vec::new();
        for sd in sds {
            match s(&sd, "kind") {
                "complex-type" => datatypes.push(sd),
                "resource" => resources.push(sd),
                _ => {}
            }
        }
        Package {
            datatypes,
            resources,
            value_sets,
            code_systems,
        }
    }
}

fn read_json(p: &Path) -> Value {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The elements of a StructureDefinition's snapshot.
pub fn elements(sd: &Value) -> &[Value] {
    sd["snapshot"]["element"].as_array().expect("snapshot")
}

/// Struct names of the backbone elements of `sd`, by element path
/// (`Patient.contact` → `PatientContact`).
pub fn backbone_names(sd: &Value) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for e in elements(sd) {
        let p = s(e, "path");
        let is_nested = e.get("type").and_then(Value::as_array).is_some_and(|t| {
            t.len() == 1 && matches!(s(&t[0], "code"), "BackboneElement" | "Element")
        });
        if is_nested && p.contains('.') {
            let n: String = p.split('.').map(upper_first).collect();
            m.insert(p.to_owned(), n);
        }
    }
    m
}

/// The FHIR module of a resource, from its `structuredefinition-category`
/// extension (`""` when absent).
pub fn category(sd: &Value) -> String {
    sd["extension"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|e| s(e, "url").ends_with("structuredefinition-category"))
                .map(|e| s(e, "valueString").to_owned())
        })
        .unwrap_or_default()
}

/// The cargo feature of a FHIR module category.
pub fn module_feature(category: &str) -> &'static str {
    match category {
        "Base.Entities" | "Base.Individuals" | "Base.Management" => "base",
        "Base.Workflow" | "Clinical.Request &amp; Response" => "workflow",
        "Clinical.Care Provision" | "Clinical.Summary" => "clinical",
        "Clinical.Diagnostics" => "diagnostics",
        "Clinical.Medications" => "medications",
        c if c.starts_with("Financial.") => "financial",
        c if c.starts_with("Specialized.") => "specialized",
        "Foundation.Conformance" | "Foundation.Terminology" => "conformance",
        _ => "foundation",
    }
}
