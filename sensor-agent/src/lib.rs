//! # opensoc-sensor
//!
//! The edge agent: reads captures (and log files), meters flows and
//! extracts DNS/HTTP/TLS with `opensoc-net`, builds the lake's rows with
//! `opensoc-rows`, and ships them as stream-envelope records to a
//! Kinesis-compatible stream through `opensoc-kinesis`. It links neither
//! delta-rs nor DataFusion.
//!
//! - [`inputs`]: capture replay, log files;
//! - [`ship`]: batches → records of at most 1 MiB;
//! - [`send`]: the sender task between the inputs and the sink.

pub mod inputs;
pub mod send;
pub mod ship;
