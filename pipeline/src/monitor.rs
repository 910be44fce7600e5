//! Monitoring: counters, gauges and histograms through the `metrics` facade (the embedding
//! application installs the exporter; the `prometheus` feature adds one), the same totals
//! kept in-process ([`Stats`]), and health rules evaluated into alert states that are also
//! logged as `tracing` events on every change.
//!
//! Metric names (labels in brackets):
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `ehrkit_pipeline_messages_received_total` | counter | `source`, `type` |
//! | `ehrkit_pipeline_acks_total` | counter | `source`, `code` (`AA`/`AE`/`AR`) |
//! | `ehrkit_pipeline_duplicates_total` | counter | `source` |
//! | `ehrkit_pipeline_control_id_reused_total` | counter | `source` |
//! | `ehrkit_pipeline_dead_letters_total` | counter | `stage`, `kind` |
//! | `ehrkit_pipeline_retries_total` | counter | `stage` |
//! | `ehrkit_pipeline_resources_written_total` | counter | `type` |
//! | `ehrkit_pipeline_mpi_total` | counter | `outcome` (`new`/`match`/`possible`/`update`/`merge`) |
//! | `ehrkit_pipeline_connection_drops_total` | counter | `reason` |
//! | `ehrkit_pipeline_sink_failures_total` | counter | `sink` |
//! | `ehrkit_pipeline_queue_depth` | gauge | |
//! | `ehrkit_pipeline_queue_oldest_seconds` | gauge | |
//! | `ehrkit_pipeline_connections_open` | gauge | |
//! | `ehrkit_pipeline_alert` | gauge (1 firing, 0 ok) | `rule` |
//! | `ehrkit_pipeline_stage_seconds` | histogram | `stage` |
//! | `ehrkit_pipeline_ack_seconds` | histogram | `source` |

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{ErrorKind, Stage};

/// In-process totals since start (the `metrics` facade gets the same increments).
#[derive(Debug, Default)]
pub struct Stats {
    received: AtomicU64,
    duplicates: AtomicU64,
    control_id_reused: AtomicU64,
    acks: AtomicU64,
    naks: AtomicU64,
    processed: AtomicU64,
    dead_letters: AtomicU64,
    retries: AtomicU64,
    resources_written: AtomicU64,
    mpi_new: AtomicU64,
    mpi_match: AtomicU64,
    mpi_possible: AtomicU64,
    mpi_merge: AtomicU64,
    sink_failures: AtomicU64,
    connection_drops: AtomicU64,
    sources: Mutex<HashMap<String, SourceState>>,
    nak_window: Mutex<Vec<(Instant, bool)>>,
}

#[derive(Debug, Clone)]
struct SourceState {
    last_seen: Instant,
    messages: u64,
}

/// A copy of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Messages kept (new or reused control id) since start.
    pub received: u64,
    /// Resends recognized.
    pub duplicates: u64,
    /// Different messages reusing a control id (kept and flagged).
    pub control_id_reused: u64,
    /// Positive acknowledgements (including duplicates).
    pub acks: u64,
    /// Negative acknowledgements.
    pub naks: u64,
    /// Messages applied.
    pub processed: u64,
    /// Messages dead-lettered.
    pub dead_letters: u64,
    /// Retries of a transient failure.
    pub retries: u64,
    /// Resource versions written (new or changed).
    pub resources_written: u64,
    /// MPI: new enterprise ids.
    pub mpi_new: u64,
    /// MPI: records auto-linked by a MATCH.
    pub mpi_match: u64,
    /// MPI: upserts with POSSIBLE candidates queued for review.
    pub mpi_possible: u64,
    /// MPI: merges applied.
    pub mpi_merge: u64,
    /// Sink deliveries that failed after retries.
    pub sink_failures: u64,
    /// Connections closed abnormally.
    pub connection_drops: u64,
}

