//! Reader protocol v1: length-prefixed binary frames over TLS 1.3.
//!
//! `docs/PROTOCOL.md` is the byte-by-byte specification; its hex vectors are
//! decoded and re-encoded by the tests in [`frame`].

pub mod frame;

pub use frame::{Credential, ErrorCode, Frame, FrameError, VerifyRequest};

/// The four bytes a client's HELLO starts with.
pub const MAGIC: [u8; 4] = *b"PRTC";
/// The only protocol version this appliance speaks.
pub const VERSION: u8 = 1;
/// Bytes before the frame's type: the big-endian `u16` length.
pub const HEADER_LEN: usize = 2;
