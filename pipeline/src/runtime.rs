//! The runtime: keeps each message (commit-before-ACK), orders the work per patient, runs the
//! stages, retries, dead-letters, stores, and hands changes to the sinks.
//!
//! ```text
//!  source ──► Parser ──► Router ──► Store::accept (durable) ──► ACK
//!                                        │
//!                      keyed queue: shard = hash(source patient) mod N, bounded
//!                      (full: the submit waits, so the ACK waits)
//!                                        │ one worker per shard, FIFO
//!                                        ▼
//!            Normalizer ──► IdentityResolver ──► Store::apply (one transaction) ──► sinks
//!                 │ failure: retried per RetryPolicy (transient kinds), then a dead letter
//! ```

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ehrkit_identity::{EnterpriseId, FsModel, IndexSnapshot, MatchConfig, PatientIndex};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, Notify};
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind, Stage, StageError};
use crate::monitor::{Alert, Health, HealthInput, HealthRules, Stats, StatsSnapshot};
use crate::routing::{CachedRouter, Route, Router, RoutingTable, Sender};
use crate::sink::{Broadcast, Change, Filter, Sink, Subscription, DELIVER_STAGE};
use crate::stages::{
    has_possible, is_match, DefaultNormalizer, DefaultParser, Header, IdentityOutcome,
    IdentityResolver, Input, MpiResolver, Normalized, Normalizer, Parser, PatientRef,
};
use crate::store::{
    now_ms, Accepted, ApplyBatch, ApplyMode, AuditEvent, AuditEventKind, DeadLetterId,
    InboundMessage, InboxState, Lineage, MessageId, MpiState, NewDeadLetter, NewPossibleMatch,
    PatientLink, PayloadKind, ProfileRef, ResourceWrite, ReviewId, Store, StoreError, Summary,
};

// Identity and reprocessing APIs of `Pipeline` (review decisions, redirects, time ranges).
#[path = "runtime_identity.rs"]
mod identity;
pub use identity::{ReprocessReport, SkipReason};

/// The version recorded as `converter_version` in lineage.
pub const CONVERTER_VERSION: &str = concat!("ehrkit-mapping ", env!("CARGO_PKG_VERSION"));

/// System of the enterprise identifier written in source Patients' `link`.
pub const ENTERPRISE_ID_SYSTEM: &str = "urn:ehrkit:enterprise-id";

/// How transient failures (store I/O, sinks) are retried before a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1: no retry).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled each time.
    pub initial_backoff: Duration,
    /// Longest wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let f = 2u32.saturating_pow(attempt.saturating_sub(1)).min(1 << 16);
        (self.initial_backoff * f).min(self.max_backoff)
    }
}

/// What happened, as the runtime reports it to [`Pipeline::events`] listeners (no PHI: ids,
/// keys of source records, counts, stage and kind names).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PipelineEvent {
    /// A message was kept (or recognized as a resend).
    Received {
        /// Inbox id.
        message_id: MessageId,
        /// Source name.
        source: String,
        /// `ADT^A01`, `Patient`, ...
        message_type: String,
        /// What the store said.
        accepted: Accepted,
    },
    /// A message was refused before being kept (the MLLP source NAKs it).
    Refused {
        /// The endpoint it came through.
        endpoint: String,
        /// Why.
        error: StageError,
    },
    /// The normalize stage produced resources.
    Converted {
        /// Inbox id.
        message_id: MessageId,
        /// Profile name and version.
        profile: String,
        /// Resources produced.
        resources: usize,
        /// Report entries (fields not mapped, data problems).
        unmapped: usize,
    },
    /// A source patient was linked to an enterprise identity.
    Linked {
        /// Inbox id.
        message_id: MessageId,
        /// MPI record key.
        key: String,
        /// Its enterprise id.
        enterprise_id: EnterpriseId,
        /// `new`, `match` (auto-linked) or `update`.
        outcome: &'static str,
        /// POSSIBLE candidates queued for review.
        possible: usize,
    },
    /// Two enterprise identities were merged: by a merge message (A39/A40), or by a
    /// reviewer's `Linked` decision on a POSSIBLE MATCH ([`Pipeline::resolve_review`]).
    Merged {
        /// Inbox id of the merge message; `None` for a review decision.
        message_id: Option<MessageId>,
        /// The review item decided, for a review decision.
        review: Option<ReviewId>,
        /// The surviving enterprise id.
        survivor: EnterpriseId,
        /// Records moved to it.
        moved: usize,
    },
    /// A message was applied to the store.
    Stored {
        /// Inbox id.
        message_id: MessageId,
        /// Resource versions written.
        written: usize,
        /// Resources unchanged (same content).
        unchanged: usize,
        /// The message had been applied already (recovery).
        already_processed: bool,
    },
    /// A message went to the dead letters.
    DeadLettered {
        /// Inbox id.
        message_id: MessageId,
        /// Dead letter id.
        dead_letter: Option<DeadLetterId>,
        /// The failure.
        error: StageError,
        /// Attempts made.
        attempts: u32,
    },
}

/// Why [`Pipeline::submit`] did not keep a message: answer with a NAK.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// A stage refused it (parse, message type, unknown sender): AE, do not resend as is.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The store could not keep it (I/O, disk full): AR, resend later.
    #[error("the message could not be kept: {0}")]
    Store(#[source] StoreError),
    /// The pipeline is shutting down: AR, resend later.
    #[error("the pipeline is shutting down")]
    Closed,
}

/// What [`Pipeline::submit`] kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// What the store said.
    pub accepted: Accepted,
    /// The source name it is kept under.
    pub source: String,
    /// Its message type.
    pub message_type: String,
}

