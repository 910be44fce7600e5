//! The [`Store`] on PostgreSQL (feature `postgres`): `tokio-postgres` with a
//! `deadpool-postgres` pool, shared by several processes (issue 16 item 2).
//!
//! * **Same contract as [`SqliteStore`](super::SqliteStore)**: the same methods, the same
//!   results, the same audit events, the same [`Summary`] JSON. `tests/postgres_store.rs`
//!   runs the shared behavioural suite (`tests/common/store_suite.rs`) on both backends.
//! * **Durability**: every write is one transaction, committed before the call returns (with
//!   the server's default `synchronous_commit = on`, the commit waits for the WAL flush), so
//!   [`Store::accept`] returning means the message is kept: ACK.
//! * **Several processes at once**:
//!   - `accept` holds a transaction-level advisory lock on the idempotency key (a hash of it)
//!     while it looks for earlier messages under the key and inserts with
//!     `INSERT … ON CONFLICT (idem_key, content_hash) DO NOTHING`: of N processes accepting
//!     the same message at once exactly one gets [`Accepted::New`], the others
//!     [`Accepted::Duplicate`]; a different payload under the key is
//!     [`Accepted::ControlIdReused`] whichever process sees it.
//!   - `apply` locks the message's inbox row (`SELECT … FOR UPDATE`) first: of two processes
//!     applying one message in [`ApplyMode::First`], the second waits and then finds it
//!     processed (`already_processed`, nothing written). Resource rows are locked in a fixed
//!     (type, id) order before any write (no deadlock between two messages touching the same
//!     resources), so a new version number is never taken twice. A resource the message leaves
//!     unchanged (a Location or Organization most messages repeat) takes a share lock only:
//!     messages naming it apply side by side instead of queueing on its row.
//!   - The audit chain's head is a one-row table read `FOR UPDATE` at the end of every writing
//!     transaction, just before its commit: appenders queue on it and the chain stays linear
//!     in commit order across processes.
//!   - A deadlock or serialization failure detected by the server rolls the transaction back
//!     and runs it again (a few times) before reporting an error.
//! * **Migrations**: `migrations/postgres/NNNN_*.sql`, embedded, applied by
//!   [`PgStore::connect`] in one transaction under `pg_advisory_xact_lock`, recorded in the
//!   `ehrkit_schema` table: processes starting at once apply each migration once.
//! * **Connection loss**: a refused connection, a closed socket, a server shutting down or
//!   restarting, a statement timeout or a pool timeout are [`StoreError::Io`]
//!   ([`StoreError::is_io`]): the runtime NAKs / pauses and retries; nothing is
//!   dead-lettered for it. Broken connections are dropped by the pool and new ones opened
//!   when the server is back.
//! * **Encryption at rest** (optional, [`Encryption`]): as in SQLite, inbox payloads,
//!   resource bodies and MPI records are AES-256-GCM sealed per row with the same associated
//!   data; ids, types, times, hashes and states stay plain for queries.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime, Transaction,
};
use ehrkit_identity::{EnterpriseId, IndexSnapshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::error::SharedSource;
use super::rows::{self, corrupt, parse_hash, patient_aad, resource_aad, seal, Cols};
use super::*;

/// One schema migration: its version (1, 2, …) within its component, a name, and its SQL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    pub(crate) version: u32,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// The store's migrations (component `"store"`), in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_init",
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "0002_inbox_received",
        sql: include_str!("../../migrations/postgres/0002_inbox_received.sql"),
    },
];

/// Advisory lock (bigint key space) held while migrations run.
const MIGRATION_LOCK: i64 = 0x6568_726b_6d69_6772; // "ehrkmigr"
/// Advisory lock class (int4, int4 key space) of `accept`'s per-key lock.
const ACCEPT_LOCK_CLASS: i32 = 0x6568_6b31; // "ehk1"
/// Times a transaction is run again after a deadlock or serialization failure.
const RETRIES: u32 = 5;

/// Options of [`PgStore::connect`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PgOptions {
    /// Encrypt payloads, resource bodies and MPI records with these keys (`None`: plain).
    pub encryption: Option<Encryption>,
    /// Connections kept by the pool (the most statements in flight at once). Default 16.
    pub pool_size: usize,
    /// Server-side `statement_timeout` of every connection; `None` leaves the server's.
    /// Default 30 s. A statement cut by it is a [`StoreError::Io`] of kind `TimedOut`.
    pub statement_timeout: Option<Duration>,
    /// How long opening a connection may take. Default 5 s.
    pub connect_timeout: Duration,
    /// How long a call waits for a free connection of the pool. Default 30 s.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            encryption: None,
            pool_size: 16,
            statement_timeout: Some(Duration::from_secs(30)),
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

impl PgOptions {
    /// Sets the encryption keys.
    pub fn encryption(mut self, e: Encryption) -> Self {
        self.encryption = Some(e);
        self
    }

    /// Sets the pool size (at least 1).
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }

    /// Sets the statement timeout (`None`: the server's setting).
    pub fn statement_timeout(mut self, d: Option<Duration>) -> Self {
        self.statement_timeout = d;
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sets how long a call waits for a pooled connection.
    pub fn acquire_timeout(mut self, d: Duration) -> Self {
        self.acquire_timeout = d;
        self
    }
}

/// The PostgreSQL [`Store`]. Cheap to clone (the pool is shared); share it with `Arc` as the
/// SQLite store.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    enc: Option<Encryption>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No connection string: it may hold a password.
        f.debug_struct("PgStore")
            .field("pool_size", &self.pool.status().max_size)
            .field("encrypted", &self.enc.is_some())
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------- errors

fn pg(op: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| pg_err(op, e)
}

