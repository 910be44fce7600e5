//! Elements that are not in the definition, kept so they can be written back.

use crate::json::Value;

/// Why an element ended up in [`Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnknownReason {
    /// The key is not an element of this type (includes `fhir_comments`).
    NotInDefinition,
    /// The key appeared twice in the same object; this is the later value.
    DuplicateKey,
    /// A second type for a choice element (`value[x]`); this is the later one.
    SecondChoice,
}

/// One kept element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEntry {
    /// The JSON key.
    pub key: String,
    /// The JSON value as read.
    pub value: Value,
    /// Why it is here.
    pub reason: UnknownReason,
}

/// Unknown elements of one JSON object (empty in valid FHIR). Costs one
/// pointer when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(clippy::box_collection)] // one pointer instead of three in every struct
pub struct Unknown(Option<Box<Vec<UnknownEntry>>>);

impl Unknown {
    /// Adds an entry.
    pub fn push(&mut self, key: String, value: Value, reason: UnknownReason) {
        self.0
            .get_or_insert_with(Default::default)
            .push(UnknownEntry { key, value, reason });
    }

    /// The entries, in document order.
    pub fn entries(&self) -> &[UnknownEntry] {
        self.0.as_deref().map_or(&[], |v| v.as_slice())
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// Removes all entries.
    pub fn clear(&mut self) {
        self.0 = None;
    }
}
