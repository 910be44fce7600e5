//! Building requests for the RESTful interactions:
//! <https://hl7.org/fhir/R4/http.html> (read, vread, search, history, create, update,
//! conditional create and update, patch, delete, batch/transaction, operations, capabilities).
//!
//! Requests are plain `http::Request<Vec<u8>>` values; send them with any client.

use http::header::{HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE};
use http::{Method, Request};
use url::Url;

use crate::error::{Error, Result};
use crate::search::SearchParams;

/// The FHIR JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json";

/// A FHIR server's base URL, normalized to end with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base(Url);

impl Base {
    /// Parses and checks a base URL (`http`/`https`, no query or fragment).
    pub fn new(url: &str) -> Result<Self> {
        let mut u = Url::parse(url).map_err(|e| Error::InvalidRequest {
            what: "base URL",
            detail: e.to_string(),
        })?;
        if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
            return Err(Error::InvalidRequest {
                what: "base URL",
                detail: "scheme must be http or https, with a host".into(),
            });
        }
        if u.query().is_some() || u.fragment().is_some() {
            return Err(Error::InvalidRequest {
                what: "base URL",
                detail: "must have no query or fragment".into(),
            });
        }
        if !u.path().ends_with('/') {
            let p = format!("{}/", u.path());
            u.set_path(&p);
        }
        Ok(Base(u))
    }

    /// The URL (ends with `/`).
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// `scheme://host:port` of the base.
    pub fn origin(&self) -> String {
        origin(&self.0)
    }

    /// Whether `u` has the base's origin (scheme, host, port).
    pub fn same_origin(&self, u: &Url) -> bool {
        self.0.origin() == u.origin()
    }

    /// Resolves a link (absolute or relative to the base).
    pub fn resolve(&self, link: &str) -> Result<Url> {
        self.0.join(link).map_err(|e| Error::InvalidRequest {
            what: "link",
            detail: e.to_string(),
        })
    }

    fn join(&self, path: &str) -> Result<Url> {
        self.resolve(path)
    }
}

/// `scheme://host[:port]` of a URL, never its path or query.
pub(crate) fn origin(u: &Url) -> String {
    u.origin().ascii_serialization()
}

/// Checks a resource type name (`[A-Z][A-Za-z]*`).
pub fn check_type(t: &str) -> Result<()> {
    let ok = t.len() <= 64
        && t.starts_with(|c: char| c.is_ascii_uppercase())
        && t.chars().all(|c| c.is_ascii_alphabetic());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest {
            what: "resource type",
            detail: "must be letters starting with an uppercase one".into(),
        })
    }
}

/// Checks a logical or version id (`[A-Za-z0-9\-\.]{1,64}`), so an id can never change the
/// path (`../`, `?`).
pub fn check_id(id: &str) -> Result<()> {
    let ok = (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && id != "."
        && id != "..";
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest {
            what: "id",
            detail: "must be 1-64 of A-Z a-z 0-9 - .".into(),
        })
    }
}

/// A request with what the retry logic needs to know about it.
#[derive(Debug, Clone)]
pub struct FhirRequest {
    /// The HTTP request.
    pub http: Request<Vec<u8>>,
    /// The resource type it is about (for logs and vendor rules).
    pub resource_type: String,
    /// Whether sending it twice has the effect of sending it once (GET, PUT, DELETE).
    pub idempotent: bool,
}

fn get(url: Url, resource_type: &str) -> Result<FhirRequest> {
    let http = Request::builder()
        .method(Method::GET)
        .uri(url.as_str())
        .header(ACCEPT, HeaderValue::from_static(FHIR_JSON))
        .header(ACCEPT_ENCODING, HeaderValue::from_static("gzip"))
        .body(Vec::new())
        .map_err(|e| Error::InvalidRequest {
            what: "request",
            detail: e.to_string(),
        })?;
    Ok(FhirRequest {
        http,
        resource_type: resource_type.to_owned(),
        idempotent: true,
    })
}