fn inc(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Stats {
    /// A copy of the totals.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            received: get(&self.received),
            duplicates: get(&self.duplicates),
            control_id_reused: get(&self.control_id_reused),
            acks: get(&self.acks),
            naks: get(&self.naks),
            processed: get(&self.processed),
            dead_letters: get(&self.dead_letters),
            retries: get(&self.retries),
            resources_written: get(&self.resources_written),
            mpi_new: get(&self.mpi_new),
            mpi_match: get(&self.mpi_match),
            mpi_possible: get(&self.mpi_possible),
            mpi_merge: get(&self.mpi_merge),
            sink_failures: get(&self.sink_failures),
            connection_drops: get(&self.connection_drops),
        }
    }

    pub(crate) fn received(&self, source: &str, message_type: &str) {
        inc(&self.received, 1);
        metrics::counter!("ehrkit_pipeline_messages_received_total", "source" => source.to_owned(), "type" => message_type.to_owned()).increment(1);
        self.seen(source);
    }

    pub(crate) fn seen(&self, source: &str) {
        let mut m = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry(source.to_owned()).or_insert(SourceState {
            last_seen: Instant::now(),
            messages: 0,
        });
        s.last_seen = Instant::now();
        s.messages += 1;
    }

    pub(crate) fn duplicate(&self, source: &str) {
        inc(&self.duplicates, 1);
        metrics::counter!("ehrkit_pipeline_duplicates_total", "source" => source.to_owned())
            .increment(1);
        self.seen(source);
    }

    pub(crate) fn control_id_reused(&self, source: &str) {
        inc(&self.control_id_reused, 1);
        metrics::counter!("ehrkit_pipeline_control_id_reused_total", "source" => source.to_owned())
            .increment(1);
    }

    /// Records an acknowledgement sent (`code` `AA`, `AE` or `AR`) and its latency.
    pub fn ack(&self, source: &str, code: &'static str, latency: Duration) {
        let positive = code == "AA" || code == "CA";
        inc(if positive { &self.acks } else { &self.naks }, 1);
        metrics::counter!("ehrkit_pipeline_acks_total", "source" => source.to_owned(), "code" => code).increment(1);
        metrics::histogram!("ehrkit_pipeline_ack_seconds", "source" => source.to_owned())
            .record(latency.as_secs_f64());
        let mut w = self.nak_window.lock().unwrap_or_else(|p| p.into_inner());
        w.push((Instant::now(), !positive));
        if w.len() > 4096 {
            w.drain(..2048);
        }
    }

    pub(crate) fn processed(&self) {
        inc(&self.processed, 1);
    }

    pub(crate) fn dead_letter(&self, stage: Stage, kind: ErrorKind) {
        inc(&self.dead_letters, 1);
        metrics::counter!("ehrkit_pipeline_dead_letters_total", "stage" => stage.as_str(), "kind" => kind.as_str()).increment(1);
    }

    pub(crate) fn retry(&self, stage: Stage) {
        inc(&self.retries, 1);
        metrics::counter!("ehrkit_pipeline_retries_total", "stage" => stage.as_str()).increment(1);
    }

    pub(crate) fn resource_written(&self, resource_type: &str) {
        inc(&self.resources_written, 1);
        metrics::counter!("ehrkit_pipeline_resources_written_total", "type" => resource_type.to_owned()).increment(1);
    }

    pub(crate) fn mpi(&self, outcome: &'static str) {
        match outcome {
            "new" => inc(&self.mpi_new, 1),
            "match" => inc(&self.mpi_match, 1),
            "possible" => inc(&self.mpi_possible, 1),
            "merge" => inc(&self.mpi_merge, 1),
            _ => {}
        }
        metrics::counter!("ehrkit_pipeline_mpi_total", "outcome" => outcome).increment(1);
    }

    pub(crate) fn sink_failure(&self, sink: &str) {
        inc(&self.sink_failures, 1);
        metrics::counter!("ehrkit_pipeline_sink_failures_total", "sink" => sink.to_owned())
            .increment(1);
    }

    /// Records a connection closed abnormally (timeout, framing error, budget).
    pub fn connection_drop(&self, reason: &'static str, n: u64) {
        inc(&self.connection_drops, n);
        metrics::counter!("ehrkit_pipeline_connection_drops_total", "reason" => reason)
            .increment(n);
    }

    /// Records a stage's latency.
    pub fn stage_latency(stage: Stage, d: Duration) {
        metrics::histogram!("ehrkit_pipeline_stage_seconds", "stage" => stage.as_str())
            .record(d.as_secs_f64());
    }

    /// NAK fraction over the acknowledgements of the last `window` (`None` without any).
    pub fn nak_rate(&self, window: Duration) -> Option<f64> {
        let w = self.nak_window.lock().unwrap_or_else(|p| p.into_inner());
        let since = Instant::now().checked_sub(window);
        let recent: Vec<bool> = w
            .iter()
            .filter(|(t, _)| since.is_none_or(|s| *t >= s))
            .map(|(_, nak)| *nak)
            .collect();
        if recent.is_empty() {
            return None;
        }
        Some(recent.iter().filter(|n| **n).count() as f64 / recent.len() as f64)
    }

    /// Time since the source last sent anything (`None` when never seen).
    pub fn idle_for(&self, source: &str) -> Option<Duration> {
        let m = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        m.get(source).map(|s| s.last_seen.elapsed())
    }
}

