//! Integration tests: the real appliance on port 0, real certificates, real
//! TLS, RocksDB in a temporary directory. One test binary (ripgrep style).

mod admin;
mod common;
mod investigations;
mod lifecycle;
mod metrics;
mod persistence;
mod protocol;
mod reader;
mod retention;
mod trust;
