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
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "tokio")]
mod hl7;

#[cfg(feature = "tokio")]
pub mod client;
#[cfg(feature = "tokio")]
pub mod codec;
#[cfg(feature = "tokio")]
pub mod server;
#[cfg(feature = "tokio")]
pub mod stats;
#[cfg(feature = "tls")]
pub mod tls;

pub use error::{Error, TimeoutKind};
pub use framer::{
    encode, encode_to_vec, Decoded, EndMode, FrameBuffer, Framer, FramerConfig, FramerStats,
    OutsideData, CR, DEFAULT_MAX_FRAME_SIZE, END, START,
};

#[cfg(feature = "tokio")]
pub use client::{Ack, Client, ClientBuilder, ClientConfig, ClientStats};
#[cfg(feature = "tokio")]
pub use codec::MllpCodec;
/// The `ehrkit-hl7v2` acknowledgement types used in this crate's API.
pub use ehrkit_hl7v2::ack::{AckCode, ErrorCode};
#[cfg(feature = "tokio")]
pub use server::{
    Handler, HandlerError, Incoming, Server, ServerBuilder, ServerConfig, ServerHandle,
};
#[cfg(feature = "tokio")]
pub use stats::{ServerStats, StatsSnapshot};
