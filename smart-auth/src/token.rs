//! Token requests (authorization_code, refresh_token, client_credentials) and typed token
//! responses with SMART launch context.

use crate::client_auth::ClientAuth;
use crate::error::{Error, OAuthError, OAuthErrorCode, Result};
use crate::scope::ScopeSet;
use crate::secret::Secret;
use crate::vendor::{Quirk, VendorProfile};
use crate::wire::{self, json_body, SecretBody};
use serde_json::{Map, Value};
use std::fmt;
use std::time::{Duration, SystemTime};

/// A registered client at one EHR: identity, authentication and vendor profile.
///
/// Every token request it builds goes to an `https` endpoint, or to plain `http` only on a
/// loopback host (`localhost`, `127.0.0.0/8`, `::1`) unless
/// [`allow_insecure_http(true)`](Client::allow_insecure_http) was set
/// ([`Error::InsecureEndpoint`]); the same rule holds for the authorization endpoint of a launch.
#[derive(Clone, Debug)]
pub struct Client {
    /// `client_id`.
    pub client_id: String,
    /// How to authenticate at the token endpoint.
    pub auth: ClientAuth,
    /// Vendor quirks.
    pub vendor: VendorProfile,
    allow_insecure_http: bool,
}

impl Client {
    /// A client with the standard (quirk-free) profile.
    pub fn new(client_id: impl Into<String>, auth: ClientAuth) -> Self {
        Client {
            client_id: client_id.into(),
            auth,
            vendor: VendorProfile::standard(),
            allow_insecure_http: false,
        }
    }

    /// Sets the vendor profile.
    pub fn vendor(mut self, vendor: VendorProfile) -> Self {
        self.vendor = vendor;
        self
    }

    /// Allows plain-`http` token and authorization endpoints on hosts that are not loopback
    /// (default `false`). Only for test rigs on a trusted network: codes, refresh tokens,
    /// client secrets and assertions would travel in clear text.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// True if [`allow_insecure_http`](Client::allow_insecure_http) was set.
    pub fn allows_insecure_http(&self) -> bool {
        self.allow_insecure_http
    }

    fn token_request(
        &self,
        token_endpoint: &url::Url,
        mut form: Vec<(&'static str, String)>,
    ) -> Result<http::Request<SecretBody>> {
        wire::check_endpoint(token_endpoint, "token_endpoint", self.allow_insecure_http)?;
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        self.auth.apply(
            &self.client_id,
            token_endpoint.as_str(),
            self.vendor.has(Quirk::RawBasicCredentials),
            &mut form,
            &mut headers,
        )?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        tracing::debug!(
            endpoint = %wire::origin(token_endpoint),
            auth = self.auth.method_name(),
            "token request"
        );
        let mut req = http::Request::post(wire::uri(token_endpoint, "token_endpoint")?)
            .body(SecretBody::from(body))
            .map_err(|source| Error::Request {
                what: "token",
                source,
            })?;
        *req.headers_mut() = headers;
        Ok(req)
    }

    /// `grant_type=authorization_code` with the PKCE verifier.
    pub fn authorization_code_request(
        &self,
        token_endpoint: &url::Url,
        code: &Secret,
        redirect_uri: &str,
        code_verifier: &Secret,
    ) -> Result<http::Request<SecretBody>> {
        self.token_request(
            token_endpoint,
            vec![
                ("grant_type", "authorization_code".into()),
                ("code", code.expose().to_owned()),
                ("redirect_uri", redirect_uri.to_owned()),
                ("code_verifier", code_verifier.expose().to_owned()),
            ],
        )
    }

    /// `grant_type=refresh_token`, optionally narrowing the scope.
    pub fn refresh_request(
        &self,
        token_endpoint: &url::Url,
        refresh_token: &Secret,
        scope: Option<&ScopeSet>,
    ) -> Result<http::Request<SecretBody>> {
        let mut form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.expose().to_owned()),
        ];
        if let Some(s) = scope {
            form.push(("scope", self.vendor.scopes_to_send(s).to_string()));
        }
        self.token_request(token_endpoint, form)
    }

    /// `grant_type=client_credentials` (Backend Services). SMART requires `private_key_jwt`;
    /// a client secret is accepted only with [`Quirk::SecretClientCredentials`].
    pub fn client_credentials_request(
        &self,
        token_endpoint: &url::Url,
        scope: &ScopeSet,
    ) -> Result<http::Request<SecretBody>> {
        match &self.auth {
            ClientAuth::PrivateKeyJwt(_) => {}
            ClientAuth::SecretBasic(_) | ClientAuth::SecretPost(_)
                if self.vendor.has(Quirk::SecretClientCredentials) => {}
            other => {
                return Err(Error::ClientCredentialsAuth {
                    method: other.method_name(),
                    vendor: self.vendor.name.clone(),
                })
            }
        }
        self.token_request(
            token_endpoint,
            vec![
                ("grant_type", "client_credentials".to_owned()),
                ("scope", self.vendor.scopes_to_send(scope).to_string()),
            ],
        )
    }

    /// Reads a token endpoint response, applying vendor quirks to errors. A 3xx is
    /// [`Error::Redirect`]: a token request is never re-sent to a redirect target.
    pub fn token_response<B: AsRef<[u8]>>(
        &self,
        resp: &http::Response<B>,
    ) -> Result<TokenResponse> {
        read_token_response(resp, &self.vendor)
    }
}

