//! Rust names and doc text derived from FHIR names.

use std::collections::BTreeSet;

/// Words that cannot be field names as they are (Rust keywords, and
/// `unknown`, which every generated struct uses for its unknown elements).
const RESERVED_FIELDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield", "unknown",
];

/// `abc` → `Abc`.
pub fn upper_first(x: &str) -> String {
    let mut c = x.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// `birthDate` → `birth_date`; reserved words get a trailing `_`.
pub fn snake(x: &str) -> String {
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
    if RESERVED_FIELDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// The cargo feature of a resource: `MedicationRequest` → `medication_request`.
pub fn feature_name(resource: &str) -> String {
    snake(resource).trim_end_matches('_').to_owned()
}

/// Text for a `///` comment on one line.
pub fn doc(x: &str) -> String {
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

/// The enum variant for a code, unique within `used` (which it extends).
pub fn variant_name(code: &str, used: &mut BTreeSet<String>) -> String {
    let mut name = String::new();
    for part in code.split(|c: char| !c.is_ascii_alphanumeric()) {
        name.push_str(&upper_first(part));
    }
    if name.is_empty() {
        name = symbol_name(code);
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

/// A name for a code made of symbols only (`<=` → `LtEq`).
fn symbol_name(code: &str) -> String {
    code.chars()
        .map(|ch| match ch {
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
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_and_feature_names() {
        assert_eq!(snake("birthDate"), "birth_date");
        assert_eq!(snake("type"), "type_");
        assert_eq!(snake("unknown"), "unknown_");
        assert_eq!(feature_name("MedicationRequest"), "medication_request");
        assert_eq!(feature_name("List"), "list");
    }

    #[test]
    fn variants_are_unique_and_valid() {
        let mut used = BTreeSet::new();
        assert_eq!(variant_name("in-progress", &mut used), "InProgress");
        assert_eq!(variant_name("in progress", &mut used), "InProgress2");
        assert_eq!(variant_name("<=", &mut used), "LtEq");
        assert_eq!(variant_name("1.2", &mut used), "V12");
        assert_eq!(variant_name("self", &mut used), "SelfCode");
    }

    #[test]
    fn doc_text_is_one_safe_line() {
        assert_eq!(doc(""), "(no description)");
        assert_eq!(
            doc("a  [b]\n<c> `d` http://x"),
            "a \\[b\\] &lt;c&gt; 'd' http:&#47;/x"
        );
    }
}
