//! Resource files, `resources/mod.rs` and the `Resource` enum (`resource.rs`).

use std::fmt::Write as _;

use super::{emit_struct, prelude, ResourceModule, HEADER};
use crate::model::Struct;

/// `resources/<feature>.rs`: the resource's structs and its `TypedResource` impl.
pub fn resource_file(name: &str, structs: &[Struct]) -> String {
    let mut o = prelude(false);
    for st in structs {
        emit_struct(st, &mut o);
    }
    let _ = writeln!(
        o,
        "impl crate::TypedResource for {name} {{\n    const TYPE_NAME: &'static str = \"{name}\";\n    fn id(&self) -> Option<&str> {{\n        self.id.as_deref()\n    }}\n    fn from_resource(r: &Resource) -> Option<&Self> {{\n        match r {{\n            Resource::{name}(x) => Some(x),\n            _ => None,\n        }}\n    }}\n    fn into_resource(self) -> Resource {{\n        Resource::{name}(Box::new(self))\n    }}\n}}"
    );
    o
}

/// `resources/mod.rs`: one feature-gated module and re-export per resource.
pub fn resources_mod_file(modules: &[ResourceModule]) -> String {
    let mut o = format!("{HEADER}\n//! One module per resource, each behind the cargo feature of the same (snake_case) name.\n\n");
    for m in modules {
        let f = &m.feature;
        let _ = writeln!(
            o,
            "#[cfg(feature = \"{f}\")]\nmod {f};\n#[cfg(feature = \"{f}\")]\npub use {f}::*;"
        );
    }
    o
}

/// `resource.rs`: `ALL_RESOURCE_TYPES`, the `Resource` enum and its dispatch.
pub fn resource_enum_file(modules: &[ResourceModule]) -> String {
    let mut o = format!("{HEADER}\nuse crate::de::{{Parser, Res}};\nuse crate::ser::Writer;\nuse crate::validate::{{Validate, Validator}};\n#[allow(unused_imports)]\nuse crate::resources::*;\n\n");
    o.push_str("/// Every R4 resource type name (whether or not its feature is enabled).\npub const ALL_RESOURCE_TYPES: &[&str] = &[\n");
    for m in modules {
        let _ = writeln!(o, "    \"{}\",", m.name);
    }
    o.push_str("];\n\n/// Any resource, dispatched on `resourceType`.\n#[derive(Debug, Clone, PartialEq)]\n#[non_exhaustive]\npub enum Resource {\n");
    for ResourceModule {
        name: n,
        feature: f,
        ..
    } in modules
    {
        let _ = writeln!(
            o,
            "    /// `{n}`\n    #[cfg(feature = \"{f}\")]\n    {n}(Box<{n}>),"
        );
    }
    o.push_str("    /// An R4 resource whose cargo feature is not enabled, kept as JSON.\n    Other(Box<crate::RawResource>),\n}\n\n");
    o.push_str("impl Resource {\n");
    dispatch(
        &mut o,
        modules,
        "    /// The `resourceType`.\n    pub fn resource_type(&self) -> &str {\n        match self {\n",
        |n| format!("Resource::{n}(_) => \"{n}\","),
        "            Resource::Other(r) => &r.resource_type,\n        }\n    }\n\n",
    );
    dispatch(
        &mut o,
        modules,
        "    /// The logical id.\n    pub fn id(&self) -> Option<&str> {\n        match self {\n",
        |n| format!("Resource::{n}(x) => x.id.as_deref(),"),
        "            Resource::Other(r) => r.id(),\n        }\n    }\n\n",
    );
    dispatch(
        &mut o,
        modules,
        "    pub(crate) fn read(p: &mut Parser<'_>) -> Res<Resource> {\n        let (rt, consumed) = p.resource_start()?;\n        Ok(match rt.as_ref() {\n",
        |n| format!("\"{n}\" => Resource::{n}(p.resource_body(consumed)?),"),
        "            other => p.resource_other(other, consumed)?,\n        })\n    }\n\n",
    );
    dispatch(
        &mut o,
        modules,
        "    pub(crate) fn write(&self, w: &mut Writer) {\n        match self {\n",
        |n| format!("Resource::{n}(x) => w.object(&**x),"),
        "            Resource::Other(r) => r.write(w),\n        }\n    }\n}\n\n",
    );
    o.push_str("impl Validate for Resource {\n");
    dispatch(
        &mut o,
        modules,
        "    fn validate(&self, v: &mut Validator) {\n        match self {\n",
        |n| format!("Resource::{n}(x) => x.validate(v),"),
        "            Resource::Other(_) => {}\n        }\n    }\n}\n",
    );
    o
}

/// A `match` over every resource: `head`, one feature-gated `arm` per
/// resource, then `tail` (the `Other` arm and the closing braces).
fn dispatch(
    o: &mut String,
    modules: &[ResourceModule],
    head: &str,
    arm: impl Fn(&str) -> String,
    tail: &str,
) {
    o.push_str(head);
    for m in modules {
        let _ = writeln!(
            o,
            "            #[cfg(feature = \"{}\")]\n            {}",
            m.feature,
            arm(&m.name)
        );
    }
    o.push_str(tail);
}
