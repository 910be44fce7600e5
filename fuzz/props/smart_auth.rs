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
                assert_no_location_detail(&e.to_string(), data);
            }
        }
        match read_token_response(&resp, &VendorProfile::standard()) {
            Err(e @ Error::Redirect { .. }) => assert_no_location_detail(&e.to_string(), data),
            other => panic!("a token endpoint redirect was not an error: {other:?}"),
        }
    }
}

/// An error message may name the Location's origin, never what follows it.
fn assert_no_location_detail(msg: &str, location: &[u8]) {
    let Ok(text) = std::str::from_utf8(location) else {
        return;
    };
    if let Some((before, query)) = text.split_once('?') {
        if query.len() < 8 {
            return;
        }
        // The message may name the Location up to its origin, and that part can itself hold
        // the query's text (`https://a==..?https://a`, `https://a====?====`): take out the
        // longest start of the Location that the message names, look for the query in the rest.
        let named = longest_named_prefix(msg.as_bytes(), before.as_bytes());
        let rest = msg
            .as_bytes()
            .windows(named.len().max(1))
            .position(|w| !named.is_empty() && w == named)
            .map_or(msg.as_bytes().to_vec(), |at| {
                [&msg.as_bytes()[..at], &msg.as_bytes()[at + named.len()..]].concat()
            });
        let query = query.as_bytes();
        assert!(
            !rest.windows(query.len()).any(|w| w == query),
            "Location query in the error: {msg}"
        );
    }
}

/// The longest start of `location` that occurs in `msg` (whether a start occurs is monotone
/// in its length, so a binary search finds it).
fn longest_named_prefix<'a>(msg: &[u8], location: &'a [u8]) -> &'a [u8] {
    let occurs = |n: usize| n == 0 || msg.windows(n).any(|w| w == &location[..n]);
    let (mut lo, mut hi) = (0, location.len().min(msg.len()));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if occurs(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    &location[..lo]
}