/// Health rules a user configures (issue 15 item 8). Each is evaluated into an [`Alert`].
#[derive(Debug, Clone)]
pub struct HealthRules {
    /// Fire when the NAK fraction over `nak_window` exceeds this (default 0.2).
    pub max_nak_rate: f64,
    /// The window of the NAK rate (default 5 minutes).
    pub nak_window: Duration,
    /// Fire when the oldest queued message waits longer (default 60 s).
    pub max_queue_age: Duration,
    /// Per source name: fire when the source sent nothing for longer than this baseline.
    pub idle_baselines: HashMap<String, Duration>,
    /// Fire when fewer connections than this are open (0: rule off).
    pub min_connections: u64,
}

impl Default for HealthRules {
    fn default() -> Self {
        Self {
            max_nak_rate: 0.2,
            nak_window: Duration::from_secs(300),
            max_queue_age: Duration::from_secs(60),
            idle_baselines: HashMap::new(),
            min_connections: 0,
        }
    }
}

impl HealthRules {
    /// Sets the idle baseline of a source.
    pub fn idle_baseline(mut self, source: &str, baseline: Duration) -> Self {
        self.idle_baselines.insert(source.to_owned(), baseline);
        self
    }
}

/// One rule's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Rule name: `nak_rate`, `queue_age`, `idle:<source>`, `connection_down`.
    pub rule: String,
    /// True when firing.
    pub firing: bool,
    /// The measured value (rate, seconds, connections).
    pub value: f64,
    /// The threshold.
    pub threshold: f64,
}

/// Evaluates [`HealthRules`] and remembers each rule's last state, logging changes.
#[derive(Debug, Default)]
pub struct Health {
    last: Mutex<HashMap<String, bool>>,
}

/// What the health rules are evaluated on.
#[derive(Debug, Clone, Copy, Default)]
pub struct HealthInput {
    /// Age of the oldest queued message.
    pub queue_age: Duration,
    /// Connections open now.
    pub connections_open: u64,
}

