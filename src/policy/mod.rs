//! The decision: a credential at a door at a time, answered from memory.

pub mod credentials;
pub mod decide;
pub mod levels;
