//! The event log between receivers and processors: append with a key, consume in a group,
//! commit after the effect is stored, with retry and dead-letter (`-Error`) companions.
//!
//! One process needs none of this (the store's inbox is the log). Past one machine, MLLP
//! receivers append each accepted message to the inbound topic and ACK once the broker has
//! it (`acks=all`); processors in one consumer group convert, resolve identity and store, and
//! commit their offset only after the store has the effect. Two implementations:
//!
//! * [`MemoryLog`]: in-process, partitioned, with consumer groups and redelivery of what was
//!   not committed; the reference semantics for tests and single-process runs.
//! * `KafkaLog` (feature `kafka`): Apache Kafka (or any Kafka-protocol broker) through
//!   `rdkafka`, with an idempotent producer.
//!
//! ## Topics, keys and headers
//!
//! [`Topics`] names the layout (after the CDC NHSN Link design): `<prefix>-Inbound`,
//! `<prefix>-Inbound-Retry` and `<prefix>-Inbound-Error`. Records are keyed by the **source
//! patient identity** ([`patient_key`]: sender namespace + the patient's first identifier), so
//! one patient's events stay in one partition and are applied in order. Two sources' records
//! of the same person may land on different partitions, processed concurrently: identity
//! stays consistent because resolution happens in the store's transaction (the MPI upsert
//! locks the blocking keys it touches), never in processor memory, and a link found later
//! merges the enterprise ids.
//!
//! Headers ([`Headers`]): `X-Correlation-Id`, `X-Retry-Count`, `X-Source`, `X-Profile`,
//! `X-Mapping-Version`, `X-Content-Type`, and on retries `X-Not-Before` (epoch ms) and
//! `X-Error-Kind`.
//!
//! [`receiver_handler`] and [`run_processor`] join MLLP receivers and pipeline processors
//! through a log (see the `bridge` diagram there).
//!
//! ## Retries
//!
//! [`RetryRouting::route`] decides where a failed record goes: back to the retry topic with
//! the count raised and a not-before time from the [`Backoff`], or to the error topic once the
//! attempts are spent. The processor commits the failed record only after that publish
//! succeeded, so a crash in between redelivers it (at least once; the store's idempotency
//! keys make the effect exactly once).

use std::time::Duration;

use async_trait::async_trait;

mod bridge;
mod memory;
pub use bridge::{
    receiver_handler, record_for, run_processor, HandlerFuture, ProcessorConfig, ProcessorStats,
    CONTENT_FHIR_JSON, CONTENT_HL7V2,
};
pub use memory::MemoryLog;

#[cfg(feature = "kafka")]
mod kafka;
#[cfg(feature = "kafka")]
pub use kafka::{KafkaConfig, KafkaLog};

/// Errors of an event log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The broker did not acknowledge in time or is unreachable: the caller must not ACK.
    #[error("event log unavailable ({op}): {detail}")]
    Unavailable {
        /// What was attempted (`append`, `commit`, `subscribe`, `receive`).
        op: &'static str,
        /// The client's message (broker addresses and error codes; no payloads).
        detail: String,
    },
    /// A configuration the client refused.
    #[error("event log configuration: {0}")]
    Config(String),
    /// The log was closed.
    #[error("event log closed")]
    Closed,
}

/// Result of event-log calls.
pub type LogResult<T> = Result<T, LogError>;

/// Headers every record carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Headers {
    /// One id across receiver, retries and processor (`X-Correlation-Id`).
    pub correlation_id: String,
    /// Attempts so far (`X-Retry-Count`; 0 on the first delivery).
    pub retry_count: u32,
    /// The source (MLLP listener or endpoint name; `X-Source`).
    pub source: String,
    /// Profile name and version (`X-Profile`, `name@version`), when chosen at receipt.
    pub profile: Option<String>,
    /// Mapping (converter) version (`X-Mapping-Version`).
    pub mapping_version: Option<String>,
    /// Do not process before this time, epoch milliseconds (`X-Not-Before`; retries).
    pub not_before_ms: Option<u64>,
    /// The error kind of the last failure (`X-Error-Kind`; retries and dead letters; no PHI).
    pub error_kind: Option<String>,
    /// What the payload is (`X-Content-Type`: `application/hl7-v2`, `application/fhir+json`).
    pub content_type: Option<String>,
}

