//! Test helpers shared by the ehrkit crates. Not published (`publish = false`); used only as a
//! dev-dependency (`ehrkit-testkit = { workspace = true }`).
//!
//! One copy of what the crates' tests used to copy:
//!
//! * [`shared`]: find the `../shared` folder beside the workspace (corpora, data sets, FHIR
//!   packages) and skip a test with a printed notice when it is absent.
//! * [`r4_examples`]: the `hl7.fhir.r4.examples@4.0.1` npm package, fetched once into the
//!   cargo target directory; `None` with a notice when npm cannot fetch it.
//! * [`keys`]: the test keys (RSA 2048 / RS384 and EC P-384 / ES384 in PEM and JWK forms), one
//!   table.
//! * [`examples`]: the workspace's examples as programs, built once (or reused from the
//!   workspace's test build) for tests of their command-line contract.
//! * [`services`]: real PostgreSQL and Kafka-protocol (tansu) servers on loopback for
//!   integration tests, started, restarted and removed by the test; skipped with a notice
//!   when unavailable.
//! * [`http`]: a loopback HTTP/1.1 mock server (hyper) with programmable routes, scripted
//!   sequences, delays, streamed or gzip bodies and a request log.
//!
//! The kit does not depend on any ehrkit crate, so every crate can use it without a cycle.

mod cache;
pub mod examples;
pub mod http;
pub mod keys;
pub mod r4_examples;
pub mod services;
pub mod shared;