/// Maps a client error: what a retry later may cure (connection refused or lost, server
/// shutting down or starting, out of disk, statement timeout, deadlock) is
/// [`StoreError::Io`]; a column the server does not know (`42703`, the schema changed behind
/// the store) is [`StoreError::Schema`] naming it; the rest (SQL errors, constraint
/// violations) is [`StoreError::Backend`]. No other message text of the server is copied (it
/// may quote values).
pub(crate) fn pg_err(op: &'static str, e: tokio_postgres::Error) -> StoreError {
    use std::io::ErrorKind as K;
    if let Some(column) = undefined_column(&e) {
        return StoreError::Schema {
            column,
            source: Arc::new(e),
        };
    }
    let kind = if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        match code {
            "53100" => Some(K::StorageFull),
            "40001" | "40P01" | "55P03" => Some(K::ResourceBusy),
            "57014" => Some(K::TimedOut),
            "57P01" | "57P02" | "57P03" | "57P05" => Some(K::ConnectionAborted),
            c if c.starts_with("08") || c.starts_with("53") || c.starts_with("58") => {
                Some(K::ConnectionAborted)
            }
            _ => None,
        }
    } else if e.is_closed() {
        Some(K::ConnectionAborted)
    } else if let Some(io) =
        std::error::Error::source(&e).and_then(|s| s.downcast_ref::<std::io::Error>())
    {
        Some(io.kind())
    } else {
        // Connect timeouts, protocol errors on a dying connection: transient.
        let text = e.to_string();
        (text.contains("timeout") || text.contains("connection") || text.contains("unexpected"))
            .then_some(K::ConnectionAborted)
    };
    let source: SharedSource = Arc::new(e);
    match kind {
        Some(kind) => StoreError::Io { op, kind, source },
        None => StoreError::Backend { op, source },
    }
}

/// The column an "undefined column" error (`42703`: a column dropped or renamed behind the
/// store) names, as the server quotes it in `column "x" does not exist` or
/// `column i.x does not exist` (a column name, never a value).
fn undefined_column(e: &tokio_postgres::Error) -> Option<String> {
    let db = e.as_db_error()?;
    if db.code().code() != "42703" {
        return None;
    }
    let name = db
        .message()
        .strip_prefix("column ")
        .and_then(|m| m.strip_suffix(" does not exist"))
        .unwrap_or("(unnamed)");
    Some(name.trim_matches('"').to_owned())
}

fn pool_err(op: &'static str, e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => pg_err(op, e),
        PoolError::Timeout(_) => StoreError::Io {
            op,
            kind: std::io::ErrorKind::TimedOut,
            source: Arc::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no PostgreSQL connection available in time",
            )),
        },
        PoolError::Closed => StoreError::Closed,
        other => StoreError::Io {
            op,
            kind: std::io::ErrorKind::Other,
            source: Arc::new(std::io::Error::other(other.to_string())),
        },
    }
}

fn retryable(e: &StoreError) -> bool {
    e.io_kind() == Some(std::io::ErrorKind::ResourceBusy)
}

// ---------------------------------------------------------------------------------- migrations

/// Applies the migrations of `component` not yet recorded in `ehrkit_schema`, in one
/// transaction under an advisory lock (several processes starting at once: the first applies,
/// the others wait and find them applied). Fails with [`StoreError::SchemaTooNew`] when the
/// database records a version of the component newer than the list knows.
pub(crate) async fn run_migrations(
    client: &mut deadpool_postgres::Client,
    component: &str,
    list: &[Migration],
) -> StoreResult<()> {
    let mig = |version: u32| {
        move |e: tokio_postgres::Error| StoreError::Migration {
            version,
            source: Arc::new(e),
        }
    };
    let tx = client.transaction().await.map_err(pg("migrate"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg("migrate"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS ehrkit_schema (
             component  TEXT    NOT NULL,
             version    INTEGER NOT NULL,
             name       TEXT    NOT NULL,
             applied_at BIGINT  NOT NULL,
             PRIMARY KEY (component, version))",
    )
    .await
    .map_err(pg("migrate"))?;
    let applied: Vec<u32> = tx
        .query(
            "SELECT version FROM ehrkit_schema WHERE component = $1",
            &[&component],
        )
        .await
        .map_err(pg("migrate"))?
        .iter()
        .map(|r| r.col::<i32>(0).map(|v| v as u32))
        .collect::<StoreResult<_>>()?;
    let supported = list.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(found) = applied.iter().copied().filter(|v| *v > supported).max() {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    for m in list {
        if applied.contains(&m.version) {
            continue;
        }
        tx.batch_execute(m.sql).await.map_err(mig(m.version))?;
        tx.execute(
            "INSERT INTO ehrkit_schema (component, version, name, applied_at) VALUES ($1, $2, $3, $4)",
            &[&component, &(m.version as i32), &m.name, &now_ms()],
        )
        .await
        .map_err(mig(m.version))?;
        tracing::info!(component, version = m.version, "postgres schema migrated");
    }
    tx.commit().await.map_err(pg("migrate"))
}

// ---------------------------------------------------------------------------------- transactions

/// Runs `$body` (an expression using `$tx: &Transaction` and `$audit: &mut Vec<AuditEvent>`,
/// giving a future of `StoreResult<T>`) in a transaction, appends the collected audit events
/// to the chain under the head lock, commits; runs it all again after a deadlock or
/// serialization failure.
macro_rules! transact {
    ($store:expr, $op:expr, |$tx:ident, $audit:ident| $body:expr) => {{
        let mut attempt = 0u32;
        loop {
            let res: StoreResult<_> = async {
                let mut client = $store.client($op).await?;
                let $tx = client.transaction().await.map_err(pg($op))?;
                #[allow(unused_mut)]
                let mut $audit: Vec<AuditEvent> = Vec::new();
                let v = typed({ $body }).await?;
                append_chain(&$tx, &$audit).await?;
                $tx.commit().await.map_err(pg("commit"))?;
                Ok(v)
            }
            .await;
            match res {
                Err(e) if retryable(&e) && attempt < RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
                }
                other => break other,
            }
        }
    }};
}

/// Fixes the output type of a transaction body's future (for `?` inside it).
fn typed<T, F: std::future::Future<Output = StoreResult<T>>>(f: F) -> F {
    f
}

/// The audit rows and the new head in one statement (one round trip while the head is locked).
const AUDIT_INSERT: &str = "WITH appended AS (
       INSERT INTO audit_log (seq, recorded_at, kind, actor, source, message_id, entity, detail, prev_hash, hash)
       SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[]))
     UPDATE audit_head SET seq = $11, hash = $12 WHERE id = 1";

