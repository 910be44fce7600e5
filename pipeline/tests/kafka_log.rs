//! The Kafka event log against a real Kafka-protocol broker (tansu, started on loopback by
//! the test kit; the test is skipped with a notice when it cannot be had).
#![cfg(feature = "kafka")]

use std::collections::BTreeMap;
use std::time::Duration;

use ehrkit_pipeline::eventlog::{
    patient_key, EventLog, Headers, KafkaConfig, KafkaLog, LogConsumer, LogError, Record, Topics,
};
use ehrkit_testkit::service_or_skip;
use ehrkit_testkit::services::Kafka;

fn record(patient: &str, n: u32) -> Record {
    let mut headers = Headers::new(format!("corr-{n}"), "epic-adt");
    headers.profile = Some("epic@1".into());
    Record {
        key: patient_key("EPIC^GH", Some(("MRN", patient)), &format!("m{n}")),
        payload: format!("MSH|^~\\&|EPIC|GH|||||ADT^A08|m{n}|P|2.5\rPID|1||{patient}^^^MRN")
            .into_bytes(),
        headers,
    }
}

async fn drain(
    c: &mut Box<dyn LogConsumer>,
    want: usize,
    commit: bool,
) -> Vec<ehrkit_pipeline::eventlog::Delivered> {
    let mut out = Vec::new();
    while out.len() < want {
        match tokio::time::timeout(Duration::from_secs(30), c.next()).await {
            Ok(Ok(d)) => {
                if commit {
                    c.commit(&d).await.unwrap();
                }
                out.push(d);
            }
            Ok(Err(e)) => panic!("receive: {e}"),
            Err(_) => break,
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_keep_patient_order_headers_and_are_redelivered_until_committed() {
    let broker = service_or_skip!(Kafka::start());
    let topics = Topics::new("kit");
    broker.create_topic(&topics.inbound(), 3).unwrap();
    let log = KafkaLog::new(KafkaConfig::new(broker.bootstrap())).unwrap();
    let patients = ["p1", "p2", "p3", "p4", "p5"];
    for n in 0..20u32 {
        let pos = log
            .append(&topics.inbound(), record(patients[(n % 5) as usize], n))
            .await
            .unwrap();
        assert!((0..3).contains(&pos.partition));
    }

    let mut c = log
        .consumer("processors", &[&topics.inbound()])
        .await
        .unwrap();
    // Receive 8 without committing, then go away: the group gets them again.
    let first = drain(&mut c, 8, false).await;
    assert_eq!(first.len(), 8);
    drop(c);
    let mut c = log
        .consumer("processors", &[&topics.inbound()])
        .await
        .unwrap();
    let all = drain(&mut c, 20, true).await;
    assert_eq!(all.len(), 20, "every record, uncommitted ones included");

    let mut per_patient: BTreeMap<Vec<u8>, Vec<u32>> = BTreeMap::new();
    for d in &all {
        let n: u32 = d.record.headers.correlation_id[5..].parse().unwrap();
        per_patient.entry(d.record.key.clone()).or_default().push(n);
        assert_eq!(d.record.headers.source, "epic-adt");
        assert_eq!(d.record.headers.profile.as_deref(), Some("epic@1"));
        assert!(d.record.payload.starts_with(b"MSH|"));
    }
    assert_eq!(per_patient.len(), 5);
    for (key, ns) in &per_patient {
        let mut sorted = ns.clone();
        sorted.sort();
        assert_eq!(ns, &sorted, "one patient's records in order ({key:?})");
    }
    drop(c);
    // Everything was committed: a new member of the group gets nothing.
    let mut c = log
        .consumer("processors", &[&topics.inbound()])
        .await
        .unwrap();
    assert!(tokio::time::timeout(Duration::from_secs(8), c.next())
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_fails_the_append_so_nothing_is_acked() {
    // A port nobody listens on.
    let port = ehrkit_testkit::services::free_port();
    let log = KafkaLog::new(
        KafkaConfig::new(format!("127.0.0.1:{port}")).delivery_timeout(Duration::from_secs(2)),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = log
        .append("kit-Inbound", record("p1", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LogError::Unavailable { op: "append", .. }),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}
