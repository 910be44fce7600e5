//! Async MLLP server: accept loop, one task per connection, ACK after the handler returns.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use ehrkit_hl7v2::Message;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::hl7::{self, Reply};
use crate::stats::{ServerStats, StatsSnapshot};
use crate::{framer, Error, Framer, FramerConfig, TimeoutKind};

/// Read buffer growth step: the most the server buffers beyond a frame's size limit.
const READ_CHUNK: usize = 64 * 1024;

/// Default [`ServerConfig::max_buffered_bytes`]: 256 MiB.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 256 * 1024 * 1024;

/// A message handed to the application's [`Handler`], with what it needs to deduplicate.
///
/// MLLP delivery is **at least once**: when a connection drops after the handler accepted a
/// message but before the ACK reached the sender, the sender sends the same message again
/// (same control ID, same sender). Use [`Incoming::dedup_key`] to recognise such repeats.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Incoming {
    /// The frame's payload: the HL7 v2 message exactly as received. A sender may put an HL7
    /// batch (`FHS`/`BHS`, several `MSH`) in one frame: it is delivered whole, with one ACK
    /// for the frame (answering its first message), so read every message
    /// (`ehrkit_hl7v2::Message::parse_all`) before accepting; [`Incoming::message`] and the
    /// fields below describe the first message only.
    pub payload: Bytes,
    /// MSH-10, the message control ID (never empty: messages without one are rejected).
    pub control_id: String,
    /// MSH-3, sending application, as it stands (components included).
    pub sending_application: String,
    /// MSH-4, sending facility, as it stands.
    pub sending_facility: String,
    /// MSH-9, message type, as it stands (e.g. `ADT^A01^ADT_A01`).
    pub message_type: String,
    /// The peer's socket address.
    pub peer: SocketAddr,
    /// Server-unique number of the connection the message came on.
    pub connection_id: u64,
}

impl Incoming {
    /// Parses the payload with `ehrkit-hl7v2` as the server did (it parsed once already, so
    /// this succeeds). Bytes that are not valid in the message's character set (typically
    /// Latin-1 text in a message that declares no MSH-18) decode as U+FFFD; the payload
    /// itself is untouched.
    pub fn message(&self) -> Result<Message<'_>, ehrkit_hl7v2::Error> {
        hl7::parse_lenient(&self.payload)
    }

    /// `sending application | sending facility | control ID`: identical for a message and its
    /// retransmissions, the key to deduplicate on.
    ///
    /// Unambiguous: in each part, `\` and `|` are written `\\` and `\|`, so the `|` between
    /// parts can only be a separator, and two different (application, facility, control ID)
    /// triples never give the same key, whatever they contain (for instance an escaped field
    /// separator `\F\` in MSH-3, which reads as `|`). Parts without `\` or `|` appear as
    /// they are: `LAB|HOSP|1001`.
    pub fn dedup_key(&self) -> String {
        let mut key = String::with_capacity(
            self.sending_application.len()
                + self.sending_facility.len()
                + self.control_id.len()
                + 2,
        );
        for (i, part) in [
            &self.sending_application,
            &self.sending_facility,
            &self.control_id,
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                key.push('|');
            }
            for c in part.chars() {
                if c == '\\' || c == '|' {
                    key.push('\\');
                }
                key.push(c);
            }
        }
        key
    }
}

/// Why a handler did not accept a message. Becomes an ERR segment in the negative ACK.
#[derive(Debug)]
pub struct HandlerError {
    pub(crate) reject: bool,
    pub(crate) code: ehrkit_hl7v2::ack::ErrorCode,
    pub(crate) text: Option<String>,
    pub(crate) location: Option<String>,
}

impl HandlerError {
    /// Application error: AE (CE in enhanced mode). Use for problems with the message itself;
    /// senders usually do not retry it.
    pub fn error(code: ehrkit_hl7v2::ack::ErrorCode, text: impl Into<String>) -> Self {
        HandlerError {
            reject: false,
            code,
            text: Some(text.into()),
            location: None,
        }
    }

    /// Application reject: AR (CR in enhanced mode). Use when the receiver cannot take the
    /// message now (store down, ...); senders retry.
    pub fn reject(code: ehrkit_hl7v2::ack::ErrorCode, text: impl Into<String>) -> Self {
        HandlerError {
            reject: true,
            code,
            text: Some(text.into()),
            location: None,
        }
    }

