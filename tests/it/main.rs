//! Integration tests: the real appliance on port 0, real certificates, real
//! TLS, RocksDB in a temporary directory. One test binary (ripgrep style).

mod admin;
mod alerts;
mod architecture;
mod browser;
mod cluster;
mod common;
mod console;
mod door_controller;
mod doors;
mod faults;
mod investigations;
mod lifecycle;
mod metrics;
mod office;
mod persistence;
mod process;
mod protocol;
mod reader;
mod retention;
mod roles;
mod trust;
