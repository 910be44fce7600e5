//! MLLP over TLS and mutual TLS on loopback, with certificates generated at test time.
#![cfg(feature = "tls")]

mod common;

use std::time::Duration;

use common::{oru, Seen};
use ehrkit_mllp::{tls, AckCode, Client, Error, Incoming, Server, ServerHandle};
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
    /// A client certificate from a CA the server does not trust.
    rogue_cert: String,
    rogue_key: String,
}

fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    names: Vec<String>,
    eku: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params = CertificateParams::new(names).unwrap();
    params.extended_key_usages = vec![eku];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn ca() -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

fn pki() -> Pki {
    let (ca_pem, issuer) = ca();
    let (server_cert, server_key) = leaf(
        &issuer,
        vec!["localhost".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(
        &issuer,
        vec!["lab-feed".into()],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (_, rogue_issuer) = ca();
    let (rogue_cert, rogue_key) = leaf(
        &rogue_issuer,
        vec!["rogue".into()],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    Pki {
        ca_pem,
        server_cert,
        server_key,
        client_cert,
        client_key,
        rogue_cert,
        rogue_key,
    }
}

async fn tls_server(cfg: std::sync::Arc<tls::rustls::ServerConfig>, seen: Seen) -> ServerHandle {
    Server::builder()
        .tls(cfg)
        .handshake_timeout(Duration::from_secs(5))
        .build(move |m: Incoming| {
            let seen = seen.clone();
            async move {
                seen.record(m.dedup_key());
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_round_trip() {
    let p = pki();
    let seen = Seen::default();
    let scfg = tls::server_config(p.server_cert.as_bytes(), p.server_key.as_bytes(), None).unwrap();
    let server = tls_server(scfg, seen.clone()).await;
    let ccfg = tls::client_config(p.ca_pem.as_bytes(), None).unwrap();
    let mut client = Client::builder(server.local_addr().to_string())
        .tls(ccfg, "localhost")
        .unwrap()
        .build();
    for i in 0..5 {
        let ack = client.send(oru(&format!("TLS-{i}"))).await.unwrap();
        assert_eq!(
            (ack.code, ack.control_id.as_str()),
            (AckCode::AA, format!("TLS-{i}").as_str())
        );
    }
    assert_eq!(seen.total(), 5);
    assert_eq!(client.stats().connects, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_rejects_server_with_wrong_name() {
    let p = pki();
    let scfg = tls::server_config(p.server_cert.as_bytes(), p.server_key.as_bytes(), None).unwrap();
    let server = tls_server(scfg, Seen::default()).await;
    let ccfg = tls::client_config(p.ca_pem.as_bytes(), None).unwrap();
    let mut client = Client::builder(server.local_addr().to_string())
        .tls(ccfg, "not-the-server.example")
        .unwrap()
        .max_attempts(1)
        .build();
    let err = client.send(oru("NAME-1")).await.unwrap_err();
    assert!(
        matches!(&err, Error::RetriesExhausted { last, .. } if matches!(**last, Error::Tls(_))),
        "{err:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_accepts_trusted_client_and_refuses_others() {
    let p = pki();
    let seen = Seen::default();
    let scfg = tls::server_config(
        p.server_cert.as_bytes(),
        p.server_key.as_bytes(),
        Some(p.ca_pem.as_bytes()),
    )
    .unwrap();
    let server = tls_server(scfg, seen.clone()).await;
    let addr = server.local_addr().to_string();

    // Trusted client certificate: served.
    let ccfg = tls::client_config(
        p.ca_pem.as_bytes(),
        Some((p.client_cert.as_bytes(), p.client_key.as_bytes())),
    )
    .unwrap();
    let mut client = Client::builder(addr.clone())
        .tls(ccfg, "localhost")
        .unwrap()
        .build();
    assert_eq!(client.send(oru("MTLS-1")).await.unwrap().code, AckCode::AA);

    // No client certificate, or one from an unknown CA: never handled, never ACKed.
    let no_cert = tls::client_config(p.ca_pem.as_bytes(), None).unwrap();
    let rogue = tls::client_config(
        p.ca_pem.as_bytes(),
        Some((p.rogue_cert.as_bytes(), p.rogue_key.as_bytes())),
    )
    .unwrap();
    for cfg in [no_cert, rogue] {
        let mut c = Client::builder(addr.clone())
            .tls(cfg, "localhost")
            .unwrap()
            .max_attempts(1)
            .ack_timeout(Duration::from_secs(5))
            .build();
        let err = c.send(oru("MTLS-BAD")).await.unwrap_err();
        assert!(matches!(err, Error::RetriesExhausted { .. }), "{err:?}");
    }
    assert_eq!(seen.total(), 1);
    assert_eq!(seen.count("LAB|GHH LAB|MTLS-BAD"), 0);
    server.shutdown().await;
}

#[test]
fn pem_helpers_report_bad_input() {
    assert!(matches!(
        tls::certs_from_pem(b"nothing here"),
        Err(Error::Tls(_))
    ));
    assert!(matches!(
        tls::private_key_from_pem(b"nothing here"),
        Err(Error::Tls(_))
    ));
}
