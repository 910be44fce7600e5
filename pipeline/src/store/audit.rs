//! The audit trail: append-only, hash-chained, exportable as FHIR R4 `AuditEvent`
//! (<https://hl7.org/fhir/R4/auditevent.html>).
//!
//! Each row's hash is `SHA-256(previous hash (32 bytes) || canonical row)`, where the canonical
//! row is the JSON object of [`AuditEntry::canonical`] (fixed key order, sequence number and
//! time included); the first row chains from 32 zero bytes. [`AuditVerification`] names the
//! first row whose stored hash, previous hash or sequence does not match. Deleting rows at the
//! end cannot be seen from the rows alone: keep [`AuditVerification::Intact`]'s `head` hash
//! elsewhere (a log line, a ticket) to anchor it.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{MessageId, TimestampMs};

/// What happened. No clinical content is ever recorded: only ids, names and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuditEventKind {
    /// A message was kept in the inbox.
    Received,
    /// A resend was recognized.
    Duplicate,
    /// A different message reused a kept message's key (kept, flagged).
    ControlIdReused,
    /// A message was converted / normalized.
    Converted,
    /// A source patient was linked to an enterprise id.
    Linked,
    /// Resources were stored.
    Stored,
    /// Resources were delivered to a sink.
    Delivered,
    /// A message went to the dead-letter store.
    DeadLettered,
    /// A dead letter or a message was reprocessed.
    Reprocessed,
    /// Data was read through the query API.
    Read,
}

impl AuditEventKind {
    /// Stable name (stored, hashed, exported).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Duplicate => "duplicate",
            Self::ControlIdReused => "control-id-reused",
            Self::Converted => "converted",
            Self::Linked => "linked",
            Self::Stored => "stored",
            Self::Delivered => "delivered",
            Self::DeadLettered => "dead-lettered",
            Self::Reprocessed => "reprocessed",
            Self::Read => "read",
        }
    }

    /// From [`AuditEventKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "received" => Self::Received,
            "duplicate" => Self::Duplicate,
            "control-id-reused" => Self::ControlIdReused,
            "converted" => Self::Converted,
            "linked" => Self::Linked,
            "stored" => Self::Stored,
            "delivered" => Self::Delivered,
            "dead-lettered" => Self::DeadLettered,
            "reprocessed" => Self::Reprocessed,
            "read" => Self::Read,
            _ => return None,
        })
    }

    /// FHIR `AuditEvent.action`: C(reate), R(ead), U(pdate), E(xecute).
    fn fhir_action(self) -> &'static str {
        match self {
            Self::Received | Self::ControlIdReused | Self::Stored => "C",
            Self::Read => "R",
            Self::Linked | Self::Reprocessed => "U",
            Self::Duplicate | Self::Converted | Self::Delivered | Self::DeadLettered => "E",
        }
    }
}

/// One event to record: who did what to which entity, with ids only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditEventKind,
    /// Who: the peer, service or user (`"mllp:10.0.0.5:40112"`, `"hub"`, `"alice"`).
    pub actor: String,
    /// Source name, when the event concerns one.
    pub source: Option<String>,
    /// The inbox message, when the event concerns one.
    pub message_id: Option<MessageId>,
    /// What: entity references (`"Observation/abc"`, `"E0000000001"`, `"DL3"`), no PHI.
    pub entity: Option<String>,
    /// Free detail without clinical content (counts, stage names, error kinds).
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event with only a kind and an actor.
    pub fn new(kind: AuditEventKind, actor: impl Into<String>) -> Self {
        Self {
            kind,
            actor: actor.into(),
            source: None,
            message_id: None,
            entity: None,
            detail: None,
        }
    }

    /// Sets the source.
    pub fn source(mut self, s: impl Into<String>) -> Self {
        self.source = Some(s.into());
        self
    }

    /// Sets the message.
    pub fn message(mut self, id: MessageId) -> Self {
        self.message_id = Some(id);
        self
    }

    /// Sets the entity.
    pub fn entity(mut self, e: impl Into<String>) -> Self {
        self.entity = Some(e.into());
        self
    }

    /// Sets the detail.
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}

/// A recorded audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number (1, 2, 3, … without gaps).
    pub seq: i64,
    /// When it was recorded.
    pub recorded_at: TimestampMs,
    /// The event.
    pub event: AuditEvent,
    /// Hash of the previous row (hex; 64 zeros for the first).
    pub prev_hash: String,
    /// This row's hash (hex).
    pub hash: String,
}

/// The hash the first row chains from.
pub(crate) const GENESIS: [u8; 32] = [0u8; 32];

