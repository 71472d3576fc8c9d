//! What one reader connection costs in TLS, both ends together (the
//! appliance's server configuration and a reader's client configuration,
//! in memory, no sockets): a full mutual-TLS handshake, a resumed one (a
//! session ticket from the connection before), and a full one held to
//! AES-256-GCM/SHA-384 (the suite a client preferring it would get if the
//! appliance followed the client's order). A reconnect storm is thousands
//! of these on the same two cores as the generator.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis::pki::identity::Role;
use portcullis::pki::PkiDir;
use portcullis::protocol::tls::{client_config, load_certs, load_key, roots};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, ServerConfig, ServerConnection};

/// Moves every pending TLS byte from one end to the other until both are
/// quiet (the handshake, then the server's ticket); returns how the
/// client's handshake went.
fn connect(client: &Arc<ClientConfig>, server: &Arc<ServerConfig>) -> Option<HandshakeKind> {
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let mut c = ClientConnection::new(client.clone(), name).expect("client");
    let mut s = ServerConnection::new(server.clone()).expect("server");
    let mut wire = Vec::with_capacity(8192);
    loop {
        let mut moved = false;
        while c.wants_write() {
            wire.clear();
            c.write_tls(&mut wire).expect("client write");
            s.read_tls(&mut wire.as_slice()).expect("server read");
            s.process_new_packets().expect("server handshake");
            moved = true;
        }
        while s.wants_write() {
            wire.clear();
            s.write_tls(&mut wire).expect("server write");
            c.read_tls(&mut wire.as_slice()).expect("client read");
            c.process_new_packets().expect("client handshake");
            moved = true;
        }
        if !moved {
            break;
        }
    }
    assert!(!c.is_handshaking() && !s.is_handshaking());
    c.handshake_kind()
}

fn handshake(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = PkiDir::new(dir.path());
    pki.init(false).expect("pki");
    let reader = pki.issue(Role::Reader, "bench-reader").expect("reader");
    let base = portcullis::server_config(&pki.ca_cert(), &pki.server().cert, &pki.server().key)
        .expect("server config");
    let server = portcullis::reader_server_config(&base, true).expect("tickets");
    let product = client_config(&pki.ca_cert(), &reader.cert, &reader.key).expect("client");

    let mut full = (*product).clone();
    full.resumption = rustls::client::Resumption::disabled();
    let full = Arc::new(full);
    for _ in 0..2 {
        assert_eq!(connect(&full, &server), Some(HandshakeKind::Full));
    }

    let mut resuming = (*product).clone();
    resuming.resumption = rustls::client::Resumption::in_memory_sessions(1);
    let resuming = Arc::new(resuming);
    connect(&resuming, &server);
    assert_eq!(connect(&resuming, &server), Some(HandshakeKind::Resumed));

    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![rustls::crypto::ring::cipher_suite::TLS13_AES_256_GCM_SHA384];
    let mut aes256 = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls13")
        .with_root_certificates(roots(&pki.ca_cert()).expect("roots"))
        .with_client_auth_cert(
            load_certs(&reader.cert).expect("cert"),
            load_key(&reader.key).expect("key"),
        )
        .expect("client auth");
    aes256.resumption = rustls::client::Resumption::disabled();
    let aes256 = Arc::new(aes256);
    for _ in 0..2 {
        assert_eq!(connect(&aes256, &server), Some(HandshakeKind::Full));
    }

    let mut g = c.benchmark_group("tls_handshake");
    g.sample_size(30);
    g.bench_function("full/aes128_sha256", |b| b.iter(|| connect(&full, &server)));
    g.bench_function("resumed/aes128_sha256", |b| {
        b.iter(|| connect(&resuming, &server))
    });
    g.bench_function("full/aes256_sha384", |b| {
        b.iter(|| connect(&aes256, &server))
    });
    g.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
