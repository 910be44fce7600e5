//! A FHIR server as a sink: the changes of one applied message go out as one `transaction`
//! Bundle (FHIR R4 `http.html#transaction`, <https://hl7.org/fhir/R4/http.html#transaction>)
//! through `ehrkit-fhir-client`, every entry a conditional or plain update, so delivering the
//! same changes twice has the effect of delivering them once.
//!
//! | the stored resource | entry `request` | body |
//! |---|---|---|
//! | has an `identifier` with `system` and `value` | `PUT Type?identifier=system\|value` (conditional update: creates on no match, updates the one match) | without `id` (the server keeps its own) |
//! | no such identifier | `PUT Type/id` with the store's deterministic id (update as create) | as stored |
//!
//! Each entry's `fullUrl` is `<base>/<Type>/<our id>`, so references between resources of the
//! same Bundle are resolved by the server (R4 transaction processing rules). A message with
//! more changes than [`FhirServerSink::max_entries`] is sent as several Bundles in order.
//! The transaction is idempotent, so it is retried per the client's vendor profile (throttling,
//! 502/503/504, transport errors); whatever still fails is a [`SinkError`] for the runtime,
//! which retries per its policy and then keeps a dead letter of stage
//! [`DELIVER_STAGE`](super::DELIVER_STAGE) (reprocessing it delivers again).
//!
//! Limits: a reference from a resource written by identifier to one delivered in an *earlier*
//! Bundle names our id, which the server may not know (it assigned its own); servers that
//! check referential integrity refuse such a Bundle (a dead letter, not a loss).

use async_trait::async_trait;
use ehrkit_fhir_client::{request, response, FhirClient};
use serde_json::{json, Value};

use super::{Change, Sink, SinkError};

/// Writes changes to a FHIR server as transaction Bundles of conditional updates.
#[derive(Debug, Clone)]
pub struct FhirServerSink {
    client: FhirClient,
    name: String,
    max_entries: usize,
}

impl FhirServerSink {
    /// A sink writing through `client` (its vendor profile decides retries and throttling),
    /// named `fhir-server` in metrics, logs and dead letters.
    pub fn new(client: FhirClient) -> Self {
        Self {
            client,
            name: "fhir-server".into(),
            max_entries: 100,
        }
    }

    /// Sets the sink's name (metrics label, dead-letter location); use one per server.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the most entries per transaction Bundle (default 100, at least 1).
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n.max(1);
        self
    }

    /// The transaction Bundle for `changes` (one entry per change, in order). Public so the
    /// requests can be inspected; [`Sink::deliver`] posts it.
    pub fn bundle(&self, changes: &[Change]) -> Result<Value, SinkError> {
        let base = self.client.base().url().as_str().trim_end_matches('/');
        let mut entries = Vec::with_capacity(changes.len());
        for c in changes {
            entries.push(entry(base, c).map_err(|reason| SinkError {
                sink: self.name.clone(),
                reason,
            })?);
        }
        Ok(json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}))
    }

    async fn post(&self, bundle: &Value) -> Result<(), SinkError> {
        let fail = |reason: String| SinkError {
            sink: self.name.clone(),
            reason,
        };
        let body =
            serde_json::to_vec(bundle).map_err(|_| fail("bundle not serializable".into()))?;
        let mut req = request::transaction(self.client.base(), body)
            .map_err(|e| fail(format!("request: {e}")))?;
        // Every entry is an update (conditional or by id): sending it twice is sending it once,
        // so the client may retry it per its policy.
        req.idempotent = true;
        let resp = self
            .client
            .send(req)
            .await
            .map_err(|e| fail(format!("transaction failed: {e}")))?;
        let reply = response::bundle(&resp).map_err(|e| fail(format!("response: {e}")))?;
        // A transaction is all or nothing; still, check what each entry says.
        for (i, e) in reply.entry.iter().enumerate() {
            let status = e
                .response
                .as_ref()
                .and_then(|r| r.status.as_ref())
                .and_then(|s| s.value.as_deref())
                .unwrap_or("");
            let code = status.split_whitespace().next().unwrap_or("");
            if !code.starts_with('2') {
                return Err(fail(format!(
                    "transaction entry {i} answered {}",
                    code.chars().take(3).collect::<String>()
                )));
            }
        }
        Ok(())
    }
}

