//! A processor commits a record's offset only after the record's effect is stored, so a
//! processor that dies between keeping a message and applying it loses nothing: the group
//! hands the record to another processor, which finds it kept but pending and applies it.
//! Runs on the in-process event log (no broker needed).

use std::sync::Arc;
use std::time::Duration;

use ehrkit_pipeline::eventlog::{
    record_for, run_processor, EventLog, MemoryLog, ProcessorConfig, Topics,
};
use ehrkit_pipeline::stages::DefaultParser;
use ehrkit_pipeline::store::{
    FaultInjectingStore, FaultPlan, InboxState, PayloadKind, SqliteOptions, SqliteStore, Store,
};
use ehrkit_pipeline::{Pipeline, RetryPolicy};

fn adt(control: &str, mrn: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311081502-0600||ADT^A01^ADT_A01|{control}|P|2.5.1\r\
         EVN|A01|20240311081500-0600\r\
         PID|1||{mrn}^^^EPIC^MR||DOE^ANNA||19800101|F\r\
         PV1|1|I|4W^1^A^UCH||||||||||||||||V{mrn}^^^EPIC^VN\r"
    )
    .into_bytes()
}

async fn publish(log: &MemoryLog, topics: &Topics, payload: &[u8]) {
    let record = record_for(
        &DefaultParser::default(),
        PayloadKind::Hl7v2,
        payload,
        "epic-adt",
    )
    .expect("a valid message");
    log.append(&topics.inbound(), record).await.unwrap();
}

async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_dying_between_keep_and_apply_leaves_the_record_to_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap());
    let log = MemoryLog::new(2);
    let topics = Topics::new("t");
    let config = ProcessorConfig::new("processors").store_pause(Duration::from_millis(20));

    // Processor A keeps the message but can never apply it (its applies fail and it keeps
    // retrying), as if it died right after keeping it.
    let plan = FaultPlan::new();
    plan.fail_apply(true);
    let a_store = Arc::new(FaultInjectingStore::new(store.clone(), plan.clone()));
    let a = Pipeline::builder(a_store)
        .recover(false)
        .retry(RetryPolicy {
            max_attempts: u32::MAX,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(100),
        })
        .start()
        .await
        .unwrap();
    let a_log: Arc<dyn EventLog> = Arc::new(log.clone());
    let a_task = tokio::spawn(run_processor(
        a_log,
        topics.clone(),
        a.clone(),
        config.clone(),
        std::future::pending::<()>(),
    ));
    publish(&log, &topics, &adt("K1", "M001")).await;
    wait_until("A kept the message", || async {
        store.summary().await.unwrap().received == 1
    })
    .await;
    let kept = store.pending(10).await.unwrap();
    assert_eq!(kept.len(), 1, "kept and pending while A cannot apply it");
    let id = kept[0].id;
    assert!(plan.injected() > 0, "A tried to apply it");

    // A dies: its consumer leaves the group without having committed the record.
    a_task.abort();
    let _ = a_task.await;

    // Processor B, same group and store, without start-up recovery: only the redelivered
    // record can bring the message to it.
    let b = Pipeline::builder(store.clone())
        .recover(false)
        .start()
        .await
        .unwrap();
    let b_log: Arc<dyn EventLog> = Arc::new(log.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let b_task = tokio::spawn(run_processor(
        b_log,
        topics.clone(),
        b.clone(),
        config.clone(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    wait_until("B applied the message", || async {
        store.message(id).await.unwrap().state == InboxState::Processed
    })
    .await;
    let summary = store.summary().await.unwrap();
    assert_eq!(summary.received, 1, "{summary:?}");
    assert_eq!(summary.duplicates, 1, "B saw the record again: {summary:?}");
    assert_eq!(summary.dead_letter, 0, "{summary:?}");
    assert!(summary.resources > 0, "{summary:?}");
    assert_eq!(summary.enterprise_patients, 1, "{summary:?}");

    // B commits once the effect is stored: a third processor gets nothing to do again.
    wait_until("B processed it", || async { b.stats().processed >= 1 }).await;
    // The commit follows the completion at once; give the processor task its turn.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_tx.send(());
    let stats = b_task.await.unwrap().unwrap();
    assert_eq!(stats.kept, 1);
    let resources = summary.resources;
    let c = Pipeline::builder(store.clone())
        .recover(false)
        .start()
        .await
        .unwrap();
    let c_log: Arc<dyn EventLog> = Arc::new(log.clone());
    let c_stats = run_processor(
        c_log,
        topics.clone(),
        c.clone(),
        config,
        tokio::time::sleep(Duration::from_millis(500)),
    )
    .await
    .unwrap();
    assert_eq!(c_stats.kept, 0, "nothing left uncommitted: {c_stats:?}");
    let after = store.summary().await.unwrap();
    assert_eq!(after.resources, resources);
    assert_eq!(after.duplicates, 1);
}
