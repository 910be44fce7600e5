//! A Bulk Data `$export` as a source (FHIR Bulk Data Access 2.0,
//! <https://hl7.org/fhir/uv/bulkdata/export.html>): kicks off an export (or takes the status
//! URL of one already running) through `ehrkit-bulk-data`, polls it to its manifest, streams
//! each NDJSON `output` file (decoded as it arrives, records handed over a bounded channel:
//! memory does not depend on the file's size, and nothing is written to disk unencrypted)
//! and submits each resource to the [`Pipeline`] as [`PayloadKind::FhirJson`] under the
//! endpoint's name. A bad line fails the file's download (the bulk client's reader contract);
//! the run stops there and the next run downloads that file again.
//!
//! Resumable: the status URL is saved (in a [`WatermarkStore`], e.g. the poll source's
//! [`FileWatermarks`](super::fhir_poll::FileWatermarks)) as soon as the server accepted the
//! kick-off, and each file's URL once every resource of it was durably kept. A run after a
//! crash or an error resumes the saved export (no second kick-off) and skips the files already
//! kept; the resources of a file that was half submitted come again and are duplicates by
//! their key (source, type, id, `meta.versionId` / `lastUpdated`), so nothing is applied twice.
//! When an export is done, its `transactionTime` is saved as the `_since` of the next one
//! (unless the request sets its own) and the status URL is forgotten.
//!
//! `error` files (OperationOutcomes) are counted and logged by their codes, never their text;
//! `deleted` files (Bulk Data 2.0) are counted, not applied (the store keeps every version).

use std::collections::BTreeSet;
use std::sync::Arc;

use ehrkit_bulk_data::client::{BulkClient, TokenProvider};
use ehrkit_bulk_data::{ExportRequest, FileKind, Manifest};

use super::fhir_poll::WatermarkStore;
use crate::runtime::{Pipeline, Refusal};
use crate::store::{Accepted, PayloadKind, StoreError};