    /// Sets ERR-2, the error location, e.g. `PID^1^3`.
    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// True for AR/CR, false for AE/CE.
    pub fn is_reject(&self) -> bool {
        self.reject
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({:?})",
            if self.reject {
                "rejected"
            } else {
                "application error"
            },
            self.code
        )
    }
}

impl std::error::Error for HandlerError {}

/// A boxed future returned by [`Handler::handle`].
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'static>>;

/// The application's message handler. Any `Fn(Incoming) -> impl Future<Output =
/// Result<(), HandlerError>>` that is `Send + Sync + 'static` is one.
///
/// Return `Ok(())` only once the message is safely stored: the ACK is written after the
/// future completes, and an AA/CA tells the sender it may forget the message.
pub trait Handler: Send + Sync + 'static {
    /// Handles one message.
    fn handle(&self, message: Incoming) -> HandlerFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(Incoming) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    fn handle(&self, message: Incoming) -> HandlerFuture {
        Box::pin(self(message))
    }
}

/// Server settings; see [`ServerBuilder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Most connections open at once; further ones are closed on accept (default 1024).
    pub max_connections: usize,
    /// Longest wait for a frame to start between frames (default 5 minutes).
    pub idle_timeout: Duration,
    /// Longest wait for more bytes once a frame has started (default 30 s).
    pub read_timeout: Duration,
    /// Longest time from a frame's first byte to its end (default 5 minutes), however the
    /// bytes trickle in: a peer cannot hold a connection open by sending a byte just before
    /// each read timeout. Connections over it are closed without ACK.
    pub frame_timeout: Duration,
    /// Most bytes of incoming frames held at once, over all connections together (default
    /// [`DEFAULT_MAX_BUFFERED_BYTES`], 256 MiB): partial frames being received, and complete
    /// frames until their ACK is written. A connection whose read would take the total over
    /// this budget is closed without ACK (its sender resends later), so unauthenticated peers
    /// sending large frames slowly cannot make the server grow without bound.
    pub max_buffered_bytes: usize,
    /// Longest TLS handshake (default 10 s).
    pub handshake_timeout: Duration,
    /// Longest wait, on graceful shutdown, for connections to finish their in-flight messages
    /// (default 60 s). Connections still busy then (a handler that never returns, a frame still
    /// arriving) are closed without ACK: their senders resend, so nothing is lost.
    pub shutdown_grace: Duration,
    /// Framing settings (size limit, strictness).
    pub framer: FramerConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 1024,
            idle_timeout: Duration::from_secs(300),
            read_timeout: Duration::from_secs(30),
            frame_timeout: Duration::from_secs(300),
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            handshake_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(60),
            framer: FramerConfig::default(),
        }
    }
}

/// Builds a [`Server`].
pub struct ServerBuilder {
    config: ServerConfig,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl ServerBuilder {
    /// Sets [`ServerConfig::max_connections`].
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.max_connections = n;
        self
    }
    /// Sets [`ServerConfig::idle_timeout`].
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.config.idle_timeout = d;
        self
    }
    /// Sets [`ServerConfig::read_timeout`].
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.config.read_timeout = d;
        self
    }
    /// Sets [`ServerConfig::frame_timeout`].
    pub fn frame_timeout(mut self, d: Duration) -> Self {
        self.config.frame_timeout = d;
        self
    }
    /// Sets [`ServerConfig::max_buffered_bytes`].
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.config.max_buffered_bytes = bytes;
        self
    }
    /// Sets [`ServerConfig::handshake_timeout`].
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.config.handshake_timeout = d;
        self
    }
    /// Sets [`ServerConfig::shutdown_grace`].
    pub fn shutdown_grace(mut self, d: Duration) -> Self {
        self.config.shutdown_grace = d;
        self
    }
    /// Sets the framing settings.
    pub fn framer(mut self, cfg: FramerConfig) -> Self {
        self.config.framer = cfg;
        self
    }
    /// Serves MLLP over TLS with this rustls configuration (see [`crate::tls`]; a
    /// configuration with a client-certificate verifier gives mutual TLS).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, cfg: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(cfg);
        self
    }
    /// The server, calling `handler` for every message.
    pub fn build(self, handler: impl Handler) -> Server {
        Server {
            inner: Arc::new(Inner {
                config: self.config,
                handler: Box::new(handler),
                stats: Arc::new(ServerStats::default()),
                next_conn: AtomicU64::new(1),
                buffered: AtomicUsize::new(0),
                #[cfg(feature = "tls")]
                tls: self.tls.map(tokio_rustls::TlsAcceptor::from),
            }),
        }
    }
}

