//! The appliance's TLS server configuration: TLS 1.3 only, a client
//! certificate from the appliance CA required on every listener that serves
//! people or readers.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;

pub use crate::protocol::tls::{load_certs, load_key, TlsError};
use crate::protocol::tls::{provider, roots};

/// Server configuration: TLS 1.3 only, client certificate required and
/// verified against `ca`.
pub fn server_config(ca: &Path, cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    crate::crypto::secret::check_private_file(key).map_err(|e| TlsError::Io {
        path: key.display().to_string(),
        cause: std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.to_string()),
    })?;
    let provider = provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider.clone())
            .build()?;
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(cert)?, load_key(key)?)?;
    cfg.alpn_protocols = vec![];
    // The appliance's order of cipher suites, not the client's.
    cfg.ignore_client_order = true;
    // No resumption unless a listener asks for it (rustls would otherwise
    // keep 256 sessions and hand out two tickets per connection): every
    // handshake verifies the certificate in full.
    cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    cfg.send_tls13_tickets = 0;
    Ok(Arc::new(cfg))
}

/// The reader listener's configuration: `base` plus, with `resumption`,
/// stateless TLS 1.3 session tickets (one per connection, resumed ones
/// included, sealed with keys held in memory: a new key at the first
/// handshake after 6 hours, the one before still accepted). A resumed
/// session skips the certificate signatures, not the appliance's own
/// checks: the reader session checks revocation, registration and (for a
/// resumed session) the certificate's dates on every connection.
pub fn reader_server_config(
    base: &Arc<ServerConfig>,
    resumption: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    if !resumption {
        return Ok(base.clone());
    }
    let mut cfg = (**base).clone();
    cfg.ticketer = rustls::crypto::ring::Ticketer::new()?;
    cfg.send_tls13_tickets = 1;
    Ok(Arc::new(cfg))
}

/// A fixed label for why a handshake failed (never peer-supplied text).
pub fn failure_reason(e: &io::Error) -> &'static str {
    use rustls::{CertificateError, Error as E};
    if e.kind() == io::ErrorKind::TimedOut {
        return "timeout";
    }
    match e.get_ref().and_then(|inner| inner.downcast_ref::<E>()) {
        Some(E::NoCertificatesPresented) => "no_certificate",
        Some(E::InvalidCertificate(CertificateError::UnknownIssuer)) => "unknown_ca",
        Some(E::InvalidCertificate(_)) => "bad_certificate",
        Some(E::PeerIncompatible(_)) => "incompatible",
        Some(_) => "protocol",
        None => "io",
    }
}
