//! Reading responses: a typed resource, a Bundle or an OperationOutcome error typed with the
//! HTTP status (<https://hl7.org/fhir/R4/http.html#Status-Codes>).
//!
//! Accepted content types: `application/fhir+json`, the DSTU2-era `application/json+fhir`
//! (still sent by Oracle Health), `application/json`, and none at all.

use ehrkit_fhir_model::codes::IssueType;
use ehrkit_fhir_model::{from_slice, Bundle, FromJson, OperationOutcome, Resource, TypedResource};
use http::header::CONTENT_TYPE;
use http::Response;

use crate::error::{Error, Result};

/// Whether a `Content-Type` is FHIR JSON (or plain JSON, or absent).
pub fn is_fhir_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        mime.as_str(),
        "application/fhir+json" | "application/json+fhir" | "application/json" | ""
    )
}

/// Reads the body as an OperationOutcome, if it is one.
pub fn outcome(body: &[u8]) -> Option<OperationOutcome> {
    from_slice::<OperationOutcome>(body).ok()
}

/// Whether an OperationOutcome says `not-supported`.
pub fn is_not_supported(oo: &OperationOutcome) -> bool {
    oo.issue
        .iter()
        .any(|i| i.code.as_ref().and_then(|p| p.value.as_ref()) == Some(&IssueType::NotSupported))
}

/// The error for a non-success status (OperationOutcome kept when the body is one).
pub fn error_for<B: AsRef<[u8]>>(resp: &Response<B>) -> Error {
    let status = resp.status().as_u16();
    let oo = outcome(resp.body().as_ref());
    match oo {
        Some(oo) if is_not_supported(&oo) => Error::NotSupported {
            status,
            outcome: Some(Box::new(oo)),
        },
        oo => Error::Server {
            status,
            outcome: oo.map(Box::new),
        },
    }
}

fn check<B: AsRef<[u8]>>(resp: &Response<B>) -> Result<()> {
    if !resp.status().is_success() {
        return Err(error_for(resp));
    }
    let ct = resp
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?"));
    if !is_fhir_json(ct) {
        return Err(Error::ContentType {
            status: resp.status().as_u16(),
            content_type: ct.unwrap_or_default().chars().take(80).collect(),
        });
    }
    Ok(())
}

fn parse<T: FromJson>(status: u16, body: &[u8], expected: &'static str) -> Result<T> {
    from_slice::<T>(body).map_err(|source| Error::Parse {
        status,
        expected,
        source,
    })
}

/// Reads a success response as any resource (types whose feature is off are
/// [`Resource::Other`]).
pub fn resource<B: AsRef<[u8]>>(resp: &Response<B>) -> Result<Resource> {
    check(resp)?;
    parse(resp.status().as_u16(), resp.body().as_ref(), "resource")
}

/// Reads a success response as the resource type `T` ([`Error::WrongType`] for another type).
pub fn typed<T: TypedResource + FromJson, B: AsRef<[u8]>>(resp: &Response<B>) -> Result<T> {
    check(resp)?;
    let status = resp.status().as_u16();
    let body = resp.body().as_ref();
    match from_slice::<T>(body) {
        Ok(t) => Ok(t),
        Err(source) => match from_slice::<Resource>(body) {
            Ok(r) if r.resource_type() != T::TYPE_NAME => Err(Error::WrongType {
                expected: T::TYPE_NAME,
                found: r.resource_type().chars().take(64).collect(),
            }),
            _ => Err(Error::Parse {
                status,
                expected: T::TYPE_NAME,
                source,
            }),
        },
    }
}

/// Reads a success response as a Bundle.
pub fn bundle<B: AsRef<[u8]>>(resp: &Response<B>) -> Result<Bundle> {
    check(resp)?;
    let status = resp.status().as_u16();
    let body = resp.body().as_ref();
    match parse::<Bundle>(status, body, "Bundle") {
        Ok(b) => Ok(b),
        Err(e) => {
            // A 200 carrying an OperationOutcome instead of a Bundle is an error too.
            match outcome(body) {
                Some(oo) => Err(Error::Server {
                    status,
                    outcome: Some(Box::new(oo)),
                }),
                None => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, ct: Option<&str>, body: &str) -> Response<Vec<u8>> {
        let mut b = Response::builder().status(status);
        if let Some(ct) = ct {
            b = b.header(CONTENT_TYPE, ct);
        }
        b.body(body.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn legacy_and_plain_json_are_accepted_html_is_not() {
        let p = r#"{"resourceType":"Patient","id":"p1"}"#;
        for ct in [
            Some("application/fhir+json;charset=UTF-8"),
            Some("application/json+fhir"),
            Some("application/json"),
            None,
        ] {
            let r = resource(&resp(200, ct, p)).unwrap();
            assert_eq!(r.id(), Some("p1"), "{ct:?}");
        }
        let err = resource(&resp(200, Some("text/html"), "<html>")).unwrap_err();
        assert!(matches!(err, Error::ContentType { status: 200, .. }));
    }

    #[test]
    fn operation_outcome_errors_keep_status_and_issue_without_diagnostics_in_text() {
        let oo = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"required","diagnostics":"Patient John Doe"}]}"#;
        let err = bundle(&resp(400, Some("application/fhir+json"), oo)).unwrap_err();
        assert_eq!(err.status(), Some(400));
        assert_eq!(
            err.outcome().unwrap().issue[0].code.as_ref().unwrap().value,
            Some(IssueType::Required)
        );
        assert_eq!(
            err.to_string(),
            "server answered 400: OperationOutcome error/required"
        );
        let ns = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-supported"}]}"#;
        assert!(matches!(
            resource(&resp(501, None, ns)).unwrap_err(),
            Error::NotSupported { status: 501, .. }
        ));
        // A 200 OperationOutcome where a Bundle was expected.
        assert!(matches!(
            bundle(&resp(200, None, oo)).unwrap_err(),
            Error::Server { status: 200, .. }
        ));
    }

    #[test]
    fn typed_read_checks_the_type() {
        let p = resp(200, None, r#"{"resourceType":"Patient","id":"p1"}"#);
        let patient: ehrkit_fhir_model::Patient = typed(&p).unwrap();
        assert_eq!(patient.id.as_deref(), Some("p1"));
        let o = resp(200, None, r#"{"resourceType":"Observation","id":"o1"}"#);
        let err = typed::<ehrkit_fhir_model::Patient, _>(&o).unwrap_err();
        assert!(
            matches!(err, Error::WrongType { expected: "Patient", ref found } if found == "Observation")
        );
    }
}
