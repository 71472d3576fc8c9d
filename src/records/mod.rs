//! The records the office manages: cards, cardholders, readers.

pub mod cardholder;
pub mod cards;
pub mod readers;