struct Inner {
    config: ServerConfig,
    handler: Box<dyn Handler>,
    stats: Arc<ServerStats>,
    next_conn: AtomicU64,
    /// Bytes of frames held now by all connections (see [`ServerConfig::max_buffered_bytes`]).
    buffered: AtomicUsize,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// One connection's share of [`Inner::buffered`], given back when the connection ends.
struct Budget<'a> {
    total: &'a AtomicUsize,
    limit: usize,
    held: usize,
}

impl Budget<'_> {
    /// Records that the connection now holds `n` bytes; false when that takes the total over
    /// the limit (the connection must then close).
    fn set(&mut self, n: usize) -> bool {
        if n <= self.held {
            self.total.fetch_sub(self.held - n, Ordering::Relaxed);
            self.held = n;
            return true;
        }
        let add = n - self.held;
        let before = self.total.fetch_add(add, Ordering::Relaxed);
        self.held = n;
        before.saturating_add(add) <= self.limit
    }
}

impl Drop for Budget<'_> {
    fn drop(&mut self) {
        self.total.fetch_sub(self.held, Ordering::Relaxed);
    }
}

/// An MLLP server. Build with [`Server::builder`], start with [`Server::bind`],
/// [`Server::spawn`] or [`Server::run`].
///
/// ```
/// use ehrkit_mllp::{AckCode, Client, ErrorCode, HandlerError, Incoming, Server};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let server = Server::builder()
///     .build(|m: Incoming| async move {
///         // Store the message durably (deduplicating on m.dedup_key()), then accept it.
///         if m.message_type.starts_with("ADT") {
///             Ok(())
///         } else {
///             Err(HandlerError::reject(ErrorCode::UnsupportedMessageType, "ADT only"))
///         }
///     })
///     .bind("127.0.0.1:0")
///     .await
///     .unwrap();
///
/// let mut client = Client::builder(server.local_addr().to_string()).build();
/// let adt = b"MSH|^~\\&|EPIC|HOSP|EHRKIT|FAC|20240101120000||ADT^A01|MSG1|P|2.5.1\rPID|1||42^^^MRN\r";
/// let ack = client.send(adt).await.unwrap();
/// assert_eq!((ack.code, ack.control_id.as_str()), (AckCode::AA, "MSG1"));
/// let oru = b"MSH|^~\\&|LAB|HOSP|EHRKIT|FAC|20240101120000||ORU^R01|MSG2|P|2.5.1\r";
/// assert_eq!(client.send(oru).await.unwrap().code, AckCode::AR);
///
/// server.shutdown().await;
/// # });
/// ```
pub struct Server {
    inner: Arc<Inner>,
}

/// A running server: its address, counters and graceful shutdown. Dropping the handle also
/// starts a graceful shutdown (without waiting for it).
pub struct ServerHandle {
    local_addr: SocketAddr,
    stats: Arc<ServerStats>,
    token: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
    /// A copy of the counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }
    /// The live counters, to read from elsewhere.
    pub fn stats_handle(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }
    /// Graceful shutdown: stops accepting, lets every connection finish the messages it has
    /// received (handler, then ACK) and waits until all connections are closed. Idle
    /// connections close at once; a partly received frame gets up to the read timeout. After
    /// [`ServerConfig::shutdown_grace`] the connections still busy are closed without ACK.
    pub async fn shutdown(mut self) {
        self.token.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Server {
    /// A builder with default settings.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            config: ServerConfig::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The live counters.
    pub fn stats(&self) -> Arc<ServerStats> {
        self.inner.stats.clone()
    }

    /// Binds `addr` and serves in a background task.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<ServerHandle, Error> {
        let listener = TcpListener::bind(addr).await?;
        self.spawn(listener)
    }

    /// Serves `listener` in a background task (call inside a tokio runtime).
    pub fn spawn(self, listener: TcpListener) -> Result<ServerHandle, Error> {
        let local_addr = listener.local_addr()?;
        let token = CancellationToken::new();
        let stats = self.inner.stats.clone();
        let t = token.clone();
        let task = tokio::spawn(async move { accept_loop(self.inner, listener, t).await });
        Ok(ServerHandle {
            local_addr,
            stats,
            token,
            task: Some(task),
        })
    }

    /// Serves `listener` until `shutdown` completes, then shuts down gracefully (see
    /// [`ServerHandle::shutdown`]).
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let handle = self.spawn(listener)?;
        shutdown.await;
        handle.shutdown().await;
        Ok(())
    }
}

