//! Files as a source: HL7 v2 messages (`.hl7`, `.er7`, `.txt`: one or more messages, segments
//! ended by CR, LF or CRLF, or an HL7 batch: see [`super::batch`]), FHIR NDJSON (`.ndjson`: one resource a line, e.g. a Bulk export
//! or an EHR's API export) and FHIR JSON (`.json`: a resource, or a Bundle whose entries'
//! resources are submitted one by one).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, StageError};
use crate::runtime::{Pipeline, Refusal, Submitted};
use crate::store::PayloadKind;

/// What a file ingestion did.
#[derive(Debug, Default)]
pub struct FileReport {
    /// Messages kept (new or resent), in order.
    pub submitted: Vec<Submitted>,
    /// Items refused before being kept: (file, item number from 1, why).
    pub refused: Vec<(PathBuf, usize, StageError)>,
    /// HL7 batch trailers whose counts do not match the file (data-quality warnings: every
    /// message present was kept), see [`super::batch`].
    pub batch_warnings: Vec<(PathBuf, super::batch::CountMismatch)>,
}

/// The messages of an HL7 v2 file: segment ends normalized to CR, split at each `MSH`.
pub fn split_v2(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for seg in bytes.split(|b| *b == b'\r' || *b == b'\n') {
        if seg.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if seg.starts_with(b"MSH") || out.is_empty() {
            out.push(Vec::new());
        }
        if let Some(m) = out.last_mut() {
            m.extend_from_slice(seg);
            m.push(b'\r');
        }
    }
    out
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        what: path.display().to_string(),
        source,
    }
}

async fn submit(
    pipeline: &Pipeline,
    report: &mut FileReport,
    path: &Path,
    n: usize,
    kind: PayloadKind,
    payload: Vec<u8>,
    endpoint: &str,
) -> Result<(), Error> {
    match pipeline.submit(kind, payload, endpoint, None).await {
        Ok(s) => report.submitted.push(s),
        Err(Refusal::Stage(e)) => report.refused.push((path.to_owned(), n, e)),
        Err(Refusal::Store(e)) => return Err(Error::Store(e)),
        Err(Refusal::Closed) => return Err(Error::Closed),
    }
    Ok(())
}

/// Submits every item of one file under the source name `endpoint`.
pub async fn ingest_file(
    pipeline: &Pipeline,
    path: &Path,
    endpoint: &str,
) -> Result<FileReport, Error> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let mut report = FileReport::default();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "ndjson" => {
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                submit(
                    pipeline,
                    &mut report,
                    path,
                    i + 1,
                    PayloadKind::FhirJson,
                    line.to_vec(),
                    endpoint,
                )
                .await?;
            }
        }
        "json" => {
            let v: Result<Value, _> = serde_json::from_slice(&bytes);
            match v {
                Ok(v) if v.get("resourceType").and_then(Value::as_str) == Some("Bundle") => {
                    let entries = v
                        .get("entry")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    for (i, e) in entries.iter().enumerate() {
                        if let Some(r) = e.get("resource") {
                            let payload = serde_json::to_vec(r).unwrap_or_default();
                            submit(
                                pipeline,
                                &mut report,
                                path,
                                i + 1,
                                PayloadKind::FhirJson,
                                payload,
                                endpoint,
                            )
                            .await?;
                        }
                    }
                }
                _ => {
                    submit(
                        pipeline,
                        &mut report,
                        path,
                        1,
                        PayloadKind::FhirJson,
                        bytes,
                        endpoint,
                    )
                    .await?
                }
            }
        }
        _ if super::batch::is_batch(&bytes) => {
            // FHS/BHS … BTS/FTS: each message on its own, a refused one kept and dead-lettered.
            let r = super::batch::submit_batch(pipeline, &bytes, endpoint, None)
                .await
                .map_err(|e| match e {
                    Refusal::Store(e) => Error::Store(e),
                    Refusal::Stage(e) => Error::Stage(e),
                    Refusal::Closed => Error::Closed,
                })?;
            report.submitted.extend(r.submitted);
            report.batch_warnings.extend(
                r.count_mismatches
                    .into_iter()
                    .map(|m| (path.to_path_buf(), m)),
            );
        }
        _ => {
            for (i, m) in split_v2(&bytes).into_iter().enumerate() {
                submit(
                    pipeline,
                    &mut report,
                    path,
                    i + 1,
                    PayloadKind::Hl7v2,
                    m,
                    endpoint,
                )
                .await?;
            }
        }
    }
    Ok(report)
}

/// Submits every file of `dir` (sorted by name; `.hl7`, `.er7`, `.txt`, `.ndjson`, `.json`),
/// each under the source name `endpoint`.
pub async fn ingest_dir(
    pipeline: &Pipeline,
    dir: &Path,
    endpoint: &str,
) -> Result<FileReport, Error> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension()
                        .and_then(|e| e.to_str())
                        .map(str::to_ascii_lowercase)
                        .as_deref(),
                    Some("hl7" | "er7" | "txt" | "ndjson" | "json")
                )
        })
        .collect();
    paths.sort();
    let mut report = FileReport::default();
    for p in paths {
        let r = ingest_file(pipeline, &p, endpoint).await?;
        report.submitted.extend(r.submitted);
        report.refused.extend(r.refused);
        report.batch_warnings.extend(r.batch_warnings);
    }
    Ok(report)
}
