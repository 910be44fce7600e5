//! Search parameters: <https://hl7.org/fhir/R4/search.html>.
//!
//! [`SearchParams`] is an ordered list of `name=value` pairs with typed builders for the
//! parameter kinds US Core uses (token, string, date with prefixes, reference, chained),
//! the result parameters (`_include`, `_revinclude` with `:iterate`, `_count`, `_sort`,
//! `_elements`, `_summary`) and an escape hatch ([`SearchParams::param`]).

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Characters escaped in query names and values: the URI delimiters that would change the
/// query's meaning, plus those `http::Uri` refuses. `:`, `,`, `/`, `.`, `-`, `_`, `$` stay
/// readable (`_include=Observation:patient`, `date=ge2024-01-01`).
const QUERY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'\'');

/// Escapes `\`, `,`, `$` and `|` in a search value (FHIR's own escaping, before URL encoding).
pub fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '\\' | ',' | '$' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Prefix of a date, number or quantity value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// `eq` (the default when absent).
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `lt`
    Lt,
    /// `ge`
    Ge,
    /// `le`
    Le,
    /// `sa`: starts after.
    Sa,
    /// `eb`: ends before.
    Eb,
    /// `ap`: approximately.
    Ap,
}

impl Prefix {
    /// The two-letter code.
    pub fn as_str(self) -> &'static str {
        match self {
            Prefix::Eq => "eq",
            Prefix::Ne => "ne",
            Prefix::Gt => "gt",
            Prefix::Lt => "lt",
            Prefix::Ge => "ge",
            Prefix::Le => "le",
            Prefix::Sa => "sa",
            Prefix::Eb => "eb",
            Prefix::Ap => "ap",
        }
    }
}

/// `_summary` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    /// `true`
    True,
    /// `false`
    False,
    /// `text`
    Text,
    /// `data`
    Data,
    /// `count`
    Count,
}

impl Summary {
    fn as_str(self) -> &'static str {
        match self {
            Summary::True => "true",
            Summary::False => "false",
            Summary::Text => "text",
            Summary::Data => "data",
            Summary::Count => "count",
        }
    }
}

/// An ordered list of search parameters (names may repeat: `date=ge2024&date=lt2025`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchParams {
    pairs: Vec<(String, String)>,
}

