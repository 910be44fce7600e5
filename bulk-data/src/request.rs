//! Bulk Data Kick-off Request (FHIR Bulk Data Access 2.0.0, STU2):
//! <https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-kick-off-request>.
//!
//! [`ExportRequest`] builds the kick-off at system, `Patient` or
//! `Group/[id]` level as an [`http::Request`] (GET with a query string, or
//! POST with a `Parameters` body), to send with any HTTP client.

use http::header::{ACCEPT, CONTENT_TYPE};
use serde_json::json;
use url::Url;

use crate::error::{Error, Result};

/// Level of the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportLevel {
    /// `[base]/$export`: every resource on the server.
    System,
    /// `[base]/Patient/$export`: all patients' compartments.
    Patient,
    /// `[base]/Group/[id]/$export`: the members of a group.
    Group(String),
}

/// How to send the kick-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KickoffMethod {
    /// Parameters in the query string (no `patient`).
    Get,
    /// A FHIR `Parameters` resource in the body.
    Post,
}

/// A kick-off request, built with the methods below.
///
/// ```
/// use ehrkit_bulk_data::{ExportLevel, ExportRequest};
/// let req = ExportRequest::new(ExportLevel::Group("g1".into()))
///     .types(["Patient", "Observation"])
///     .type_filter("Observation?category=laboratory")
///     .since("2024-01-01T00:00:00Z");
/// let http = req.to_http(&"https://ehr.example/fhir/".parse().unwrap()).unwrap();
/// assert_eq!(http.uri().path(), "/fhir/Group/g1/$export");
/// assert_eq!(http.headers()["prefer"], "respond-async");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ExportRequest {
    /// Level.
    pub level: ExportLevel,
    /// GET or POST.
    pub method: KickoffMethod,
    /// `_type`.
    pub types: Vec<String>,
    /// `_since` (FHIR instant).
    pub since: Option<String>,
    /// `_until` (FHIR instant).
    pub until: Option<String>,
    /// `_typeFilter`, one entry per query (repeatable).
    pub type_filters: Vec<String>,
    /// `_outputFormat`.
    pub output_format: Option<String>,
    /// `_elements`.
    pub elements: Vec<String>,
    /// `patient` references (`Patient/123`), POST only.
    pub patients: Vec<String>,
    /// `includeAssociatedData` codes.
    pub include_associated_data: Vec<String>,
    /// `organizeOutputBy` (a resource type).
    pub organize_output_by: Option<String>,
    /// `allowPartialManifests`.
    pub allow_partial_manifests: Option<bool>,
}

