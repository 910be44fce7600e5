//! The structs to generate, built from the StructureDefinition snapshots.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::codes::CodeEnums;
use crate::names::{doc, snake, upper_first};
use crate::spec::{backbone_names, elements, s};

/// How a field is read and written.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Primitive with `_name`; the Rust value type.
    Prim(String),
    /// Plain string without extensions (`Element.id`, `Extension.url`, `Resource.id`).
    SystemString,
    /// Complex type or backbone struct.
    Complex(String),
    /// An inline resource.
    Resource,
    /// Choice: enum name and variants (type suffix, kind).
    Choice(String, Vec<(String, Kind)>),
}

/// One element of a struct.
#[derive(Debug, Clone)]
pub struct Field {
    /// JSON name (for a choice, without the type suffix).
    pub json: String,
    /// Rust name.
    pub rust: String,
    pub kind: Kind,
    pub min: u64,
    /// Upper cardinality; `None` = unbounded.
    pub max: Option<u64>,
    /// An array in JSON.
    pub many: bool,
    pub doc: String,
}

/// A datatype, resource or backbone element.
#[derive(Debug, Clone)]
pub struct Struct {
    pub name: String,
    pub doc: String,
    pub fields: Vec<Field>,
    /// A resource (has a `resourceType`).
    pub resource: bool,
}

/// The Rust value type of a FHIR primitive.
fn rust_prim(code: &str) -> Option<&'static str> {
    Some(match code {
        "boolean" => "bool",
        "integer" => "i32",
        "unsignedInt" => "u32",
        "positiveInt" => "NonZeroU32",
        "decimal" => "Decimal",
        "date" => "Date",
        "dateTime" => "DateTime",
        "instant" => "Instant",
        "time" => "Time",
        "string" | "code" | "id" | "uri" | "url" | "canonical" | "oid" | "uuid" | "markdown"
        | "base64Binary" | "xhtml" => "String",
        _ => return None,
    })
}

/// Builds structs; collects the code enums their fields use.
pub struct Builder<'p> {
    /// Names of the complex datatypes.
    complex: BTreeSet<String>,
    /// The code enums met so far.
    pub codes: CodeEnums<'p>,
}

/// The StructureDefinition being built and its backbone struct names.
struct Definition<'a> {
    sd: &'a Value,
    /// Feature of the owning resource (`""` for datatypes).
    owner: &'a str,
    names: HashMap<String, String>,
}

impl<'p> Builder<'p> {
    /// A builder that knows the complex datatypes `complex`.
    pub fn new(complex: BTreeSet<String>, codes: CodeEnums<'p>) -> Self {
        Builder { complex, codes }
    }

    /// The struct of a datatype or resource (first) and its backbone structs.
    pub fn structs(&mut self, sd: &Value, resource: bool, owner: &str) -> Vec<Struct> {
        let name = s(sd, "type");
        let def = Definition {
            sd,
            owner,
            names: backbone_names(sd),
        };
        let mut out = Vec::new();
        self.build(&def, name, name, resource, &mut out);
        out
    }

    /// Builds the struct for `path` and, after it, its nested backbone structs.
    fn build(
        &mut self,
        def: &Definition<'_>,
        path: &str,
        name: &str,
        resource: bool,
        out: &mut Vec<Struct>,
    ) {
        let elements = elements(def.sd);
        let root = elements
            .iter()
            .find(|e| s(e, "path") == path)
            .expect("root element");
        let doc_text = if path.contains('.') {
            s(root, "short")
        } else {
            s(def.sd, "description")
        };
        let mut st = Struct {
            name: name.to_owned(),
            doc: doc(doc_text),
            fields: Vec::new(),
            resource,
        };
        let prefix = format!("{path}.");
        let mut nested = Vec::new();
        for e in elements {
            let p = s(e, "path");
            let Some(rest) = p.strip_prefix(&prefix) else {
                continue;
            };
            if rest.contains('.') || e.get("sliceName").is_some() || s(e, "max") == "0" {
                continue;
            }
            st.fields
                .push(self.field(def, e, rest, name, resource, &mut nested));
        }
        out.push(st);
        for (p, n) in nested {
            self.build(def, &p, &n, false, out);
        }
    }

    /// The field for element `e` (named `rest` inside struct `name`); a
    /// backbone element is added to `nested` (path, struct name).
    fn field(
        &mut self,
        def: &Definition<'_>,
        e: &Value,
        rest: &str,
        name: &str,
        resource: bool,
        nested: &mut Vec<(String, String)>,
    ) -> Field {
        let p = s(e, "path");
        let max = s(e, "max");
        let many = max == "*" || max.parse::<u64>().is_ok_and(|m| m > 1);
        let min = e.get("min").and_then(Value::as_u64).unwrap_or(0);
        let types: Vec<&Value> = e
            .get("type")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let (json, kind) = if let Some(base) = rest.strip_suffix("[x]") {
            assert!(!many, "repeating choice at {p}");
            let enum_name = format!("{name}{}", upper_first(base));
            (base.to_owned(), self.choice(def, enum_name, &types, p))
        } else if let Some(cr) = e.get("contentReference").and_then(Value::as_str) {
            (rest.to_owned(), content_reference(def, cr))
        } else {
            assert_eq!(types.len(), 1, "{p}");
            let code = s(types[0], "code");
            if code == "BackboneElement" || code == "Element" {
                let n = def.names[p].clone();
                nested.push((p.to_owned(), n.clone()));
                (rest.to_owned(), Kind::Complex(n))
            } else {
                let mut k = self.type_kind(def, code, p, e.get("binding"));
                if resource && rest == "id" {
                    // `Resource.id` has no `_id` sibling.
                    k = Kind::SystemString;
                }
                (rest.to_owned(), k)
            }
        };
        Field {
            rust: snake(&json),
            json,
            kind,
            min,
            max: if many {
                max.parse::<u64>().ok()
            } else {
                Some(1)
            },
            many,
            doc: doc(s(e, "short")),
        }
    }

    /// The enum of a choice element `[x]` over `types`.
    fn choice(
        &mut self,
        def: &Definition<'_>,
        enum_name: String,
        types: &[&Value],
        path: &str,
    ) -> Kind {
        let variants = types
            .iter()
            .map(|t| {
                let code = s(t, "code");
                (upper_first(code), self.type_kind(def, code, path, None))
            })
            .collect();
        Kind::Choice(enum_name, variants)
    }

    /// The kind of a field of FHIR type `code`.
    fn type_kind(
        &mut self,
        def: &Definition<'_>,
        code: &str,
        path: &str,
        binding: Option<&Value>,
    ) -> Kind {
        if code.starts_with("http://hl7.org/fhirpath/System.") {
            return Kind::SystemString;
        }
        if code == "code" {
            if let Some(e) = binding.and_then(|b| self.codes.for_binding(b, def.owner)) {
                return Kind::Prim(e);
            }
        }
        if let Some(r) = rust_prim(code) {
            return Kind::Prim(r.to_owned());
        }
        if code == "Resource" {
            return Kind::Resource;
        }
        if self.complex.contains(code) {
            return Kind::Complex(code.to_owned());
        }
        panic!("unknown type {code} at {path}");
    }
}

/// The struct a `contentReference` (`#Questionnaire.item`) points to.
fn content_reference(def: &Definition<'_>, cr: &str) -> Kind {
    let target = cr.trim_start_matches('#');
    let target = target.rsplit_once('#').map_or(target, |x| x.1);
    Kind::Complex(
        def.names
            .get(target)
            .unwrap_or_else(|| panic!("{cr}"))
            .clone(),
    )
}
