//! The crate's one error type.

use std::fmt;

/// What a timeout was waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// No frame started within the idle timeout (server, between frames).
    Idle,
    /// A started frame did not complete within the read timeout.
    Read,
    /// A started frame did not complete within the frame timeout counted from its first byte
    /// (server).
    Frame,
    /// The ACK for a sent message did not arrive in time (client).
    Ack,
    /// The TCP connection could not be opened in time (client).
    Connect,
    /// The TLS handshake did not complete in time.
    Handshake,
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutKind::Idle => "idle timeout between frames",
            TimeoutKind::Read => "read timeout inside a frame",
            TimeoutKind::Frame => "frame timeout (frame not complete in time)",
            TimeoutKind::Ack => "ACK timeout",
            TimeoutKind::Connect => "connect timeout",
            TimeoutKind::Handshake => "TLS handshake timeout",
        })
    }
}

/// Everything that can go wrong in framing and transport.
///
/// Offsets are byte offsets in the connection's stream (counted from its first byte).
/// No variant's `Display` contains message content (PHI).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A byte that is neither noise nor the start byte `0x0B` appeared between frames
    /// (only with [`OutsideData::Error`](crate::OutsideData::Error)).
    #[error("MLLP: unexpected byte outside a frame at stream offset {offset}")]
    DataOutsideFrame {
        /// Stream offset of the byte.
        offset: u64,
    },
    /// A start byte `0x0B` appeared inside a frame
    /// (only with [`OutsideData::Error`](crate::OutsideData::Error)).
    #[error("MLLP: start byte 0x0B inside the frame at stream offset {offset}")]
    StartInsideFrame {
        /// Stream offset of the second start byte.
        offset: u64,
    },
    /// `0x1C` not followed by `0x0D` (only with [`EndMode::Strict`](crate::EndMode::Strict)).
    #[error("MLLP: end byte 0x1C not followed by 0x0D at stream offset {offset} (strict mode)")]
    MissingCarriageReturn {
        /// Stream offset of the byte that should have been `0x0D`.
        offset: u64,
    },
    /// A `0x1C` inside a frame that is not followed by `0x0D` and is not at a frame boundary
    /// (not after a segment terminator, not before a start byte, not at the end of the
    /// stream): it may be a byte of the message's text, so the frame is not ended there
    /// (lenient mode; strict mode reports [`Error::MissingCarriageReturn`]).
    #[error("MLLP: end byte 0x1C at stream offset {offset} is not at a frame boundary (inside the message text?)")]
    AmbiguousEnd {
        /// Stream offset of the `0x1C`.
        offset: u64,
    },
    /// The frame's payload is longer than the configured maximum.
    #[error("MLLP: frame starting at stream offset {offset} exceeds the maximum of {limit} bytes")]
    FrameTooLarge {
        /// Stream offset of the frame's start byte.
        offset: u64,
        /// The configured maximum payload size.
        limit: usize,
    },
    /// The stream ended inside a frame.
    #[error("MLLP: end of stream inside the frame starting at stream offset {offset} ({received} payload bytes received)")]
    UnexpectedEof {
        /// Stream offset of the frame's start byte.
        offset: u64,
        /// Payload bytes received before the end of the stream.
        received: usize,
    },
    /// A payload to encode contains `0x0B` or `0x1C`, which would break the framing.
    #[error("MLLP: payload contains framing byte 0x{byte:02X} at offset {offset}")]
    DelimiterInPayload {
        /// Offset in the payload.
        offset: usize,
        /// The offending byte.
        byte: u8,
    },
    /// An I/O error from the socket.
    #[error("MLLP: I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A timeout fired.
    #[error("MLLP: {0}")]
    Timeout(TimeoutKind),
    /// The peer closed the connection before the expected ACK arrived.
    #[error("MLLP: connection closed by the peer before the ACK")]
    ConnectionClosed,
    /// An outbound message has no MSH-10 control ID, so its ACK cannot be correlated.
    #[error("MLLP: message {index} has no control ID (MSH-10)")]
    MissingControlId {
        /// Index of the message in the batch given to the client.
        index: usize,
    },
    /// An outbound message asks the receiver for no accept ACK in some or all cases (MSH-15
    /// `NE`, `ER` or `SU`, enhanced mode), so the client could not tell delivery from loss and
    /// would resend it. Send it with MSH-15 `AL` (or empty, original mode).
    #[error("MLLP: message {index} asks for no accept ACK (MSH-15 NE/ER/SU); the client needs MSH-15 AL or empty")]
    AckNotRequested {
        /// Index of the message in the batch given to the client.
        index: usize,
    },
    /// An outbound message could not be parsed as HL7 v2.
    #[error("MLLP: message {index} is not valid HL7 v2: {source}")]
    InvalidMessage {
        /// Index of the message in the batch given to the client.
        index: usize,
        /// The parser's error (its Display carries no PHI).
        source: ehrkit_hl7v2::Error,
    },
    /// The peer answered with something that is not a usable ACK.
    #[error("MLLP: invalid ACK: {0}")]
    InvalidAck(&'static str),
    /// The client gave up after the configured number of attempts.
    #[error("MLLP: giving up after {attempts} attempts; last error: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The error of the last attempt.
        last: Box<Error>,
    },
    /// TLS configuration or handshake failure.
    #[error("MLLP: TLS: {0}")]
    Tls(String),
}

impl Error {
    /// True for errors after which a client reconnects and resends (I/O, timeouts, closed
    /// connections, broken frames, out-of-order ACKs).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Io(_)
                | Error::Timeout(_)
                | Error::ConnectionClosed
                | Error::UnexpectedEof { .. }
                | Error::DataOutsideFrame { .. }
                | Error::StartInsideFrame { .. }
                | Error::MissingCarriageReturn { .. }
                | Error::AmbiguousEnd { .. }
                | Error::InvalidAck(_)
                | Error::Tls(_)
        )
    }
}
