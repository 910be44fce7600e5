//! rustls configuration helpers for MLLP over TLS (feature `tls`).
//!
//! The server and client take plain `rustls` configurations, so anything rustls can do is
//! available; these helpers cover the usual case from PEM files: a server certificate, an
//! optional CA for client certificates (mutual TLS), a client trusting a CA and optionally
//! presenting its own certificate. They use the `ring` provider explicitly, so they work
//! whatever other rustls providers the application links.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use crate::Error;

pub use rustls;

fn tls_err(e: impl std::fmt::Display) -> Error {
    Error::Tls(e.to_string())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM document.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(tls_err)?;
    if certs.is_empty() {
        return Err(Error::Tls("no certificate in PEM input".into()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM document.
pub fn private_key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(tls_err)?
        .ok_or_else(|| Error::Tls("no private key in PEM input".into()))
}

fn roots(ca_pem: &[u8]) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for c in certs_from_pem(ca_pem)? {
        roots.add(c).map_err(tls_err)?;
    }
    Ok(roots)
}

/// A server configuration presenting `cert_chain_pem` / `key_pem`. With `client_ca_pem`,
/// clients must present a certificate issued by that CA (mutual TLS).
pub fn server_config(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let builder = match client_ca_pem {
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider())
                    .build()
                    .map_err(tls_err)?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let cfg = builder
        .with_single_cert(
            certs_from_pem(cert_chain_pem)?,
            private_key_from_pem(key_pem)?,
        )
        .map_err(tls_err)?;
    Ok(Arc::new(cfg))
}

/// A client configuration trusting the CA(s) in `ca_pem`; with `identity` (certificate chain
/// PEM, key PEM) it presents a client certificate for mutual TLS.
pub fn client_config(
    ca_pem: &[u8],
    identity: Option<(&[u8], &[u8])>,
) -> Result<Arc<rustls::ClientConfig>, Error> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_root_certificates(roots(ca_pem)?);
    let cfg = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(certs_from_pem(chain)?, private_key_from_pem(key)?)
            .map_err(tls_err)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}
