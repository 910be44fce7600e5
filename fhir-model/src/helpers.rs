//! Hand-written conveniences on top of the generated types.

use crate::primitives::Primitive;
use crate::types::{CodeableConcept, Coding, Identifier, Reference};
use crate::TypedResource;

fn text(p: &Option<Primitive<String>>) -> Option<&str> {
    p.as_ref().and_then(|p| p.value.as_deref())
}

/// The parts of a literal reference such as `Patient/123`,
/// `https://x.org/fhir/Patient/123/_history/2` or `#contained-id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceTarget<'a> {
    /// Base URL for absolute references (without the trailing `/`).
    pub base: Option<&'a str>,
    /// Resource type (`Patient`); empty for a contained reference.
    pub resource_type: &'a str,
    /// Logical id (`123`), or the contained id without `#`.
    pub id: &'a str,
    /// Version from `/_history/N`.
    pub version: Option<&'a str>,
}

impl<'a> ReferenceTarget<'a> {
    /// Parses a literal reference; `None` for URNs and other forms.
    pub fn parse(s: &'a str) -> Option<Self> {
        if let Some(id) = s.strip_prefix('#') {
            return Some(ReferenceTarget {
                base: None,
                resource_type: "",
                id,
                version: None,
            });
        }
        let parts: Vec<&str> = s.split('/').collect();
        let n = parts.len();
        let (end, version) = if n >= 4 && parts[n - 2] == "_history" {
            (n - 2, Some(parts[n - 1]))
        } else {
            (n, None)
        };
        if end < 2 {
            return None;
        }
        let (rt, id) = (parts[end - 2], parts[end - 1]);
        let valid_type = rt.starts_with(|c: char| c.is_ascii_uppercase())
            && rt.chars().all(|c| c.is_ascii_alphanumeric());
        let valid_id = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !valid_type || !valid_id {
            return None;
        }
        let base = if end > 2 {
            let prefix_len: usize = parts[..end - 2].iter().map(|p| p.len() + 1).sum::<usize>() - 1;
            Some(&s[..prefix_len])
        } else {
            None
        };
        Some(ReferenceTarget {
            base,
            resource_type: rt,
            id,
            version,
        })
    }
}

impl Reference {
    /// A reference `Type/id` to a resource (empty reference when it has no id).
    pub fn to<R: TypedResource>(resource: &R) -> Reference {
        Reference {
            reference: resource
                .id()
                .map(|id| Primitive::new(format!("{}/{id}", R::TYPE_NAME))),
            ..Default::default()
        }
    }

    /// A reference from its string, e.g. `Patient/123`.
    pub fn from_str_ref(reference: &str) -> Reference {
        Reference {
            reference: Some(Primitive::new(reference.to_owned())),
            ..Default::default()
        }
    }

    /// The `reference` string.
    pub fn reference_str(&self) -> Option<&str> {
        text(&self.reference)
    }

    /// The parsed `reference`, e.g. type `Patient` and id `123`.
    pub fn target(&self) -> Option<ReferenceTarget<'_>> {
        self.reference_str().and_then(ReferenceTarget::parse)
    }

    /// `true` if it points at resource type `R`.
    pub fn is_to<R: TypedResource>(&self) -> bool {
        self.target()
            .is_some_and(|t| t.resource_type == R::TYPE_NAME)
    }
}

impl Coding {
    /// A coding with system and code.
    pub fn with_code(system: &str, code: &str) -> Coding {
        Coding {
            system: Some(system.into()),
            code: Some(code.into()),
            ..Default::default()
        }
    }

    /// Sets the display text.
    pub fn display(mut self, display: &str) -> Coding {
        self.display = Some(display.into());
        self
    }

    /// The system.
    pub fn system_str(&self) -> Option<&str> {
        text(&self.system)
    }

    /// The code.
    pub fn code_str(&self) -> Option<&str> {
        self.code.as_ref().and_then(|p| p.value.as_deref())
    }

    /// `true` if system and code match.
    pub fn is(&self, system: &str, code: &str) -> bool {
        self.system_str() == Some(system) && self.code_str() == Some(code)
    }
}

impl CodeableConcept {
    /// A concept with one coding.
    pub fn from_coding(coding: Coding) -> CodeableConcept {
        CodeableConcept {
            coding: vec![coding],
            ..Default::default()
        }
    }

    /// A concept with text only.
    pub fn from_text(text: &str) -> CodeableConcept {
        CodeableConcept {
            text: Some(text.into()),
            ..Default::default()
        }
    }

    /// `true` if any coding has this system and code.
    pub fn has_coding(&self, system: &str, code: &str) -> bool {
        self.coding.iter().any(|c| c.is(system, code))
    }

    /// The code of the first coding in `system`.
    pub fn code_in(&self, system: &str) -> Option<&str> {
        self.coding
            .iter()
            .find(|c| c.system_str() == Some(system))
            .and_then(Coding::code_str)
    }

    /// The text.
    pub fn text_str(&self) -> Option<&str> {
        text(&self.text)
    }
}

impl Identifier {
    /// An identifier with system and value.
    pub fn with_value(system: &str, value: &str) -> Identifier {
        Identifier {
            system: Some(system.into()),
            value: Some(value.into()),
            ..Default::default()
        }
    }

    /// The system.
    pub fn system_str(&self) -> Option<&str> {
        text(&self.system)
    }

    /// The value.
    pub fn value_str(&self) -> Option<&str> {
        text(&self.value)
    }
}

/// Finds the identifier of `system` in a list.
pub fn identifier_in<'a>(ids: &'a [Identifier], system: &str) -> Option<&'a str> {
    ids.iter()
        .find(|i| i.system_str() == Some(system))
        .and_then(Identifier::value_str)
}

#[cfg(feature = "bundle")]
mod bundle {
    use crate::resources::{Bundle, BundleEntry};
    use crate::{Resource, TypedResource};

    impl Bundle {
        /// The resources of all entries, in order.
        pub fn resources(&self) -> impl Iterator<Item = &Resource> {
            self.entry.iter().filter_map(|e| e.resource.as_deref())
        }

        /// The resources of type `R`, in order.
        pub fn resources_of<'a, R: TypedResource + 'a>(
            &'a self,
        ) -> impl Iterator<Item = &'a R> + 'a {
            self.resources().filter_map(R::from_resource)
        }

        /// Appends an entry holding `resource`.
        pub fn push_resource(&mut self, resource: Resource) {
            self.entry.push(BundleEntry {
                resource: Some(Box::new(resource)),
                ..Default::default()
            });
        }
    }
}