impl ExportRequest {
    /// A request at `level`, sent with GET, with no parameters.
    pub fn new(level: ExportLevel) -> Self {
        ExportRequest {
            level,
            method: KickoffMethod::Get,
            types: Vec::new(),
            since: None,
            until: None,
            type_filters: Vec::new(),
            output_format: None,
            elements: Vec::new(),
            patients: Vec::new(),
            include_associated_data: Vec::new(),
            organize_output_by: None,
            allow_partial_manifests: None,
        }
    }
    /// Sends the kick-off with POST and a `Parameters` body.
    pub fn post(mut self) -> Self {
        self.method = KickoffMethod::Post;
        self
    }
    /// Sets the method.
    pub fn method(mut self, m: KickoffMethod) -> Self {
        self.method = m;
        self
    }
    /// Adds `_type` entries.
    pub fn types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, t: I) -> Self {
        self.types.extend(t.into_iter().map(Into::into));
        self
    }
    /// Sets `_since`; use [`Manifest::next_since`](crate::Manifest::next_since) of the previous export.
    pub fn since(mut self, t: impl Into<String>) -> Self {
        self.since = Some(t.into());
        self
    }
    /// Sets `_until`.
    pub fn until(mut self, t: impl Into<String>) -> Self {
        self.until = Some(t.into());
        self
    }
    /// Adds one `_typeFilter` query (repeatable).
    pub fn type_filter(mut self, f: impl Into<String>) -> Self {
        self.type_filters.push(f.into());
        self
    }
    /// Sets `_outputFormat`.
    pub fn output_format(mut self, f: impl Into<String>) -> Self {
        self.output_format = Some(f.into());
        self
    }
    /// Adds `_elements` entries.
    pub fn elements<I: IntoIterator<Item = S>, S: Into<String>>(mut self, e: I) -> Self {
        self.elements.extend(e.into_iter().map(Into::into));
        self
    }
    /// Adds a `patient` reference (POST only).
    pub fn patient(mut self, reference: impl Into<String>) -> Self {
        self.patients.push(reference.into());
        self
    }
    /// Adds `includeAssociatedData` codes.
    pub fn include_associated_data<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        c: I,
    ) -> Self {
        self.include_associated_data
            .extend(c.into_iter().map(Into::into));
        self
    }
    /// Sets `organizeOutputBy`.
    pub fn organize_output_by(mut self, t: impl Into<String>) -> Self {
        self.organize_output_by = Some(t.into());
        self
    }
    /// Sets `allowPartialManifests`.
    pub fn allow_partial_manifests(mut self, on: bool) -> Self {
        self.allow_partial_manifests = Some(on);
        self
    }

    fn endpoint(&self, base: &Url) -> Result<Url> {
        let mut url = base.clone();
        url.set_query(None);
        url.set_fragment(None);
        {
            let mut segs = url
                .path_segments_mut()
                .map_err(|_| Error::InvalidRequest("FHIR base URL cannot be a base".into()))?;
            segs.pop_if_empty();
            match &self.level {
                ExportLevel::System => {}
                ExportLevel::Patient => {
                    segs.push("Patient");
                }
                ExportLevel::Group(id) => {
                    let ok = !id.is_empty()
                        && id.len() <= 64
                        && id
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.');
                    if !ok {
                        return Err(Error::InvalidRequest(
                            "group id must match [A-Za-z0-9\\-\\.]{1,64}".into(),
                        ));
                    }
                    segs.push("Group");
                    segs.push(id);
                }
            }
            segs.push("$export");
        }
        Ok(url)
    }

    /// Builds the kick-off request against a FHIR base URL: `Accept:
    /// application/fhir+json` and `Prefer: respond-async`; the bearer token
    /// is the sender's business ([`authorize`](crate::authorize)).
    pub fn to_http(&self, fhir_base: &Url) -> Result<http::Request<Vec<u8>>> {
        if !self.patients.is_empty() && self.level == ExportLevel::System {
            return Err(Error::InvalidRequest(
                "patient applies to Patient and Group level exports only".into(),
            ));
        }
        let mut url = self.endpoint(fhir_base)?;
        let builder = http::Request::builder()
            .header(ACCEPT, "application/fhir+json")
            .header("prefer", "respond-async");
        let bool_str = |b: bool| if b { "true" } else { "false" };
        match self.method {
            KickoffMethod::Get => {
                if !self.patients.is_empty() {
                    return Err(Error::InvalidRequest(
                        "the patient parameter needs a POST kick-off".into(),
                    ));
                }
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(f) = &self.output_format {
                        q.append_pair("_outputFormat", f);
                    }
                    if let Some(s) = &self.since {
                        q.append_pair("_since", s);
                    }
                    if let Some(u) = &self.until {
                        q.append_pair("_until", u);
                    }
                    if !self.types.is_empty() {
                        q.append_pair("_type", &self.types.join(","));
                    }
                    if !self.elements.is_empty() {
                        q.append_pair("_elements", &self.elements.join(","));
                    }
                    for f in &self.type_filters {
                        q.append_pair("_typeFilter", f);
                    }
                    if !self.include_associated_data.is_empty() {
                        q.append_pair(
                            "includeAssociatedData",
                            &self.include_associated_data.join(","),
                        );
                    }
                    if let Some(o) = &self.organize_output_by {
                        q.append_pair("organizeOutputBy", o);
                    }
                    if let Some(a) = self.allow_partial_manifests {
                        q.append_pair("allowPartialManifests", bool_str(a));
                    }
                }
                if url.query() == Some("") {
                    url.set_query(None);
                }
                finish(builder.method(http::Method::GET), &url, Vec::new())
            }
            KickoffMethod::Post => {
                let mut p = Vec::new();
                if let Some(f) = &self.output_format {
                    p.push(json!({"name": "_outputFormat", "valueString": f}));
                }
                if let Some(s) = &self.since {
                    p.push(json!({"name": "_since", "valueInstant": s}));
                }
                if let Some(u) = &self.until {
                    p.push(json!({"name": "_until", "valueInstant": u}));
                }
                if !self.types.is_empty() {
                    p.push(json!({"name": "_type", "valueString": self.types.join(",")}));
                }
                if !self.elements.is_empty() {
                    p.push(json!({"name": "_elements", "valueString": self.elements.join(",")}));
                }
                for r in &self.patients {
                    p.push(json!({"name": "patient", "valueReference": {"reference": r}}));
                }
                for f in &self.type_filters {
                    p.push(json!({"name": "_typeFilter", "valueString": f}));
                }
                for c in &self.include_associated_data {
                    p.push(json!({"name": "includeAssociatedData", "valueCode": c}));
                }
                if let Some(o) = &self.organize_output_by {
                    p.push(json!({"name": "organizeOutputBy", "valueString": o}));
                }
                if let Some(a) = self.allow_partial_manifests {
                    p.push(json!({"name": "allowPartialManifests", "valueBoolean": a}));
                }
                let body = json!({"resourceType": "Parameters", "parameter": p});
                let body = serde_json::to_vec(&body).expect("json value serialises");
                let builder = builder
                    .method(http::Method::POST)
                    .header(CONTENT_TYPE, "application/fhir+json");
                finish(builder, &url, body)
            }
        }
    }
}

