//! HL7 v2 batches (`FHS` / `BHS` … messages … `BTS` / `FTS`), from a file or one MLLP payload:
//! split into their messages with `ehrkit-hl7v2`'s batch reader, each kept under its own
//! idempotency key (its MSH-3/MSH-4/MSH-10 and content hash), as if sent one by one.
//!
//! A message of the batch the parser refuses (no control id, not HL7, message code not
//! accepted, unknown sender) is **kept and dead-lettered alone**: it enters the inbox under a
//! key made of its content hash (a resend of the batch recognizes it as a duplicate) and goes
//! to the dead letters with the parse stage, kind and location, so it can be inspected and
//! reprocessed, and the rest of the batch is applied. A batch is therefore ACKed (AA) once
//! every message is kept; only a store failure (AR) makes the sender resend it, and then the
//! messages already kept count as duplicates.
//!
//! **Trailer counts.** `BTS-1` (the batch's message count) and `FTS-1` (the file's batch
//! count) are checked against what the input holds ([`count_mismatches`]). A mismatch loses
//! nothing: every message present is kept and applied as usual, and the mismatch is recorded
//! as a data-quality warning naming the trailer, the count declared and the count found: the
//! counter `ehrkit_pipeline_batch_count_mismatches_total` (`source`, `trailer`), a `tracing`
//! warning, an audit row (kind `received`, detail `batch count mismatch: …`) and
//! [`BatchReport::count_mismatches`]. An empty or absent count is not checked.

use crate::error::StageError;
use crate::runtime::{Pipeline, Refusal, Submitted};
use crate::store::{
    sha256_hex, Accepted, AuditEvent, AuditEventKind, DeadLetterId, IdempotencyKey, InboundMessage,
    NewDeadLetter, PayloadKind,
};

/// What [`submit_batch`] did.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// Every message kept (new or resent), in batch order, dead-lettered ones included.
    pub submitted: Vec<Submitted>,
    /// Messages the parser refused, kept and dead-lettered: (position in the batch from 1,
    /// the dead letter, why). A resent batch lists them again with the original dead letter
    /// absent (`None`): they are duplicates.
    pub dead_lettered: Vec<(usize, Option<DeadLetterId>, StageError)>,
    /// Trailer counts that do not match the input (data-quality warnings; nothing was lost).
    pub count_mismatches: Vec<CountMismatch>,
}

/// A batch trailer whose declared count does not match the input: `BTS-1` (messages of the
/// batch) or `FTS-1` (batches of the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountMismatch {
    /// `BTS` or `FTS`.
    pub trailer: &'static str,
    /// For `BTS`, the batch's position in the file (from 1); 0 for `FTS`.
    pub batch: usize,
    /// The count the trailer declares; `None` when it is not a number.
    pub declared: Option<u64>,
    /// The count found in the input.
    pub found: u64,
}

impl std::fmt::Display for CountMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.trailer == "BTS" {
            format!("BTS-1 of batch {} (messages)", self.batch)
        } else {
            "FTS-1 (batches)".to_owned()
        };
        match self.declared {
            Some(d) => write!(f, "{what} declares {d}, found {}", self.found),
            None => write!(f, "{what} is not a number, found {}", self.found),
        }
    }
}

/// The first field of a trailer segment (`BTS-1`, `FTS-1`): `None` when empty (not checked),
/// `Some(None)` when it is not a number.
fn trailer_count(seg: &[u8], field_sep: u8) -> Option<Option<u64>> {
    let v = seg.split(|b| *b == field_sep).nth(1)?;
    let v = String::from_utf8_lossy(v);
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    Some(v.parse().ok())
}

