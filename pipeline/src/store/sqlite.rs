//! The embedded [`Store`]: SQLite through `rusqlite` (bundled, nothing to install).
//!
//! * **Durability**: WAL journal with `synchronous=FULL`: a commit returns after the WAL is
//!   fsync'd. [`Store::accept`] answers only after the commit holding its row.
//! * **Group commit**: every write runs on one writer thread that takes all waiting requests
//!   (up to [`SqliteOptions::max_batch`]) into one transaction, each request in its own
//!   savepoint (a failing request rolls back alone), then commits once and answers every
//!   caller. Under load one fsync covers hundreds of messages; a lone request is committed at
//!   once (no timer, no added latency).
//! * **Accepts first, applies in slices**: a group runs the waiting [`Store::accept`] requests
//!   (what an ACK waits for) first, then the other writes (applies) in arrival order, but once
//!   an accept is in the group or waiting, only for [`SqliteOptions::apply_slice`]; accepts
//!   that arrived meanwhile join the group, which then commits. An ACK waits for at most one
//!   slice of applies and one fsync (never for a whole group of applies and its own fsync),
//!   and every group still moves the applies on, so neither side starves.
//! * **Reads** run on separate connections (a small pool) on `spawn_blocking` when a tokio
//!   runtime is present, inline otherwise; WAL lets them proceed during writes.
//! * **Migrations**: `migrations/sqlite/NNNN_*.sql`, applied in order on open, recorded in
//!   `PRAGMA user_version`.
//! * **Encryption at rest** (optional, [`Encryption`]): inbox payloads, resource bodies and
//!   MPI records are AES-256-GCM encrypted per row with the key id stored beside them; ids,
//!   types, times, hashes and states stay plain for queries.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ehrkit_identity::{EnterpriseId, IndexSnapshot};
use rusqlite::{params, Connection, OptionalExtension};

use super::audit::GENESIS;
use super::error::SharedSource;
use super::rows::{
    self, corrupt, inbox_aad, parse_hash, patient_aad, resource_aad, seal, Cols, Sealed,
};
use super::*;

/// The schema migrations, in order (version = position + 1).
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        "0002_inbox_received",
        include_str!("../../migrations/sqlite/0002_inbox_received.sql"),
    ),
];

/// Options of [`SqliteStore::open`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// Encrypt payloads, resource bodies and MPI records with these keys (`None`: plain).
    pub encryption: Option<Encryption>,
    /// Most write requests committed in one transaction (group commit). Default 1024.
    pub max_batch: usize,
    /// How long a connection waits for a lock held by another connection. Default 5 s.
    pub busy_timeout: Duration,
    /// Read connections kept open. Default 4.
    pub readers: usize,
    /// A cap on the database size in pages (SQLite `max_page_count`; pages are 4 KiB by
    /// default). A write past it fails with [`StoreError::Io`] of kind `StorageFull`, as a
    /// full disk does. Default: no cap.
    pub max_pages: Option<u64>,
    /// Longest time a group commit spends on writes other than accepts (the lanes' applies)
    /// while an accept is in the group or waiting for it; the group then commits. Bounds what
    /// an ACK waits for behind applies. Default 2 ms (about one fsync on an SSD).
    pub apply_slice: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            encryption: None,
            max_batch: 1024,
            busy_timeout: Duration::from_secs(5),
            readers: 4,
            max_pages: None,
            apply_slice: Duration::from_millis(2),
        }
    }
}

impl SqliteOptions {
    /// Sets the encryption keys.
    pub fn encryption(mut self, e: Encryption) -> Self {
        self.encryption = Some(e);
        self
    }

    /// Sets the group-commit batch limit (at least 1).
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// Caps the database size in pages ([`SqliteOptions::max_pages`]).
    pub fn max_pages(mut self, pages: u64) -> Self {
        self.max_pages = Some(pages);
        self
    }

    /// Sets the busy timeout.
    pub fn busy_timeout(mut self, d: Duration) -> Self {
        self.busy_timeout = d;
        self
    }

    /// Sets [`SqliteOptions::apply_slice`].
    pub fn apply_slice(mut self, d: Duration) -> Self {
        self.apply_slice = d;
        self
    }
}

/// What a job hands back once its savepoint succeeded: called after the commit, with the
/// commit's error if it failed.
type Completion = Box<dyn FnOnce(Option<&StoreError>) + Send>;
/// A write request run on the writer thread inside the group transaction; given the error
/// instead of the writer when the transaction could not be started (then it only answers).
type Job = Box<dyn FnOnce(Result<&mut Writer, &StoreError>) -> Result<Completion, ()> + Send>;

struct Shared {
    path: PathBuf,
    enc: Option<Encryption>,
    readers: Mutex<Vec<Connection>>,
    max_readers: usize,
    busy_timeout: Duration,
}

/// The SQLite [`Store`]. Share it with `Arc`; dropping the last handle finishes the queued
/// writes and stops the writer thread.
pub struct SqliteStore {
    tx: Mutex<Option<mpsc::Sender<Queued>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.path)
            .field("encrypted", &self.shared.enc.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Ok(mut w) = self.writer.lock() {
            if let Some(h) = w.take() {
                let _ = h.join();
            }
        }
    }
}

// ---------------------------------------------------------------------------------- errors

fn db(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| db_err(op, e)
}

pub(crate) fn db_err(op: &'static str, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    use std::io::ErrorKind as K;
    let kind = match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            C::DiskFull => Some(K::StorageFull),
            C::SystemIoFailure => Some(K::Other),
            C::ReadOnly => Some(K::ReadOnlyFilesystem),
            C::CannotOpen => Some(K::NotFound),
            C::PermissionDenied => Some(K::PermissionDenied),
            _ => None,
        },
        _ => None,
    };
    let source: SharedSource = Arc::new(e);
    match kind {
        Some(kind) => StoreError::Io { op, kind, source },
        None => StoreError::Backend { op, source },
    }
}

// ---------------------------------------------------------------------------------- connections

fn configure(conn: &Connection, busy: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    Ok(())
}

