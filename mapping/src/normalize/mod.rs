//! Vendor FHIR → canonical US Core 7 (issue 13, the FHIR half).
//!
//! US Core 7.0.0: <https://hl7.org/fhir/us/core/STU7/>. Operations modelled on the CDC NHSN
//! Link normalization service (ConceptMap on a code, copy element, conditional transform, id
//! fix, period precision fix).
//!
//! A [`Normalizer`] holds one [`FhirProfile`] and turns a typed resource (or a Bundle) read from
//! a vendor server into the canonical shape. Nothing is silent: every change is in the returned
//! [`Change`] list and tagged on the resource (`meta.tag` with system [`TAG_SYSTEM`] and the
//! rule's name as code); what it looked at but could not map is in the notes.
//!
//! ```
//! use ehrkit_fhir_model::{from_slice, Resource};
//! use ehrkit_mapping::normalize::{FhirProfile, Normalizer, Operation};
//!
//! let epic = Normalizer::new(FhirProfile::builtin("epic")?);
//! let patient: Resource = from_slice(br#"{"resourceType":"Patient","id":"eXYZ",
//!   "identifier":[{"use":"usual","type":{"text":"INTERNAL"},
//!     "system":"urn:oid:1.2.840.114350.1.13.0.1.7.2.698084","value":"     Z6129"}]}"#)?;
//! let out = epic.normalize(patient);
//! let json = ehrkit_fhir_model::to_string(&out.resources[0]);
//! assert!(json.contains(r#""value":"Z6129""#));
//! assert!(json.contains(r#""code":"PI""#));
//! assert!(out.changes.iter().any(|c| c.rule == "epic-padded-identifier"
//!     && c.path == "Patient.identifier[0].value" && c.operation == Operation::ConditionalTransform));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apply;
mod profile;

use std::fmt;

use ehrkit_fhir_model::json::Value;
use ehrkit_fhir_model::{Bundle, Resource};

pub use profile::{
    CodeElement, ConceptMapOp, ConceptMapOverlay, ConditionalTransformOp, CopyElementOp, Evidence,
    FhirProfile, FhirQuirk, FhirRoute, FhirRouting, IdentifierType, QuirkInfo, SiteOverlay,
    BUILTIN_FHIR_PROFILES, EPIC_ENCOUNTER_CLASS_SYSTEM, V2_0203, V3_ACT_CODE,
};

/// System of the `meta.tag` codings that name the rules applied to a resource.
pub const TAG_SYSTEM: &str = "urn:ehrkit:normalization";
/// Base of the extension URLs the normalizer writes (the original of a replaced value, the
/// original of a rewritten id).
pub const EXTENSION_BASE: &str = "urn:ehrkit:normalization:";

/// What went wrong building a profile or picking one. Carries no resource content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NormalizeError {
    /// No built-in profile has this name.
    #[error("no FHIR profile named `{0}` (built-in: generic, epic, oracle_health, athenahealth, veradigm)")]
    UnknownProfile(String),
    /// A profile, overlay or routing table did not parse as TOML of its shape.
    #[error("FHIR profile TOML: {0}")]
    Toml(#[source] Box<toml::de::Error>),
    /// A profile value is not usable.
    #[error("FHIR profile field `{field}`: {problem}")]
    InvalidProfile {
        /// The field (`identifier_types.MRN.system`).
        field: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// No route matches the server and the table has no default.
    #[error("no route for this FHIR server and no default profile")]
    NoRoute,
}

/// The kind of normalization operation a change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operation {
    /// A code translated through a concept map (or a table of vendor labels).
    ConceptMap,
    /// An element's value copied into another element.
    CopyElement,
    /// An element moved elsewhere in the resource (vendor extensions into `meta.extension`).
    MoveElement,
    /// A value rewritten or an element removed because a condition held.
    ConditionalTransform,
    /// A logical id rewritten (too long or not a FHIR id), references updated.
    IdFix,
    /// A Period's start and end given the same precision.
    PeriodPrecision,
    /// A contained resource lifted out to a resource of its own.
    ExtractContained,
}

impl Operation {
    /// The kebab-case name (`concept-map`), used as the tag's display.
    pub fn name(self) -> &'static str {
        match self {
            Operation::ConceptMap => "concept-map",
            Operation::CopyElement => "copy-element",
            Operation::MoveElement => "move-element",
            Operation::ConditionalTransform => "conditional-transform",
            Operation::IdFix => "id-fix",
            Operation::PeriodPrecision => "period-precision",
            Operation::ExtractContained => "extract-contained",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One change made to one resource: where (a FHIR path, never a value), which operation and
/// which rule (a [`FhirQuirk`] name or a configured operation's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Resource type.
    pub resource_type: String,
    /// Logical id after normalization.
    pub resource_id: Option<String>,
    /// FHIR path of the element changed (`Patient.identifier[2].system`).
    pub path: String,
    /// The operation.
    pub operation: Operation,
    /// The rule (`epic-identifier-type-text`, `encounter-class`, `id-fix`).
    pub rule: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} {}: {} ({})",
            self.resource_type,
            self.resource_id.as_deref().unwrap_or("-"),
            self.path,
            self.operation,
            self.rule
        )
    }
}

