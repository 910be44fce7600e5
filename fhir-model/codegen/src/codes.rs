//! Enums for the codes of required bindings whose value sets are plain code lists.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::fixups;
use crate::names::{upper_first, variant_name};
use crate::spec::{s, Package};

/// Value sets larger than this stay strings.
const MAX_CODES: usize = 1500;
/// How deep value sets may include other value sets.
const MAX_INCLUDE_DEPTH: usize = 8;

/// One generated enum.
pub struct CodeEnum {
    /// Rust name.
    pub name: String,
    /// The value set's title.
    pub title: String,
    /// Code, variant, display.
    pub codes: Vec<(String, String, String)>,
}

/// The enums met while building the structs, by value-set URL.
pub struct CodeEnums<'p> {
    pkg: &'p Package,
    /// Enums by value-set URL.
    pub enums: BTreeMap<String, CodeEnum>,
    names: BTreeSet<String>,
    /// Value-set URL → owners (resource features; `""` = datatypes).
    pub users: BTreeMap<String, BTreeSet<String>>,
    /// Names taken by structs and hand-written types.
    reserved: BTreeSet<String>,
}

impl<'p> CodeEnums<'p> {
    /// No enums yet; enum names avoid `reserved`.
    pub fn new(pkg: &'p Package, reserved: BTreeSet<String>) -> Self {
        CodeEnums {
            pkg,
            enums: BTreeMap::new(),
            names: BTreeSet::new(),
            users: BTreeMap::new(),
            reserved,
        }
    }

    /// The enum for a required binding used by `owner`, if the value set is enumerable.
    pub fn for_binding(&mut self, binding: &Value, owner: &str) -> Option<String> {
        if s(binding, "strength") != "required" {
            return None;
        }
        let url = s(binding, "valueSet").split('|').next()?.to_owned();
        if fixups::NOT_ENUMERATED.contains(&url.as_str()) {
            return None;
        }
        self.users
            .entry(url.clone())
            .or_default()
            .insert(owner.to_owned());
        if let Some(e) = self.enums.get(&url) {
            return Some(e.name.clone());
        }
        let codes = self.expand(&url, 0)?;
        let vs = &self.pkg.value_sets[&url];
        let name = self.unique_name(s(vs, "name"));
        let mut used = BTreeSet::new();
        let codes = codes
            .into_iter()
            .map(|(c, d)| {
                let v = variant_name(&c, &mut used);
                (c, v, d)
            })
            .collect();
        let title = s(vs, "title").to_owned();
        self.enums.insert(
            url,
            CodeEnum {
                name: name.clone(),
                title,
                codes,
            },
        );
        Some(name)
    }

    /// A Rust name for a value set's `name`, unique among structs and enums.
    fn unique_name(&mut self, vs_name: &str) -> String {
        let mut name: String = vs_name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .map(upper_first)
            .collect();
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            name = format!("Vs{name}");
        }
        if self.taken(&name) {
            name.push_str("Code");
        }
        let mut n = 2;
        let stem = name.clone();
        while self.taken(&name) {
            name = format!("{stem}{n}");
            n += 1;
        }
        self.names.insert(name.clone());
        name
    }

    fn taken(&self, name: &str) -> bool {
        self.reserved.contains(name) || self.names.contains(name)
    }

    /// Enumerates a value set, when it is a plain list of codes.
    fn expand(&self, url: &str, depth: usize) -> Option<Vec<(String, String)>> {
        if depth > MAX_INCLUDE_DEPTH {
            return None;
        }
        let vs = self.pkg.value_sets.get(url)?;
        let compose = vs.get("compose")?;
        if compose.get("exclude").is_some() {
            return None;
        }
        let mut out = Vec::new();
        for inc in compose.get("include")?.as_array()? {
            if let Some(vss) = inc.get("valueSet").and_then(Value::as_array) {
                for v in vss {
                    out.extend(self.expand(v.as_str()?.split('|').next()?, depth + 1)?);
                }
            }
            if inc.get("filter").is_some() {
                return None;
            }
            if let Some(c) = inc.get("concept").and_then(Value::as_array) {
                for x in c {
                    out.push((s(x, "code").to_owned(), s(x, "display").to_owned()));
                }
            } else if let Some(sys) = inc.get("system").and_then(Value::as_str) {
                let cs = self.pkg.code_systems.get(sys)?;
                if s(cs, "content") != "complete" {
                    return None;
                }
                flatten(cs.get("concept")?, &mut out);
            }
        }
        let mut seen = BTreeSet::new();
        out.retain(|(c, _)| !c.is_empty() && seen.insert(c.clone()));
        if out.is_empty() || out.len() > MAX_CODES {
            return None;
        }
        Some(out)
    }
}

/// Code and display of every concept of a code system, nested ones included.
fn flatten(concepts: &Value, out: &mut Vec<(String, String)>) {
    if let Some(a) = concepts.as_array() {
        for c in a {
            out.push((s(c, "code").to_owned(), s(c, "display").to_owned()));
            if let Some(sub) = c.get("concept") {
                flatten(sub, out);
            }
        }
    }
}