/// Appends events to the hash chain inside `tx`, holding the head row's lock until commit.
async fn append_chain(tx: &Transaction<'_>, events: &[AuditEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let row = tx
        .query_one(
            &tx.prepare_cached("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
                .await
                .map_err(pg("audit"))?,
            &[],
        )
        .await
        .map_err(pg("audit"))?;
    let mut seq: i64 = row.col(0)?;
    let head: String = row.col(1)?;
    let mut prev = parse_hash(&head).ok_or_else(|| corrupt("audit_head", 1, "hash is not hex"))?;
    let at = now_ms();
    let n = events.len();
    let (mut seqs, mut ats, mut kinds, mut actors) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut sources, mut mids, mut entities, mut details, mut prevs, mut hashes) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for ev in events {
        seq += 1;
        let h = AuditEntry::chain_hash(&prev, &AuditEntry::canonical(seq, at, ev));
        seqs.push(seq);
        ats.push(at);
        kinds.push(ev.kind.as_str());
        actors.push(ev.actor.as_str());
        sources.push(ev.source.as_deref());
        mids.push(ev.message_id.map(|m| m.0));
        entities.push(ev.entity.as_deref());
        details.push(ev.detail.as_deref());
        prevs.push(hex_lower(&prev));
        hashes.push(hex_lower(&h));
        prev = h;
    }
    let st = tx.prepare_cached(AUDIT_INSERT).await.map_err(pg("audit"))?;
    let head = hex_lower(&prev);
    tx.execute(
        &st,
        &[
            &seqs, &ats, &kinds, &actors, &sources, &mids, &entities, &details, &prevs, &hashes,
            &seq, &head,
        ],
    )
    .await
    .map_err(pg("audit"))?;
    Ok(())
}

/// Runs a prepared (cached) query.
async fn query<C: GenericClient>(
    c: &C,
    op: &'static str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Vec<Row>> {
    let st = c.prepare_cached(sql).await.map_err(pg(op))?;
    c.query(&st, params).await.map_err(pg(op))
}

async fn query_opt<C: GenericClient>(
    c: &C,
    op: &'static str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Option<Row>> {
    let st = c.prepare_cached(sql).await.map_err(pg(op))?;
    c.query_opt(&st, params).await.map_err(pg(op))
}

async fn execute<C: GenericClient>(
    c: &C,
    op: &'static str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<u64> {
    let st = c.prepare_cached(sql).await.map_err(pg(op))?;
    c.execute(&st, params).await.map_err(pg(op))
}

// ---------------------------------------------------------------------------------- store

impl PgStore {
    /// Connects to PostgreSQL (`url_or_config`: a `postgres://` URL or a `key=value`
    /// connection string, as `tokio_postgres::Config` parses), applies the migrations and
    /// returns the store. No TLS: reach the server over loopback, a Unix socket or a private
    /// network (TLS to the database is not supported yet).
    pub async fn connect(url_or_config: &str, opts: PgOptions) -> StoreResult<Self> {
        let cfg: tokio_postgres::Config =
            url_or_config.parse().map_err(|e| StoreError::Backend {
                op: "connect",
                source: Arc::new(e),
            })?;
        Self::connect_config(cfg, opts).await
    }

