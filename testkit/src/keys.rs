//! The test keys, one table: an RSA 2048 key (RS384) and an EC P-384 key (ES384), each in every
//! form the crates read (PKCS#8, PKCS#1 or SEC1 PEM, private JWK) with its public forms (SPKI
//! PEM, public JWK), plus a second P-384 key that no mock registers. Test-only, generated for
//! this repository (see `testkit/keys/README.md`); never use them for anything real.
//!
//! The texts are compiled in ([`TestKey::text`]); the files are also on disk
//! ([`TestKey::path`]) for programs that take a `--key` file.
//!
//! ```
//! use ehrkit_testkit::keys;
//! assert!(keys::EC384_PKCS8.pem().starts_with(b"-----BEGIN PRIVATE KEY-----"));
//! assert_eq!(keys::by_file("rsa-pkcs1.pem").unwrap().alg, "RS384");
//! let jwks = keys::public_jwks(); // {"keys":[RSA, EC]}, for a mock's registration
//! assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
//! ```

use std::path::PathBuf;

/// The key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kty {
    /// RSA 2048.
    Rsa,
    /// EC on P-384.
    Ec,
}

/// How a key is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8).
    Pkcs8Pem,
    /// `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1).
    Pkcs1Pem,
    /// `-----BEGIN EC PRIVATE KEY-----` (SEC1).
    Sec1Pem,
    /// A private JWK (JSON object with `d`), with `kid` and `alg`.
    PrivateJwk,
    /// `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo).
    PublicPem,
    /// A public JWK (no private members), with `kid` and `alg`.
    PublicJwk,
}

/// One test key in one form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestKey {
    /// The file name under `testkit/keys/`.
    pub file: &'static str,
    /// Key type.
    pub kty: Kty,
    /// Encoding.
    pub format: Format,
    /// The JWS algorithm the key is for: `"RS384"` or `"ES384"`.
    pub alg: &'static str,
    /// The `kid` of the key's JWK forms (`"rsa-test-1"`, `"ec-test-1"`); the unregistered key
    /// has `"ec-unregistered"` (it has no JWK: choose any kid when signing with it).
    pub kid: &'static str,
    /// Whether this is the public half.
    pub public: bool,
    /// Whether mocks register it ([`public_jwks`]); `false` only for [`EC384_UNREGISTERED`].
    pub registered: bool,
    /// The file's text.
    pub text: &'static str,
}

impl TestKey {
    /// The text as bytes (what `from_pem`-style constructors take).
    pub fn pem(&self) -> &'static [u8] {
        self.text.as_bytes()
    }

    /// The path of the key file on disk (`testkit/keys/<file>`).
    pub fn path(&self) -> PathBuf {
        keys_dir().join(self.file)
    }

    /// The JWK forms parsed as JSON (`None` for PEM forms).
    pub fn jwk(&self) -> Option<serde_json::Value> {
        matches!(self.format, Format::PrivateJwk | Format::PublicJwk)
            .then(|| serde_json::from_str(self.text).expect("test JWKs are valid JSON"))
    }
}

macro_rules! key {
    ($name:ident, $file:literal, $kty:ident, $format:ident, $alg:literal, $kid:literal,
     public: $public:literal, registered: $reg:literal, $doc:literal) => {
        #[doc = $doc]
        pub const $name: TestKey = TestKey {
            file: $file,
            kty: Kty::$kty,
            format: Format::$format,
            alg: $alg,
            kid: $kid,
            public: $public,
            registered: $reg,
            text: include_str!(concat!("../keys/", $file)),
        };
    };
}

key!(RSA_PKCS8, "rsa-pkcs8.pem", Rsa, Pkcs8Pem, "RS384", "rsa-test-1",
     public: false, registered: true, "The RSA key, PKCS#8 PEM.");
key!(RSA_PKCS1, "rsa-pkcs1.pem", Rsa, Pkcs1Pem, "RS384", "rsa-test-1",
     public: false, registered: true, "The RSA key, PKCS#1 PEM.");
key!(RSA_JWK, "rsa-private.jwk.json", Rsa, PrivateJwk, "RS384", "rsa-test-1",
     public: false, registered: true, "The RSA key, private JWK (`kid` `rsa-test-1`).");
key!(RSA_PUBLIC, "rsa-public.pem", Rsa, PublicPem, "RS384", "rsa-test-1",
     public: true, registered: true, "The RSA key's public half, SPKI PEM.");
key!(RSA_PUBLIC_JWK, "rsa-public.jwk.json", Rsa, PublicJwk, "RS384", "rsa-test-1",
     public: true, registered: true, "The RSA key's public half, JWK.");
key!(EC384_PKCS8, "ec384-pkcs8.pem", Ec, Pkcs8Pem, "ES384", "ec-test-1",
     public: false, registered: true, "The P-384 key, PKCS#8 PEM.");
key!(EC384_SEC1, "ec384-sec1.pem", Ec, Sec1Pem, "ES384", "ec-test-1",
     public: false, registered: true, "The P-384 key, SEC1 PEM.");
key!(EC384_JWK, "ec384-private.jwk.json", Ec, PrivateJwk, "ES384", "ec-test-1",
     public: false, registered: true, "The P-384 key, private JWK (`kid` `ec-test-1`).");
