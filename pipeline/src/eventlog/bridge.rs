//! Receivers and processors joined by an [`EventLog`]: the multi-process shape of the hub.
//!
//! ```text
//!  senders ──MLLP──▶ receiver ──append (acks=all)──▶ <prefix>-Inbound ──group──▶ processor ──▶ store
//!                     │ ACK only after the log holds it      ▲   │ commit after the store kept it
//!                     └ NAK AR when the log is unreachable   │   └ refused (parse, type, sender)
//!                                                            │          ──▶ <prefix>-Inbound-Error
//!                                                 store down: pause, same record again
//! ```
//!
//! A receiver parses only the header (sender, control id, patient) to key the record and to
//! refuse what no processor could keep (malformed, unknown message type), exactly as the
//! one-process MLLP source does. A processor hands each record to
//! [`Pipeline::submit_tracked`]; the offset is committed once the record's effect is stored
//! (applied, or kept as a dead letter), in consumption order, so a processor killed
//! mid-stream leaves its uncommitted records to the group; the store's idempotency key
//! recognizes the ones it had already kept, and those still pending are applied then. While the store refuses writes (a database restart) the
//! processor keeps retrying the same record after a pause: later records wait in the log, in
//! order.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ehrkit_mllp::{ErrorCode, HandlerError, Incoming};
use sha2::{Digest, Sha256};

use super::{
    now_ms, Backoff, Delivered, EventLog, Headers, LogConsumer, LogError, Record, RetryRouting,
    Topics,
};
use crate::error::{ErrorKind, StageError};
use crate::runtime::{Completion, Pipeline, Refusal};
use crate::source::mllp::nak;
use crate::stages::Parser;
use crate::store::PayloadKind;

/// `X-Content-Type` of HL7 v2 records.
pub const CONTENT_HL7V2: &str = "application/hl7-v2";
/// `X-Content-Type` of FHIR JSON records.
pub const CONTENT_FHIR_JSON: &str = "application/fhir+json";

/// The record a receiver appends for `payload`: keyed by the source patient (else by the
/// message), with a correlation id derived from the idempotency key and content, so a resend
/// carries the same id.
pub fn record_for(
    parser: &dyn Parser,
    kind: PayloadKind,
    payload: &[u8],
    endpoint: &str,
) -> Result<Record, Refusal> {
    let header = parser.header(kind, payload, endpoint)?;
    let key = match &header.patient_key {
        Some(p) => format!(
            "{}^{}|{p}",
            header.sender.application, header.sender.facility
        ),
        None => header.key.canonical(),
    };
    let mut h = Sha256::new();
    h.update(header.key.canonical().as_bytes());
    h.update([0]);
    h.update(payload);
    let digest = h.finalize();
    let correlation: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let mut headers = Headers::new(correlation, endpoint);
    headers.content_type = Some(
        match kind {
            PayloadKind::Hl7v2 => CONTENT_HL7V2,
            _ => CONTENT_FHIR_JSON,
        }
        .to_owned(),
    );
    headers.mapping_version = Some(crate::CONVERTER_VERSION.to_owned());
    Ok(Record {
        key: key.into_bytes(),
        payload: payload.to_vec(),
        headers,
    })
}

/// The boxed future an `ehrkit-mllp` handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>;

/// An `ehrkit-mllp` handler that appends each message to `topics.inbound()` and lets the
/// server ACK only once the log holds it; a log that cannot take it is an AR (resend later),
/// a message no processor could keep an AE as in the one-process source.
pub fn receiver_handler(
    log: Arc<dyn EventLog>,
    topics: Topics,
    parser: Arc<dyn Parser>,
    endpoint: impl Into<String>,
) -> impl Fn(Incoming) -> HandlerFuture + Send + Sync + 'static {
    let endpoint: String = endpoint.into();
    let inbound = topics.inbound();
    move |m: Incoming| {
        let (log, parser, endpoint, inbound) = (
            log.clone(),
            parser.clone(),
            endpoint.clone(),
            inbound.clone(),
        );
        Box::pin(async move {
            let t = Instant::now();
            let record = record_for(&*parser, PayloadKind::Hl7v2, &m.payload, &endpoint)
                .map_err(|r| {
                    metrics::counter!("ehrkit_pipeline_receiver_refused_total", "endpoint" => endpoint.clone()).increment(1);
                    nak(&r)
                })?;
            match log.append(&inbound, record).await {
                Ok(_) => {
                    metrics::histogram!("ehrkit_pipeline_receiver_ack_seconds")
                        .record(t.elapsed().as_secs_f64());
                    Ok(())
                }
                Err(e) => {
                    tracing::warn!(endpoint = %endpoint, error = %e, "event log did not take the message; AR");
                    metrics::counter!("ehrkit_pipeline_receiver_log_errors_total").increment(1);
                    Err(HandlerError::reject(
                        ErrorCode::ApplicationInternalError,
                        "message not kept: event log unavailable; resend later",
                    ))
                }
            }
        })
    }
}

