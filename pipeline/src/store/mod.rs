//! The unified store: the durable inbox, canonical resources with version history and lineage,
//! dead letters, the MPI snapshot with its review queue, versioned profiles and the
//! hash-chained audit log, behind the [`Store`] trait ([`SqliteStore`] by default).
//!
//! # Why an async trait
//!
//! [`Store`] is an `async` trait (through the `async-trait` crate, so `Arc<dyn Store>` works and
//! every future is `Send`). The hot path is [`Store::accept`] under hundreds of concurrent MLLP
//! connections: with an async `accept`, a connection task waits for the group commit that makes
//! its message durable without holding a thread, and a PostgreSQL backend (issue 16, an async
//! client such as `tokio-postgres` with a pool) implements the same methods natively. The
//! SQLite backend runs every write on one writer thread that commits many requests in one
//! fsync'd transaction (group commit) and answers each caller through a oneshot channel; its
//! reads run on `tokio::task::spawn_blocking`, so the read methods need a tokio runtime.
//!
//! # Durability contract
//!
//! * [`Store::accept`] returns only after the message (or the record of a resend) is durable:
//!   the transaction holding it is committed with `synchronous=FULL`. The caller may ACK then.
//!   Any error means "not kept": NAK, and the sender retries.
//! * [`Store::apply`] writes a message's resources, MPI changes, review items, lineage and audit
//!   rows and marks the message processed in **one** transaction: after a crash a message is
//!   either fully applied or still in [`Store::pending`].
//! * Errors are typed ([`StoreError`]); a full disk or an I/O failure is
//!   [`StoreError::Io`], never a panic.
//!
//! # For other backends
//!
//! A backend shared by several processes (PostgreSQL) keeps the same contract: the
//! idempotency check and the insert of [`Store::accept`] in one transaction under a unique
//! constraint on (key, content hash) (a conflict means "duplicate"); [`Store::apply`]'s
//! writes and the state change in one transaction; audit rows appended under a lock on the
//! chain head (e.g. a one-row table read `FOR UPDATE`) so the chain stays linear; ids
//! ([`MessageId`], [`DeadLetterId`], [`ReviewId`]) from sequences. `tests/store_*.rs` state
//! the behaviour any backend must have.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use ehrkit_identity::{EnterpriseId, IndexSnapshot, PatientRecord};
use serde::{Deserialize, Serialize};

mod audit;
mod crypto;
mod error;
mod fault;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
mod sqlite;

pub use audit::{AuditEntry, AuditEvent, AuditEventKind, AuditVerification};
pub use crypto::{Encryption, EncryptionKey};
pub use error::StoreError;
pub use fault::{FaultInjectingStore, FaultPlan};
#[cfg(feature = "postgres")]
pub use postgres::{PgOptions, PgStore};
pub use sqlite::{SqliteOptions, SqliteStore};

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Milliseconds since the Unix epoch (UTC), as the store records times.
pub type TimestampMs = i64;

/// The current time in [`TimestampMs`].
pub fn now_ms() -> TimestampMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

// ---------------------------------------------------------------------------------- ids

/// Id of a message kept in the inbox (stable, never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageId(pub i64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "M{}", self.0)
    }
}

/// Id of a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeadLetterId(pub i64);

impl fmt::Display for DeadLetterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DL{}", self.0)
    }
}

/// Id of an item of the possible-match review queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReviewId(pub i64);

impl fmt::Display for ReviewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "R{}", self.0)
    }
}

// ---------------------------------------------------------------------------------- inbox

/// The idempotency key of an inbound message (issue 15 item 2).
///
/// Together with the SHA-256 of the payload it decides what [`Store::accept`] does: same key
/// and same hash is a resend ([`Accepted::Duplicate`]); same key with a different hash is a
/// different message reusing the key ([`Accepted::ControlIdReused`]), kept and flagged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum IdempotencyKey {
    /// An HL7 v2 message: MSH-3, MSH-4 and MSH-10 as sent (empty strings when absent).
    V2 {
        /// MSH-3 sending application.
        sending_application: String,
        /// MSH-4 sending facility.
        sending_facility: String,
        /// MSH-10 message control id.
        control_id: String,
    },
    /// A resource read from a FHIR API or a Bulk export: source name, resource type and id, and
    /// `meta.versionId` (or, without it, `meta.lastUpdated`; empty when neither is present).
    Fhir {
        /// The source (endpoint or feed name).
        source: String,
        /// Resource type.
        resource_type: String,
        /// Logical id at the source.
        id: String,
        /// `meta.versionId`, else `meta.lastUpdated`.
        version: String,
    },
}

