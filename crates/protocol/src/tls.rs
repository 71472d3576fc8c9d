//! TLS material for the appliance's clients (readers, door controllers,
//! staff tools): PEM loading and the TLS 1.3 client configuration.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// TLS material could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        cause: io::Error,
    },
    /// A PEM file holds no certificate or key.
    #[error("{0}: no usable PEM certificate or private key in file")]
    Empty(String),
    /// rustls refused the material.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The crypto provider every Portcullis TLS endpoint uses (ring), with
/// AES-128-GCM/SHA-256 first: TLS 1.3's mandatory suite, and a cheaper key
/// schedule than SHA-384's in every handshake (the reconnect storm in
/// `docs/PERFORMANCE.md`). AES-256-GCM/SHA-384 stays offered for peers that
/// insist on it; the appliance's listeners apply this order.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    use rustls::crypto::ring::cipher_suite as cs;
    Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
        ],
        ..rustls::crypto::ring::default_provider()
    })
}

/// Loads every certificate in a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let shown = path.display().to_string();
    let data = std::fs::read(path).map_err(|cause| TlsError::Io {
        path: shown.clone(),
        cause,
    })?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut data.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|cause| TlsError::Io {
            path: shown.clone(),
            cause,
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty(shown));
    }
    Ok(certs)
}

/// Loads the first private key in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let shown = path.display().to_string();
    let data = std::fs::read(path).map_err(|cause| TlsError::Io {
        path: shown.clone(),
        cause,
    })?;
    rustls_pemfile::private_key(&mut data.as_slice())
        .map_err(|cause| TlsError::Io {
            path: shown.clone(),
            cause,
        })?
        .ok_or(TlsError::Empty(shown))
}

/// The trust anchors in a CA file.
pub fn roots(ca: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for c in load_certs(ca)? {
        store.add(c)?;
    }
    Ok(store)
}

/// Client configuration for a reader or staff member: trusts `ca`,
/// authenticates with `cert`/`key`.
pub fn client_config(ca: &Path, cert: &Path, key: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca)?)
        .with_client_auth_cert(load_certs(cert)?, load_key(key)?)?;
    Ok(Arc::new(cfg))
}

/// Client configuration without a client certificate (used by tests to
/// prove the appliance refuses it).
pub fn client_config_anonymous(ca: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca)?)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}