/// Something the normalizer looked at and left alone, with the reason (no values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Resource type.
    pub resource_type: String,
    /// Logical id.
    pub resource_id: Option<String>,
    /// FHIR path.
    pub path: String,
    /// The rule that looked.
    pub rule: String,
    /// Why nothing changed (`code not in the concept map`).
    pub reason: &'static str,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} {}: {} ({})",
            self.resource_type,
            self.resource_id.as_deref().unwrap_or("-"),
            self.path,
            self.reason,
            self.rule
        )
    }
}

/// The canonical resources and what was done to them.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The canonical resource first, then the resources lifted out of it (contained Locations).
    /// For a Bundle: the one normalized Bundle.
    pub resources: Vec<Resource>,
    /// Every change, in order.
    pub changes: Vec<Change>,
    /// What was left alone and why.
    pub notes: Vec<Note>,
}

/// The normalized Bundle and what was done to its entries.
#[derive(Debug, Clone)]
pub struct NormalizedBundle {
    /// The Bundle: each entry normalized, lifted resources appended as entries.
    pub bundle: Bundle,
    /// Every change, in order.
    pub changes: Vec<Change>,
    /// What was left alone and why.
    pub notes: Vec<Note>,
}

/// Normalizes vendor FHIR resources with one profile. `Send + Sync`; holds only the profile.
#[derive(Debug, Clone)]
pub struct Normalizer {
    profile: FhirProfile,
}

impl Normalizer {
    /// A normalizer for `profile`.
    pub fn new(profile: FhirProfile) -> Self {
        Normalizer { profile }
    }

    /// The profile.
    pub fn profile(&self) -> &FhirProfile {
        &self.profile
    }

    /// Normalizes one resource. A Bundle is normalized entry by entry
    /// ([`normalize_bundle`](Self::normalize_bundle)) and returned as the one resource.
    /// Resource types without rules of their own get the id and period fixes only.
    pub fn normalize(&self, resource: Resource) -> Normalized {
        if let Resource::Bundle(b) = resource {
            let nb = self.normalize_bundle(*b);
            return Normalized {
                resources: vec![Resource::Bundle(Box::new(nb.bundle))],
                changes: nb.changes,
                notes: nb.notes,
            };
        }
        let mut run = apply::Run::new(&self.profile);
        let resources = run.resources(vec![resource]);
        Normalized {
            resources,
            changes: run.changes,
            notes: run.notes,
        }
    }

    /// Normalizes every entry of a Bundle; an id rewritten in one entry is rewritten in the
    /// references (and `fullUrl`s) of all entries; lifted resources are appended as entries.
    pub fn normalize_bundle(&self, bundle: Bundle) -> NormalizedBundle {
        let mut run = apply::Run::new(&self.profile);
        let bundle = run.bundle(bundle);
        NormalizedBundle {
            bundle,
            changes: run.changes,
            notes: run.notes,
        }
    }
}

/// A resource as JSON without what only says where it came from: the logical id, `meta`, the
/// ids of elements, literal references (`reference`: server ids, with the `display` and `type`
/// the server gave them), extensions written by the normalizer (originals), and codings and
/// identifiers whose system starts with one of `local_namespaces` (the vendors' and sites' own
/// code sets and record numbers; see [`FhirProfile::is_local`]), and concepts that had only
/// such codings (text included: it labels the local code). Two canonical resources for
/// the same clinical fact from two vendors are equal in this view.
pub fn without_provenance(resource: &Resource, local_namespaces: &[&str]) -> Value {
    let mut v = Value::parse(&ehrkit_fhir_model::to_vec(resource)).unwrap_or_default();
    strip(&mut v, local_namespaces, true);
    v
}

fn is_local(v: &Value, ns: &[&str]) -> bool {
    matches!(v.get("system"), Some(Value::String(s))
        if s.starts_with(EXTENSION_BASE) || ns.iter().any(|n| s.starts_with(n)))
}

fn strip(v: &mut Value, ns: &[&str], top: bool) {
    match v {
        Value::Object(members) => {
            // A literal reference is a server id, and its `display` and `type` are how that
            // server renders it (Epic gives both, Oracle Health often neither).
            let literal = members.iter().any(|(k, _)| k == "reference");
            members.retain(|(k, _)| {
                !(k == "id"
                    || k == "reference"
                    || (top && k == "meta")
                    || (literal && (k == "display" || k == "type")))
            });
            // A concept all of whose codings are local is the vendor's own (its text is the
            // local code's label, Epic's `Lab` category next to `laboratory`): it goes whole.
            let mut only_local = false;
            for (k, val) in members.iter_mut() {
                if let Value::Array(items) = val {
                    if k == "coding" || k == "identifier" {
                        let before = items.len();
                        items.retain(|i| !is_local(i, ns));
                        only_local |= k == "coding" && before > 0 && items.is_empty();
                    }
                    if k == "extension" {
                        items.retain(|i| {
                            !matches!(i.get("url"), Some(Value::String(s)) if s.starts_with(EXTENSION_BASE))
                        });
                    }
                }
                strip(val, ns, false);
                if let Value::Array(items) = val {
                    items.retain(|i| !matches!(i, Value::Object(o) if o.is_empty()));
                }
            }
            members.retain(|(_, val)| match val {
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                _ => true,
            });
            if only_local {
                members.clear();
            }
        }
        Value::Array(items) => {
            for i in items.iter_mut() {
                strip(i, ns, false);
            }
        }
        _ => {}
    }
}