/// Why an export run stopped (run it again: it resumes).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BulkError {
    /// The export failed (kick-off refused, status error, download error, deadline).
    #[error("bulk export: {0}")]
    Export(#[source] ehrkit_bulk_data::Error),
    /// The pipeline's store could not keep a resource.
    #[error("store: {0}")]
    Store(#[source] StoreError),
    /// The pipeline is shutting down.
    #[error("pipeline closed")]
    Closed,
    /// The export's state could not be read or saved.
    #[error("export state: {0}")]
    State(#[source] std::io::Error),
    /// The download task ended abnormally (panicked or was cancelled).
    #[error("download task ended abnormally")]
    Download,
}

/// What one [`BulkSource::run`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BulkReport {
    /// True when a saved status URL was resumed instead of a kick-off.
    pub resumed: bool,
    /// `output` files submitted in this run.
    pub files: usize,
    /// `output` files skipped because an earlier run kept them.
    pub skipped_files: usize,
    /// Resources kept as new messages.
    pub new: usize,
    /// Resources already kept (same version): duplicates, not applied.
    pub duplicates: usize,
    /// Resources whose key was kept with other content: kept and flagged.
    pub reused: usize,
    /// Resources refused before being kept (no `resourceType`, not routed).
    pub refused: usize,
    /// OperationOutcomes in `error` files.
    pub error_outcomes: usize,
    /// Records in `deleted` files (not applied).
    pub deleted: usize,
    /// The export's `transactionTime` (the next export's `_since`).
    pub transaction_time: String,
}

/// Runs Bulk Data exports into a [`Pipeline`].
pub struct BulkSource<P> {
    pipeline: Pipeline,
    client: BulkClient<P>,
    endpoint: String,
    state: Arc<dyn WatermarkStore>,
}

impl<P> std::fmt::Debug for BulkSource<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkSource")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl<P: TokenProvider + Clone + 'static> BulkSource<P> {
    /// A source submitting to `pipeline` under the source name `endpoint`, keeping its state
    /// (status URL, files kept, next `_since`) in `state`. The token provider is cloned into
    /// the download task: share SMART tokens as `Arc<BackendServicesTokens>`.
    pub fn new(
        pipeline: Pipeline,
        client: BulkClient<P>,
        endpoint: impl Into<String>,
        state: impl WatermarkStore,
    ) -> Self {
        Self {
            pipeline,
            client,
            endpoint: endpoint.into(),
            state: Arc::new(state),
        }
    }

    fn key(&self, what: &str) -> String {
        format!("{}|bulk|{what}", self.endpoint)
    }

    /// The `_since` the next export will use (the last finished export's `transactionTime`).
    pub fn next_since(&self) -> Result<Option<String>, BulkError> {
        self.state
            .load(&self.key("since"))
            .map_err(BulkError::State)
    }

    /// The status URL of an export started and not finished, if any.
    pub fn pending_status_url(&self) -> Result<Option<String>, BulkError> {
        self.state
            .load(&self.key("status"))
            .map_err(BulkError::State)
    }

    fn done_files(&self) -> Result<BTreeSet<String>, BulkError> {
        let raw = self
            .state
            .load(&self.key("files"))
            .map_err(BulkError::State)?;
        Ok(raw
            .and_then(|r| serde_json::from_str::<BTreeSet<String>>(&r).ok())
            .unwrap_or_default())
    }

    /// Runs one export to its end: resumes the saved one, or kicks off `request` (with the
    /// saved `_since` when the request has none), then submits every `output` file not kept
    /// yet.
    pub async fn run(&self, request: &ExportRequest) -> Result<BulkReport, BulkError> {
        let mut report = BulkReport::default();
        let status_key = self.key("status");
        let mut job = match self.pending_status_url()? {
            Some(url) => match url::Url::parse(&url) {
                Ok(u) => {
                    report.resumed = true;
                    tracing::info!(source = %self.endpoint, "resuming a saved bulk export");
                    self.client.resume(u)
                }
                Err(_) => {
                    self.state.remove(&status_key).map_err(BulkError::State)?;
                    self.kick_off(request).await?
                }
            },
            None => self.kick_off(request).await?,
        };
        let manifest = self
            .client
            .wait(&mut job, |p| {
                tracing::debug!(
                    progress = p.x_progress.as_deref().unwrap_or(""),
                    polls = p.polls,
                    "bulk export running"
                );
            })
            .await
            .map_err(BulkError::Export)?;
        self.submit_manifest(&manifest, &mut report).await?;
        // Done: the next export starts where this one's data ends.
        report.transaction_time = manifest.next_since().to_owned();
        if !report.transaction_time.is_empty() {
            self.state
                .save(&self.key("since"), &report.transaction_time)
                .map_err(BulkError::State)?;
        }
        self.state
            .remove(&self.key("files"))
            .map_err(BulkError::State)?;
        self.state.remove(&status_key).map_err(BulkError::State)?;
        Ok(report)
    }

    async fn kick_off(
        &self,
        request: &ExportRequest,
    ) -> Result<ehrkit_bulk_data::ExportJob, BulkError> {
        let mut request = request.clone();
        if request.since.is_none() {
            if let Some(since) = self.next_since()? {
                request = request.since(since);
            }
        }
        let job = self
            .client
            .kick_off(&request)
            .await
            .map_err(BulkError::Export)?;
        self.state
            .save(&self.key("status"), job.status_url().as_str())
            .map_err(BulkError::State)?;
        self.state
            .remove(&self.key("files"))
            .map_err(BulkError::State)?;
        Ok(job)
    }

    async fn submit_manifest(
        &self,
        manifest: &Manifest,
        report: &mut BulkReport,
    ) -> Result<(), BulkError> {
        let mut done = self.done_files()?;
        for entry in &manifest.output {
            if done.contains(&entry.url) {
                report.skipped_files += 1;
                continue;
            }
            self.submit_file(manifest, entry, report).await?;
            done.insert(entry.url.clone());
            let list = serde_json::to_string(&done).map_err(|e| BulkError::State(e.into()))?;
            self.state
                .save(&self.key("files"), &list)
                .map_err(BulkError::State)?;
            report.files += 1;
        }
        for entry in &manifest.error {
            let mut codes = Vec::new();
            let n = self
                .client
                .download(manifest, entry, FileKind::Error, |rec| {
                    if let Ok(v) = rec.deserialize::<serde_json::Value>() {
                        if let Some(c) = v.pointer("/issue/0/code").and_then(|c| c.as_str()) {
                            codes.push(c.chars().take(32).collect::<String>());
                        }
                    }
                    Ok(())
                })
                .await
                .map_err(BulkError::Export)?;
            report.error_outcomes += n as usize;
            tracing::warn!(source = %self.endpoint, outcomes = n, codes = ?codes, "bulk export error file");
        }
        for entry in &manifest.deleted {
            let n = self
                .client
                .download(manifest, entry, FileKind::Deleted, |_| Ok(()))
                .await
                .map_err(BulkError::Export)?;
            report.deleted += n as usize;
        }
        Ok(())
    }

    /// Streams one `output` file: the download runs on a blocking thread (its record callback
    /// is synchronous) and hands each record over a bounded channel, so a slow store slows the
    /// download instead of filling memory.
    async fn submit_file(
        &self,
        manifest: &Manifest,
        entry: &ehrkit_bulk_data::OutputFile,
        report: &mut BulkReport,
    ) -> Result<(), BulkError> {
        // A std channel: the download's callback runs inside `block_on`, where tokio's
        // `blocking_send` is refused; the receiving side takes batches on a blocking thread.
        let (tx, rx) = std::sync::mpsc::sync_channel::<String>(256);
        let client = self.client.clone();
        let manifest = manifest.clone();
        let entry = entry.clone();
        let handle = tokio::runtime::Handle::current();
        let download = tokio::task::spawn_blocking(move || {
            handle.block_on(client.download(&manifest, &entry, FileKind::Output, |rec| {
                tx.send(rec.json().to_owned())
                    .map_err(|_| ehrkit_bulk_data::Error::Protocol("the submitter stopped".into()))
            }))
        });
        let mut rx = Some(rx);
        while let Some(r) = rx.take() {
            let (r, batch) = tokio::task::spawn_blocking(move || {
                let mut batch = Vec::new();
                if let Ok(line) = r.recv() {
                    batch.push(line);
                    while batch.len() < 256 {
                        match r.try_recv() {
                            Ok(line) => batch.push(line),
                            Err(_) => break,
                        }
                    }
                }
                (r, batch)
            })
            .await
            .map_err(|_| BulkError::Download)?;
            if batch.is_empty() {
                break; // the download ended (its sender is gone)
            }
            rx = Some(r);
            for line in batch {
                match self
                    .pipeline
                    .submit(
                        PayloadKind::FhirJson,
                        line.into_bytes(),
                        &self.endpoint,
                        None,
                    )
                    .await
                {
                    Ok(s) => match s.accepted {
                        Accepted::New(_) => report.new += 1,
                        Accepted::Duplicate(_) => report.duplicates += 1,
                        _ => report.reused += 1,
                    },
                    Err(Refusal::Stage(e)) => {
                        tracing::warn!(source = %self.endpoint, stage = %e.stage, kind = %e.kind, reason = %e.reason, "bulk resource refused");
                        report.refused += 1;
                    }
                    // Dropping the receiver stops the download at its next record.
                    Err(Refusal::Store(e)) => return Err(BulkError::Store(e)),
                    Err(Refusal::Closed) => return Err(BulkError::Closed),
                }
            }
        }
        download
            .await
            .map_err(|_| BulkError::Download)?
            .map_err(BulkError::Export)?;
        Ok(())
    }
}
