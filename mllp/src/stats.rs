//! Counters a user can read while the server runs. None of them carries PHI.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live server counters, shared between the accept loop and the connection tasks.
/// Read them with [`ServerStats::snapshot`].
#[derive(Debug, Default)]
pub struct ServerStats {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) messages: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) naks: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) frame_errors: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) noise_bytes: AtomicU64,
    pub(crate) handler_panics: AtomicU64,
    pub(crate) budget_closes: AtomicU64,
}

/// A point-in-time copy of [`ServerStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Connections accepted since start (including refused ones).
    pub connections_accepted: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Connections closed at once because the connection limit was reached.
    pub connections_refused: u64,
    /// Complete frames received.
    pub messages: u64,
    /// Messages the handler accepted and whose AA/CA was written.
    pub accepted: u64,
    /// AE/AR (or CE/CR) negative acknowledgements written.
    pub naks: u64,
    /// Bytes read from peers.
    pub bytes_received: u64,
    /// Bytes written to peers.
    pub bytes_sent: u64,
    /// Connections closed for a framing error (oversized frame, garbage, EOF inside a frame).
    pub frame_errors: u64,
    /// Connections closed by the idle, read, frame or handshake timeout.
    pub timeouts: u64,
    /// Noise bytes (NUL, whitespace, form feed) skipped between frames.
    pub noise_bytes: u64,
    /// Handler calls that panicked (each answered with AE and counted in `naks`).
    pub handler_panics: u64,
    /// Connections closed because their frame would have taken the bytes held by all
    /// connections over [`ServerConfig::max_buffered_bytes`](crate::ServerConfig::max_buffered_bytes).
    pub budget_closes: u64,
}

impl ServerStats {
    /// Copies every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            connections_accepted: g(&self.connections_accepted),
            connections_open: g(&self.connections_open),
            connections_refused: g(&self.connections_refused),
            messages: g(&self.messages),
            accepted: g(&self.accepted),
            naks: g(&self.naks),
            bytes_received: g(&self.bytes_received),
            bytes_sent: g(&self.bytes_sent),
            frame_errors: g(&self.frame_errors),
            timeouts: g(&self.timeouts),
            noise_bytes: g(&self.noise_bytes),
            handler_panics: g(&self.handler_panics),
            budget_closes: g(&self.budget_closes),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
