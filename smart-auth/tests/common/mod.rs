//! A mock SMART authorization server + FHIR metadata endpoint on 127.0.0.1:0.
//!
//! The HTTP layer is `ehrkit_testkit::http::MockServer`; this file keeps the OAuth logic. It
//! implements
//! discovery, `authorize` with PKCE S256 verification, and the token endpoint
//! (authorization_code, refresh_token with rotation, client_credentials with the JWT assertion
//! verified here with RustCrypto directly from the registered public JWK, independently of the
//! `jsonwebtoken` code the client uses), plus configurable misbehaviours.
#![allow(dead_code, missing_docs)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ehrkit_testkit::http::{MockServer, Request, Response};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscoveryMode {
    /// Full, valid smart-configuration.
    Full,
    /// Only `token_endpoint` and `authorization_endpoint` (REQUIRED fields missing).
    MissingFields,
    /// `.well-known` is 404; endpoints only in the CapabilityStatement.
    CapabilityOnly,
}

#[derive(Clone, Debug)]
pub struct Behaviour {
    pub discovery: DiscoveryMode,
    /// Send `token_type: "bearer"`.
    pub lowercase_token_type: bool,
    /// Token-endpoint errors are bare 400s with an empty body (Epic-like).
    pub bare_400: bool,
    /// Delay before every token response.
    pub token_delay: Duration,
    /// Drop v1 resource scopes from grants (Oracle Health app registered for v2).
    pub drop_v1_scopes: bool,
    /// `expires_in` of issued tokens (None: omitted).
    pub expires_in: Option<u64>,
    /// Send RFC 9207 `iss` on the redirect and advertise it.
    pub rfc9207: bool,
    /// Accept client_credentials authenticated by a client secret (athenahealth 2-legged OAuth).
    pub secret_client_credentials: bool,
    /// Answer every token request with this status and an empty body.
    pub token_status: Option<u16>,
    /// Issue a refresh token with client_credentials too (Keycloak before RH-SSO 7.4.4,
    /// Apigee), against RFC 6749 §4.4.3.
    pub client_credentials_refresh: bool,
    /// Refuse every refresh_token grant with invalid_grant (an expired refresh token).
    pub refuse_refresh: bool,
    /// Answers for the next token requests, one each, before any other behaviour: a status
    /// with an empty body and an optional `Retry-After` value.
    pub token_busy: Vec<(u16, Option<String>)>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            discovery: DiscoveryMode::Full,
            lowercase_token_type: false,
            bare_400: false,
            token_delay: Duration::ZERO,
            drop_v1_scopes: false,
            expires_in: Some(3600),
            rfc9207: true,
            secret_client_credentials: false,
            token_status: None,
            client_credentials_refresh: false,
            refuse_refresh: false,
            token_busy: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Registration {
    pub secret: Option<String>,
    /// Public JWKS for private_key_jwt.
    pub jwks: Option<Value>,
    pub redirect_uri: Option<String>,
}

struct CodeGrant {
    client_id: String,
    challenge: String,
    redirect_uri: String,
    scope: String,
    used: bool,
}

#[derive(Default)]
struct State {
    codes: HashMap<String, CodeGrant>,
    refresh: HashMap<String, (String, String)>, // refresh token -> (client_id, scope)
    retired_refresh: HashSet<String>,
    jtis: HashSet<String>,
    access: HashSet<String>,
    counter: u64,
}

pub struct Mock {
    /// The loopback server; it stops when the `Mock` is dropped.
    pub server: MockServer,
    pub base: String,
    pub behaviour: Mutex<Behaviour>,
    pub clients: Mutex<HashMap<String, Registration>>,
    state: Mutex<State>,
    pub token_requests: AtomicUsize,
    pub grants_by_type: Mutex<HashMap<String, usize>>,
    pub last_token_form: Mutex<Vec<(String, String)>>,
    pub last_assertion_error: Mutex<Option<String>>,
}

impl Mock {
    pub fn fhir_base(&self) -> String {
        format!("{}/fhir", self.base)
    }
    pub fn issuer(&self) -> String {
        format!("{}/auth", self.base)
    }
    pub fn token_endpoint(&self) -> String {
        format!("{}/auth/token", self.base)
    }
    pub fn register(&self, client_id: &str, reg: Registration) {
        self.clients.lock().unwrap().insert(client_id.into(), reg);
    }
    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.behaviour.lock().unwrap());
    }
    pub fn token_count(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }
    pub fn grant_count(&self, grant: &str) -> usize {
        *self.grants_by_type.lock().unwrap().get(grant).unwrap_or(&0)
    }
    pub fn is_valid_access_token(&self, t: &str) -> bool {
        self.state.lock().unwrap().access.contains(t)
    }
}