/// Sets the URL and body of a request being built.
pub(crate) fn finish(
    builder: http::request::Builder,
    url: &Url,
    body: Vec<u8>,
) -> Result<http::Request<Vec<u8>>> {
    builder
        .uri(url.as_str())
        .body(body)
        .map_err(|e| Error::InvalidRequest(format!("cannot build the request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn kickoff_get_and_post() {
        let base: Url = "https://ehr.example/fhir".parse().unwrap();
        let r = ExportRequest::new(ExportLevel::System)
            .types(["Patient", "Observation"])
            .type_filter("Observation?code=1234")
            .type_filter("Patient?active=true")
            .since("2024-01-01T00:00:00Z")
            .until("2024-02-01T00:00:00Z")
            .output_format("application/fhir+ndjson")
            .elements(["id", "meta"])
            .include_associated_data(["LatestProvenanceResources"])
            .organize_output_by("Patient")
            .allow_partial_manifests(true);
        let h = r.to_http(&base).unwrap();
        assert_eq!(h.method(), http::Method::GET);
        assert_eq!(h.uri().path(), "/fhir/$export");
        let url = Url::parse(&h.uri().to_string()).unwrap();
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let tf: Vec<_> = q
            .iter()
            .filter(|(k, _)| k == "_typeFilter")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(tf, ["Observation?code=1234", "Patient?active=true"]);
        assert!(q.contains(&("_type".into(), "Patient,Observation".into())));
        assert!(q.contains(&("allowPartialManifests".into(), "true".into())));
        assert_eq!(h.headers()["prefer"], "respond-async");
        assert_eq!(h.headers()[ACCEPT], "application/fhir+json");
        // patient needs POST
        let r2 = ExportRequest::new(ExportLevel::Patient).patient("Patient/1");
        assert!(matches!(r2.to_http(&base), Err(Error::InvalidRequest(_))));
        let h = r2
            .clone()
            .post()
            .type_filter("A?b=c")
            .to_http(&base)
            .unwrap();
        assert_eq!(h.uri().path(), "/fhir/Patient/$export");
        assert_eq!(h.method(), http::Method::POST);
        assert_eq!(h.headers()[CONTENT_TYPE], "application/fhir+json");
        let body: serde_json::Value = serde_json::from_slice(h.body()).unwrap();
        assert_eq!(body["resourceType"], "Parameters");
        assert_eq!(
            body["parameter"][0]["valueReference"]["reference"],
            "Patient/1"
        );
        assert!(ExportRequest::new(ExportLevel::Group("a/b".into()))
            .to_http(&base)
            .is_err());
    }
}
