//! Consumption: what the pipeline hands on after a message is stored. A [`Change`] is one new
//! resource version; [`Sink`]s receive them in store order per patient. Built in: NDJSON files
//! per resource type ([`NdjsonSink`], readable by `ehrkit-bulk-data`'s reader) and an
//! in-process subscription ([`Subscription`], filterable by type and patient).
//!
//! With the feature `reqwest`, `fhir_server::FhirServerSink` writes them to a FHIR server as
//! transaction Bundles of conditional updates (`ehrkit-fhir-client`).
//!
//! Sinks come after the store: the store is the system of record, so a sink that fails (after
//! the runtime's retries) never un-ACKs, loses or re-applies a message. The failure is counted
//! and kept as a dead letter of stage [`DELIVER_STAGE`] (its `location` names the sinks that
//! failed; no resource content); `Pipeline::reprocess` of that dead letter delivers the
//! message's resources again to those sinks only, without applying the message again.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ehrkit_identity::EnterpriseId;
use tokio::sync::broadcast;

use crate::store::MessageId;

#[cfg(feature = "reqwest")]
pub mod fhir_server;

/// The `stage` of a dead letter recorded when a sink failed after its retries (the message
/// itself was applied: reprocessing it delivers again, it does not apply again).
pub const DELIVER_STAGE: &str = "deliver";

/// One new version of a canonical resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Resource type.
    pub resource_type: String,
    /// Logical id.
    pub id: String,
    /// Version (1-based) in the store.
    pub version: i64,
    /// The resource JSON.
    pub body: String,
    /// Source patient key, when it belongs to one.
    pub patient_key: Option<String>,
    /// Enterprise id of that patient when known.
    pub enterprise_id: Option<EnterpriseId>,
    /// The message that produced it.
    pub message_id: MessageId,
}

/// Why a sink could not deliver.
#[derive(Debug, thiserror::Error)]
#[error("sink {sink}: {reason}")]
pub struct SinkError {
    /// Sink name.
    pub sink: String,
    /// What failed (no resource content).
    pub reason: String,
}

/// A consumer of stored changes. Replace or wrap it like any stage.
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// A short name for metrics and logs.
    fn name(&self) -> &str;
    /// Delivers the changes of one message. Called again with the same changes after a
    /// failure (per the retry policy), so deliveries should be idempotent.
    async fn deliver(&self, changes: &[Change]) -> Result<(), SinkError>;
}

/// Appends each change as one line to `<dir>/<ResourceType>.ndjson` (the Bulk Data layout).
/// A resource changed twice appears twice, newest last.
#[derive(Debug)]
pub struct NdjsonSink {
    dir: PathBuf,
    files: Mutex<HashMap<String, BufWriter<File>>>,
}

impl NdjsonSink {
    /// A sink writing under `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            files: Mutex::new(HashMap::new()),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write(&self, changes: &[Change]) -> std::io::Result<()> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let mut touched = HashSet::new();
        for c in changes {
            if !c.resource_type.chars().all(|ch| ch.is_ascii_alphanumeric()) {
                continue; // never a path from data
            }
            if !files.contains_key(&c.resource_type) {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.join(format!("{}.ndjson", c.resource_type)))?;
                files.insert(c.resource_type.clone(), BufWriter::new(f));
            }
            let w = files.get_mut(&c.resource_type).expect("inserted above");
            w.write_all(c.body.as_bytes())?;
            w.write_all(b"\n")?;
            touched.insert(c.resource_type.clone());
        }
        for t in touched {
            if let Some(w) = files.get_mut(&t) {
                w.flush()?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for NdjsonSink {
    fn name(&self) -> &str {
        "ndjson"
    }

    async fn deliver(&self, changes: &[Change]) -> Result<(), SinkError> {
        self.write(changes).map_err(|e| SinkError {
            sink: "ndjson".into(),
            reason: format!("write failed ({:?})", e.kind()),
        })
    }
}

/// Which changes a [`Subscription`] receives.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    types: Option<HashSet<String>>,
    patient_keys: Option<HashSet<String>>,
    enterprise_ids: Option<HashSet<EnterpriseId>>,
}

impl Filter {
    /// Every change.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only these resource types.
    pub fn types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, types: I) -> Self {
        self.types = Some(types.into_iter().map(Into::into).collect());
        self
    }

    /// Only resources of this source patient (MPI record key).
    pub fn patient_key(mut self, key: impl Into<String>) -> Self {
        self.patient_keys
            .get_or_insert_with(HashSet::new)
            .insert(key.into());
        self
    }

    /// Only resources of patients linked to this enterprise id.
    pub fn enterprise_id(mut self, eid: EnterpriseId) -> Self {
        self.enterprise_ids
            .get_or_insert_with(HashSet::new)
            .insert(eid);
        self
    }

    /// Whether `c` passes.
    pub fn matches(&self, c: &Change) -> bool {
        if let Some(t) = &self.types {
            if !t.contains(&c.resource_type) {
                return false;
            }
        }
        let by_key = self
            .patient_keys
            .as_ref()
            .map(|k| c.patient_key.as_ref().is_some_and(|p| k.contains(p)));
        let by_eid = self
            .enterprise_ids
            .as_ref()
            .map(|k| c.enterprise_id.is_some_and(|e| k.contains(&e)));
        match (by_key, by_eid) {
            (None, None) => true,
            (a, b) => a.unwrap_or(false) || b.unwrap_or(false),
        }
    }
}

