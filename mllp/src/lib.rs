//! MLLP framing (sans-IO) with optional tokio server/client and rustls TLS.
//!
//! Work in progress: see the workspace README.