impl SearchParams {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads an already encoded query string (`patient=123&category=laboratory`); a leading
    /// `?` is ignored.
    pub fn parse(query: &str) -> Self {
        let query = query.strip_prefix('?').unwrap_or(query);
        SearchParams {
            pairs: url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// Adds `name=value` as given (no FHIR escaping; URL encoding happens when the request is
    /// built).
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.pairs.push((name.into(), value.into()));
        self
    }

    /// A token parameter: `system|code`, or `code` alone when `system` is `None`.
    pub fn token(self, name: &str, system: Option<&str>, code: &str) -> Self {
        let v = match system {
            Some(s) => format!("{}|{}", escape_value(s), escape_value(code)),
            None => escape_value(code),
        };
        self.param(name, v)
    }

    /// A string parameter (starts-with, case-insensitive by default).
    pub fn string(self, name: &str, value: &str) -> Self {
        self.param(name, escape_value(value))
    }

    /// A string parameter with `:exact`.
    pub fn string_exact(self, name: &str, value: &str) -> Self {
        self.param(format!("{name}:exact"), escape_value(value))
    }

    /// A string parameter with `:contains`.
    pub fn string_contains(self, name: &str, value: &str) -> Self {
        self.param(format!("{name}:contains"), escape_value(value))
    }

    /// A date parameter with a prefix: `date(“date”, Prefix::Ge, “2024-01-01”)` →
    /// `date=ge2024-01-01`.
    pub fn date(self, name: &str, prefix: Prefix, value: &str) -> Self {
        self.param(name, format!("{}{}", prefix.as_str(), value))
    }

    /// A reference parameter: `subject=Patient/123` (or a bare id).
    pub fn reference(self, name: &str, target: &str) -> Self {
        self.param(name, escape_value(target))
    }

    /// A chained parameter: `chained("subject", "Patient", "identifier", "sys|v")` →
    /// `subject:Patient.identifier=sys|v`.
    pub fn chained(self, name: &str, target_type: &str, target_param: &str, value: &str) -> Self {
        self.param(format!("{name}:{target_type}.{target_param}"), value)
    }

    /// Reverse chaining (`_has`): resources referenced by a `source_type` whose `reference`
    /// parameter points at them and whose `param` matches `value`.
    /// `reverse_chain("Observation", "patient", "code", "http://loinc.org|1234-5")` →
    /// `_has:Observation:patient:code=http://loinc.org|1234-5` (the value is written as given:
    /// a token keeps its `|`).
    pub fn reverse_chain(
        self,
        source_type: &str,
        reference: &str,
        param: &str,
        value: &str,
    ) -> Self {
        self.param(format!("_has:{source_type}:{reference}:{param}"), value)
    }

    /// A composite parameter: components joined with `$`, each written as given except that
    /// `\`, `,` and `$` inside a component are escaped (a token component keeps its `|`).
    /// `composite("code-value-quantity", &["http://loinc.org|8480-6", "gt140"])` →
    /// `code-value-quantity=http://loinc.org|8480-6$gt140`.
    pub fn composite<S: AsRef<str>>(self, name: &str, components: &[S]) -> Self {
        let mut value = String::new();
        for (i, c) in components.iter().enumerate() {
            if i > 0 {
                value.push('$');
            }
            for ch in c.as_ref().chars() {
                if matches!(ch, '\\' | ',' | '$') {
                    value.push('\\');
                }
                value.push(ch);
            }
        }
        self.param(name, value)
    }

    /// `patient=<id>`: the compartment search US Core uses for clinical resources.
    pub fn patient(self, id: &str) -> Self {
        self.param("patient", escape_value(id))
    }

    /// `_id=<id>`.
    pub fn id(self, id: &str) -> Self {
        self.param("_id", escape_value(id))
    }

    /// `_include=Source:param[:Target]`, with `:iterate` when `iterate`.
    pub fn include(self, spec: &str, iterate: bool) -> Self {
        let name = if iterate {
            "_include:iterate"
        } else {
            "_include"
        };
        self.param(name, spec)
    }

    /// `_revinclude=Source:param[:Target]`, with `:iterate` when `iterate`.
    pub fn revinclude(self, spec: &str, iterate: bool) -> Self {
        let name = if iterate {
            "_revinclude:iterate"
        } else {
            "_revinclude"
        };
        self.param(name, spec)
    }

    /// `_count=n` (replaces an earlier `_count`).
    pub fn count(mut self, n: u32) -> Self {
        self.set("_count", n.to_string());
        self
    }

    /// `_sort=a,-b` (`-` for descending).
    pub fn sort<S: AsRef<str>>(self, keys: &[S]) -> Self {
        let v: Vec<&str> = keys.iter().map(AsRef::as_ref).collect();
        self.param("_sort", v.join(","))
    }

    /// `_elements=a,b`.
    pub fn elements<S: AsRef<str>>(self, names: &[S]) -> Self {
        let v: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
        self.param("_elements", v.join(","))
    }

    /// `_summary=…`.
    pub fn summary(self, s: Summary) -> Self {
        self.param("_summary", s.as_str())
    }

    /// The pairs in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether a parameter with this name (any modifier: `code` matches `code:text`) is set.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| base_name(k) == name)
    }

    /// The first value of a parameter (exact name, modifiers included).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Replaces every `name` (exact) with one `name=value`, keeping the first's position.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.pairs.iter().position(|(k, _)| k == name) {
            Some(i) => {
                self.pairs[i].1 = value;
                let mut n = 0;
                self.pairs.retain(|(k, _)| {
                    if k == name {
                        n += 1;
                        n == 1
                    } else {
                        true
                    }
                });
            }
            None => self.pairs.push((name.to_owned(), value)),
        }
    }

    /// Removes every `name` (exact).
    pub fn remove(&mut self, name: &str) {
        self.pairs.retain(|(k, _)| k != name);
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The URL-encoded query string (without `?`).
    pub fn to_query(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.pairs {
            if !out.is_empty() {
                out.push('&');
            }
            out.extend(utf8_percent_encode(k, QUERY));
            out.push('=');
            out.extend(utf8_percent_encode(v, QUERY));
        }
        out
    }
}

