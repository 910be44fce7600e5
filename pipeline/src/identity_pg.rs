//! A master patient index shared by several processes through PostgreSQL
//! ([`PgMpiResolver`], feature `postgres`).
//!
//! One process keeps its MPI in memory ([`MpiResolver`]): lanes
//! share one [`PatientIndex`] behind its lock, so every decision sees every earlier one. Several
//! processors (the `hub --role processor` of a Kafka deployment) must take **the same
//! decisions as that one process**, whichever partitions they consume. `PgMpiResolver` does it
//! with an append-only decision log in PostgreSQL:
//!
//! * `mpi_log` holds every identity operation in order: each record upserted (the record and
//!   the enterprise id it got), each merge (A40) and unlink (A37) asked for (the two source
//!   keys).
//! * A call to [`IdentityResolver::resolve`] opens a transaction, takes **one global
//!   transaction-scoped advisory lock** (`pg_advisory_xact_lock`), replays the log entries this
//!   process has not seen yet into its local [`PatientIndex`], decides on that index (with
//!   `MpiResolver` itself, the code one process runs), appends its own entries and commits, which releases the lock.
//! * Every process thus applies the same operations in the same order to an index built with
//!   the same model (stored once in `mpi_log_model`), and `PatientIndex` is deterministic: the
//!   local indexes are equal, and every decision is the one a single index would have taken
//!   in the log's order. A replayed upsert whose enterprise id differs from the logged one
//!   would be a bug; it is refused (`identity` error) rather than followed.
//!
//! **Why one global lock, not one per blocking key.** Matching reads candidates under every
//! blocking key of the record and hands out enterprise ids from one counter, and the replay
//! needs log order to be commit order: with one lock per key two transactions could take
//! sequence numbers 10 and 11 and commit 11 first, and a process reading in between would skip
//! 10 for ever. One lock makes the log a total order with no gaps at read time. The lock is
//! held for the replay, the decision and one insert (a few round trips on a local network,
//! ~1 ms); identity is a small part of a message's processing, so processors still convert and
//! store in parallel. Correctness first; per-key locking would need gap detection.
//!
//! **Idempotent.** Upserting a source record the log already has keeps its enterprise id (an
//! update); a merge of two records already under one id, or an unlink of two records already
//! apart, changes nothing (and changes nothing again when replayed). A message redelivered
//! after a crash therefore resolves to the same ids.
//!
//! **Blocking.** [`IdentityResolver`] is synchronous and called on the pipeline's async
//! workers. The resolver owns one dedicated thread with its own single-threaded tokio runtime
//! and `tokio-postgres` connection; `resolve` sends the request there and waits for the
//! answer inside [`tokio::task::block_in_place`] on a multi-threaded runtime (the worker's
//! other tasks move to another thread meanwhile), or plainly outside a runtime. On a
//! current-thread runtime the wait blocks that runtime for the round trips (it cannot
//! deadlock: the connection is driven by the resolver's own thread).
//!
//! **Failures.** A database error (server restarting, connection lost) rolls the transaction
//! back and drops the local index and connection; the call is tried once more on a new
//! connection with the whole log replayed, and if that fails too it is reported as a transient `store_io` error of the identity stage, which the
//! runtime retries per its `RetryPolicy`. Nothing is half-applied: the log and the local index
//! change together or not at all. Errors carry SQLSTATE codes, never record values.
//!
//! The enterprise view kept by the store (`source_patients`, patient links) is written by the
//! store's `apply` as with any resolver. [`IdentityResolver::index`] is `None`: the log is the
//! state of record, and `Pipeline::index` has no in-process copy to offer (the local index is
//! rebuilt after errors).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use ehrkit_identity::{EnterpriseId, FsModel, MatchConfig, PatientIndex, PatientRecord};
use tokio_postgres::{Client, NoTls};

use crate::error::{ErrorKind, Stage, StageError};
use crate::stages::{IdentityOutcome, IdentityResolver, MergeRequest, MpiResolver, UnlinkRequest};

/// The schema this resolver creates (its own tables, independent of the store's migrations).
const MIGRATION_0001: &str = include_str!("../migrations/postgres/mpi/0001.sql");

/// The advisory lock key of every MPI decision (and of the migration): `ehrkit-mpi` as bytes.
pub const MPI_LOCK_KEY: i64 = 0x6568_726b_6d70_6900;

/// Errors of [`PgMpiResolver::connect`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgMpiError {
    /// The database could not be reached or refused the connection.
    #[error("MPI database unavailable: {0}")]
    Connect(String),
    /// The schema migration failed.
    #[error("MPI schema migration failed: {0}")]
    Migration(String),
    /// The stored model does not load, or the log does not replay.
    #[error("MPI state: {0}")]
    State(String),
    /// The resolver's thread could not be started.
    #[error("MPI resolver thread: {0}")]
    Thread(String),
}