    /// [`PgStore::connect`] with a parsed configuration.
    pub async fn connect_config(
        mut cfg: tokio_postgres::Config,
        opts: PgOptions,
    ) -> StoreResult<Self> {
        if let Some(t) = opts.statement_timeout {
            let mut o = cfg.get_options().unwrap_or_default().to_string();
            if !o.is_empty() {
                o.push(' ');
            }
            o.push_str(&format!("-c statement_timeout={}", t.as_millis()));
            cfg.options(&o);
        }
        if cfg.get_application_name().is_none() {
            cfg.application_name("ehrkit-pipeline");
        }
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(opts.connect_timeout);
        }
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                // A connection whose socket closed (server restart) is dropped on checkout;
                // one that died unnoticed fails its next statement (an Io error, retried by
                // the caller) and is dropped then.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(opts.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(opts.acquire_timeout))
            .create_timeout(Some(opts.connect_timeout))
            .recycle_timeout(Some(opts.connect_timeout))
            .build()
            .map_err(|e| StoreError::Backend {
                op: "connect",
                source: Arc::new(std::io::Error::other(e.to_string())),
            })?;
        let store = Self {
            pool,
            enc: opts.encryption,
        };
        let mut client = store.client("connect").await?;
        run_migrations(&mut client, "store", MIGRATIONS).await?;
        Ok(store)
    }

    /// The connection pool (for a module sharing the database, e.g. a shared MPI).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn client(&self, op: &'static str) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| pool_err(op, e))
    }

    /// Resource rows of one of `rows.rs`'s resource queries, bodies opened.
    async fn query_resources(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<StoredResource>> {
        let enc = self.enc.as_ref();
        self.select("query", sql, params, |r| rows::resource(r, enc))
            .await
    }

    /// The rows of a read on a pooled connection, each decoded with `f`.
    async fn select<T>(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        f: impl FnMut(&Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let c = self.client(op).await?;
        query(&c, op, sql, params).await?.iter().map(f).collect()
    }

    /// [`PgStore::select`] for a read of one row at most.
    async fn select_one<T>(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        f: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let c = self.client(op).await?;
        query_opt(&c, op, sql, params)
            .await?
            .as_ref()
            .map(f)
            .transpose()
    }
}

/// A row limit as SQL takes it.
fn sql_limit(n: usize) -> i64 {
    n.min(i64::MAX as usize) as i64
}

// ---------------------------------------------------------------------------------- row readers

async fn save_state(tx: &Transaction<'_>, s: &IndexSnapshot) -> StoreResult<()> {
    let json = rows::state_json(s)?;
    execute(tx, "save mpi", rows::SAVE_MPI_STATE, &[&json, &now_ms()]).await?;
    Ok(())
}

/// The saved MPI state (`None` before any).
async fn mpi_state<C: GenericClient>(c: &C, op: &'static str) -> StoreResult<Option<String>> {
    query_opt(c, op, rows::MPI_STATE, &[])
        .await?
        .map(|r| r.col(0))
        .transpose()
}

async fn upsert_patient(
    tx: &Transaction<'_>,
    enc: Option<&Encryption>,
    p: &PatientLink,
    at: TimestampMs,
) -> StoreResult<()> {
    let key = &p.record.key;
    let json = serde_json::to_vec(&p.record)
        .map_err(|_| corrupt("source_patients", "(new)", "record does not serialize"))?;
    let (kid, data) = seal(enc, "source_patients", &patient_aad(key), &json)?;
    execute(
        tx,
        "upsert patient",
        "INSERT INTO source_patients (key, source, enterprise_id, updated_at, key_id, record)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (key) DO UPDATE SET source = excluded.source, enterprise_id = excluded.enterprise_id,
           updated_at = excluded.updated_at, key_id = excluded.key_id, record = excluded.record",
        &[
            key,
            &p.source,
            &(p.enterprise_id.0 as i64),
            &at,
            &kid,
            &data,
        ],
    )
    .await?;
    Ok(())
}

/// The advisory lock key of an idempotency key (first 4 bytes of its SHA-256; two keys
/// sharing it only wait for each other).
fn key_lock(key: &str) -> i32 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(key.as_bytes());
    i32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

async fn accept_tx(
    tx: &Transaction<'_>,
    enc: Option<&Encryption>,
    msg: &InboundMessage,
    audit: &mut Vec<AuditEvent>,
) -> StoreResult<Accepted> {
    let key = msg.key.canonical();
    let hash = sha256_hex(&msg.payload);
    let at = now_ms();
    // Every accept of this key waits here for the others' commits, so what it reads next is
    // final and the New / Duplicate / ControlIdReused decision cannot race.
    execute(
        tx,
        "accept",
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&ACCEPT_LOCK_CLASS, &key_lock(&key)],
    )
    .await?;
    let existing: Vec<(i64, String)> = query(
        tx,
        "accept",
        "SELECT id, content_hash FROM inbox WHERE idem_key = $1 ORDER BY id",
        &[&key],
    )
    .await?
    .iter()
    .map(|r| Ok((r.col(0)?, r.col(1)?)))
    .collect::<StoreResult<_>>()?;
    let actor = msg.peer.clone().unwrap_or_else(|| msg.source.clone());
    if let Some((id, _)) = existing.iter().find(|(_, h)| *h == hash) {
        execute(
            tx,
            "accept",
            "INSERT INTO duplicates (message_id, received_at, peer) VALUES ($1, $2, $3)",
            &[id, &at, &msg.peer],
        )
        .await?;
        let mut ev = AuditEvent::new(AuditEventKind::Duplicate, actor)
            .source(msg.source.clone())
            .message(MessageId(*id));
        ev.detail = msg.message_type.clone();
        audit.push(ev);
        return Ok(Accepted::Duplicate(MessageId(*id)));
    }
    let (kid, payload) = seal(enc, "inbox", &rows::inbox_aad(&key, &hash), &msg.payload)?;
    let reused = !existing.is_empty();
    let row = query_opt(
        tx,
        "accept",
        "INSERT INTO inbox (idem_key, content_hash, kind, source, message_type, peer, received_at, control_id_reused, key_id, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (idem_key, content_hash) DO NOTHING RETURNING id",
        &[
            &key,
            &hash,
            &msg.kind.as_str(),
            &msg.source,
            &msg.message_type,
            &msg.peer,
            &at,
            &reused,
            &kid,
            &payload,
        ],
    )
    .await?;
    let Some(row) = row else {
        // Only possible if a writer bypassed the key lock: run again, it is a duplicate then.
        return Err(StoreError::Io {
            op: "accept",
            kind: std::io::ErrorKind::ResourceBusy,
            source: Arc::new(std::io::Error::other(
                "concurrent insert of the same message",
            )),
        });
    };
    let id = MessageId(row.col(0)?);
    let kind = if reused {
        AuditEventKind::ControlIdReused
    } else {
        AuditEventKind::Received
    };
    let mut ev = AuditEvent::new(kind, actor)
        .source(msg.source.clone())
        .message(id);
    ev.detail = msg.message_type.clone();
    audit.push(ev);
    Ok(match existing.first() {
        Some((orig, _)) => Accepted::ControlIdReused {
            id,
            original: MessageId(*orig),
        },
        None => Accepted::New(id),
    })
}

