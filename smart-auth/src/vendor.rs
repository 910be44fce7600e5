//! Vendor differences as named, documented quirks collected in a [`VendorProfile`].
//!
//! A profile is a plain value: start from [`VendorProfile::standard`] or a named vendor profile,
//! then add or remove quirks. Nothing in the crate matches on vendor names.

use std::collections::BTreeSet;
use std::time::Duration;

/// One documented deviation from SMART App Launch 2 / Backend Services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Quirk {
    /// The token endpoint may answer a bad refresh token or code with a bare HTTP 400 (no OAuth
    /// JSON body). With this quirk such a 400 is read as `invalid_grant`, so the token store
    /// evicts the grant and asks for re-authorization instead of reporting a transport-like error.
    /// Seen with Epic.
    Bare400IsInvalidGrant,
    /// Access tokens are opaque strings, not JWTs, and `expires_in` is the only expiry
    /// information. The crate never decodes access tokens anyway; with this quirk a missing
    /// `expires_in` is replaced by [`VendorProfile::default_lifetime`] instead of "unknown"
    /// (unknown lifetimes are renewed only after a 401). Epic documents opaque access tokens.
    OpaqueAccessTokens,
    /// Apps registered for SMART v2 scopes get v1 resource scopes (`.read`/`.write`) silently
    /// dropped from the grant. With this quirk requested scopes are rewritten to v2 before they are
    /// sent. Seen with Oracle Health (Millennium) apps registered as SMART v2.
    V2ScopesOnly,
    /// Apps registered for SMART v1 (e.g. Oracle Health `smart-v1` profile URLs) must not send
    /// v2 letters; with this quirk v2 scopes are rewritten to the narrowest covering v1 scope.
    V1ScopesOnly,
    /// `client_credentials` authenticated with a client secret (HTTP Basic) instead of the signed
    /// assertion SMART Backend Services requires. Without this quirk a `client_credentials`
    /// request with a secret is refused. athenahealth documents secret-based 2-legged OAuth
    /// (with vendor scopes such as `athena/service/Athenanet.MDP.*`, kept verbatim).
    SecretClientCredentials,
    /// HTTP Basic client credentials (`client_secret_basic`) are compared as sent: the client ID
    /// and secret go into `id:secret` unencoded, not form-urlencoded first as RFC 6749 §2.3.1
    /// asks (a secret with `+`, `/` or `=`, as base64-style secrets have, is refused with
    /// `invalid_client` otherwise). A client ID containing `:` cannot be sent raw (RFC 7617)
    /// and stays encoded. Reported for Epic (community.fhir.org, "Invalid_client error from
    /// Epic": "the client ID and client secret should NOT be URL-encoded").
    RawBasicCredentials,
}

/// A set of quirks plus tunables, for one EHR vendor or deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorProfile {
    /// Name for logs.
    pub name: String,
    /// Enabled quirks.
    pub quirks: BTreeSet<Quirk>,
    /// Lifetime assumed when `expires_in` is missing and [`Quirk::OpaqueAccessTokens`] is set.
    pub default_lifetime: Duration,
}

impl Default for VendorProfile {
    fn default() -> Self {
        Self::standard()
    }
}

impl VendorProfile {
    /// Spec behaviour, no quirks.
    pub fn standard() -> Self {
        VendorProfile {
            name: "standard".into(),
            quirks: BTreeSet::new(),
            default_lifetime: Duration::from_secs(300),
        }
    }

    /// Epic: opaque access tokens, bare 400s from the token endpoint, HTTP Basic credentials
    /// sent unencoded.
    pub fn epic() -> Self {
        Self::standard()
            .named("epic")
            .with(Quirk::OpaqueAccessTokens)
            .with(Quirk::Bare400IsInvalidGrant)
            .with(Quirk::RawBasicCredentials)
    }

    /// Oracle Health (Cerner Millennium), app registered for SMART v2 scopes.
    pub fn oracle_health_v2() -> Self {
        Self::standard()
            .named("oracle-health-v2")
            .with(Quirk::V2ScopesOnly)
    }

    /// Oracle Health (Cerner Millennium), app registered for SMART v1 scopes.
    pub fn oracle_health_v1() -> Self {
        Self::standard()
            .named("oracle-health-v1")
            .with(Quirk::V1ScopesOnly)
    }

    /// athenahealth 2-legged OAuth: client secret allowed for `client_credentials`.
    pub fn athenahealth() -> Self {
        Self::standard()
            .named("athenahealth")
            .with(Quirk::SecretClientCredentials)
    }

    /// Renames the profile.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// Adds a quirk.
    pub fn with(mut self, q: Quirk) -> Self {
        self.quirks.insert(q);
        self
    }

    /// Removes a quirk.
    pub fn without(mut self, q: Quirk) -> Self {
        self.quirks.remove(&q);
        self
    }

    /// True if the quirk is enabled.
    pub fn has(&self, q: Quirk) -> bool {
        self.quirks.contains(&q)
    }

    /// The scopes to send for `requested`, after scope-version quirks.
    pub fn scopes_to_send(&self, requested: &crate::scope::ScopeSet) -> crate::scope::ScopeSet {
        if self.has(Quirk::V2ScopesOnly) {
            requested.to_v2()
        } else if self.has(Quirk::V1ScopesOnly) {
            requested.to_v1()
        } else {
            requested.clone()
        }
    }
}
