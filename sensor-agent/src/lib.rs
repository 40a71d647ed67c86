//! # opensoc-sensor
//!
//! The edge agent: reads captures (and log files), meters flows and
//! extracts DNS/HTTP/TLS with `opensoc-net`, builds the lake's rows with
//! `opensoc-rows`, and ships them as stream-envelope records to a
//! Kinesis-compatible stream through `opensoc-kinesis`. It links neither
//! delta-rs nor DataFusion.
//!
//! - [`inputs`]: capture replay, live interfaces, syslog, tailed files;
//! - [`ship`]: batches → records of at most 1 MiB (packet segments up to
//!   64 MiB in claim-check mode);
//! - [`claim`]: claim-check mode: segments to S3, their keys on the stream;
//! - [`send`]: the sender between the inputs and the sink, spilling to
//!   the [`spool`] when the stream cannot take records;
//! - [`pipeline`]: shipper, sender and [`metrics`] endpoint together;
//! - [`config`]: the TOML file.

pub mod claim;
pub mod config;
pub mod inputs;
pub mod metrics;
pub mod pipeline;
pub mod send;
pub mod ship;
pub mod spool;