impl Headers {
    /// Headers for a first delivery.
    pub fn new(correlation_id: impl Into<String>, source: impl Into<String>) -> Self {
        Headers {
            correlation_id: correlation_id.into(),
            source: source.into(),
            ..Headers::default()
        }
    }

    /// `(name, value)` pairs as they go on the wire.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("X-Correlation-Id", self.correlation_id.clone()),
            ("X-Retry-Count", self.retry_count.to_string()),
            ("X-Source", self.source.clone()),
        ];
        if let Some(p) = &self.profile {
            v.push(("X-Profile", p.clone()));
        }
        if let Some(m) = &self.mapping_version {
            v.push(("X-Mapping-Version", m.clone()));
        }
        if let Some(t) = self.not_before_ms {
            v.push(("X-Not-Before", t.to_string()));
        }
        if let Some(k) = &self.error_kind {
            v.push(("X-Error-Kind", k.clone()));
        }
        if let Some(c) = &self.content_type {
            v.push(("X-Content-Type", c.clone()));
        }
        v
    }

    /// Reads headers back from wire pairs; unknown names are ignored, a malformed number is
    /// read as absent (0 retries).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut h = Headers::default();
        for (k, v) in pairs {
            let v = String::from_utf8_lossy(v).into_owned();
            match k {
                "X-Correlation-Id" => h.correlation_id = v,
                "X-Retry-Count" => h.retry_count = v.parse().unwrap_or(0),
                "X-Source" => h.source = v,
                "X-Profile" => h.profile = Some(v),
                "X-Mapping-Version" => h.mapping_version = Some(v),
                "X-Not-Before" => h.not_before_ms = v.parse().ok(),
                "X-Error-Kind" => h.error_kind = Some(v),
                "X-Content-Type" => h.content_type = Some(v),
                _ => {}
            }
        }
        h
    }
}

/// One record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Partitioning key ([`patient_key`]).
    pub key: Vec<u8>,
    /// The message bytes (an HL7 v2 message or a FHIR resource).
    pub payload: Vec<u8>,
    /// Headers.
    pub headers: Headers,
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
}

/// A record received by a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Topic it came from.
    pub topic: String,
    /// Where it is.
    pub position: Position,
    /// The record.
    pub record: Record,
}

/// An event log: durable append, group consumption.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Appends `record` to `topic`; returns once the log holds it durably (for Kafka: every
    /// in-sync replica acknowledged). An error means the record may not be kept: do not ACK.
    async fn append(&self, topic: &str, record: Record) -> LogResult<Position>;

    /// A consumer in `group` over `topics`. Partitions are shared among the group's
    /// consumers; what a consumer received but did not commit is redelivered to the group
    /// when it goes away.
    async fn consumer(&self, group: &str, topics: &[&str]) -> LogResult<Box<dyn LogConsumer>>;
}

/// One member of a consumer group.
#[async_trait]
pub trait LogConsumer: Send {
    /// The next record (waits for one).
    async fn next(&mut self) -> LogResult<Delivered>;
    /// Marks `d` and everything before it in its partition as done.
    async fn commit(&mut self, d: &Delivered) -> LogResult<()>;
}

/// The topic layout for one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// Topics named `<prefix>-Inbound…`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Topics {
            prefix: prefix.into(),
        }
    }
    /// Accepted messages, keyed by source patient.
    pub fn inbound(&self) -> String {
        format!("{}-Inbound", self.prefix)
    }
    /// Records waiting for another attempt.
    pub fn retry(&self) -> String {
        format!("{}-Inbound-Retry", self.prefix)
    }
    /// Dead letters: records whose attempts are spent or whose error cannot be retried.
    pub fn error(&self) -> String {
        format!("{}-Inbound-Error", self.prefix)
    }
}

/// The partitioning key of a message: `<sender>|<authority>|<id>` of the patient's first
/// identifier, or the sender and control id when the message names no patient (such messages
/// need no ordering with others).
pub fn patient_key(sender: &str, patient: Option<(&str, &str)>, control_id: &str) -> Vec<u8> {
    match patient {
        Some((authority, id)) => format!("{sender}|{authority}|{id}").into_bytes(),
        None => format!("{sender}|msg|{control_id}").into_bytes(),
    }
}