async fn apply_tx(
    tx: &Transaction<'_>,
    enc: Option<&Encryption>,
    batch: &ApplyBatch,
    audit: &mut Vec<AuditEvent>,
) -> StoreResult<Applied> {
    let mid = batch.message_id;
    // The inbox row's lock: a second apply of this message waits for the first's commit and
    // then reads its final state.
    let state: String = query_opt(
        tx,
        "apply",
        "SELECT state FROM inbox WHERE id = $1 FOR UPDATE",
        &[&mid.0],
    )
    .await?
    .ok_or_else(|| rows::not_found("message", mid))?
    .col(0)?;
    if batch.mode == ApplyMode::First && state != InboxState::Pending.as_str() {
        return Ok(Applied {
            resources: Vec::new(),
            already_processed: true,
        });
    }
    let at = now_ms();
    let lin = &batch.lineage;
    let (pn, pv) = match &lin.profile {
        Some(p) => (Some(p.name.as_str()), Some(p.version.as_str())),
        None => (None, None),
    };
    // Lock every resource row in (type, id) order and read its current version and hash.
    // A resource this message leaves as it is (same content as its current version: a shared
    // Location or Organization most messages repeat) takes a SHARE lock, so the many messages
    // naming it do not queue behind each other; a resource it creates or changes takes the
    // row's exclusive lock (creating a placeholder, version 0, for a new one). A writer waits
    // for the share holders and they for it, as with one lock: the outcome is the one of some
    // serial order. Which lock a resource needs is guessed from a lock-free read first; a
    // resource changed by another writer between that read and the share lock is not written
    // under the share lock (no upgrade, which could deadlock): the transaction runs again.
    let hashes: Vec<String> = batch
        .resources
        .iter()
        .map(|r| sha256_hex(r.body.as_bytes()))
        .collect();
    let mut current: BTreeMap<(&str, &str), (i64, String)> = BTreeMap::new();
    for r in &batch.resources {
        current.insert(
            (r.resource_type.as_str(), r.id.as_str()),
            (0, String::new()),
        );
    }
    let keys: Vec<(&str, &str)> = current.keys().copied().collect();
    let (types, ids): (Vec<&str>, Vec<&str>) = keys.iter().copied().unzip();
    let seen: HashMap<(String, String), String> = query(
        tx,
        "apply",
        "SELECT r.resource_type, r.id, r.content_hash FROM resources r
         JOIN UNNEST($1::text[], $2::text[]) AS k (resource_type, id)
           ON r.resource_type = k.resource_type AND r.id = k.id
         WHERE r.version > 0",
        &[&types, &ids],
    )
    .await?
    .iter()
    .map(|r| Ok(((r.col(0)?, r.col(1)?), r.col(2)?)))
    .collect::<StoreResult<_>>()?;
    // The keys whose every resource in the batch has the content seen: share-locked.
    let mut shared: BTreeMap<(&str, &str), bool> = BTreeMap::new();
    for (r, hash) in batch.resources.iter().zip(&hashes) {
        let same = seen
            .get(&(r.resource_type.clone(), r.id.clone()))
            .is_some_and(|h| h == hash);
        shared
            .entry((r.resource_type.as_str(), r.id.as_str()))
            .and_modify(|s| *s &= same)
            .or_insert(same);
    }
    for (t, id) in keys {
        let share = shared.get(&(t, id)).copied().unwrap_or(false);
        let sql = if share {
            "SELECT version, content_hash FROM resources
             WHERE resource_type = $1 AND id = $2 FOR SHARE"
        } else {
            "INSERT INTO resources (resource_type, id, version, content_hash, patient_key, stored_at)
             VALUES ($1, $2, 0, '', NULL, 0)
             ON CONFLICT (resource_type, id) DO UPDATE SET version = resources.version
             RETURNING version, content_hash"
        };
        let row = query(tx, "apply", sql, &[&t, &id]).await?;
        let row = row
            .first()
            .ok_or_else(|| corrupt("resources", format!("{t}/{id}"), "lock returned no row"))?;
        let (version, hash): (i64, String) = (row.col(0)?, row.col(1)?);
        if share && (version == 0 || seen.get(&(t.to_owned(), id.to_owned())) != Some(&hash)) {
            // Changed since the lock-free read: run again (it reads the new content then).
            return Err(StoreError::Io {
                op: "apply",
                kind: std::io::ErrorKind::ResourceBusy,
                source: Arc::new(std::io::Error::other(
                    "resource changed by a concurrent apply",
                )),
            });
        }
        current.insert((t, id), (version, hash));
    }
    // The new versions, the current-version updates and the lineage rows are decided here and
    // written with one statement each (arrays, UNNEST): three round trips whatever the number
    // of resources, while the rows above stay locked.
    let n = batch.resources.len();
    let mut outcomes = Vec::with_capacity(n);
    let mut v_rows: Vec<usize> = Vec::new();
    let (mut v_versions, mut v_hashes, mut v_kids, mut v_bodies) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Per resource the last new version (one resource twice in a batch: the last one counts).
    let mut heads: BTreeMap<(&str, &str), (usize, i64, String)> = BTreeMap::new();
    let (mut l_versions, mut l_changed) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (i, (r, hash)) in batch.resources.iter().zip(hashes).enumerate() {
        let cur = current
            .get_mut(&(r.resource_type.as_str(), r.id.as_str()))
            .ok_or_else(|| corrupt("resources", &r.id, "resource not locked"))?;
        let (version, changed) = match &*cur {
            (v, h) if *v > 0 && *h == hash => (*v, false),
            (v, _) => (*v + 1, true),
        };
        if changed {
            let aad = resource_aad(&r.resource_type, &r.id, version);
            let (kid, body) = seal(enc, "resource_versions", &aad, r.body.as_bytes())?;
            v_rows.push(i);
            v_versions.push(version);
            v_hashes.push(hash.clone());
            v_kids.push(kid);
            v_bodies.push(body);
            heads.insert(
                (r.resource_type.as_str(), r.id.as_str()),
                (i, version, hash.clone()),
            );
            *cur = (version, hash);
        }
        l_versions.push(version);
        l_changed.push(changed);
        outcomes.push(ResourceOutcome {
            resource_type: r.resource_type.clone(),
            id: r.id.clone(),
            version,
            changed,
        });
    }
    let col = |rows: &[usize]| -> (Vec<&str>, Vec<&str>, Vec<Option<&str>>) {
        let rs = rows.iter().map(|&i| &batch.resources[i]);
        (
            rs.clone().map(|r| r.resource_type.as_str()).collect(),
            rs.clone().map(|r| r.id.as_str()).collect(),
            rs.map(|r| r.patient_key.as_deref()).collect(),
        )
    };
    if !v_rows.is_empty() {
        let (types, ids, patients) = col(&v_rows);
        execute(
            tx,
            "apply",
            "INSERT INTO resource_versions (resource_type, id, version, content_hash, patient_key, stored_at, message_id, source, profile_name, profile_version, converter_version, key_id, body)
             SELECT t, i, v, h, p, $6, $7, $8, $9, $10, $11, k, b
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $12::bigint[], $13::bytea[]) AS u (t, i, v, h, p, k, b)",
            &[
                &types,
                &ids,
                &v_versions,
                &v_hashes,
                &patients,
                &at,
                &mid.0,
                &lin.source,
                &pn,
                &pv,
                &lin.converter_version,
                &v_kids,
                &v_bodies,
            ],
        )
        .await?;
        let head_rows: Vec<usize> = heads.values().map(|(i, _, _)| *i).collect();
        let head_versions: Vec<i64> = heads.values().map(|(_, v, _)| *v).collect();
        let head_hashes: Vec<&str> = heads.values().map(|(_, _, h)| h.as_str()).collect();
        let (types, ids, patients) = col(&head_rows);
        execute(
            tx,
            "apply",
            "UPDATE resources r SET version = u.v, content_hash = u.h, patient_key = u.p, stored_at = $6
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[]) AS u (t, i, v, h, p)
             WHERE r.resource_type = u.t AND r.id = u.i",
            &[&types, &ids, &head_versions, &head_hashes, &patients, &at],
        )
        .await?;
    }
    if n > 0 {
        let all: Vec<usize> = (0..n).collect();
        let (types, ids, _) = col(&all);
        // Lineage rows in the batch's order (their seq gives the order lineage() reports).
        execute(
            tx,
            "apply",
            "INSERT INTO lineage (message_id, resource_type, resource_id, version, changed, source, profile_name, profile_version, converter_version, applied_at)
             SELECT $1, t, i, v, c, $6, $7, $8, $9, $10
             FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bool[]) WITH ORDINALITY AS u (t, i, v, c, n)
             ORDER BY n",
            &[
                &mid.0,
                &types,
                &ids,
                &l_versions,
                &l_changed,
                &lin.source,
                &pn,
                &pv,
                &lin.converter_version,
                &at,
            ],
        )
        .await?;
    }
    for p in &batch.patients {
        upsert_patient(tx, enc, p, at).await?;
        audit.push(
            AuditEvent::new(AuditEventKind::Linked, "pipeline")
                .source(p.source.clone())
                .message(mid)
                .entity(p.enterprise_id.to_string())
                .detail(format!("source patient {}", p.record.key)),
        );
    }
    if let Some(MpiState(s)) = &batch.mpi_state {
        save_state(tx, s).await?;
    }
    for m in &batch.possible_matches {
        execute(
            tx,
            "apply",
            "INSERT INTO possible_matches (source_key, enterprise_id, candidate_key, candidate_enterprise_id, weight, created_at)
             SELECT $1, $2, $3, $4, $5, $6
             WHERE NOT EXISTS (SELECT 1 FROM possible_matches WHERE source_key = $3 AND candidate_key = $1)
             ON CONFLICT (source_key, candidate_key) DO NOTHING",
            &[
                &m.source_key,
                &(m.enterprise_id.0 as i64),
                &m.candidate_key,
                &(m.candidate_enterprise_id.0 as i64),
                &f64::from(m.weight),
                &at,
            ],
        )
        .await?;
    }
    audit.extend(batch.audit.iter().cloned());
    let changed = outcomes.iter().filter(|o| o.changed).count();
    let kind = if batch.mode == ApplyMode::Reprocess {
        AuditEventKind::Reprocessed
    } else {
        AuditEventKind::Stored
    };
    audit.push(
        AuditEvent::new(kind, "pipeline")
            .source(lin.source.clone())
            .message(mid)
            .detail(format!(
                "{} resources, {} new versions",
                outcomes.len(),
                changed
            )),
    );
    execute(
        tx,
        "apply",
        "UPDATE inbox SET state = 'processed', processed_at = $1 WHERE id = $2",
        &[&at, &mid.0],
    )
    .await?;
    Ok(Applied {
        resources: outcomes,
        already_processed: false,
    })
}

