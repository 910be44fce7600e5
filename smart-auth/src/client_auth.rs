//! Client authentication at the token endpoint: `client_secret_basic`, `client_secret_post`,
//! and `private_key_jwt` (SMART asymmetric client authentication, RS384 / ES384).
//!
//! Signing and verification are done by the `jsonwebtoken` crate (RustCrypto backend); this
//! module only loads keys, builds the claims and enforces the SMART rules (`exp` at most five
//! minutes ahead, a fresh `jti` every time, `typ`, `kid`, optional `jku`).

use crate::error::{Error, Result};
use crate::pkce::random_b64url;
use crate::secret::Secret;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest client-assertion lifetime SMART Backend Services allows.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

/// The lifetime of an assertion unless set: four minutes. Servers check `exp` against their
/// own clock (Epic: "no more than 5 minutes in the future"), so an assertion of exactly five
/// minutes from a client whose clock runs a second ahead is refused as `invalid_client`; the
/// spare minute absorbs that skew.
pub const DEFAULT_ASSERTION_LIFETIME: Duration = Duration::from_secs(240);

/// The `client_assertion_type` for JWT bearer assertions (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Signature algorithms SMART requires servers to support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// ECDSA P-384 with SHA-384.
    ES384,
}

impl Algorithm {
    fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::RS384 => jsonwebtoken::Algorithm::RS384,
            Algorithm::ES384 => jsonwebtoken::Algorithm::ES384,
        }
    }

    /// `RS384` / `ES384`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS384 => "RS384",
            Algorithm::ES384 => "ES384",
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "RS384" => Ok(Algorithm::RS384),
            "ES384" => Ok(Algorithm::ES384),
            _ => Err(Error::UnsupportedAlgorithm { name: s.to_owned() }),
        }
    }
}

/// A private signing key with its `kid` and public JWK. `Debug` shows only `alg` and `kid`.
#[derive(Clone)]
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    key: EncodingKey,
    public: Value,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Selects the RustCrypto provider for `jsonwebtoken` once per process. jsonwebtoken panics when
/// both of its backends end up enabled by feature unification and no provider was installed; an
/// application that installed its own provider first keeps it.
fn ensure_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
        );
    });
}

fn key_err(reason: &'static str) -> Error {
    Error::Key {
        reason,
        field: None,
    }
}

impl SigningKey {
    /// Loads a private key from PEM: RSA as PKCS#1 or PKCS#8, EC P-384 as PKCS#8 or SEC1.
    /// With `kid = None` the RFC 7638 SHA-256 thumbprint is used.
    pub fn from_pem(pem: &[u8], alg: Algorithm, kid: Option<String>) -> Result<SigningKey> {
        let key = match alg {
            Algorithm::RS384 => {
                let k = EncodingKey::from_rsa_pem(pem)
                    .map_err(|_| key_err("not an RSA private key PEM"))?;
                check_rsa(k.as_bytes())?;
                k
            }
            Algorithm::ES384 => {
                let text = std::str::from_utf8(pem).map_err(|_| key_err("PEM is not UTF-8"))?;
                let der = if text.contains("BEGIN EC PRIVATE KEY") {
                    use p384::pkcs8::EncodePrivateKey as _;
                    let sk = p384::SecretKey::from_sec1_pem(text)
                        .map_err(|_| key_err("not a P-384 SEC1 key"))?;
                    sk.to_pkcs8_der()
                        .map_err(|_| key_err("P-384 key encoding"))?
                        .as_bytes()
                        .to_vec()
                } else {
                    let k = EncodingKey::from_ec_pem(pem)
                        .map_err(|_| key_err("not an EC private key PEM"))?;
                    k.as_bytes().to_vec()
                };
                check_p384(&der)?;
                EncodingKey::from_ec_der(&der)
            }
        };
        Self::finish(alg, key, kid)
    }

