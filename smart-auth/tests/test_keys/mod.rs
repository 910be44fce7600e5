//! Test keys shared by the test binaries: every supported format (PKCS#8/PKCS#1/SEC1 PEM, JWK)
//! of the RS384 and ES384 keys under tests/data/keys.
#![allow(dead_code)]

use ehrkit_smart_auth::client_auth::{Algorithm, SigningKey};

pub fn key_path(name: &str) -> String {
    format!("{}/tests/data/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn read(name: &str) -> Vec<u8> {
    std::fs::read(key_path(name)).unwrap()
}

pub fn all_keys() -> Vec<(&'static str, SigningKey)> {
    let s = |n: &str| String::from_utf8(read(n)).unwrap();
    vec![
        (
            "rsa-pkcs8.pem",
            SigningKey::from_pem(&read("rsa-pkcs8.pem"), Algorithm::RS384, None).unwrap(),
        ),
        (
            "rsa-pkcs1.pem",
            SigningKey::from_pem(
                &read("rsa-pkcs1.pem"),
                Algorithm::RS384,
                Some("rsa-pkcs1".into()),
            )
            .unwrap(),
        ),
        (
            "rsa jwk",
            SigningKey::from_jwk(&s("rsa-private.jwk.json")).unwrap(),
        ),
        (
            "ec-pkcs8.pem",
            SigningKey::from_pem(&read("ec384-pkcs8.pem"), Algorithm::ES384, None).unwrap(),
        ),
        (
            "ec-sec1.pem",
            SigningKey::from_pem(
                &read("ec384-sec1.pem"),
                Algorithm::ES384,
                Some("ec-sec1".into()),
            )
            .unwrap(),
        ),
        (
            "ec jwk",
            SigningKey::from_jwk(&s("ec384-private.jwk.json")).unwrap(),
        ),
    ]
}