impl IdempotencyKey {
    /// An HL7 v2 key.
    pub fn v2(
        sending_application: impl Into<String>,
        sending_facility: impl Into<String>,
        control_id: impl Into<String>,
    ) -> Self {
        Self::V2 {
            sending_application: sending_application.into(),
            sending_facility: sending_facility.into(),
            control_id: control_id.into(),
        }
    }

    /// A FHIR key (`version` is `meta.versionId`, else `meta.lastUpdated`).
    pub fn fhir(
        source: impl Into<String>,
        resource_type: impl Into<String>,
        id: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        Self::Fhir {
            source: source.into(),
            resource_type: resource_type.into(),
            id: id.into(),
            version: version.into(),
        }
    }

    /// The canonical text form stored in the key column: the kind, then each part
    /// length-prefixed, so no two different keys share a form (`|` inside a part is harmless).
    pub fn canonical(&self) -> String {
        fn part(out: &mut String, s: &str) {
            out.push_str(&s.len().to_string());
            out.push(':');
            out.push_str(s);
        }
        let mut out = String::new();
        match self {
            Self::V2 {
                sending_application,
                sending_facility,
                control_id,
            } => {
                out.push_str("v2|");
                part(&mut out, sending_application);
                part(&mut out, sending_facility);
                part(&mut out, control_id);
            }
            Self::Fhir {
                source,
                resource_type,
                id,
                version,
            } => {
                out.push_str("fhir|");
                part(&mut out, source);
                part(&mut out, resource_type);
                part(&mut out, id);
                part(&mut out, version);
            }
        }
        out
    }
}

/// What a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PayloadKind {
    /// An HL7 v2 message (ER7 bytes).
    Hl7v2,
    /// One FHIR resource or Bundle as JSON.
    FhirJson,
}

impl PayloadKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hl7v2 => "hl7v2",
            Self::FhirJson => "fhir-json",
        }
    }

    /// From [`PayloadKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hl7v2" => Some(Self::Hl7v2),
            "fhir-json" => Some(Self::FhirJson),
            _ => None,
        }
    }
}

/// A message to keep in the inbox.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    /// The idempotency key.
    pub key: IdempotencyKey,
    /// The raw payload as received (kept byte for byte; encrypted at rest when configured).
    pub payload: Vec<u8>,
    /// What the payload is.
    pub kind: PayloadKind,
    /// Name of the source (channel, listener or feed), e.g. `"epic-adt"`.
    pub source: String,
    /// Message type when known (`"ADT^A01"`, `"Patient"`), for queries and audit; no PHI.
    pub message_type: Option<String>,
    /// Who sent it (peer address, client id), for the audit trail; no PHI.
    pub peer: Option<String>,
}

impl InboundMessage {
    /// A message with no message type and no peer.
    pub fn new(
        key: IdempotencyKey,
        payload: impl Into<Vec<u8>>,
        kind: PayloadKind,
        source: impl Into<String>,
    ) -> Self {
        Self {
            key,
            payload: payload.into(),
            kind,
            source: source.into(),
            message_type: None,
            peer: None,
        }
    }

    /// Sets the message type.
    pub fn message_type(mut self, t: impl Into<String>) -> Self {
        self.message_type = Some(t.into());
        self
    }

    /// Sets the peer.
    pub fn peer(mut self, p: impl Into<String>) -> Self {
        self.peer = Some(p.into());
        self
    }
}

/// What [`Store::accept`] did; every variant means "durably recorded, you may ACK".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Accepted {
    /// A new message, kept and pending processing.
    New(MessageId),
    /// A resend of the kept message `0` (same key, same content hash): recorded as a duplicate,
    /// nothing to process.
    Duplicate(MessageId),
    /// A different message reusing the key of `original`: kept as `id`, pending, and flagged.
    ControlIdReused {
        /// The new message.
        id: MessageId,
        /// The first message kept under that key.
        original: MessageId,
    },
}

