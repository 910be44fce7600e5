//! Zero-copy HL7 v2 parser, typed datatypes, writer and ACK builder.
//!
//! Work in progress: see the workspace README.