/// Resolves when a message given to [`Pipeline::submit_tracked`] has been through its stages:
/// `Ok(())` once applied, `Err` with the stage error once dead-lettered. A resend of a message
/// already applied or dead-lettered is complete at once. When the pipeline stops first, the
/// error is a transient [`ErrorKind::StoreIo`] of the store stage: the effect is not known to
/// be stored, so the caller must not acknowledge upstream.
#[derive(Debug)]
#[must_use = "a completion does nothing unless awaited"]
pub struct Completion(Option<tokio::sync::oneshot::Receiver<Result<(), StageError>>>);

impl Completion {
    /// A completion with nothing to wait for.
    pub fn done() -> Self {
        Completion(None)
    }

    /// True when there is nothing to wait for (the message needed no processing).
    pub fn is_immediate(&self) -> bool {
        self.0.is_none()
    }
}

impl std::future::Future for Completion {
    type Output = Result<(), StageError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.0.as_mut() {
            None => std::task::Poll::Ready(Ok(())),
            Some(rx) => std::pin::Pin::new(rx).poll(cx).map(|r| {
                r.unwrap_or_else(|_| {
                    Err(StageError::new(
                        Stage::Store,
                        ErrorKind::StoreIo,
                        "the pipeline stopped before the message was applied",
                    ))
                })
            }),
        }
    }
}

struct Job {
    id: MessageId,
    kind: PayloadKind,
    payload: Arc<[u8]>,
    sender: Sender,
    source: String,
    mode: ApplyMode,
    enqueued_ms: i64,
    done: Option<tokio::sync::oneshot::Sender<Result<(), StageError>>>,
    /// A route chosen by the caller (reprocessing with a stored profile version) instead of
    /// the router's.
    route: Option<Route>,
}

struct Shard {
    tx: mpsc::Sender<Job>,
    /// Enqueue time (ms) of the job being processed, 0 when idle.
    busy_since: AtomicI64,
}

struct Inner {
    store: Arc<dyn Store>,
    parser: Arc<dyn Parser>,
    router: CachedRouter,
    normalizer: Arc<dyn Normalizer>,
    identity: Arc<dyn IdentityResolver>,
    sinks: Vec<Arc<dyn Sink>>,
    broadcast: Broadcast,
    events: broadcast::Sender<PipelineEvent>,
    retry: RetryPolicy,
    stats: Stats,
    health: Health,
    rules: Mutex<HealthRules>,
    shards: Vec<Shard>,
    in_flight: AtomicUsize,
    idle: Notify,
    closed: AtomicBool,
    /// Highest enterprise id handed out + 1 (the MPI state's `next_eid`).
    next_eid: AtomicU64,
    /// Retired ids and merges of the last full MPI checkpoint.
    mpi_extra: Mutex<Option<IndexSnapshot>>,
    /// True once an apply carrying the MPI state committed in this process (the store derives
    /// the id counter from the records; the state is written again only after merges).
    mpi_state_saved: AtomicBool,
    /// (source, Patient storage id) → MPI record key, for FHIR resources referencing a Patient.
    fhir_patients: Mutex<HashMap<String, String>>,
    connections_open: AtomicU64,
    /// Conversions and matchings running at once, off the async workers.
    convert_permits: tokio::sync::Semaphore,
}

/// Builds a [`Pipeline`].
pub struct PipelineBuilder {
    store: Arc<dyn Store>,
    parser: Arc<dyn Parser>,
    router: Arc<dyn Router>,
    normalizer: Arc<dyn Normalizer>,
    identity: Option<Arc<dyn IdentityResolver>>,
    sinks: Vec<Arc<dyn Sink>>,
    retry: RetryPolicy,
    shards: usize,
    queue_capacity: usize,
    broadcast_capacity: usize,
    rules: HealthRules,
    recover: bool,
    convert_concurrency: usize,
}

impl PipelineBuilder {
    /// Messages waiting per lane before submits (and so ACKs) wait, by default
    /// ([`PipelineBuilder::queue_capacity`]): a burst of 16 lanes × 4,096 messages is ACKed at
    /// the inbox rate while processing catches up.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;