/// Settings of a processor.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProcessorConfig {
    /// Consumer group (every processor of one deployment uses the same).
    pub group: String,
    /// Wait before trying a record again while the store refuses writes.
    pub store_pause: Duration,
    /// Backoff and attempts of the retry topic.
    pub backoff: Backoff,
}

impl ProcessorConfig {
    /// Defaults for `group`: 1 s pause on store errors, default backoff.
    pub fn new(group: impl Into<String>) -> Self {
        ProcessorConfig {
            group: group.into(),
            store_pause: Duration::from_secs(1),
            backoff: Backoff::default(),
        }
    }

    /// Sets the pause after a store error.
    pub fn store_pause(mut self, d: Duration) -> Self {
        self.store_pause = d;
        self
    }
}

/// What a processor did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessorStats {
    /// Records the store kept (new, duplicate or reused control id) and committed.
    pub kept: u64,
    /// Records refused by a stage and sent to the error topic.
    pub refused: u64,
    /// Store errors waited out (the same record tried again).
    pub store_pauses: u64,
    /// Records submitted again because their effect was not known to be stored.
    pub resubmitted: u64,
}

/// Records a processor holds between submitting them and committing their offsets.
const MAX_IN_FLIGHT: usize = 1024;

/// How long a stopping processor waits for the submissions under way.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// A partition worker or resubmission that panicked: its record's outcome never comes, so
/// the processor stops committing there (the record and those after it are consumed again
/// by whoever comes next); say so loudly rather than let it pass for a clean stop.
fn report_panic(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined {
        if e.is_panic() {
            metrics::counter!("ehrkit_pipeline_processor_panics_total").increment(1);
            tracing::error!(error = %e, "a processor's submission task panicked");
        }
    }
}

/// What a partition worker reports for one record: its effect stored (`Ok(Ok(()))`), its
/// stage error once dead-lettered or not known to be stored (`Ok(Err(_))`), or the log error
/// that stops the processor.
type Outcome = Result<Result<(), StageError>, LogError>;

/// A record submitted and not yet committed.
struct InFlight {
    d: Delivered,
    from_retry: bool,
    outcome: tokio::sync::oneshot::Receiver<Outcome>,
}

/// A record handed to its partition's worker.
struct Job {
    d: Delivered,
    outcome: tokio::sync::oneshot::Sender<Outcome>,
}

