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
    /// The Zeek TSV header lines seen per origin (file).
    zeek_headers: std::sync::Mutex<ZeekHeaders>,
}

/// Zeek TSV header lines per origin. Records of one file land on different
/// shards and workers, so every record that carries a file's data lines
/// starts with the file's header: each record parses on its own.
#[derive(Debug, Default)]
pub struct ZeekHeaders {
    by_origin: std::collections::HashMap<String, Vec<Vec<u8>>>,
}

/// Header keys that shape the lines after them (`#open` and `#close` do not).
const ZEEK_HEADER_KEYS: [&[u8]; 6] = [b"set_separator", b"empty_field", b"unset_field", b"path", b"fields", b"types"];

impl ZeekHeaders {
    /// Remember `line` if it is a header line of `origin`; true if it is one.
    pub fn observe(&mut self, origin: &str, line: &[u8]) -> bool {
        let Some(h) = line.strip_prefix(b"#") else { return false };
        if h.starts_with(b"separator") {
            self.by_origin.insert(origin.to_string(), vec![line.to_vec()]);
            return true;
        }
        if let Some(key) = ZEEK_HEADER_KEYS
            .iter()
            .find(|k| h.starts_with(k) && h.get(k.len()).is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'_'))
        {
            let lines = self.by_origin.entry(origin.to_string()).or_default();
            lines.retain(|l| !l[1..].starts_with(key));
            lines.push(line.to_vec());
        }
        true
    }

    /// The header lines of `origin`, if any were seen.
    pub fn header(&self, origin: &str) -> &[Vec<u8>] {
        self.by_origin.get(origin).map_or(&[], Vec::as_slice)
    }
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
            zeek_headers: Default::default(),
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
        let budget = envelope::log_payload_budget(self.max_record);
        let zeek = source_type == "zeek";
        let mut headers = self.zeek_headers.lock().unwrap_or_else(|p| p.into_inner());
        // Origins whose header this record already carries.
        let mut headed: std::collections::HashSet<String> = std::collections::HashSet::new();
        for (received, origin, line) in lines {
            let line = if line.len() > MAX_LINE_BYTES {
                self.metrics.lines_truncated.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(origin, len = line.len(), "log line longer than {MAX_LINE_BYTES} bytes cut");
                &line[..MAX_LINE_BYTES]
            } else {
                line
            };
            let is_header = zeek && headers.observe(origin, line);
            let header_len = |headed: &std::collections::HashSet<String>| -> usize {
                if !zeek || is_header || headed.contains(origin) {
                    return 0;
                }
                headers.header(origin).iter().map(|h| envelope::log_line_len(origin, h)).sum()
            };
            let need = header_len(&headed) + envelope::log_line_len(origin, line);
            if !payload.is_empty() && payload.len() + need > budget {
                let rec = self.writer.record(Kind::Logs, source_type, self.next_sequence(), now, &payload)?;
                out.push(self.out(rec));
                payload.clear();
                headed.clear();
            }
            if zeek && !is_header && headed.insert(origin.to_string()) {
                for h in headers.header(origin) {
                    envelope::push_log_line(&mut payload, received, origin, h);
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use opensoc_schemas::envelope::Envelope;

    #[test]
    fn every_record_of_a_zeek_tsv_file_starts_with_its_header() {
        let mut shipper = Shipper::new("s", 1, Arc::default()).unwrap();
        shipper.max_record = 16 << 10;
        let header: Vec<Vec<u8>> = [
            "#separator \\x09",
            "#set_separator\t,",
            "#path\tconn",
            "#open\t2019-07-08-15-44-37",
            "#fields\tts\tuid\tid.orig_h",
            "#types\ttime\tstring\taddr",
        ]
        .iter()
        .map(|l| l.as_bytes().to_vec())
        .collect();
        let data: Vec<Vec<u8>> =
            (0..600).map(|i| format!("1562600677.{i:06}\tC{i:020}\t192.168.4.{}", i % 250).into_bytes()).collect();
        let lines: Vec<(i64, &str, &[u8])> =
            header.iter().chain(&data).map(|l| (1, "/var/log/zeek/conn.log", l.as_slice())).collect();
        let records = shipper.logs("zeek", lines).unwrap();
        assert!(records.len() >= 3, "{} records", records.len());
        let mut shipped_data = Vec::new();
        for r in &records {
            let env = Envelope::parse(&r.data).unwrap();
            let lines = env.log_lines().unwrap();
            assert_eq!(lines[0].line, b"#separator \\x09", "each record opens with the header");
            assert!(lines.iter().any(|l| l.line.starts_with(b"#fields")));
            shipped_data.extend(lines.into_iter().filter(|l| !l.line.starts_with(b"#")).map(|l| l.line));
        }
        assert_eq!(shipped_data, data, "every data line once, in order");
        // A later batch of the same file (a tail) carries the header too, without #open.
        let more = shipper.logs("zeek", [(2, "/var/log/zeek/conn.log", &b"1562600700.0\tCx\t10.0.0.1"[..])]).unwrap();
        let lines = Envelope::parse(&more[0].data).unwrap().log_lines().unwrap();
        let texts: Vec<String> = lines.iter().map(|l| String::from_utf8_lossy(&l.line).into_owned()).collect();
        assert_eq!(texts.len(), 6, "{texts:?}");
        assert!(!texts.iter().any(|t| t.starts_with("#open")));
        // Other source types are shipped as they are.
        let eve = shipper.logs("suricata-eve", [(3, "eve.json", &b"{}"[..])]).unwrap();
        assert_eq!(Envelope::parse(&eve[0].data).unwrap().log_lines().unwrap().len(), 1);
    }
}