    /// Replaces the parse stage.
    pub fn parser(mut self, p: impl Parser) -> Self {
        self.parser = Arc::new(p);
        self
    }
    /// Replaces the router (default: every sender to the generic profile).
    pub fn router(mut self, r: impl Router) -> Self {
        self.router = Arc::new(r);
        self
    }
    /// Replaces the normalize stage.
    pub fn normalizer(mut self, n: impl Normalizer) -> Self {
        self.normalizer = Arc::new(n);
        self
    }
    /// Replaces the identity stage (default: an MPI loaded from the store).
    pub fn identity(mut self, i: impl IdentityResolver) -> Self {
        self.identity = Some(Arc::new(i));
        self
    }
    /// Adds a sink.
    pub fn sink(mut self, s: impl Sink) -> Self {
        self.sinks.push(Arc::new(s));
        self
    }
    /// Sets the retry policy.
    pub fn retry(mut self, r: RetryPolicy) -> Self {
        self.retry = r;
        self
    }
    /// Number of ordered lanes (default 16): messages of one patient always share a lane;
    /// lanes run in parallel.
    pub fn lanes(mut self, n: usize) -> Self {
        self.shards = n.max(1);
        self
    }
    /// Messages waiting per lane before submits (and so ACKs) wait (default
    /// [`PipelineBuilder::DEFAULT_QUEUE_CAPACITY`]: a burst of 16 × 4,096 messages is ACKed
    /// at the inbox rate while processing catches up).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(1);
        self
    }
    /// Changes kept for slow subscribers (default 4096).
    pub fn subscription_capacity(mut self, n: usize) -> Self {
        self.broadcast_capacity = n.max(1);
        self
    }
    /// Health rules.
    pub fn health_rules(mut self, r: HealthRules) -> Self {
        self.rules = r;
        self
    }
    /// Conversions and matchings run at once (default: the cores less one, at least one). They
    /// run off the async workers, so the connection tasks whose ACKs wait on the inbox commit
    /// are never queued behind them; leaving a core to those tasks and the store's writer keeps
    /// the ACK latency low while processing runs.
    pub fn convert_concurrency(mut self, n: usize) -> Self {
        self.convert_concurrency = n.max(1);
        self
    }
    /// Whether [`PipelineBuilder::start`] re-queues the messages kept but not applied before a
    /// crash (default true).
    pub fn recover(mut self, on: bool) -> Self {
        self.recover = on;
        self
    }

    /// Starts the workers; loads the MPI from the store; re-queues pending messages.
    pub async fn start(self) -> Result<Pipeline, Error> {
        let mut next_eid = 1;
        let mut extra = None;
        let identity = match self.identity {
            Some(i) => i,
            None => {
                let index = match self.store.load_mpi().await.map_err(Error::Store)? {
                    Some(mut snap) => {
                        // An enterprise id is persisted with its records; never hand one out again.
                        let max = snap.records.iter().map(|(_, e)| e.0).max().unwrap_or(0);
                        snap.next_eid = snap.next_eid.max(max + 1);
                        next_eid = snap.next_eid;
                        extra = Some(IndexSnapshot {
                            model: snap.model.clone(),
                            records: Vec::new(),
                            next_eid: snap.next_eid,
                            retired: snap.retired.clone(),
                            merges: snap.merges.clone(),
                        });
                        PatientIndex::from_snapshot(snap).map_err(identity::identity_error)?
                    }
                    None => PatientIndex::new(FsModel::untrained(MatchConfig::default()))
                        .map_err(identity::identity_error)?,
                };
                Arc::new(MpiResolver::new(Arc::new(index))) as Arc<dyn IdentityResolver>
            }
        };
        let mut receivers = Vec::new();
        let mut shards = Vec::new();
        for _ in 0..self.shards {
            let (tx, rx) = mpsc::channel(self.queue_capacity);
            shards.push(Shard {
                tx,
                busy_since: AtomicI64::new(0),
            });
            receivers.push(rx);
        }
        let inner = Arc::new(Inner {
            store: self.store,
            parser: self.parser,
            router: CachedRouter::new(self.router),
            normalizer: self.normalizer,
            identity,
            sinks: self.sinks,
            broadcast: Broadcast::new(self.broadcast_capacity),
            events: broadcast::channel(4096).0,
            retry: self.retry,
            stats: Stats::default(),
            health: Health::default(),
            rules: Mutex::new(self.rules),
            shards,
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            closed: AtomicBool::new(false),
            next_eid: AtomicU64::new(next_eid),
            mpi_extra: Mutex::new(extra),
            mpi_state_saved: AtomicBool::new(false),
            fhir_patients: Mutex::new(HashMap::new()),
            connections_open: AtomicU64::new(0),
            convert_permits: tokio::sync::Semaphore::new(self.convert_concurrency),
        });
        let mut workers = Vec::new();
        for (i, rx) in receivers.into_iter().enumerate() {
            let inner = inner.clone();
            workers.push(tokio::spawn(worker(inner, i, rx)));
        }
        let pipeline = Pipeline {
            inner,
            workers: Arc::new(Mutex::new(workers)),
        };
        if self.recover {
            pipeline.recover().await?;
        }
        Ok(pipeline)
    }
}

/// A running pipeline. Cheap to clone (shared).
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("lanes", &self.inner.shards.len())
            .field("in_flight", &self.inner.in_flight.load(Ordering::Relaxed))
            .finish()
    }
}

fn lane_of(key: &str, n: usize) -> usize {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % n as u64) as usize
}