impl Accepted {
    /// The id of the message kept (for a duplicate, the original).
    pub fn id(&self) -> MessageId {
        match *self {
            Self::New(id) | Self::Duplicate(id) | Self::ControlIdReused { id, .. } => id,
        }
    }

    /// True when the message must be processed (not a duplicate).
    pub fn needs_processing(&self) -> bool {
        !matches!(self, Self::Duplicate(_))
    }
}

/// Processing state of an inbox message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum InboxState {
    /// Kept, not yet applied.
    Pending,
    /// Applied ([`Store::apply`]).
    Processed,
    /// Moved to the dead-letter store.
    DeadLettered,
}

impl InboxState {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processed => "processed",
            Self::DeadLettered => "dead",
        }
    }

    /// From [`InboxState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "processed" => Some(Self::Processed),
            "dead" => Some(Self::DeadLettered),
            _ => None,
        }
    }
}

/// A message read back from the inbox (payload decrypted).
#[derive(Debug, Clone)]
pub struct InboxMessage {
    /// Its id.
    pub id: MessageId,
    /// Its idempotency key in canonical form ([`IdempotencyKey::canonical`]).
    pub key: String,
    /// SHA-256 of the payload, lower-case hex.
    pub content_hash: String,
    /// The payload as received.
    pub payload: Vec<u8>,
    /// What the payload is.
    pub kind: PayloadKind,
    /// Source name.
    pub source: String,
    /// Message type when known.
    pub message_type: Option<String>,
    /// When it was received.
    pub received_at: TimestampMs,
    /// Processing state.
    pub state: InboxState,
    /// True when it reused the key of an earlier, different message.
    pub control_id_reused: bool,
    /// Number of resends recorded as duplicates of it.
    pub duplicates: u64,
}

// ---------------------------------------------------------------------------------- apply

/// A profile by name and version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProfileRef {
    /// Profile name (`"epic-adt"`).
    pub name: String,
    /// Profile version (`"3"`, `"2026-12-01"`).
    pub version: String,
}

/// Where a resource version came from (issue 15 item 10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// Source name.
    pub source: String,
    /// The profile that converted it, when one did.
    pub profile: Option<ProfileRef>,
    /// Version of the converter (e.g. `ehrkit-mapping 0.1.0`).
    pub converter_version: String,
}

/// A canonical resource to upsert.
#[derive(Debug, Clone)]
pub struct ResourceWrite {
    /// FHIR resource type (`"Observation"`).
    pub resource_type: String,
    /// Logical id (deterministic, chosen by the converter so reprocessing hits the same row).
    pub id: String,
    /// The resource JSON. A new version is stored only when these bytes differ from the current
    /// version's (strip volatile fields such as `meta.lastUpdated` before).
    pub body: String,
    /// Key of the source patient it belongs to (the MPI record key), so it is found under the
    /// patient's enterprise id; `None` for resources of no patient.
    pub patient_key: Option<String>,
}

/// A source patient record with its enterprise id, to persist after an MPI upsert.
#[derive(Debug, Clone)]
pub struct PatientLink {
    /// The record as indexed (its `key` is the source patient key); encrypted at rest.
    pub record: PatientRecord,
    /// Its enterprise id now.
    pub enterprise_id: EnterpriseId,
    /// Source name.
    pub source: String,
}

/// The MPI's state besides its records (model, id counter, retired ids, merges), stored as one
/// value and saved whenever it changes (after a new enterprise id, a merge, an unmerge).
#[derive(Debug, Clone)]
pub struct MpiState(pub IndexSnapshot);

/// A POSSIBLE MATCH to queue for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPossibleMatch {
    /// The record that was upserted.
    pub source_key: String,
    /// Its enterprise id.
    pub enterprise_id: EnterpriseId,
    /// The candidate record.
    pub candidate_key: String,
    /// The candidate's enterprise id.
    pub candidate_enterprise_id: EnterpriseId,
    /// Match weight (log2 Bayes factor), as in `ehrkit_identity::Score::weight`.
    pub weight: f32,
}