impl fmt::Display for SearchParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_query())
    }
}

/// The parameter name without its modifier or chain (`subject:Patient.identifier` → `subject`).
pub(crate) fn base_name(k: &str) -> &str {
    let end = k.find([':', '.']).unwrap_or(k.len());
    &k[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_chain_and_composite_write_fhir_syntax() {
        let q = SearchParams::new()
            .reverse_chain("Observation", "patient", "code", "http://loinc.org|1234-5")
            .composite("code-value-quantity", &["http://loinc.org|8480-6", "gt140"])
            .composite("component-code-value-concept", &["a$b", "c,d\\e"]);
        assert_eq!(
            q.pairs(),
            &[
                (
                    "_has:Observation:patient:code".to_owned(),
                    "http://loinc.org|1234-5".to_owned()
                ),
                (
                    "code-value-quantity".to_owned(),
                    "http://loinc.org|8480-6$gt140".to_owned()
                ),
                (
                    "component-code-value-concept".to_owned(),
                    "a\\$b$c\\,d\\\\e".to_owned()
                ),
            ]
        );
        // `has` sees the base name before the first `:`.
        assert!(q.has("_has"));
        let query = q.to_query();
        assert!(
            query.starts_with("_has:Observation:patient:code=http://loinc.org%7C1234-5&"),
            "{query}"
        );
        assert!(
            query.contains("code-value-quantity=http://loinc.org%7C8480-6$gt140"),
            "{query}"
        );
        // What goes out parses back to the same pairs.
        assert_eq!(SearchParams::parse(&query), q);
    }

    #[test]
    fn builders_write_fhir_syntax() {
        let q = SearchParams::new()
            .token("code", Some("http://loinc.org"), "8867-4")
            .date("date", Prefix::Ge, "2024-01-01")
            .date("date", Prefix::Lt, "2025-01-01")
            .chained("subject", "Patient", "identifier", "urn:oid:1|42")
            .include("Observation:patient", false)
            .revinclude("Provenance:target", true)
            .count(50)
            .sort(&["-date", "code"])
            .elements(&["status", "code"])
            .summary(Summary::Data)
            .string_exact("family", "O'Brien, Jr");
        assert_eq!(
            q.to_query(),
            "code=http://loinc.org%7C8867-4&date=ge2024-01-01&date=lt2025-01-01\
             &subject:Patient.identifier=urn:oid:1%7C42&_include=Observation:patient\
             &_revinclude:iterate=Provenance:target&_count=50&_sort=-date,code\
             &_elements=status,code&_summary=data&family:exact=O%27Brien\\,%20Jr"
                .replace('\\', "%5C")
        );
        assert!(q.has("subject") && q.has("family") && !q.has("patient"));
    }

    #[test]
    fn parse_round_trips_and_set_replaces() {
        let mut q = SearchParams::parse("?patient=1&_count=5&_count=9&category=laboratory");
        q.set("_count", "200");
        assert_eq!(q.to_query(), "patient=1&_count=200&category=laboratory");
        q.remove("category");
        assert_eq!(q.to_query(), "patient=1&_count=200");
        assert_eq!(SearchParams::parse(&q.to_query()), q);
    }

    #[test]
    fn query_is_a_valid_uri_for_any_value() {
        let q = SearchParams::new().string("name", "a b&c=d#e%f|g\u{e9}\n");
        let uri: http::Uri = format!("https://x.example/Patient?{q}").parse().unwrap();
        let back = SearchParams::parse(uri.query().unwrap());
        assert_eq!(back.get("name"), Some("a b&c=d#e%f\\|g\u{e9}\n"));
    }
}
