//! Async MLLP client: send, await the ACK correlated by MSA-2, retry with backoff.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use ehrkit_hl7v2::ack::AckCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use crate::{encode_to_vec, hl7, Error, Framer, FramerConfig, TimeoutKind};

trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// The acknowledgement of one sent message.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Ack {
    /// MSA-1.
    pub code: AckCode,
    /// MSA-2: the control ID of the message it acknowledges.
    pub control_id: String,
    /// ERR-8, else MSA-3, when present.
    pub text: Option<String>,
    /// The ACK message as received.
    pub raw: Bytes,
}

impl Ack {
    /// True for AA and CA: the receiver took responsibility for the message.
    pub fn is_accepted(&self) -> bool {
        matches!(self.code, AckCode::AA | AckCode::CA)
    }
}

/// Client counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Frames written (a resent message counts again).
    pub frames_sent: u64,
    /// ACKs matched to a message.
    pub acks: u64,
    /// Connections opened.
    pub connects: u64,
    /// Failed attempts that led to a reconnect and resend.
    pub retries: u64,
    /// ACKs ignored because they named a control ID not awaited.
    pub stale_acks: u64,
}

/// Client settings; see [`ClientBuilder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// `host:port` to connect to.
    pub addr: String,
    /// Longest wait for the TCP connection and TLS handshake (default 10 s).
    pub connect_timeout: Duration,
    /// Longest wait for each ACK (default 30 s).
    pub ack_timeout: Duration,
    /// Attempts without progress before giving up (default 5).
    pub max_attempts: u32,
    /// First backoff delay; it doubles per failed attempt (default 200 ms).
    pub backoff_initial: Duration,
    /// Largest backoff delay (default 10 s).
    pub backoff_max: Duration,
    /// Messages in flight before waiting for an ACK; 1 (the default) is classic MLLP.
    pub pipeline: usize,
    /// Framing settings for reading ACKs.
    pub framer: FramerConfig,
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    config: ClientConfig,
    #[cfg(feature = "tls")]
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl ClientBuilder {
    /// Sets [`ClientConfig::connect_timeout`].
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }
    /// Sets [`ClientConfig::ack_timeout`].
    pub fn ack_timeout(mut self, d: Duration) -> Self {
        self.config.ack_timeout = d;
        self
    }
    /// Sets [`ClientConfig::max_attempts`] (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.config.max_attempts = n.max(1);
        self
    }
    /// Sets the backoff between attempts: `initial`, doubling up to `max`.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.backoff_initial = initial;
        self.config.backoff_max = max;
        self
    }
    /// Sets [`ClientConfig::pipeline`] (at least 1).
    pub fn pipeline(mut self, depth: usize) -> Self {
        self.config.pipeline = depth.max(1);
        self
    }
    /// Sets the framing settings.
    pub fn framer(mut self, cfg: FramerConfig) -> Self {
        self.config.framer = cfg;
        self
    }
    /// Connects over TLS, checking the server's certificate for `server_name`.
    #[cfg(feature = "tls")]
    pub fn tls(
        mut self,
        cfg: std::sync::Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> Result<Self, Error> {
        let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
            .map_err(|_| Error::Tls("invalid server name".into()))?;
        self.tls = Some((tokio_rustls::TlsConnector::from(cfg), name));
        Ok(self)
    }
    /// The client. It connects on first use.
    pub fn build(self) -> Client {
        Client {
            config: self.config,
            #[cfg(feature = "tls")]
            tls: self.tls,
            conn: None,
            stats: ClientStats::default(),
        }
    }
}

struct Conn {
    io: Box<dyn Io>,
    framer: Framer,
    buf: BytesMut,
}

impl Conn {
    async fn read_frame(&mut self) -> Result<Bytes, Error> {
        loop {
            let d = self.framer.decode(&self.buf)?;
            if let Some(r) = d.frame {
                return Ok(self.buf.split_to(d.consumed).freeze().slice(r));
            }
            self.buf.advance(d.consumed);
            self.buf.reserve(8 * 1024);
            if self.io.read_buf(&mut self.buf).await? == 0 {
                let d = self.framer.finish(&self.buf)?;
                if let Some(r) = d.frame {
                    return Ok(self.buf.split_to(d.consumed).freeze().slice(r));
                }
                return Err(Error::ConnectionClosed);
            }
        }
    }
}

