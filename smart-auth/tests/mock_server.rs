//! Serves the mock authorization server for a manual run of the examples (ignored by default):
//!
//! ```text
//! cargo test -p ehrkit-smart-auth --features reqwest --test mock_server -- --ignored --nocapture &
//! # the test prints the FHIR base, then serves for SMART_MOCK_SECONDS (default 60) seconds
//! cargo run --example smart_backend_token --features reqwest -- --fhir-base <printed base> \
//!     --client-id backend-demo --key testkit/keys/ec384-sec1.pem
//! ```

#![cfg(feature = "reqwest")]

mod common;

use ehrkit_smart_auth::{jwks, Algorithm, SigningKey};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "manual: serves the mock for the examples"]
async fn serve_mock_for_examples() {
    let mock = common::start(common::Behaviour::default()).await;
    let read = |n: &str| std::fs::read(common::key_path(n)).unwrap();
    let keys = [
        SigningKey::from_pem(&read("ec384-sec1.pem"), Algorithm::ES384, None).unwrap(),
        SigningKey::from_pem(&read("rsa-pkcs8.pem"), Algorithm::RS384, None).unwrap(),
    ];
    mock.register(
        "backend-demo",
        common::Registration {
            jwks: Some(jwks(keys.iter())),
            ..Default::default()
        },
    );
    mock.register(
        "launch-demo",
        common::Registration {
            redirect_uri: Some("http://localhost:8080/cb".into()),
            ..Default::default()
        },
    );
    println!("FHIR base: {}", mock.fhir_base());
    let secs = std::env::var("SMART_MOCK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    tokio::time::sleep(Duration::from_secs(secs.min(600))).await;
    println!("token requests served: {}", mock.token_count());
}
