//! Origins and redirects: where the bearer token may go.
//!
//! The token goes to the origin that the FHIR server named (the FHIR base,
//! or a file URL of the manifest), never to another origin reached by a
//! redirect; `Location` URLs lose any user credentials. See the Bulk Data
//! spec's note on `requiresAccessToken`:
//! <https://hl7.org/fhir/uv/bulkdata/STU2/export.html#response---complete-status>.

use http::header::{HeaderValue, AUTHORIZATION};
use url::Url;

use crate::error::{Error, Result};

/// True when `a` and `b` share scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

/// The target of a redirect response, or `None` when `status` is not a
/// redirect. User credentials in the `Location` URL are removed.
pub fn redirect_target(current: &Url, status: u16, location: Option<&str>) -> Result<Option<Url>> {
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    let loc =
        location.ok_or_else(|| Error::Protocol(format!("{status} redirect without Location")))?;
    let mut next = current.join(loc.trim())?;
    // Credentials in a Location URL would become an Authorization header.
    let _ = next.set_username("");
    let _ = next.set_password(None);
    Ok(Some(next))
}

/// An `Authorization: Bearer` value marked sensitive, so `Debug` of the
/// request or its headers shows it masked.
pub fn bearer_value(token: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::try_from(format!("Bearer {token}"))
        .map_err(|_| Error::Token("the access token is not a valid header value".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

/// Adds the bearer token to a request built by this crate (sensitive
/// header: masked in `Debug`).
pub fn authorize<B>(req: &mut http::Request<B>, token: &str) -> Result<()> {
    req.headers_mut()
        .insert(AUTHORIZATION, bearer_value(token)?);
    Ok(())
}

/// Whether a download request to `current` may carry the bearer token:
/// only when the manifest requires it and `current` has the origin of the
/// file URL from the manifest (never across a redirect to another origin).
pub fn may_send_token(requires_access_token: bool, file_url: &Url, current: &Url) -> bool {
    requires_access_token && same_origin(file_url, current)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn redirect_and_token_rules() {
        let file: Url = "https://ehr.example/files/1.ndjson".parse().unwrap();
        let other = redirect_target(&file, 307, Some("https://cdn.example/1.ndjson?sig=x"))
            .unwrap()
            .unwrap();
        assert!(may_send_token(true, &file, &file));
        assert!(!may_send_token(true, &file, &other));
        assert!(!may_send_token(false, &file, &file));
        let same = redirect_target(&file, 302, Some("/files/2.ndjson"))
            .unwrap()
            .unwrap();
        assert!(may_send_token(true, &file, &same));
        assert!(redirect_target(&file, 200, None).unwrap().is_none());
        let cred = redirect_target(&file, 307, Some("https://u:p@cdn.example/x"))
            .unwrap()
            .unwrap();
        assert_eq!(cred.as_str(), "https://cdn.example/x");
        assert!(redirect_target(&file, 307, None).is_err());
    }

    #[test]
    fn authorization_is_masked_in_debug() {
        let mut req = http::Request::get("https://ehr.example/x")
            .body(())
            .unwrap();
        authorize(&mut req, "tok-secret").unwrap();
        assert_eq!(req.headers()[AUTHORIZATION], "Bearer tok-secret");
        assert!(req.headers()[AUTHORIZATION].is_sensitive());
        assert!(!format!("{req:?}").contains("tok-secret"));
        assert!(authorize(&mut req, "bad\ntoken").is_err());
    }
}