impl Pipeline {
    /// A builder over `store`, with the default stages: [`DefaultParser`], a router sending
    /// every sender to the generic profile, [`DefaultNormalizer`], the MPI.
    pub fn builder(store: Arc<dyn Store>) -> PipelineBuilder {
        PipelineBuilder {
            store,
            parser: Arc::new(DefaultParser::default()),
            router: Arc::new(RoutingTable::accept_all(ehrkit_mapping::Profile::generic())),
            normalizer: Arc::new(DefaultNormalizer),
            identity: None,
            sinks: Vec::new(),
            retry: RetryPolicy::default(),
            shards: 16,
            queue_capacity: PipelineBuilder::DEFAULT_QUEUE_CAPACITY,
            broadcast_capacity: 4096,
            rules: HealthRules::default(),
            recover: true,
            convert_concurrency: std::thread::available_parallelism()
                .map_or(1, |n| n.get().saturating_sub(1))
                .max(1),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The MPI, when the identity stage has one.
    pub fn index(&self) -> Option<&Arc<PatientIndex>> {
        self.inner.identity.index()
    }

    /// In-process totals since start.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// The live counters (for sources that record ACKs and connection drops).
    pub fn counters(&self) -> &Stats {
        &self.inner.stats
    }

    /// The store's summary (the example's last line).
    pub async fn summary(&self) -> Result<Summary, Error> {
        self.inner.store.summary().await.map_err(Error::Store)
    }

    /// A subscription to stored changes passing `filter`.
    pub fn subscribe(&self, filter: Filter) -> Subscription {
        self.inner.broadcast.subscribe(filter)
    }

    /// Events of the runtime (received, converted, linked, stored, dead-lettered, ...), from now
    /// on. A receiver that falls behind by more than 4096 events misses the oldest.
    pub fn events(&self) -> broadcast::Receiver<PipelineEvent> {
        self.inner.events.subscribe()
    }

    /// Messages submitted and not yet applied or dead-lettered.
    pub fn queue_depth(&self) -> usize {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// Age of the oldest message being worked on or waiting (approximately: the oldest
    /// lane head).
    pub fn queue_age(&self) -> Duration {
        let now = now_ms();
        let oldest = self
            .inner
            .shards
            .iter()
            .map(|s| s.busy_since.load(Ordering::Relaxed))
            .filter(|t| *t > 0)
            .min();
        oldest.map_or(Duration::ZERO, |t| {
            Duration::from_millis((now - t).max(0) as u64)
        })
    }

    /// Tells the health rules how many connections are open now.
    pub fn set_connections_open(&self, n: u64) {
        self.inner.connections_open.store(n, Ordering::Relaxed);
        metrics::gauge!("ehrkit_pipeline_connections_open").set(n as f64);
    }

    /// Replaces the health rules.
    pub fn set_health_rules(&self, rules: HealthRules) {
        *self.inner.rules.lock().unwrap_or_else(|p| p.into_inner()) = rules;
    }

    /// Evaluates the health rules now (alert states; changes are logged) and updates the queue
    /// gauges.
    pub fn health(&self) -> Vec<Alert> {
        let age = self.queue_age();
        metrics::gauge!("ehrkit_pipeline_queue_depth").set(self.queue_depth() as f64);
        metrics::gauge!("ehrkit_pipeline_queue_oldest_seconds").set(age.as_secs_f64());
        let rules = self
            .inner
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.inner.health.evaluate(
            &rules,
            &self.inner.stats,
            HealthInput {
                queue_age: age,
                connections_open: self.inner.connections_open.load(Ordering::Relaxed),
            },
        )
    }

    /// Parses, routes and keeps one message durably, then queues it for processing in its
    /// patient's lane (waiting while the lane is full). `Ok` means durably kept: ACK it.
    pub async fn submit(
        &self,
        kind: PayloadKind,
        payload: impl Into<Vec<u8>>,
        endpoint: &str,
        peer: Option<String>,
    ) -> Result<Submitted, Refusal> {
        self.submit_inner(kind, payload.into(), endpoint, peer, false)
            .await
            .map(|(s, _)| s)
    }

    /// Like [`Pipeline::submit`], and also returns a [`Completion`] that resolves once the
    /// message has been through its stages (applied, or dead-lettered). For sources that
    /// acknowledge upstream only after the effect is stored, such as an event-log processor
    /// committing its offset: a resend of a message that is kept but still **pending** (its
    /// first processor died between keeping and applying it) is processed now, so nothing
    /// waits for a restart; applying it is idempotent if another worker gets there too.
    pub async fn submit_tracked(
        &self,
        kind: PayloadKind,
        payload: impl Into<Vec<u8>>,
        endpoint: &str,
        peer: Option<String>,
    ) -> Result<(Submitted, Completion), Refusal> {
        self.submit_inner(kind, payload.into(), endpoint, peer, true)
            .await
    }

    async fn submit_inner(
        &self,
        kind: PayloadKind,
        payload: Vec<u8>,
        endpoint: &str,
        peer: Option<String>,
        track: bool,
    ) -> Result<(Submitted, Completion), Refusal> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(Refusal::Closed);
        }
        let t0 = Instant::now();
        let header = match inner.parser.header(kind, &payload, endpoint) {
            Ok(h) => h,
            Err(e) => return Err(self.refuse(endpoint, e)),
        };
        Stats::stage_latency(Stage::Parse, t0.elapsed());
        let route = match inner.router.route(&header.sender) {
            Ok(r) => r,
            Err(e) => return Err(self.refuse(endpoint, e)),
        };
        let Header {
            sender,
            message_type,
            key,
            patient_key,
        } = header;
        let order_key = patient_key.unwrap_or_else(|| key.canonical());
        let mut msg = InboundMessage::new(key, payload.clone(), kind, route.source.clone())
            .message_type(message_type.clone());
        if let Some(p) = peer {
            msg = msg.peer(p);
        }
        let t1 = Instant::now();
        let accepted = inner.store.accept(msg).await.map_err(|e| {
            tracing::warn!(source = %route.source, error = %e, "message not kept; NAK");
            Refusal::Store(e)
        })?;
        Stats::stage_latency(Stage::Receive, t1.elapsed());
        match accepted {
            Accepted::Duplicate(_) => inner.stats.duplicate(&route.source),
            Accepted::ControlIdReused { .. } => {
                inner.stats.received(&route.source, &message_type);
                inner.stats.control_id_reused(&route.source);
            }
            _ => inner.stats.received(&route.source, &message_type),
        }
        let _ = inner.events.send(PipelineEvent::Received {
            message_id: accepted.id(),
            source: route.source.clone(),
            message_type: message_type.clone(),
            accepted,
        });
        let process = if accepted.needs_processing() {
            true
        } else if track {
            // A resend: process it only if the original is kept but not applied yet (the
            // process that kept it died before applying it; this run is its only chance
            // before a restart). Same key and content hash: the same payload.
            let original = inner.store.message(accepted.id()).await.map_err(|e| {
                tracing::warn!(source = %route.source, error = %e, "resend not checked; NAK");
                Refusal::Store(e)
            })?;
            original.state == InboxState::Pending
        } else {
            false
        };
        let mut completion = Completion(None);
        if process {
            let done = if track {
                let (tx, rx) = tokio::sync::oneshot::channel();
                completion = Completion(Some(rx));
                Some(tx)
            } else {
                None
            };
            let job = Job {
                id: accepted.id(),
                kind,
                payload: payload.into(),
                sender,
                source: route.source.clone(),
                mode: ApplyMode::First,
                enqueued_ms: now_ms(),
                route: None,
                done,
            };
            self.enqueue(&order_key, job).await?;
        }
        Ok((
            Submitted {
                accepted,
                source: route.source,
                message_type,
            },
            completion,
        ))
    }

    fn refuse(&self, endpoint: &str, e: StageError) -> Refusal {
        tracing::info!(endpoint, stage = %e.stage, kind = %e.kind, reason = %e.reason, "message refused");
        metrics::counter!("ehrkit_pipeline_refused_total", "stage" => e.stage.as_str(), "kind" => e.kind.as_str()).increment(1);
        let _ = self.inner.events.send(PipelineEvent::Refused {
            endpoint: endpoint.to_owned(),
            error: e.clone(),
        });
        Refusal::Stage(e)
    }

    async fn enqueue(&self, order_key: &str, job: Job) -> Result<(), Refusal> {
        let inner = &self.inner;
        let lane = lane_of(order_key, inner.shards.len());
        // Room first, then count and send at once: a caller dropped while it waits for room
        // (a processor stopped, a connection gone) leaves the in-flight count right, so a
        // later drain or shutdown does not wait for a job that never came.
        let Ok(permit) = inner.shards[lane].tx.reserve().await else {
            return Err(Refusal::Closed);
        };
        inner.in_flight.fetch_add(1, Ordering::AcqRel);
        permit.send(job);
        Ok(())
    }

    /// Re-queues every message kept but not yet applied (after a crash). Called by
    /// [`PipelineBuilder::start`] unless turned off; returns how many.
    pub async fn recover(&self) -> Result<usize, Error> {
        let pending = self
            .inner
            .store
            .pending(usize::MAX / 2)
            .await
            .map_err(Error::Store)?;
        let n = pending.len();
        if n > 0 {
            tracing::info!(messages = n, "re-queuing messages kept before a restart");
        }
        for m in pending {
            let (order_key, job) = kept_job(&self.inner, m, ApplyMode::First, None);
            self.enqueue(&order_key, job)
                .await
                .map_err(|_| Error::Closed)?;
        }
        Ok(n)
    }

    /// Waits until every submitted message is applied or dead-lettered.
    pub async fn drain(&self) {
        loop {
            let notified = self.inner.idle.notified();
            if self.inner.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Processes a dead letter's message again (after a fix: a new profile, a mapping that
    /// now supports its type) with [`ApplyMode::Reprocess`]; on success the dead letter is
    /// marked reprocessed. Applying twice writes nothing new (resources are upserted by id).
    pub async fn reprocess(&self, id: DeadLetterId, actor: &str) -> Result<(), Error> {
        let inner = &self.inner;
        let dl = inner
            .store
            .dead_letter_by_id(id)
            .await
            .map_err(Error::Store)?;
        let Some(mid) = dl.failure.message_id else {
            return Err(Error::Stage(StageError::new(
                Stage::Receive,
                ErrorKind::MissingData,
                "dead letter has no kept message to reprocess",
            )));
        };
        if dl.failure.stage == DELIVER_STAGE {
            // Applied already, only the delivery failed: deliver again, do not apply again.
            return redeliver(inner, id, dl.failure.location.as_deref(), mid, actor).await;
        }
        let m = inner.store.message(mid).await.map_err(Error::Store)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (order_key, job) = kept_job(inner, m, ApplyMode::Reprocess, Some(tx));
        self.enqueue(&order_key, job)
            .await
            .map_err(|_| Error::Closed)?;
        match rx.await {
            Ok(Ok(())) => close_dead_letter(inner, id, actor).await,
            Ok(Err(e)) => Err(Error::Stage(e)),
            Err(_) => Err(Error::Closed),
        }
    }

    /// Stops taking messages, finishes the queued ones and stops the workers.
    pub async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.drain().await;
        let workers: Vec<_> =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for w in workers {
            w.abort();
            let _ = w.await;
        }
    }
}

/// A job for a message read back from the inbox (recovery, reprocessing) and the key of its
/// lane: sender and patient from its header, else its source and idempotency key.
fn kept_job(
    inner: &Inner,
    m: crate::store::InboxMessage,
    mode: ApplyMode,
    done: Option<tokio::sync::oneshot::Sender<Result<(), StageError>>>,
) -> (String, Job) {
    let header = inner.parser.header(m.kind, &m.payload, &m.source).ok();
    let sender = header.as_ref().map(|h| h.sender.clone()).unwrap_or(Sender {
        endpoint: m.source.clone(),
        ..Sender::default()
    });
    let order_key = header
        .and_then(|h| h.patient_key)
        .unwrap_or_else(|| m.key.clone());
    let job = Job {
        id: m.id,
        kind: m.kind,
        payload: m.payload.into(),
        sender,
        source: m.source,
        mode,
        enqueued_ms: now_ms(),
        route: None,
        done,
    };
    (order_key, job)
}

/// After a dead letter's message was applied again: marks the dead letter reprocessed, unless
/// a sink failed during that run and re-opened it as a `deliver` dead letter (then an error:
/// it stays open, [`Pipeline::reprocess`] delivers again later).
async fn close_dead_letter(inner: &Inner, id: DeadLetterId, actor: &str) -> Result<(), Error> {
    let now = inner
        .store
        .dead_letter_by_id(id)
        .await
        .map_err(Error::Store)?;
    if now.failure.stage == DELIVER_STAGE {
        return Err(Error::Stage(StageError::new(
            Stage::Sink,
            ErrorKind::Sink,
            now.failure.reason,
        )));
    }
    inner
        .store
        .mark_reprocessed(id, actor)
        .await
        .map_err(Error::Store)
}

fn finish_one(inner: &Inner) {
    if inner.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
        inner.idle.notify_waiters();
    }
}

async fn worker(inner: Arc<Inner>, lane: usize, mut rx: mpsc::Receiver<Job>) {
    while let Some(mut job) = rx.recv().await {
        inner.shards[lane]
            .busy_since
            .store(job.enqueued_ms, Ordering::Relaxed);
        let done = job.done.take();
        let result = process(&inner, &job).await;
        if let Some(tx) = done {
            let _ = tx.send(result);
        }
        inner.shards[lane].busy_since.store(0, Ordering::Relaxed);
        finish_one(&inner);
    }
}

/// Runs one message through the stages; a failure goes to the dead letters.
async fn process(inner: &Inner, job: &Job) -> Result<(), StageError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match process_once(inner, job).await {
            Ok(()) => {
                inner.stats.processed();
                return Ok(());
            }
            Err(e) if e.kind.is_transient() && attempts < inner.retry.max_attempts => {
                inner.stats.retry(e.stage);
                tracing::warn!(message = %job.id, stage = %e.stage, attempt = attempts, "transient failure; retrying");
                tokio::time::sleep(inner.retry.backoff(attempts)).await;
            }
            Err(e) => {
                tracing::warn!(message = %job.id, stage = %e.stage, kind = %e.kind, location = e.location.as_deref().unwrap_or(""), reason = %e.reason, "message dead-lettered");
                inner.stats.dead_letter(e.stage, e.kind);
                let dl = inner
                    .store
                    .dead_letter(NewDeadLetter {
                        message_id: Some(job.id),
                        stage: e.stage.as_str().to_owned(),
                        error_kind: e.kind.as_str().to_owned(),
                        location: e.location.clone(),
                        attempts,
                        reason: e.reason.clone(),
                    })
                    .await;
                let dead_letter = match dl {
                    Ok(id) => Some(id),
                    Err(se) => {
                        // The message stays pending in the inbox: recovered on the next start.
                        tracing::error!(message = %job.id, error = %se, "dead letter not kept; the message stays pending");
                        None
                    }
                };
                let _ = inner.events.send(PipelineEvent::DeadLettered {
                    message_id: job.id,
                    dead_letter,
                    error: e.clone(),
                    attempts,
                });
                return Err(e);
            }
        }
    }
}

