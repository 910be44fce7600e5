//! Helpers the runtime's integration tests share: a store in a temporary directory, raw MLLP
//! exchanges, submitting HL7 v2, and reading back the `metrics` a block of work recorded.
//! Included with `#[path = "common/runtime.rs"] mod common;`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ehrkit_pipeline::store::{MessageId, PayloadKind, SqliteOptions, SqliteStore};
use ehrkit_pipeline::Pipeline;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// A SQLite store in `dir`.
pub fn sqlite(dir: &tempfile::TempDir) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default()).unwrap())
}

/// A fresh directory, its store, and a pipeline with the default stages on it.
pub async fn started() -> (tempfile::TempDir, Arc<SqliteStore>, Pipeline) {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let p = Pipeline::builder(store.clone()).start().await.unwrap();
    (dir, store, p)
}

/// Submits an HL7 v2 message through the endpoint `mllp`; the id it is kept under.
pub async fn submit(p: &Pipeline, msg: impl Into<Vec<u8>>) -> MessageId {
    p.submit(PayloadKind::Hl7v2, msg, "mllp", None)
        .await
        .unwrap()
        .accepted
        .id()
}

/// Sends one MLLP frame over a raw socket (the client refuses to send what is not HL7) and
/// returns the reply.
pub async fn raw_exchange(addr: std::net::SocketAddr, payload: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut frame = vec![0x0b];
    frame.extend_from_slice(payload);
    frame.extend_from_slice(&[0x1c, 0x0d]);
    s.write_all(&frame).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(&[0x1c, 0x0d]) {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What [`recorded`] read back: counters and gauges as `name{label=value,...}` (labels in
/// the order recorded) → value.
#[derive(Debug, Default)]
pub struct Recorded {
    pub counters: BTreeMap<String, u64>,
    pub gauges: BTreeMap<String, f64>,
}

impl Recorded {
    /// A counter's value (0 when never recorded).
    pub fn counter(&self, key: &str) -> u64 {
        self.counters.get(key).copied().unwrap_or(0)
    }
}

/// Runs `work` to its end on a current-thread runtime with an in-memory `metrics` recorder
/// installed for this thread only (other tests running at the same time record nothing into
/// it), and returns its output with what it recorded.
pub fn recorded<F: Future>(work: impl FnOnce() -> F) -> (F::Output, Recorded) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = metrics::with_local_recorder(&recorder, || rt.block_on(work()));
    let mut seen = Recorded::default();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        match value {
            DebugValue::Counter(n) => {
                seen.counters.insert(name, n);
            }
            DebugValue::Gauge(g) => {
                seen.gauges.insert(name, g.into_inner());
            }
            DebugValue::Histogram(_) => {}
        }
    }
    (out, seen)
}
