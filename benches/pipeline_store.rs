//! The embedded SQLite store: how many messages per second `accept` makes durable
//! (committed with `synchronous=FULL` in WAL, so an ACK may follow) with many concurrent
//! senders (group commit) and with one sender at a time (one fsync per message), with and
//! without encryption at rest; and `apply` of a small batch (3 resources, lineage, audit).
//!
//! `cargo bench --features pipeline --bench pipeline_store`

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use ehrkit::pipeline::store::{
    ApplyBatch, Encryption, EncryptionKey, IdempotencyKey, InboundMessage, Lineage, PayloadKind,
    ResourceWrite, SqliteOptions, SqliteStore, Store,
};

/// A typical ADT^A01 of about 600 bytes, made unique per message by its control id.
fn message(n: u64) -> InboundMessage {
    let body = format!(
        "MSH|^~\\&|EPIC|HOSP|HUB|HUB|20260101120000||ADT^A01^ADT_A01|C{n}|P|2.5.1\r\
         EVN|A01|20260101120000\r\
         PID|1||{n}^^^EPIC^MR~999-{n}^^^SSA^SS||SMITH^ROBERT^J^^^^L||19700314|M|||123 MAIN ST^^SPRINGFIELD^IL^62701^USA^H||(217)555-0100^PRN^PH|||S||A{n}\r\
         PV1|1|I|4W^401^1^HOSP||||1234^JONES^ALICE^^^DR|||MED||||1|||1234^JONES^ALICE^^^DR|IN||SELF|||||||||||||||||||HOSP||ADM|||20260101120000\r\
         NK1|1|SMITH^MARY|SPO|123 MAIN ST^^SPRINGFIELD^IL^62701|(217)555-0101\r"
    );
    InboundMessage::new(
        IdempotencyKey::v2("EPIC", "HOSP", format!("C{n}")),
        body.into_bytes(),
        PayloadKind::Hl7v2,
        "epic-adt",
    )
    .message_type("ADT^A01")
}

fn open(encrypted: bool) -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = SqliteOptions::default();
    if encrypted {
        opts = opts.encryption(Encryption::new(EncryptionKey::new(1, [7; 32])));
    }
    let store = SqliteStore::open(dir.path().join("store.db"), opts).expect("open store");
    (dir, Arc::new(store))
}

/// How long `senders` concurrent tasks take to accept messages `base..base + count`, each
/// sender taking every `senders`-th one and waiting for each accept (its ACK) before sending
/// the next.
async fn accept_concurrently(
    store: Arc<dyn Store>,
    base: u64,
    count: u64,
    senders: u64,
) -> Duration {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..senders {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = base + s;
            while n < base + count {
                store.accept(message(n)).await.expect("accept");
                n += senders;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    start.elapsed()
}

/// A benchmark `id` of [`accept_concurrently`] on `store`: `per_iter` new messages per
/// iteration, numbered on from `next`.
fn bench_accepts(
    g: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    id: BenchmarkId,
    store: Arc<dyn Store>,
    (senders, per_iter): (u64, u64),
    next: &mut u64,
) {
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let base = *next;
                *next += per_iter;
                total += rt.block_on(accept_concurrently(store.clone(), base, per_iter, senders));
            }
            total
        })
    });
}

fn accept(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("store_accept");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    const PER_ITER: u64 = 2000;
    g.throughput(Throughput::Elements(PER_ITER));
    for (label, encrypted) in [("plain", false), ("aes256gcm", true)] {
        for senders in [200u64, 20] {
            let (_dir, store) = open(encrypted);
            let mut next = 0u64;
            bench_accepts(
                &mut g,
                &rt,
                BenchmarkId::new(format!("{label}/concurrent"), senders),
                store,
                (senders, PER_ITER),
                &mut next,
            );
        }
    }
    g.finish();

    let mut g = c.benchmark_group("store_accept_one_sender");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    let (_dir, store) = open(false);
    let mut n = 10_000_000u64;
    g.bench_function("plain", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(store.accept(message(n))).expect("accept")
        })
    });
    g.finish();
}

