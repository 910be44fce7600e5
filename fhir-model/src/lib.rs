//! Typed FHIR R4 (4.0.1) resources generated from the specification, with
//! lossless JSON that does not depend on serde_json.
//!
//! ```
//! use ehrkit_fhir_model::{from_slice, to_vec, Resource, Patient, Reference};
//!
//! let json = br#"{"resourceType":"Patient","id":"p1","birthDate":"1974-12",
//!   "name":[{"family":"Chalmers","given":["Peter","James"]}],
//!   "_birthDate":{"extension":[{"url":"http://example.org/x","valueDecimal":1.50}]}}"#;
//! let resource: Resource = from_slice(json)?;
//! let Resource::Patient(patient) = &resource else { panic!("not a Patient") };
//! assert_eq!(patient.name[0].family.as_ref().and_then(|f| f.value.as_deref()), Some("Chalmers"));
//! assert_eq!(patient.birth_date.as_ref().and_then(|d| d.value.as_ref()).map(|d| d.as_str()), Some("1974-12"));
//! assert_eq!(Reference::to(&**patient).reference_str(), Some("Patient/p1"));
//!
//! let out = String::from_utf8(to_vec(&resource)).unwrap();
//! assert!(out.contains(r#""valueDecimal":1.50"#)); // decimals keep their text
//! # Ok::<(), ehrkit_fhir_model::Error>(())
//! ```
//!
//! Resources are grouped behind cargo features (one per resource, plus one
//! per FHIR module); the default, `ehr`, covers what EHR integrations use.
//! A resource whose feature is off is read as [`Resource::Other`] (raw JSON).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Private modules, flat re-exports below; `json`, `types`, `codes` and
// `resources` are namespaces users navigate.
mod de;
mod error;
mod helpers;
pub mod json;
mod primitives;
mod ser;
mod unknown;
mod validate;

/// Generated: every complex datatype (and its nested elements).
#[path = "generated/types.rs"]
pub mod types;

/// Generated: enums for the codes of required bindings.
#[path = "generated/codes.rs"]
pub mod codes;

/// Generated: every resource, each behind its feature.
#[path = "generated/resources/mod.rs"]
pub mod resources;

#[path = "generated/resource.rs"]
mod resource;

pub use error::{Error, ErrorKind, Issue, Severity};
pub use helpers::{identifier_in, ReferenceTarget};
pub use primitives::{
    Date, DateTime, Decimal, ElementExt, Instant, Primitive, PrimitiveValue, Time,
};
pub use resource::{Resource, ALL_RESOURCE_TYPES};
pub use resources::*;
pub use types::*;
pub use unknown::{Unknown, UnknownEntry, UnknownReason};
pub use validate::{Validate, Validator};

use de::{FhirObject, Parser};
use ser::Writer;

/// What to do with JSON members that are not in the definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownPolicy {
    /// Keep them and write them back (default; lossless).
    #[default]
    Keep,
    /// Fail with the JSON path of the first one (`fhir_comments` excepted).
    Reject,
    /// Drop them, with a warning issue each.
    Drop,
}

/// Options for reading, built with setters:
///
/// ```
/// use ehrkit_fhir_model::{from_slice_with, ParseOptions, Patient, UnknownPolicy};
///
/// let opts = ParseOptions::default()
///     .strict(true)
///     .unknown_elements(UnknownPolicy::Reject);
/// let err = from_slice_with::<Patient>(br#"{"resourceType":"Patient","gender":"robot"}"#, &opts)
///     .unwrap_err();
/// assert_eq!(err.path, "$.gender");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Unknown members policy.
    pub unknown_elements: UnknownPolicy,
    /// Turn every error-severity issue (code not in a required value set,
    /// malformed date, duplicate key, second choice value, …) into an error.
    pub strict: bool,
    /// Maximum nesting of JSON objects and arrays.
    pub max_depth: usize,
    /// Maximum nesting of resources inside resources (`contained`,
    /// `Bundle.entry.resource`, `Parameters.parameter.resource`, …); the
    /// outermost resource does not count. Bounds stack use: a nested resource
    /// costs far more stack than one JSON level.
    pub max_nested_resources: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            unknown_elements: UnknownPolicy::Keep,
            strict: false,
            max_depth: 128,
            max_nested_resources: 8,
        }
    }
}

