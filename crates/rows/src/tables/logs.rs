//! Rows of the `logs` table.

use std::sync::Arc;

use arrow::array::BinaryArray;
use arrow::record_batch::RecordBatch;
use opensoc_schemas::Table;

use super::{assemble, date_col, i32_col, i64_col, null_enrichment, str_col, ts_col};
use crate::RowsError;

/// One log event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogRow {
    /// The event's time (ns); the receive time when the line has none.
    pub ts_ns: i64,
    /// When it was received (ns).
    pub received_ns: i64,
    /// `syslog`, `zeek`, `suricata-eve`, `json`, `stream-raw` …
    pub source_type: String,
    /// File path or peer address.
    pub origin: String,
    /// The host the event names.
    pub host: Option<String>,
    /// Syslog severity 0–7.
    pub severity: Option<i32>,
    /// App name, log path or event type.
    pub app: Option<String>,
    /// Endpoints.
    pub src_ip: Option<String>,
    /// Source port.
    pub src_port: Option<i32>,
    /// Destination address.
    pub dst_ip: Option<String>,
    /// Destination port.
    pub dst_port: Option<i32>,
    /// Community ID carried by the event.
    pub community_id: Option<String>,
    /// The message text.
    pub message: Option<String>,
    /// Parsed fields, a JSON object.
    pub fields: Option<String>,
    /// The line as received.
    pub raw: Vec<u8>,
}

/// Collects log rows.
#[derive(Debug, Default)]
pub struct LogRows(pub Vec<LogRow>);

impl LogRows {
    /// Build the batch and clear.
    pub fn take_batch(&mut self, sensor_id: &str) -> Result<Option<RecordBatch>, RowsError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let rows = std::mem::take(&mut self.0);
        let s = |f: fn(&LogRow) -> Option<&str>| str_col(rows.iter().map(f));
        let mut cols = vec![
            ("ts", ts_col(rows.iter().map(|r| r.ts_ns))),
            ("source_type", s(|r| Some(r.source_type.as_str()))),
            ("host", s(|r| r.host.as_deref())),
            ("src_ip", s(|r| r.src_ip.as_deref())),
            ("dst_ip", s(|r| r.dst_ip.as_deref())),
            ("community_id", s(|r| r.community_id.as_deref())),
            ("severity", i32_col(rows.iter().map(|r| r.severity))),
            ("app", s(|r| r.app.as_deref())),
            ("src_port", i32_col(rows.iter().map(|r| r.src_port))),
            ("dst_port", i32_col(rows.iter().map(|r| r.dst_port))),
            ("message", s(|r| r.message.as_deref())),
            ("fields", s(|r| r.fields.as_deref())),
            ("ts_ns", i64_col(rows.iter().map(|r| Some(r.ts_ns)))),
            ("received_ts_ns", i64_col(rows.iter().map(|r| Some(r.received_ns)))),
            ("origin", s(|r| Some(r.origin.as_str()))),
            ("sensor_id", str_col(rows.iter().map(|_| Some(sensor_id)))),
            ("raw", Arc::new(BinaryArray::from_iter_values(rows.iter().map(|r| r.raw.as_slice()))) as _),
            ("event_date", date_col(rows.iter().map(|r| r.ts_ns))),
        ];
        cols.extend(null_enrichment(rows.len()));
        Ok(Some(assemble(Table::Logs, cols)?))
    }
}
