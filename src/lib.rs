//! Portcullis: a credential verification appliance.
//!
//! Door readers hold mutual-TLS connections ([`reader_server`]) and ask
//! about access numbers in protocol v1 ([`protocol`]); each number's keyed
//! transform ([`access`]) is looked up in a sharded in-memory map
//! ([`credentials`]); every decision is group-committed to RocksDB
//! ([`journal`]) before it is answered and erased after 14 days. Cards and
//! readers are managed over an mTLS admin API ([`admin`]); operators watch
//! [`telemetry`] through Prometheus ([`ops_http`]).

#![warn(missing_docs)]

pub mod access;
pub mod admin;
pub mod admin_logs;
pub mod admin_records;
pub mod appliance;
pub mod audit;
pub mod cardholders;
pub mod cards;
pub mod client;
pub mod clock;
pub mod config;
pub mod core;
pub mod credentials;
pub mod cursor;
pub mod decision;
pub mod fdlimit;
pub mod holders;
pub mod hugepages;
pub mod identity;
pub mod investigations;
pub mod journal;
pub mod keys;
pub mod levels;
pub mod listener;
pub mod loadgen;
pub mod lookups;
pub mod ops_http;
pub mod pki;
pub mod protocol;
pub mod reader_server;
pub mod readers;
pub mod retention;
pub mod scale;
pub mod secret;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod timelog;
pub mod tls;
pub mod vault;

pub use appliance::Appliance;
pub use config::Config;
