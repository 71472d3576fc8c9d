//! Measurement tools: the load generator and scale data sets.

pub mod loadgen;
pub mod scale;