/// Applies the migrations the file lacks, in one transaction holding the write lock
/// (`BEGIN IMMEDIATE`): of two handles or processes opening one file at once, the second
/// waits, then reads the version the first left and applies nothing twice.
fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let supported = MIGRATIONS.len() as u32;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db("open"))?;
    let current: u32 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db("open"))?;
    if current > supported {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    if current == supported {
        return Ok(());
    }
    for (i, (_name, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as u32 + 1;
        let mig = |e: rusqlite::Error| StoreError::Migration {
            version,
            source: Arc::new(e),
        };
        tx.execute_batch(sql).map_err(mig)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(mig)?;
        tracing::info!(version, "store schema migrated");
    }
    tx.commit().map_err(|e| StoreError::Migration {
        version: supported,
        source: Arc::new(e),
    })
}

impl Shared {
    fn take_reader(&self) -> StoreResult<Connection> {
        if let Some(c) = self.readers.lock().ok().and_then(|mut v| v.pop()) {
            return Ok(c);
        }
        let c = Connection::open(&self.path).map_err(db("open reader"))?;
        c.busy_timeout(self.busy_timeout)
            .map_err(db("open reader"))?;
        c.pragma_update(None, "query_only", "ON")
            .map_err(db("open reader"))?;
        Ok(c)
    }

    fn put_reader(&self, c: Connection) {
        if let Ok(mut v) = self.readers.lock() {
            if v.len() < self.max_readers {
                v.push(c);
            }
        }
    }
}

// ---------------------------------------------------------------------------------- writer

/// State of the writer thread: its connection (inside the group transaction while jobs run)
/// and the audit chain's head as read in the current group transaction.
struct Writer {
    conn: Connection,
    enc: Option<Encryption>,
    /// (sequence, hash) of the last audit row, read from the table by the group
    /// transaction's first audit append and advanced by each append; `None` outside a group
    /// and until then. Never carried from one transaction to the next: another handle on the
    /// file (or another process) may have appended in between, and the group's
    /// `BEGIN IMMEDIATE` (the database's write lock) is what makes the head read final.
    head: Option<(i64, [u8; 32])>,
}

/// The audit chain's last (sequence, hash), from the table (genesis when empty).
fn read_head(conn: &Connection) -> StoreResult<(i64, [u8; 32])> {
    let head: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .and_then(|mut st| st.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(db("audit"))?;
    match head {
        None => Ok((0, GENESIS)),
        Some((seq, h)) => Ok((
            seq,
            parse_hash(&h).ok_or_else(|| corrupt("audit_log", seq, "hash is not hex"))?,
        )),
    }
}

impl Writer {
    fn audit(&mut self, ev: &AuditEvent) -> StoreResult<()> {
        let (head_seq, head_hash) = match self.head {
            Some(h) => h,
            None => read_head(&self.conn)?,
        };
        let seq = head_seq + 1;
        let at = now_ms();
        let canon = AuditEntry::canonical(seq, at, ev);
        let hash = AuditEntry::chain_hash(&head_hash, &canon);
        self.conn
            .prepare_cached(
                "INSERT INTO audit_log (seq, recorded_at, kind, actor, source, message_id, entity, detail, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    seq,
                    at,
                    ev.kind.as_str(),
                    ev.actor,
                    ev.source,
                    ev.message_id.map(|m| m.0),
                    ev.entity,
                    ev.detail,
                    hex_lower(&head_hash),
                    hex_lower(&hash),
                ])
            })
            .map_err(db("audit"))?;
        self.head = Some((seq, hash));
        Ok(())
    }

    /// Runs one request in its own savepoint; its completion (answered after the commit) is
    /// added to `done`. A failing request rolls back alone and has answered already.
    fn run_job(&mut self, q: Queued, done: &mut Vec<Completion>) {
        let class = q.class();
        metrics::histogram!("ehrkit_store_wait_seconds", "class" => class)
            .record(q.queued.elapsed().as_secs_f64());
        let t = Instant::now();
        let head = self.head;
        if let Err(e) = self.conn.execute_batch("SAVEPOINT job") {
            let _ = (q.job)(Err(&db_err("savepoint", e)));
            return;
        }
        match (q.job)(Ok(self)) {
            Ok(d) => {
                let _ = self.conn.execute_batch("RELEASE job");
                done.push(d);
            }
            Err(()) => {
                let _ = self.conn.execute_batch("ROLLBACK TO job; RELEASE job");
                self.head = head;
            }
        }
        metrics::histogram!("ehrkit_store_write_seconds", "class" => class)
            .record(t.elapsed().as_secs_f64());
    }

    /// One group commit: `BEGIN`, the waiting accepts, a slice of the other writes, the
    /// accepts that arrived meanwhile, `COMMIT`, then every caller is answered.
    fn run_group(&mut self, rx: &mpsc::Receiver<Queued>, q: &mut Queues, opts: &GroupOptions) {
        // The head is read again under this transaction's write lock (see `Writer::head`).
        self.head = None;
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            // Nothing can be kept now: answer everything waiting (the callers NAK or retry).
            let err = db_err("begin", e);
            for job in q.accepts.drain(..).chain(q.others.drain(..)) {
                let _ = (job.job)(Err(&err));
            }
            return;
        }
        let mut done: Vec<Completion> = Vec::new();
        let (mut accepts, mut others) = (0usize, 0usize);
        // 1. The accepts waiting now.
        while accepts < opts.max_batch {
            let Some(job) = q.accepts.pop_front() else {
                break;
            };
            self.run_job(job, &mut done);
            accepts += 1;
        }
        // 2. The other writes in arrival order: while no ACK waits for this group, as many
        // as the batch allows; once one does, only for the slice.
        let slice = Instant::now();
        while others < opts.max_batch {
            let Some(job) = q.others.pop_front() else {
                break;
            };
            self.run_job(job, &mut done);
            others += 1;
            q.drain(rx);
            if (accepts > 0 || !q.accepts.is_empty()) && slice.elapsed() >= opts.apply_slice {
                break;
            }
        }
        // 3. The accepts that arrived during the slice share this commit.
        if others > 0 {
            q.drain(rx);
            while accepts < opts.max_batch {
                let Some(job) = q.accepts.pop_front() else {
                    break;
                };
                self.run_job(job, &mut done);
                accepts += 1;
            }
        }
        metrics::histogram!("ehrkit_store_group_writes", "class" => "accept")
            .record(accepts as f64);
        metrics::histogram!("ehrkit_store_group_writes", "class" => "other").record(others as f64);
        let t = Instant::now();
        let committed = self.conn.execute_batch("COMMIT");
        self.head = None;
        metrics::histogram!("ehrkit_store_commit_seconds").record(t.elapsed().as_secs_f64());
        match committed {
            Ok(()) => {
                for d in done {
                    d(None);
                }
            }
            Err(e) => {
                let err = db_err("commit", e);
                tracing::error!(error = %err, "store commit failed; the batch is not kept");
                let _ = self.conn.execute_batch("ROLLBACK");
                for d in done {
                    d(Some(&err));
                }
            }
        }
    }
}