/// Whether [`Store::apply`] is the first application of a message or a reprocessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ApplyMode {
    /// First application: a message no longer pending (already processed) is left alone and
    /// [`Applied::already_processed`] is set, so a recovery run never applies twice.
    #[default]
    First,
    /// Reprocessing (new profile, dead letter fixed): applied whatever the state; resources
    /// are upserted, so nothing is duplicated.
    Reprocess,
}

/// Everything one message produced, written with [`Store::apply`] in one transaction that also
/// marks the message processed.
#[derive(Debug, Clone)]
pub struct ApplyBatch {
    /// The inbox message.
    pub message_id: MessageId,
    /// First application or reprocessing.
    pub mode: ApplyMode,
    /// Lineage recorded on each resource version written.
    pub lineage: Lineage,
    /// Canonical resources to upsert.
    pub resources: Vec<ResourceWrite>,
    /// Source patients (MPI records) to upsert with their enterprise ids.
    pub patients: Vec<PatientLink>,
    /// New MPI state when it changed.
    pub mpi_state: Option<MpiState>,
    /// Possible matches to queue.
    pub possible_matches: Vec<NewPossibleMatch>,
    /// Extra audit events (e.g. `Converted`, `Linked`); the store adds `Stored` itself.
    pub audit: Vec<AuditEvent>,
}

impl ApplyBatch {
    /// An empty batch for a message (marks it processed and writes nothing else).
    pub fn new(message_id: MessageId, lineage: Lineage) -> Self {
        Self {
            message_id,
            mode: ApplyMode::First,
            lineage,
            resources: Vec::new(),
            patients: Vec::new(),
            mpi_state: None,
            possible_matches: Vec::new(),
            audit: Vec::new(),
        }
    }
}

/// What happened to one resource in [`Store::apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceOutcome {
    /// Resource type.
    pub resource_type: String,
    /// Logical id.
    pub id: String,
    /// The current version after the write (1-based).
    pub version: i64,
    /// True when a new version was written (new resource or changed content).
    pub changed: bool,
}

/// Result of [`Store::apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// One outcome per resource of the batch, in order (empty when `already_processed`).
    pub resources: Vec<ResourceOutcome>,
    /// True when the message was already processed in [`ApplyMode::First`]: nothing written.
    pub already_processed: bool,
}

// ---------------------------------------------------------------------------------- resources

/// One stored version of a canonical resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResource {
    /// Resource type.
    pub resource_type: String,
    /// Logical id.
    pub id: String,
    /// Version (1-based).
    pub version: i64,
    /// The resource JSON (decrypted).
    pub body: String,
    /// Source patient key, when it belongs to one.
    pub patient_key: Option<String>,
    /// When this version was stored (the store's last-updated time).
    pub stored_at: TimestampMs,
    /// The message that produced this version.
    pub message_id: MessageId,
    /// Where this version came from.
    pub lineage: Lineage,
}

/// One step of a source record's lineage: a message applied to a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineageEntry {
    /// The message.
    pub message_id: MessageId,
    /// Resource type.
    pub resource_type: String,
    /// Logical id.
    pub id: String,
    /// The resource version current after this application.
    pub version: i64,
    /// True when this application wrote that version; false when content was unchanged.
    pub changed: bool,
    /// Lineage of the application.
    pub lineage: Lineage,
    /// When it was applied.
    pub applied_at: TimestampMs,
}

/// A source patient linked to an enterprise id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePatient {
    /// The MPI record key.
    pub key: String,
    /// Source name.
    pub source: String,
    /// Enterprise id.
    pub enterprise_id: EnterpriseId,
    /// Last update.
    pub updated_at: TimestampMs,
}

/// Everything about one enterprise patient across sources (`$everything`-like).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnterprisePatient {
    /// The enterprise id.
    pub enterprise_id: EnterpriseId,
    /// Source patients linked to it.
    pub source_patients: Vec<SourcePatient>,
    /// Current versions of every resource of those source patients (Patient resources included).
    pub resources: Vec<StoredResource>,
}

// ---------------------------------------------------------------------------------- review

/// State of a possible-match review item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ReviewStatus {
    /// Waiting for a reviewer.
    Open,
    /// Same person: the reviewer linked them.
    Linked,
    /// Different people.
    Distinct,
}

