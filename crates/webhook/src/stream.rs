//! The sink of the webhook function: events straight onto the Kinesis
//! stream as log records of the stream envelope, the same records the
//! sensor ships for syslog and tailed files. A request is answered once the
//! stream has acknowledged every record of it.

use std::sync::atomic::{AtomicU64, Ordering};

use opensoc_kinesis::{KinesisSink, OutRecord};
use opensoc_schemas::envelope::{self, Kind, MAX_RECORD_BYTES, RecordWriter};

use crate::{Batch, EventSink, SinkError, SinkFuture};

/// Longest event shipped; longer ones are cut (and then fail to parse, so
/// they land in quarantine with their first bytes).
pub const MAX_EVENT_BYTES: usize = 512 << 10;

/// Builds log records and puts them on the stream.
pub struct StreamSink {
    writer: RecordWriter,
    name: String,
    sink: KinesisSink,
    sequence: AtomicU64,
}

impl StreamSink {
    /// Records named `name` (the envelope's sensor id: who produced them),
    /// sent through `sink`.
    pub fn new(name: &str, sink: KinesisSink) -> Result<StreamSink, envelope::BadSensorId> {
        Ok(StreamSink {
            writer: RecordWriter::new(name, 3)?,
            name: name.to_string(),
            sink,
            // Sequence numbers keep increasing across cold starts.
            sequence: AtomicU64::new(chrono::Utc::now().timestamp_micros().max(0) as u64),
        })
    }

    /// The records of a batch, each under the record size limit.
    pub fn records(&self, batch: &Batch) -> Result<Vec<OutRecord>, SinkError> {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let budget = envelope::log_payload_budget(MAX_RECORD_BYTES);
        let mut out = Vec::new();
        let mut payload = Vec::new();
        let flush = |payload: &mut Vec<u8>, out: &mut Vec<OutRecord>| -> Result<(), SinkError> {
            let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
            let data = self
                .writer
                .record(Kind::Logs, &batch.source_type, seq, now, payload)
                .map_err(|e| SinkError(format!("encoding a record: {e}")))?;
            out.push(OutRecord { partition_key: format!("{}/{seq}", self.name), data });
            payload.clear();
            Ok(())
        };
        for line in &batch.lines {
            let line = if line.len() > MAX_EVENT_BYTES {
                tracing::warn!(origin = %batch.origin, len = line.len(), "event longer than {MAX_EVENT_BYTES} bytes cut");
                &line[..MAX_EVENT_BYTES]
            } else {
                line.as_slice()
            };
            if !payload.is_empty() && payload.len() + envelope::log_line_len(&batch.origin, line) > budget {
                flush(&mut payload, &mut out)?;
            }
            envelope::push_log_line(&mut payload, batch.received_ns, &batch.origin, line);
        }
        if !payload.is_empty() {
            flush(&mut payload, &mut out)?;
        }
        Ok(out)
    }
}

impl EventSink for StreamSink {
    fn deliver(&self, batch: Batch) -> SinkFuture<'_> {
        Box::pin(async move {
            let records = self.records(&batch)?;
            self.sink.send(records).await.map_err(|e| SinkError(e.to_string()))
        })
    }
}