fn store_error(e: StoreError) -> StageError {
    let kind = if e.is_io() || matches!(e, StoreError::Closed | StoreError::Injected { .. }) {
        ErrorKind::StoreIo
    } else {
        ErrorKind::Internal
    };
    StageError::new(Stage::Store, kind, e.to_string())
}

fn route_for(inner: &Inner, job: &Job) -> Result<Route, StageError> {
    match &job.route {
        Some(r) => Ok(r.clone()),
        None => inner.router.route(&job.sender),
    }
}

/// Runs CPU work (conversion, matching) off the async workers when on a multi-thread runtime
/// (`block_in_place`: another thread takes over this worker's tasks meanwhile), inline
/// otherwise.
fn off_async_workers<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Route, normalize and resolve identity: the CPU part of processing one message.
fn convert_and_match(
    inner: &Inner,
    job: &Job,
) -> Result<(Route, Normalized, IdentityOutcome), StageError> {
    let route = route_for(inner, job)?;
    let t = Instant::now();
    let normalized: Normalized = inner.normalizer.normalize(
        Input {
            kind: job.kind,
            payload: &job.payload,
            source: &job.source,
        },
        &route,
    )?;
    Stats::stage_latency(Stage::Convert, t.elapsed());
    let profile = format!("{} v{}", route.profile.name, route.profile.version);
    let _ = inner.events.send(PipelineEvent::Converted {
        message_id: job.id,
        profile,
        resources: normalized.resources.len(),
        unmapped: normalized.unmapped,
    });

    let t = Instant::now();
    let outcome = if normalized.unlinks.is_empty() {
        inner
            .identity
            .resolve(&normalized.patients, &normalized.merges)?
    } else {
        // An A37: the unlink first, then its records' demographics. Each record is one the
        // MPI knows (the unlink refuses unknown ones), and upserting a known record keeps its
        // enterprise id: the two stay apart, under the ids the unlink gave them.
        let mut o = inner.identity.unlink(&normalized.unlinks)?;
        o.absorb(
            inner
                .identity
                .resolve(&normalized.patients, &normalized.merges)?,
        );
        o
    };
    Stats::stage_latency(Stage::Identity, t.elapsed());
    Ok((route, normalized, outcome))
}