    /// Loads a private key from a JWK (`kty` RSA with `n e d p q`, or EC P-384 with `x y d`).
    /// `alg` defaults from `kty`, `kid` from the JWK or else its thumbprint.
    pub fn from_jwk(json: &str) -> Result<SigningKey> {
        let v: Value = serde_json::from_str(json).map_err(|e| Error::json("JWK", &e))?;
        let field = |n: &'static str| -> Result<Vec<u8>> {
            let s = v.get(n).and_then(Value::as_str).ok_or(Error::Key {
                reason: "JWK member missing",
                field: Some(n),
            })?;
            URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .map_err(|_| Error::Key {
                    reason: "JWK member is not base64url",
                    field: Some(n),
                })
        };
        let kid = v.get("kid").and_then(Value::as_str).map(str::to_owned);
        match v.get("kty").and_then(Value::as_str) {
            Some("RSA") => {
                use rsa::pkcs1::EncodeRsaPrivateKey as _;
                use rsa::BigUint;
                let b = |n: &'static str| field(n).map(|x| BigUint::from_bytes_be(&x));
                let key = rsa::RsaPrivateKey::from_components(
                    b("n")?,
                    b("e")?,
                    b("d")?,
                    vec![b("p")?, b("q")?],
                )
                .map_err(|_| key_err("inconsistent RSA JWK"))?;
                key.validate().map_err(|_| key_err("invalid RSA JWK"))?;
                let der = key
                    .to_pkcs1_der()
                    .map_err(|_| key_err("RSA key encoding"))?;
                check_rsa(der.as_bytes())?;
                Self::finish(
                    Algorithm::RS384,
                    EncodingKey::from_rsa_der(der.as_bytes()),
                    kid,
                )
            }
            Some("EC") => {
                use p384::elliptic_curve::sec1::ToEncodedPoint as _;
                use p384::pkcs8::EncodePrivateKey as _;
                if v.get("crv").and_then(Value::as_str) != Some("P-384") {
                    return Err(key_err("EC JWK must use crv P-384"));
                }
                let sk = p384::SecretKey::from_slice(&field("d")?)
                    .map_err(|_| key_err("invalid P-384 private scalar"))?;
                let point = sk.public_key().to_encoded_point(false);
                if point.x().map(|x| x.to_vec()) != Some(field("x")?)
                    || point.y().map(|y| y.to_vec()) != Some(field("y")?)
                {
                    return Err(key_err("EC JWK x/y do not match d"));
                }
                let der = sk
                    .to_pkcs8_der()
                    .map_err(|_| key_err("P-384 key encoding"))?;
                Self::finish(
                    Algorithm::ES384,
                    EncodingKey::from_ec_der(der.as_bytes()),
                    kid,
                )
            }
            _ => Err(key_err("JWK kty must be RSA or EC")),
        }
    }

    fn finish(alg: Algorithm, key: EncodingKey, kid: Option<String>) -> Result<SigningKey> {
        ensure_crypto_provider();
        let mut jwk = Jwk::from_encoding_key(&key, alg.jwt())
            .map_err(|_| key_err("cannot derive the public key"))?;
        let kid = match kid {
            Some(k) => k,
            None => jwk
                .thumbprint(ThumbprintHash::SHA256)
                .map_err(|_| key_err("cannot compute thumbprint"))?,
        };
        jwk.common.key_id = Some(kid.clone());
        let mut public = serde_json::to_value(&jwk).map_err(|e| Error::json("JWK", &e))?;
        if let Value::Object(m) = &mut public {
            m.insert("use".into(), Value::String("sig".into()));
            m.insert("key_ops".into(), serde_json::json!(["verify"]));
        }
        Ok(SigningKey {
            alg,
            kid,
            key,
            public,
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id put in the JWT header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (no private members).
    pub fn public_jwk(&self) -> &Value {
        &self.public
    }

    fn sign<T: Serialize>(&self, claims: &T, jku: Option<&str>) -> Result<Secret> {
        ensure_crypto_provider();
        let mut header = Header::new(self.alg.jwt());
        header.typ = Some("JWT".into());
        header.kid = Some(self.kid.clone());
        header.jku = jku.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.key)
            .map(Secret::new)
            .map_err(Error::Signing)
    }
}

fn check_rsa(pkcs1_der: &[u8]) -> Result<()> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    let k = rsa::RsaPrivateKey::from_pkcs1_der(pkcs1_der).map_err(|_| key_err("bad RSA key"))?;
    if k.size() * 8 < 2048 {
        return Err(key_err("RSA keys must have at least 2048 bits"));
    }
    Ok(())
}

fn check_p384(pkcs8_der: &[u8]) -> Result<()> {
    use p384::pkcs8::DecodePrivateKey as _;
    p384::SecretKey::from_pkcs8_der(pkcs8_der)
        .map(|_| ())
        .map_err(|_| key_err("ES384 needs a P-384 key"))
}

/// A JWKS document (`{"keys": [...]}`) of the public halves of `keys`, for registration with an
/// EHR or for serving at a `jku` URL.
pub fn jwks<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Value {
    Value::Object(
        [(
            "keys".to_owned(),
            Value::Array(keys.into_iter().map(|k| k.public.clone()).collect()),
        )]
        .into_iter()
        .collect(),
    )
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
    jti: String,
}

/// `private_key_jwt` client authentication: signs a fresh assertion for every token request.
#[derive(Clone, Debug)]
pub struct PrivateKeyJwt {
    key: Arc<SigningKey>,
    lifetime: Duration,
    jku: Option<String>,
}