key!(EC384_PUBLIC, "ec384-public.pem", Ec, PublicPem, "ES384", "ec-test-1",
     public: true, registered: true, "The P-384 key's public half, SPKI PEM.");
key!(EC384_PUBLIC_JWK, "ec384-public.jwk.json", Ec, PublicJwk, "ES384", "ec-test-1",
     public: true, registered: true, "The P-384 key's public half, JWK.");
key!(EC384_UNREGISTERED, "ec384-unregistered.pem", Ec, Pkcs8Pem, "ES384", "ec-unregistered",
     public: false, registered: false,
     "A second P-384 key (PKCS#8 PEM) that no mock registers: its signatures must be refused.");

/// Every key form, private forms first (RSA, then EC), then public forms, then the
/// unregistered key.
pub const ALL: &[TestKey] = &[
    RSA_PKCS8,
    RSA_PKCS1,
    RSA_JWK,
    EC384_PKCS8,
    EC384_SEC1,
    EC384_JWK,
    RSA_PUBLIC,
    RSA_PUBLIC_JWK,
    EC384_PUBLIC,
    EC384_PUBLIC_JWK,
    EC384_UNREGISTERED,
];

/// The registered private forms (every format a signer must read): RSA PKCS#8, PKCS#1, JWK,
/// EC PKCS#8, SEC1, JWK.
pub fn private_keys() -> impl Iterator<Item = &'static TestKey> {
    ALL.iter().filter(|k| !k.public && k.registered)
}

/// The key with this file name (`"ec384-sec1.pem"`).
pub fn by_file(file: &str) -> Option<&'static TestKey> {
    ALL.iter().find(|k| k.file == file)
}

/// The public half (SPKI PEM) of a registered key: what a mock verifies its signatures with.
pub fn public_pem(kty: Kty) -> &'static TestKey {
    match kty {
        Kty::Rsa => &RSA_PUBLIC,
        Kty::Ec => &EC384_PUBLIC,
    }
}

/// The JWK Set of the registered keys' public halves, `{"keys": [RSA, EC]}` (kids
/// `rsa-test-1`, `ec-test-1`), as a client registers it with an authorization server.
pub fn public_jwks() -> serde_json::Value {
    let keys: Vec<serde_json::Value> = [RSA_PUBLIC_JWK, EC384_PUBLIC_JWK]
        .iter()
        .filter_map(TestKey::jwk)
        .collect();
    serde_json::json!({ "keys": keys })
}

/// The folder holding the key files.
pub fn keys_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/keys"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_labelled_by_its_text() {
        for k in ALL {
            let first = k.text.lines().next().unwrap_or("");
            let expected = match k.format {
                Format::Pkcs8Pem => "-----BEGIN PRIVATE KEY-----",
                Format::Pkcs1Pem => "-----BEGIN RSA PRIVATE KEY-----",
                Format::Sec1Pem => "-----BEGIN EC PRIVATE KEY-----",
                Format::PublicPem => "-----BEGIN PUBLIC KEY-----",
                Format::PrivateJwk | Format::PublicJwk => "{",
            };
            assert_eq!(first, expected, "{}", k.file);
            assert_eq!(
                std::fs::read_to_string(k.path()).unwrap(),
                k.text,
                "{}",
                k.file
            );
            assert_eq!(k.alg, if k.kty == Kty::Rsa { "RS384" } else { "ES384" });
        }
    }

    #[test]
    fn jwks_agree_with_the_table_and_public_ones_hold_no_private_member() {
        for k in ALL.iter().filter(|k| k.jwk().is_some()) {
            let j = k.jwk().unwrap();
            assert_eq!(j["kid"], k.kid, "{}", k.file);
            assert_eq!(j["alg"], k.alg);
            assert_eq!(j["kty"], if k.kty == Kty::Rsa { "RSA" } else { "EC" });
            assert_eq!(j.get("d").is_some(), !k.public, "{}", k.file);
        }
        // The public JWK is the private one without its private members.
        for (private, public) in [(RSA_JWK, RSA_PUBLIC_JWK), (EC384_JWK, EC384_PUBLIC_JWK)] {
            let (p, q) = (private.jwk().unwrap(), public.jwk().unwrap());
            for (name, value) in q.as_object().unwrap() {
                assert_eq!(&p[name], value, "{name}");
            }
        }
        let set = public_jwks();
        let kids: Vec<&str> = set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["rsa-test-1", "ec-test-1"]);
    }

    #[test]
    fn lookups() {
        assert_eq!(private_keys().count(), 6);
        assert!(private_keys().all(|k| !k.public && k.registered));
        assert_eq!(by_file("ec384-sec1.pem"), Some(&EC384_SEC1));
        assert_eq!(by_file("nope.pem"), None);
        assert_eq!(public_pem(Kty::Ec).file, "ec384-public.pem");
        let unregistered: Vec<_> = ALL.iter().filter(|k| !k.registered).collect();
        assert_eq!(unregistered, [&EC384_UNREGISTERED]);
        assert_ne!(EC384_UNREGISTERED.text, EC384_PKCS8.text);
        assert!(RSA_PKCS8.jwk().is_none());
    }
}