fn apply(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (_dir, store) = open(false);
    let mut g = c.benchmark_group("store_apply");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    const PER_ITER: u64 = 1000;
    g.throughput(Throughput::Elements(PER_ITER));
    let mut next = 0u64;
    g.bench_function("3_resources/concurrent/50", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let base = next;
                next += PER_ITER;
                // Inbox first (not timed), then the applies with 50 in flight.
                let ids: Vec<_> = rt.block_on(async {
                    let mut ids = Vec::new();
                    for n in base..base + PER_ITER {
                        ids.push(store.accept(message(n)).await.expect("accept").id());
                    }
                    ids
                });
                let store = store.clone();
                total += rt.block_on(async move {
                    let start = Instant::now();
                    let ids = Arc::new(ids);
                    let mut tasks = Vec::new();
                    for s in 0..50usize {
                        let store = store.clone();
                        let ids = ids.clone();
                        tasks.push(tokio::spawn(async move {
                            for (i, id) in ids.iter().enumerate().skip(s).step_by(50) {
                                let mut b = ApplyBatch::new(
                                    *id,
                                    Lineage {
                                        source: "epic-adt".into(),
                                        profile: None,
                                        converter_version: "bench".into(),
                                    },
                                );
                                for (t, rid) in [
                                    ("Patient", format!("p{}", i % 500)),
                                    ("Encounter", format!("e{id}")),
                                    ("Provenance", format!("v{id}")),
                                ] {
                                    b.resources.push(ResourceWrite {
                                        resource_type: t.into(),
                                        body: format!(
                                            r#"{{"resourceType":"{t}","id":"{rid}","status":"in-progress"}}"#
                                        ),
                                        id: rid,
                                        patient_key: Some(format!("EPIC|{}", i % 500)),
                                    });
                                }
                                store.apply(b).await.expect("apply");
                            }
                        }));
                    }
                    for t in tasks {
                        t.await.expect("task");
                    }
                    start.elapsed()
                });
            }
            total
        })
    });
    g.finish();
}

/// `accept` on PostgreSQL (`--features postgres`) against SQLite in the same run, one sender at
/// a time and 16 concurrent senders. The server is testkit's loopback PostgreSQL, which runs
/// with `fsync=off`: its figures leave out the WAL flush a production server pays at each
/// commit (SQLite's include their fsync). Skipped with a notice when PostgreSQL is absent.
#[cfg(feature = "postgres")]
fn accept_pg(c: &mut Criterion) {
    use ehrkit::pipeline::store::{PgOptions, PgStore};
    let pg = match ehrkit_testkit::services::Postgres::start() {
        Ok(pg) => pg,
        Err(why) => {
            eprintln!("NOTICE: PostgreSQL store benchmarks skipped: {why}");
            return;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (_dir, lite) = open(false);
    let pgs: Arc<PgStore> = Arc::new(
        rt.block_on(PgStore::connect(
            &pg.url(),
            PgOptions::default().pool_size(16),
        ))
        .expect("connect"),
    );
    let mut g = c.benchmark_group("store_accept_pg_vs_sqlite");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    const PER_ITER: u64 = 400;
    g.throughput(Throughput::Elements(PER_ITER));
    let mut next = 50_000_000u64;
    let stores: [(&str, Arc<dyn Store>); 2] = [("sqlite", lite), ("postgres", pgs)];
    for (name, store) in stores {
        for senders in [1u64, 16] {
            bench_accepts(
                &mut g,
                &rt,
                BenchmarkId::new(name, senders),
                store.clone(),
                (senders, PER_ITER),
                &mut next,
            );
        }
    }
    g.finish();
}

#[cfg(not(feature = "postgres"))]
fn accept_pg(_: &mut Criterion) {
    eprintln!("NOTICE: PostgreSQL store benchmarks skipped: build with --features postgres");
}

criterion_group!(benches, accept, apply, accept_pg);
criterion_main!(benches);