/// Starts the mock on 127.0.0.1:0 (its own thread; it stops when the returned `Mock` drops).
pub async fn start(behaviour: Behaviour) -> Arc<Mock> {
    let server = MockServer::start();
    let mock = Arc::new(Mock {
        base: server.base().to_owned(),
        server,
        behaviour: Mutex::new(behaviour),
        clients: Mutex::new(HashMap::new()),
        state: Mutex::new(State::default()),
        token_requests: AtomicUsize::new(0),
        grants_by_type: Mutex::new(HashMap::new()),
        last_token_form: Mutex::new(Vec::new()),
        last_assertion_error: Mutex::new(None),
    });
    // A weak reference: the server (owned by the mock) must not keep the mock alive.
    let weak = Arc::downgrade(&mock);
    mock.server.on("*", "/*", move |req| match weak.upgrade() {
        Some(m) => m.handle(req),
        None => Response::new(503),
    });
    mock
}

fn json_resp(status: u16, v: &Value) -> Response {
    Response::new(status).json(v)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Mock {
    fn handle(&self, req: &Request) -> Response {
        let b = self.behaviour.lock().unwrap().clone();
        match (req.method.as_str(), req.path()) {
            ("GET", "/fhir/.well-known/smart-configuration") => self.discovery(&b),
            ("GET", "/fhir/metadata") => self.capability(),
            ("GET", "/auth/authorize") => self.authorize(&b, req),
            ("POST", "/auth/token") => {
                self.token_requests.fetch_add(1, Ordering::SeqCst);
                let busy = {
                    let mut shared = self.behaviour.lock().unwrap();
                    (!shared.token_busy.is_empty()).then(|| shared.token_busy.remove(0))
                };
                let resp = match (busy, b.token_status) {
                    (Some((status, Some(wait))), _) => {
                        Response::new(status).header("retry-after", &wait)
                    }
                    (Some((status, None)), _) | (None, Some(status)) => Response::new(status),
                    (None, None) => self.token(&b, req),
                };
                resp.delay(b.token_delay)
            }
            ("GET", "/fhir/Patient") => {
                let auth = req.header("authorization").unwrap_or_default();
                let ok = auth
                    .strip_prefix("Bearer ")
                    .is_some_and(|t| self.is_valid_access_token(t));
                if ok {
                    json_resp(200, &json!({"resourceType":"Bundle","type":"searchset"}))
                } else {
                    Response::new(401)
                }
            }
            _ => Response::not_found(),
        }
    }

    fn discovery(&self, b: &Behaviour) -> Response {
        match b.discovery {
            DiscoveryMode::CapabilityOnly => Response::not_found(),
            DiscoveryMode::MissingFields => json_resp(
                200,
                &json!({
                    "authorization_endpoint": format!("{}/auth/authorize", self.base),
                    "token_endpoint": self.token_endpoint(),
                    "x-vendor-note": "partial"
                }),
            ),
            DiscoveryMode::Full => json_resp(
                200,
                &json!({
                    "issuer": self.issuer(),
                    "jwks_uri": format!("{}/auth/jwks", self.base),
                    "authorization_endpoint": format!("{}/auth/authorize", self.base),
                    "token_endpoint": self.token_endpoint(),
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
                    "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
                    "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
                    "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient", "offline_access", "patient/*.rs", "system/*.rs"],
                    "response_types_supported": ["code"],
                    "capabilities": ["launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
                                     "client-confidential-asymmetric", "sso-openid-connect", "context-standalone-patient",
                                     "permission-v1", "permission-v2", "permission-offline"],
                    "code_challenge_methods_supported": ["S256"],
                    "authorization_response_iss_parameter_supported": b.rfc9207
                }),
            ),
        }
    }

    fn capability(&self) -> Response {
        json_resp(
            200,
            &json!({
                "resourceType": "CapabilityStatement",
                "status": "active",
                "rest": [{
                    "mode": "server",
                    "security": {
                        "extension": [{
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [
                                {"url": "authorize", "valueUri": format!("{}/auth/authorize", self.base)},
                                {"url": "token", "valueUri": self.token_endpoint()}
                            ]
                        }]
                    }
                }]
            }),
        )
    }

    fn authorize(&self, b: &Behaviour, req: &Request) -> Response {
        let q = &req.query_map();
        let get = |k: &str| q.get(k).cloned().unwrap_or_default();
        let redirect = get("redirect_uri");
        let bad = |msg: &str| {
            json_resp(
                400,
                &json!({"error":"invalid_request","error_description":msg}),
            )
        };
        if get("response_type") != "code" {
            return bad("response_type");
        }
        let Some(reg) = self.clients.lock().unwrap().get(&get("client_id")).cloned() else {
            return bad("unknown client");
        };
        if reg.redirect_uri.as_deref() != Some(redirect.as_str()) {
            return bad("redirect_uri");
        }
        if get("code_challenge_method") != "S256" || get("code_challenge").len() != 43 {
            return bad("PKCE S256 required");
        }
        if get("aud").trim_end_matches('/') != self.fhir_base() {
            return bad("aud");
        }
        let mut scope: Vec<String> = get("scope").split(' ').map(str::to_owned).collect();
        if b.drop_v1_scopes {
            scope.retain(|s| {
                !(s.contains('/')
                    && (s.ends_with(".read") || s.ends_with(".write") || s.ends_with(".*")))
            });
        }
        let mut st = self.state.lock().unwrap();
        st.counter += 1;
        let code = format!(
            "code-{}-{}",
            st.counter,
            URL_SAFE_NO_PAD.encode(rand_bytes())
        );
        st.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: get("client_id"),
                challenge: get("code_challenge"),
                redirect_uri: redirect.clone(),
                scope: scope.join(" "),
                used: false,
            },
        );
        let mut loc = url::Url::parse(&redirect).unwrap();
        {
            let mut qp = loc.query_pairs_mut();
            qp.append_pair("code", &code)
                .append_pair("state", &get("state"));
            if b.rfc9207 {
                qp.append_pair("iss", &self.issuer());
            }
        }
        Response::redirect(302, loc.as_str())
    }

    fn oauth_error(&self, b: &Behaviour, status: u16, code: &str) -> Response {
        if b.bare_400 {
            Response::new(400)
        } else {
            json_resp(status, &json!({"error": code}))
        }
    }

    fn client_authenticated(
        &self,
        req: &Request,
        form: &HashMap<String, String>,
    ) -> Result<String, String> {
        if let Some(auth) = req.header("authorization") {
            let raw = STANDARD
                .decode(auth.strip_prefix("Basic ").ok_or("scheme")?)
                .map_err(|_| "b64")?;
            let raw = String::from_utf8(raw).map_err(|_| "utf8")?;
            let (id, secret) = raw.split_once(':').ok_or("colon")?;
            let dec = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .unwrap()
                    .1
                    .into_owned()
            };
            let (id, secret) = (dec(id), dec(secret));
            let reg = self
                .clients
                .lock()
                .unwrap()
                .get(&id)
                .cloned()
                .ok_or("unknown client")?;
            return (reg.secret.as_deref() == Some(secret.as_str()))
                .then_some(id)
                .ok_or_else(|| "bad secret".into());
        }
        if form.get("client_assertion_type").map(String::as_str)
            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return self.verify_assertion(form.get("client_assertion").ok_or("no assertion")?);
        }
        let id = form.get("client_id").ok_or("no client_id")?;
        let reg = self
            .clients
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or("unknown client")?;
        match (&reg.secret, form.get("client_secret")) {
            (Some(s), Some(got)) if s == got => Ok(id.clone()),
            (None, None) => Ok(id.clone()), // public client
            _ => Err("bad client secret".into()),
        }
    }

    /// Verifies a client assertion with RustCrypto directly, from the registered JWKS.
    fn verify_assertion(&self, jwt: &str) -> Result<String, String> {
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return Err("not a JWS".into());
        }
        let dec = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| "b64".to_string());
        let header: Value = serde_json::from_slice(&dec(parts[0])?).map_err(|_| "header json")?;
        let claims: Value = serde_json::from_slice(&dec(parts[1])?).map_err(|_| "claims json")?;
        let sig = dec(parts[2])?;
        let signed = format!("{}.{}", parts[0], parts[1]);
        if header["typ"] != "JWT" {
            return Err("typ".into());
        }
        let iss = claims["iss"].as_str().ok_or("iss")?.to_owned();
        if claims["sub"].as_str() != Some(&iss) {
            return Err("sub != iss".into());
        }
        if claims["aud"].as_str() != Some(self.token_endpoint().as_str()) {
            return Err("aud".into());
        }
        let exp = claims["exp"].as_u64().ok_or("exp")?;
        if exp > now() + 300 {
            return Err("exp more than 5 minutes ahead".into());
        }
        if exp < now() {
            return Err("expired".into());
        }
        let jti = claims["jti"].as_str().ok_or("jti")?.to_owned();
        let reg = self
            .clients
            .lock()
            .unwrap()
            .get(&iss)
            .cloned()
            .ok_or("unknown client")?;
        let jwks = reg.jwks.ok_or("no jwks registered")?;
        let kid = header["kid"].as_str().ok_or("kid")?;
        let jwk = jwks["keys"]
            .as_array()
            .and_then(|ks| ks.iter().find(|k| k["kid"] == kid))
            .ok_or("kid not registered")?;
        let b = |k: &str| dec(jwk[k].as_str().unwrap_or(""));
        match (header["alg"].as_str(), jwk["kty"].as_str()) {
            (Some("ES384"), Some("EC")) => {
                use p384::ecdsa::signature::Verifier as _;
                let mut sec1 = vec![4u8];
                sec1.extend(b("x")?);
                sec1.extend(b("y")?);
                let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| "ec key")?;
                let s = p384::ecdsa::Signature::from_slice(&sig).map_err(|_| "ec sig")?;
                vk.verify(signed.as_bytes(), &s)
                    .map_err(|_| "bad ES384 signature")?;
            }
            (Some("RS384"), Some("RSA")) => {
                use rsa::signature::Verifier as _;
                let pk = rsa::RsaPublicKey::new(
                    rsa::BigUint::from_bytes_be(&b("n")?),
                    rsa::BigUint::from_bytes_be(&b("e")?),
                )
                .map_err(|_| "rsa key")?;
                let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha384>::new(pk);
                let s =
                    rsa::pkcs1v15::Signature::try_from(sig.as_slice()).map_err(|_| "rsa sig")?;
                vk.verify(signed.as_bytes(), &s)
                    .map_err(|_| "bad RS384 signature")?;
            }
            _ => return Err("alg/kty".into()),
        }
        if !self.state.lock().unwrap().jtis.insert(jti) {
            return Err("jti replayed".into());
        }
        Ok(iss)
    }

    fn issue(
        &self,
        b: &Behaviour,
        client_id: &str,
        scope: &str,
        with_refresh: bool,
        extra: Value,
    ) -> Response {
        let mut st = self.state.lock().unwrap();
        st.counter += 1;
        let access = format!("at-{}-{}", st.counter, URL_SAFE_NO_PAD.encode(rand_bytes()));
        st.access.insert(access.clone());
        let mut body = json!({
            "access_token": access,
            "token_type": if b.lowercase_token_type { "bearer" } else { "Bearer" },
            "scope": scope,
        });
        if let Some(e) = b.expires_in {
            body["expires_in"] = json!(e);
        }
        if with_refresh {
            let rt = format!("rt-{}-{}", st.counter, URL_SAFE_NO_PAD.encode(rand_bytes()));
            st.refresh
                .insert(rt.clone(), (client_id.to_owned(), scope.to_owned()));
            body["refresh_token"] = json!(rt);
        }
        if let (Value::Object(m), Value::Object(x)) = (&mut body, extra) {
            m.extend(x);
        }
        json_resp(200, &body)
    }

    fn token(&self, b: &Behaviour, req: &Request) -> Response {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        *self.last_token_form.lock().unwrap() = form.clone().into_iter().collect();
        let grant = form.get("grant_type").cloned().unwrap_or_default();
        *self
            .grants_by_type
            .lock()
            .unwrap()
            .entry(grant.clone())
            .or_default() += 1;
        let client_id = match self.client_authenticated(req, &form) {
            Ok(id) => id,
            Err(e) => {
                *self.last_assertion_error.lock().unwrap() = Some(e);
                return self.oauth_error(b, 401, "invalid_client");
            }
        };
        match grant.as_str() {
            "authorization_code" => {
                let code = form.get("code").cloned().unwrap_or_default();
                let (scope, ok) = {
                    let mut st = self.state.lock().unwrap();
                    match st.codes.get_mut(&code) {
                        Some(g) if !g.used && g.client_id == client_id => {
                            g.used = true;
                            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                            let challenge =
                                URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                            let ok = challenge == g.challenge
                                && form.get("redirect_uri") == Some(&g.redirect_uri);
                            (g.scope.clone(), ok)
                        }
                        _ => (String::new(), false),
                    }
                };
                if !ok {
                    return self.oauth_error(b, 400, "invalid_grant");
                }
                let ctx = json!({"patient": "pat-123", "need_patient_banner": true,
                                 "fhirContext": [{"reference": "Encounter/enc-9"}], "tenant": "t-1"});
                self.issue(
                    b,
                    &client_id,
                    &scope,
                    scope.split(' ').any(|s| s == "offline_access"),
                    ctx,
                )
            }
            "refresh_token" if b.refuse_refresh => self.oauth_error(b, 400, "invalid_grant"),
            "refresh_token" => {
                let rt = form.get("refresh_token").cloned().unwrap_or_default();
                let found = {
                    let mut st = self.state.lock().unwrap();
                    match st.refresh.remove(&rt) {
                        Some((cid, scope)) if cid == client_id => {
                            st.retired_refresh.insert(rt);
                            Some(scope)
                        }
                        _ => None,
                    }
                };
                match found {
                    Some(scope) => self.issue(b, &client_id, &scope, true, json!({})), // rotation
                    None => self.oauth_error(b, 400, "invalid_grant"),
                }
            }
            "client_credentials" => {
                if !form.contains_key("client_assertion") && !b.secret_client_credentials {
                    return self.oauth_error(b, 401, "invalid_client");
                }
                let scope = form.get("scope").cloned().unwrap_or_default();
                self.issue(
                    b,
                    &client_id,
                    &scope,
                    b.client_credentials_refresh,
                    json!({}),
                )
            }
            _ => self.oauth_error(b, 400, "unsupported_grant_type"),
        }
    }
}

fn rand_bytes() -> [u8; 12] {
    use rand::RngCore as _;
    let mut b = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// Follows the mock's authorize redirect without a browser; returns the callback URL.
pub async fn follow_authorize(url: &url::Url) -> Result<String, (u16, String)> {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c.get(url.clone()).send().await.unwrap();
    let status = r.status().as_u16();
    if status != 302 {
        return Err((status, r.text().await.unwrap_or_default()));
    }
    Ok(r.headers()["location"].to_str().unwrap().to_owned())
}

pub fn key_path(name: &str) -> std::path::PathBuf {
    ehrkit_testkit::keys::by_file(name)
        .unwrap_or_else(|| panic!("no test key {name}"))
        .path()
}
