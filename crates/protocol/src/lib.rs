//! The Portcullis reader protocol, v1: length-prefixed binary frames over
//! TLS 1.3 with client certificates, and a reader client.
//!
//! A crate of its own so that door-side programs speak the protocol
//! without linking the appliance (or RocksDB). `docs/PROTOCOL.md` is the
//! byte-by-byte specification; its hex vectors are decoded and re-encoded by
//! the tests in [`frame`].

#![warn(missing_docs)]

pub mod client;
pub mod codec;
pub mod frame;
pub mod reason;
pub mod tls;

pub use client::{ClientError, ReaderClient};
pub use codec::Connection;
pub use frame::{
    Credential, DoorEvent, DoorEventKind, ErrorCode, Frame, FrameError, VerifyRequest,
};
pub use reason::{Decision, Reason};

/// The four bytes a client's HELLO starts with.
pub const MAGIC: [u8; 4] = *b"PRTC";
/// The highest protocol version: 2 adds door events (EVENT, EVENT_ACK) to
/// version 1. The appliance speaks both.
pub const VERSION: u8 = 2;
/// The lowest protocol version the appliance speaks.
pub const MIN_VERSION: u8 = 1;
/// Bytes before the frame's type: the big-endian `u16` length.
pub const HEADER_LEN: usize = 2;
