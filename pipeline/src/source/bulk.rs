//! A Bulk Data `$export` as a source (FHIR Bulk Data Access 2.0,
//! <https://hl7.org/fhir/uv/bulkdata/export.html>): kicks off an export (or takes the status
//! URL of one already running) through `ehrkit-bulk-data`, polls it to its manifest, downloads
//! each NDJSON `output` file (streamed and decoded to a file in a work directory, so memory
//! does not depend on the file's size) and submits each resource to the [`Pipeline`] as
//! [`PayloadKind::FhirJson`] under the endpoint's name.
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
use std::path::PathBuf;
use std::sync::Arc;

use ehrkit_bulk_data::client::{BulkClient, TokenProvider};
use ehrkit_bulk_data::{ExportRequest, FileKind, Manifest, NdjsonReader};

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
    /// The work directory could not be used.
    #[error("work directory: {0}")]
    Io(#[source] std::io::Error),
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
    /// NDJSON lines that were not records (located errors, logged).
    pub bad_lines: usize,
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
    work_dir: PathBuf,
}

impl<P> std::fmt::Debug for BulkSource<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkSource")
            .field("endpoint", &self.endpoint)
            .field("work_dir", &self.work_dir)
            .finish_non_exhaustive()
    }
}

impl<P: TokenProvider> BulkSource<P> {
    /// A source submitting to `pipeline` under the source name `endpoint`, keeping its state
    /// (status URL, files kept, next `_since`) in `state` and downloads in `work_dir`
    /// (created when missing; each file is deleted once submitted).
    pub fn new(
        pipeline: Pipeline,
        client: BulkClient<P>,
        endpoint: impl Into<String>,
        state: impl WatermarkStore,
        work_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            pipeline,
            client,
            endpoint: endpoint.into(),
            state: Arc::new(state),
            work_dir: work_dir.into(),
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
        std::fs::create_dir_all(&self.work_dir).map_err(BulkError::Io)?;
        let mut done = self.done_files()?;
        for (i, entry) in manifest.output.iter().enumerate() {
            if done.contains(&entry.url) {
                report.skipped_files += 1;
                continue;
            }
            let path = self.work_dir.join(format!("output.{i:05}.ndjson"));
            self.client
                .download_to_file(manifest, entry, FileKind::Output, &path)
                .await
                .map_err(BulkError::Export)?;
            self.submit_file(&path, report).await?;
            let _ = std::fs::remove_file(&path);
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

    async fn submit_file(
        &self,
        path: &std::path::Path,
        report: &mut BulkReport,
    ) -> Result<(), BulkError> {
        let f = std::fs::File::open(path).map_err(BulkError::Io)?;
        let mut reader = NdjsonReader::new(std::io::BufReader::new(f));
        loop {
            let line = match reader.next_record() {
                None => break,
                Some(Ok(rec)) => rec.json().to_owned(),
                Some(Err(e)) => {
                    tracing::warn!(source = %self.endpoint, error = %e, "bad NDJSON line skipped");
                    report.bad_lines += 1;
                    continue;
                }
            };
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
                Err(Refusal::Store(e)) => return Err(BulkError::Store(e)),
                Err(Refusal::Closed) => return Err(BulkError::Closed),
            }
        }
        Ok(())
    }
}
