//! Portcullis: a credential verification appliance.
//!
//! The layers, each a folder, dependencies pointing down this list:
//!
//! - [`app`]: start-up and shutdown of the whole appliance ([`Appliance`]),
//!   the shared state every listener works on, key binding.
//! - [`server`]: the listeners — readers ([`protocol`] v1 over mTLS), the
//!   admin API (HTTPS, roles from certificates), metrics and health — over
//!   one accept loop with its bounds.
//! - [`policy`]: the decision (grant or deny, and why) from the credential
//!   map and the access levels; no I/O.
//! - [`records`]: cards, cardholders and readers: their rules and their
//!   storage.
//! - [`cluster`]: several appliances sharing one change log and their
//!   journals through NATS JetStream (optional).
//! - [`police`] and [`lookup`]: the purpose-bound use of the access log
//!   (signed police requests, access resolution, limits, cursors).
//! - [`store`]: RocksDB, the decision journal with its 14-day erasure, and
//!   the time-keyed audit logs.
//! - [`crypto`]: access numbers and their keyed transform, sealing of
//!   personal data, key files. [`pki`]: the appliance CA and identities.
//! - [`client`], [`tools`]: the admin client, the load generator and scale
//!   tools.

#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod crypto;
pub(crate) mod ledger;
pub(crate) mod lookup;
pub mod pki;
pub mod police;
pub mod policy;
pub mod records;
pub(crate) mod server;
pub mod store;
pub mod sys;
pub mod telemetry;
pub mod tools;

pub use api::Op;
pub use app::Appliance;
pub use client::{AdminClient, ReaderClient};
pub use config::Config;
pub use portcullis_protocol as protocol;
/// The appliance's TLS server configurations (the handshake bench measures
/// with them).
pub use server::tls::{reader_server_config, server_config};