// ---------------------------------------------------------------------------------- Store impl

#[async_trait]
impl Store for PgStore {
    async fn accept(&self, msg: InboundMessage) -> StoreResult<Accepted> {
        let enc = self.enc.as_ref();
        transact!(self, "accept", |tx, audit| accept_tx(
            &tx, enc, &msg, &mut audit
        ))
    }

    async fn pending(&self, limit: usize) -> StoreResult<Vec<InboxMessage>> {
        let enc = self.enc.as_ref();
        self.select("pending", rows::PENDING, &[&sql_limit(limit)], |r| {
            rows::inbox(r, enc)
        })
        .await
    }

    async fn message(&self, id: MessageId) -> StoreResult<InboxMessage> {
        let enc = self.enc.as_ref();
        self.select_one("message", rows::MESSAGE, &[&id.0], |r| rows::inbox(r, enc))
            .await?
            .ok_or_else(|| rows::not_found("message", id))
    }

    async fn apply(&self, batch: ApplyBatch) -> StoreResult<Applied> {
        let enc = self.enc.as_ref();
        transact!(self, "apply", |tx, audit| apply_tx(
            &tx, enc, &batch, &mut audit
        ))
    }

    async fn dead_letter(&self, f: NewDeadLetter) -> StoreResult<DeadLetterId> {
        transact!(self, "dead letter", |tx, audit| async {
            let at = now_ms();
            let row = query(
                &tx,
                "dead letter",
                "INSERT INTO dead_letters (message_id, stage, error_kind, location, attempts, reason, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $7)
                 ON CONFLICT (message_id) DO UPDATE SET stage = excluded.stage, error_kind = excluded.error_kind,
                   location = excluded.location, attempts = excluded.attempts, reason = excluded.reason,
                   status = 'open', updated_at = excluded.updated_at
                 RETURNING id",
                &[
                    &f.message_id.map(|m| m.0),
                    &f.stage,
                    &f.error_kind,
                    &f.location,
                    &i64::from(f.attempts),
                    &f.reason,
                    &at,
                ],
            )
            .await?;
            let id: i64 = row
                .first()
                .ok_or_else(|| corrupt("dead_letters", "(new)", "insert returned no row"))?
                .col(0)?;
            if let Some(m) = f.message_id {
                execute(
                    &tx,
                    "dead letter",
                    "UPDATE inbox SET state = 'dead' WHERE id = $1",
                    &[&m.0],
                )
                .await?;
            }
            let mut ev = AuditEvent::new(AuditEventKind::DeadLettered, "pipeline")
                .entity(DeadLetterId(id).to_string())
                .detail(format!("{}: {}", f.stage, f.error_kind));
            ev.message_id = f.message_id;
            audit.push(ev);
            Ok(DeadLetterId(id))
        })
    }

    async fn dead_letters(&self, open_only: bool) -> StoreResult<Vec<DeadLetter>> {
        let sql = if open_only {
            rows::DEAD_LETTERS_OPEN
        } else {
            rows::DEAD_LETTERS_ALL
        };
        self.select("dead letters", sql, &[], rows::dead_letter)
            .await
    }

    async fn dead_letter_by_id(&self, id: DeadLetterId) -> StoreResult<DeadLetter> {
        self.select_one(
            "dead letter",
            rows::DEAD_LETTER,
            &[&id.0],
            rows::dead_letter,
        )
        .await?
        .ok_or_else(|| rows::not_found("dead letter", id))
    }

    async fn mark_reprocessed(&self, id: DeadLetterId, actor: &str) -> StoreResult<()> {
        transact!(self, "mark reprocessed", |tx, audit| async {
            let row = query_opt(
                &tx,
                "mark reprocessed",
                "UPDATE dead_letters SET status = 'reprocessed', updated_at = $1 WHERE id = $2 RETURNING message_id",
                &[&now_ms(), &id.0],
            )
            .await?
            .ok_or_else(|| rows::not_found("dead letter", id))?;
            let mid: Option<i64> = row.col(0)?;
            // Reprocessed successfully: the message is processed again, also when the
            // reprocessing applied nothing (a redelivery after a sink failure).
            execute(
                &tx,
                "mark reprocessed",
                rows::MESSAGE_REPROCESSED,
                &[&now_ms(), &mid],
            )
            .await?;
            let mut ev = AuditEvent::new(AuditEventKind::Reprocessed, actor)
                .entity(id.to_string())
                .detail("dead letter reprocessed");
            ev.message_id = mid.map(MessageId);
            audit.push(ev);
            Ok(())
        })
    }