/// An MLLP client with at-least-once delivery.
///
/// Each message is sent and its ACK awaited, matched by MSA-2 to the message's MSH-10. On a
/// timeout, a dropped connection or a broken ACK stream, the client reconnects (with
/// exponential backoff) and resends every message not yet acknowledged, unchanged: the
/// receiver may therefore see a message twice and should deduplicate on sender + control ID.
/// An AE/AR is a final answer and is returned, not retried.
pub struct Client {
    config: ClientConfig,
    #[cfg(feature = "tls")]
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    conn: Option<Conn>,
    stats: ClientStats,
}

impl Client {
    /// A builder for a client of `addr` (`host:port`).
    pub fn builder(addr: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            config: ClientConfig {
                addr: addr.into(),
                connect_timeout: Duration::from_secs(10),
                ack_timeout: Duration::from_secs(30),
                max_attempts: 5,
                backoff_initial: Duration::from_millis(200),
                backoff_max: Duration::from_secs(10),
                pipeline: 1,
                framer: FramerConfig::default(),
            },
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// Opens the connection now (it is otherwise opened on first send).
    pub async fn connect(&mut self) -> Result<(), Error> {
        self.ensure_connected().await.map(|_| ())
    }

    /// Closes the connection (the next send reconnects).
    pub async fn close(&mut self) {
        if let Some(mut c) = self.conn.take() {
            let _ = c.io.shutdown().await;
        }
    }

    async fn ensure_connected(&mut self) -> Result<&mut Conn, Error> {
        if self.conn.is_none() {
            let limit = self.config.connect_timeout;
            let tcp = tokio::time::timeout(limit, TcpStream::connect(&self.config.addr))
                .await
                .map_err(|_| Error::Timeout(TimeoutKind::Connect))??;
            let _ = tcp.set_nodelay(true);
            let io: Box<dyn Io> = self.wrap(tcp).await?;
            self.stats.connects += 1;
            info!(addr = %self.config.addr, "MLLP client connected");
            self.conn = Some(Conn {
                io,
                framer: Framer::new(self.config.framer.clone()),
                buf: BytesMut::new(),
            });
        }
        Ok(self.conn.as_mut().expect("connection was just set"))
    }

    #[cfg(feature = "tls")]
    async fn wrap(&self, tcp: TcpStream) -> Result<Box<dyn Io>, Error> {
        match &self.tls {
            Some((connector, name)) => {
                let s = tokio::time::timeout(
                    self.config.connect_timeout,
                    connector.connect(name.clone(), tcp),
                )
                .await
                .map_err(|_| Error::Timeout(TimeoutKind::Handshake))?
                .map_err(|e| Error::Tls(e.to_string()))?;
                Ok(Box::new(s))
            }
            None => Ok(Box::new(tcp)),
        }
    }

    #[cfg(not(feature = "tls"))]
    async fn wrap(&self, tcp: TcpStream) -> Result<Box<dyn Io>, Error> {
        Ok(Box::new(tcp))
    }

    /// Sends one message and returns its ACK (see the type's delivery contract).
    pub async fn send(&mut self, message: impl AsRef<[u8]>) -> Result<Ack, Error> {
        let mut acks = self.send_all(&[message]).await?;
        acks.pop().ok_or(Error::InvalidAck("no ACK"))
    }

    /// Sends the messages in order, up to [`ClientConfig::pipeline`] in flight, and returns
    /// their ACKs in the same order. ACKs must come back in sending order (MLLP has no other
    /// correlation on one connection); an ACK for a later message first is treated as a broken
    /// stream (reconnect, resend the unacknowledged ones).
    pub async fn send_all<M: AsRef<[u8]>>(&mut self, messages: &[M]) -> Result<Vec<Ack>, Error> {
        let mut ids = Vec::with_capacity(messages.len());
        let mut frames = Vec::with_capacity(messages.len());
        for (index, m) in messages.iter().enumerate() {
            let m = m.as_ref();
            let parsed =
                hl7::parse_lenient(m).map_err(|source| Error::InvalidMessage { index, source })?;
            let id = parsed
                .control_id()
                .ok_or(Error::MissingControlId { index })?
                .into_owned();
            // Enhanced mode: a receiver honouring MSH-15 NE/ER/SU stays silent in some cases,
            // and waiting for an ACK that never comes means resending (duplicates) forever.
            let msh15 = parsed.get("MSH-15").unwrap_or_default();
            if matches!(msh15.trim(), "NE" | "ER" | "SU") {
                return Err(Error::AckNotRequested { index });
            }
            ids.push(id);
            frames.push(encode_to_vec(m)?);
        }
        let mut acks = Vec::with_capacity(messages.len());
        let mut failures = 0u32;
        while acks.len() < frames.len() {
            let before = acks.len();
            match self.exchange(&frames, &ids, &mut acks).await {
                Ok(()) => {}
                Err(e) if e.is_retryable() => {
                    self.conn = None;
                    if acks.len() > before {
                        failures = 0;
                    }
                    failures += 1;
                    if failures >= self.config.max_attempts {
                        warn!(error = %e, attempts = failures, "MLLP client giving up");
                        return Err(Error::RetriesExhausted {
                            attempts: failures,
                            last: Box::new(e),
                        });
                    }
                    self.stats.retries += 1;
                    let delay = self.backoff(failures);
                    warn!(error = %e, attempt = failures, delay_ms = delay.as_millis() as u64,
                        unacked = frames.len() - acks.len(), "MLLP send failed; reconnecting to resend");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => {
                    self.conn = None;
                    return Err(e);
                }
            }
        }
        Ok(acks)
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << (failures.saturating_sub(1)).min(16);
        self.config
            .backoff_initial
            .saturating_mul(factor)
            .min(self.config.backoff_max)
    }

    /// One connection's worth of sending; returns on completion or the first error.
    async fn exchange(
        &mut self,
        frames: &[Vec<u8>],
        ids: &[String],
        acks: &mut Vec<Ack>,
    ) -> Result<(), Error> {
        let depth = self.config.pipeline.max(1);
        let ack_timeout = self.config.ack_timeout;
        let conn = self.ensure_connected().await?;
        let mut sent = acks.len();
        let first = acks.len();
        let mut frames_sent = 0u64;
        let mut stale = 0u64;
        let result = async {
            // Deadline for the ACK awaited now. Only progress (a frame written, our ACK
            // matched) moves it: ACKs naming other messages do not keep the wait alive.
            let mut deadline = tokio::time::Instant::now() + ack_timeout;
            while acks.len() < frames.len() {
                if sent < frames.len() && sent - acks.len() < depth {
                    while sent < frames.len() && sent - acks.len() < depth {
                        tokio::time::timeout(ack_timeout, conn.io.write_all(&frames[sent]))
                            .await
                            .map_err(|_| Error::Timeout(TimeoutKind::Ack))??;
                        debug!(control_id = %ids[sent], "MLLP frame sent");
                        sent += 1;
                        frames_sent += 1;
                    }
                    tokio::time::timeout(ack_timeout, conn.io.flush())
                        .await
                        .map_err(|_| Error::Timeout(TimeoutKind::Ack))??;
                    deadline = tokio::time::Instant::now() + ack_timeout;
                }
                let raw = tokio::time::timeout_at(deadline, conn.read_frame())
                    .await
                    .map_err(|_| Error::Timeout(TimeoutKind::Ack))??;
                let parsed = hl7::parse_ack(&raw)?;
                let expected = &ids[acks.len()];
                let in_flight = sent - acks.len();
                // An empty MSA-2 is what a receiver sends when it could not read our control
                // ID: take it as the answer only when it is negative and only one message is in
                // flight. A positive ACK that names no message proves nothing.
                let positive = matches!(parsed.code, AckCode::AA | AckCode::CA);
                if parsed.acked_id == *expected
                    || (parsed.acked_id.is_empty() && in_flight == 1 && !positive)
                {
                    debug!(control_id = %expected, code = ?parsed.code, "MLLP ACK received");
                    acks.push(Ack {
                        code: parsed.code,
                        control_id: expected.clone(),
                        text: parsed.text,
                        raw,
                    });
                    deadline = tokio::time::Instant::now() + ack_timeout;
                } else if parsed.acked_id.is_empty() {
                    return Err(Error::InvalidAck("ACK without a control ID (MSA-2)"));
                } else if ids[acks.len()..sent].contains(&parsed.acked_id) {
                    return Err(Error::InvalidAck("ACK out of order"));
                } else {
                    stale += 1;
                    debug!("ignoring an ACK for a control ID not awaited");
                }
            }
            Ok(())
        }
        .await;
        self.stats.frames_sent += frames_sent;
        self.stats.acks += (acks.len() - first) as u64;
        self.stats.stale_acks += stale;
        result
    }
}
