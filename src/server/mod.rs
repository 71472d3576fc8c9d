//! The listeners and the accept loop they share.

pub mod admin;
pub mod console;
pub mod listener;
pub mod ops;
pub mod reader;
pub mod shutdown;
pub mod tls;