impl PrivateKeyJwt {
    /// Uses `key`; assertions live [`DEFAULT_ASSERTION_LIFETIME`] unless
    /// [`lifetime`](Self::lifetime) says otherwise.
    pub fn new(key: SigningKey) -> Self {
        PrivateKeyJwt {
            key: Arc::new(key),
            lifetime: DEFAULT_ASSERTION_LIFETIME,
            jku: None,
        }
    }

    /// Sets the assertion lifetime. Refused (at build time) beyond five minutes or when zero
    /// ([`Error::AssertionLifetime`]).
    pub fn lifetime(mut self, lifetime: Duration) -> Result<Self> {
        if lifetime > MAX_ASSERTION_LIFETIME || lifetime.is_zero() {
            return Err(Error::AssertionLifetime {
                seconds: lifetime.as_secs(),
            });
        }
        self.lifetime = lifetime;
        Ok(self)
    }

    /// Adds a `jku` header (the URL where the server can fetch the JWKS). Must be https.
    pub fn jku(mut self, jku: &str) -> Result<Self> {
        let u = url::Url::parse(jku).map_err(|e| Error::Url {
            what: "jku",
            reason: e.to_string(),
        })?;
        if u.scheme() != "https" {
            return Err(Error::Url {
                what: "jku",
                reason: "must be https".into(),
            });
        }
        self.jku = Some(jku.to_owned());
        Ok(self)
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Signs an assertion for `client_id` at `token_endpoint`, issued now.
    pub fn assertion(&self, client_id: &str, token_endpoint: &str) -> Result<Secret> {
        self.assertion_at(client_id, token_endpoint, SystemTime::now())
    }

    /// Signs an assertion issued at `now` (for tests and clock injection).
    pub fn assertion_at(
        &self,
        client_id: &str,
        token_endpoint: &str,
        now: SystemTime,
    ) -> Result<Secret> {
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| Error::Clock)?
            .as_secs();
        let claims = AssertionClaims {
            iss: client_id,
            sub: client_id,
            aud: token_endpoint,
            exp: iat + self.lifetime.as_secs(),
            iat,
            jti: random_b64url(24),
        };
        self.key.sign(&claims, self.jku.as_deref())
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientAuth {
    /// Public client: only `client_id` in the body.
    None,
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    SecretBasic(Secret),
    /// `client_secret_post`: id and secret in the body.
    SecretPost(Secret),
    /// `private_key_jwt`: a signed assertion in the body.
    PrivateKeyJwt(PrivateKeyJwt),
}

impl ClientAuth {
    /// The `token_endpoint_auth_methods_supported` name.
    pub fn method_name(&self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::SecretBasic(_) => "client_secret_basic",
            ClientAuth::SecretPost(_) => "client_secret_post",
            ClientAuth::PrivateKeyJwt(_) => "private_key_jwt",
        }
    }

    /// Adds authentication to a token request form and headers. The `Authorization` header is
    /// marked sensitive, so `Debug` of the request masks it. With `raw_basic`
    /// ([`Quirk::RawBasicCredentials`](crate::Quirk::RawBasicCredentials)) HTTP Basic
    /// credentials are not form-urlencoded, unless the client ID holds a `:`.
    pub(crate) fn apply(
        &self,
        client_id: &str,
        token_endpoint: &str,
        raw_basic: bool,
        form: &mut Vec<(&'static str, String)>,
        headers: &mut http::HeaderMap,
    ) -> Result<()> {
        match self {
            ClientAuth::None => form.push(("client_id", client_id.to_owned())),
            ClientAuth::SecretBasic(secret) => {
                let raw_basic = raw_basic && !client_id.contains(':');
                let enc = |s: &str| {
                    if raw_basic {
                        s.to_owned()
                    } else {
                        url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                    }
                };
                let raw = format!("{}:{}", enc(client_id), enc(secret.expose()));
                // Base64 output is always a valid header value.
                let mut v = http::HeaderValue::try_from(format!("Basic {}", STANDARD.encode(raw)))
                    .map_err(|e| Error::Request {
                        what: "token",
                        source: e.into(),
                    })?;
                v.set_sensitive(true);
                headers.insert(http::header::AUTHORIZATION, v);
            }
            ClientAuth::SecretPost(secret) => {
                form.push(("client_id", client_id.to_owned()));
                form.push(("client_secret", secret.expose().to_owned()));
            }
            ClientAuth::PrivateKeyJwt(p) => {
                let a = p.assertion(client_id, token_endpoint)?;
                form.push(("client_assertion_type", JWT_BEARER.to_owned()));
                form.push(("client_assertion", a.expose().to_owned()));
            }
        }
        Ok(())
    }
}
