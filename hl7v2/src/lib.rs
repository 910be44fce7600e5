//! Zero-copy HL7 v2 parser, typed datatypes, writer and ACK builder.
//!
//! [`Message`] borrows the input bytes and keeps a compact offset index of every segment, field,
//! repetition, component and subcomponent, built in one pass. Values are read by path
//! (`PID-3(2).1`, `OBX(3)-5`, `MSH-9.2`) either raw (still escaped) or decoded.
//!
//! ```
//! use ehrkit_hl7v2::{Message, Value};
//!
//! let input = b"MSH|^~\\&|EPIC|HOSP|LAB|HOSP|20240102030405||ADT^A01^ADT_A01|MSG0001|P|2.5.1\r\
//! PID|1||1234^^^HOSP^MR~999-99-9999^^^SSA^SS||DOE^JANE^Q||19800101|F|||\"\"\r";
//! let msg = Message::parse(input)?;
//! assert_eq!(msg.get("MSH-9.2").as_deref(), Some("A01"));
//! assert_eq!(msg.get("PID-3(2).1").as_deref(), Some("999-99-9999"));
//! assert_eq!(msg.get("PID-5").as_deref(), Some("DOE^JANE^Q")); // deeper structure: as written
//! assert_eq!(msg.value("PID-11")?, Value::Null);                // HL7 null ""
//! assert_eq!(msg.value("PID-4")?, Value::Empty);
//! assert_eq!(msg.value("PID-30")?, Value::Absent);
//! # Ok::<(), ehrkit_hl7v2::Error>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Namespaces users navigate stay public; everything else is re-exported flat below.
pub mod ack;
pub mod batch;
pub mod datatypes;
pub mod escape;
pub mod groups;

mod charset;
mod delimiters;
mod error;
mod index;
mod message;
mod options;
mod path;
mod segment;
mod writer;

pub use charset::Charset;
pub use delimiters::Delimiters;
pub use error::{Error, Location};
pub use message::{is_null, Message, Messages, Parser, Value};
pub use options::ParseOptions;
pub use path::Path;
pub use segment::{Field, Segment};
pub use writer::{MessageBuilder, OwnedMessage};

/// The crate README's examples, run as doctests so that they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
