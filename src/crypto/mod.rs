//! Cryptography of the appliance: access numbers and their keyed transform,
//! sealing of personal data at rest, key files.

pub mod numbers;
pub mod secret;
pub mod vault;
