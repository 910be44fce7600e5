//! The typed completion manifest of a bulk export.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One file entry of `output`, `error` or `deleted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutputFile {
    /// Resource type of every record in the file (`OperationOutcome` for
    /// `error` files, `Bundle` for `deleted` files).
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Absolute URL of the file.
    pub url: String,
    /// Number of resources in the file, when the server says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Extensions and other members, kept as is.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl OutputFile {
    /// An entry with a type and URL.
    pub fn new(resource_type: impl Into<String>, url: impl Into<String>) -> Self {
        OutputFile {
            resource_type: resource_type.into(),
            url: url.into(),
            count: None,
            other: Default::default(),
        }
    }
}

/// One `link` entry (manifest paging, Bulk Data 2.0 `allowPartialManifests`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Link {
    /// Link relation, `next` for the following manifest page.
    pub relation: String,
    /// Absolute URL.
    pub url: String,
}

/// The completion manifest (`200 OK` body of the status endpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Manifest {
    /// Server time at which the export snapshot was taken (FHIR `instant`),
    /// kept verbatim: pass it as `_since` of the next incremental export.
    pub transaction_time: String,
    /// The kick-off request URL.
    pub request: String,
    /// Whether file downloads need the bearer token.
    pub requires_access_token: bool,
    /// Set when the server organised output by a resource type
    /// (`organizeOutputBy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_organized_by: Option<String>,
    /// The data files.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub output: Vec<OutputFile>,
    /// OperationOutcome files for resources that could not be exported.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub error: Vec<OutputFile>,
    /// Bundles of deleted resources (incremental exports with `_since`).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub deleted: Vec<OutputFile>,
    /// Paging links (`next`).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub link: Vec<Link>,
    /// Every other member (`extension`, ...), kept as is.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// A JSON `null` where an array is expected (sent by some serializers) reads as empty.
fn null_as_empty<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl Manifest {
    /// Parses a manifest from a response body. Errors never quote the body. A UTF-8 byte
    /// order mark at the start (ASP.NET servers write one) is skipped, as RFC 8259 §8.1 allows.
    pub fn from_json(body: &[u8]) -> Result<Self> {
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        serde_json::from_slice(body).map_err(|e| {
            Error::Protocol(format!(
                "manifest is not valid ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }

    /// Makes every file and `link` URL absolute, resolving relative ones against `base` (the
    /// URL the manifest was fetched from). The spec asks for absolute URLs, but some servers
    /// send paths such as `/files/p.ndjson`; absolute URLs are kept exactly as sent, and a
    /// value that cannot be resolved is left as is (the download then reports it).
    pub fn resolve_urls(&mut self, base: &url::Url) {
        let fix = |u: &mut String| {
            if url::Url::parse(u).is_err() {
                if let Ok(abs) = base.join(u.trim()) {
                    *u = abs.into();
                }
            }
        };
        self.output
            .iter_mut()
            .chain(self.error.iter_mut())
            .chain(self.deleted.iter_mut())
            .for_each(|f| fix(&mut f.url));
        self.link.iter_mut().for_each(|l| fix(&mut l.url));
    }

    /// URL of the next manifest page, if any.
    pub fn next_page(&self) -> Option<&str> {
        self.link
            .iter()
            .find(|l| l.relation == "next")
            .map(|l| l.url.as_str())
    }

    /// The value to use as `_since` for the next incremental export.
    pub fn next_since(&self) -> &str {
        &self.transaction_time
    }

    /// Appends the files of a following page to this manifest (the paging
    /// links are replaced by the page's).
    pub fn merge_page(&mut self, page: Manifest) {
        self.output.extend(page.output);
        self.error.extend(page.error);
        self.deleted.extend(page.deleted);
        self.link = page.link;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spec_example() {
        let body = br#"{
          "transactionTime": "2021-01-01T00:00:00Z",
          "request": "https://example.com/fhir/Patient/$export?_type=Patient,Observation",
          "requiresAccessToken": true,
          "outputOrganizedBy": "Patient",
          "output": [
            {"type": "Patient", "url": "https://example.com/output/patient_file_1.ndjson"},
            {"type": "Observation", "url": "https://example.com/output/observation_file_1.ndjson", "count": 12}
          ],
          "deleted": [{"type": "Bundle", "url": "https://example.com/output/del_file_1.ndjson"}],
          "error": [{"type": "OperationOutcome", "url": "https://example.com/output/err_file_1.ndjson"}],
          "link": [{"relation": "next", "url": "https://example.com/output/manifest-2"}],
          "extension": {"https://example.com/extra-property": true}
        }"#;
        let m = Manifest::from_json(body).unwrap();
        assert_eq!(m.next_since(), "2021-01-01T00:00:00Z");
        assert!(m.requires_access_token);
        assert_eq!(m.output[1].count, Some(12));
        assert_eq!(m.output_organized_by.as_deref(), Some("Patient"));
        assert_eq!(m.deleted[0].resource_type, "Bundle");
        assert_eq!(m.next_page(), Some("https://example.com/output/manifest-2"));
        assert!(m.other.contains_key("extension"));
        let again = Manifest::from_json(&serde_json::to_vec(&m).unwrap()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn missing_required_member_is_error() {
        let e = Manifest::from_json(br#"{"request":"x","requiresAccessToken":true}"#).unwrap_err();
        assert!(e.to_string().contains("manifest is not valid"));
    }
}
