//! Measurement tools: the load generator, scale data sets and cluster
//! measurements.

pub mod cluster_bench;
pub mod loadgen;
pub mod redis_load;
pub mod scale;
