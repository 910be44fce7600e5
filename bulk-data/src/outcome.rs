//! A small typed view of FHIR `OperationOutcome`, enough for kick-off,
//! status and `error` files of a bulk export.

use serde::{Deserialize, Serialize};

/// One `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub struct Issue {
    /// `fatal | error | warning | information`.
    #[serde(default)]
    pub severity: String,
    /// Issue type code (`processing`, `not-found`, `too-costly`, ...).
    #[serde(default)]
    pub code: String,
    /// `details.text`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// Free-text diagnostics. May hold PHI: never logged by this crate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<String>,
    /// FHIRPath expressions the issue is about.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}

/// A FHIR `OperationOutcome` (only the parts bulk export needs; the rest is
/// kept in `other`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub struct OperationOutcome {
    /// Always `OperationOutcome`.
    #[serde(rename = "resourceType")]
    pub resource_type: String,
    /// Resource id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The issues.
    #[serde(default)]
    pub issue: Vec<Issue>,
    /// Every other member, kept as is.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl OperationOutcome {
    /// Parses a response body as an OperationOutcome; `None` when the body is
    /// not one (empty, HTML error page, other resource).
    pub fn from_body(body: &[u8]) -> Option<Self> {
        let oo: OperationOutcome = serde_json::from_slice(body).ok()?;
        (oo.resource_type == "OperationOutcome").then_some(oo)
    }

    /// A PHI-free one-line summary: severities and codes only.
    pub fn summary(&self) -> String {
        if self.issue.is_empty() {
            return "OperationOutcome without issues".to_owned();
        }
        let parts: Vec<String> = self
            .issue
            .iter()
            .take(5)
            .map(|i| format!("{}/{}", i.severity, i.code))
            .collect();
        let more = self.issue.len().saturating_sub(5);
        if more > 0 {
            format!("{} and {more} more", parts.join(", "))
        } else {
            parts.join(", ")
        }
    }

    /// True when an issue has severity `fatal` or `error`.
    pub fn has_errors(&self) -> bool {
        self.issue
            .iter()
            .any(|i| i.severity == "fatal" || i.severity == "error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_summarises() {
        let body = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"secret name"}]}"#;
        let oo = OperationOutcome::from_body(body).unwrap();
        assert!(oo.has_errors());
        assert_eq!(oo.summary(), "error/processing");
        assert!(!oo.summary().contains("secret"));
        assert!(OperationOutcome::from_body(b"<html>").is_none());
        assert!(OperationOutcome::from_body(br#"{"resourceType":"Patient"}"#).is_none());
    }
}
