//! MLLP (Minimal Lower Layer Protocol) transport for HL7 v2: a sans-IO framer, and behind
//! features a tokio codec, server and client (`tokio`) and TLS with rustls (`tls`).
//!
//! ```
//! use ehrkit_mllp::{encode_to_vec, FrameBuffer, FramerConfig};
//!
//! let msg = b"MSH|^~\\&|EPIC|HOSP|RCV|FAC|20240101120000||ADT^A01|MSG0001|P|2.5.1\rPID|1||123^^^MRN\r";
//! let mut wire = encode_to_vec(msg).unwrap();
//! wire.extend(encode_to_vec(msg).unwrap()); // two pipelined frames
//!
//! let mut frames = FrameBuffer::new(FramerConfig::default());
//! for chunk in wire.chunks(7) {            // any split of the stream
//!     frames.push(chunk);
//!     while let Some(payload) = frames.next_frame().unwrap() {
//!         assert_eq!(payload, &msg[..]);
//!     }
//! }
//! assert_eq!(frames.framer().stats().frames, 2);
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod framer;
#[cfg(feature = "tokio")]
mod hl7;

#[cfg(feature = "tokio")]
mod client;
#[cfg(feature = "tokio")]
mod codec;
#[cfg(feature = "tokio")]
mod server;
#[cfg(feature = "tokio")]
mod stats;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

pub use error::{Error, TimeoutKind};
pub use framer::{
    encode, encode_to_vec, Decoded, EndMode, FrameBuffer, Framer, FramerConfig, FramerStats,
    OutsideData, CR, DEFAULT_MAX_FRAME_SIZE, END, START,
};

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use client::{Ack, Client, ClientBuilder, ClientConfig, ClientStats};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use codec::MllpCodec;
/// The `ehrkit-hl7v2` acknowledgement types used in this crate's API.
pub use ehrkit_hl7v2::ack::{AckCode, ErrorCode};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use server::{
    Handler, HandlerError, HandlerFuture, Incoming, Server, ServerBuilder, ServerConfig,
    ServerHandle, DEFAULT_MAX_BUFFERED_BYTES,
};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use stats::{ServerStats, StatsSnapshot};

/// The README's examples, run as doctests.
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