/// `token_type`, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenType {
    /// `Bearer` (any case).
    Bearer,
    /// `DPoP` (any case).
    DPoP,
    /// Anything else, as sent.
    Other(String),
}

impl TokenType {
    /// Parses case-insensitively.
    pub fn parse(s: &str) -> TokenType {
        if s.eq_ignore_ascii_case("bearer") {
            TokenType::Bearer
        } else if s.eq_ignore_ascii_case("dpop") {
            TokenType::DPoP
        } else {
            TokenType::Other(s.to_owned())
        }
    }

    /// Canonical spelling.
    pub fn as_str(&self) -> &str {
        match self {
            TokenType::Bearer => "Bearer",
            TokenType::DPoP => "DPoP",
            TokenType::Other(s) => s,
        }
    }
}

/// A successful token response. Access tokens are opaque: never decoded.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct TokenResponse {
    /// `access_token`.
    pub access_token: Secret,
    /// `token_type` as received; see [`TokenResponse::token_type`] for the typed form.
    pub token_type_raw: String,
    /// `expires_in` seconds (numeric strings accepted).
    pub expires_in: Option<u64>,
    /// `scope` as granted (raw string).
    pub scope: Option<String>,
    /// `refresh_token`.
    pub refresh_token: Option<Secret>,
    /// `id_token` (OpenID Connect).
    pub id_token: Option<Secret>,
    /// Launch context `patient`.
    pub patient: Option<String>,
    /// Launch context `encounter`.
    pub encounter: Option<String>,
    /// Launch context `fhirContext` (SMART 2: array of objects; kept as JSON).
    pub fhir_context: Option<Vec<Value>>,
    /// `need_patient_banner`.
    pub need_patient_banner: Option<bool>,
    /// `smart_style_url`.
    pub smart_style_url: Option<String>,
    /// `tenant`.
    pub tenant: Option<String>,
    /// `intent`.
    pub intent: Option<String>,
    /// Every other member, and known members of the wrong type, as received.
    pub extra: Map<String, Value>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let present = |b: bool| if b { "[redacted]" } else { "None" };
        f.debug_struct("TokenResponse")
            .field("access_token", &self.access_token)
            .field("token_type", &self.token_type_raw)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("refresh_token", &present(self.refresh_token.is_some()))
            .field("id_token", &present(self.id_token.is_some()))
            .field("patient", &present(self.patient.is_some()))
            .field("encounter", &present(self.encounter.is_some()))
            .field("fhir_context", &present(self.fhir_context.is_some()))
            .field("need_patient_banner", &self.need_patient_banner)
            .field("tenant", &self.tenant)
            .field("intent", &self.intent)
            .field("extra_fields", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn take_opt<T: serde::de::DeserializeOwned>(
    map: &mut Map<String, Value>,
    extra: &mut Map<String, Value>,
    name: &str,
) -> Option<T> {
    let v = map.remove(name)?;
    match serde_json::from_value::<T>(v.clone()) {
        Ok(t) => Some(t),
        Err(_) => {
            extra.insert(name.to_owned(), v);
            None
        }
    }
}

/// `expires_in` written as a string (`"3600"`, `" 3600 "`, `"3600.0"`) or a non-negative number
/// with a fraction (`3600.0`); a fraction is truncated. `None` for anything else.
fn lenient_seconds(v: &Value) -> Option<u64> {
    let whole = |f: f64| (f.is_finite() && f >= 0.0 && f < u64::MAX as f64).then_some(f as u64);
    match v {
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(whole))
        }
        Value::Number(n) => n.as_f64().and_then(whole),
        _ => None,
    }
}