async fn process_once(inner: &Inner, job: &Job) -> Result<(), StageError> {
    // Conversion and matching are CPU work without an await point: they run off the async
    // workers, at most `convert_concurrency` at once, so the connection tasks (whose ACKs wait
    // on the inbox commit) are polled at once instead of queued behind them.
    let permit =
        inner.convert_permits.acquire().await.map_err(|_| {
            StageError::new(Stage::Convert, ErrorKind::Internal, "pipeline shut down")
        })?;
    let (route, normalized, outcome) = off_async_workers(|| convert_and_match(inner, job))?;
    drop(permit);

    let mut batch = ApplyBatch::new(
        job.id,
        Lineage {
            source: job.source.clone(),
            profile: inner.normalizer.uses_profile(job.kind).then(|| ProfileRef {
                name: route.profile.name.clone(),
                version: route.profile.version.clone(),
            }),
            converter_version: CONVERTER_VERSION.to_owned(),
        },
    );
    batch.mode = job.mode;
    let mut eid_of: HashMap<String, EnterpriseId> = HashMap::new();
    let mut new_eid = false;
    for l in &outcome.linked {
        let a = &l.assignment;
        let eid = a.enterprise_id;
        eid_of.insert(l.record.key.clone(), eid);
        if a.created {
            new_eid = true;
            inner.next_eid.fetch_max(eid.0 + 1, Ordering::AcqRel);
        }
        let label = if a.created {
            "new"
        } else if is_match(a) {
            "match"
        } else {
            "update"
        };
        inner.stats.mpi(label);
        if has_possible(a) {
            inner.stats.mpi("possible");
        }
        for c in &a.review {
            batch.possible_matches.push(NewPossibleMatch {
                source_key: l.record.key.clone(),
                enterprise_id: eid,
                candidate_key: c.key.clone(),
                candidate_enterprise_id: c.enterprise_id,
                weight: c.score.weight,
            });
        }
        batch.patients.push(PatientLink {
            record: l.record.clone(),
            enterprise_id: eid,
            source: job.source.clone(),
        });
        batch.audit.push(
            AuditEvent::new(AuditEventKind::Linked, "pipeline")
                .source(job.source.clone())
                .message(job.id)
                .entity(format!("EnterpriseId/{}", eid.0))
                .detail(label),
        );
        let _ = inner.events.send(PipelineEvent::Linked {
            message_id: job.id,
            key: l.record.key.clone(),
            enterprise_id: eid,
            outcome: label,
            possible: a.review.len(),
        });
    }
    for (rec, eid) in &outcome.moved {
        eid_of.insert(rec.key.clone(), *eid);
        batch.patients.push(PatientLink {
            record: rec.clone(),
            enterprise_id: *eid,
            source: job.source.clone(),
        });
    }
    if outcome.merged {
        inner.stats.mpi("merge");
        let _ = inner.events.send(PipelineEvent::Merged {
            message_id: Some(job.id),
            review: None,
            survivor: outcome.moved.first().map_or(EnterpriseId(0), |m| m.1),
            moved: outcome.moved.len(),
        });
    }
    if outcome.unlinked {
        batch
            .audit
            .push(identity::unlink_audit(job.id, &job.source, &outcome));
    }
    batch.mpi_state = mpi_state(inner, outcome.merged || outcome.unlinked, new_eid);

    // Resources, each with its source patient. An A37's Patients name the two unlinked
    // source patients and carry the enterprise ids the unlink left them with.
    let unlinked: Vec<&str> = normalized
        .unlinks
        .iter()
        .flat_map(|u| [u.first.as_str(), u.second.as_str()])
        .collect();
    let mut bodies = Vec::with_capacity(normalized.resources.len());
    for mut r in normalized.resources {
        let patient_key = match &r.patient {
            PatientRef::None => None,
            PatientRef::Key(k) => Some(k.clone()),
            PatientRef::ResourceId(id) => fhir_patient_key(inner, &job.source, id).await?,
        };
        if r.resource_type == "Patient" {
            if let (Some(i), Some(rec)) =
                (r.record, r.record.and_then(|i| normalized.patients.get(i)))
            {
                let _ = i;
                if job.kind == PayloadKind::FhirJson {
                    inner
                        .fhir_patients
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(format!("{}\u{1f}{}", job.source, r.id), rec.key.clone());
                }
                if let Some(eid) = eid_of.get(&rec.key) {
                    r.body = link_enterprise(&r.body, *eid)?;
                }
            } else if let Some(k) = patient_key.as_deref().filter(|k| unlinked.contains(k)) {
                let eid = eid_of.get(k).copied().or_else(|| {
                    inner
                        .identity
                        .index()
                        .and_then(|ix| ix.enterprise_id(k).ok())
                });
                if let Some(eid) = eid {
                    r.body = link_enterprise(&r.body, eid)?;
                }
            }
        }
        let body = r.body;
        bodies.push(body.clone());
        batch.resources.push(ResourceWrite {
            resource_type: r.resource_type,
            id: r.id,
            body,
            patient_key,
        });
    }
    batch.audit.push(
        AuditEvent::new(AuditEventKind::Converted, "pipeline")
            .source(job.source.clone())
            .message(job.id)
            .detail(format!("{} resources", batch.resources.len())),
    );
    let writes: Vec<(String, String, Option<String>)> = batch
        .resources
        .iter()
        .map(|w| (w.resource_type.clone(), w.id.clone(), w.patient_key.clone()))
        .collect();

    let t = Instant::now();
    let carries_state = batch.mpi_state.is_some();
    let applied = inner.store.apply(batch).await.map_err(store_error)?;
    if carries_state {
        inner.mpi_state_saved.store(true, Ordering::Release);
    }
    Stats::stage_latency(Stage::Store, t.elapsed());
    let written = applied.resources.iter().filter(|o| o.changed).count();
    let _ = inner.events.send(PipelineEvent::Stored {
        message_id: job.id,
        written,
        unchanged: applied.resources.len() - written,
        already_processed: applied.already_processed,
    });

    let mut changes = Vec::new();
    for (i, o) in applied.resources.iter().enumerate() {
        if !o.changed {
            continue;
        }
        inner.stats.resource_written(&o.resource_type);
        let patient_key = writes.get(i).and_then(|w| w.2.clone());
        let enterprise_id = patient_key.as_ref().and_then(|k| {
            eid_of.get(k).copied().or_else(|| {
                inner
                    .identity
                    .index()
                    .and_then(|ix| ix.enterprise_id(k).ok())
            })
        });
        changes.push(Change {
            resource_type: o.resource_type.clone(),
            id: o.id.clone(),
            version: o.version,
            body: bodies.get(i).cloned().unwrap_or_default(),
            patient_key,
            enterprise_id,
            message_id: job.id,
        });
    }
    if !changes.is_empty() {
        deliver(inner, job, &changes).await;
        for c in changes {
            inner.broadcast.send(c);
        }
    }
    Ok(())
}