/// What every partition worker shares.
#[derive(Clone)]
struct Shared {
    log: Arc<dyn EventLog>,
    routing: Arc<RetryRouting>,
    pipeline: Pipeline,
    config: ProcessorConfig,
    stats: Arc<std::sync::Mutex<ProcessorStats>>,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Shared {
    fn stats(&self) -> std::sync::MutexGuard<'_, ProcessorStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Submits `d` (pausing while the store refuses it); `None` once the processor stops.
    async fn submit(&self, d: &Delivered) -> Result<Option<Completion>, LogError> {
        let mut stop = self.stop.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        tokio::pin!(stopped);
        process_one(
            &*self.log,
            &self.routing,
            &self.pipeline,
            &self.config,
            d,
            &self.stats,
            &mut stopped,
        )
        .await
    }
}

/// Submits one record and reports its outcome once its effect is stored (the wait runs on a
/// task of its own, so the next record can be submitted meanwhile). False when the processor
/// is stopping or the log failed: no more records for this caller.
async fn submit_job(shared: &Shared, job: Job) -> bool {
    match shared.submit(&job.d).await {
        Ok(Some(completion)) => {
            tokio::spawn(async move {
                let _ = job.outcome.send(Ok(completion.await));
            });
            true
        }
        Ok(None) => false,
        Err(e) => {
            let _ = job.outcome.send(Err(e));
            false
        }
    }
}

/// Submits the records of one partition in order (so one patient's messages reach the
/// pipeline's lanes in log order) and reports each record's outcome once its effect is
/// stored; the records of other partitions are submitted meanwhile by their own workers.
async fn partition_worker(shared: Shared, mut jobs: tokio::sync::mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = jobs.recv().await {
        // Stopping: the jobs still queued stay uncommitted in the log for whoever comes next.
        if *shared.stop.borrow() || !submit_job(&shared, job).await {
            return;
        }
    }
}

/// Consumes `topics.inbound()` and `topics.retry()` in `config.group`, submitting each record
/// to `pipeline`, until `shutdown` completes. Returns what it did, or the log error that
/// stopped it.
///
/// Records of one partition are submitted in order, different partitions concurrently. An
/// offset is committed only after the record's effect is stored: applied, or kept as a dead
/// letter ([`Pipeline::submit_tracked`]), in the order the records were consumed; up to
/// 1,024 records are in flight. A processor killed at any point leaves its uncommitted
/// records to the group; whoever gets them again finds them kept (a duplicate) and applies
/// the ones still pending, once.
pub async fn run_processor(
    log: Arc<dyn EventLog>,
    topics: Topics,
    pipeline: Pipeline,
    config: ProcessorConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<ProcessorStats, LogError> {
    let inbound = topics.inbound();
    let retry = topics.retry();
    let mut main = log.consumer(&config.group, &[&inbound]).await?;
    let mut retries = log
        .consumer(&format!("{}-retry", config.group), &[&retry])
        .await?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let shared = Shared {
        log,
        routing: Arc::new(RetryRouting {
            topics,
            backoff: config.backoff,
        }),
        pipeline,
        config,
        stats: Arc::default(),
        stop,
    };
    let mut tasks = tokio::task::JoinSet::new();
    let result = consume(
        &shared,
        &mut main,
        &mut retries,
        &retry,
        &mut tasks,
        shutdown,
    )
    .await;
    let _ = stop_tx.send(true);
    // A submission under way when the processor stops ends first (the store keeps the record
    // or not; its offset stays uncommitted either way), so the stats returned are final. One
    // stuck behind a full lane is cut off after a grace period: its record stays uncommitted
    // for whoever consumes the partition next (a kept one is applied then, once).
    let joined = tokio::time::timeout(STOP_GRACE, async {
        while let Some(r) = tasks.join_next().await {
            report_panic(r);
        }
    })
    .await;
    if joined.is_err() {
        tracing::warn!(
            tasks = tasks.len(),
            "submissions still under way after the grace period; stopping them"
        );
        tasks.shutdown().await;
    }
    result.map(|()| *shared.stats())
}

async fn consume(
    shared: &Shared,
    main: &mut Box<dyn LogConsumer>,
    retries: &mut Box<dyn LogConsumer>,
    retry: &str,
    tasks: &mut tokio::task::JoinSet<()>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), LogError> {
    let mut workers: HashMap<(String, i32), tokio::sync::mpsc::UnboundedSender<Job>> =
        HashMap::new();
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    tokio::pin!(shutdown);
    loop {
        // Reap the resubmissions that ended (partition workers live until the processor stops).
        while let Some(r) = tasks.try_join_next() {
            report_panic(r);
        }
        let room = in_flight.len() < MAX_IN_FLIGHT;
        let front_done = async {
            match in_flight.front_mut() {
                Some(f) => (&mut f.outcome).await,
                None => std::future::pending().await,
            }
        };
        let next = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            r = front_done => Err(r),
            d = main.next(), if room => Ok(d?),
            d = retries.next(), if room => Ok(d?),
        };
        let d = match next {
            Ok(d) => d,
            Err(outcome) => {
                let Some(done) = in_flight.pop_front() else {
                    continue;
                };
                match outcome {
                    // The worker stopped (the processor is stopping) or the log failed.
                    Err(_closed) => return Ok(()),
                    Ok(Err(e)) => return Err(e),
                    Ok(Ok(Err(e))) if e.kind == ErrorKind::StoreIo => {
                        // Not known to be stored (the store failed even to keep the dead
                        // letter, or the pipeline stopped): submit the same record again
                        // after a pause; it stays first, so nothing after it is committed.
                        shared.stats().resubmitted += 1;
                        tracing::warn!(correlation_id = %done.d.record.headers.correlation_id, "effect not stored; submitting again");
                        tokio::select! {
                            () = &mut shutdown => return Ok(()),
                            () = tokio::time::sleep(shared.config.store_pause) => {}
                        }
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        let job = Job {
                            d: done.d.clone(),
                            outcome: tx,
                        };
                        let worker = shared.clone();
                        tasks.spawn(async move {
                            submit_job(&worker, job).await;
                        });
                        in_flight.push_front(InFlight {
                            outcome: rx,
                            ..done
                        });
                    }
                    // Applied, or kept as a dead letter: the effect is stored.
                    Ok(Ok(_)) => {
                        let consumer = if done.from_retry {
                            &mut *retries
                        } else {
                            &mut *main
                        };
                        consumer.commit(&done.d).await?;
                    }
                }
                continue;
            }
        };
        let from_retry = d.topic == retry;
        if let Some(t) = d.record.headers.not_before_ms {
            let wait = t.saturating_sub(now_ms());
            if wait > 0 {
                // A retry's backoff (up to minutes) must not hold up a stop.
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = tokio::time::sleep(Duration::from_millis(wait)) => {}
                }
            }
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            d: d.clone(),
            outcome: tx,
        };
        let key = (d.topic.clone(), d.position.partition);
        let sender = workers.entry(key).or_insert_with(|| {
            let (jtx, jrx) = tokio::sync::mpsc::unbounded_channel();
            tasks.spawn(partition_worker(shared.clone(), jrx));
            jtx
        });
        if let Err(tokio::sync::mpsc::error::SendError(job)) = sender.send(job) {
            // The worker ended (a log error it reported, or stopping): a fresh one.
            let (jtx, jrx) = tokio::sync::mpsc::unbounded_channel();
            tasks.spawn(partition_worker(shared.clone(), jrx));
            let _ = jtx.send(job);
            *sender = jtx;
        }
        in_flight.push_back(InFlight {
            d,
            from_retry,
            outcome: rx,
        });
    }
}