/// Decrements the open-connection counter when a connection task ends (even by panic).
struct OpenGuard(Arc<ServerStats>);
impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0
            .connections_open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener, token: CancellationToken) {
    let mut conns = JoinSet::new();
    info!(addr = ?listener.local_addr().ok(), "MLLP server listening");
    loop {
        let accepted = tokio::select! {
            biased;
            _ = token.cancelled() => break,
            r = listener.accept() => r,
        };
        while conns.try_join_next().is_some() {}
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "MLLP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let stats = &inner.stats;
        ServerStats::add(&stats.connections_accepted, 1);
        let open = stats
            .connections_open
            .load(std::sync::atomic::Ordering::Relaxed);
        if open >= inner.config.max_connections as u64 {
            ServerStats::add(&stats.connections_refused, 1);
            warn!(%peer, limit = inner.config.max_connections, "MLLP connection limit reached; closing new connection");
            drop(tcp);
            continue;
        }
        ServerStats::add(&stats.connections_open, 1);
        let guard = OpenGuard(stats.clone());
        let id = inner
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let inner2 = inner.clone();
        let t = token.clone();
        conns.spawn(async move {
            let _guard = guard;
            connection(inner2, tcp, peer, id, t).await;
        });
    }
    drop(listener);
    info!(
        open = conns.len(),
        "MLLP server stopping; finishing in-flight messages"
    );
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(inner.config.shutdown_grace, drain)
        .await
        .is_err()
    {
        warn!(
            open = conns.len(),
            "MLLP shutdown grace period over; closing busy connections without ACK (senders will resend)"
        );
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
    info!("MLLP server stopped");
}

/// Why a connection ended (for the log).
#[derive(Debug, Clone, Copy)]
enum Close {
    PeerClosed,
    Shutdown,
    Timeout(TimeoutKind),
    FrameError,
    Budget,
    Io,
}

impl Close {
    fn as_str(self) -> &'static str {
        match self {
            Close::PeerClosed => "peer closed",
            Close::Shutdown => "server shutdown",
            Close::Timeout(TimeoutKind::Idle) => "idle timeout",
            Close::Timeout(TimeoutKind::Frame) => "frame timeout",
            Close::Timeout(_) => "read timeout",
            Close::FrameError => "framing error",
            Close::Budget => "buffer budget exhausted",
            Close::Io => "I/O error",
        }
    }
}

async fn connection(
    inner: Arc<Inner>,
    tcp: TcpStream,
    peer: SocketAddr,
    id: u64,
    token: CancellationToken,
) {
    let _ = tcp.set_nodelay(true);
    info!(conn = id, %peer, "MLLP connection opened");
    #[cfg(feature = "tls")]
    if let Some(acceptor) = &inner.tls {
        match tokio::time::timeout(inner.config.handshake_timeout, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => {
                debug!(conn = id, "TLS handshake complete");
                let why = serve(&inner, stream, peer, id, &token).await;
                info!(conn = id, %peer, reason = why.as_str(), "MLLP connection closed");
            }
            Ok(Err(e)) => {
                warn!(conn = id, %peer, error = %e, "TLS handshake failed; connection closed");
            }
            Err(_) => {
                ServerStats::add(&inner.stats.timeouts, 1);
                warn!(conn = id, %peer, "TLS handshake timed out; connection closed");
            }
        }
        return;
    }
    let why = serve(&inner, tcp, peer, id, &token).await;
    info!(conn = id, %peer, reason = why.as_str(), "MLLP connection closed");
}

