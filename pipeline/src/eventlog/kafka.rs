//! The event log on Apache Kafka (or any Kafka-protocol broker) through `rdkafka`.
//!
//! Producer: idempotent (`enable.idempotence=true`, hence `acks=all`), so a retried send after
//! a lost broker answer is written once; `append` returns only after the broker acknowledged,
//! and fails after `delivery_timeout` when the broker is unreachable, so a receiver never
//! ACKs what the log does not hold. Consumer: a group member with auto-commit off; offsets are
//! committed by [`LogConsumer::commit`], which the processor calls only after the store has
//! the effect (queued in order by default, or confirmed one by one with
//! [`KafkaConfig::sync_commits`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers as _, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

use super::{Delivered, EventLog, Headers, LogConsumer, LogError, LogResult, Position, Record};

/// Settings of a [`KafkaLog`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KafkaConfig {
    /// `bootstrap.servers` (`host:port,host:port`).
    pub bootstrap: String,
    /// How long `append` waits for the broker's acknowledgement before failing (default 10 s).
    pub delivery_timeout: Duration,
    /// Consumer session timeout: how soon a dead processor's partitions move to the others
    /// (default 10 s).
    pub session_timeout: Duration,
    /// Extra librdkafka properties (TLS, SASL, client id...).
    pub extra: Vec<(String, String)>,
    /// Wait for the broker to confirm each commit (default `false`: the commit is queued and
    /// sent in the background, in order). Either way a commit is issued only after the store
    /// has the effect; an unconfirmed commit lost in a crash only redelivers records the
    /// store recognizes as duplicates. A confirmed commit costs one broker round trip per
    /// record.
    pub sync_commits: bool,
}

impl KafkaConfig {
    /// Defaults for `bootstrap`.
    pub fn new(bootstrap: impl Into<String>) -> Self {
        KafkaConfig {
            bootstrap: bootstrap.into(),
            delivery_timeout: Duration::from_secs(10),
            session_timeout: Duration::from_secs(10),
            extra: Vec::new(),
            sync_commits: false,
        }
    }

    /// Sets how long `append` waits for the broker.
    pub fn delivery_timeout(mut self, d: Duration) -> Self {
        self.delivery_timeout = d;
        self
    }

    /// Sets the consumer session timeout.
    pub fn session_timeout(mut self, d: Duration) -> Self {
        self.session_timeout = d;
        self
    }

    /// Waits for the broker to confirm each commit.
    pub fn sync_commits(mut self, on: bool) -> Self {
        self.sync_commits = on;
        self
    }

    /// Adds a librdkafka property, applied after ehrkit's defaults for both the producer and
    /// the consumers, so it overrides them (e.g. `linger.ms`, `auto.offset.reset`).
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.extra.push((key.to_owned(), value.to_owned()));
        self
    }

    /// A client configuration: the bootstrap servers, then `defaults`, then the caller's
    /// properties ([`KafkaConfig::set`]) last, so a caller can override any default, for the
    /// producer and the consumer alike.
    fn client(&self, defaults: &[(&str, String)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        for (k, v) in defaults {
            c.set(*k, v);
        }
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        c
    }
}

/// The Kafka [`EventLog`].
pub struct KafkaLog {
    config: KafkaConfig,
    /// Replaced when the idempotent producer hits a fatal error (a broker that lost its
    /// producer state, e.g. after a restart without durable storage): such a producer never
    /// sends again.
    producer: std::sync::RwLock<FutureProducer>,
    /// When the producer was last replaced.
    replaced: std::sync::Mutex<std::time::Instant>,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("bootstrap", &self.config.bootstrap)
            .finish_non_exhaustive()
    }
}

fn unavailable(op: &'static str, e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable {
        op,
        detail: e.to_string(),
    }
}

fn producer(config: &KafkaConfig) -> LogResult<FutureProducer> {
    let ms = config.delivery_timeout.as_millis().max(1).to_string();
    config
        .client(&[
            ("enable.idempotence", "true".into()),
            ("acks", "all".into()),
            ("linger.ms", "1".into()),
            ("message.timeout.ms", ms),
        ])
        .create()
        .map_err(|e| LogError::Config(e.to_string()))
}

impl KafkaLog {
    /// Connects the producer (no network round trip until the first append).
    pub fn new(config: KafkaConfig) -> LogResult<Self> {
        let p = producer(&config)?;
        Ok(KafkaLog {
            config,
            producer: std::sync::RwLock::new(p),
            replaced: std::sync::Mutex::new(std::time::Instant::now()),
        })
    }

