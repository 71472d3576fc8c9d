//! Purpose-bound look-ups in the access log: cursors and pseudonyms.

pub mod cursor;
