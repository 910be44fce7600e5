//! Generator of `ehrkit-fhir-model` from the FHIR R4 (4.0.1) definitions.
//!
//! Usage: `ehrkit-fhir-codegen --package DIR --out DIR`
//!
//! `--package` is the unpacked `hl7.fhir.r4.examples@4.0.1` npm package
//! (its `package/` directory); `--out` is `fhir-model/src/generated`.
//! Output is deterministic and formatted with `rustfmt`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod fixups;

/// FHIR module features, from the `structuredefinition-category` extension.
fn module_feature(category: &str) -> &'static str {
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

/// The default feature set: what EHR integrations exchange.
const EHR_DEFAULT: &[&str] = &[
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
    "Encounter",
    "Observation",
    "DiagnosticReport",
    "ServiceRequest",
    "Condition",
    "AllergyIntolerance",
    "Procedure",
    "MedicationRequest",
    "Medication",
    "MedicationAdministration",
    "MedicationStatement",
    "Immunization",
    "Appointment",
    "Schedule",
    "Slot",
    "DocumentReference",
    "Coverage",
    "RelatedPerson",
    "Specimen",
    "Provenance",
    "MessageHeader",
    "Bundle",
    "OperationOutcome",
];

#[derive(Debug, Clone)]
enum Kind {
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

#[derive(Debug, Clone)]
struct Field {
    json: String,
    rust: String,
    kind: Kind,
    min: u64,
    max: Option<u64>,
    many: bool,
    doc: String,
}

#[derive(Debug, Clone)]
struct Struct {
    name: String,
    doc: String,
    fields: Vec<Field>,
    resource: bool,
}

struct CodeEnum {
    name: String,
    title: String,
    codes: Vec<(String, String, String)>, // code, variant, display
}

struct Gen {
    value_sets: HashMap<String, Value>,
    code_systems: HashMap<String, Value>,
    primitives: BTreeSet<String>,
    complex: BTreeSet<String>,
    enums: BTreeMap<String, CodeEnum>,
    enum_names: BTreeSet<String>,
    /// enum url -> owners (resource names; "" = datatypes)
    enum_users: BTreeMap<String, BTreeSet<String>>,
    reserved_names: BTreeSet<String>,
}

fn read_json(p: &Path) -> Value {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn upper_first(x: &str) -> String {
    let mut c = x.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn snake(x: &str) -> String {
    let mut out = String::new();
    for (i, ch) in x.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    const KW: &[&str] = &[
        "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
        "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
        "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub",
        "ref", "return", "self", "static", "struct", "super", "trait", "true", "try", "type",
        "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield", "unknown",
    ];
    if KW.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// Text for a `///` comment on one line.
fn doc(x: &str) -> String {
    let one: String = x.split_whitespace().collect::<Vec<_>>().join(" ");
    let one = one
        .replace('\\', "\\\\")
        .replace('[', "\\[")
        .replace(']', "\\]")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "'")
        .replace("http://", "http:&#47;/")
        .replace("https://", "https:&#47;/");
    if one.is_empty() {
        "(no description)".into()
    } else {
        one
    }
}

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

fn variant_name(code: &str, used: &mut BTreeSet<String>) -> String {
    let mut name = String::new();
    for part in code.split(|c: char| !c.is_ascii_alphanumeric()) {
        name.push_str(&upper_first(part));
    }
    if name.is_empty() {
        for ch in code.chars() {
            name.push_str(match ch {
                '<' => "Lt",
                '>' => "Gt",
                '=' => "Eq",
                '!' => "Not",
                '*' => "Star",
                '+' => "Plus",
                '-' => "Minus",
                '/' => "Slash",
                '.' => "Dot",
                _ => "X",
            });
        }
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'V');
    }
    if name == "Self" || name == "Unrecognized" {
        name.push_str("Code");
    }
    let mut candidate = name.clone();
    let mut n = 2;
    while used.contains(&candidate) {
        candidate = format!("{name}{n}");
        n += 1;
    }
    used.insert(candidate.clone());
    candidate
}

impl Gen {
    fn flatten(concepts: &Value, out: &mut Vec<(String, String)>) {
        if let Some(a) = concepts.as_array() {
            for c in a {
                out.push((s(c, "code").to_owned(), s(c, "display").to_owned()));
                if let Some(sub) = c.get("concept") {
                    Self::flatten(sub, out);
                }
            }
        }
    }

    /// Enumerates a value set, when it is a plain list of codes.
    fn expand(&self, url: &str, depth: usize) -> Option<Vec<(String, String)>> {
        if depth > 8 {
            return None;
        }
        let vs = self.value_sets.get(url)?;
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
                let cs = self.code_systems.get(sys)?;
                if s(cs, "content") != "complete" {
                    return None;
                }
                Self::flatten(cs.get("concept")?, &mut out);
            }
        }
        let mut seen = BTreeSet::new();
        out.retain(|(c, _)| !c.is_empty() && seen.insert(c.clone()));
        if out.is_empty() || out.len() > 1500 {
            return None;
        }
        Some(out)
    }

