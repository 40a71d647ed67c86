//! # opensoc-rows
//!
//! The rows of OpenSOC's tables as Arrow record batches, built from what
//! `opensoc-net` decodes: flows, flow chunks of packets, DNS, HTTP and TLS
//! transactions, and quarantine rows ([`tables`]); a [`Batch`] of all of
//! them; and [`capture::CaptureFile`], which reads a capture into a batch.
//!
//! This crate has no I/O beyond reading captures and no lake or query
//! engine, so the sensor can build the very rows the lake stores (and ship
//! them) without linking DataFusion or delta-rs.

mod batch;
pub mod capture;
pub mod tables;

pub use batch::{Batch, BatchLimits};
pub use opensoc_schemas::Table;

/// Errors of row building.
#[derive(Debug, thiserror::Error)]
pub enum RowsError {
    /// Building Arrow data failed (a bug: schemas and builders disagree).
    #[error("building {table} rows: {source}")]
    Arrow {
        /// The table.
        table: &'static str,
        /// The cause.
        #[source]
        source: arrow::error::ArrowError,
    },
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}