/// Submits one record until the store keeps it or a stage refuses it (then to the error
/// topic, and complete at once). `None` when shutdown came first.
async fn process_one(
    log: &dyn EventLog,
    routing: &RetryRouting,
    pipeline: &Pipeline,
    config: &ProcessorConfig,
    d: &Delivered,
    stats: &std::sync::Mutex<ProcessorStats>,
    shutdown: &mut Pin<&mut impl Future<Output = ()>>,
) -> Result<Option<Completion>, LogError> {
    let stats = || stats.lock().unwrap_or_else(|p| p.into_inner());
    let kind = match d.record.headers.content_type.as_deref() {
        Some(CONTENT_FHIR_JSON) => PayloadKind::FhirJson,
        _ => PayloadKind::Hl7v2,
    };
    let endpoint = if d.record.headers.source.is_empty() {
        "eventlog"
    } else {
        d.record.headers.source.as_str()
    };
    loop {
        match pipeline
            .submit_tracked(kind, d.record.payload.clone(), endpoint, None)
            .await
        {
            Ok((_, completion)) => {
                stats().kept += 1;
                return Ok(Some(completion));
            }
            Err(Refusal::Stage(e)) => {
                let (topic, record) = routing.route(d, e.kind.as_str(), false, now_ms());
                log.append(&topic, record).await?;
                stats().refused += 1;
                metrics::counter!("ehrkit_pipeline_processor_refused_total", "kind" => e.kind.as_str()).increment(1);
                return Ok(Some(Completion::done()));
            }
            Err(e) => {
                // The store (or the pipeline) cannot keep it now: wait, same record again;
                // later records stay in the log behind it.
                stats().store_pauses += 1;
                metrics::counter!("ehrkit_pipeline_processor_store_pauses_total").increment(1);
                tracing::warn!(error = %e, correlation_id = %d.record.headers.correlation_id, "store unavailable; pausing");
                tokio::select! {
                    () = shutdown.as_mut() => return Ok(None),
                    () = tokio::time::sleep(config.store_pause) => {}
                }
            }
        }
    }
}