type Reply = std::sync::mpsc::SyncSender<Result<IdentityOutcome, StageError>>;

enum Op {
    Resolve {
        patients: Vec<PatientRecord>,
        merges: Vec<MergeRequest>,
    },
    Unlink(Vec<UnlinkRequest>),
}

struct Request {
    op: Op,
    reply: Reply,
}

/// An [`IdentityResolver`] whose MPI is shared by every process connected to the same
/// PostgreSQL database (see the module documentation for the protocol).
///
/// ```no_run
/// # async fn run(store: std::sync::Arc<dyn ehrkit_pipeline::store::Store>) -> Result<(), Box<dyn std::error::Error>> {
/// use ehrkit_pipeline::identity_pg::PgMpiResolver;
/// let mpi = PgMpiResolver::connect("postgres://ehrkit@db/ehrkit").await?;
/// let pipeline = ehrkit_pipeline::Pipeline::builder(store).identity(mpi).start().await?;
/// # let _ = pipeline; Ok(()) }
/// ```
pub struct PgMpiResolver {
    requests: Mutex<mpsc::Sender<Request>>,
}

impl std::fmt::Debug for PgMpiResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgMpiResolver").finish_non_exhaustive()
    }
}

impl PgMpiResolver {
    /// Connects to `url` (`postgres://user@host:port/db`; no TLS: keep the database on a
    /// private network), applies the schema if needed, stores the default untrained model the
    /// first time, and replays the log. Every process of a deployment must use the same
    /// database.
    pub async fn connect(url: &str) -> Result<Self, PgMpiError> {
        Self::connect_with_model(url, FsModel::untrained(MatchConfig::default())).await
    }

    /// As [`connect`](Self::connect); `model` is stored if the database has none yet, else the
    /// stored model is used (all processes must score alike).
    pub async fn connect_with_model(url: &str, model: FsModel) -> Result<Self, PgMpiError> {
        let (tx, rx) = mpsc::channel::<Request>();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let url = url.to_owned();
        std::thread::Builder::new()
            .name("ehrkit-mpi-pg".into())
            .spawn(move || worker(url, model, rx, ready_tx))
            .map_err(|e| PgMpiError::Thread(e.to_string()))?;
        ready_rx
            .await
            .map_err(|_| PgMpiError::Thread("exited before it was ready".into()))??;
        Ok(PgMpiResolver {
            requests: Mutex::new(tx),
        })
    }
}

impl PgMpiResolver {
    /// Runs `op` on the resolver's thread and waits for the answer without stalling the
    /// other tasks of a multi-threaded runtime.
    fn call(&self, op: Op) -> Result<IdentityOutcome, StageError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let request = Request { op, reply };
        let gone = || {
            StageError::new(
                Stage::Identity,
                ErrorKind::Internal,
                "MPI resolver thread is gone",
            )
        };
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(request)
            .map_err(|_| gone())?;
        let wait = move || answer.recv().map_err(|_| gone());
        let on_multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if on_multi_thread {
            tokio::task::block_in_place(wait)?
        } else {
            wait()?
        }
    }
}

impl IdentityResolver for PgMpiResolver {
    fn resolve(
        &self,
        patients: &[PatientRecord],
        merges: &[MergeRequest],
    ) -> Result<IdentityOutcome, StageError> {
        if patients.is_empty() && merges.is_empty() {
            return Ok(IdentityOutcome::default());
        }
        self.call(Op::Resolve {
            patients: patients.to_vec(),
            merges: merges.to_vec(),
        })
    }

    fn unlink(&self, unlinks: &[UnlinkRequest]) -> Result<IdentityOutcome, StageError> {
        if unlinks.is_empty() {
            return Ok(IdentityOutcome::default());
        }
        self.call(Op::Unlink(unlinks.to_vec()))
    }
}

// ------------------------------------------------------------------------------ the thread

fn worker(
    url: String,
    model: FsModel,
    requests: mpsc::Receiver<Request>,
    ready: tokio::sync::oneshot::Sender<Result<(), PgMpiError>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(PgMpiError::Thread(e.to_string())));
            return;
        }
    };
    let mut state = State {
        url,
        client: None,
        local: None,
        model_json: None,
    };
    let init = rt.block_on(state.init(&model));
    let ok = init.is_ok();
    let _ = ready.send(init);
    if !ok {
        return;
    }
    while let Ok(req) = requests.recv() {
        let out = rt.block_on(state.resolve(&req.op));
        let _ = req.reply.send(out);
    }
}