/// The trailer counts of a batch input (`BTS-1` per batch, `FTS-1`) that do not match the
/// messages and batches it holds. Read segment by segment, so a damaged message does not stop
/// the check: a batch is a `BHS` (or the messages before the first one), its messages are its
/// `MSH` segments up to its `BTS`.
pub fn count_mismatches(payload: &[u8]) -> Vec<CountMismatch> {
    let mut out = Vec::new();
    let mut field_sep = b'|';
    let mut batches: u64 = 0;
    // Messages of the batch open now, if any.
    let mut open: Option<u64> = None;
    for seg in payload.split(|b| *b == b'\r' || *b == b'\n') {
        let seg = seg.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(seg);
        let name = seg.get(..3).unwrap_or(seg);
        if matches!(name, b"FHS" | b"BHS" | b"MSH") {
            if let Some(&sep) = seg.get(3) {
                field_sep = sep;
            }
        }
        match name {
            b"BHS" => {
                batches += 1;
                open = Some(0);
            }
            b"MSH" => match open.as_mut() {
                Some(n) => *n += 1,
                None => {
                    batches += 1;
                    open = Some(1);
                }
            },
            b"BTS" => {
                let found = open.take().unwrap_or(0);
                if let Some(declared) = trailer_count(seg, field_sep) {
                    if declared != Some(found) {
                        out.push(CountMismatch {
                            trailer: "BTS",
                            batch: batches as usize,
                            declared,
                            found,
                        });
                    }
                }
            }
            b"FTS" => {
                if let Some(declared) = trailer_count(seg, field_sep) {
                    if declared != Some(batches) {
                        out.push(CountMismatch {
                            trailer: "FTS",
                            batch: 0,
                            declared,
                            found: batches,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn skip_preamble(payload: &[u8]) -> &[u8] {
    let p = payload.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(payload);
    let start = p
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(p.len());
    &p[start..]
}

/// True when `payload` is an HL7 batch: it starts (after a BOM or blank lines) with `FHS` or
/// `BHS`. A plain message, or several messages without an envelope, is not.
pub fn is_batch(payload: &[u8]) -> bool {
    let p = skip_preamble(payload);
    p.starts_with(b"FHS") || p.starts_with(b"BHS")
}

/// The messages of a batch, each as its own bytes (envelope segments dropped).
///
/// `ehrkit-hl7v2`'s [`BatchFile`](ehrkit_hl7v2::batch::BatchFile) reads the batch. When it
/// refuses the whole input (a message whose MSH is too damaged to give delimiters), the batch
/// is split at segment boundaries instead (a segment starting `MSH` starts a message;
/// `FHS`/`BHS`/`BTS`/`FTS` are dropped), so the damaged message is kept and dead-lettered on
/// its own rather than taking the batch with it.
pub fn split(payload: &[u8]) -> Vec<Vec<u8>> {
    if let Ok(file) = ehrkit_hl7v2::batch::BatchFile::parse(payload) {
        return file.messages().map(|m| m.as_bytes().to_vec()).collect();
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    for seg in payload.split(|b| *b == b'\r' || *b == b'\n') {
        if seg.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let name = seg.get(..3).unwrap_or(seg);
        if matches!(name, b"FHS" | b"BHS" | b"BTS" | b"FTS") {
            continue;
        }
        if name == b"MSH" || out.is_empty() {
            out.push(Vec::new());
        }
        if let Some(m) = out.last_mut() {
            m.extend_from_slice(seg);
            m.push(b'\r');
        }
    }
    out
}

/// Submits every message of a batch received through `endpoint` (see the module docs). `Err`
/// only when something could not be kept (store failure, shutdown): NAK the batch (AR), the
/// sender resends it, and what was kept counts as duplicates.
pub async fn submit_batch(
    pipeline: &Pipeline,
    payload: &[u8],
    endpoint: &str,
    peer: Option<String>,
) -> Result<BatchReport, Refusal> {
    let mut report = BatchReport::default();
    for (i, msg) in split(payload).into_iter().enumerate() {
        match pipeline
            .submit(PayloadKind::Hl7v2, msg.clone(), endpoint, peer.clone())
            .await
        {
            Ok(s) => report.submitted.push(s),
            Err(Refusal::Stage(e)) => {
                let (s, dl) = keep_refused(pipeline, msg, endpoint, peer.clone(), &e).await?;
                report.submitted.push(s);
                report.dead_lettered.push((i + 1, dl, e));
            }
            Err(other) => return Err(other),
        }
    }
    report.count_mismatches = count_mismatches(payload);
    if !report.count_mismatches.is_empty() {
        warn_counts(pipeline, &report, endpoint).await;
    }
    Ok(report)
}

/// Records trailer count mismatches as data-quality warnings: metric, `tracing` warning and an
/// audit row per mismatch (on the batch's first message kept). The messages are kept already:
/// an audit row that cannot be written is logged, and the batch is still ACKed.
async fn warn_counts(pipeline: &Pipeline, report: &BatchReport, endpoint: &str) {
    let first = report.submitted.first().map(|s| s.accepted.id());
    let mut audit = Vec::new();
    for m in &report.count_mismatches {
        metrics::counter!("ehrkit_pipeline_batch_count_mismatches_total", "source" => endpoint.to_owned(), "trailer" => m.trailer).increment(1);
        tracing::warn!(source = endpoint, trailer = m.trailer, batch = m.batch, declared = ?m.declared, found = m.found, "batch count mismatch; every message present is kept");
        let mut e = AuditEvent::new(AuditEventKind::Received, "pipeline")
            .source(endpoint.to_owned())
            .detail(format!("batch count mismatch: {m}"));
        if let Some(id) = first {
            e = e.message(id);
        }
        audit.push(e);
    }
    if let Err(e) = pipeline.store().append_audit(audit).await {
        tracing::error!(source = endpoint, error = %e, "batch count warning not audited");
    }
}

/// Keeps a refused message of a batch under a key of its content, and dead-letters it.
async fn keep_refused(
    pipeline: &Pipeline,
    msg: Vec<u8>,
    endpoint: &str,
    peer: Option<String>,
    e: &StageError,
) -> Result<(Submitted, Option<DeadLetterId>), Refusal> {
    let store = pipeline.store();
    let key = IdempotencyKey::v2("", "", format!("unkeyed:{}", sha256_hex(&msg)));
    let mut inbound =
        InboundMessage::new(key, msg, PayloadKind::Hl7v2, endpoint).message_type("unparsed");
    if let Some(p) = peer {
        inbound = inbound.peer(p);
    }
    let accepted = store.accept(inbound).await.map_err(Refusal::Store)?;
    let dl = match accepted {
        Accepted::Duplicate(_) => None,
        _ => Some({
            pipeline.counters().dead_letter(e.stage, e.kind);
            store
                .dead_letter(NewDeadLetter {
                    message_id: Some(accepted.id()),
                    stage: e.stage.as_str().to_owned(),
                    error_kind: e.kind.as_str().to_owned(),
                    location: e.location.clone(),
                    attempts: 1,
                    reason: e.reason.clone(),
                })
                .await
                .map_err(Refusal::Store)?
        }),
    };
    Ok((
        Submitted {
            accepted,
            source: endpoint.to_owned(),
            message_type: "unparsed".to_owned(),
        },
        dl,
    ))
}