impl AuditEntry {
    /// The canonical form hashed into the chain: a JSON object with keys in a fixed order.
    pub fn canonical(seq: i64, recorded_at: TimestampMs, e: &AuditEvent) -> String {
        // serde_json keeps struct field order; Option fields are written as null.
        #[derive(Serialize)]
        struct Canon<'a> {
            seq: i64,
            at: i64,
            kind: &'a str,
            actor: &'a str,
            source: Option<&'a str>,
            message: Option<i64>,
            entity: Option<&'a str>,
            detail: Option<&'a str>,
        }
        serde_json::to_string(&Canon {
            seq,
            at: recorded_at,
            kind: e.kind.as_str(),
            actor: &e.actor,
            source: e.source.as_deref(),
            message: e.message_id.map(|m| m.0),
            entity: e.entity.as_deref(),
            detail: e.detail.as_deref(),
        })
        .unwrap_or_default()
    }

    /// `SHA-256(prev || canonical)`.
    pub(crate) fn chain_hash(prev: &[u8; 32], canonical: &str) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(prev);
        h.update(canonical.as_bytes());
        h.finalize().into()
    }

    /// This entry as a FHIR R4 `AuditEvent` resource (JSON). Type is DICOM "110100"
    /// Application Activity with the event kind as subtype (`urn:ehrkit:audit`), the actor as
    /// `agent.who.display`, the message, source and entity as `entity.what.identifier`, and the
    /// chain hash as an extension-free `entity.detail` so an export can be re-verified.
    pub fn to_fhir(&self) -> Value {
        let e = &self.event;
        let recorded = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(self.recorded_at)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        let mut entities = Vec::new();
        if let Some(m) = e.message_id {
            entities.push(json!({
                "what": {"identifier": {"system": "urn:ehrkit:inbox", "value": m.0.to_string()}},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "20", "display": "Job"}
            }));
        }
        if let Some(x) = &e.entity {
            entities.push(json!({
                "what": {"identifier": {"system": "urn:ehrkit:entity", "value": x}},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"}
            }));
        }
        let mut chain = vec![
            json!({"type": "seq", "valueString": self.seq.to_string()}),
            json!({"type": "prev-hash", "valueString": self.prev_hash}),
            json!({"type": "hash", "valueString": self.hash}),
        ];
        if let Some(d) = &e.detail {
            chain.push(json!({"type": "detail", "valueString": d}));
        }
        entities.push(json!({
            "what": {"identifier": {"system": "urn:ehrkit:audit-chain", "value": self.seq.to_string()}},
            "detail": chain
        }));
        let mut ev = json!({
            "resourceType": "AuditEvent",
            "id": format!("audit-{}", self.seq),
            "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110100", "display": "Application Activity"},
            "subtype": [{"system": "urn:ehrkit:audit", "code": e.kind.as_str()}],
            "action": e.kind.fhir_action(),
            "recorded": recorded,
            "outcome": if e.kind == AuditEventKind::DeadLettered { "4" } else { "0" },
            "agent": [{"who": {"display": e.actor}, "requestor": e.kind == AuditEventKind::Read}],
            "source": {"observer": {"display": "ehrkit-pipeline"}},
            "entity": entities
        });
        if let Some(s) = &e.source {
            ev["source"]["site"] = Value::String(s.clone());
        }
        ev
    }

    /// This entry as a typed R4 [`AuditEvent`](ehrkit_fhir_model::AuditEvent) (read strictly
    /// from [`AuditEntry::to_fhir`]'s JSON).
    pub fn to_audit_event(
        &self,
    ) -> Result<ehrkit_fhir_model::AuditEvent, ehrkit_fhir_model::Error> {
        let opts = ehrkit_fhir_model::ParseOptions::default()
            .strict(true)
            .unknown_elements(ehrkit_fhir_model::UnknownPolicy::Reject);
        ehrkit_fhir_model::from_slice_with(self.to_fhir().to_string().as_bytes(), &opts)
            .map(|p| p.value)
    }
}

/// Result of verifying the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuditVerification {
    /// Every row verifies.
    Intact {
        /// Rows checked.
        rows: u64,
        /// Hash of the last row (hex), to anchor outside the store.
        head: String,
    },
    /// The first row that does not verify.
    Broken {
        /// Its sequence number.
        seq: i64,
        /// What is wrong (`"hash mismatch"`, `"previous hash mismatch"`, `"sequence gap"`,
        /// `"unreadable row"`).
        reason: &'static str,
    },
}

impl AuditVerification {
    /// True when intact.
    pub fn is_intact(&self) -> bool {
        matches!(self, Self::Intact { .. })
    }
}
