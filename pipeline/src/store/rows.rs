//! What both backends share below the [`Store`] methods, written once:
//!
//! * reading rows back into the store's types: one decoder per kind of row over [`Cols`],
//!   which `rusqlite`'s and `tokio-postgres`'s rows implement. A column that is missing or of
//!   another type is [`StoreError::Schema`] naming it, never a panic;
//! * the SQL of the reads both backends run alike (placeholders `$1`, `$2`, … in ascending
//!   order of first use, which PostgreSQL and SQLite both bind by position);
//! * the sealed (encrypted) columns and their associated data ([`Sealed`]), so a value written
//!   by one backend opens in the other;
//! * the audit chain's verification ([`ChainCheck`]) and the MPI state's JSON.

use std::collections::HashMap;
use std::sync::Arc;

use ehrkit_identity::{EnterpriseId, FsModel, IndexSnapshot, MergeEvent, PatientRecord};

use super::audit::GENESIS;
use super::error::SharedSource;
use super::*;

// ---------------------------------------------------------------------------------- columns

/// A column type both backends read ([`String`], [`i64`], [`f64`], [`bool`], `Vec<u8>` and
/// their `Option`s).
#[cfg(feature = "postgres")]
pub(crate) trait Value:
    rusqlite::types::FromSql + for<'a> tokio_postgres::types::FromSql<'a>
{
}
#[cfg(feature = "postgres")]
impl<T: rusqlite::types::FromSql + for<'a> tokio_postgres::types::FromSql<'a>> Value for T {}

/// A column type both backends read ([`String`], [`i64`], [`f64`], [`bool`], `Vec<u8>` and
/// their `Option`s).
#[cfg(not(feature = "postgres"))]
pub(crate) trait Value: rusqlite::types::FromSql {}
#[cfg(not(feature = "postgres"))]
impl<T: rusqlite::types::FromSql> Value for T {}

/// A row read back from either backend.
pub(crate) trait Cols {
    /// Column `i`; a missing column or one of another type is [`StoreError::Schema`].
    fn col<T: Value>(&self, i: usize) -> StoreResult<T>;
}

fn schema(column: String, source: SharedSource) -> StoreError {
    StoreError::Schema { column, source }
}

impl Cols for rusqlite::Row<'_> {
    fn col<T: Value>(&self, i: usize) -> StoreResult<T> {
        self.get::<_, T>(i).map_err(|e| {
            let column = self
                .as_ref()
                .column_name(i)
                .map_or_else(|_| format!("#{i}"), str::to_owned);
            schema(column, Arc::new(e))
        })
    }
}

#[cfg(feature = "postgres")]
impl Cols for tokio_postgres::Row {
    fn col<T: Value>(&self, i: usize) -> StoreResult<T> {
        self.try_get::<_, T>(i).map_err(|e| {
            let column = self
                .columns()
                .get(i)
                .map_or_else(|| format!("#{i}"), |c| c.name().to_owned());
            schema(column, Arc::new(e))
        })
    }
}

pub(crate) fn corrupt(table: &'static str, row: impl ToString, what: &'static str) -> StoreError {
    StoreError::Corrupt {
        table,
        row: row.to_string(),
        what,
    }
}

pub(crate) fn not_found(what: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound {
        what,
        id: id.to_string(),
    }
}

/// A count or id column that must fit `T` (`u32`, `u64`).
fn fit<T: TryFrom<i64>>(
    v: i64,
    table: &'static str,
    row: impl ToString,
    what: &'static str,
) -> StoreResult<T> {
    T::try_from(v).map_err(|_| corrupt(table, row, what))
}

fn enterprise(v: i64, table: &'static str, row: impl ToString) -> StoreResult<EnterpriseId> {
    fit(v, table, row, "enterprise id out of range").map(EnterpriseId)
}