/// Exponential backoff for the retry topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait before the first retry.
    pub first: Duration,
    /// Longest wait.
    pub max: Duration,
    /// Attempts in all (the first delivery included) before the error topic.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
            max_attempts: 5,
        }
    }
}

impl Backoff {
    /// The wait before attempt `attempt + 1`, after `attempt` failed ones (≥ 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// Where a failed record goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRouting {
    /// The topics.
    pub topics: Topics,
    /// The backoff.
    pub backoff: Backoff,
}

impl RetryRouting {
    /// The topic and record to publish for a failure of `d` (error kind `kind`, retryable or
    /// not) at `now_ms`: the retry topic with the count raised and a not-before time, or the
    /// error topic when the attempts are spent or the error is permanent.
    pub fn route(
        &self,
        d: &Delivered,
        kind: &str,
        retryable: bool,
        now_ms: u64,
    ) -> (String, Record) {
        let mut record = d.record.clone();
        let attempts = record.headers.retry_count.saturating_add(1);
        record.headers.retry_count = attempts;
        record.headers.error_kind = Some(kind.to_owned());
        if retryable && attempts < self.backoff.max_attempts {
            let wait = self.backoff.delay(attempts).as_millis() as u64;
            record.headers.not_before_ms = Some(now_ms.saturating_add(wait));
            (self.topics.retry(), record)
        } else {
            record.headers.not_before_ms = None;
            (self.topics.error(), record)
        }
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_through_wire_pairs() {
        let mut h = Headers::new("c-1", "epic-adt");
        h.retry_count = 2;
        h.profile = Some("epic@3".into());
        h.mapping_version = Some("0.1.0".into());
        h.not_before_ms = Some(1_700_000_000_000);
        h.error_kind = Some("store-io".into());
        h.content_type = Some("application/hl7-v2".into());
        let pairs = h.to_pairs();
        let back = Headers::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_bytes())));
        assert_eq!(back, h);
        let junk = Headers::from_pairs([("X-Retry-Count", &b"x"[..]), ("Other", &b"1"[..])]);
        assert_eq!(junk.retry_count, 0);
    }

    #[test]
    fn failures_go_to_retry_with_backoff_then_to_the_error_topic() {
        let routing = RetryRouting {
            topics: Topics::new("ehr"),
            backoff: Backoff {
                first: Duration::from_millis(100),
                max: Duration::from_millis(250),
                max_attempts: 3,
            },
        };
        let mut d = Delivered {
            topic: "ehr-Inbound".into(),
            position: Position {
                partition: 0,
                offset: 4,
            },
            record: Record {
                key: b"k".to_vec(),
                payload: b"MSH|".to_vec(),
                headers: Headers::new("c", "s"),
            },
        };
        let (t, r) = routing.route(&d, "convert", true, 1000);
        assert_eq!(
            (t.as_str(), r.headers.retry_count),
            ("ehr-Inbound-Retry", 1)
        );
        assert_eq!(r.headers.not_before_ms, Some(1100));
        d.record = r;
        let (t, r) = routing.route(&d, "convert", true, 2000);
        assert_eq!(
            (t.as_str(), r.headers.not_before_ms),
            ("ehr-Inbound-Retry", Some(2200))
        );
        d.record = r;
        let (t, r) = routing.route(&d, "convert", true, 3000);
        assert_eq!(
            (t.as_str(), r.headers.retry_count),
            ("ehr-Inbound-Error", 3)
        );
        assert_eq!(r.headers.not_before_ms, None);
        assert_eq!(r.payload, b"MSH|", "the payload travels unchanged");
        // A permanent error skips the retries.
        d.record.headers.retry_count = 0;
        let (t, _) = routing.route(&d, "parse", false, 0);
        assert_eq!(t, "ehr-Inbound-Error");
        // The delay is capped.
        assert_eq!(routing.backoff.delay(40), Duration::from_millis(250));
    }

    #[test]
    fn keys_group_one_patient_of_one_sender() {
        assert_eq!(
            patient_key("EPIC^HOSP", Some(("MRN", "123")), "m1"),
            patient_key("EPIC^HOSP", Some(("MRN", "123")), "m2")
        );
        assert_ne!(
            patient_key("EPIC^HOSP", None, "m1"),
            patient_key("EPIC^HOSP", None, "m2")
        );
    }
}