impl Health {
    /// Evaluates the rules now; logs a `tracing` warning when a rule starts firing and an info
    /// event when it clears, and sets the `ehrkit_pipeline_alert` gauge.
    pub fn evaluate(&self, rules: &HealthRules, stats: &Stats, input: HealthInput) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let rate = stats.nak_rate(rules.nak_window).unwrap_or(0.0);
        alerts.push(Alert {
            rule: "nak_rate".into(),
            firing: rate > rules.max_nak_rate,
            value: rate,
            threshold: rules.max_nak_rate,
        });
        let age = input.queue_age.as_secs_f64();
        alerts.push(Alert {
            rule: "queue_age".into(),
            firing: age > rules.max_queue_age.as_secs_f64(),
            value: age,
            threshold: rules.max_queue_age.as_secs_f64(),
        });
        let mut sources: Vec<_> = rules.idle_baselines.iter().collect();
        sources.sort();
        for (source, baseline) in sources {
            // A source never seen counts as idle since the rules were set up: unknown = idle.
            let idle = stats.idle_for(source).unwrap_or(Duration::MAX);
            alerts.push(Alert {
                rule: format!("idle:{source}"),
                firing: idle > *baseline,
                value: idle.as_secs_f64().min(f64::from(u32::MAX)),
                threshold: baseline.as_secs_f64(),
            });
        }
        if rules.min_connections > 0 {
            alerts.push(Alert {
                rule: "connection_down".into(),
                firing: input.connections_open < rules.min_connections,
                value: input.connections_open as f64,
                threshold: rules.min_connections as f64,
            });
        }
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        for a in &alerts {
            let before = last.insert(a.rule.clone(), a.firing).unwrap_or(false);
            metrics::gauge!("ehrkit_pipeline_alert", "rule" => a.rule.clone()).set(if a.firing {
                1.0
            } else {
                0.0
            });
            if a.firing && !before {
                tracing::warn!(rule = %a.rule, value = a.value, threshold = a.threshold, "pipeline alert firing");
            } else if !a.firing && before {
                tracing::info!(rule = %a.rule, value = a.value, "pipeline alert cleared");
            }
        }
        alerts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nak_rate_and_idle_rules_fire_and_clear() {
        let stats = Stats::default();
        let rules = HealthRules {
            max_nak_rate: 0.4,
            ..HealthRules::default()
        }
        .idle_baseline("epic", Duration::from_secs(3600))
        .idle_baseline("quiet", Duration::from_millis(0));
        let health = Health::default();
        stats.ack("epic", "AA", Duration::ZERO);
        stats.ack("epic", "AE", Duration::ZERO);
        stats.received("epic", "ADT^A01");
        let a = health.evaluate(&rules, &stats, HealthInput::default());
        let state = |a: &[Alert], r: &str| a.iter().find(|x| x.rule == r).unwrap().firing;
        assert!(state(&a, "nak_rate")); // 1 of 2
        assert!(!state(&a, "idle:epic"));
        assert!(state(&a, "idle:quiet")); // never seen
        for _ in 0..3 {
            stats.ack("epic", "AA", Duration::ZERO);
        }
        let a = health.evaluate(
            &rules,
            &stats,
            HealthInput {
                queue_age: Duration::from_secs(120),
                connections_open: 0,
            },
        );
        assert!(!state(&a, "nak_rate")); // 1 of 5
        assert!(state(&a, "queue_age"));
        assert_eq!(stats.snapshot().naks, 1);
    }
}

/// Why the Prometheus exporter could not start.
#[derive(Debug, thiserror::Error)]
#[error("prometheus exporter: {0}")]
pub struct ExporterError(String);

/// Installs a Prometheus exporter as the `metrics` recorder, serving `/metrics` over HTTP on
/// `addr` (feature `prometheus`; needs a tokio runtime). Without the feature it returns an
/// error saying so.
pub fn install_prometheus(addr: &str) -> Result<(), ExporterError> {
    #[cfg(feature = "prometheus")]
    {
        let addr: std::net::SocketAddr = addr
            .parse()
            .map_err(|_| ExporterError(format!("not a socket address: {addr}")))?;
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|e| ExporterError(e.to_string()))
    }
    #[cfg(not(feature = "prometheus"))]
    {
        let _ = addr;
        Err(ExporterError(
            "built without the `prometheus` feature of ehrkit-pipeline".into(),
        ))
    }
}
