//! MLLP receivers and pipeline processors joined by a real Kafka-protocol broker (tansu on
//! loopback, from the test kit; skipped with a notice when it cannot be had): the same store
//! content with one and three processors, a refused message in the error topic, and an AR
//! instead of an ACK while the broker is down.
#![cfg(feature = "kafka")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ehrkit_mllp::{AckCode, Client, Server};
use ehrkit_pipeline::eventlog::{
    receiver_handler, run_processor, EventLog, KafkaConfig, KafkaLog, ProcessorConfig, Topics,
};
use ehrkit_pipeline::stages::DefaultParser;
use ehrkit_pipeline::store::{SqliteOptions, SqliteStore, Summary};
use ehrkit_pipeline::Pipeline;
use ehrkit_testkit::service_or_skip;
use ehrkit_testkit::services::Kafka;

fn adt(event: &str, control: &str, mrn: &str, family: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311081502-0600||ADT^{event}^ADT_A01|{control}|P|2.5.1\r\
         EVN|{event}|20240311081500-0600\r\
         PID|1||{mrn}^^^EPIC^MR||{family}^ANNA||19800101|F|||1 MAIN ST^^MADISON^WI^53703\r\
         PV1|1|I|4W^1^A^UCH||||||||||||||||V{mrn}^^^EPIC^VN\r"
    )
    .into_bytes()
}

/// 8 patients × A01, A08, A03, and one resend.
fn feed() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, event) in ["A01", "A08", "A03"].iter().enumerate() {
        for p in 0..8 {
            out.push(adt(
                event,
                &format!("C{i}-{p}"),
                &format!("M{p:03}"),
                &format!("FAM{p}"),
            ));
        }
    }
    out.push(adt("A08", "C1-3", "M003", "FAM3"));
    out
}

async fn receiver(
    log: Arc<dyn EventLog>,
    topics: &Topics,
) -> (ehrkit_mllp::ServerHandle, SocketAddr) {
    let handle = Server::builder()
        .build(receiver_handler(
            log,
            topics.clone(),
            Arc::new(DefaultParser::default()),
            "epic-adt",
        ))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = handle.local_addr();
    (handle, addr)
}

async fn wait_for(pipeline: &Pipeline, received: u64, duplicates: u64) -> Summary {
    for _ in 0..600 {
        pipeline.drain().await;
        let s = pipeline.summary().await.unwrap();
        // Kept is not applied: a message accepted just before the summary may still wait for
        // its lane (the drain above saw nothing in flight yet). Nothing pending: all applied.
        let applied = pipeline.store().pending(1).await.unwrap().is_empty();
        if s.received >= received && s.duplicates >= duplicates && applied {
            return pipeline.summary().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "processors did not catch up: {:?}",
        pipeline.summary().await.unwrap()
    );
}

async fn run(broker: &Kafka, prefix: &str, processors: usize) -> (Summary, Vec<AckCode>, usize) {
    let topics = Topics::new(prefix);
    for t in [topics.inbound(), topics.retry(), topics.error()] {
        broker.create_topic(&t, 3).unwrap();
    }
    let log: Arc<dyn EventLog> =
        Arc::new(KafkaLog::new(KafkaConfig::new(broker.bootstrap())).unwrap());
    let (server, addr) = receiver(log.clone(), &topics).await;
    let mut client = Client::builder(addr.to_string()).build();
    let mut codes = Vec::new();
    for m in feed() {
        codes.push(client.send(&m).await.unwrap().code);
    }
    // A message no processor could keep: refused by the receiver (AE), never appended.
    let bad =
        b"MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311||ZZZ^Z99|BAD1|P|2.5.1\rPID|1||X^^^EPIC^MR\r".to_vec();
    codes.push(client.send(&bad).await.unwrap().code);
    client.close().await;
    server.shutdown().await;

    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap());
    let pipeline = Pipeline::builder(store).start().await.unwrap();
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for _ in 0..processors {
        let mut stop = stop_tx.subscribe();
        tasks.push(tokio::spawn(run_processor(
            log.clone(),
            topics.clone(),
            pipeline.clone(),
            ProcessorConfig::new(format!("{prefix}-processors")),
            async move {
                let _ = stop.recv().await;
            },
        )));
    }
    let summary = wait_for(&pipeline, 24, 1).await;
    let _ = stop_tx.send(());
    let mut kept = 0;
    for t in tasks {
        kept += t.await.unwrap().unwrap().kept as usize;
    }
    pipeline.shutdown().await;
    (summary, codes, kept)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_and_three_processors_store_the_same_and_refusals_never_reach_the_log() {
    let broker = service_or_skip!(Kafka::start());
    let (one, codes, kept1) = run(&broker, "one", 1).await;
    let (three, _, kept3) = run(&broker, "three", 3).await;
    // 25 ACKed (24 distinct + the resend), the unsupported type refused.
    assert_eq!(codes.iter().filter(|c| **c == AckCode::AA).count(), 25);
    assert_eq!(codes.last(), Some(&AckCode::AE));
    assert_eq!((kept1, kept3), (25, 25), "every appended record kept once");
    assert_eq!(one.received, 24);
    assert_eq!(one.duplicates, 1);
    assert_eq!(one.source_patients, 8);
    assert_eq!(one.dead_letter, 0);
    assert_eq!(
        serde_json::to_string(&one).unwrap(),
        serde_json::to_string(&three).unwrap(),
        "the same store content with 1 and 3 processors"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_broker_is_down_the_receiver_answers_ar_and_acks_again_after() {
    let mut broker = service_or_skip!(Kafka::start());
    let topics = Topics::new("down");
    broker.create_topic(&topics.inbound(), 1).unwrap();
    let log: Arc<dyn EventLog> = Arc::new(
        KafkaLog::new(
            KafkaConfig::new(broker.bootstrap()).delivery_timeout(Duration::from_secs(3)),
        )
        .unwrap(),
    );
    let (server, addr) = receiver(log.clone(), &topics).await;
    let mut client = Client::builder(addr.to_string())
        .ack_timeout(Duration::from_secs(30))
        .max_attempts(1)
        .build();
    assert_eq!(
        client
            .send(adt("A01", "D1", "M1", "ONE"))
            .await
            .unwrap()
            .code,
        AckCode::AA
    );
    broker.stop();
    let refused = client.send(adt("A01", "D2", "M2", "TWO")).await.unwrap();
    assert_eq!(
        refused.code,
        AckCode::AR,
        "not kept: the sender must resend"
    );
    broker.restart().unwrap();
    broker.create_topic(&topics.inbound(), 1).unwrap();
    let mut ok = false;
    for _ in 0..20 {
        let ack = client.send(adt("A01", "D2", "M2", "TWO")).await;
        if matches!(ack, Ok(ref a) if a.code == AckCode::AA) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(ok, "ACKs resume once the broker is back");
    server.shutdown().await;
}
