//! PKCE (RFC 7636) with S256 only, and random `state` values.

use crate::secret::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// `n` random bytes from the OS-seeded CSPRNG, base64url without padding.
pub(crate) fn random_b64url(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(&buf)
}

/// A PKCE code verifier. Only S256 exists in this crate: `plain` cannot be expressed.
#[derive(Clone, Debug)]
pub struct PkceVerifier(Secret);

impl PkceVerifier {
    /// A fresh verifier: 32 random bytes, 43 base64url characters (RFC 7636 §4.1).
    pub fn generate() -> Self {
        PkceVerifier(Secret::new(random_b64url(32)))
    }

    /// Rebuilds a verifier from its stored value (e.g. kept in a session between redirects).
    /// Returns `None` unless it is 43–128 unreserved characters (RFC 7636 §4.1).
    pub fn from_stored(value: &str) -> Option<Self> {
        let ok = (43..=128).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        ok.then(|| PkceVerifier(Secret::new(value)))
    }

    /// The verifier sent to the token endpoint.
    pub fn secret(&self) -> &Secret {
        &self.0
    }

    /// `BASE64URL(SHA256(verifier))`, the `code_challenge` for method `S256`.
    pub fn challenge(&self) -> String {
        s256_challenge(self.0.expose())
    }
}

/// The S256 challenge of a verifier string.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A random OAuth `state`, compared in constant time.
#[derive(Clone, Debug)]
pub struct State(Secret);

impl State {
    /// 32 random bytes, base64url.
    pub fn generate() -> Self {
        State(Secret::new(random_b64url(32)))
    }

    /// Rebuilds a state from its stored value.
    pub fn from_stored(value: &str) -> Self {
        State(Secret::new(value))
    }

    /// The value to put in the authorize URL.
    pub fn secret(&self) -> &Secret {
        &self.0
    }

    /// Constant-time comparison with the value received on the callback.
    pub fn matches(&self, received: &str) -> bool {
        let a = self.0.expose().as_bytes();
        let b = received.as_bytes();
        // Length is not secret (always 43 for generated states); contents are compared in constant time.
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn fresh_values_differ() {
        let a = PkceVerifier::generate();
        let b = PkceVerifier::generate();
        assert_eq!(a.secret().len(), 43);
        assert_ne!(a.secret().expose(), b.secret().expose());
        let s = State::generate();
        assert!(s.matches(s.secret().expose()));
        assert!(!s.matches(State::generate().secret().expose()));
        assert!(!s.matches(""));
        assert!(PkceVerifier::from_stored("short").is_none());
        assert_eq!(format!("{a:?}"), "PkceVerifier([redacted])");
    }
}