/// Sinks after the store: retried per the policy; the sinks still failing are counted, logged
/// and kept as one dead letter of stage `deliver` (the message stays applied and is not applied
/// again; `reprocess` delivers again).
async fn deliver(inner: &Inner, job: &Job, changes: &[Change]) {
    let sinks: Vec<&Arc<dyn Sink>> = inner.sinks.iter().collect();
    // The failure is recorded by `deliver_to`; the message itself succeeded.
    let _ = deliver_to(inner, &sinks, job.id, changes).await;
}

/// Delivers `changes` of message `message_id` to `sinks`, each retried per the policy; when
/// some still fail, a dead letter of stage `deliver` naming them (location) is kept.
async fn deliver_to(
    inner: &Inner,
    sinks: &[&Arc<dyn Sink>],
    message_id: MessageId,
    changes: &[Change],
) -> Result<(), StageError> {
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut attempts = 0;
    for sink in sinks {
        let t = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match sink.deliver(changes).await {
                Ok(()) => break,
                Err(e) if attempt < inner.retry.max_attempts => {
                    inner.stats.retry(Stage::Sink);
                    tracing::warn!(sink = sink.name(), error = %e, attempt, "sink failed; retrying");
                    tokio::time::sleep(inner.retry.backoff(attempt)).await;
                }
                Err(e) => {
                    inner.stats.sink_failure(sink.name());
                    tracing::error!(sink = sink.name(), message = %message_id, error = %e, "sink failed after retries; kept as a dead letter (stage deliver), the store keeps the data");
                    failed.push((sink.name().to_owned(), e.to_string()));
                    break;
                }
            }
        }
        attempts = attempts.max(attempt);
        Stats::stage_latency(Stage::Sink, t.elapsed());
    }
    let Some((_, first)) = failed.first() else {
        return Ok(());
    };
    let names: Vec<&str> = failed.iter().map(|f| f.0.as_str()).collect();
    let e = StageError::new(
        Stage::Sink,
        ErrorKind::Sink,
        format!("delivery failed after {attempts} attempts ({first}); the message is applied and stored"),
    )
    .at(names.join(","));
    inner.stats.dead_letter(Stage::Sink, ErrorKind::Sink);
    let dl = inner
        .store
        .dead_letter(NewDeadLetter {
            message_id: Some(message_id),
            stage: DELIVER_STAGE.to_owned(),
            error_kind: e.kind.as_str().to_owned(),
            location: e.location.clone(),
            attempts,
            reason: e.reason.clone(),
        })
        .await;
    let dead_letter = match dl {
        Ok(id) => Some(id),
        Err(se) => {
            tracing::error!(message = %message_id, error = %se, "delivery dead letter not kept");
            None
        }
    };
    let _ = inner.events.send(PipelineEvent::DeadLettered {
        message_id,
        dead_letter,
        error: e.clone(),
        attempts,
    });
    Err(e)
}