impl ReviewStatus {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Linked => "linked",
            Self::Distinct => "distinct",
        }
    }

    /// From [`ReviewStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "linked" => Some(Self::Linked),
            "distinct" => Some(Self::Distinct),
            _ => None,
        }
    }
}

/// A possible match in the review queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PossibleMatch {
    /// Its id.
    pub id: ReviewId,
    /// What was queued.
    pub pair: NewPossibleMatch,
    /// Review state.
    pub status: ReviewStatus,
    /// Who resolved it.
    pub resolved_by: Option<String>,
    /// When it was queued.
    pub created_at: TimestampMs,
}

// ---------------------------------------------------------------------------------- dead letters

/// A failure to keep in the dead-letter store. No PHI in any field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDeadLetter {
    /// The inbox message that failed (marked dead-lettered), when it reached the inbox.
    pub message_id: Option<MessageId>,
    /// Stage that failed (`"parse"`, `"route"`, `"convert"`, `"identity"`, `"store"`, `"sink"`).
    pub stage: String,
    /// Error kind (a stable name, e.g. `"UnknownMessageType"`).
    pub error_kind: String,
    /// Where (`"PID-7"`, `"segment 3"`, a JSON path), when known.
    pub location: Option<String>,
    /// Attempts made before giving up.
    pub attempts: u32,
    /// Reason text, without PHI.
    pub reason: String,
}

/// State of a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DeadLetterStatus {
    /// Waiting for a fix.
    Open,
    /// Reprocessed successfully.
    Reprocessed,
}

impl DeadLetterStatus {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Reprocessed => "reprocessed",
        }
    }

    /// From [`DeadLetterStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "reprocessed" => Some(Self::Reprocessed),
            _ => None,
        }
    }
}

/// A dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Its id.
    pub id: DeadLetterId,
    /// What failed.
    pub failure: NewDeadLetter,
    /// State.
    pub status: DeadLetterStatus,
    /// When it was first dead-lettered.
    pub created_at: TimestampMs,
    /// Last change (new failure or reprocessing).
    pub updated_at: TimestampMs,
}

// ---------------------------------------------------------------------------------- profiles

/// A stored profile version (the profile itself is an opaque value, e.g. its TOML or JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredProfile {
    /// Name and version.
    pub profile: ProfileRef,
    /// The profile as saved.
    pub body: String,
    /// When it was saved.
    pub saved_at: TimestampMs,
    /// True when it is the active version of its name.
    pub active: bool,
}

// ---------------------------------------------------------------------------------- summary

/// Counts over the store's whole content; serializes to the JSON object the `pipeline` example
/// prints last (`{"received":N,"duplicates":N,"dead_letter":N,...}`, in this key order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Distinct messages kept in the inbox.
    pub received: u64,
    /// Resends recognized as duplicates.
    pub duplicates: u64,
    /// Open dead letters.
    pub dead_letter: u64,
    /// Current canonical resources.
    pub resources: u64,
    /// Source patients (MPI records).
    pub source_patients: u64,
    /// Distinct enterprise ids among them.
    pub enterprise_patients: u64,
    /// Open possible-match review items.
    pub possible_matches: u64,
}

// ---------------------------------------------------------------------------------- trait

