//! End-to-end messages/s of the multi-process shape (issue 16): records on the inbound topic
//! of a Kafka-protocol broker, 1 or 2 processors in one consumer group, each with its own
//! `PgStore` pool and the shared `PgMpiResolver`, until every message is applied; beside it,
//! in the same run and on the same records, the embedded shape (in-process log, SQLite store,
//! in-memory MPI) as the baseline.
//!
//! `cargo bench --bench scaleout --features kafka,postgres`. tansu and PostgreSQL on loopback
//! come from the test kit; without them only the baseline is measured, with a printed notice.
//! The processors run as tasks of this one process on this machine's 2 cores, which is what
//! bounds the 2-processor figure here (see pipeline/README.md, Capacity planning).

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ehrkit::pipeline::eventlog::{
    record_for, run_processor, EventLog, KafkaConfig, KafkaLog, MemoryLog, ProcessorConfig, Record,
    Topics,
};
use ehrkit::pipeline::identity_pg::PgMpiResolver;
use ehrkit::pipeline::stages::DefaultParser;
use ehrkit::pipeline::store::{PayloadKind, PgOptions, PgStore, SqliteOptions, SqliteStore, Store};
use ehrkit::pipeline::Pipeline;
use ehrkit_testkit::services::{Kafka, Postgres};

/// Messages per measured batch.
const BATCH: u64 = 300;

fn message(n: u64) -> Vec<u8> {
    let p = n % 100;
    format!(
        "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311081502-0600||ADT^A08^ADT_A01|S{n}|P|2.5.1\r\
         EVN|A08|20240311081500-0600\r\
         PID|1||M{p:05}^^^EPIC^MR||FAMILY{p}^ANNA^Q||19800101|F|||{p} MAIN ST^^MADISON^WI^53703||(608)555-0100\r\
         PV1|1|I|4W^401^A^UCH||||1234^ATTENDING^ALICE^^^^MD^^^NPI|||MED||||ADM|||||V{n}\r\
         OBX|1|NM|8867-4^Heart rate^LN||{hr}|/min^beats per minute^UCUM|60-100|N|||F\r",
        hr = 60 + n % 40
    )
    .into_bytes()
}

fn record(n: u64) -> Record {
    record_for(
        &DefaultParser::default(),
        PayloadKind::Hl7v2,
        &message(n),
        "epic-adt",
    )
    .expect("a valid message")
}

/// Processors consuming `topics` in one group until dropped.
struct Processors {
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pipelines: Vec<Pipeline>,
}

impl Processors {
    async fn stop(self) {
        for s in self.stops {
            let _ = s.send(());
        }
        for t in self.tasks {
            let _ = t.await;
        }
        for p in self.pipelines {
            p.shutdown().await;
        }
    }
}

fn spawn(
    log: &Arc<dyn EventLog>,
    topics: &Topics,
    group: &str,
    pipelines: Vec<Pipeline>,
) -> Processors {
    let mut stops = Vec::new();
    let mut tasks = Vec::new();
    for p in &pipelines {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stops.push(tx);
        let fut = run_processor(
            log.clone(),
            topics.clone(),
            p.clone(),
            ProcessorConfig::new(group).store_pause(Duration::from_millis(50)),
            async move {
                let _ = rx.await;
            },
        );
        tasks.push(tokio::spawn(async move {
            fut.await.expect("processor");
        }));
    }
    Processors {
        stops,
        tasks,
        pipelines,
    }
}

/// Appends `from..to` (concurrently, as receivers do) and waits until `store` applied every
/// message it received.
async fn push_and_settle(
    log: &Arc<dyn EventLog>,
    topics: &Topics,
    store: &Arc<dyn Store>,
    from: u64,
    to: u64,
) {
    let mut appends = tokio::task::JoinSet::new();
    for n in from..to {
        let (log, topic) = (log.clone(), topics.inbound());
        appends.spawn(async move { log.append(&topic, record(n)).await });
    }
    while let Some(r) = appends.join_next().await {
        r.unwrap().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let s = store.summary().await.unwrap();
        if s.received >= to && store.pending(1).await.unwrap().is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "messages {from}..{to} not all applied after 180 s: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts processors on a fresh log/store, warms them up (group joined, one message
/// applied), then times `iters` batches.
async fn measure<F, Fut>(iters: u64, setup: F) -> Duration
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = (Arc<dyn EventLog>, Topics, Arc<dyn Store>, Processors)>,
{
    let (log, topics, store, processors) = setup().await;
    push_and_settle(&log, &topics, &store, 0, 1).await;
    let mut next = 1;
    let start = Instant::now();
    for _ in 0..iters {
        push_and_settle(&log, &topics, &store, next, next + BATCH).await;
        next += BATCH;
    }
    let elapsed = start.elapsed();
    processors.stop().await;
    elapsed
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("scaleout_end_to_end");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(20));

    g.bench_function("embedded_memorylog_sqlite", |b| {
        b.iter_custom(|iters| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("store.db");
            rt.block_on(measure(iters, || async move {
                let store: Arc<dyn Store> =
                    Arc::new(SqliteStore::open(path, SqliteOptions::default()).unwrap());
                let p = Pipeline::builder(store.clone()).start().await.unwrap();
                let log: Arc<dyn EventLog> = Arc::new(MemoryLog::new(4));
                let topics = Topics::new("bench");
                let procs = spawn(&log, &topics, "bench", vec![p]);
                (log, topics, store, procs)
            }))
        })
    });

    let services = Postgres::start().and_then(|pg| Kafka::start().map(|k| (pg, k)));
    match services {
        Ok((pg, broker)) => {
            let mut run = 0u32;
            for n in [1usize, 2] {
                g.bench_function(format!("kafka_postgres_{n}_processors"), |b| {
                    b.iter_custom(|iters| {
                        run += 1;
                        let prefix = format!("scale{n}x{run}");
                        let url = pg.create_database(&prefix).unwrap();
                        let topics = Topics::new(prefix.clone());
                        for t in [topics.inbound(), topics.retry(), topics.error()] {
                            broker.create_topic(&t, 4).unwrap();
                        }
                        let bootstrap = broker.bootstrap();
                        rt.block_on(measure(iters, || async move {
                            let log: Arc<dyn EventLog> =
                                Arc::new(KafkaLog::new(KafkaConfig::new(bootstrap)).unwrap());
                            let mut pipelines = Vec::new();
                            let mut first: Option<Arc<dyn Store>> = None;
                            for _ in 0..n {
                                let store: Arc<dyn Store> = Arc::new(
                                    PgStore::connect(&url, PgOptions::default().pool_size(8))
                                        .await
                                        .unwrap(),
                                );
                                let mpi = PgMpiResolver::connect(&url).await.unwrap();
                                let p = Pipeline::builder(store.clone())
                                    .identity(mpi)
                                    .start()
                                    .await
                                    .unwrap();
                                first.get_or_insert(store);
                                pipelines.push(p);
                            }
                            let procs = spawn(
                                &log,
                                &topics,
                                &format!("{}-group", topics.inbound()),
                                pipelines,
                            );
                            (log, topics, first.unwrap(), procs)
                        }))
                    })
                });
            }
        }
        Err(why) => {
            eprintln!("NOTICE: kafka_postgres_* not measured, services unavailable: {why}")
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
