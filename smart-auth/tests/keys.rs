//! Key loading (PEM and JWK), JWKS output and client-assertion rules. No network.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ehrkit_smart_auth::{jwks, Algorithm, Error, PrivateKeyJwt, SigningKey};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod test_keys;
use test_keys::{all_keys, read};

fn decode_part(jwt: &str, i: usize) -> Value {
    let p = jwt.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

#[test]
fn keys_from_pem_and_jwk_agree_and_jwks_has_no_private_parts() {
    let keys = all_keys();
    let pub_of = |name: &str| {
        let mut v = keys
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1
            .public_jwk()
            .clone();
        v.as_object_mut().unwrap().remove("kid");
        v
    };
    let (rsa_jwk, ec_jwk) = ("rsa-private.jwk.json", "ec384-private.jwk.json");
    assert_eq!(pub_of("rsa-pkcs8.pem"), pub_of(rsa_jwk));
    assert_eq!(pub_of("rsa-pkcs1.pem"), pub_of(rsa_jwk));
    assert_eq!(pub_of("ec384-pkcs8.pem"), pub_of(ec_jwk));
    assert_eq!(pub_of("ec384-sec1.pem"), pub_of(ec_jwk));
    let set = jwks(keys.iter().map(|(_, k)| k));
    let arr = set["keys"].as_array().unwrap();
    assert_eq!(arr.len(), 6);
    for k in arr {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none(), "{private} leaked");
        }
        assert!(k["kid"].is_string());
    }
    assert_eq!(arr[3]["crv"], "P-384");
    assert_eq!(arr[0]["alg"], "RS384");
    // Debug shows alg and kid only.
    let dbg = format!("{:?}", keys[0].1);
    assert!(dbg.contains("RS384") && !dbg.contains("MII"));
    // Wrong algorithm for the key, and a P-256 key for ES384, are refused.
    assert!(SigningKey::from_pem(&read("ec384-pkcs8.pem"), Algorithm::RS384, None).is_err());
    assert!(SigningKey::from_pem(&read("rsa-pkcs8.pem"), Algorithm::ES384, None).is_err());
}

#[test]
fn assertion_claims_lifetime_and_fresh_jti() {
    let key = SigningKey::from_pem(
        &read("ec384-pkcs8.pem"),
        Algorithm::ES384,
        Some("k1".into()),
    )
    .unwrap();
    // Beyond five minutes: refused when the authenticator is built, before any request.
    let too_long = PrivateKeyJwt::new(key.clone()).lifetime(Duration::from_secs(301));
    assert!(matches!(
        too_long,
        Err(Error::AssertionLifetime { seconds: 301 })
    ));
    assert!(PrivateKeyJwt::new(key.clone())
        .lifetime(Duration::ZERO)
        .is_err());
    assert!(PrivateKeyJwt::new(key.clone())
        .jku("http://insecure.example/jwks")
        .is_err());

    let pkj = PrivateKeyJwt::new(key)
        .lifetime(Duration::from_secs(120))
        .unwrap()
        .jku("https://app.example/jwks.json")
        .unwrap();
    let now = SystemTime::now();
    let a = pkj
        .assertion_at("client-1", "https://ehr.example/token", now)
        .unwrap();
    let b = pkj
        .assertion_at("client-1", "https://ehr.example/token", now)
        .unwrap();
    let (h, c) = (decode_part(a.expose(), 0), decode_part(a.expose(), 1));
    assert_eq!(h["alg"], "ES384");
    assert_eq!(h["typ"], "JWT");
    assert_eq!(h["kid"], "k1");
    assert_eq!(h["jku"], "https://app.example/jwks.json");
    assert_eq!(c["iss"], "client-1");
    assert_eq!(c["sub"], "client-1");
    assert_eq!(c["aud"], "https://ehr.example/token");
    let iat = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(c["exp"].as_u64().unwrap(), iat + 120);
    assert_ne!(
        c["jti"],
        decode_part(b.expose(), 1)["jti"],
        "jti must be fresh"
    );
    assert_eq!(format!("{a:?}"), "[redacted]");
}