/// The unified store (issue 15 items 2, 4, 5, 6, 7, 10). See the module docs for the
/// durability contract. `actor` arguments name who asked (user, service, peer) for the
/// audit trail's `Read` events.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ----- inbox
    /// Keeps a message durably (committed and fsync'd before returning) and tells whether it
    /// is new, a resend, or a different message reusing its key. Appends a `Received` or
    /// `Duplicate` audit event in the same transaction.
    async fn accept(&self, msg: InboundMessage) -> StoreResult<Accepted>;

    /// Messages still pending (kept, not applied, not dead-lettered), oldest first, at most
    /// `limit`: what to process after a restart.
    async fn pending(&self, limit: usize) -> StoreResult<Vec<InboxMessage>>;

    /// One inbox message (payload decrypted), for processing or reprocessing. This is the
    /// pipeline reading its own inbox and is not audited as `Read`; consumers read resources
    /// through the query methods below.
    async fn message(&self, id: MessageId) -> StoreResult<InboxMessage>;

    /// Applies what a message produced and marks it processed, in one transaction (see
    /// [`ApplyBatch`], [`ApplyMode`]).
    async fn apply(&self, batch: ApplyBatch) -> StoreResult<Applied>;

    // ----- dead letters
    /// Keeps a failure; marks its message dead-lettered. A message dead-lettered again updates
    /// its open dead letter (stage, kind, attempts) instead of adding one.
    async fn dead_letter(&self, failure: NewDeadLetter) -> StoreResult<DeadLetterId>;

    /// Dead letters, oldest first; only open ones when `open_only`.
    async fn dead_letters(&self, open_only: bool) -> StoreResult<Vec<DeadLetter>>;

    /// One dead letter.
    async fn dead_letter_by_id(&self, id: DeadLetterId) -> StoreResult<DeadLetter>;

    /// Marks a dead letter reprocessed (after its message was applied with
    /// [`ApplyMode::Reprocess`], or delivered again after a sink failure); audited as
    /// `Reprocessed`. Its message, dead-lettered until then, is processed again
    /// ([`InboxState::Processed`]), whether or not the reprocessing applied anything.
    async fn mark_reprocessed(&self, id: DeadLetterId, actor: &str) -> StoreResult<()>;

    // ----- MPI
    /// The persisted MPI (records, enterprise ids, model, merges) to rebuild the index with
    /// `PatientIndex::from_snapshot`; `None` before any state was saved.
    async fn load_mpi(&self) -> StoreResult<Option<IndexSnapshot>>;

    /// Replaces the persisted MPI with a whole snapshot (after a merge, unmerge or retrain).
    async fn save_mpi(&self, snapshot: IndexSnapshot) -> StoreResult<()>;

    /// Review queue items; only open ones when `open_only`.
    async fn possible_matches(&self, open_only: bool) -> StoreResult<Vec<PossibleMatch>>;

    /// Records the decision on a review item (`Linked` or `Distinct`) and audits it; it does
    /// not change the MPI. [`crate::Pipeline::resolve_review`] applies the decision to the MPI
    /// (a merge for `Linked`), persists it with [`Store::save_links`] and then calls this. A
    /// pair decided `Distinct` is not queued again by [`Store::apply`], in either direction.
    async fn resolve_possible_match(
        &self,
        id: ReviewId,
        status: ReviewStatus,
        actor: &str,
    ) -> StoreResult<PossibleMatch>;

    /// Persists MPI changes made outside a message (a reviewer linking two identities, an
    /// unmerge): each record's enterprise id, the MPI state when it changed, and the audit
    /// events, in one transaction where the backend has them.
    ///
    /// The default reads the whole MPI ([`Store::load_mpi`]), applies the changes and writes
    /// it back ([`Store::save_mpi`]), then appends the audit events: correct, but not atomic
    /// and slow on a large MPI; backends should override it.
    async fn save_links(
        &self,
        links: Vec<PatientLink>,
        state: Option<MpiState>,
        audit: Vec<AuditEvent>,
    ) -> StoreResult<()> {
        if let Some(mut snap) = self.load_mpi().await? {
            for l in &links {
                match snap.records.iter_mut().find(|(r, _)| r.key == l.record.key) {
                    Some(slot) => *slot = (l.record.clone(), l.enterprise_id),
                    None => snap.records.push((l.record.clone(), l.enterprise_id)),
                }
            }
            if let Some(MpiState(s)) = state {
                snap.next_eid = snap.next_eid.max(s.next_eid);
                snap.retired = s.retired;
                snap.merges = s.merges;
                snap.model = s.model;
            }
            self.save_mpi(snap).await?;
        } else if let Some(MpiState(mut s)) = state {
            s.records = links
                .iter()
                .map(|l| (l.record.clone(), l.enterprise_id))
                .collect();
            self.save_mpi(s).await?;
        }
        self.append_audit(audit).await
    }

    /// Ids of the messages kept in the inbox with `from <= received_at < to`, oldest first (by
    /// received time, then id), at most `limit` (what [`crate::Pipeline::reprocess_range`]
    /// runs again). The default answers [`StoreError::Backend`] (not supported by this
    /// backend).
    async fn messages_received(
        &self,
        from: TimestampMs,
        to: TimestampMs,
        limit: usize,
    ) -> StoreResult<Vec<MessageId>> {
        let _ = (from, to, limit);
        Err(StoreError::Backend {
            op: "messages received",
            source: Arc::new(std::io::Error::other(
                "listing the inbox by time is not supported by this store",
            )),
        })
    }

    // ----- profiles
    /// Saves a profile version; the first version of a name becomes active. Saving the same
    /// name and version again with the same body is a no-op; with another body an error.
    async fn save_profile(&self, profile: ProfileRef, body: String) -> StoreResult<()>;

    /// Versions of a profile, in save order.
    async fn profile_versions(&self, name: &str) -> StoreResult<Vec<StoredProfile>>;

    /// One profile version.
    async fn profile(&self, profile: &ProfileRef) -> StoreResult<StoredProfile>;

    /// The active version of a profile.
    async fn active_profile(&self, name: &str) -> StoreResult<Option<StoredProfile>>;

    /// Makes a saved version active.
    async fn activate_profile(&self, profile: &ProfileRef) -> StoreResult<()>;

    /// Activates the version saved before the active one; returns it.
    async fn rollback_profile(&self, name: &str) -> StoreResult<StoredProfile>;

    // ----- queries (audited as `Read`)
    /// Everything about one enterprise patient across sources.
    async fn patient_everything(
        &self,
        enterprise_id: EnterpriseId,
        actor: &str,
    ) -> StoreResult<EnterprisePatient>;

    /// Current resources of a type stored at or after `since`, oldest first, at most `limit`.
    async fn resources_by_type(
        &self,
        resource_type: &str,
        since: Option<TimestampMs>,
        limit: usize,
        actor: &str,
    ) -> StoreResult<Vec<StoredResource>>;

    /// The current version of one resource.
    async fn resource(
        &self,
        resource_type: &str,
        id: &str,
        actor: &str,
    ) -> StoreResult<Option<StoredResource>>;

    /// Every version of one resource, oldest first.
    async fn resource_history(
        &self,
        resource_type: &str,
        id: &str,
        actor: &str,
    ) -> StoreResult<Vec<StoredResource>>;

    /// A source record's lineage: what each application of a message did.
    async fn lineage(&self, message_id: MessageId) -> StoreResult<Vec<LineageEntry>>;

    /// Source patients linked to an enterprise id.
    async fn source_patients(&self, enterprise_id: EnterpriseId)
        -> StoreResult<Vec<SourcePatient>>;

    // ----- audit
    /// Appends audit events (e.g. `Delivered` from a sink).
    async fn append_audit(&self, events: Vec<AuditEvent>) -> StoreResult<()>;

    /// Audit entries with `seq >= from_seq`, in order, at most `limit`.
    async fn audit_entries(&self, from_seq: i64, limit: usize) -> StoreResult<Vec<AuditEntry>>;

    /// Recomputes the hash chain; names the first row that does not verify.
    async fn verify_audit(&self) -> StoreResult<AuditVerification>;

    // ----- summary
    /// Counts over the whole store.
    async fn summary(&self) -> StoreResult<Summary>;
}