    /// The enum for a required binding, if the value set is enumerable.
    fn code_enum(&mut self, binding: &Value, owner: &str) -> Option<String> {
        if s(binding, "strength") != "required" {
            return None;
        }
        let url = s(binding, "valueSet").split('|').next()?.to_owned();
        if fixups::NOT_ENUMERATED.contains(&url.as_str()) {
            return None;
        }
        self.enum_users
            .entry(url.clone())
            .or_default()
            .insert(owner.to_owned());
        if let Some(e) = self.enums.get(&url) {
            return Some(e.name.clone());
        }
        let codes = self.expand(&url, 0)?;
        let vs = &self.value_sets[&url];
        let base: String = s(vs, "name")
            .split(|c: char| !c.is_ascii_alphanumeric())
            .map(upper_first)
            .collect();
        let mut name = base.clone();
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            name = format!("Vs{name}");
        }
        if self.reserved_names.contains(&name) || self.enum_names.contains(&name) {
            name.push_str("Code");
        }
        let mut n = 2;
        let stem = name.clone();
        while self.reserved_names.contains(&name) || self.enum_names.contains(&name) {
            name = format!("{stem}{n}");
            n += 1;
        }
        self.enum_names.insert(name.clone());
        let title = s(vs, "title").to_owned();
        let mut used = BTreeSet::new();
        let codes = codes
            .into_iter()
            .map(|(c, d)| {
                let v = variant_name(&c, &mut used);
                (c, v, d)
            })
            .collect();
        self.enums.insert(
            url.clone(),
            CodeEnum {
                name: name.clone(),
                title,
                codes,
            },
        );
        Some(name)
    }

    fn type_kind(&mut self, code: &str, path: &str, binding: Option<&Value>, owner: &str) -> Kind {
        if code.starts_with("http://hl7.org/fhirpath/System.") {
            return Kind::SystemString;
        }
        if code == "code" {
            if let Some(b) = binding {
                if let Some(e) = self.code_enum(b, owner) {
                    return Kind::Prim(e);
                }
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

    /// Builds the struct for `path` and its nested backbone structs.
    #[allow(clippy::too_many_arguments)]
    fn build(
        &mut self,
        sd: &Value,
        path: &str,
        name: &str,
        resource: bool,
        owner: &str,
        names: &HashMap<String, String>,
        out: &mut Vec<Struct>,
    ) {
        let elements = sd["snapshot"]["element"].as_array().expect("snapshot");
        let root = elements
            .iter()
            .find(|e| s(e, "path") == path)
            .expect("root element");
        let doc_text = if path.contains('.') {
            s(root, "short")
        } else {
            s(sd, "description")
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
            if rest.contains('.') || e.get("sliceName").is_some() {
                continue;
            }
            let max = s(e, "max");
            if max == "0" {
                continue;
            }
            let many = max == "*" || max.parse::<u64>().is_ok_and(|m| m > 1);
            let min = e.get("min").and_then(Value::as_u64).unwrap_or(0);
            let types: Vec<&Value> = e
                .get("type")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            let binding = e.get("binding");
            let (json, kind) = if let Some(base) = rest.strip_suffix("[x]") {
                assert!(!many, "repeating choice at {p}");
                let enum_name = format!("{name}{}", upper_first(base));
                let mut variants = Vec::new();
                for t in &types {
                    let code = s(t, "code");
                    let k = self.type_kind(code, p, None, owner);
                    variants.push((upper_first(code), k));
                }
                (base.to_owned(), Kind::Choice(enum_name, variants))
            } else if let Some(cr) = e.get("contentReference").and_then(Value::as_str) {
                let target = cr.trim_start_matches('#');
                let target = target.rsplit_once('#').map_or(target, |x| x.1);
                (
                    rest.to_owned(),
                    Kind::Complex(names.get(target).unwrap_or_else(|| panic!("{cr}")).clone()),
                )
            } else {
                assert_eq!(types.len(), 1, "{p}");
                let code = s(types[0], "code");
                if code == "BackboneElement" || code == "Element" {
                    let n = names[p].clone();
                    nested.push((p.to_owned(), n.clone()));
                    (rest.to_owned(), Kind::Complex(n))
                } else {
                    let mut k = self.type_kind(code, p, binding, owner);
                    if resource && rest == "id" {
                        k = Kind::SystemString;
                    }
                    (rest.to_owned(), k)
                }
            };
            let max = if many {
                max.parse::<u64>().ok()
            } else {
                Some(1)
            };
            st.fields.push(Field {
                rust: snake(&json),
                json,
                kind,
                min,
                max,
                many,
                doc: doc(s(e, "short")),
            });
        }
        out.push(st);
        for (p, n) in nested {
            self.build(sd, &p, &n, false, owner, names, out);
        }
    }
}

fn backbone_names(sd: &Value) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for e in sd["snapshot"]["element"].as_array().expect("snapshot") {
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

// ---------------------------------------------------------------- emit

fn field_type(f: &Field) -> String {
    let inner = match &f.kind {
        Kind::Prim(t) => format!("Primitive<{t}>"),
        Kind::SystemString => "String".into(),
        Kind::Complex(t) => t.clone(),
        Kind::Resource => "Resource".into(),
        Kind::Choice(e, _) => e.clone(),
    };
    if f.many {
        format!("Vec<{inner}>")
    } else {
        match &f.kind {
            Kind::Complex(_) | Kind::Resource => format!("Option<Box<{inner}>>"),
            _ => format!("Option<{inner}>"),
        }
    }
}

fn emit_struct(st: &Struct, o: &mut String) {
    let _ = writeln!(o, "/// {}", st.doc);
    o.push_str("#[derive(Debug, Clone, Default, PartialEq)]\n");
    let _ = writeln!(o, "pub struct {} {{", st.name);
    for f in &st.fields {
        let _ = writeln!(o, "    /// {}", f.doc);
        let _ = writeln!(o, "    pub {}: {},", f.rust, field_type(f));
    }
    o.push_str("    /// Elements not in the definition, kept for writing back.\n    pub unknown: Unknown,\n}\n\n");

    // constructor
    let req: Vec<&Field> = st.fields.iter().filter(|f| f.min > 0).collect();
    if !req.is_empty() {
        let _ = writeln!(o, "impl {} {{", st.name);
        let names: Vec<&str> = req.iter().map(|f| f.json.as_str()).collect();
        let _ = writeln!(
            o,
            "    /// A value with the mandatory elements ({}) set.",
            names.join(", ")
        );
        let args: Vec<String> = req
            .iter()
            .map(|f| {
                let t = match (&f.kind, f.many) {
                    (Kind::Prim(t), false) => format!("impl Into<{t}>"),
                    (Kind::SystemString, false) => "impl Into<String>".into(),
                    (Kind::Complex(t), false) => t.clone(),
                    (Kind::Resource, false) => "Resource".into(),
                    (Kind::Choice(e, _), false) => e.clone(),
                    _ => field_type(f),
                };
                format!("{}: {t}", f.rust)
            })
            .collect();
        if args.len() > 7 {
            o.push_str("    #[allow(clippy::too_many_arguments)]\n");
        }
        let _ = writeln!(o, "    pub fn new({}) -> Self {{", args.join(", "));
        let _ = writeln!(o, "        {} {{", st.name);
        for f in &req {
            let v = match (&f.kind, f.many) {
                (_, true) => {
                    let _ = writeln!(o, "            {},", f.rust);
                    continue;
                }
                (Kind::Prim(_), false) => format!("Some(Primitive::new({}.into()))", f.rust),
                (Kind::SystemString, false) => format!("Some({}.into())", f.rust),
                (Kind::Complex(_) | Kind::Resource, false) => format!("Some(Box::new({}))", f.rust),
                (Kind::Choice(..), false) => format!("Some({})", f.rust),
            };
            let _ = writeln!(o, "            {}: {v},", f.rust);
        }
        o.push_str("            ..Default::default()\n        }\n    }\n}\n\n");
    }

    // reader / writer
    let _ = writeln!(o, "impl FhirObject for {} {{", st.name);
    if st.resource {
        let _ = writeln!(
            o,
            "    const RESOURCE_TYPE: Option<&'static str> = Some(\"{}\");",
            st.name
        );
    }
    o.push_str("    fn read_field(&mut self, key: &str, p: &mut Parser<'_>) -> Res<Read> {\n        match key {\n");
    for f in &st.fields {
        let (r, j) = (&f.rust, &f.json);
        let m = if f.many { "_vec" } else { "" };
        match &f.kind {
            Kind::Prim(_) => {
                let _ = writeln!(o, "            \"{j}\" => p.prim{m}(&mut self.{r}),");
                let _ = writeln!(o, "            \"_{j}\" => p.prim_ext{m}(&mut self.{r}),");
            }
            Kind::SystemString => {
                let _ = writeln!(o, "            \"{j}\" => p.system_string(&mut self.{r}),");
            }
            Kind::Complex(_) => {
                let _ = writeln!(o, "            \"{j}\" => p.complex{m}(&mut self.{r}),");
            }
            Kind::Resource => {
                let _ = writeln!(o, "            \"{j}\" => p.resource{m}(&mut self.{r}),");
            }
            Kind::Choice(e, vs) => {
                let keys: Vec<String> = vs
                    .iter()
                    .flat_map(|(v, k)| {
                        let mut x = vec![format!("\"{j}{v}\"")];
                        if matches!(k, Kind::Prim(_)) {
                            x.push(format!("\"_{j}{v}\""));
                        }
                        x
                    })
                    .collect();
                let _ = writeln!(
                    o,
                    "            {} => {e}::read_choice(&mut self.{r}, key, p),",
                    keys.join(" | ")
                );
            }
        }
    }
    o.push_str("            _ => Ok(Read::Unknown),\n        }\n    }\n");
    o.push_str(
        "    fn unknown_mut(&mut self) -> &mut Unknown {\n        &mut self.unknown\n    }\n",
    );
    o.push_str("    fn write_fields(&self, w: &mut Writer) {\n");
    for f in &st.fields {
        let (r, j) = (&f.rust, &f.json);
        let m = if f.many { "_vec" } else { "" };
        match &f.kind {
            Kind::Prim(_) => {
                let _ = writeln!(o, "        w.prim{m}(\"{j}\", \"_{j}\", &self.{r});");
            }
            Kind::SystemString => {
                let _ = writeln!(o, "        w.system_string(\"{j}\", &self.{r});");
            }
            Kind::Complex(_) => {
                let _ = writeln!(o, "        w.complex{m}(\"{j}\", &self.{r});");
            }
            Kind::Resource => {
                let _ = writeln!(o, "        w.resource{m}(\"{j}\", &self.{r});");
            }
            Kind::Choice(..) => {
                let _ = writeln!(o, "        if let Some(c) = &self.{r} {{\n            c.write_choice(w);\n        }}");
            }
        }
    }
    o.push_str("        w.unknown(&self.unknown);\n    }\n}\n\n");

    // validation
    let _ = writeln!(o, "impl Validate for {} {{", st.name);
    o.push_str("    fn validate(&self, v: &mut Validator) {\n");
    for f in &st.fields {
        let (r, j) = (&f.rust, &f.json);
        if f.many {
            let max = f.max.map_or("usize::MAX".to_owned(), |m| m.to_string());
            if f.min > 0 || f.max.is_some() {
                let _ = writeln!(
                    o,
                    "        v.items(\"{j}\", self.{r}.len(), {}, {max});",
                    f.min
                );
            }
        } else if f.min > 0 {
            let _ = writeln!(o, "        v.required(\"{j}\", self.{r}.is_some());");
        }
        match &f.kind {
            Kind::SystemString => {}
            Kind::Choice(..) => {
                let _ = writeln!(o, "        self.{r}.validate(v);");
            }
            _ => {
                let _ = writeln!(o, "        v.field(\"{j}\", &self.{r});");
            }
        }
    }
    o.push_str("        v.unknown(&self.unknown);\n    }\n}\n\n");

    // choice enums
    for f in &st.fields {
        let Kind::Choice(e, vs) = &f.kind else {
            continue;
        };
        let j = &f.json;
        let _ = writeln!(o, "/// Choice of types for `{}.{j}[x]`: {}", st.name, f.doc);
        o.push_str("#[derive(Debug, Clone, PartialEq)]\n");
        let _ = writeln!(o, "pub enum {e} {{");
        for (v, k) in vs {
            let t = match k {
                Kind::Prim(t) => format!("Primitive<{t}>"),
                Kind::Complex(t) => format!("Box<{t}>"),
                other => panic!("choice variant {other:?}"),
            };
            let _ = writeln!(o, "    /// `{j}{v}`\n    {v}({t}),");
        }
        o.push_str("}\n\n");
        let _ = writeln!(o, "impl {e} {{");
        o.push_str("    #[doc(hidden)]\n    pub fn read_choice(slot: &mut Option<Self>, key: &str, p: &mut Parser<'_>) -> Res<Read> {\n        match key {\n");
        let single = vs.len() == 1;
        for (v, k) in vs {
            match k {
                Kind::Prim(_) => {
                    let get = if single {
                        format!("|c| match c {{ Self::{v}(x) => Some(x) }}")
                    } else {
                        format!("|c| match c {{ Self::{v}(x) => Some(x), _ => None }}")
                    };
                    let _ = writeln!(
                        o,
                        "            \"{j}{v}\" => p.choice_prim(slot, {get}, Self::{v}, false),"
                    );
                    let _ = writeln!(
                        o,
                        "            \"_{j}{v}\" => p.choice_prim(slot, {get}, Self::{v}, true),"
                    );
                }
                _ => {
                    let _ = writeln!(
                        o,
                        "            \"{j}{v}\" => p.choice_complex(slot, Self::{v}),"
                    );
                }
            }
        }
        o.push_str("            _ => Ok(Read::Unknown),\n        }\n    }\n");
        o.push_str("    #[doc(hidden)]\n    pub fn write_choice(&self, w: &mut Writer) {\n        match self {\n");
        for (v, k) in vs {
            match k {
                Kind::Prim(_) => {
                    let _ = writeln!(
                        o,
                        "            Self::{v}(x) => w.prim_one(\"{j}{v}\", \"_{j}{v}\", x),"
                    );
                }
                _ => {
                    let _ = writeln!(
                        o,
                        "            Self::{v}(x) => w.complex_one(\"{j}{v}\", &**x),"
                    );
                }
            }
        }
        o.push_str("        }\n    }\n}\n\n");
        let _ = writeln!(o, "impl Validate for {e} {{");
        o.push_str("    fn validate(&self, v: &mut Validator) {\n        match self {\n");
        for (v, _) in vs {
            let _ = writeln!(o, "            Self::{v}(x) => v.field(\"{j}{v}\", x),");
        }
        o.push_str("        }\n    }\n}\n\n");
    }
}

const HEADER: &str = "// @generated by ehrkit-fhir-codegen from the FHIR R4 (4.0.1) definitions\n// (hl7.fhir.r4.examples@4.0.1, CC0). Do not edit by hand.\n";

fn prelude(types: bool) -> String {
    let glob = if types {
        ""
    } else {
        "#[allow(unused_imports)]\nuse crate::types::*;\n"
    };
    format!(
        "{HEADER}\n#[allow(unused_imports)]\nuse std::num::NonZeroU32;\n\n#[allow(unused_imports)]\nuse crate::codes::*;\nuse crate::de::{{FhirObject, Parser, Read, Res}};\n#[allow(unused_imports)]\nuse crate::primitives::{{Date, DateTime, Decimal, Instant, Primitive, Time}};\nuse crate::ser::Writer;\n{glob}use crate::unknown::Unknown;\nuse crate::validate::{{Validate, Validator}};\n#[allow(unused_imports)]\nuse crate::Resource;\n\n"
    )
}

fn feature_name(resource: &str) -> String {
    snake(resource).trim_end_matches('_').to_owned()
}

fn cfg_any(features: &BTreeSet<String>) -> String {
    if features.len() == 1 {
        format!(
            "#[cfg(feature = \"{}\")]\n",
            features.iter().next().map_or("", |s| s)
        )
    } else {
        let list: Vec<String> = features
            .iter()
            .map(|f| format!("feature = \"{f}\""))
            .collect();
        format!("#[cfg(any({}))]\n", list.join(", "))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut package = None;
    let mut out = None;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--package" => package = args.get(i + 1).map(PathBuf::from),
            "--out" => out = args.get(i + 1).map(PathBuf::from),
            _ => {
                eprintln!("usage: ehrkit-fhir-codegen --package DIR --out DIR");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    let (Some(package), Some(out)) = (package, out) else {
        eprintln!("usage: ehrkit-fhir-codegen --package DIR --out DIR");
        std::process::exit(2);
    };

    let mut files: Vec<PathBuf> = std::fs::read_dir(&package)
        .expect("package dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut sds = Vec::new();
    let mut gen = Gen {
        value_sets: HashMap::new(),
        code_systems: HashMap::new(),
        primitives: BTreeSet::new(),
        complex: BTreeSet::new(),
        enums: BTreeMap::new(),
        enum_names: BTreeSet::new(),
        enum_users: BTreeMap::new(),
        reserved_names: BTreeSet::new(),
    };
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("StructureDefinition-") {
            let v = read_json(f);
            if s(&v, "derivation") == "specialization" && v["abstract"] != Value::Bool(true) {
                sds.push(v);
            }
        } else if name.starts_with("ValueSet-") {
            let v = read_json(f);
            gen.value_sets.insert(s(&v, "url").to_owned(), v);
        } else if name.starts_with("CodeSystem-") {
            let v = read_json(f);
            gen.code_systems.insert(s(&v, "url").to_owned(), v);
        }
    }
    sds.sort_by(|a, b| s(a, "name").cmp(s(b, "name")));
    let mut datatypes = Vec::new();
    let mut resources = Vec::new();
    for sd in &sds {
        match s(sd, "kind") {
            "primitive-type" => {
                gen.primitives.insert(s(sd, "name").to_owned());
            }
            "complex-type" => {
                gen.complex.insert(s(sd, "type").to_owned());
                datatypes.push(sd);
            }
            "resource" => resources.push(sd),
            _ => {}
        }
    }
    // Names of every struct, so code enums avoid them.
    for sd in datatypes.iter().chain(resources.iter()) {
        gen.reserved_names.insert(s(sd, "type").to_owned());
        for n in backbone_names(sd).into_values() {
            gen.reserved_names.insert(n);
        }
    }
    for n in [
        "Resource",
        "Primitive",
        "Decimal",
        "Date",
        "DateTime",
        "Instant",
        "Time",
        "Unknown",
        "ElementExt",
    ] {
        gen.reserved_names.insert(n.to_owned());
    }

    std::fs::create_dir_all(out.join("resources")).expect("out dir");
    let mut written = Vec::new();

    // datatypes
    let mut o = prelude(true);
    for sd in &datatypes {
        let name = s(sd, "type");
        let names = backbone_names(sd);
        let mut structs = Vec::new();
        gen.build(sd, name, name, false, "", &names, &mut structs);
        for st in &structs {
            emit_struct(st, &mut o);
        }
    }
    let p = out.join("types.rs");
    std::fs::write(&p, o).expect("write");
    written.push(p);

    // resources
    let mut modules = Vec::new();
    let mut groups: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for sd in &resources {
        let name = s(sd, "type");
        let cat = sd["extension"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|e| s(e, "url").ends_with("structuredefinition-category"))
                    .map(|e| s(e, "valueString").to_owned())
            })
            .unwrap_or_default();
        let feature = feature_name(name);
        groups
            .entry(module_feature(&cat))
            .or_default()
            .push(feature.clone());
        let names = backbone_names(sd);
        let mut structs = Vec::new();
        gen.build(sd, name, name, true, &feature, &names, &mut structs);
        let mut o = prelude(false);
        for st in &structs {
            emit_struct(st, &mut o);
        }
        let _ = writeln!(
            o,
            "impl crate::TypedResource for {name} {{\n    const TYPE_NAME: &'static str = \"{name}\";\n    fn id(&self) -> Option<&str> {{\n        self.id.as_deref()\n    }}\n    fn from_resource(r: &Resource) -> Option<&Self> {{\n        match r {{\n            Resource::{name}(x) => Some(x),\n            _ => None,\n        }}\n    }}\n    fn into_resource(self) -> Resource {{\n        Resource::{name}(Box::new(self))\n    }}\n}}"
        );
        let file = format!("{feature}.rs");
        let p = out.join("resources").join(&file);
        std::fs::write(&p, o).expect("write");
        written.push(p);
        modules.push((name.to_owned(), feature));
    }

    // resources/mod.rs
    let mut o = format!("{HEADER}\n//! One module per resource, each behind the cargo feature of the same (snake_case) name.\n\n");
    for (_, f) in &modules {
        let _ = writeln!(
            o,
            "#[cfg(feature = \"{f}\")]\nmod {f};\n#[cfg(feature = \"{f}\")]\npub use {f}::*;"
        );
    }
    let p = out.join("resources").join("mod.rs");
    std::fs::write(&p, o).expect("write");
    written.push(p);

    // Resource enum
    let mut o = format!("{HEADER}\nuse crate::de::{{Parser, Res}};\nuse crate::ser::Writer;\nuse crate::validate::{{Validate, Validator}};\n#[allow(unused_imports)]\nuse crate::resources::*;\n\n");
    o.push_str("/// Every R4 resource type name (whether or not its feature is enabled).\npub const ALL_RESOURCE_TYPES: &[&str] = &[\n");
    for (n, _) in &modules {
        let _ = writeln!(o, "    \"{n}\",");
    }
    o.push_str("];\n\n/// Any resource, dispatched on `resourceType`.\n#[derive(Debug, Clone, PartialEq)]\n#[non_exhaustive]\npub enum Resource {\n");
    for (n, f) in &modules {
        let _ = writeln!(
            o,
            "    /// `{n}`\n    #[cfg(feature = \"{f}\")]\n    {n}(Box<{n}>),"
        );
    }
    o.push_str("    /// An R4 resource whose cargo feature is not enabled, kept as JSON.\n    Other(Box<crate::RawResource>),\n}\n\n");
    o.push_str("impl Resource {\n    /// The `resourceType`.\n    pub fn resource_type(&self) -> &str {\n        match self {\n");
    for (n, f) in &modules {
        let _ = writeln!(
            o,
            "            #[cfg(feature = \"{f}\")]\n            Resource::{n}(_) => \"{n}\","
        );
    }
    o.push_str("            Resource::Other(r) => &r.resource_type,\n        }\n    }\n\n");
    o.push_str(
        "    /// The logical id.\n    pub fn id(&self) -> Option<&str> {\n        match self {\n",
    );
    for (n, f) in &modules {
        let _ = writeln!(o, "            #[cfg(feature = \"{f}\")]\n            Resource::{n}(x) => x.id.as_deref(),");
    }
    o.push_str("            Resource::Other(r) => r.id(),\n        }\n    }\n\n");
    o.push_str("    pub(crate) fn read(p: &mut Parser<'_>) -> Res<Resource> {\n        let (rt, consumed) = p.resource_start()?;\n        Ok(match rt.as_ref() {\n");
    for (n, f) in &modules {
        let _ = writeln!(o, "            #[cfg(feature = \"{f}\")]\n            \"{n}\" => Resource::{n}(p.resource_body(consumed)?),");
    }
    o.push_str("            other => p.resource_other(other, consumed)?,\n        })\n    }\n\n");
    o.push_str("    pub(crate) fn write(&self, w: &mut Writer) {\n        match self {\n");
    for (n, f) in &modules {
        let _ = writeln!(o, "            #[cfg(feature = \"{f}\")]\n            Resource::{n}(x) => w.object(&**x),");
    }
    o.push_str("            Resource::Other(r) => r.write(w),\n        }\n    }\n}\n\n");
    o.push_str("impl Validate for Resource {\n    fn validate(&self, v: &mut Validator) {\n        match self {\n");
    for (n, f) in &modules {
        let _ = writeln!(
            o,
            "            #[cfg(feature = \"{f}\")]\n            Resource::{n}(x) => x.validate(v),"
        );
    }
    o.push_str("            Resource::Other(_) => {}\n        }\n    }\n}\n");
    let p = out.join("resource.rs");
    std::fs::write(&p, o).expect("write");
    written.push(p);

    // code enums
    let mut o = format!("{HEADER}\n//! Codes of the required value sets, one enum per value set.\n\nuse crate::de::{{Parser, Res}};\nuse crate::primitives::PrimitiveValue;\nuse crate::ser::Writer;\n\n");
    for (url, e) in &gen.enums {
        let users = &gen.enum_users[url];
        let cfg = if users.contains("") {
            String::new()
        } else {
            cfg_any(users)
        };
        let title = if e.title.is_empty() {
            &e.name
        } else {
            &e.title
        };
        let _ = writeln!(o, "/// {} (value set `{}`).", doc(title), doc(url));
        o.push_str(&cfg);
        o.push_str("#[derive(Debug, Clone, PartialEq, Eq, Hash)]\n");
        let _ = writeln!(o, "pub enum {} {{", e.name);
        for (c, v, d) in &e.codes {
            let _ = writeln!(o, "    /// `{}`: {}\n    {v},", doc(c), doc(d));
        }
        o.push_str("    /// A code that is not in the value set (kept as written; reported as an issue).\n    Unrecognized(String),\n}\n\n");
        o.push_str(&cfg);
        let _ = writeln!(o, "impl {} {{", e.name);
        o.push_str("    /// The enum value of a code, if it is in the value set.\n    pub fn from_code(code: &str) -> Option<Self> {\n        Some(match code {\n");
        for (c, v, _) in &e.codes {
            let _ = writeln!(o, "            {c:?} => Self::{v},");
        }
        o.push_str("            _ => return None,\n        })\n    }\n\n    /// The code as written in FHIR JSON.\n    pub fn as_code(&self) -> &str {\n        match self {\n");
        for (c, v, _) in &e.codes {
            let _ = writeln!(o, "            Self::{v} => {c:?},");
        }
        o.push_str("            Self::Unrecognized(s) => s,\n        }\n    }\n}\n\n");
        o.push_str(&cfg);
        let _ = writeln!(o, "impl PrimitiveValue for {} {{", e.name);
        let _ = writeln!(
            o,
            "    fn read(p: &mut Parser<'_>) -> Res<Self> {{\n        p.code(Self::from_code, Self::Unrecognized)\n    }}\n    fn write(&self, w: &mut Writer) {{\n        w.string(self.as_code());\n    }}\n    fn check(&self) -> Option<&'static str> {{\n        matches!(self, Self::Unrecognized(_)).then_some(\"code not in the required value set {}\")\n    }}\n}}\n",
            e.name
        );
    }
    let p = out.join("codes.rs");
    std::fs::write(&p, o).expect("write");
    written.push(p);

    // features
    let mut o = String::from(
        "# @generated by ehrkit-fhir-codegen: the [features] of fhir-model/Cargo.toml\n",
    );
    let default: Vec<String> = EHR_DEFAULT
        .iter()
        .map(|n| format!("\"{}\"", feature_name(n)))
        .collect();
    let _ = writeln!(
        o,
        "default = [\"ehr\"]\n# What EHR integrations exchange.\nehr = [{}]",
        default.join(", ")
    );
    let mut all = Vec::new();
    for (g, list) in &groups {
        let l: Vec<String> = list.iter().map(|f| format!("\"{f}\"")).collect();
        let _ = writeln!(o, "{g} = [{}]", l.join(", "));
        all.push(format!("\"{g}\""));
    }
    let _ = writeln!(o, "all-resources = [{}]", all.join(", "));
    for (_, f) in &modules {
        let _ = writeln!(o, "{f} = []");
    }
    std::fs::write(out.join("features.toml"), o).expect("write");

    let status = std::process::Command::new("rustfmt")
        .arg("--edition")
        .arg("2021")
        .args(&written)
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("rustfmt failed: {other:?}");
            std::process::exit(1);
        }
    }
    eprintln!(
        "generated {} datatypes, {} resources, {} code enums into {}",
        datatypes.len(),
        modules.len(),
        gen.enums.len(),
        out.display()
    );
}
