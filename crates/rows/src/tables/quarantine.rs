//! Rows of the `quarantine` table: input that could not be taken in, with
//! where it came from and why.

use std::sync::Arc;

use arrow::array::BinaryArray;
use arrow::record_batch::RecordBatch;
use opensoc_schemas::Table;

use super::{assemble, date_col, str_col, ts_col};
use crate::RowsError;

/// Most bytes of the offending input kept per row.
pub const MAX_RAW: usize = 1 << 20;

/// One rejected piece of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRow {
    /// When it was rejected (ns since the epoch).
    pub ts_ns: i64,
    /// The input: file path, or stream and shard.
    pub source: String,
    /// Where in the input: byte offset, packet index, sequence number.
    pub position: Option<String>,
    /// The stage that rejected it: `capture`, `decode`, `record` …
    pub stage: &'static str,
    /// Why.
    pub reason: String,
    /// The offending bytes (at most [`MAX_RAW`]).
    pub raw: Option<Vec<u8>>,
}

/// Collects quarantine rows.
#[derive(Debug, Default)]
pub struct QuarantineRows(pub Vec<QuarantineRow>);

impl QuarantineRows {
    /// Quarantine `raw` (at most [`MAX_RAW`] of it kept) from `source` at
    /// `position`, refused now by `stage` for `reason`.
    pub fn refuse(&mut self, source: &str, position: String, stage: &'static str, reason: String, raw: &[u8]) {
        self.0.push(QuarantineRow {
            ts_ns: crate::now_ns(),
            source: source.to_string(),
            position: Some(position),
            stage,
            reason,
            raw: Some(raw[..raw.len().min(MAX_RAW)].to_vec()),
        });
    }

    /// Build the batch and clear.
    pub fn take_batch(&mut self, sensor_id: &str) -> Result<Option<RecordBatch>, RowsError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let rows = std::mem::take(&mut self.0);
        let cols = vec![
            ("ts", ts_col(rows.iter().map(|r| r.ts_ns))),
            ("source", str_col(rows.iter().map(|r| Some(r.source.as_str())))),
            ("position", str_col(rows.iter().map(|r| r.position.as_deref()))),
            ("stage", str_col(rows.iter().map(|r| Some(r.stage)))),
            ("reason", str_col(rows.iter().map(|r| Some(r.reason.as_str())))),
            ("raw", Arc::new(BinaryArray::from_iter(rows.iter().map(|r| r.raw.as_deref()))) as _),
            ("sensor_id", str_col(rows.iter().map(|_| Some(sensor_id)))),
            ("event_date", date_col(rows.iter().map(|r| r.ts_ns))),
        ];
        Ok(Some(assemble(Table::Quarantine, cols)?))
    }
}