    async fn load_mpi(&self) -> StoreResult<Option<IndexSnapshot>> {
        let mut c = self.client("load mpi").await?;
        // One snapshot for the state and the records.
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg("load mpi"))?;
        let state = mpi_state(&tx, "load mpi").await?;
        let found = query(
            &tx,
            "load mpi",
            "SELECT row_id, key, enterprise_id, key_id, record FROM source_patients ORDER BY row_id",
            &[],
        )
        .await?;
        tx.commit().await.map_err(pg("load mpi"))?;
        let enc = self.enc.as_ref();
        let records = found
            .iter()
            .map(|r| rows::patient_record(r, enc))
            .collect::<StoreResult<_>>()?;
        rows::snapshot(state, records)
    }

    async fn save_mpi(&self, snapshot: IndexSnapshot) -> StoreResult<()> {
        let enc = self.enc.as_ref();
        transact!(self, "save mpi", |tx, audit| async {
            let at = now_ms();
            // Sources of the records already stored are kept; new records get "mpi".
            let sources: HashMap<String, String> = query(
                &tx,
                "save mpi",
                "SELECT key, source FROM source_patients FOR UPDATE",
                &[],
            )
            .await?
            .iter()
            .map(|r| Ok((r.col(0)?, r.col(1)?)))
            .collect::<StoreResult<_>>()?;
            execute(&tx, "save mpi", "DELETE FROM source_patients", &[]).await?;
            for (rec, eid) in &snapshot.records {
                let source = sources
                    .get(&rec.key)
                    .cloned()
                    .unwrap_or_else(|| "mpi".to_string());
                upsert_patient(
                    &tx,
                    enc,
                    &PatientLink {
                        record: rec.clone(),
                        enterprise_id: *eid,
                        source,
                    },
                    at,
                )
                .await?;
            }
            let _ = &audit;
            save_state(&tx, &snapshot).await
        })
    }

    async fn possible_matches(&self, open_only: bool) -> StoreResult<Vec<PossibleMatch>> {
        let sql = if open_only {
            rows::REVIEWS_OPEN
        } else {
            rows::REVIEWS_ALL
        };
        self.select("possible matches", sql, &[], rows::review)
            .await
    }

    async fn resolve_possible_match(
        &self,
        id: ReviewId,
        status: ReviewStatus,
        actor: &str,
    ) -> StoreResult<PossibleMatch> {
        transact!(self, "resolve", |tx, audit| async {
            let p = query_opt(
                &tx,
                "resolve",
                rows::RESOLVE_REVIEW,
                &[&status.as_str(), &actor, &now_ms(), &id.0],
            )
            .await?
            .as_ref()
            .map(rows::review)
            .transpose()?
            .ok_or_else(|| rows::not_found("possible match", id))?;
            audit.push(
                AuditEvent::new(AuditEventKind::Linked, actor)
                    .entity(id.to_string())
                    .detail(format!(
                        "review {}: {} / {}",
                        status.as_str(),
                        p.pair.enterprise_id,
                        p.pair.candidate_enterprise_id
                    )),
            );
            Ok(p)
        })
    }

    async fn save_links(
        &self,
        links: Vec<PatientLink>,
        state: Option<MpiState>,
        audit_events: Vec<AuditEvent>,
    ) -> StoreResult<()> {
        let enc = self.enc.as_ref();
        transact!(self, "save links", |tx, audit| async {
            let at = now_ms();
            for l in &links {
                // The record keeps the source it was first stored under.
                let source: Option<String> = query_opt(
                    &tx,
                    "save links",
                    "SELECT source FROM source_patients WHERE key = $1 FOR UPDATE",
                    &[&l.record.key],
                )
                .await?
                .map(|r| r.col(0))
                .transpose()?;
                let mut l = l.clone();
                if let Some(s) = source {
                    l.source = s;
                }
                upsert_patient(&tx, enc, &l, at).await?;
            }
            if let Some(MpiState(s)) = &state {
                save_state(&tx, s).await?;
            }
            audit.extend(audit_events.iter().cloned());
            Ok(())
        })
    }

    async fn messages_received(
        &self,
        from: TimestampMs,
        to: TimestampMs,
        limit: usize,
    ) -> StoreResult<Vec<MessageId>> {
        self.select(
            "messages received",
            rows::MESSAGES_RECEIVED,
            &[&from, &to, &sql_limit(limit)],
            |r| r.col(0).map(MessageId),
        )
        .await
    }

    async fn save_profile(&self, profile: ProfileRef, body: String) -> StoreResult<()> {
        transact!(self, "save profile", |tx, audit| async {
            let _ = &audit;
            let inserted = query_opt(
                &tx,
                "save profile",
                "INSERT INTO profiles (name, version, body, saved_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name, version) DO NOTHING RETURNING seq",
                &[&profile.name, &profile.version, &body, &now_ms()],
            )
            .await?;
            if inserted.is_none() {
                let existing: String = query_opt(
                    &tx,
                    "save profile",
                    "SELECT body FROM profiles WHERE name = $1 AND version = $2",
                    &[&profile.name, &profile.version],
                )
                .await?
                .ok_or_else(|| corrupt("profiles", &profile.name, "conflicting row vanished"))?
                .col(0)?;
                return if existing == body {
                    Ok(())
                } else {
                    Err(StoreError::ProfileConflict {
                        name: profile.name.clone(),
                        version: profile.version.clone(),
                    })
                };
            }
            execute(
                &tx,
                "save profile",
                "INSERT INTO profile_active (name, version) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&profile.name, &profile.version],
            )
            .await?;
            Ok(())
        })
    }

    async fn profile_versions(&self, name: &str) -> StoreResult<Vec<StoredProfile>> {
        self.select("profile", rows::PROFILE_VERSIONS, &[&name], rows::profile)
            .await
    }

    async fn profile(&self, profile: &ProfileRef) -> StoreResult<StoredProfile> {
        self.select_one(
            "profile",
            rows::PROFILE,
            &[&profile.name, &profile.version],
            rows::profile,
        )
        .await?
        .ok_or_else(|| rows::not_found("profile", format!("{} {}", profile.name, profile.version)))
    }

    async fn active_profile(&self, name: &str) -> StoreResult<Option<StoredProfile>> {
        self.select_one("profile", rows::ACTIVE_PROFILE, &[&name], rows::profile)
            .await
    }

    async fn activate_profile(&self, profile: &ProfileRef) -> StoreResult<()> {
        transact!(self, "activate profile", |tx, audit| async {
            let _ = &audit;
            let exists = query_opt(
                &tx,
                "activate profile",
                "SELECT 1 FROM profiles WHERE name = $1 AND version = $2",
                &[&profile.name, &profile.version],
            )
            .await?
            .is_some();
            if !exists {
                return Err(rows::not_found(
                    "profile",
                    format!("{} {}", profile.name, profile.version),
                ));
            }
            execute(
                &tx,
                "activate profile",
                "INSERT INTO profile_active (name, version) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET version = excluded.version",
                &[&profile.name, &profile.version],
            )
            .await?;
            Ok(())
        })
    }

    async fn rollback_profile(&self, name: &str) -> StoreResult<StoredProfile> {
        let version: String = transact!(self, "rollback profile", |tx, audit| async {
            let _ = &audit;
            let prev: Option<String> = query_opt(
                &tx,
                "rollback profile",
                "SELECT p.version FROM profiles p
                 WHERE p.name = $1 AND p.seq < (
                   SELECT q.seq FROM profiles q JOIN profile_active a
                     ON a.name = q.name AND a.version = q.version WHERE q.name = $1)
                 ORDER BY p.seq DESC LIMIT 1",
                &[&name],
            )
            .await?
            .map(|r| r.col(0))
            .transpose()?;
            let Some(prev) = prev else {
                return Err(StoreError::NoEarlierProfile {
                    name: name.to_string(),
                });
            };
            execute(
                &tx,
                "rollback profile",
                "UPDATE profile_active SET version = $2 WHERE name = $1",
                &[&name, &prev],
            )
            .await?;
            Ok(prev)
        })?;
        self.profile(&ProfileRef {
            name: name.to_string(),
            version,
        })
        .await
    }

    async fn patient_everything(
        &self,
        requested: EnterpriseId,
        actor: &str,
    ) -> StoreResult<EnterprisePatient> {
        // A retired (merged) id answers with the survivor's content, under the survivor's id.
        let enterprise_id = {
            let c = self.client("patient everything").await?;
            rows::surviving_id(mpi_state(&c, "patient everything").await?, requested)?
        };
        let source_patients = self.source_patients(enterprise_id).await?;
        let eid = enterprise_id.0 as i64;
        let resources = self
            .query_resources(rows::PATIENT_RESOURCES, &[&eid])
            .await?;
        let p = EnterprisePatient {
            enterprise_id,
            source_patients,
            resources,
        };
        self.append_audit(rows::everything_read(actor, requested, &p))
            .await?;
        Ok(p)
    }

    async fn resources_by_type(
        &self,
        resource_type: &str,
        since: Option<TimestampMs>,
        limit: usize,
        actor: &str,
    ) -> StoreResult<Vec<StoredResource>> {
        let out = self
            .query_resources(
                rows::RESOURCES_BY_TYPE,
                &[
                    &resource_type,
                    &since.unwrap_or(i64::MIN),
                    &sql_limit(limit),
                ],
            )
            .await?;
        self.append_audit(rows::by_type_read(actor, resource_type, out.len()))
            .await?;
        Ok(out)
    }

    async fn resource(
        &self,
        resource_type: &str,
        id: &str,
        actor: &str,
    ) -> StoreResult<Option<StoredResource>> {
        let out = self
            .query_resources(rows::RESOURCE, &[&resource_type, &id])
            .await?
            .pop();
        self.append_audit(rows::resource_read(actor, resource_type, id))
            .await?;
        Ok(out)
    }

    async fn resource_history(
        &self,
        resource_type: &str,
        id: &str,
        actor: &str,
    ) -> StoreResult<Vec<StoredResource>> {
        let out = self
            .query_resources(rows::RESOURCE_HISTORY, &[&resource_type, &id])
            .await?;
        self.append_audit(rows::history_read(actor, resource_type, id, out.len()))
            .await?;
        Ok(out)
    }

    async fn lineage(&self, message_id: MessageId) -> StoreResult<Vec<LineageEntry>> {
        self.select(
            "lineage",
            rows::LINEAGE,
            &[&message_id.0],
            rows::lineage_entry,
        )
        .await
    }

    async fn source_patients(
        &self,
        enterprise_id: EnterpriseId,
    ) -> StoreResult<Vec<SourcePatient>> {
        self.select(
            "source patients",
            rows::SOURCE_PATIENTS,
            &[&(enterprise_id.0 as i64)],
            rows::source_patient,
        )
        .await
    }

    async fn append_audit(&self, events: Vec<AuditEvent>) -> StoreResult<()> {
        transact!(self, "audit", |tx, audit| async {
            let _ = &tx;
            audit.extend(events.iter().cloned());
            Ok(())
        })
    }

    async fn audit_entries(&self, from_seq: i64, limit: usize) -> StoreResult<Vec<AuditEntry>> {
        self.select(
            "audit",
            rows::AUDIT_FROM,
            &[&from_seq, &sql_limit(limit)],
            rows::audit_entry,
        )
        .await
    }

    async fn verify_audit(&self) -> StoreResult<AuditVerification> {
        let c = self.client("verify audit").await?;
        let mut check = rows::ChainCheck::new();
        loop {
            let page = query(
                &c,
                "verify audit",
                rows::AUDIT_AFTER,
                &[&check.last_seq(), &rows::ChainCheck::PAGE],
            )
            .await?;
            for r in &page {
                if let Some(broken) = check.check(r) {
                    return Ok(broken);
                }
            }
            if (page.len() as i64) < rows::ChainCheck::PAGE {
                return Ok(check.intact());
            }
        }
    }

    async fn summary(&self) -> StoreResult<Summary> {
        self.select_one("summary", rows::SUMMARY, &[], rows::summary)
            .await?
            .ok_or_else(|| corrupt("summary", 0, "no row"))
    }
}
