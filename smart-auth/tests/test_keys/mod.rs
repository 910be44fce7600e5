//! The testkit's test keys (`ehrkit_testkit::keys`) made into smart-auth `SigningKey`s, in
//! every supported format (PKCS#8/PKCS#1/SEC1 PEM, JWK), for the test binaries.
#![allow(dead_code)]

use ehrkit_smart_auth::{Algorithm, SigningKey};
use ehrkit_testkit::keys::{self, Format};

/// The bytes of a key file by name (`ec384-pkcs8.pem`, ...).
pub fn read(name: &str) -> Vec<u8> {
    keys::by_file(name)
        .unwrap_or_else(|| panic!("no test key {name}"))
        .pem()
        .to_vec()
}

/// Every private key form, loaded: (file, key). PKCS#1 and SEC1 get an explicit `kid`, the
/// others the JWK's `kid` or the RFC 7638 thumbprint.
pub fn all_keys() -> Vec<(&'static str, SigningKey)> {
    keys::private_keys()
        .map(|k| {
            let alg = match k.alg {
                "RS384" => Algorithm::RS384,
                _ => Algorithm::ES384,
            };
            let key = match k.format {
                Format::PrivateJwk => SigningKey::from_jwk(k.text),
                Format::Pkcs1Pem => SigningKey::from_pem(k.pem(), alg, Some("rsa-pkcs1".into())),
                Format::Sec1Pem => SigningKey::from_pem(k.pem(), alg, Some("ec-sec1".into())),
                _ => SigningKey::from_pem(k.pem(), alg, None),
            }
            .unwrap_or_else(|e| panic!("{}: {e}", k.file));
            (k.file, key)
        })
        .collect()
}