/// `GET [base]/[type]/[id]`, with `extra` query parameters (vendor parameters such as
/// athenahealth's `ah-practice`).
pub fn read(
    base: &Base,
    resource_type: &str,
    id: &str,
    extra: &SearchParams,
) -> Result<FhirRequest> {
    check_type(resource_type)?;
    check_id(id)?;
    let mut url = base.join(&format!("{resource_type}/{id}"))?;
    with_query(&mut url, extra);
    get(url, resource_type)
}

/// `GET [base]/[type]/[id]/_history/[vid]`.
pub fn vread(
    base: &Base,
    resource_type: &str,
    id: &str,
    version: &str,
    extra: &SearchParams,
) -> Result<FhirRequest> {
    check_type(resource_type)?;
    check_id(id)?;
    check_id(version)?;
    let mut url = base.join(&format!("{resource_type}/{id}/_history/{version}"))?;
    with_query(&mut url, extra);
    get(url, resource_type)
}

/// `GET [base]/[type]?params`.
pub fn search(base: &Base, resource_type: &str, params: &SearchParams) -> Result<FhirRequest> {
    check_type(resource_type)?;
    let mut url = base.join(resource_type)?;
    with_query(&mut url, params);
    get(url, resource_type)
}

/// How searches are sent (`FhirClientBuilder::search_method` in the HTTP layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SearchMethod {
    /// `GET [base]/[type]?query` (the default; every server supports it).
    #[default]
    Get,
    /// Always `POST [base]/[type]/_search` ([`search_post`]).
    Post,
    /// `GET` unless the URL would be longer than this many bytes, then `POST … /_search`
    /// (proxies and servers commonly refuse URLs over 8 KiB).
    PostAbove(usize),
}

impl SearchMethod {
    /// The request for this search under this method.
    pub fn request(
        self,
        base: &Base,
        resource_type: &str,
        params: &SearchParams,
    ) -> Result<FhirRequest> {
        let get = search(base, resource_type, params)?;
        match self {
            SearchMethod::Get => Ok(get),
            SearchMethod::Post => search_post(base, resource_type, params),
            SearchMethod::PostAbove(n) => {
                if get.http.uri().to_string().len() > n {
                    search_post(base, resource_type, params)
                } else {
                    Ok(get)
                }
            }
        }
    }
}

/// `POST [base]/[type]/_search` with the parameters as an `application/x-www-form-urlencoded`
/// body: for queries too long for a URL (many codes, long chains) and for servers that keep
/// search criteria out of access logs. A search changes nothing, so it is retried like a `GET`.
/// Paging links the server returns are then followed with `GET` ([`page`]).
pub fn search_post(base: &Base, resource_type: &str, params: &SearchParams) -> Result<FhirRequest> {
    check_type(resource_type)?;
    let url = base.join(&format!("{resource_type}/_search"))?;
    let mut req = with_body(
        Method::POST,
        url,
        resource_type,
        "application/x-www-form-urlencoded",
        params.to_query().into_bytes(),
        true,
    )?;
    // `Prefer: return=representation` means nothing to a search.
    req.http.headers_mut().remove("prefer");
    Ok(req)
}

/// `GET` of a paging link (`next`) exactly as the server gave it, after checking it stays on
/// the base's origin (the token goes with it). `extra` parameters missing from the link are
/// added (a vendor's required parameter the server dropped from its links).
pub fn page(
    base: &Base,
    link: &str,
    resource_type: &str,
    extra: &SearchParams,
) -> Result<FhirRequest> {
    let mut url = base.resolve(link)?;
    if !base.same_origin(&url) {
        match upgraded_to_https(base, &url) {
            Some(https) => {
                tracing::warn!(
                    origin = %base.origin(),
                    "next link names plain http on the base's host (a TLS-terminating proxy); \
                     followed over https"
                );
                url = https;
            }
            None => {
                return Err(Error::ForeignLink {
                    what: "next link",
                    origin: origin(&url),
                })
            }
        }
    }
    let present = SearchParams::parse(url.query().unwrap_or(""));
    let missing: Vec<&(String, String)> = extra
        .pairs()
        .iter()
        .filter(|(k, _)| present.get(k).is_none())
        .collect();
    if !missing.is_empty() {
        let mut add = SearchParams::new();
        for (k, v) in missing {
            add = add.param(k.clone(), v.clone());
        }
        let q = match url.query() {
            Some(q) if !q.is_empty() => format!("{q}&{}", add.to_query()),
            _ => add.to_query(),
        };
        url.set_query(Some(&q));
    }
    get(url, resource_type)
}