impl TokenResponse {
    /// Parses a successful token response body.
    pub fn parse(body: &[u8]) -> Result<TokenResponse> {
        let v: Value = serde_json::from_slice(json_body(body))
            .map_err(|e| Error::json("token response", &e))?;
        let Value::Object(mut map) = v else {
            return Err(Error::NotAnObject {
                what: "token response",
            });
        };
        let access_token = match map.remove("access_token") {
            Some(Value::String(s)) if !s.is_empty() => Secret::new(s),
            _ => {
                return Err(Error::MissingTokenField {
                    field: "access_token",
                })
            }
        };
        let token_type_raw = match map.remove("token_type") {
            Some(Value::String(s)) => s,
            _ => {
                return Err(Error::MissingTokenField {
                    field: "token_type",
                })
            }
        };
        let mut extra = Map::new();
        let expires_in = match map.remove("expires_in") {
            None => None,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(v) => match lenient_seconds(&v) {
                // Tolerated (servers quote it, or send `3600.0`); kept in extra too so it
                // re-serializes as sent.
                Some(secs) => {
                    extra.insert("expires_in".into(), v);
                    Some(secs)
                }
                None => {
                    extra.insert("expires_in".into(), v);
                    None
                }
            },
        };
        // An empty string is no token (it must not replace a refresh token kept from earlier);
        // it is kept in `extra` so the response still re-serializes as sent.
        let secret = |v: Option<String>, name: &str, extra: &mut Map<String, Value>| match v {
            Some(s) if s.is_empty() => {
                extra.insert(name.to_owned(), Value::String(s));
                None
            }
            v => v.map(Secret::new),
        };
        let t = TokenResponse {
            access_token,
            token_type_raw,
            expires_in,
            scope: take_opt(&mut map, &mut extra, "scope"),
            refresh_token: {
                let v = take_opt(&mut map, &mut extra, "refresh_token");
                secret(v, "refresh_token", &mut extra)
            },
            id_token: {
                let v = take_opt(&mut map, &mut extra, "id_token");
                secret(v, "id_token", &mut extra)
            },
            patient: take_opt(&mut map, &mut extra, "patient"),
            encounter: take_opt(&mut map, &mut extra, "encounter"),
            fhir_context: take_opt(&mut map, &mut extra, "fhirContext"),
            need_patient_banner: take_opt(&mut map, &mut extra, "need_patient_banner"),
            smart_style_url: take_opt(&mut map, &mut extra, "smart_style_url"),
            tenant: take_opt(&mut map, &mut extra, "tenant"),
            intent: take_opt(&mut map, &mut extra, "intent"),
            extra: Map::new(),
        };
        extra.extend(map);
        Ok(TokenResponse { extra, ..t })
    }

    /// The typed token type (case-insensitive).
    pub fn token_type(&self) -> TokenType {
        TokenType::parse(&self.token_type_raw)
    }