async fn serve<S>(
    inner: &Inner,
    mut io: S,
    peer: SocketAddr,
    id: u64,
    token: &CancellationToken,
) -> Close
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let stats = &inner.stats;
    let cfg = &inner.config;
    let mut framer = Framer::new(cfg.framer.clone());
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = Vec::new();
    let mut noise_seen = 0;
    let mut eof = false;
    let mut budget = Budget {
        total: &inner.buffered,
        limit: cfg.max_buffered_bytes,
        held: 0,
    };
    // Noise between frames does not move `idle_since`: only a frame keeps a connection alive.
    let mut idle_since = Instant::now();
    let mut frame_started: Option<Instant> = None;
    loop {
        // 1. Every complete frame already received: handler, then ACK.
        loop {
            let d = if eof {
                framer.finish(&buf)
            } else {
                framer.decode(&buf)
            };
            let n = framer.stats().noise_bytes;
            ServerStats::add(&stats.noise_bytes, n - noise_seen);
            noise_seen = n;
            let d = match d {
                Ok(d) => d,
                Err(e) => {
                    ServerStats::add(&stats.frame_errors, 1);
                    warn!(conn = id, %peer, error = %e, "MLLP framing error; closing connection without ACK");
                    return Close::FrameError;
                }
            };
            let Some(range) = d.frame else {
                buf.advance(d.consumed);
                if !framer.is_idle() && frame_started.is_none() {
                    frame_started = Some(Instant::now());
                }
                break;
            };
            let payload = buf.split_to(d.consumed).freeze().slice(range);
            // Bytes already received after this frame must fit a frame boundary; if not, the
            // end we found may be a byte of the message's text: never act on a cut message.
            if let Err(e) = framer.check_boundary(&buf) {
                ServerStats::add(&stats.frame_errors, 1);
                warn!(conn = id, %peer, error = %e, "MLLP frame end not followed by a frame boundary; closing connection without ACK");
                return Close::FrameError;
            }
            frame_started = None;
            ServerStats::add(&stats.messages, 1);
            debug!(conn = id, bytes = payload.len(), "MLLP frame received");
            let reply = handle_frame(inner, payload, peer, id).await;
            idle_since = Instant::now();
            if !reply.required {
                // Enhanced mode: the sender asked for no ACK of this kind (MSH-15).
                ServerStats::add(
                    if reply.accepted {
                        &stats.accepted
                    } else {
                        &stats.naks
                    },
                    1,
                );
                debug!(conn = id, control_id = %reply.control_id, code = reply.code, "ACK not requested (MSH-15)");
                continue;
            }
            out.clear();
            if let Err(e) = framer::encode(&reply.bytes, &mut out) {
                warn!(conn = id, error = %e, "ACK could not be framed; closing connection");
                return Close::FrameError;
            }
            let write = async {
                io.write_all(&out).await?;
                io.flush().await
            };
            match tokio::time::timeout(cfg.read_timeout, write).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    warn!(conn = id, error = %e, control_id = %reply.control_id, "writing the ACK failed; the sender will retry");
                    return Close::Io;
                }
                Err(_) => {
                    ServerStats::add(&stats.timeouts, 1);
                    warn!(conn = id, control_id = %reply.control_id, "writing the ACK timed out; the sender will retry");
                    return Close::Timeout(TimeoutKind::Read);
                }
            }
            ServerStats::add(&stats.bytes_sent, out.len() as u64);
            if reply.accepted {
                ServerStats::add(&stats.accepted, 1);
                debug!(conn = id, control_id = %reply.control_id, code = reply.code, "ACK sent");
            } else {
                ServerStats::add(&stats.naks, 1);
                info!(conn = id, control_id = %reply.control_id, code = reply.code, "NAK sent");
            }
        }
        if framer.is_idle() {
            // A frame dropped by resync is no frame: its start no longer counts (and, like
            // noise, it did not re-arm the idle timer).
            frame_started = None;
        }
        // The frames handled are no longer held; what is left is at most one partial frame.
        budget.set(buf.len());
        if eof {
            return Close::PeerClosed;
        }
        if token.is_cancelled() && framer.is_idle() {
            return Close::Shutdown;
        }
        // 2. Read more, with the deadline that fits where we are: between frames, the idle
        // timeout counted from the end of the last frame (noise does not extend it); inside a
        // frame, the read timeout for each read and the frame timeout from its first byte.
        let idle = framer.is_idle() && buf.is_empty();
        let (deadline, kind) = match frame_started {
            Some(started) if !idle => {
                let read = Instant::now() + cfg.read_timeout;
                let frame = started + cfg.frame_timeout;
                if frame <= read {
                    (frame, TimeoutKind::Frame)
                } else {
                    (read, TimeoutKind::Read)
                }
            }
            _ => (idle_since + cfg.idle_timeout, TimeoutKind::Idle),
        };
        buf.reserve(READ_CHUNK);
        let read = tokio::select! {
            biased;
            _ = token.cancelled(), if idle => return Close::Shutdown,
            r = tokio::time::timeout_at(deadline, io.read_buf(&mut buf)) => r,
        };
        match read {
            Err(_) => {
                ServerStats::add(&stats.timeouts, 1);
                match kind {
                    TimeoutKind::Idle => info!(conn = id, %peer, "MLLP idle timeout; closing"),
                    TimeoutKind::Frame => {
                        warn!(conn = id, %peer, "MLLP frame timeout (frame not complete in time); closing without ACK")
                    }
                    _ => {
                        warn!(conn = id, %peer, "MLLP read timeout inside a frame; closing without ACK")
                    }
                }
                return Close::Timeout(kind);
            }
            Ok(Err(e)) => {
                debug!(conn = id, error = %e, "MLLP read failed");
                return Close::Io;
            }
            Ok(Ok(0)) => eof = true,
            Ok(Ok(n)) => {
                ServerStats::add(&stats.bytes_received, n as u64);
                if !budget.set(buf.len()) {
                    ServerStats::add(&stats.budget_closes, 1);
                    warn!(conn = id, %peer, limit = cfg.max_buffered_bytes, "MLLP buffer budget exhausted; closing this connection without ACK");
                    return Close::Budget;
                }
            }
        }
    }
}