/// A server behind a TLS-terminating proxy (HAPI without `X-Forwarded-Proto`, some vendor
/// gateways) writes its links with the scheme it sees, `http://`, on the public host. When the
/// base is `https` on its default port and the link is `http` on the same host and the default
/// port, the link is the same resource over `https`. Never the other way round: nothing is
/// moved from `https` to `http`, and another host or port stays foreign.
fn upgraded_to_https(base: &Base, link: &Url) -> Option<Url> {
    let b = base.url();
    if b.scheme() != "https" || b.port().is_some() || link.scheme() != "http" {
        return None;
    }
    if link.port().is_some() || link.host_str() != b.host_str() {
        return None;
    }
    let mut up = link.clone();
    up.set_scheme("https").ok()?;
    base.same_origin(&up).then_some(up)
}

fn with_body(
    method: Method,
    url: Url,
    resource_type: &str,
    content_type: &'static str,
    body: Vec<u8>,
    idempotent: bool,
) -> Result<FhirRequest> {
    let http = Request::builder()
        .method(method)
        .uri(url.as_str())
        .header(ACCEPT, HeaderValue::from_static(FHIR_JSON))
        .header(ACCEPT_ENCODING, HeaderValue::from_static("gzip"))
        .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
        .header("prefer", HeaderValue::from_static("return=representation"))
        .body(body)
        .map_err(|e| Error::InvalidRequest {
            what: "request",
            detail: e.to_string(),
        })?;
    Ok(FhirRequest {
        http,
        resource_type: resource_type.to_owned(),
        idempotent,
    })
}

fn header(req: &mut FhirRequest, name: &'static str, value: &str) -> Result<()> {
    let v = HeaderValue::from_str(value).map_err(|_| Error::InvalidRequest {
        what: name,
        detail: "not a valid header value".into(),
    })?;
    req.http.headers_mut().insert(name, v);
    Ok(())
}

/// `POST [base]/[type]` (create). With `if_none_exist` it is a conditional create
/// (`If-None-Exist: <query>`): the server creates nothing when a match exists, so the request
/// may be retried.
pub fn create(
    base: &Base,
    resource_type: &str,
    body: Vec<u8>,
    if_none_exist: Option<&SearchParams>,
) -> Result<FhirRequest> {
    check_type(resource_type)?;
    let url = base.join(resource_type)?;
    let mut req = with_body(
        Method::POST,
        url,
        resource_type,
        FHIR_JSON,
        body,
        if_none_exist.is_some(),
    )?;
    if let Some(q) = if_none_exist {
        header(&mut req, "if-none-exist", &q.to_query())?;
    }
    Ok(req)
}

/// `PUT [base]/[type]/[id]` (update), with `If-Match: <etag>` for a version-aware update.
pub fn update(
    base: &Base,
    resource_type: &str,
    id: &str,
    body: Vec<u8>,
    if_match: Option<&str>,
) -> Result<FhirRequest> {
    check_type(resource_type)?;
    check_id(id)?;
    let url = base.join(&format!("{resource_type}/{id}"))?;
    let mut req = with_body(Method::PUT, url, resource_type, FHIR_JSON, body, true)?;
    if let Some(etag) = if_match {
        header(&mut req, "if-match", etag)?;
    }
    Ok(req)
}

/// `PUT [base]/[type]?[search]` (conditional update: create or update the one match).
pub fn conditional_update(
    base: &Base,
    resource_type: &str,
    criteria: &SearchParams,
    body: Vec<u8>,
) -> Result<FhirRequest> {
    check_type(resource_type)?;
    if criteria.is_empty() {
        return Err(Error::InvalidRequest {
            what: "conditional update",
            detail: "needs search criteria".into(),
        });
    }
    let mut url = base.join(resource_type)?;
    with_query(&mut url, criteria);
    with_body(Method::PUT, url, resource_type, FHIR_JSON, body, true)
}

