//! Structural validation on request: cardinality, required bindings,
//! choice exclusivity and unknown elements, reported with JSON paths.
//!
//! FHIRPath invariants are not checked (that needs a FHIRPath engine over
//! the typed model; see the README).

use crate::error::{Issue, Severity};
use crate::primitives::{Primitive, PrimitiveValue};
use crate::unknown::{Unknown, UnknownReason};

/// Collects validation issues while walking a value.
#[derive(Debug, Default)]
pub struct Validator {
    path: String,
    issues: Vec<Issue>,
}

/// Something that can be validated structurally.
pub trait Validate {
    /// Walks `self`, reporting problems to `v`.
    fn validate(&self, v: &mut Validator);
}

impl Validator {
    /// A validator whose paths start with `$`.
    pub fn new() -> Self {
        Validator {
            path: "$".into(),
            issues: Vec::new(),
        }
    }

    /// Validates `value` and returns every issue found.
    pub fn check<T: Validate + ?Sized>(value: &T) -> Vec<Issue> {
        let mut v = Validator::new();
        value.validate(&mut v);
        v.issues
    }

    /// The issues so far.
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// Reports a problem at the current path plus `name`.
    pub fn report_at(&mut self, name: &str, message: &str) {
        let mut path = self.path.clone();
        if !name.is_empty() {
            path.push('.');
            path.push_str(name);
        }
        self.issues.push(Issue {
            severity: Severity::Error,
            path,
            message: message.into(),
        });
    }

    /// Validates a member.
    pub fn field<T: Validate + ?Sized>(&mut self, name: &str, value: &T) {
        let len = self.path.len();
        self.path.push('.');
        self.path.push_str(name);
        value.validate(self);
        self.path.truncate(len);
    }

    /// A mandatory single element.
    pub fn required(&mut self, name: &str, present: bool) {
        if !present {
            self.report_at(name, "missing required element");
        }
    }

    /// Array cardinality.
    pub fn items(&mut self, name: &str, len: usize, min: usize, max: usize) {
        if len < min {
            self.report_at(name, "too few repetitions");
        }
        if len > max {
            self.report_at(name, "too many repetitions");
        }
    }

    /// Reports kept unknown elements.
    pub fn unknown(&mut self, u: &Unknown) {
        for e in u.entries() {
            let msg = match e.reason {
                UnknownReason::NotInDefinition => "element not in the definition",
                UnknownReason::DuplicateKey => "duplicate key",
                UnknownReason::SecondChoice => "more than one type given for a choice element",
            };
            let key = e.key.clone();
            self.report_at(&key, msg);
        }
    }
}

impl<T: Validate> Validate for Vec<T> {
    fn validate(&self, v: &mut Validator) {
        for (i, x) in self.iter().enumerate() {
            let len = v.path.len();
            v.path.push_str(&format!("[{i}]"));
            x.validate(v);
            v.path.truncate(len);
        }
    }
}

impl<T: Validate> Validate for Option<T> {
    fn validate(&self, v: &mut Validator) {
        if let Some(x) = self {
            x.validate(v);
        }
    }
}

impl<T: Validate + ?Sized> Validate for Box<T> {
    fn validate(&self, v: &mut Validator) {
        (**self).validate(v);
    }
}

impl<T: PrimitiveValue> Validate for Primitive<T> {
    fn validate(&self, v: &mut Validator) {
        if let Some(m) = self.value.as_ref().and_then(PrimitiveValue::check) {
            v.report_at("", m);
        }
        match &self.ext {
            None if self.value.is_none() => {
                v.report_at("", "primitive element with neither value nor extension")
            }
            None => {}
            Some(e) => {
                if self.value.is_none() && e.extension.is_empty() {
                    v.report_at("", "primitive element with neither value nor extension");
                }
                e.validate(v);
            }
        }
    }
}