pub(crate) fn parse_hash(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

// ---------------------------------------------------------------------------------- sealing

/// Seals `plain` for a column of `table` with the active key: (key id to store beside it,
/// bytes). Without encryption the bytes are stored as they are and the key id is NULL.
pub(crate) fn seal(
    enc: Option<&Encryption>,
    table: &'static str,
    aad: &str,
    plain: &[u8],
) -> StoreResult<(Option<i64>, Vec<u8>)> {
    match enc {
        None => Ok((None, plain.to_vec())),
        Some(e) => {
            let (id, ct) = e.seal(table, aad, plain)?;
            Ok((Some(i64::from(id)), ct))
        }
    }
}

pub(crate) fn inbox_aad(key: &str, hash: &str) -> String {
    format!("inbox\u{1f}{key}\u{1f}{hash}")
}

pub(crate) fn resource_aad(rtype: &str, id: &str, version: i64) -> String {
    format!("resource\u{1f}{rtype}\u{1f}{id}\u{1f}{version}")
}

pub(crate) fn patient_aad(key: &str) -> String {
    format!("patient\u{1f}{key}")
}

/// How errors name a source patient row: by row id, since its key holds an identifier (MRN).
fn patient_row(rowid: i64) -> String {
    format!("rowid {rowid}")
}

/// A sealed column value as read from one row: its table, the row's name in errors, the key id
/// stored beside it, the associated data binding it to that row, and the bytes. Every reader
/// opens values through it, and re-encryption reseals them.
pub(crate) struct Sealed {
    table: &'static str,
    row: String,
    key_id: Option<i64>,
    aad: String,
    data: Vec<u8>,
}

impl Sealed {
    /// An inbox payload.
    pub(crate) fn inbox(
        id: i64,
        key: &str,
        hash: &str,
        key_id: Option<i64>,
        data: Vec<u8>,
    ) -> Self {
        Self {
            table: "inbox",
            row: id.to_string(),
            key_id,
            aad: inbox_aad(key, hash),
            data,
        }
    }

    /// A resource version's body.
    pub(crate) fn resource(
        t: &str,
        id: &str,
        version: i64,
        key_id: Option<i64>,
        data: Vec<u8>,
    ) -> Self {
        Self {
            table: "resource_versions",
            row: format!("{t}/{id}/{version}"),
            key_id,
            aad: resource_aad(t, id, version),
            data,
        }
    }

    /// A source patient's MPI record.
    pub(crate) fn patient(rowid: i64, key: &str, key_id: Option<i64>, data: Vec<u8>) -> Self {
        Self {
            table: "source_patients",
            row: patient_row(rowid),
            key_id,
            aad: patient_aad(key),
            data,
        }
    }

    /// The plain bytes.
    pub(crate) fn open(self, enc: Option<&Encryption>) -> StoreResult<Vec<u8>> {
        let Some(key_id) = self.key_id else {
            return Ok(self.data);
        };
        let key_id: u32 = fit(key_id, self.table, &self.row, "key id out of range")?;
        match enc {
            None => Err(StoreError::MissingKey {
                table: self.table,
                row: self.row,
                key_id,
            }),
            Some(e) => e.open(self.table, &self.row, key_id, &self.aad, &self.data),
        }
    }

    /// The plain bytes decoded; a value that does not decode is [`StoreError::Corrupt`] with
    /// `what`.
    pub(crate) fn open_as<T>(
        self,
        enc: Option<&Encryption>,
        what: &'static str,
        decode: impl FnOnce(Vec<u8>) -> Option<T>,
    ) -> StoreResult<T> {
        let (table, row) = (self.table, self.row.clone());
        decode(self.open(enc)?).ok_or_else(|| corrupt(table, row, what))
    }

    /// Opened with whichever key of `enc` sealed it, sealed again with the active key.
    pub(crate) fn reseal(self, enc: &Encryption) -> StoreResult<(Option<i64>, Vec<u8>)> {
        let (table, aad) = (self.table, self.aad.clone());
        let plain = self.open(Some(enc))?;
        seal(Some(enc), table, &aad, &plain)
    }
}

// ---------------------------------------------------------------------------------- SQL

/// The columns [`resource`] reads (`v`: `resource_versions`).
macro_rules! resource_cols {
    () => {
        "v.resource_type, v.id, v.version, v.key_id, v.body, v.patient_key, v.stored_at, v.message_id, v.source, v.profile_name, v.profile_version, v.converter_version"
    };
}

/// The current version of each resource (`r`) with its body and lineage (`v`).
macro_rules! current_resources {
    () => {
        concat!(
            "SELECT ",
            resource_cols!(),
            " FROM resources r JOIN resource_versions v ON v.resource_type = r.resource_type AND v.id = r.id AND v.version = r.version"
        )
    };
}

/// The columns [`inbox`] reads (`i`: `inbox`).
macro_rules! inbox_select {
    () => {
        "SELECT i.id, i.idem_key, i.content_hash, i.key_id, i.payload, i.kind, i.source, i.message_type, i.received_at, i.state, i.control_id_reused, (SELECT COUNT(*) FROM duplicates d WHERE d.message_id = i.id) FROM inbox i"
    };
}

/// The columns [`dead_letter`] reads.
macro_rules! dead_select {
    () => {
        "SELECT id, message_id, stage, error_kind, location, attempts, reason, status, created_at, updated_at FROM dead_letters"
    };
}

/// The columns [`review`] reads.
macro_rules! review_cols {
    () => {
        "id, source_key, enterprise_id, candidate_key, candidate_enterprise_id, weight, status, resolved_by, created_at"
    };
}

/// The columns [`profile`] reads.
macro_rules! profile_select {
    () => {
        "SELECT p.name, p.version, p.body, p.saved_at, (a.version IS NOT NULL) FROM profiles p LEFT JOIN profile_active a ON a.name = p.name AND a.version = p.version"
    };
}

/// The columns [`audit_entry`] reads.
macro_rules! audit_select {
    () => {
        "SELECT seq, recorded_at, kind, actor, source, message_id, entity, detail, prev_hash, hash FROM audit_log"
    };
}

/// Current resources of the source patients of an enterprise id ($1).
pub(crate) const PATIENT_RESOURCES: &str = concat!(
    current_resources!(),
    " WHERE r.patient_key IN (SELECT key FROM source_patients WHERE enterprise_id = $1) ORDER BY r.resource_type, r.id"
);
/// Current resources of a type ($1) stored at or after $2, at most $3.
pub(crate) const RESOURCES_BY_TYPE: &str = concat!(
    current_resources!(),
    " WHERE r.resource_type = $1 AND r.stored_at >= $2 ORDER BY r.stored_at, r.id LIMIT $3"
);
/// The current version of one resource (type $1, id $2).
pub(crate) const RESOURCE: &str = concat!(
    current_resources!(),
    " WHERE r.resource_type = $1 AND r.id = $2"
);
/// Every version of one resource (type $1, id $2), oldest first.
pub(crate) const RESOURCE_HISTORY: &str = concat!(
    "SELECT ",
    resource_cols!(),
    " FROM resource_versions v WHERE v.resource_type = $1 AND v.id = $2 ORDER BY v.version"
);
/// Pending messages, oldest first, at most $1.
pub(crate) const PENDING: &str = concat!(
    inbox_select!(),
    " WHERE i.state = 'pending' ORDER BY i.id LIMIT $1"
);
/// One inbox message ($1).
pub(crate) const MESSAGE: &str = concat!(inbox_select!(), " WHERE i.id = $1");
/// Ids of the messages received in [$1, $2), oldest first, at most $3 (index
/// `inbox_received`).
pub(crate) const MESSAGES_RECEIVED: &str = "SELECT id FROM inbox WHERE received_at >= $1 AND received_at < $2 ORDER BY received_at, id LIMIT $3";
/// Open dead letters, oldest first.
pub(crate) const DEAD_LETTERS_OPEN: &str =
    concat!(dead_select!(), " WHERE status = 'open' ORDER BY id");
/// Every dead letter, oldest first.
pub(crate) const DEAD_LETTERS_ALL: &str = concat!(dead_select!(), " ORDER BY id");
/// One dead letter ($1).
pub(crate) const DEAD_LETTER: &str = concat!(dead_select!(), " WHERE id = $1");
/// Open review items, oldest first.
pub(crate) const REVIEWS_OPEN: &str = concat!(
    "SELECT ",
    review_cols!(),
    " FROM possible_matches WHERE status = 'open' ORDER BY id"
);
/// Every review item, oldest first.
pub(crate) const REVIEWS_ALL: &str = concat!(
    "SELECT ",
    review_cols!(),
    " FROM possible_matches ORDER BY id"
);
/// Sets a review item's status ($1), reviewer ($2) and time ($3) by id ($4), returning it.
pub(crate) const RESOLVE_REVIEW: &str = concat!(
    "UPDATE possible_matches SET status = $1, resolved_by = $2, resolved_at = $3 WHERE id = $4 RETURNING ",
    review_cols!()
);
/// Every version of a profile ($1), in save order.
pub(crate) const PROFILE_VERSIONS: &str =
    concat!(profile_select!(), " WHERE p.name = $1 ORDER BY p.seq");
/// One profile version (name $1, version $2).
pub(crate) const PROFILE: &str =
    concat!(profile_select!(), " WHERE p.name = $1 AND p.version = $2");
/// The active version of a profile ($1).
pub(crate) const ACTIVE_PROFILE: &str = concat!(
    profile_select!(),
    " WHERE p.name = $1 AND a.version IS NOT NULL"
);
/// Audit rows from $1 on, at most $2.
pub(crate) const AUDIT_FROM: &str =
    concat!(audit_select!(), " WHERE seq >= $1 ORDER BY seq LIMIT $2");
/// Audit rows after $1, at most $2 (a page of [`ChainCheck`]).
pub(crate) const AUDIT_AFTER: &str =
    concat!(audit_select!(), " WHERE seq > $1 ORDER BY seq LIMIT $2");
/// What one application of a message ($1) did, in order.
pub(crate) const LINEAGE: &str = "SELECT message_id, resource_type, resource_id, version, changed, source, profile_name, profile_version, converter_version, applied_at
     FROM lineage WHERE message_id = $1 ORDER BY seq";
/// Source patients of an enterprise id ($1).
pub(crate) const SOURCE_PATIENTS: &str = "SELECT key, source, enterprise_id, updated_at FROM source_patients WHERE enterprise_id = $1 ORDER BY key";
/// The MPI state row.
pub(crate) const MPI_STATE: &str = "SELECT state FROM mpi_state WHERE id = 1";
/// Saves the MPI state ($1) at $2.
pub(crate) const SAVE_MPI_STATE: &str =
    "INSERT INTO mpi_state (id, state, updated_at) VALUES (1, $1, $2)
     ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at";
/// What [`Store::mark_reprocessed`] does to the dead letter's message ($2) at $1: a dead
/// message is processed again (its first processing time kept, when it had one).
pub(crate) const MESSAGE_REPROCESSED: &str =
    "UPDATE inbox SET state = 'processed', processed_at = COALESCE(processed_at, $1)
     WHERE id = $2 AND state = 'dead'";
/// The [`Summary`] counts in one row (PostgreSQL's placeholder rows of `resources`, version
/// 0 while an apply holds them, are not resources).
pub(crate) const SUMMARY: &str = "SELECT (SELECT COUNT(*) FROM inbox),
        (SELECT COUNT(*) FROM duplicates),
        (SELECT COUNT(*) FROM dead_letters WHERE status = 'open'),
        (SELECT COUNT(*) FROM resources WHERE version > 0),
        (SELECT COUNT(*) FROM source_patients),
        (SELECT COUNT(DISTINCT enterprise_id) FROM source_patients),
        (SELECT COUNT(*) FROM possible_matches WHERE status = 'open')";

// ---------------------------------------------------------------------------------- decoders

fn lineage_of(
    source: String,
    profile_name: Option<String>,
    profile_version: Option<String>,
    converter_version: String,
) -> Lineage {
    Lineage {
        source,
        profile: match (profile_name, profile_version) {
            (Some(name), Some(version)) => Some(ProfileRef { name, version }),
            _ => None,
        },
        converter_version,
    }
}

/// A resource version ([`RESOURCE`] and the other resource queries), body opened.
pub(crate) fn resource<R: Cols>(r: &R, enc: Option<&Encryption>) -> StoreResult<StoredResource> {
    let (t, id, version): (String, String, i64) = (r.col(0)?, r.col(1)?, r.col(2)?);
    let body = Sealed::resource(&t, &id, version, r.col(3)?, r.col(4)?).open_as(
        enc,
        "not UTF-8",
        |b| String::from_utf8(b).ok(),
    )?;
    Ok(StoredResource {
        resource_type: t,
        id,
        version,
        body,
        patient_key: r.col(5)?,
        stored_at: r.col(6)?,
        message_id: MessageId(r.col(7)?),
        lineage: lineage_of(r.col(8)?, r.col(9)?, r.col(10)?, r.col(11)?),
    })
}

/// An inbox message ([`MESSAGE`], [`PENDING`]), payload opened.
pub(crate) fn inbox<R: Cols>(r: &R, enc: Option<&Encryption>) -> StoreResult<InboxMessage> {
    let (id, key, hash): (i64, String, String) = (r.col(0)?, r.col(1)?, r.col(2)?);
    let payload = Sealed::inbox(id, &key, &hash, r.col(3)?, r.col(4)?).open(enc)?;
    let kind: String = r.col(5)?;
    let state: String = r.col(9)?;
    Ok(InboxMessage {
        id: MessageId(id),
        key,
        content_hash: hash,
        payload,
        kind: PayloadKind::parse(&kind).ok_or_else(|| corrupt("inbox", id, "unknown kind"))?,
        source: r.col(6)?,
        message_type: r.col(7)?,
        received_at: r.col(8)?,
        state: InboxState::parse(&state).ok_or_else(|| corrupt("inbox", id, "unknown state"))?,
        control_id_reused: r.col(10)?,
        duplicates: fit(r.col(11)?, "inbox", id, "count out of range")?,
    })
}

/// A dead letter ([`DEAD_LETTER`] and the lists).
pub(crate) fn dead_letter<R: Cols>(r: &R) -> StoreResult<DeadLetter> {
    let id: i64 = r.col(0)?;
    let status: String = r.col(7)?;
    Ok(DeadLetter {
        id: DeadLetterId(id),
        failure: NewDeadLetter {
            message_id: r.col::<Option<i64>>(1)?.map(MessageId),
            stage: r.col(2)?,
            error_kind: r.col(3)?,
            location: r.col(4)?,
            attempts: fit(r.col(5)?, "dead_letters", id, "attempts out of range")?,
            reason: r.col(6)?,
        },
        status: DeadLetterStatus::parse(&status)
            .ok_or_else(|| corrupt("dead_letters", id, "unknown status"))?,
        created_at: r.col(8)?,
        updated_at: r.col(9)?,
    })
}

/// A review item ([`REVIEWS_OPEN`], [`RESOLVE_REVIEW`]).
pub(crate) fn review<R: Cols>(r: &R) -> StoreResult<PossibleMatch> {
    let id: i64 = r.col(0)?;
    let status: String = r.col(6)?;
    Ok(PossibleMatch {
        id: ReviewId(id),
        pair: NewPossibleMatch {
            source_key: r.col(1)?,
            enterprise_id: enterprise(r.col(2)?, "possible_matches", id)?,
            candidate_key: r.col(3)?,
            candidate_enterprise_id: enterprise(r.col(4)?, "possible_matches", id)?,
            weight: r.col::<f64>(5)? as f32,
        },
        status: ReviewStatus::parse(&status)
            .ok_or_else(|| corrupt("possible_matches", id, "unknown status"))?,
        resolved_by: r.col(7)?,
        created_at: r.col(8)?,
    })
}

/// A profile version ([`PROFILE`] and the others).
pub(crate) fn profile<R: Cols>(r: &R) -> StoreResult<StoredProfile> {
    Ok(StoredProfile {
        profile: ProfileRef {
            name: r.col(0)?,
            version: r.col(1)?,
        },
        body: r.col(2)?,
        saved_at: r.col(3)?,
        active: r.col(4)?,
    })
}

/// An audit row ([`AUDIT_FROM`], [`AUDIT_AFTER`]).
pub(crate) fn audit_entry<R: Cols>(r: &R) -> StoreResult<AuditEntry> {
    let seq: i64 = r.col(0)?;
    let kind: String = r.col(2)?;
    Ok(AuditEntry {
        seq,
        recorded_at: r.col(1)?,
        event: AuditEvent {
            kind: AuditEventKind::parse(&kind)
                .ok_or_else(|| corrupt("audit_log", seq, "unknown kind"))?,
            actor: r.col(3)?,
            source: r.col(4)?,
            message_id: r.col::<Option<i64>>(5)?.map(MessageId),
            entity: r.col(6)?,
            detail: r.col(7)?,
        },
        prev_hash: r.col(8)?,
        hash: r.col(9)?,
    })
}

/// One application of a message ([`LINEAGE`]).
pub(crate) fn lineage_entry<R: Cols>(r: &R) -> StoreResult<LineageEntry> {
    Ok(LineageEntry {
        message_id: MessageId(r.col(0)?),
        resource_type: r.col(1)?,
        id: r.col(2)?,
        version: r.col(3)?,
        changed: r.col(4)?,
        lineage: lineage_of(r.col(5)?, r.col(6)?, r.col(7)?, r.col(8)?),
        applied_at: r.col(9)?,
    })
}

/// A source patient ([`SOURCE_PATIENTS`]).
pub(crate) fn source_patient<R: Cols>(r: &R) -> StoreResult<SourcePatient> {
    let key: String = r.col(0)?;
    Ok(SourcePatient {
        source: r.col(1)?,
        enterprise_id: enterprise(r.col(2)?, "source_patients", "(key)")?,
        updated_at: r.col(3)?,
        key,
    })
}

/// An MPI record with its enterprise id, from (row id, key, enterprise id, key id, record).
pub(crate) fn patient_record<R: Cols>(
    r: &R,
    enc: Option<&Encryption>,
) -> StoreResult<(PatientRecord, EnterpriseId)> {
    let (rowid, key): (i64, String) = (r.col(0)?, r.col(1)?);
    let eid = enterprise(r.col(2)?, "source_patients", patient_row(rowid))?;
    let rec: PatientRecord = Sealed::patient(rowid, &key, r.col(3)?, r.col(4)?).open_as(
        enc,
        "record is not valid JSON",
        |b| serde_json::from_slice(&b).ok(),
    )?;
    Ok((rec, eid))
}

/// The counts of [`SUMMARY`].
pub(crate) fn summary<R: Cols>(r: &R) -> StoreResult<Summary> {
    let n = |i: usize| -> StoreResult<u64> { fit(r.col(i)?, "summary", i, "count out of range") };
    Ok(Summary {
        received: n(0)?,
        duplicates: n(1)?,
        dead_letter: n(2)?,
        resources: n(3)?,
        source_patients: n(4)?,
        enterprise_patients: n(5)?,
        possible_matches: n(6)?,
    })
}

// ---------------------------------------------------------------------------------- audit chain

/// Verifies the audit chain row by row, in sequence order (see [`Store::verify_audit`]).
pub(crate) struct ChainCheck {
    prev: [u8; 32],
    expected: i64,
    rows: u64,
}

impl ChainCheck {
    /// Rows read per page.
    pub(crate) const PAGE: i64 = 10_000;

    pub(crate) fn new() -> Self {
        Self {
            prev: GENESIS,
            expected: 1,
            rows: 0,
        }
    }

    /// The last sequence number checked (read the next page after it).
    pub(crate) fn last_seq(&self) -> i64 {
        self.expected - 1
    }

    /// Checks the next row; `Some` names the first row that does not verify.
    pub(crate) fn check<R: Cols>(&mut self, r: &R) -> Option<AuditVerification> {
        let broken = |seq, reason| Some(AuditVerification::Broken { seq, reason });
        let seq = match r.col::<i64>(0) {
            Ok(seq) => seq,
            Err(_) => return broken(self.expected, "unreadable row"),
        };
        if seq != self.expected {
            return broken(seq, "sequence gap");
        }
        let Ok(e) = audit_entry(r) else {
            return broken(seq, "unreadable row");
        };
        if e.prev_hash != hex_lower(&self.prev) {
            return broken(seq, "previous hash mismatch");
        }
        let h = AuditEntry::chain_hash(
            &self.prev,
            &AuditEntry::canonical(e.seq, e.recorded_at, &e.event),
        );
        if e.hash != hex_lower(&h) {
            return broken(seq, "hash mismatch");
        }
        self.prev = h;
        self.expected += 1;
        self.rows += 1;
        None
    }

    /// Every row verified.
    pub(crate) fn intact(self) -> AuditVerification {
        AuditVerification::Intact {
            rows: self.rows,
            head: hex_lower(&self.prev),
        }
    }
}

// ---------------------------------------------------------------------------------- MPI state

/// The MPI state saved beside the records (one JSON value in `mpi_state`).
#[derive(serde::Serialize, serde::Deserialize)]
struct MpiStateData {
    model: FsModel,
    next_eid: u64,
    retired: Vec<(EnterpriseId, EnterpriseId)>,
    merges: Vec<MergeEvent>,
}

/// The JSON saved for a snapshot's state (its records are saved as rows).
pub(crate) fn state_json(s: &IndexSnapshot) -> StoreResult<String> {
    let data = MpiStateData {
        model: s.model.clone(),
        next_eid: s.next_eid,
        retired: s.retired.iter().map(|(a, b)| (*a, *b)).collect(),
        merges: s.merges.clone(),
    };
    serde_json::to_string(&data).map_err(|_| corrupt("mpi_state", 1, "state does not serialize"))
}

/// The snapshot of a saved state (`None`: never saved) and the records.
pub(crate) fn snapshot(
    state: Option<String>,
    records: Vec<(PatientRecord, EnterpriseId)>,
) -> StoreResult<Option<IndexSnapshot>> {
    let Some(state) = state else {
        if records.is_empty() {
            return Ok(None);
        }
        return Err(corrupt("mpi_state", 1, "records saved without MPI state"));
    };
    let data: MpiStateData = serde_json::from_str(&state)
        .map_err(|_| corrupt("mpi_state", 1, "state is not valid JSON"))?;
    let next_eid = records
        .iter()
        .map(|(_, e)| e.0 + 1)
        .fold(data.next_eid, u64::max);
    Ok(Some(IndexSnapshot {
        model: data.model,
        records,
        next_eid,
        retired: data.retired.into_iter().collect(),
        merges: data.merges,
    }))
}

/// The id `eid` resolves to through the merges of a saved state (itself when not retired).
pub(crate) fn surviving_id(state: Option<String>, eid: EnterpriseId) -> StoreResult<EnterpriseId> {
    #[derive(serde::Deserialize)]
    struct Retired {
        retired: Vec<(EnterpriseId, EnterpriseId)>,
    }
    let Some(state) = state else {
        return Ok(eid);
    };
    let r: Retired = serde_json::from_str(&state)
        .map_err(|_| corrupt("mpi_state", 1, "state is not valid JSON"))?;
    let map: HashMap<EnterpriseId, EnterpriseId> = r.retired.into_iter().collect();
    let mut e = eid;
    // Bounded: a cycle (never written by the MPI) cannot loop forever.
    for _ in 0..1024 {
        match map.get(&e) {
            Some(next) => e = *next,
            None => break,
        }
    }
    Ok(e)
}

// ---------------------------------------------------------------------------------- query audit

/// The `Read` event of a query method (who read what; counts only, no content).
fn read_event(actor: &str, entity: String, detail: String) -> Vec<AuditEvent> {
    vec![AuditEvent::new(AuditEventKind::Read, actor)
        .entity(entity)
        .detail(detail)]
}

/// [`Store::patient_everything`] asked for `requested` and answered `p` (the survivor after a
/// merge).
pub(crate) fn everything_read(
    actor: &str,
    requested: EnterpriseId,
    p: &EnterprisePatient,
) -> Vec<AuditEvent> {
    let redirect = if requested == p.enterprise_id {
        String::new()
    } else {
        format!(" (merged: {requested} redirected)")
    };
    read_event(
        actor,
        p.enterprise_id.to_string(),
        format!("$everything: {} resources{redirect}", p.resources.len()),
    )
}

/// [`Store::resources_by_type`] answered `n` resources.
pub(crate) fn by_type_read(actor: &str, resource_type: &str, n: usize) -> Vec<AuditEvent> {
    read_event(
        actor,
        resource_type.to_string(),
        format!("by type: {n} resources"),
    )
}

/// [`Store::resource`] read one resource.
pub(crate) fn resource_read(actor: &str, resource_type: &str, id: &str) -> Vec<AuditEvent> {
    read_event(actor, format!("{resource_type}/{id}"), "read".into())
}

/// [`Store::resource_history`] answered `n` versions.
pub(crate) fn history_read(
    actor: &str,
    resource_type: &str,
    id: &str,
    n: usize,
) -> Vec<AuditEvent> {
    read_event(
        actor,
        format!("{resource_type}/{id}"),
        format!("history: {n} versions"),
    )
}