/// `PATCH [base]/[type]/[id]` with a JSON Patch document (never retried unless opted in).
pub fn patch(
    base: &Base,
    resource_type: &str,
    id: &str,
    json_patch: Vec<u8>,
    if_match: Option<&str>,
) -> Result<FhirRequest> {
    check_type(resource_type)?;
    check_id(id)?;
    let url = base.join(&format!("{resource_type}/{id}"))?;
    let mut req = with_body(
        Method::PATCH,
        url,
        resource_type,
        "application/json-patch+json",
        json_patch,
        false,
    )?;
    if let Some(etag) = if_match {
        header(&mut req, "if-match", etag)?;
    }
    Ok(req)
}

/// `DELETE [base]/[type]/[id]`.
pub fn delete(base: &Base, resource_type: &str, id: &str) -> Result<FhirRequest> {
    check_type(resource_type)?;
    check_id(id)?;
    let url = base.join(&format!("{resource_type}/{id}"))?;
    let mut req = get(url, resource_type)?;
    *req.http.method_mut() = Method::DELETE;
    Ok(req)
}

/// `POST [base]` with a `batch` or `transaction` Bundle (posted as it is).
pub fn transaction(base: &Base, bundle: Vec<u8>) -> Result<FhirRequest> {
    with_body(
        Method::POST,
        base.url().clone(),
        "Bundle",
        FHIR_JSON,
        bundle,
        false,
    )
}

/// `GET [base]/[type]/[id]/_history` (or `[type]/_history` without an id).
pub fn history(
    base: &Base,
    resource_type: &str,
    id: Option<&str>,
    params: &SearchParams,
) -> Result<FhirRequest> {
    check_type(resource_type)?;
    let path = match id {
        Some(id) => {
            check_id(id)?;
            format!("{resource_type}/{id}/_history")
        }
        None => format!("{resource_type}/_history"),
    };
    let mut url = base.join(&path)?;
    with_query(&mut url, params);
    get(url, resource_type)
}

/// `GET [base]/[type]/[id]/$[operation]` (e.g. `Patient/123/$everything`).
pub fn instance_operation(
    base: &Base,
    resource_type: &str,
    id: &str,
    operation: &str,
    params: &SearchParams,
) -> Result<FhirRequest> {
    check_type(resource_type)?;
    check_id(id)?;
    if operation.is_empty()
        || !operation
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(Error::InvalidRequest {
            what: "operation",
            detail: "must be letters, digits or -".into(),
        });
    }
    let mut url = base.join(&format!("{resource_type}/{id}/${operation}"))?;
    with_query(&mut url, params);
    get(url, resource_type)
}

/// `GET [base]/metadata` (the CapabilityStatement).
pub fn capabilities(base: &Base) -> Result<FhirRequest> {
    get(base.join("metadata")?, "CapabilityStatement")
}

/// `GET [base]/.well-known/smart-configuration`.
pub fn smart_configuration(base: &Base) -> Result<FhirRequest> {
    let mut req = get(base.join(".well-known/smart-configuration")?, "")?;
    req.http
        .headers_mut()
        .insert(ACCEPT, HeaderValue::from_static("application/json"));
    Ok(req)
}