    fn current(&self) -> FutureProducer {
        self.producer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl EventLog for KafkaLog {
    async fn append(&self, topic: &str, record: Record) -> LogResult<Position> {
        let pairs = record.headers.to_pairs();
        let mut headers = OwnedHeaders::new_with_capacity(pairs.len());
        for (k, v) in &pairs {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        let fr = FutureRecord::to(topic)
            .key(&record.key)
            .payload(&record.payload)
            .headers(headers);
        let producer = self.current();
        match producer
            .send(fr, Timeout::After(self.config.delivery_timeout))
            .await
        {
            Ok(d) => Ok(Position {
                partition: d.partition,
                offset: d.offset,
            }),
            Err((e, _)) => {
                // An idempotent producer whose send failed (broker gone, or back without the
                // producer state it had) can stay stuck retrying its old epoch; the record was
                // not written (the caller NAKs), so a fresh producer costs nothing. At most one
                // replacement per delivery timeout.
                let fatal = producer.client().fatal_error();
                let mut last = self.replaced.lock().unwrap_or_else(|p| p.into_inner());
                if fatal.is_some() || last.elapsed() >= self.config.delivery_timeout {
                    tracing::warn!(error = %e, fatal = fatal.is_some(), "Kafka append failed; replacing the producer");
                    if let Ok(fresh) = self::producer(&self.config) {
                        let old = std::mem::replace(
                            &mut *self.producer.write().unwrap_or_else(|p| p.into_inner()),
                            fresh,
                        );
                        *last = std::time::Instant::now();
                        // Dropping a producer purges, flushes (≤ 500 ms) and joins its polling
                        // thread: not on an async worker.
                        tokio::task::spawn_blocking(move || drop((old, producer)));
                        drop(last);
                        return Err(unavailable("append", e));
                    }
                }
                drop(last);
                Err(unavailable("append", e))
            }
        }
    }

    async fn consumer(&self, group: &str, topics: &[&str]) -> LogResult<Box<dyn LogConsumer>> {
        let consumer: StreamConsumer = self
            .config
            .client(&[
                ("group.id", group.to_owned()),
                ("enable.auto.commit", "false".into()),
                ("auto.offset.reset", "earliest".into()),
                ("enable.partition.eof", "false".into()),
                (
                    "session.timeout.ms",
                    self.config.session_timeout.as_millis().to_string(),
                ),
            ])
            .create()
            .map_err(|e| LogError::Config(e.to_string()))?;
        consumer
            .subscribe(topics)
            .map_err(|e| unavailable("subscribe", e))?;
        Ok(Box::new(KafkaConsumer {
            consumer: Arc::new(consumer),
            sync: self.config.sync_commits,
        }))
    }
}

struct KafkaConsumer {
    consumer: Arc<StreamConsumer>,
    sync: bool,
}

#[async_trait]
impl LogConsumer for KafkaConsumer {
    async fn next(&mut self) -> LogResult<Delivered> {
        let m = self
            .consumer
            .recv()
            .await
            .map_err(|e| unavailable("receive", e))?;
        let headers = match m.headers() {
            Some(h) => Headers::from_pairs(h.iter().map(|h| (h.key, h.value.unwrap_or(&[])))),
            None => Headers::default(),
        };
        Ok(Delivered {
            topic: m.topic().to_owned(),
            position: Position {
                partition: m.partition(),
                offset: m.offset(),
            },
            record: Record {
                key: m.key().unwrap_or_default().to_vec(),
                payload: m.payload().unwrap_or_default().to_vec(),
                headers,
            },
        })
    }

    async fn commit(&mut self, d: &Delivered) -> LogResult<()> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(
            &d.topic,
            d.position.partition,
            Offset::Offset(d.position.offset + 1),
        )
        .map_err(|e| unavailable("commit", e))?;
        if !self.sync {
            return self
                .consumer
                .commit(&tpl, CommitMode::Async)
                .map_err(|e| unavailable("commit", e));
        }
        let consumer = self.consumer.clone();
        // A synchronous commit blocks its thread until the broker answers.
        tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
            .await
            .map_err(|e| unavailable("commit", e))?
            .map_err(|e| unavailable("commit", e))
    }
}
