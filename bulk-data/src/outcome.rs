//! FHIR R4 `OperationOutcome` in Bulk Data responses (kick-off and status
//! errors, `error` files): <https://hl7.org/fhir/R4/operationoutcome.html>.
//!
//! The type is `ehrkit-fhir-model`'s [`OperationOutcome`]; this module reads
//! response bodies into it and summarises it without PHI (severities and
//! codes only, never `diagnostics` or `details`).

use ehrkit_fhir_model::codes::{IssueSeverity, IssueType};
use ehrkit_fhir_model::OperationOutcome;

use crate::error::Error;

/// Parses a response body as an OperationOutcome; `None` when the body is
/// not one (empty, HTML error page, another resource).
pub(crate) fn parse(body: &[u8]) -> Option<OperationOutcome> {
    ehrkit_fhir_model::from_slice::<OperationOutcome>(body).ok()
}

/// A PHI-free one-line summary: `severity/code` of the first five issues.
pub(crate) fn summary(oo: &OperationOutcome) -> String {
    if oo.issue.is_empty() {
        return "OperationOutcome without issues".to_owned();
    }
    let parts: Vec<String> = oo
        .issue
        .iter()
        .take(5)
        .map(|i| {
            let sev = i
                .severity
                .as_ref()
                .and_then(|p| p.value.as_ref())
                .map_or("?", IssueSeverity::as_code);
            let code = i
                .code
                .as_ref()
                .and_then(|p| p.value.as_ref())
                .map_or("?", IssueType::as_code);
            format!("{sev}/{code}")
        })
        .collect();
    let more = oo.issue.len().saturating_sub(5);
    if more > 0 {
        format!("{} and {more} more", parts.join(", "))
    } else {
        parts.join(", ")
    }
}

/// For a `5xx` status body: `Some(true)` when it is an OperationOutcome with
/// a `transient` issue, `Some(false)` when it is one without, `None` when it
/// is not an OperationOutcome.
pub(crate) fn is_transient_outcome(body: &[u8]) -> Option<bool> {
    let oo = parse(body)?;
    Some(
        oo.issue
            .iter()
            .any(|i| i.code.as_ref().and_then(|p| p.value.as_ref()) == Some(&IssueType::Transient)),
    )
}

/// The error for a failed exchange, with the body's OperationOutcome if any.
pub(crate) fn server_error(status: u16, stage: &'static str, body: &[u8]) -> Error {
    Error::Server {
        status,
        stage,
        outcome: parse(body).map(Box::new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_summarises_without_phi() {
        let body = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"secret name"}]}"#;
        let oo = parse(body).unwrap();
        assert_eq!(summary(&oo), "error/processing");
        assert!(!summary(&oo).contains("secret"));
        assert_eq!(is_transient_outcome(body), Some(false));
        let t = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient"}]}"#;
        assert_eq!(is_transient_outcome(t), Some(true));
        assert!(parse(b"<html>").is_none());
        assert!(parse(br#"{"resourceType":"Patient"}"#).is_none());
        assert_eq!(is_transient_outcome(b"upstream hiccup"), None);
    }
}