/// Reprocessing of a `deliver` dead letter: the current versions of what the message wrote
/// (its lineage) go again to the sinks named in the dead letter's location (all when none);
/// nothing is applied again.
async fn redeliver(
    inner: &Inner,
    id: DeadLetterId,
    location: Option<&str>,
    mid: MessageId,
    actor: &str,
) -> Result<(), Error> {
    let names: Option<Vec<&str>> = location.map(|l| l.split(',').collect());
    let sinks: Vec<&Arc<dyn Sink>> = inner
        .sinks
        .iter()
        .filter(|s| match &names {
            Some(n) => n.contains(&s.name()),
            None => true,
        })
        .collect();
    let lineage = inner.store.lineage(mid).await.map_err(Error::Store)?;
    let mut seen = std::collections::HashSet::new();
    let mut changes = Vec::new();
    for l in lineage.iter().filter(|l| l.changed) {
        if !seen.insert((l.resource_type.clone(), l.id.clone())) {
            continue;
        }
        let Some(r) = inner
            .store
            .resource(&l.resource_type, &l.id, actor)
            .await
            .map_err(Error::Store)?
        else {
            continue;
        };
        let enterprise_id = r.patient_key.as_ref().and_then(|k| {
            inner
                .identity
                .index()
                .and_then(|ix| ix.enterprise_id(k).ok())
        });
        changes.push(Change {
            resource_type: r.resource_type,
            id: r.id,
            version: r.version,
            body: r.body,
            patient_key: r.patient_key,
            enterprise_id,
            message_id: mid,
        });
    }
    if !changes.is_empty() {
        deliver_to(inner, &sinks, mid, &changes)
            .await
            .map_err(Error::Stage)?;
    }
    inner
        .store
        .mark_reprocessed(id, actor)
        .await
        .map_err(Error::Store)
}

/// `link` to the enterprise identity, by identifier (the store keeps the enterprise record).
fn link_enterprise(body: &str, eid: EnterpriseId) -> Result<String, StageError> {
    let mut v: Value = serde_json::from_str(body).map_err(|_| {
        StageError::new(Stage::Convert, ErrorKind::Internal, "resource is not JSON")
    })?;
    if let Value::Object(m) = &mut v {
        let link = serde_json::json!({
            "other": {"identifier": {"system": ENTERPRISE_ID_SYSTEM, "value": eid.0.to_string()}},
            "type": "seealso"
        });
        // Links the source sent (an A40's `replaces`) stay; an enterprise link is replaced.
        let mut links: Vec<Value> = match m.remove("link") {
            Some(Value::Array(a)) => a
                .into_iter()
                .filter(|l| {
                    l.pointer("/other/identifier/system")
                        != Some(&Value::from(ENTERPRISE_ID_SYSTEM))
                })
                .collect(),
            _ => Vec::new(),
        };
        links.push(link);
        m.insert("link".into(), Value::Array(links));
    }
    Ok(v.to_string())
}

/// The MPI key of a FHIR source's Patient by its storage id: from memory, else from the store.
async fn fhir_patient_key(
    inner: &Inner,
    source: &str,
    id: &str,
) -> Result<Option<String>, StageError> {
    let k = format!("{source}\u{1f}{id}");
    if let Some(key) = inner
        .fhir_patients
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&k)
    {
        return Ok(Some(key.clone()));
    }
    let stored = inner
        .store
        .resource("Patient", id, "pipeline")
        .await
        .map_err(store_error)?;
    let key = stored.and_then(|r| r.patient_key);
    if let Some(key) = &key {
        inner
            .fhir_patients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(k, key.clone());
    }
    Ok(key)
}

/// The MPI state to persist with a batch: after a merge a full checkpoint of the index's
/// state; with the first new enterprise id of this process the model and counter (the store
/// derives the counter from the saved records afterwards, and `start` never reissues an id).
fn mpi_state(inner: &Inner, merged: bool, new_eid: bool) -> Option<MpiState> {
    let first_new_eid = new_eid && !inner.mpi_state_saved.load(Ordering::Acquire);
    if !merged && !first_new_eid {
        return None;
    }
    let index = inner.identity.index()?;
    let mut extra = inner.mpi_extra.lock().unwrap_or_else(|p| p.into_inner());
    if merged || extra.is_none() {
        let snap = index.snapshot().ok()?;
        *extra = Some(IndexSnapshot {
            model: snap.model,
            records: Vec::new(),
            next_eid: snap.next_eid,
            retired: snap.retired,
            merges: snap.merges,
        });
    }
    let mut s = extra.clone()?;
    s.next_eid = s.next_eid.max(inner.next_eid.load(Ordering::Acquire));
    Some(MpiState(s))
}
