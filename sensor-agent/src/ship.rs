//! Turning batches into stream records: rows as Arrow IPC, log lines raw,
//! each record at most 1 MiB, zstd, numbered by the sensor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::record_batch::RecordBatch;
use opensoc_kinesis::OutRecord;
use opensoc_schemas::Table;
use opensoc_schemas::envelope::{self, EncodeError, Kind, MAX_RECORD_BYTES, RecordWriter};

use crate::metrics::SensorMetrics;

/// Most bytes of one log line shipped; longer lines are cut (and counted).
pub const MAX_LINE_BYTES: usize = 512 << 10;

/// Builds the sensor's records.
pub struct Shipper {
    writer: RecordWriter,
    sensor_id: String,
    sequence: AtomicU64,
    max_record: usize,
    /// Claim-check mode: packets-table rows go in records this large.
    max_segment: Option<usize>,
    metrics: Arc<SensorMetrics>,
}

impl Shipper {
    /// Records from `sensor_id`, counted in `metrics` (batches, records,
    /// lines cut). Sequence numbers start at the current time in µs, so they
    /// keep increasing across restarts.
    pub fn new(sensor_id: &str, zstd_level: i32, metrics: Arc<SensorMetrics>) -> anyhow::Result<Self> {
        let start = chrono::Utc::now().timestamp_micros().max(0) as u64;
        Ok(Shipper {
            writer: RecordWriter::new(sensor_id, zstd_level)?,
            sensor_id: sensor_id.to_string(),
            sequence: AtomicU64::new(start),
            max_record: MAX_RECORD_BYTES,
            max_segment: None,
            metrics,
        })
    }

    /// Put the packets table's rows (the bulk of a capture) in segments of
    /// up to `bytes`, for the claim checker to store in S3.
    pub fn with_packet_segments(mut self, bytes: usize) -> Self {
        self.max_segment = Some(bytes.max(self.max_record));
        self
    }

    /// The sensor id.
    pub fn sensor_id(&self) -> &str {
        &self.sensor_id
    }

    fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed)
    }

    fn built(&self, records: Vec<OutRecord>) -> Vec<OutRecord> {
        self.metrics.batches.fetch_add(1, Ordering::Relaxed);
        self.metrics.records_built.fetch_add(records.len() as u64, Ordering::Relaxed);
        records
    }

    fn out(&self, data: Vec<u8>) -> OutRecord {
        // The header's sequence number spreads records over the shards.
        let seq = envelope::record_sequence(&data).unwrap_or_default();
        OutRecord { partition_key: format!("{}/{seq}", self.sensor_id), data }
    }

    /// Records for each table's rows.
    pub fn rows(&self, batches: &[(Table, RecordBatch)]) -> Result<Vec<OutRecord>, EncodeError> {
        let now = now_ns();
        let mut out = Vec::new();
        for (table, batch) in batches {
            let max = match self.max_segment {
                Some(segment) if *table == Table::Packets => segment,
                _ => self.max_record,
            };
            let recs = self.writer.rows_records(*table, batch, max, now, &mut || self.next_sequence())?;
            out.extend(recs.into_iter().map(|r| self.out(r)));
        }
        Ok(self.built(out))
    }

    /// Records for log lines of one source type; `lines` are (receive ns, origin, line).
    pub fn logs<'a>(
        &self,
        source_type: &str,
        lines: impl IntoIterator<Item = (i64, &'a str, &'a [u8])>,
    ) -> Result<Vec<OutRecord>, EncodeError> {
        let now = now_ns();
        let mut out = Vec::new();
        let mut payload = Vec::new();
        // Leave room for the header and for zstd's worst case on incompressible text.
        let budget = self.max_record - 4096 - self.max_record / 64;
        for (received, origin, line) in lines {
            let line = if line.len() > MAX_LINE_BYTES {
                self.metrics.lines_truncated.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(origin, len = line.len(), "log line longer than {MAX_LINE_BYTES} bytes cut");
                &line[..MAX_LINE_BYTES]
            } else {
                line
            };
            if !payload.is_empty() && payload.len() + envelope::log_line_len(origin, line) > budget {
                let rec = self.writer.record(Kind::Logs, source_type, self.next_sequence(), now, &payload)?;
                out.push(self.out(rec));
                payload.clear();
            }
            envelope::push_log_line(&mut payload, received, origin, line);
        }
        if !payload.is_empty() {
            let rec = self.writer.record(Kind::Logs, source_type, self.next_sequence(), now, &payload)?;
            out.push(self.out(rec));
        }
        Ok(self.built(out))
    }
}

/// Nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}