/// A write request with its class (accepts, what ACKs wait for, go before everything else)
/// and when it was queued.
struct Queued {
    accept: bool,
    queued: Instant,
    job: Job,
}

impl Queued {
    fn class(&self) -> &'static str {
        if self.accept {
            "accept"
        } else {
            "other"
        }
    }
}

/// The writer's two local queues, each in arrival order.
#[derive(Default)]
struct Queues {
    accepts: VecDeque<Queued>,
    others: VecDeque<Queued>,
}

impl Queues {
    fn push(&mut self, q: Queued) {
        if q.accept {
            self.accepts.push_back(q);
        } else {
            self.others.push_back(q);
        }
    }

    /// Takes every request waiting in the channel.
    fn drain(&mut self, rx: &mpsc::Receiver<Queued>) {
        while let Ok(q) = rx.try_recv() {
            self.push(q);
        }
    }

    fn is_empty(&self) -> bool {
        self.accepts.is_empty() && self.others.is_empty()
    }
}

/// Limits of one group commit.
struct GroupOptions {
    max_batch: usize,
    apply_slice: Duration,
}

/// The writer thread: one group commit after another while requests wait; blocks when none
/// does. Other writes keep their order among themselves; a caller only sends its next write
/// after the previous one answered, so no write overtakes one it depends on.
fn writer_loop(mut w: Writer, rx: mpsc::Receiver<Queued>, opts: GroupOptions) {
    let mut q = Queues::default();
    loop {
        if q.is_empty() {
            match rx.recv() {
                Ok(job) => q.push(job),
                Err(_) => return,
            }
        }
        q.drain(&rx);
        w.run_group(&rx, &mut q, &opts);
    }
}