/// The first `identifier` with a `system` and a `value`, as a search token `system|value`.
fn identifier_token(v: &Value) -> Option<String> {
    v.get("identifier")?.as_array()?.iter().find_map(|i| {
        let system = i.get("system")?.as_str()?;
        let value = i.get("value")?.as_str()?;
        (!system.is_empty() && !value.is_empty()).then(|| {
            format!(
                "{}|{}",
                ehrkit_fhir_client::escape_value(system),
                ehrkit_fhir_client::escape_value(value)
            )
        })
    })
}

fn entry(base: &str, c: &Change) -> Result<Value, String> {
    let ok_type = !c.resource_type.is_empty()
        && c.resource_type.chars().all(|ch| ch.is_ascii_alphanumeric())
        && c.resource_type
            .starts_with(|ch: char| ch.is_ascii_uppercase());
    if !ok_type {
        return Err("a change has an invalid resource type".into());
    }
    let mut resource: Value = serde_json::from_str(&c.body)
        .map_err(|_| format!("stored {} is not JSON", c.resource_type))?;
    let full_url = format!("{base}/{}/{}", c.resource_type, c.id);
    let url = match identifier_token(&resource) {
        Some(token) => {
            if let Value::Object(m) = &mut resource {
                m.remove("id");
            }
            let query = ehrkit_fhir_client::SearchParams::new()
                .param("identifier", token)
                .to_query();
            format!("{}?{query}", c.resource_type)
        }
        None => {
            ehrkit_fhir_client::request::check_id(&c.id)
                .map_err(|_| format!("{} id is not a FHIR id", c.resource_type))?;
            format!("{}/{}", c.resource_type, c.id)
        }
    };
    Ok(json!({
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "PUT", "url": url},
    }))
}

#[async_trait]
impl Sink for FhirServerSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, changes: &[Change]) -> Result<(), SinkError> {
        for chunk in changes.chunks(self.max_entries) {
            let bundle = self.bundle(chunk)?;
            self.post(&bundle).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MessageId;

    fn change(t: &str, id: &str, body: Value) -> Change {
        Change {
            resource_type: t.into(),
            id: id.into(),
            version: 1,
            body: body.to_string(),
            patient_key: None,
            enterprise_id: None,
            message_id: MessageId(1),
        }
    }

    #[test]
    fn identifier_gives_a_conditional_put_without_id_else_put_by_id() {
        let client = FhirClient::builder("http://fhir.example/r4")
            .build()
            .unwrap();
        let sink = FhirServerSink::new(client);
        let b = sink
            .bundle(&[
                change(
                    "Patient",
                    "src-1",
                    json!({"resourceType":"Patient","id":"src-1",
                      "identifier":[{"value":"no-system"},{"system":"urn:oid:1.2|x","value":"M,1"}]}),
                ),
                change(
                    "Observation",
                    "obs-1",
                    json!({"resourceType":"Observation","id":"obs-1","status":"final"}),
                ),
            ])
            .unwrap();
        let e = b["entry"].as_array().unwrap();
        assert_eq!(e[0]["request"]["method"], "PUT");
        let url = e[0]["request"]["url"].as_str().unwrap();
        assert!(url.starts_with("Patient?identifier="), "{url}");
        // `|` inside the system and `,` in the value are escaped as FHIR search values.
        let decoded: Vec<(String, String)> =
            url::form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
                .into_owned()
                .collect();
        assert_eq!(decoded[0].1, "urn:oid:1.2\\|x|M\\,1");
        assert!(e[0]["resource"].get("id").is_none());
        assert_eq!(e[0]["fullUrl"], "http://fhir.example/r4/Patient/src-1");
        assert_eq!(e[1]["request"]["url"], "Observation/obs-1");
        assert_eq!(e[1]["resource"]["id"], "obs-1");
    }

    #[test]
    fn a_bad_type_or_id_is_an_error_not_a_path() {
        let client = FhirClient::builder("http://fhir.example/r4")
            .build()
            .unwrap();
        let sink = FhirServerSink::new(client);
        assert!(sink
            .bundle(&[change("../x", "1", json!({"resourceType":"X"}))])
            .is_err());
        assert!(sink
            .bundle(&[change(
                "Observation",
                "a/b",
                json!({"resourceType":"Observation"})
            )])
            .is_err());
    }
}
