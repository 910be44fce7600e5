//! A process killed with SIGKILL in the middle of a stream: every message whose `accept`
//! returned (the ACK) is in the store after a restart, and every message is either fully
//! applied (processed, its resource and lineage present) or still pending with no trace of
//! its application. The child is this test binary run again with an environment variable.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use ehrkit_pipeline::store::{
    ApplyBatch, IdempotencyKey, InboundMessage, InboxState, Lineage, MessageId, PayloadKind,
    ResourceWrite, SqliteOptions, SqliteStore, Store,
};

const CHILD_ENV: &str = "EHRKIT_STORE_CRASH_CHILD";
const TEST_NAME: &str = "killed_mid_stream_keeps_every_acked_message_and_applies_atomically";

fn msg(n: u64) -> InboundMessage {
    InboundMessage::new(
        IdempotencyKey::v2("EPIC", "HOSP", format!("K{n}")),
        format!("MSH|^~\\&|EPIC|HOSP|||||ADT^A08|K{n}|P|2.5\rPID|1||{n}\r").into_bytes(),
        PayloadKind::Hl7v2,
        "epic",
    )
}

fn batch(id: MessageId, n: u64) -> ApplyBatch {
    let mut b = ApplyBatch::new(
        id,
        Lineage {
            source: "epic".into(),
            profile: None,
            converter_version: "t".into(),
        },
    );
    for k in 0..3 {
        b.resources.push(ResourceWrite {
            resource_type: "Observation".into(),
            id: format!("o{n}-{k}"),
            body: format!(r#"{{"resourceType":"Observation","id":"o{n}-{k}"}}"#),
            patient_key: Some(format!("EPIC|{n}")),
        });
    }
    b
}

/// The child: 16 concurrent senders accept messages forever; every other message is also
/// applied. Prints `ACK n id` once accept returned and `APPLIED id` once apply returned.
fn child(dir: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Arc::new(
            SqliteStore::open(format!("{dir}/store.db"), SqliteOptions::default()).unwrap(),
        );
        let mut tasks = Vec::new();
        for s in 0..16u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = s;
                loop {
                    let id = store.accept(msg(n)).await.unwrap().id();
                    println!("ACK {n} {}", id.0);
                    if n % 2 == 0 {
                        store.apply(batch(id, n)).await.unwrap();
                        println!("APPLIED {}", id.0);
                    }
                    n += 16;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn killed_mid_stream_keeps_every_acked_message_and_applies_atomically() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    // Kill points: after a growing number of ACKs, on a fresh store and then on the same one.
    let dir = tempfile::tempdir().unwrap();
    let mut acked: Vec<(u64, i64)> = Vec::new();
    let mut applied: Vec<i64> = Vec::new();
    for (round, kill_after) in [5usize, 40, 120, 300, 17, 250].into_iter().enumerate() {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads", "1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        let record = |line: &str, acked: &mut Vec<(u64, i64)>, applied: &mut Vec<i64>| {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["ACK", n, id] => {
                    acked.push((n.parse().unwrap(), id.parse().unwrap()));
                    true
                }
                ["APPLIED", id] => {
                    applied.push(id.parse().unwrap());
                    false
                }
                _ => false,
            }
        };
        for line in lines.by_ref() {
            if record(&line.unwrap(), &mut acked, &mut applied) {
                seen += 1;
                if seen >= kill_after {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
                               // What the child printed before dying was acknowledged too.
        for line in lines.map_while(Result::ok) {
            record(&line, &mut acked, &mut applied);
        }
        child.wait().unwrap();

        // Restart: every ACKed message is kept; each message is applied wholly or not at all.
        let store =
            SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap();
        rt.block_on(async {
            for (n, id) in &acked {
                let m = store
                    .message(MessageId(*id))
                    .await
                    .unwrap_or_else(|e| panic!("round {round}: ACKed message {id} lost: {e}"));
                assert!(m.payload.ends_with(format!("PID|1||{n}\r").as_bytes()));
            }
            for id in &applied {
                assert_eq!(
                    store.message(MessageId(*id)).await.unwrap().state,
                    InboxState::Processed
                );
            }
            let s = store.summary().await.unwrap();
            // Each restarted child resends from the start: ids repeat (duplicates).
            let distinct: std::collections::BTreeSet<i64> = acked.iter().map(|a| a.1).collect();
            assert!(s.received as usize >= distinct.len());
            assert!(s.duplicates > 0 || round == 0);
            for i in 1..=s.received as i64 {
                let m = store.message(MessageId(i)).await.unwrap();
                let lineage = store.lineage(MessageId(i)).await.unwrap();
                match m.state {
                    InboxState::Processed => assert_eq!(lineage.len(), 3, "message {i}"),
                    InboxState::Pending => assert!(lineage.is_empty(), "message {i} half-applied"),
                    other => panic!("{other:?}"),
                }
            }
            // Three resources per processed message, none twice.
            let processed = s.received - store.pending(100_000).await.unwrap().len() as u64;
            assert_eq!(s.resources, processed * 3);
            assert!(store.verify_audit().await.unwrap().is_intact());
            // The sender resends what it sent: all ACKed ones are duplicates.
            for (n, id) in acked.iter().take(20) {
                let r = store.accept(msg(*n)).await.unwrap();
                assert_eq!(r.id(), MessageId(*id));
                assert!(!r.needs_processing());
            }
        });
    }
    assert!(acked.len() >= 5 + 40 + 120 + 300 + 17 + 250);
    assert!(!applied.is_empty());
}
