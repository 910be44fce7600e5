//! One struct: its declaration, constructor, reader/writer, validation and
//! the enums of its choice elements.

use std::fmt::Write as _;

use crate::model::{Field, Kind, Struct};

/// Appends the code of `st` to `o`.
pub fn emit_struct(st: &Struct, o: &mut String) {
    declaration(st, o);
    constructor(st, o);
    fhir_object(st, o);
    validate(st, o);
    for f in &st.fields {
        if let Kind::Choice(e, vs) = &f.kind {
            choice_enum(st, f, e, vs, o);
        }
    }
}

/// The Rust type of a field.
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

fn declaration(st: &Struct, o: &mut String) {
    let _ = writeln!(o, "/// {}", st.doc);
    o.push_str("#[derive(Debug, Clone, Default, PartialEq)]\n");
    let _ = writeln!(o, "pub struct {} {{", st.name);
    for f in &st.fields {
        let _ = writeln!(o, "    /// {}", f.doc);
        let _ = writeln!(o, "    pub {}: {},", f.rust, field_type(f));
    }
    o.push_str("    /// Elements not in the definition, kept for writing back.\n    pub unknown: Unknown,\n}\n\n");
}

/// `new(..)` taking the mandatory elements, when there are any.
fn constructor(st: &Struct, o: &mut String) {
    let req: Vec<&Field> = st.fields.iter().filter(|f| f.min > 0).collect();
    if req.is_empty() {
        return;
    }
    let _ = writeln!(o, "impl {} {{", st.name);
    let names: Vec<&str> = req.iter().map(|f| f.json.as_str()).collect();
    let _ = writeln!(
        o,
        "    /// A value with the mandatory elements ({}) set.",
        names.join(", ")
    );
    let args: Vec<String> = req
        .iter()
        .map(|f| format!("{}: {}", f.rust, argument_type(f)))
        .collect();
    if args.len() > 7 {
        o.push_str("    #[allow(clippy::too_many_arguments)]\n");
    }
    let _ = writeln!(o, "    pub fn new({}) -> Self {{", args.join(", "));
    let _ = writeln!(o, "        {} {{", st.name);
    for f in &req {
        if f.many {
            let _ = writeln!(o, "            {},", f.rust);
        } else {
            let _ = writeln!(o, "            {}: {},", f.rust, argument_value(f));
        }
    }
    o.push_str("            ..Default::default()\n        }\n    }\n}\n\n");
}

/// The constructor's parameter type for a mandatory field.
fn argument_type(f: &Field) -> String {
    match (&f.kind, f.many) {
        (Kind::Prim(t), false) => format!("impl Into<{t}>"),
        (Kind::SystemString, false) => "impl Into<String>".into(),
        (Kind::Complex(t), false) => t.clone(),
        (Kind::Resource, false) => "Resource".into(),
        (Kind::Choice(e, _), false) => e.clone(),
        _ => field_type(f),
    }
}

/// The field value built from a constructor parameter (single fields).
fn argument_value(f: &Field) -> String {
    match &f.kind {
        Kind::Prim(_) => format!("Some(Primitive::new({}.into()))", f.rust),
        Kind::SystemString => format!("Some({}.into())", f.rust),
        Kind::Complex(_) | Kind::Resource => format!("Some(Box::new({}))", f.rust),
        Kind::Choice(..) => format!("Some({})", f.rust),
    }
}

/// `impl FhirObject`: `read_field` (a `match` on the key) and `write_fields`.
fn fhir_object(st: &Struct, o: &mut String) {
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
        read_arm(f, o);
    }
    o.push_str("            _ => Ok(Read::Unknown),\n        }\n    }\n");
    o.push_str(
        "    fn unknown_mut(&mut self) -> &mut Unknown {\n        &mut self.unknown\n    }\n",
    );
    o.push_str("    fn write_fields(&self, w: &mut Writer) {\n");
    for f in &st.fields {
        write_call(f, o);
    }
    o.push_str("        w.unknown(&self.unknown);\n    }\n}\n\n");
}

/// The `read_field` arm(s) of one field.
fn read_arm(f: &Field, o: &mut String) {
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

/// The `write_fields` statement of one field.
fn write_call(f: &Field, o: &mut String) {
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
            let _ = writeln!(
                o,
                "        if let Some(c) = &self.{r} {{\n            c.write_choice(w);\n        }}"
            );
        }
    }
}

/// `impl Validate`: cardinalities, then each field's own checks.
fn validate(st: &Struct, o: &mut String) {
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
}

/// The enum `e` of choice field `f` (variants `vs`), its reader/writer and validation.
fn choice_enum(st: &Struct, f: &Field, e: &str, vs: &[(String, Kind)], o: &mut String) {
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
    read_choice(j, vs, o);
    write_choice(j, vs, o);
    o.push_str("}\n\n");
    let _ = writeln!(o, "impl Validate for {e} {{");
    o.push_str("    fn validate(&self, v: &mut Validator) {\n        match self {\n");
    for (v, _) in vs {
        let _ = writeln!(o, "            Self::{v}(x) => v.field(\"{j}{v}\", x),");
    }
    o.push_str("        }\n    }\n}\n\n");
}

/// `read_choice`: one arm per variant key (and `_key` for primitives).
fn read_choice(j: &str, vs: &[(String, Kind)], o: &mut String) {
    o.push_str("    #[doc(hidden)]\n    pub fn read_choice(slot: &mut Option<Self>, key: &str, p: &mut Parser<'_>) -> Res<Read> {\n        match key {\n");
    let single = vs.len() == 1;
    for (v, k) in vs {
        if let Kind::Prim(_) = k {
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
        } else {
            let _ = writeln!(
                o,
                "            \"{j}{v}\" => p.choice_complex(slot, Self::{v}),"
            );
        }
    }
    o.push_str("            _ => Ok(Read::Unknown),\n        }\n    }\n");
}

/// `write_choice`: one arm per variant.
fn write_choice(j: &str, vs: &[(String, Kind)], o: &mut String) {
    o.push_str("    #[doc(hidden)]\n    pub fn write_choice(&self, w: &mut Writer) {\n        match self {\n");
    for (v, k) in vs {
        if let Kind::Prim(_) = k {
            let _ = writeln!(
                o,
                "            Self::{v}(x) => w.prim_one(\"{j}{v}\", \"_{j}{v}\", x),"
            );
        } else {
            let _ = writeln!(
                o,
                "            Self::{v}(x) => w.complex_one(\"{j}{v}\", &**x),"
            );
        }
    }
    o.push_str("        }\n    }\n");
}