/// The in-process sink feeding [`Subscription`]s (a tokio broadcast channel).
#[derive(Debug, Clone)]
pub struct Broadcast {
    tx: broadcast::Sender<Arc<Change>>,
}

impl Broadcast {
    /// A broadcast keeping up to `capacity` changes for slow subscribers.
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity.max(1)).0,
        }
    }

    /// A new subscription receiving the changes that pass `filter` from now on.
    pub fn subscribe(&self, filter: Filter) -> Subscription {
        Subscription {
            rx: self.tx.subscribe(),
            filter,
            missed: 0,
        }
    }

    pub(crate) fn send(&self, c: Change) {
        // No subscriber is not an error.
        let _ = self.tx.send(Arc::new(c));
    }
}

/// A stream of changes (call [`Subscription::next`] in a loop).
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Change>>,
    filter: Filter,
    missed: u64,
}

impl Subscription {
    /// The next change passing the filter; `None` when the pipeline is gone. A subscriber too
    /// slow for the channel's capacity skips what it missed ([`Subscription::missed`] counts
    /// them) and can read them back from the store.
    pub async fn next(&mut self) -> Option<Arc<Change>> {
        loop {
            match self.rx.recv().await {
                Ok(c) if self.filter.matches(&c) => return Some(c),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => self.missed += n,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Changes skipped because this subscriber fell behind.
    pub fn missed(&self) -> u64 {
        self.missed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(t: &str, key: &str) -> Change {
        Change {
            resource_type: t.into(),
            id: "1".into(),
            version: 1,
            body: format!("{{\"resourceType\":\"{t}\",\"id\":\"1\"}}"),
            patient_key: Some(key.into()),
            enterprise_id: Some(EnterpriseId(7)),
            message_id: MessageId(1),
        }
    }

    #[test]
    fn filter_by_type_and_patient() {
        let f = Filter::all().types(["Observation"]).patient_key("EPIC|1");
        assert!(f.matches(&change("Observation", "EPIC|1")));
        assert!(!f.matches(&change("Observation", "EPIC|2")));
        assert!(!f.matches(&change("Patient", "EPIC|1")));
        assert!(Filter::all()
            .enterprise_id(EnterpriseId(7))
            .matches(&change("Patient", "X|9")));
        assert!(!Filter::all()
            .enterprise_id(EnterpriseId(8))
            .matches(&change("Patient", "X|9")));
    }

    #[tokio::test]
    async fn ndjson_lines_per_type() {
        let dir = tempfile::tempdir().unwrap();
        let sink = NdjsonSink::new(dir.path()).unwrap();
        sink.deliver(&[
            change("Patient", "a"),
            change("Observation", "a"),
            change("Patient", "b"),
        ])
        .await
        .unwrap();
        let p = std::fs::read_to_string(dir.path().join("Patient.ndjson")).unwrap();
        assert_eq!(p.lines().count(), 2);
        assert!(dir.path().join("Observation.ndjson").exists());
    }
}
