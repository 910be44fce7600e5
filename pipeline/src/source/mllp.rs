//! The MLLP source: an `ehrkit-mllp` server whose handler returns (and so lets the server ACK)
//! only after [`Pipeline::submit`] kept the message durably.
//!
//! | outcome | ACK |
//! |---|---|
//! | kept (new, resend, reused control id) | AA |
//! | an HL7 batch (FHS/BHS … BTS/FTS), every message kept (refused ones dead-lettered, see [`super::batch`]) | AA |
//! | not HL7 v2 / no control id | AR from the server itself, or AE (`Malformed`, `MissingData`) |
//! | message code not accepted | AE, ERR code 200 (unsupported message type) at MSH-9 |
//! | sender without routing entry and no default route | AE, ERR code 204 (unknown key identifier) at MSH-3 |
//! | store could not keep it (I/O, disk full), shutting down | AR, ERR code 207: the sender resends later |

use std::net::SocketAddr;
use std::time::Instant;

use ehrkit_mllp::{ErrorCode, HandlerError, Incoming, Server, ServerHandle};

use crate::error::{Error, ErrorKind};
use crate::runtime::{Pipeline, Refusal};
use crate::store::PayloadKind;

/// The NAK for a refusal.
pub fn nak(r: &Refusal) -> HandlerError {
    match r {
        Refusal::Stage(e) => {
            let code = match e.kind {
                ErrorKind::Malformed => ErrorCode::SegmentSequenceError,
                ErrorKind::MissingData => ErrorCode::RequiredFieldMissing,
                ErrorKind::UnsupportedType => ErrorCode::UnsupportedMessageType,
                ErrorKind::UnknownSender => ErrorCode::UnknownKeyIdentifier,
                ErrorKind::Invalid => ErrorCode::DataTypeError,
                _ => ErrorCode::ApplicationInternalError,
            };
            let h = HandlerError::error(code, format!("{} ({}): {}", e.stage, e.kind, e.reason));
            match &e.location {
                Some(l) => h.at(l.replace(['[', ']'], "")),
                None => h,
            }
        }
        Refusal::Store(_) => HandlerError::reject(
            ErrorCode::ApplicationInternalError,
            "message not kept: storage unavailable; resend later",
        ),
        Refusal::Closed => HandlerError::reject(
            ErrorCode::ApplicationInternalError,
            "receiver shutting down; resend later",
        ),
    }
}

/// The handler for an `ehrkit-mllp` server: submits each message to `pipeline` as received
/// through `endpoint`, and records ACK/NAK counts and latency.
pub fn handler(
    pipeline: Pipeline,
    endpoint: impl Into<String>,
) -> impl Fn(
    Incoming,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), HandlerError>> + Send>>
       + Send
       + Sync
       + 'static {
    let endpoint: String = endpoint.into();
    move |m: Incoming| {
        let pipeline = pipeline.clone();
        let endpoint = endpoint.clone();
        Box::pin(async move {
            let t = Instant::now();
            let peer = m.peer.to_string();
            let r = if super::batch::is_batch(&m.payload) {
                // One ACK for the whole batch, once every message of it is kept.
                super::batch::submit_batch(&pipeline, &m.payload, &endpoint, Some(peer))
                    .await
                    .map(|b| b.submitted.into_iter().next())
            } else {
                pipeline
                    .submit(
                        PayloadKind::Hl7v2,
                        m.payload.to_vec(),
                        &endpoint,
                        Some(peer),
                    )
                    .await
                    .map(Some)
            };
            match r {
                Ok(s) => {
                    let source = s
                        .as_ref()
                        .map_or(endpoint.as_str(), |s| s.source.as_str())
                        .to_owned();
                    pipeline.counters().ack(&source, "AA", t.elapsed());
                    Ok(())
                }
                Err(e) => {
                    let h = nak(&e);
                    let code = if h.is_reject() { "AR" } else { "AE" };
                    pipeline.counters().ack(&endpoint, code, t.elapsed());
                    Err(h)
                }
            }
        })
    }
}

/// Binds an MLLP listener on `addr` feeding `pipeline` (default server settings; build your
/// own `Server` with [`handler`] for others, TLS included).
pub async fn bind(pipeline: Pipeline, addr: &str, endpoint: &str) -> Result<ServerHandle, Error> {
    Server::builder()
        .max_connections(4096)
        .build(handler(pipeline, endpoint))
        .bind(addr)
        .await
        .map_err(|e| Error::Io {
            what: format!("MLLP listen on {addr}"),
            source: std::io::Error::other(e.to_string()),
        })
}

/// The address a handle listens on.
pub fn local_addr(h: &ServerHandle) -> SocketAddr {
    h.local_addr()
}
