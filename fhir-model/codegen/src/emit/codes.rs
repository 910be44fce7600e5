//! `codes.rs`: one enum per enumerable required value set.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{cfg_any, HEADER};
use crate::codes::{CodeEnum, CodeEnums};
use crate::names::doc;

/// The whole `codes.rs`.
pub fn codes_file(codes: &CodeEnums<'_>) -> String {
    let mut o = format!("{HEADER}\n//! Codes of the required value sets, one enum per value set.\n\nuse crate::de::{{Parser, Res}};\nuse crate::primitives::PrimitiveValue;\nuse crate::ser::Writer;\n\n");
    for (url, e) in &codes.enums {
        code_enum(url, e, &codes.users[url], &mut o);
    }
    o
}

/// One enum, gated on the features of the resources that use it (none when a
/// datatype uses it).
fn code_enum(url: &str, e: &CodeEnum, users: &BTreeSet<String>, o: &mut String) {
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