#[async_trait]
impl<S: Store + ?Sized> Store for Arc<S> {
    async fn accept(&self, msg: InboundMessage) -> StoreResult<Accepted> {
        (**self).accept(msg).await
    }
    async fn pending(&self, limit: usize) -> StoreResult<Vec<InboxMessage>> {
        (**self).pending(limit).await
    }
    async fn message(&self, id: MessageId) -> StoreResult<InboxMessage> {
        (**self).message(id).await
    }
    async fn apply(&self, batch: ApplyBatch) -> StoreResult<Applied> {
        (**self).apply(batch).await
    }
    async fn dead_letter(&self, failure: NewDeadLetter) -> StoreResult<DeadLetterId> {
        (**self).dead_letter(failure).await
    }
    async fn dead_letters(&self, open_only: bool) -> StoreResult<Vec<DeadLetter>> {
        (**self).dead_letters(open_only).await
    }
    async fn dead_letter_by_id(&self, id: DeadLetterId) -> StoreResult<DeadLetter> {
        (**self).dead_letter_by_id(id).await
    }
    async fn mark_reprocessed(&self, id: DeadLetterId, actor: &str) -> StoreResult<()> {
        (**self).mark_reprocessed(id, actor).await
    }
    async fn load_mpi(&self) -> StoreResult<Option<IndexSnapshot>> {
        (**self).load_mpi().await
    }
    async fn save_mpi(&self, snapshot: IndexSnapshot) -> StoreResult<()> {
        (**self).save_mpi(snapshot).await
    }
    async fn possible_matches(&self, open_only: bool) -> StoreResult<Vec<PossibleMatch>> {
        (**self).possible_matches(open_only).await
    }
    async fn resolve_possible_match(
        &self,
        id: ReviewId,
        status: ReviewStatus,
        actor: &str,
    ) -> StoreResult<PossibleMatch> {
        (**self).resolve_possible_match(id, status, actor).await
    }
    async fn save_links(
        &self,
        links: Vec<PatientLink>,
        state: Option<MpiState>,
        audit: Vec<AuditEvent>,
    ) -> StoreResult<()> {
        (**self).save_links(links, state, audit).await
    }
    async fn messages_received(
        &self,
        from: TimestampMs,
        to: TimestampMs,
        limit: usize,
    ) -> StoreResult<Vec<MessageId>> {
        (**self).messages_received(from, to, limit).await
    }
    async fn save_profile(&self, profile: ProfileRef, body: String) -> StoreResult<()> {
        (**self).save_profile(profile, body).await
    }
    async fn profile_versions(&self, name: &str) -> StoreResult<Vec<StoredProfile>> {
        (**self).profile_versions(name).await
    }
    async fn profile(&self, profile: &ProfileRef) -> StoreResult<StoredProfile> {
        (**self).profile(profile).await
    }
    async fn active_profile(&self, name: &str) -> StoreResult<Option<StoredProfile>> {
        (**self).active_profile(name).await
    }
    async fn activate_profile(&self, profile: &ProfileRef) -> StoreResult<()> {
        (**self).activate_profile(profile).await
    }
    async fn rollback_profile(&self, name: &str) -> StoreResult<StoredProfile> {
        (**self).rollback_profile(name).await
    }
    async fn patient_everything(
        &self,
        enterprise_id: EnterpriseId,
        actor: &str,
    ) -> StoreResult<EnterprisePatient> {
        (**self).patient_everything(enterprise_id, actor).await
    }
    async fn resources_by_type(
        &self,
        resource_type: &str,
        since: Option<TimestampMs>,
        limit: usize,
        actor: &str,
    ) -> StoreResult<Vec<StoredResource>> {
        (**self)
            .resources_by_type(resource_type, since, limit, actor)
            .await
    }
    async fn resource(
        &self,
        resource_type: &str,
        id: &str,
        actor: &str,
    ) -> StoreResult<Option<StoredResource>> {
        (**self).resource(resource_type, id, actor).await
    }
    async fn resource_history(
        &self,
        resource_type: &str,
        id: &str,
        actor: &str,
    ) -> StoreResult<Vec<StoredResource>> {
        (**self).resource_history(resource_type, id, actor).await
    }
    async fn lineage(&self, message_id: MessageId) -> StoreResult<Vec<LineageEntry>> {
        (**self).lineage(message_id).await
    }
    async fn source_patients(
        &self,
        enterprise_id: EnterpriseId,
    ) -> StoreResult<Vec<SourcePatient>> {
        (**self).source_patients(enterprise_id).await
    }
    async fn append_audit(&self, events: Vec<AuditEvent>) -> StoreResult<()> {
        (**self).append_audit(events).await
    }
    async fn audit_entries(&self, from_seq: i64, limit: usize) -> StoreResult<Vec<AuditEntry>> {
        (**self).audit_entries(from_seq, limit).await
    }
    async fn verify_audit(&self) -> StoreResult<AuditVerification> {
        (**self).verify_audit().await
    }
    async fn summary(&self) -> StoreResult<Summary> {
        (**self).summary().await
    }
}

/// SHA-256 of bytes as lower-case hex (the content hash of the inbox and of resource versions).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex_lower(&sha2::Sha256::digest(bytes))
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