// ---------------------------------------------------------------------------------- store

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`: applies migrations, sets WAL,
    /// `synchronous=FULL` and the busy timeout, and starts the writer thread.
    pub fn open(path: impl AsRef<Path>, opts: SqliteOptions) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path).map_err(db("open"))?;
        configure(&conn, opts.busy_timeout).map_err(db("open"))?;
        migrate(&mut conn)?;
        if let Some(pages) = opts.max_pages {
            // The pragma answers with the new cap, so it is a query, not an update.
            let _: i64 = conn
                .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                    r.get(0)
                })
                .map_err(db("open"))?;
        }
        // A store whose chain head does not read is refused now rather than at the first
        // append (each group transaction reads the head again: `Writer::head`).
        read_head(&conn)?;
        let shared = Arc::new(Shared {
            path,
            enc: opts.encryption.clone(),
            readers: Mutex::new(Vec::new()),
            max_readers: opts.readers.max(1),
            busy_timeout: opts.busy_timeout,
        });
        let writer = Writer {
            conn,
            enc: opts.encryption,
            head: None,
        };
        let (tx, rx) = mpsc::channel::<Queued>();
        let group = GroupOptions {
            max_batch: opts.max_batch.max(1),
            apply_slice: opts.apply_slice,
        };
        let handle = std::thread::Builder::new()
            .name("ehrkit-store-writer".into())
            .spawn(move || writer_loop(writer, rx, group))
            .map_err(|e| StoreError::Io {
                op: "open",
                kind: e.kind(),
                source: Arc::new(e),
            })?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            shared,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Runs `f` on the writer thread inside the group transaction (its own savepoint); the
    /// result is returned once the transaction is committed.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer) -> StoreResult<T> + Send + 'static,
    {
        self.write_class(false, f).await
    }

    /// [`SqliteStore::write`], for an `accept` when `accept` is true: run ahead of the other
    /// waiting writes, and its group commits after at most one slice of them.
    async fn write_class<T, F>(&self, accept: bool, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer) -> StoreResult<T> + Send + 'static,
    {
        let (otx, orx) = tokio::sync::oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |w: Result<&mut Writer, &StoreError>| match w.map(f) {
            Err(e) => {
                let _ = otx.send(Err(e.duplicate()));
                Err(())
            }
            Ok(Ok(v)) => Ok(Box::new(move |err: Option<&StoreError>| {
                let _ = otx.send(match err {
                    None => Ok(v),
                    Some(e) => Err(e.duplicate()),
                });
            }) as Completion),
            Ok(Err(e)) => {
                let _ = otx.send(Err(e));
                Err(())
            }
        });
        {
            let guard = self.tx.lock().map_err(|_| StoreError::Closed)?;
            let tx = guard.as_ref().ok_or(StoreError::Closed)?;
            tx.send(Queued {
                accept,
                queued: Instant::now(),
                job,
            })
            .map_err(|_| StoreError::Closed)?;
        }
        orx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a read connection (on `spawn_blocking` inside a tokio runtime).
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, Option<&Encryption>) -> StoreResult<T> + Send + 'static,
    {
        let shared = self.shared.clone();
        let run = move || {
            let conn = shared.take_reader()?;
            let r = f(&conn, shared.enc.as_ref());
            shared.put_reader(conn);
            r
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => h
                .spawn_blocking(run)
                .await
                .map_err(|_| StoreError::Closed)?,
            Err(_) => run(),
        }
    }

    /// Resource rows of one of `rows.rs`'s resource queries, bodies opened.
    async fn resources<P>(&self, sql: &'static str, params: P) -> StoreResult<Vec<StoredResource>>
    where
        P: rusqlite::Params + Send + 'static,
    {
        self.read(move |c, enc| select(c, "query", sql, params, |r| rows::resource(r, enc)))
            .await
    }

    /// Rewrites every encrypted (or plain) row under the active key, so older keys can be
    /// retired; returns the number of values rewritten. Without encryption configured it
    /// decrypts nothing and returns 0 for plain rows. Runs as one transaction.
    pub async fn reencrypt(&self) -> StoreResult<u64> {
        self.write(|w| {
            let Some(enc) = w.enc.clone() else {
                return Ok(0);
            };
            let active = enc.active_id();
            let mut n = 0u64;
            let op = "reencrypt";
            // inbox
            let sealed = select(
                &w.conn,
                op,
                "SELECT id, idem_key, content_hash, key_id, payload FROM inbox WHERE key_id IS NULL OR key_id != ?1",
                [active],
                |r| {
                    let (id, key, hash): (i64, String, String) = (r.col(0)?, r.col(1)?, r.col(2)?);
                    Ok((id, Sealed::inbox(id, &key, &hash, r.col(3)?, r.col(4)?)))
                },
            )?;
            for (id, value) in sealed {
                let (kid, ct) = value.reseal(&enc)?;
                w.conn
                    .execute(
                        "UPDATE inbox SET key_id = ?1, payload = ?2 WHERE id = ?3",
                        params![kid, ct, id],
                    )
                    .map_err(db(op))?;
                n += 1;
            }
            // resource versions
            let sealed = select(
                &w.conn,
                op,
                "SELECT resource_type, id, version, key_id, body FROM resource_versions WHERE key_id IS NULL OR key_id != ?1",
                [active],
                |r| {
                    let (t, id, v): (String, String, i64) = (r.col(0)?, r.col(1)?, r.col(2)?);
                    let value = Sealed::resource(&t, &id, v, r.col(3)?, r.col(4)?);
                    Ok((t, id, v, value))
                },
            )?;
            for (t, id, v, value) in sealed {
                let (kid, ct) = value.reseal(&enc)?;
                w.conn
                    .execute(
                        "UPDATE resource_versions SET key_id = ?1, body = ?2 WHERE resource_type = ?3 AND id = ?4 AND version = ?5",
                        params![kid, ct, t, id, v],
                    )
                    .map_err(db(op))?;
                n += 1;
            }
            // source patients
            let sealed = select(
                &w.conn,
                op,
                "SELECT rowid, key, key_id, record FROM source_patients WHERE key_id IS NULL OR key_id != ?1",
                [active],
                |r| {
                    let (rowid, key): (i64, String) = (r.col(0)?, r.col(1)?);
                    let value = Sealed::patient(rowid, &key, r.col(2)?, r.col(3)?);
                    Ok((key, value))
                },
            )?;
            for (key, value) in sealed {
                let (kid, ct) = value.reseal(&enc)?;
                w.conn
                    .execute(
                        "UPDATE source_patients SET key_id = ?1, record = ?2 WHERE key = ?3",
                        params![kid, ct, key],
                    )
                    .map_err(db(op))?;
                n += 1;
            }
            Ok(n)
        })
        .await
    }
}

// ---------------------------------------------------------------------------------- row readers

/// Runs a (cached) query and decodes every row with `f` (a decoder of `rows.rs`).
fn select<T>(
    conn: &Connection,
    op: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
    mut f: impl FnMut(&rusqlite::Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut st = conn.prepare_cached(sql).map_err(db(op))?;
    let mut it = st.query(params).map_err(db(op))?;
    let mut out = Vec::new();
    while let Some(r) = it.next().map_err(db(op))? {
        out.push(f(r)?);
    }
    Ok(out)
}

/// [`select`] for a query of one row at most.
fn select_one<T>(
    conn: &Connection,
    op: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnMut(&rusqlite::Row<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    Ok(select(conn, op, sql, params, f)?.into_iter().next())
}

/// A row limit as SQL takes it (SQLite reads a negative one as "no limit").
fn sql_limit(n: usize) -> i64 {
    n.min(i64::MAX as usize) as i64
}

fn save_state(w: &Writer, s: &IndexSnapshot) -> StoreResult<()> {
    w.conn
        .execute(
            rows::SAVE_MPI_STATE,
            params![rows::state_json(s)?, now_ms()],
        )
        .map_err(db("save mpi"))?;
    Ok(())
}

fn upsert_patient(w: &Writer, p: &PatientLink, at: TimestampMs) -> StoreResult<()> {
    let key = &p.record.key;
    let json = serde_json::to_vec(&p.record)
        .map_err(|_| corrupt("source_patients", "(new)", "record does not serialize"))?;
    let (kid, data) = seal(w.enc.as_ref(), "source_patients", &patient_aad(key), &json)?;
    w.conn
        .prepare_cached(
            "INSERT INTO source_patients (key, source, enterprise_id, updated_at, key_id, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(key) DO UPDATE SET source = excluded.source, enterprise_id = excluded.enterprise_id,
               updated_at = excluded.updated_at, key_id = excluded.key_id, record = excluded.record",
        )
        .and_then(|mut st| {
            st.execute(params![
                key,
                p.source,
                p.enterprise_id.0 as i64,
                at,
                kid,
                data
            ])
        })
        .map_err(db("upsert patient"))?;
    Ok(())
}

/// The saved MPI state (`None` before any).
fn mpi_state(c: &Connection, op: &'static str) -> StoreResult<Option<String>> {
    select_one(c, op, rows::MPI_STATE, [], |r| r.col(0))
}

// ---------------------------------------------------------------------------------- Store impl

#[async_trait]
impl Store for SqliteStore {
    async fn accept(&self, msg: InboundMessage) -> StoreResult<Accepted> {
        self.write_class(true, move |w| {
            let key = msg.key.canonical();
            let hash = sha256_hex(&msg.payload);
            let at = now_ms();
            let existing: Vec<(i64, String)> = {
                let mut st = w
                    .conn
                    .prepare_cached(
                        "SELECT id, content_hash FROM inbox WHERE idem_key = ?1 ORDER BY id",
                    )
                    .map_err(db("accept"))?;
                let it = st
                    .query_map([&key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db("accept"))?;
                it.collect::<Result<_, _>>().map_err(db("accept"))?
            };
            let actor = msg.peer.clone().unwrap_or_else(|| msg.source.clone());
            if let Some((id, _)) = existing.iter().find(|(_, h)| *h == hash) {
                w.conn
                    .prepare_cached(
                        "INSERT INTO duplicates (message_id, received_at, peer) VALUES (?1, ?2, ?3)",
                    )
                    .and_then(|mut st| st.execute(params![id, at, msg.peer]))
                    .map_err(db("accept"))?;
                let mut ev = AuditEvent::new(AuditEventKind::Duplicate, actor)
                    .source(msg.source.clone())
                    .message(MessageId(*id));
                ev.detail = msg.message_type.clone();
                w.audit(&ev)?;
                return Ok(Accepted::Duplicate(MessageId(*id)));
            }
            let aad = inbox_aad(&key, &hash);
            let (kid, payload) = seal(w.enc.as_ref(), "inbox", &aad, &msg.payload)?;
            let reused = !existing.is_empty();
            w.conn
                .prepare_cached(
                    "INSERT INTO inbox (idem_key, content_hash, kind, source, message_type, peer, received_at, control_id_reused, key_id, payload)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        key,
                        hash,
                        msg.kind.as_str(),
                        msg.source,
                        msg.message_type,
                        msg.peer,
                        at,
                        reused,
                        kid,
                        payload
                    ])
                })
                .map_err(db("accept"))?;
            let id = MessageId(w.conn.last_insert_rowid());
            let kind = if reused {
                AuditEventKind::ControlIdReused
            } else {
                AuditEventKind::Received
            };
            let mut ev = AuditEvent::new(kind, actor)
                .source(msg.source.clone())
                .message(id);
            ev.detail = msg.message_type.clone();
            w.audit(&ev)?;
            Ok(match existing.first() {
                Some((orig, _)) => Accepted::ControlIdReused {
                    id,
                    original: MessageId(*orig),
                },
                None => Accepted::New(id),
            })
        })
        .await
    }

    async fn pending(&self, limit: usize) -> StoreResult<Vec<InboxMessage>> {
        self.read(move |c, enc| {
            select(c, "pending", rows::PENDING, [sql_limit(limit)], |r| {
                rows::inbox(r, enc)
            })
        })
        .await
    }

    async fn message(&self, id: MessageId) -> StoreResult<InboxMessage> {
        self.read(move |c, enc| {
            select_one(c, "message", rows::MESSAGE, [id.0], |r| rows::inbox(r, enc))?
                .ok_or_else(|| rows::not_found("message", id))
        })
        .await
    }

    async fn apply(&self, batch: ApplyBatch) -> StoreResult<Applied> {
        self.write(move |w| {
            let mid = batch.message_id;
            let state: String = w
                .conn
                .prepare_cached("SELECT state FROM inbox WHERE id = ?1")
                .and_then(|mut st| st.query_row([mid.0], |r| r.get(0)).optional())
                .map_err(db("apply"))?
                .ok_or_else(|| StoreError::NotFound {
                    what: "message",
                    id: mid.to_string(),
                })?;
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
            let mut outcomes = Vec::with_capacity(batch.resources.len());
            for r in &batch.resources {
                let hash = sha256_hex(r.body.as_bytes());
                let current: Option<(i64, String)> = w
                    .conn
                    .prepare_cached(
                        "SELECT version, content_hash FROM resources WHERE resource_type = ?1 AND id = ?2",
                    )
                    .and_then(|mut st| {
                        st.query_row(params![r.resource_type, r.id], |x| {
                            Ok((x.get(0)?, x.get(1)?))
                        })
                        .optional()
                    })
                    .map_err(db("apply"))?;
                let (version, changed) = match &current {
                    Some((v, h)) if *h == hash => (*v, false),
                    Some((v, _)) => (*v + 1, true),
                    None => (1, true),
                };
                if changed {
                    let aad = resource_aad(&r.resource_type, &r.id, version);
                    let (kid, body) =
                        seal(w.enc.as_ref(), "resource_versions", &aad, r.body.as_bytes())?;
                    w.conn
                        .prepare_cached(
                            "INSERT INTO resource_versions (resource_type, id, version, content_hash, patient_key, stored_at, message_id, source, profile_name, profile_version, converter_version, key_id, body)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                        )
                        .and_then(|mut st| {
                            st.execute(params![
                                r.resource_type,
                                r.id,
                                version,
                                hash,
                                r.patient_key,
                                at,
                                mid.0,
                                lin.source,
                                pn,
                                pv,
                                lin.converter_version,
                                kid,
                                body
                            ])
                        })
                        .map_err(db("apply"))?;
                    w.conn
                        .prepare_cached(
                            "INSERT INTO resources (resource_type, id, version, content_hash, patient_key, stored_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                             ON CONFLICT(resource_type, id) DO UPDATE SET version = excluded.version,
                               content_hash = excluded.content_hash, patient_key = excluded.patient_key,
                               stored_at = excluded.stored_at",
                        )
                        .and_then(|mut st| {
                            st.execute(params![
                                r.resource_type,
                                r.id,
                                version,
                                hash,
                                r.patient_key,
                                at
                            ])
                        })
                        .map_err(db("apply"))?;
                }
                w.conn
                    .prepare_cached(
                        "INSERT INTO lineage (message_id, resource_type, resource_id, version, changed, source, profile_name, profile_version, converter_version, applied_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    )
                    .and_then(|mut st| {
                        st.execute(params![
                            mid.0,
                            r.resource_type,
                            r.id,
                            version,
                            changed,
                            lin.source,
                            pn,
                            pv,
                            lin.converter_version,
                            at
                        ])
                    })
                    .map_err(db("apply"))?;
                outcomes.push(ResourceOutcome {
                    resource_type: r.resource_type.clone(),
                    id: r.id.clone(),
                    version,
                    changed,
                });
            }
            for p in &batch.patients {
                upsert_patient(w, p, at)?;
                let ev = AuditEvent::new(AuditEventKind::Linked, "pipeline")
                    .source(p.source.clone())
                    .message(mid)
                    .entity(p.enterprise_id.to_string())
                    .detail(format!("source patient {}", p.record.key));
                w.audit(&ev)?;
            }
            if let Some(MpiState(s)) = &batch.mpi_state {
                save_state(w, s)?;
            }
            for m in &batch.possible_matches {
                w.conn
                    .prepare_cached(
                        "INSERT INTO possible_matches (source_key, enterprise_id, candidate_key, candidate_enterprise_id, weight, created_at)
                         SELECT ?1, ?2, ?3, ?4, ?5, ?6
                         WHERE NOT EXISTS (SELECT 1 FROM possible_matches WHERE source_key = ?3 AND candidate_key = ?1)
                         ON CONFLICT(source_key, candidate_key) DO NOTHING",
                    )
                    .and_then(|mut st| {
                        st.execute(params![
                            m.source_key,
                            m.enterprise_id.0 as i64,
                            m.candidate_key,
                            m.candidate_enterprise_id.0 as i64,
                            f64::from(m.weight),
                            at
                        ])
                    })
                    .map_err(db("apply"))?;
            }
            for ev in &batch.audit {
                w.audit(ev)?;
            }
            let changed = outcomes.iter().filter(|o| o.changed).count();
            let kind = if batch.mode == ApplyMode::Reprocess {
                AuditEventKind::Reprocessed
            } else {
                AuditEventKind::Stored
            };
            let ev = AuditEvent::new(kind, "pipeline")
                .source(lin.source.clone())
                .message(mid)
                .detail(format!(
                    "{} resources, {} new versions",
                    outcomes.len(),
                    changed
                ));
            w.audit(&ev)?;
            w.conn
                .prepare_cached(
                    "UPDATE inbox SET state = 'processed', processed_at = ?1 WHERE id = ?2",
                )
                .and_then(|mut st| st.execute(params![at, mid.0]))
                .map_err(db("apply"))?;
            Ok(Applied {
                resources: outcomes,
                already_processed: false,
            })
        })
        .await
    }

    async fn dead_letter(&self, f: NewDeadLetter) -> StoreResult<DeadLetterId> {
        self.write(move |w| {
            let at = now_ms();
            let id: i64 = w
                .conn
                .prepare_cached(
                    "INSERT INTO dead_letters (message_id, stage, error_kind, location, attempts, reason, status, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7, ?7)
                     ON CONFLICT(message_id) DO UPDATE SET stage = excluded.stage, error_kind = excluded.error_kind,
                       location = excluded.location, attempts = excluded.attempts, reason = excluded.reason,
                       status = 'open', updated_at = excluded.updated_at
                     RETURNING id",
                )
                .and_then(|mut st| {
                    st.query_row(
                        params![
                            f.message_id.map(|m| m.0),
                            f.stage,
                            f.error_kind,
                            f.location,
                            f.attempts,
                            f.reason,
                            at
                        ],
                        |r| r.get(0),
                    )
                })
                .map_err(db("dead letter"))?;
            if let Some(m) = f.message_id {
                w.conn
                    .prepare_cached("UPDATE inbox SET state = 'dead' WHERE id = ?1")
                    .and_then(|mut st| st.execute([m.0]))
                    .map_err(db("dead letter"))?;
            }
            let mut ev = AuditEvent::new(AuditEventKind::DeadLettered, "pipeline")
                .entity(DeadLetterId(id).to_string())
                .detail(format!("{}: {}", f.stage, f.error_kind));
            ev.message_id = f.message_id;
            w.audit(&ev)?;
            Ok(DeadLetterId(id))
        })
        .await
    }

    async fn dead_letters(&self, open_only: bool) -> StoreResult<Vec<DeadLetter>> {
        self.read(move |c, _| {
            let sql = if open_only {
                rows::DEAD_LETTERS_OPEN
            } else {
                rows::DEAD_LETTERS_ALL
            };
            select(c, "dead letters", sql, [], |r| rows::dead_letter(r))
        })
        .await
    }

    async fn dead_letter_by_id(&self, id: DeadLetterId) -> StoreResult<DeadLetter> {
        self.read(move |c, _| {
            select_one(c, "dead letter", rows::DEAD_LETTER, [id.0], |r| {
                rows::dead_letter(r)
            })?
            .ok_or_else(|| rows::not_found("dead letter", id))
        })
        .await
    }

    async fn mark_reprocessed(&self, id: DeadLetterId, actor: &str) -> StoreResult<()> {
        let actor = actor.to_string();
        self.write(move |w| {
            let n = w
                .conn
                .execute(
                    "UPDATE dead_letters SET status = 'reprocessed', updated_at = ?1 WHERE id = ?2",
                    params![now_ms(), id.0],
                )
                .map_err(db("mark reprocessed"))?;
            if n == 0 {
                return Err(StoreError::NotFound {
                    what: "dead letter",
                    id: id.to_string(),
                });
            }
            let mid: Option<i64> = w
                .conn
                .query_row(
                    "SELECT message_id FROM dead_letters WHERE id = ?1",
                    [id.0],
                    |r| r.get(0),
                )
                .map_err(db("mark reprocessed"))?;
            // Reprocessed successfully: the message is processed again, also when the
            // reprocessing applied nothing (a redelivery after a sink failure).
            w.conn
                .execute(rows::MESSAGE_REPROCESSED, params![now_ms(), mid])
                .map_err(db("mark reprocessed"))?;
            let mut ev = AuditEvent::new(AuditEventKind::Reprocessed, actor)
                .entity(id.to_string())
                .detail("dead letter reprocessed");
            ev.message_id = mid.map(MessageId);
            w.audit(&ev)
        })
        .await
    }

    async fn load_mpi(&self) -> StoreResult<Option<IndexSnapshot>> {
        self.read(|c, enc| {
            let state = mpi_state(c, "load mpi")?;
            let records = select(
                c,
                "load mpi",
                "SELECT rowid, key, enterprise_id, key_id, record FROM source_patients ORDER BY rowid",
                [],
                |r| rows::patient_record(r, enc),
            )?;
            rows::snapshot(state, records)
        })
        .await
    }

    async fn save_mpi(&self, snapshot: IndexSnapshot) -> StoreResult<()> {
        self.write(move |w| {
            let at = now_ms();
            // Sources of the records already stored are kept; new records get "mpi".
            let sources: std::collections::HashMap<String, String> = select(
                &w.conn,
                "save mpi",
                "SELECT key, source FROM source_patients",
                [],
                |r| Ok((r.col(0)?, r.col(1)?)),
            )?
            .into_iter()
            .collect();
            w.conn
                .execute("DELETE FROM source_patients", [])
                .map_err(db("save mpi"))?;
            for (rec, eid) in &snapshot.records {
                let source = sources
                    .get(&rec.key)
                    .cloned()
                    .unwrap_or_else(|| "mpi".to_string());
                upsert_patient(
                    w,
                    &PatientLink {
                        record: rec.clone(),
                        enterprise_id: *eid,
                        source,
                    },
                    at,
                )?;
            }
            save_state(w, &snapshot)
        })
        .await
    }

    async fn possible_matches(&self, open_only: bool) -> StoreResult<Vec<PossibleMatch>> {
        self.read(move |c, _| {
            let sql = if open_only {
                rows::REVIEWS_OPEN
            } else {
                rows::REVIEWS_ALL
            };
            select(c, "possible matches", sql, [], |r| rows::review(r))
        })
        .await
    }

    async fn resolve_possible_match(
        &self,
        id: ReviewId,
        status: ReviewStatus,
        actor: &str,
    ) -> StoreResult<PossibleMatch> {
        let actor = actor.to_string();
        self.write(move |w| {
            let p = select_one(
                &w.conn,
                "resolve",
                rows::RESOLVE_REVIEW,
                params![status.as_str(), actor, now_ms(), id.0],
                |r| rows::review(r),
            )?
            .ok_or_else(|| rows::not_found("possible match", id))?;
            let ev = AuditEvent::new(AuditEventKind::Linked, actor)
                .entity(id.to_string())
                .detail(format!(
                    "review {}: {} / {}",
                    status.as_str(),
                    p.pair.enterprise_id,
                    p.pair.candidate_enterprise_id
                ));
            w.audit(&ev)?;
            Ok(p)
        })
        .await
    }

    async fn save_links(
        &self,
        links: Vec<PatientLink>,
        state: Option<MpiState>,
        audit: Vec<AuditEvent>,
    ) -> StoreResult<()> {
        self.write(move |w| {
            let at = now_ms();
            for l in &links {
                // The record keeps the source it was first stored under.
                let source: Option<String> = w
                    .conn
                    .prepare_cached("SELECT source FROM source_patients WHERE key = ?1")
                    .and_then(|mut st| st.query_row([&l.record.key], |r| r.get(0)).optional())
                    .map_err(db("save links"))?;
                let mut l = l.clone();
                if let Some(s) = source {
                    l.source = s;
                }
                upsert_patient(w, &l, at)?;
            }
            if let Some(MpiState(s)) = &state {
                save_state(w, s)?;
            }
            for ev in &audit {
                w.audit(ev)?;
            }
            Ok(())
        })
        .await
    }

    async fn messages_received(
        &self,
        from: TimestampMs,
        to: TimestampMs,
        limit: usize,
    ) -> StoreResult<Vec<MessageId>> {
        self.read(move |c, _| {
            select(
                c,
                "messages received",
                rows::MESSAGES_RECEIVED,
                params![from, to, sql_limit(limit)],
                |r| r.col(0).map(MessageId),
            )
        })
        .await
    }

    async fn save_profile(&self, profile: ProfileRef, body: String) -> StoreResult<()> {
        self.write(move |w| {
            let existing: Option<String> = w
                .conn
                .query_row(
                    "SELECT body FROM profiles WHERE name = ?1 AND version = ?2",
                    params![profile.name, profile.version],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db("save profile"))?;
            match existing {
                Some(b) if b == body => return Ok(()),
                Some(_) => {
                    return Err(StoreError::ProfileConflict {
                        name: profile.name,
                        version: profile.version,
                    })
                }
                None => {}
            }
            w.conn
                .execute(
                    "INSERT INTO profiles (name, version, body, saved_at) VALUES (?1, ?2, ?3, ?4)",
                    params![profile.name, profile.version, body, now_ms()],
                )
                .map_err(db("save profile"))?;
            w.conn
                .execute(
                    "INSERT INTO profile_active (name, version) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
                    params![profile.name, profile.version],
                )
                .map_err(db("save profile"))?;
            Ok(())
        })
        .await
    }

    async fn profile_versions(&self, name: &str) -> StoreResult<Vec<StoredProfile>> {
        let name = name.to_string();
        self.read(move |c, _| {
            select(c, "profile", rows::PROFILE_VERSIONS, [name], |r| {
                rows::profile(r)
            })
        })
        .await
    }

    async fn profile(&self, profile: &ProfileRef) -> StoreResult<StoredProfile> {
        let p = profile.clone();
        self.read(move |c, _| {
            select_one(
                c,
                "profile",
                rows::PROFILE,
                params![p.name, p.version],
                |r| rows::profile(r),
            )?
            .ok_or_else(|| rows::not_found("profile", format!("{} {}", p.name, p.version)))
        })
        .await
    }

    async fn active_profile(&self, name: &str) -> StoreResult<Option<StoredProfile>> {
        let name = name.to_string();
        self.read(move |c, _| {
            select_one(c, "profile", rows::ACTIVE_PROFILE, [name], |r| {
                rows::profile(r)
            })
        })
        .await
    }

    async fn activate_profile(&self, profile: &ProfileRef) -> StoreResult<()> {
        let p = profile.clone();
        self.write(move |w| {
            let exists: bool = w
                .conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM profiles WHERE name = ?1 AND version = ?2)",
                    params![p.name, p.version],
                    |r| r.get(0),
                )
                .map_err(db("activate profile"))?;
            if !exists {
                return Err(StoreError::NotFound {
                    what: "profile",
                    id: format!("{} {}", p.name, p.version),
                });
            }
            w.conn
                .execute(
                    "INSERT INTO profile_active (name, version) VALUES (?1, ?2)
                     ON CONFLICT(name) DO UPDATE SET version = excluded.version",
                    params![p.name, p.version],
                )
                .map_err(db("activate profile"))?;
            Ok(())
        })
        .await
    }

    async fn rollback_profile(&self, name: &str) -> StoreResult<StoredProfile> {
        let name = name.to_string();
        let version = self
            .write({
                let name = name.clone();
                move |w| {
                    let prev: Option<String> = w
                        .conn
                        .query_row(
                            "SELECT p.version FROM profiles p
                             WHERE p.name = ?1 AND p.seq < (
                               SELECT q.seq FROM profiles q JOIN profile_active a
                                 ON a.name = q.name AND a.version = q.version WHERE q.name = ?1)
                             ORDER BY p.seq DESC LIMIT 1",
                            [&name],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(db("rollback profile"))?;
                    let Some(prev) = prev else {
                        return Err(StoreError::NoEarlierProfile { name });
                    };
                    w.conn
                        .execute(
                            "UPDATE profile_active SET version = ?2 WHERE name = ?1",
                            params![name, prev],
                        )
                        .map_err(db("rollback profile"))?;
                    Ok(prev)
                }
            })
            .await?;
        self.profile(&ProfileRef { name, version }).await
    }

    async fn patient_everything(
        &self,
        requested: EnterpriseId,
        actor: &str,
    ) -> StoreResult<EnterprisePatient> {
        // A retired (merged) id answers with the survivor's content, under the survivor's id.
        let enterprise_id = self
            .read(move |c, _| rows::surviving_id(mpi_state(c, "patient everything")?, requested))
            .await?;
        let source_patients = self.source_patients(enterprise_id).await?;
        let eid = enterprise_id.0 as i64;
        let resources = self.resources(rows::PATIENT_RESOURCES, (eid,)).await?;
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
        let t = resource_type.to_string();
        let out = self
            .resources(
                rows::RESOURCES_BY_TYPE,
                (t, since.unwrap_or(i64::MIN), sql_limit(limit)),
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
        let (t, i) = (resource_type.to_string(), id.to_string());
        let out = self.resources(rows::RESOURCE, (t, i)).await?.pop();
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
        let (t, i) = (resource_type.to_string(), id.to_string());
        let out = self.resources(rows::RESOURCE_HISTORY, (t, i)).await?;
        self.append_audit(rows::history_read(actor, resource_type, id, out.len()))
            .await?;
        Ok(out)
    }

    async fn lineage(&self, message_id: MessageId) -> StoreResult<Vec<LineageEntry>> {
        self.read(move |c, _| {
            select(c, "lineage", rows::LINEAGE, [message_id.0], |r| {
                rows::lineage_entry(r)
            })
        })
        .await
    }

    async fn source_patients(
        &self,
        enterprise_id: EnterpriseId,
    ) -> StoreResult<Vec<SourcePatient>> {
        let eid = enterprise_id.0 as i64;
        self.read(move |c, _| {
            select(c, "source patients", rows::SOURCE_PATIENTS, [eid], |r| {
                rows::source_patient(r)
            })
        })
        .await
    }

    async fn append_audit(&self, events: Vec<AuditEvent>) -> StoreResult<()> {
        self.write(move |w| {
            for ev in &events {
                w.audit(ev)?;
            }
            Ok(())
        })
        .await
    }

    async fn audit_entries(&self, from_seq: i64, limit: usize) -> StoreResult<Vec<AuditEntry>> {
        self.read(move |c, _| {
            select(
                c,
                "audit",
                rows::AUDIT_FROM,
                params![from_seq, sql_limit(limit)],
                |r| rows::audit_entry(r),
            )
        })
        .await
    }

    async fn verify_audit(&self) -> StoreResult<AuditVerification> {
        self.read(|c, _| {
            let mut check = rows::ChainCheck::new();
            loop {
                let page = select(
                    c,
                    "verify audit",
                    rows::AUDIT_AFTER,
                    params![check.last_seq(), rows::ChainCheck::PAGE],
                    |r| Ok(check.check(r)),
                )?;
                let last_page = (page.len() as i64) < rows::ChainCheck::PAGE;
                if let Some(broken) = page.into_iter().flatten().next() {
                    return Ok(broken);
                }
                if last_page {
                    return Ok(check.intact());
                }
            }
        })
        .await
    }

    async fn summary(&self) -> StoreResult<Summary> {
        self.read(|c, _| {
            select_one(c, "summary", rows::SUMMARY, [], |r| rows::summary(r))?
                .ok_or_else(|| corrupt("summary", 0, "no row"))
        })
        .await
    }
}

#[cfg(test)]
mod writer_tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A request that records, when answered, that it was committed (`None` error).
    fn job(
        accept: bool,
        committed: Arc<AtomicUsize>,
        on_run: impl FnOnce() + Send + 'static,
    ) -> Queued {
        Queued {
            accept,
            queued: Instant::now(),
            job: Box::new(move |w: Result<&mut Writer, &StoreError>| {
                w.map_err(|_| ())?;
                on_run();
                Ok(Box::new(move |err: Option<&StoreError>| {
                    if err.is_none() {
                        committed.fetch_add(1, Ordering::SeqCst);
                    }
                }) as Completion)
            }),
        }
    }

    fn writer() -> Writer {
        Writer {
            conn: Connection::open_in_memory().unwrap(),
            enc: None,
            head: None,
        }
    }

    /// An accept that arrives while a group runs other writes (applies) commits after at most
    /// one slice of them, not after every waiting one; the rest keep their order for the next
    /// groups, and nothing is lost.
    #[test]
    fn an_accept_arriving_mid_group_commits_after_one_slice_of_applies() {
        let mut w = writer();
        let (tx, rx) = mpsc::channel::<Queued>();
        let accepts = Arc::new(AtomicUsize::new(0));
        let others = Arc::new(AtomicUsize::new(0));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut q = Queues::default();
        for i in 0..5 {
            let order = order.clone();
            let (tx, accepts) = (tx.clone(), accepts.clone());
            q.push(job(false, others.clone(), move || {
                order.lock().unwrap().push(i);
                if i == 0 {
                    // An ACK starts waiting while the first apply runs.
                    tx.send(job(true, accepts, || {})).unwrap();
                }
            }));
        }
        let opts = GroupOptions {
            max_batch: 1024,
            apply_slice: Duration::ZERO,
        };
        w.run_group(&rx, &mut q, &opts);
        assert_eq!(accepts.load(Ordering::SeqCst), 1, "the accept is committed");
        assert_eq!(
            others.load(Ordering::SeqCst),
            1,
            "after one apply, not five"
        );
        assert_eq!(q.others.len(), 4);
        while !q.is_empty() {
            w.run_group(&rx, &mut q, &opts);
        }
        assert_eq!(others.load(Ordering::SeqCst), 5, "every apply is committed");
        assert_eq!(
            *order.lock().unwrap(),
            vec![0, 1, 2, 3, 4],
            "in arrival order"
        );
    }

    /// With no ACK waiting, a group takes every waiting apply (no slice, one fsync for all).
    #[test]
    fn without_a_waiting_accept_a_group_takes_every_apply() {
        let mut w = writer();
        let (_tx, rx) = mpsc::channel::<Queued>();
        let others = Arc::new(AtomicUsize::new(0));
        let mut q = Queues::default();
        for _ in 0..5 {
            q.push(job(false, others.clone(), || {}));
        }
        let opts = GroupOptions {
            max_batch: 1024,
            apply_slice: Duration::ZERO,
        };
        w.run_group(&rx, &mut q, &opts);
        assert_eq!(others.load(Ordering::SeqCst), 5);
        assert!(q.is_empty());
    }
}