    /// The granted scopes, if the server listed them and they parse.
    pub fn granted_scopes(&self) -> Option<Result<ScopeSet>> {
        self.scope.as_deref().map(ScopeSet::parse)
    }

    /// The granted scopes, falling back to `requested` when the server omitted `scope`
    /// (RFC 6749 §5.1: omitted means "as requested"). Granted scopes outside the SMART grammar
    /// are kept verbatim ([`ScopeSet::parse_lenient`]), so this does not fail today; the
    /// `Result` is kept for API stability.
    pub fn effective_scopes(&self, requested: &ScopeSet) -> Result<ScopeSet> {
        Ok(match self.scope.as_deref() {
            Some(s) => ScopeSet::parse_lenient(s),
            None => requested.clone(),
        })
    }

    /// When the token expires, per `expires_in` counted from `received_at`; `None` when
    /// `expires_in` is absent or too large for a [`SystemTime`] (no overflow panic).
    pub fn expires_at(&self, received_at: SystemTime) -> Option<SystemTime> {
        self.expires_in
            .and_then(|s| received_at.checked_add(Duration::from_secs(s)))
    }

    /// Serializes back to JSON with all secrets exposed (for persistence and round-trip tests).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("access_token".into(), self.access_token.expose().into());
        m.insert("token_type".into(), self.token_type_raw.clone().into());
        if let Some(e) = self.expires_in {
            m.insert("expires_in".into(), e.into());
        }
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        put("scope", self.scope.clone().map(Value::from));
        put(
            "refresh_token",
            self.refresh_token.as_ref().map(|s| s.expose().into()),
        );
        put(
            "id_token",
            self.id_token.as_ref().map(|s| s.expose().into()),
        );
        put("patient", self.patient.clone().map(Value::from));
        put("encounter", self.encounter.clone().map(Value::from));
        put("fhirContext", self.fhir_context.clone().map(Value::from));
        put(
            "need_patient_banner",
            self.need_patient_banner.map(Value::from),
        );
        put(
            "smart_style_url",
            self.smart_style_url.clone().map(Value::from),
        );
        put("tenant", self.tenant.clone().map(Value::from));
        put("intent", self.intent.clone().map(Value::from));
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }

    /// JSON with `access_token`, `refresh_token` and `id_token` replaced by `"[redacted]"`.
    pub fn to_redacted_json(&self) -> Value {
        let mut v = self.to_json();
        if let Value::Object(m) = &mut v {
            for k in ["access_token", "refresh_token", "id_token"] {
                if let Some(x) = m.get_mut(k) {
                    *x = Value::String("[redacted]".into());
                }
            }
        }
        v
    }
}

/// Parses an OAuth error body (`{"error": ...}`), if the body is one.
pub fn parse_oauth_error(body: &[u8]) -> Option<OAuthError> {
    let v: Value = serde_json::from_slice(json_body(body)).ok()?;
    let code = v.get("error")?.as_str()?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(OAuthError {
        code: OAuthErrorCode::from_code(code),
        description: s("error_description"),
        uri: s("error_uri"),
    })
}