fn with_query(url: &mut Url, params: &SearchParams) {
    if !params.is_empty() {
        url.set_query(Some(&params.to_query()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_next_link_on_an_https_base_host_is_followed_over_https_only_there() {
        let base = Base::new("https://fhir.example.org/R4").unwrap();
        let none = SearchParams::new();
        let req = page(
            &base,
            "http://fhir.example.org/R4?_getpages=abc&_count=50",
            "Patient",
            &none,
        )
        .unwrap();
        assert_eq!(
            req.http.uri().to_string(),
            "https://fhir.example.org/R4?_getpages=abc&_count=50"
        );
        for foreign in [
            "http://fhir.example.org:8080/R4?_getpages=abc",
            "http://internal-host/R4?_getpages=abc",
            "https://other.example.org/R4?_getpages=abc",
        ] {
            assert!(
                matches!(
                    page(&base, foreign, "Patient", &none),
                    Err(Error::ForeignLink { .. })
                ),
                "{foreign}"
            );
        }
        // Never from https to http, nor onto a base on a non-default port.
        let plain = Base::new("http://fhir.example.org/R4").unwrap();
        assert!(page(&plain, "https://fhir.example.org/R4?p=2", "Patient", &none).is_err());
        let ported = Base::new("https://fhir.example.org:8443/R4").unwrap();
        assert!(page(&ported, "http://fhir.example.org/R4?p=2", "Patient", &none).is_err());
    }

    #[test]
    fn read_vread_search_urls() {
        let base = Base::new("https://ehr.example/fhir/r4").unwrap();
        let none = SearchParams::new();
        let r = read(&base, "Patient", "a-1.2", &none).unwrap();
        assert_eq!(r.http.uri(), "https://ehr.example/fhir/r4/Patient/a-1.2");
        assert_eq!(r.http.headers()[ACCEPT], FHIR_JSON);
        let v = vread(&base, "Patient", "7", "3", &none).unwrap();
        assert_eq!(
            v.http.uri(),
            "https://ehr.example/fhir/r4/Patient/7/_history/3"
        );
        let s = search(&base, "Observation", &SearchParams::new().patient("7")).unwrap();
        assert_eq!(
            s.http.uri(),
            "https://ehr.example/fhir/r4/Observation?patient=7"
        );
        assert!(s.idempotent);
    }

    #[test]
    fn search_by_post_sends_the_query_as_a_form_body() {
        let base = Base::new("https://ehr.example/fhir/r4").unwrap();
        let params = SearchParams::new()
            .patient("7")
            .token("code", Some("http://loinc.org"), "8480-6")
            .param("date", "ge2024-01-01T00:00:00+05:00");
        let r = search_post(&base, "Observation", &params).unwrap();
        assert_eq!(r.http.method(), Method::POST);
        assert_eq!(
            r.http.uri(),
            "https://ehr.example/fhir/r4/Observation/_search"
        );
        assert_eq!(
            r.http.headers()[CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        assert!(r.http.headers().get("prefer").is_none());
        assert!(r.idempotent, "a search may be retried");
        let body = std::str::from_utf8(r.http.body()).unwrap();
        // `+` of the offset is percent-encoded: a form decoder would read a bare `+` as a space.
        assert_eq!(
            body,
            "patient=7&code=http://loinc.org%7C8480-6&date=ge2024-01-01T00:00:00%2B05:00"
        );
        assert_eq!(SearchParams::parse(body), params);
        assert!(search_post(&base, "Observation/x", &params).is_err());
    }

    #[test]
    fn search_method_switches_to_post_only_for_long_urls() {
        let base = Base::new("https://ehr.example/fhir/r4").unwrap();
        let short = SearchParams::new().patient("7");
        let codes: Vec<String> = (0..400)
            .map(|i| format!("http://loinc.org|{i}-0"))
            .collect();
        let long = SearchParams::new()
            .patient("7")
            .param("code", codes.join(","));
        let m = SearchMethod::PostAbove(2048);
        assert_eq!(
            m.request(&base, "Observation", &short)
                .unwrap()
                .http
                .method(),
            Method::GET
        );
        assert_eq!(
            m.request(&base, "Observation", &long)
                .unwrap()
                .http
                .method(),
            Method::POST
        );
        assert_eq!(
            SearchMethod::Get
                .request(&base, "Observation", &long)
                .unwrap()
                .http
                .method(),
            Method::GET
        );
        assert_eq!(
            SearchMethod::Post
                .request(&base, "Observation", &short)
                .unwrap()
                .http
                .method(),
            Method::POST
        );
    }

    #[test]
    fn ids_and_types_cannot_change_the_path() {
        let base = Base::new("https://ehr.example/fhir/").unwrap();
        let none = SearchParams::new();
        for id in ["..", "a/b", "a?b", "", "x#", &"9".repeat(65)] {
            assert!(
                matches!(
                    read(&base, "Patient", id, &none),
                    Err(Error::InvalidRequest { what: "id", .. })
                ),
                "{id}"
            );
        }
        for t in ["patient", "Pa/tient", "", "Patient?x=1"] {
            assert!(read(&base, t, "1", &none).is_err(), "{t}");
        }
        assert!(Base::new("ftp://x/").is_err());
        assert!(Base::new("https://x/fhir?a=1").is_err());
    }

    #[test]
    fn write_interactions() {
        let base = Base::new("https://ehr.example/fhir/").unwrap();
        let body = br#"{"resourceType":"Patient"}"#.to_vec();
        let c = create(&base, "Patient", body.clone(), None).unwrap();
        assert_eq!((c.http.method().as_str(), c.idempotent), ("POST", false));
        assert_eq!(c.http.headers()[CONTENT_TYPE], FHIR_JSON);
        let ident = SearchParams::new().token("identifier", Some("urn:mrn"), "42");
        let cc = create(&base, "Patient", body.clone(), Some(&ident)).unwrap();
        assert!(cc.idempotent, "conditional create may be retried");
        assert_eq!(
            cc.http.headers()["if-none-exist"],
            "identifier=urn:mrn%7C42"
        );
        let u = update(&base, "Patient", "p1", body.clone(), Some("W/\"3\"")).unwrap();
        assert_eq!(u.http.uri(), "https://ehr.example/fhir/Patient/p1");
        assert_eq!(u.http.headers()["if-match"], "W/\"3\"");
        let cu = conditional_update(&base, "Patient", &ident, body.clone()).unwrap();
        assert_eq!(
            cu.http.uri(),
            "https://ehr.example/fhir/Patient?identifier=urn:mrn%7C42"
        );
        assert!(conditional_update(&base, "Patient", &SearchParams::new(), body.clone()).is_err());
        let p = patch(&base, "Patient", "p1", b"[]".to_vec(), None).unwrap();
        assert_eq!((p.http.method().as_str(), p.idempotent), ("PATCH", false));
        let d = delete(&base, "Patient", "p1").unwrap();
        assert_eq!((d.http.method().as_str(), d.idempotent), ("DELETE", true));
        let t = transaction(&base, body).unwrap();
        assert_eq!(t.http.uri(), "https://ehr.example/fhir/");
        let e =
            instance_operation(&base, "Patient", "p1", "everything", &SearchParams::new()).unwrap();
        assert_eq!(
            e.http.uri(),
            "https://ehr.example/fhir/Patient/p1/$everything"
        );
        assert!(
            instance_operation(&base, "Patient", "p1", "x/../y", &SearchParams::new()).is_err()
        );
        let h = history(&base, "Patient", Some("p1"), &SearchParams::new().count(5)).unwrap();
        assert_eq!(
            h.http.uri(),
            "https://ehr.example/fhir/Patient/p1/_history?_count=5"
        );
        assert_eq!(
            capabilities(&base).unwrap().http.uri(),
            "https://ehr.example/fhir/metadata"
        );
        assert_eq!(
            smart_configuration(&base).unwrap().http.uri(),
            "https://ehr.example/fhir/.well-known/smart-configuration"
        );
    }

    #[test]
    fn next_links_are_followed_as_given_on_the_same_origin_only() {
        let base = Base::new("https://ehr.example/fhir/").unwrap();
        let none = SearchParams::new();
        let link = "https://ehr.example/fhir/Observation?pageContext=ab%2Fc%3D%3D&direction=NEXT";
        assert_eq!(
            page(&base, link, "Observation", &none).unwrap().http.uri(),
            link
        );
        let rel = page(&base, "Observation?page=2", "Observation", &none).unwrap();
        assert_eq!(
            rel.http.uri(),
            "https://ehr.example/fhir/Observation?page=2"
        );
        let err = page(
            &base,
            "https://evil.example/fhir/Observation?page=2",
            "Observation",
            &none,
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::ForeignLink { ref origin, .. } if origin == "https://evil.example")
        );
        let extra = SearchParams::new().param("ah-practice", "Organization/a-1.Practice-195900");
        let with = page(&base, "Observation?page=2", "Observation", &extra).unwrap();
        assert_eq!(
            with.http.uri(),
            "https://ehr.example/fhir/Observation?page=2&ah-practice=Organization/a-1.Practice-195900"
        );
    }
}