/// Builder-style setters: `ParseOptions::default().strict(true)`. Each sets
/// one field; the order of the calls does not matter.
impl ParseOptions {
    /// Lenient reading (the default): keep everything, report issues.
    pub fn lenient() -> Self {
        Self::default()
    }
    /// Strict (`true`) or lenient (`false`, the default) reading: in strict
    /// reading every issue of error severity fails. Unknown elements are not
    /// issues while they are kept: to fail on them too, also set
    /// `unknown_elements(UnknownPolicy::Reject)`.
    pub fn strict(mut self, on: bool) -> Self {
        self.strict = on;
        self
    }
    /// Sets the unknown-element policy.
    pub fn unknown_elements(mut self, policy: UnknownPolicy) -> Self {
        self.unknown_elements = policy;
        self
    }
    /// Sets the nesting limit.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }
    /// Sets the limit on resources nested in resources.
    pub fn max_nested_resources(mut self, depth: usize) -> Self {
        self.max_nested_resources = depth;
        self
    }
}

/// A parsed value plus the issues found while reading it.
#[derive(Debug, Clone)]
pub struct Parsed<T> {
    /// The value.
    pub value: T,
    /// Problems found (see [`Issue`]); empty for clean input.
    pub issues: Vec<Issue>,
}

/// Types that can be read from FHIR JSON: [`Resource`], each resource type
/// and each datatype.
pub trait FromJson: Sized {
    /// Reads one value.
    #[doc(hidden)]
    fn from_parser(p: &mut Parser<'_>) -> Result<Self, Error>;
}

/// Types that can be written as FHIR JSON.
pub trait ToJson {
    /// Writes one value.
    #[doc(hidden)]
    fn write_json(&self, w: &mut Writer);
}

impl<T: FhirObject> FromJson for T {
    fn from_parser(p: &mut Parser<'_>) -> Result<Self, Error> {
        let mut t = T::default();
        p.read_object(&mut t)?;
        Ok(t)
    }
}

impl<T: FhirObject> ToJson for T {
    fn write_json(&self, w: &mut Writer) {
        w.object(self);
    }
}

impl FromJson for Resource {
    fn from_parser(p: &mut Parser<'_>) -> Result<Self, Error> {
        Resource::read(p)
    }
}

impl ToJson for Resource {
    fn write_json(&self, w: &mut Writer) {
        self.write(w);
    }
}

/// Reads FHIR JSON leniently (unknown elements kept, issues discarded).
pub fn from_slice<T: FromJson>(input: &[u8]) -> Result<T, Error> {
    from_slice_with(input, &ParseOptions::default()).map(|p| p.value)
}

/// Reads FHIR JSON with options, returning the issues found.
pub fn from_slice_with<T: FromJson>(input: &[u8], opts: &ParseOptions) -> Result<Parsed<T>, Error> {
    let mut p = Parser::new(input, opts)?;
    let value = T::from_parser(&mut p)?;
    p.finish()?;
    Ok(Parsed {
        value,
        issues: p.take_issues(),
    })
}

/// Writes compact FHIR JSON.
pub fn to_vec<T: ToJson + ?Sized>(value: &T) -> Vec<u8> {
    let mut w = Writer::new();
    value.write_json(&mut w);
    w.into_inner()
}

/// Writes compact FHIR JSON into a string.
pub fn to_string<T: ToJson + ?Sized>(value: &T) -> String {
    // The writer only emits UTF-8 (input strings are UTF-8, escapes are ASCII).
    String::from_utf8(to_vec(value)).unwrap_or_default()
}

/// A concrete resource type.
pub trait TypedResource: FhirObject + Sized {
    /// The `resourceType`.
    const TYPE_NAME: &'static str;
    /// The logical id.
    fn id(&self) -> Option<&str>;
    /// Borrows this type out of a [`Resource`].
    fn from_resource(r: &Resource) -> Option<&Self>;
    /// Wraps into a [`Resource`].
    fn into_resource(self) -> Resource;
}

/// A resource whose type is not compiled in: its members as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResource {
    /// The `resourceType`.
    pub resource_type: String,
    /// The other members, in document order.
    pub members: Vec<(String, json::Value)>,
}

impl RawResource {
    /// The `id` member, if it is a string.
    pub fn id(&self) -> Option<&str> {
        self.members.iter().find_map(|(k, v)| match v {
            json::Value::String(s) if k == "id" => Some(s.as_str()),
            _ => None,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.begin_object();
        w.key("resourceType");
        w.string(&self.resource_type);
        for (k, v) in &self.members {
            w.unknown_member(k, v);
        }
        w.end_object();
    }
}

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