/// Reads a token endpoint response: success, OAuth error, or bare status (with vendor quirks).
/// Any 3xx is [`Error::Redirect`] naming the origin of its `Location` (an absolute one; a
/// relative `Location` stays on the token endpoint's origin, which this function does not know).
pub fn read_token_response<B: AsRef<[u8]>>(
    resp: &http::Response<B>,
    vendor: &VendorProfile,
) -> Result<TokenResponse> {
    let status = resp.status().as_u16();
    let body = resp.body().as_ref();
    if resp.status().is_redirection() {
        let target = wire::location(None, resp);
        tracing::warn!(status, "token endpoint redirect not followed");
        return Err(Error::Redirect {
            what: "token endpoint",
            status,
            target: target.as_ref().map(wire::origin),
        });
    }
    if resp.status().is_success() {
        let mut t = match TokenResponse::parse(body) {
            Ok(t) => t,
            // Some servers answer 200 with an OAuth error body: report the error they sent.
            Err(e) => match parse_oauth_error(body) {
                Some(error) => {
                    tracing::warn!(status, error = %error.code, "token endpoint error in a success response");
                    return Err(Error::OAuth { status, error });
                }
                None => return Err(e),
            },
        };
        if t.expires_in.is_none() && vendor.has(Quirk::OpaqueAccessTokens) {
            t.expires_in = Some(vendor.default_lifetime.as_secs());
        }
        if let TokenType::Other(_) = t.token_type() {
            tracing::warn!("token_type is neither Bearer nor DPoP");
        }
        return Ok(t);
    }
    if let Some(error) = parse_oauth_error(body) {
        tracing::warn!(status, error = %error.code, "token endpoint error");
        return Err(Error::OAuth { status, error });
    }
    if status == 400 && vendor.has(Quirk::Bare400IsInvalidGrant) {
        tracing::warn!(vendor = %vendor.name, "bare HTTP 400 read as invalid_grant");
        return Err(Error::OAuth {
            status: 400,
            error: OAuthError {
                code: OAuthErrorCode::InvalidGrant,
                description: Some("bare HTTP 400 (vendor quirk Bare400IsInvalidGrant)".into()),
                uri: None,
            },
        });
    }
    Err(Error::HttpStatus { status })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_token_type_and_context() {
        let body = br#"{"access_token":"opaque-xyz","token_type":"bearer","expires_in":"3600",
            "scope":"launch/patient patient/*.rs","patient":"123","need_patient_banner":true,
            "fhirContext":[{"reference":"Appointment/9"}],"vendor_x":{"a":1},"tenant":"t1"}"#;
        let t = TokenResponse::parse(body).unwrap();
        assert_eq!(t.token_type(), TokenType::Bearer);
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.patient.as_deref(), Some("123"));
        assert_eq!(t.need_patient_banner, Some(true));
        assert_eq!(t.fhir_context.as_ref().unwrap().len(), 1);
        assert_eq!(t.extra["vendor_x"]["a"], 1);
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("opaque-xyz") && !dbg.contains("123"), "{dbg}");
        let back = TokenResponse::parse(t.to_json().to_string().as_bytes()).unwrap();
        assert_eq!(back, t);
        assert_eq!(t.to_redacted_json()["access_token"], "[redacted]");
    }

    fn resp(status: u16, body: &[u8]) -> http::Response<Vec<u8>> {
        http::Response::builder()
            .status(status)
            .body(body.to_vec())
            .unwrap()
    }

    #[test]
    fn redirect_is_an_error_naming_the_origin_only() {
        let r = http::Response::builder()
            .status(307)
            .header("Location", "https://evil.example:8443/collect?sig=SECRET")
            .body(Vec::new())
            .unwrap();
        let e = read_token_response(&r, &VendorProfile::standard()).unwrap_err();
        assert!(
            matches!(&e, Error::Redirect { status: 307, target: Some(t), .. } if t == "https://evil.example:8443"),
            "{e:?}"
        );
        assert!(!e.to_string().contains("SECRET") && !e.to_string().contains("collect"));
    }

    #[test]
    fn errors() {
        let v = VendorProfile::standard();
        let e = read_token_response(&resp(400, br#"{"error":"invalid_grant"}"#), &v);
        assert!(
            matches!(e, Err(Error::OAuth { status: 400, error }) if error.code == OAuthErrorCode::InvalidGrant)
        );
        let e = read_token_response(&resp(400, b""), &v);
        assert!(matches!(e, Err(Error::HttpStatus { status: 400 })));
        let e = read_token_response(&resp(400, b""), &VendorProfile::epic());
        assert!(
            matches!(e, Err(Error::OAuth { error, .. }) if error.code == OAuthErrorCode::InvalidGrant)
        );
        assert!(TokenResponse::parse(br#"{"token_type":"Bearer"}"#).is_err());
        assert!(TokenResponse::parse(br#"{"access_token":"a"}"#).is_err());
    }
}