/// The local copy of the log: the index and the last sequence number replayed into it.
struct Local {
    index: Arc<PatientIndex>,
    seen: i64,
}

struct State {
    url: String,
    client: Option<Client>,
    local: Option<Local>,
    model_json: Option<String>,
}

/// A database error as a reason without values: its SQLSTATE, or the kind of client failure.
fn pg_reason(e: &tokio_postgres::Error) -> String {
    match e.code() {
        Some(code) => format!("database error (SQLSTATE {})", code.code()),
        None if e.is_closed() => "database connection closed".to_owned(),
        None => "database unavailable".to_owned(),
    }
}

fn io(e: &tokio_postgres::Error) -> StageError {
    StageError::new(
        Stage::Identity,
        ErrorKind::StoreIo,
        format!("shared MPI: {}", pg_reason(e)),
    )
}

fn identity(reason: impl Into<String>) -> StageError {
    StageError::new(Stage::Identity, ErrorKind::Identity, reason)
}

/// One log entry to append.
struct Entry {
    op: &'static str,
    body: String,
    enterprise_id: EnterpriseId,
}

/// The two source keys of a merge (survivor, retired) or an unlink (first, second).
#[derive(serde::Serialize, serde::Deserialize)]
struct PairBody {
    a: String,
    b: String,
}

impl State {
    async fn client(&mut self) -> Result<&mut Client, tokio_postgres::Error> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(reason = %pg_reason(&e), "shared MPI connection ended");
                }
            });
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// Schema, model, first replay.
    async fn init(&mut self, model: &FsModel) -> Result<(), PgMpiError> {
        let model_json =
            serde_json::to_string(model).map_err(|e| PgMpiError::State(e.to_string()))?;
        let client = self
            .client()
            .await
            .map_err(|e| PgMpiError::Connect(pg_reason(&e)))?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| PgMpiError::Connect(pg_reason(&e)))?;
        let migrate = async {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MPI_LOCK_KEY])
                .await?;
            tx.batch_execute(MIGRATION_0001).await?;
            tx.execute(
                "INSERT INTO mpi_log_model (id, model) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                &[&model_json],
            )
            .await?;
            let row = tx
                .query_one("SELECT model FROM mpi_log_model WHERE id = 1", &[])
                .await?;
            let stored: String = row.get(0);
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(stored)
        };
        let stored = migrate
            .await
            .map_err(|e| PgMpiError::Migration(pg_reason(&e)))?;
        let mut local = new_local(&stored).map_err(|e| PgMpiError::State(e.reason))?;
        self.model_json = Some(stored);
        let client = self
            .client()
            .await
            .map_err(|e| PgMpiError::Connect(pg_reason(&e)))?;
        catch_up(&*client, &mut local).await.map_err(|e| match e {
            Failure::Db(e) => PgMpiError::Connect(pg_reason(&e)),
            Failure::Stage(e) => PgMpiError::State(e.reason),
        })?;
        self.local = Some(local);
        Ok(())
    }

    async fn resolve(&mut self, op: &Op) -> Result<IdentityOutcome, StageError> {
        let mut out = self.try_resolve(op).await;
        if let Err(Failure::Db(_)) = &out {
            // A connection the server closed meanwhile (restart, idle kill) fails at its
            // first statement: once more on a new connection and a replayed index. Safe even
            // after an unanswered COMMIT: the replay holds what was kept, and upserting or
            // merging again changes nothing.
            self.local = None;
            self.client = None;
            out = self.try_resolve(op).await;
        }
        if out.is_err() {
            // The transaction rolled back; the local index may hold what it did not keep.
            self.local = None;
        }
        match out {
            Ok(o) => Ok(o),
            Err(Failure::Db(e)) => {
                // Reconnect on the next call (a restarted server closed this connection).
                self.client = None;
                tracing::warn!(reason = %pg_reason(&e), "shared MPI decision not taken");
                Err(io(&e))
            }
            Err(Failure::Stage(e)) => Err(e),
        }
    }

    async fn try_resolve(&mut self, op: &Op) -> Result<IdentityOutcome, Failure> {
        let model_json = self.model_json.clone().unwrap_or_default();
        let mut local = match self.local.take() {
            Some(l) => l,
            None => new_local(&model_json)?,
        };
        let client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MPI_LOCK_KEY])
            .await?;
        catch_up(&tx, &mut local).await?;
        let (out, entries) = decide(&local.index, op)?;
        let mut last = local.seen;
        for e in &entries {
            let eid = e.enterprise_id.0 as i64;
            let row = tx
                .query_one(
                    "INSERT INTO mpi_log (op, body, enterprise_id) VALUES ($1, $2, $3) RETURNING seq",
                    &[&e.op, &e.body, &eid],
                )
                .await?;
            last = row.get(0);
        }
        tx.commit().await?;
        local.seen = last;
        self.local = Some(local);
        Ok(out)
    }
}

