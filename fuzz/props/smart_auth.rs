//! Fuzz properties of `ehrkit-smart-auth`, through its public API only. Shared by the fuzz
//! targets `smart_scope` / `smart_json` and by `smart-auth/tests/fuzz_seeds.rs` (path includes).
//!
//! Each function must never panic on any input except when the property it checks is broken.
#![allow(dead_code)]

use ehrkit_smart_auth::{
    http, parse_oauth_error, read_token_response, Discovery, DiscoveryStep, Error, Scope, ScopeSet,
    SmartConfiguration, TokenResponse, VendorProfile,
};

/// Scope parser: parse → format → parse gives the same set, and v1/v2 mappings keep coverage.
pub fn check_scope(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lenient = ScopeSet::parse_lenient(text);
    match ScopeSet::parse(text) {
        Ok(set) => {
            assert_eq!(
                lenient, set,
                "lenient parse agrees with the strict one on valid input"
            );
            let formatted = set.to_string();
            let again = ScopeSet::parse(&formatted).expect("formatted scopes must parse");
            assert_eq!(again, set, "scope round-trip");
            for s in set.iter() {
                assert!(s.to_v2().covers(s) && s.covers(&s.to_v2()), "v2 mapping");
                if let Scope::Resource(r) = s {
                    assert!(r.to_v1().0.covers(r), "v1 mapping must cover");
                }
            }
            assert!(set.difference(&set).all_granted());
        }
        Err(Error::Scope { offset, .. }) => assert!(offset <= text.len()),
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

/// Discovery and token JSON: parse → serialize → parse is stable; nothing panics.
pub fn check_json(data: &[u8]) {
    if let Ok((c, _)) = SmartConfiguration::parse(data) {
        let bytes = c.to_json().to_string().into_bytes();
        let (c2, _) = SmartConfiguration::parse(&bytes).expect("re-serialized config parses");
        assert_eq!(c2, c, "smart-configuration round-trip");
    }
    if let Ok(t) = TokenResponse::parse(data) {
        let bytes = t.to_json().to_string().into_bytes();
        let t2 = TokenResponse::parse(&bytes).expect("re-serialized token response parses");
        assert_eq!(t2, t, "token response round-trip");
        let _ = t.granted_scopes();
        // Any `expires_in` a server sends must not make the expiry arithmetic panic.
        let _ = t.expires_at(std::time::SystemTime::now());
    }
    let _ = SmartConfiguration::from_capability_statement(data);
    let _ = parse_oauth_error(data);
    if let Ok(mut d) = Discovery::new("https://fuzz.example/fhir") {
        let resp = http::Response::new(data);
        let _ = d.on_response(&resp);
        let _ = d.on_response(&resp);
    }
    check_redirect(data);
}

/// The input as a redirect `Location`: discovery follows it only within the FHIR base's
/// origin, a token response is always `Error::Redirect`, and no error text carries the
/// Location's path or query.
pub fn check_redirect(data: &[u8]) {
    let Ok(location) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    for status in [301u16, 302, 307, 308] {
        let resp = http::Response::builder()
            .status(status)
            .header(http::header::LOCATION, location.clone())
            .body(Vec::new())
            .expect("valid response");
        let base = "https://fuzz.example/fhir";
        let mut d = Discovery::new(base).expect("valid base");
        match d.on_response(&resp) {
            Ok(DiscoveryStep::Send(req)) => {
                let uri = req.uri().to_string();
                assert!(
                    uri.starts_with("https://fuzz.example/"),
                    "discovery followed a redirect off the base's origin: {uri}"
                );
            }
            Ok(DiscoveryStep::Done(_)) => panic!("a redirect finished discovery"),
            Err(e) => {
                assert!(
                    matches!(e, Error::Redirect { .. } | Error::Url { .. }),
                    "{e:?}"
                );
                assert_no_location_detail(&e);
            }
        }
        match read_token_response(&resp, &VendorProfile::standard()) {
            Err(e @ Error::Redirect { .. }) => assert_no_location_detail(&e),
            other => panic!("a token endpoint redirect was not an error: {other:?}"),
        }
    }
}

/// No error carries the Location's path or query. Checked on the error's fields rather than by
/// looking for the query in the message (a search that the origin, which the message may name,
/// can itself satisfy): a redirect names at most the origin of the resolved Location, and a URL
/// error's reason is fixed text or a scheme, neither of which can hold a `/` or `?`.
fn assert_no_location_detail(e: &Error) {
    match e {
        // An opaque origin (a scheme without a host, e.g. `mailto:`) serializes as "null".
        Error::Redirect {
            target: Some(t), ..
        } if t == "null" => {}
        Error::Redirect {
            target: Some(t), ..
        } => {
            let parsed = url::Url::parse(t)
                .unwrap_or_else(|err| panic!("redirect target {t:?} is not a URL: {err}"));
            assert_eq!(
                parsed.origin().ascii_serialization(),
                *t,
                "redirect target is more than an origin: {e}"
            );
            assert!(
                !t.contains('?') && !t.contains('#'),
                "redirect target carries a query or fragment: {e}"
            );
        }
        Error::Redirect { target: None, .. } => {}
        Error::Url { reason, .. } => assert!(
            !reason.contains('/') && !reason.contains('?'),
            "URL error reason carries a path or query: {e}"
        ),
        other => panic!("unexpected error for a redirect: {other:?}"),
    }
}