/// Parse, call the handler, build the reply.
async fn handle_frame(inner: &Inner, payload: Bytes, peer: SocketAddr, id: u64) -> Reply {
    let incoming = {
        let msg = match hl7::parse_lenient(&payload) {
            Ok(m) => m,
            Err(e) => {
                warn!(conn = id, error = %e, "message does not parse; sending AR");
                return hl7::nak_unparseable(&payload);
            }
        };
        let Some(control_id) = msg.control_id().map(|c| c.into_owned()) else {
            warn!(conn = id, "message has no control ID (MSH-10); sending AR");
            return hl7::nak_missing_control_id(&msg);
        };
        let field = |p: &str| msg.get(p).map(|c| c.into_owned()).unwrap_or_default();
        Incoming {
            sending_application: field("MSH-3"),
            sending_facility: field("MSH-4"),
            message_type: field("MSH-9"),
            control_id,
            payload: payload.clone(),
            peer,
            connection_id: id,
        }
    };
    let control_id = incoming.control_id.clone();
    // A panicking handler must not take the connection down silently (the sender would resend
    // for ever): catch the panic, count it, log it (never its message: it may hold PHI) and
    // answer AE.
    let outcome =
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.handler.handle(incoming))) {
            Ok(fut) => AssertUnwindSafe(fut).catch_unwind().await,
            Err(p) => Err(p),
        };
    let outcome = outcome.unwrap_or_else(|_| {
        ServerStats::add(&inner.stats.handler_panics, 1);
        error!(conn = id, control_id = %control_id, "MLLP handler panicked; sending AE");
        Err(HandlerError::error(
            ehrkit_hl7v2::ack::ErrorCode::ApplicationInternalError,
            "internal error while handling the message",
        ))
    });
    // Parsing is deterministic and cheap (an offset index): parse again rather than hold a
    // borrowed message across the handler's await.
    match hl7::parse_lenient(&payload) {
        Ok(msg) => match outcome {
            Ok(()) => hl7::accept(&msg),
            Err(e) => {
                info!(conn = id, error = %e, "handler did not accept the message");
                hl7::negative(&msg, &e)
            }
        },
        Err(_) => hl7::nak_unparseable(&payload),
    }
}