enum Failure {
    Db(tokio_postgres::Error),
    Stage(StageError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<StageError> for Failure {
    fn from(e: StageError) -> Self {
        Failure::Stage(e)
    }
}

fn new_local(model_json: &str) -> Result<Local, StageError> {
    let model: FsModel = serde_json::from_str(model_json)
        .map_err(|_| identity("shared MPI: the stored model does not load"))?;
    let index = PatientIndex::new(model)
        .map_err(|e| identity(format!("shared MPI: the stored model is refused: {e}")))?;
    Ok(Local {
        index: Arc::new(index),
        seen: 0,
    })
}

/// Replays every entry after `local.seen`, in order.
async fn catch_up<C: tokio_postgres::GenericClient>(
    client: &C,
    local: &mut Local,
) -> Result<(), Failure> {
    let rows = client
        .query(
            "SELECT seq, op, body, enterprise_id FROM mpi_log WHERE seq > $1 ORDER BY seq",
            &[&local.seen],
        )
        .await?;
    for row in rows {
        let seq: i64 = row.get(0);
        let op: &str = row.get(1);
        let body: &str = row.get(2);
        let logged = EnterpriseId(row.get::<_, i64>(3) as u64);
        replay(&local.index, seq, op, body, logged)?;
        local.seen = seq;
    }
    Ok(())
}

fn replay(
    index: &Arc<PatientIndex>,
    seq: i64,
    op: &str,
    body: &str,
    logged: EnterpriseId,
) -> Result<(), StageError> {
    let bad = |what: &str| identity(format!("shared MPI: log entry {seq}: {what}"));
    // The same code as the decision: `MpiResolver` over the local index.
    let mpi = MpiResolver::new(index.clone());
    match op {
        "upsert" => {
            let rec: PatientRecord =
                serde_json::from_str(body).map_err(|_| bad("record does not load"))?;
            let a = index
                .upsert(rec)
                .map_err(|e| bad(&format!("upsert failed: {e}")))?;
            if a.enterprise_id != logged {
                // PatientIndex is deterministic: a different id means another model or a
                // different history; following it would split identities silently.
                return Err(bad("replay gave another enterprise id than the one logged"));
            }
        }
        "merge" => {
            let m: PairBody = serde_json::from_str(body).map_err(|_| bad("merge does not load"))?;
            let request = MergeRequest {
                survivor: m.a,
                retired: m.b,
            };
            mpi.resolve(&[], &[request])
                .map_err(|e| bad(&format!("merge failed: {}", e.reason)))?;
        }
        "unlink" => {
            let u: PairBody =
                serde_json::from_str(body).map_err(|_| bad("unlink does not load"))?;
            let request = UnlinkRequest {
                first: u.a,
                second: u.b,
            };
            mpi.unlink(&[request])
                .map_err(|e| bad(&format!("unlink failed: {}", e.reason)))?;
        }
        _ => return Err(bad("unknown operation")),
    }
    Ok(())
}

fn pair(op: &'static str, a: &str, b: &str) -> Result<Entry, StageError> {
    Ok(Entry {
        op,
        body: serde_json::to_string(&PairBody {
            a: a.to_owned(),
            b: b.to_owned(),
        })
        .map_err(|_| identity("shared MPI: entry does not serialize"))?,
        enterprise_id: EnterpriseId(0),
    })
}

/// The decision of `MpiResolver` on the local index (the very code one process runs), with
/// the log entries that reproduce it: each record upserted, then each merge or unlink asked
/// for (replaying one that changed nothing changes nothing again).
fn decide(index: &Arc<PatientIndex>, op: &Op) -> Result<(IdentityOutcome, Vec<Entry>), StageError> {
    let mpi = MpiResolver::new(index.clone());
    let mut entries = Vec::new();
    let out = match op {
        Op::Resolve { patients, merges } => {
            let out = mpi.resolve(patients, merges)?;
            for l in &out.linked {
                entries.push(Entry {
                    op: "upsert",
                    body: serde_json::to_string(&l.record)
                        .map_err(|_| identity("shared MPI: record does not serialize"))?,
                    enterprise_id: l.assignment.enterprise_id,
                });
            }
            for m in merges {
                entries.push(pair("merge", &m.survivor, &m.retired)?);
            }
            out
        }
        Op::Unlink(unlinks) => {
            let out = mpi.unlink(unlinks)?;
            for u in unlinks {
                entries.push(pair("unlink", &u.first, &u.second)?);
            }
            out
        }
    };
    Ok((out, entries))
}
