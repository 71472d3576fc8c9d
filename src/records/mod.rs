//! The records the office manages: cards, cardholders, readers, access-level
//! definitions and the notification outbox — their rules, their storage,
//! and the planning of every change to them.

pub mod access;
pub mod alarms;
pub mod cardholder;
pub mod cards;
pub mod clips;
pub mod dlcs;
pub mod doors;
pub mod keyorders;
pub mod office;
pub mod outbox;
pub mod readers;
pub mod revocations;
pub mod video;
