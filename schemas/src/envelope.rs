//! The stream envelope: how the sensor (or anyone) puts OpenSOC data on a
//! Kinesis-compatible stream.
//!
//! A record is a fixed header followed by a payload, compressed with zstd:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `OSOC` |
//! | 4 | 1 | format version (1) |
//! | 5 | 1 | [`Kind`] |
//! | 6 | 1 | [`Codec`] |
//! | 7 | 1 | reserved, 0 |
//! | 8 | 8 | sensor sequence number (u64, big-endian) |
//! | 16 | 8 | creation time (i64 ns since the epoch, big-endian) |
//! | 24 | 4 | payload length once decompressed (u32, big-endian) |
//! | 28 | 1 | sensor id length *n* (1..=64) |
//! | 29 | *n* | sensor id (UTF-8) |
//! | 29+*n* | 1 | label length *m* (0..=64) |
//! | 30+*n* | *m* | label (UTF-8): the table of `rows`, the source type of `logs`, the link type of `packets` |
//! | 30+*n*+*m* | … | payload |
//!
//! Payloads: `rows` is an Arrow IPC stream in the labelled table's schema;
//! `logs` is a run of entries (i64 receive time ns, u16 origin length,
//! origin, u32 line length, line; big-endian); `packets` is a run of pcap
//! records (little-endian, ns), the format of a flow chunk's `data`.
//!
//! A record is at most [`MAX_RECORD_BYTES`]. Decoding trusts nothing: every
//! length is checked and decompression stops at the declared size, which
//! may not exceed [`MAX_PAYLOAD_BYTES`] (no zstd bombs).

use std::io::Read;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::StreamWriter;

use crate::Table;

/// The first four bytes of every OpenSOC record.
pub const MAGIC: [u8; 4] = *b"OSOC";
/// The envelope format version this crate writes and reads.
pub const VERSION: u8 = 1;
/// The largest record Kinesis takes (1 MiB).
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// How many bytes of log lines to put in one record of at most
/// `max_record` bytes: room is left for the header and for zstd's worst
/// case on incompressible text.
pub fn log_payload_budget(max_record: usize) -> usize {
    max_record - 4096 - max_record / 64
}

/// The largest payload a record may declare once decompressed.
pub const MAX_PAYLOAD_BYTES: usize = 64 << 20;
/// The largest record a claim check may name (a segment in S3).
pub const MAX_SEGMENT_BYTES: usize = 64 << 20;
/// The longest sensor id and label.
pub const MAX_NAME_LEN: usize = 64;
const FIXED_HEADER: usize = 29;
/// Where the sensor sequence number sits in the header.
const SEQUENCE_AT: std::ops::Range<usize> = 8..16;

/// What a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Rows of one table (label = table name), Arrow IPC.
    Rows = 1,
    /// Raw log lines (label = source type).
    Logs = 2,
    /// Raw packets of one link type (label = link type number).
    Packets = 3,
    /// A claim check: the payload ([`ClaimCheck`], JSON) names an object
    /// in S3 that holds one record of another kind, too large for the
    /// stream (label = that record's label).
    Claim = 4,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        match v {
            1 => Some(Kind::Rows),
            2 => Some(Kind::Logs),
            3 => Some(Kind::Packets),
            4 => Some(Kind::Claim),
            _ => None,
        }
    }

    /// The kind's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rows => "rows",
            Kind::Logs => "logs",
            Kind::Packets => "packets",
            Kind::Claim => "claim",
        }
    }
}

/// How the payload is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Codec {
    /// Not compressed.
    None = 0,
    /// zstd.
    Zstd = 1,
}

/// Why a record could not be decoded. Each names what was wrong, for the
/// quarantine row.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Shorter than its header says.
    #[error("record truncated: {what} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field.
        what: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// Not an OpenSOC record.
    #[error("no OpenSOC magic")]
    NotOurs,
    /// A newer format.
    #[error("unsupported envelope version {0}")]
    Version(u8),
    /// Unknown kind.
    #[error("unknown record kind {0}")]
    Kind(u8),
    /// Unknown codec.
    #[error("unknown codec {0}")]
    Codec(u8),
    /// A name is empty, too long or not UTF-8.
    #[error("bad {0} in the header")]
    Name(&'static str),
    /// The declared payload size is over the limit.
    #[error("payload declares {0} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit")]
    TooLarge(usize),
    /// The record is over the stream's record limit (or a segment's).
    #[error(
        "record of {0} bytes is over the limit ({MAX_RECORD_BYTES} bytes on the stream, {MAX_SEGMENT_BYTES} in a segment)"
    )]
    RecordTooLarge(usize),
    /// zstd failed, or the payload's size differs from the declared one.
    #[error("payload does not decompress: {0}")]
    Decompress(String),
    /// The label names no table.
    #[error("unknown table {0:?}")]
    UnknownTable(String),
    /// The Arrow payload is damaged or has the wrong schema.
    #[error("rows payload: {0}")]
    Rows(String),
    /// A claim check that names nothing usable, or an object that is not
    /// what it names.
    #[error("claim check: {0}")]
    Claim(String),
    /// A logs or packets payload is damaged.
    #[error("{kind} payload damaged at byte {offset}")]
    Payload {
        /// The kind.
        kind: &'static str,
        /// Where.
        offset: usize,
    },
}

/// The header of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// What the record carries.
    pub kind: Kind,
    /// How the payload is compressed.
    pub codec: Codec,
    /// The sensor's sequence number of this record.
    pub sequence: u64,
    /// When the record was made (ns since the epoch).
    pub created_ns: i64,
    /// The sensor.
    pub sensor_id: String,
    /// Table, source type or link type (see [`Kind`]).
    pub label: String,
}

/// A parsed record: its header and its (still compressed) payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The header.
    pub header: Header,
    /// Declared decompressed payload size.
    pub payload_len: usize,
    /// The payload as stored.
    pub payload: &'a [u8],
}

/// The sensor sequence number of a record this crate wrote (no other check).
pub fn record_sequence(record: &[u8]) -> Option<u64> {
    record.get(SEQUENCE_AT).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
}

/// True when `bytes` starts with the OpenSOC magic (anything else on the
/// stream is a third party's raw log line).
pub fn is_ours(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

fn take<'a>(b: &'a [u8], at: usize, n: usize, what: &'static str) -> Result<&'a [u8], EnvelopeError> {
    b.get(at..at + n).ok_or(EnvelopeError::Truncated { what, needed: n, available: b.len().saturating_sub(at) })
}

fn name(b: &[u8], what: &'static str, allow_empty: bool) -> Result<String, EnvelopeError> {
    if (!allow_empty && b.is_empty()) || b.len() > MAX_NAME_LEN {
        return Err(EnvelopeError::Name(what));
    }
    std::str::from_utf8(b).map(str::to_string).map_err(|_| EnvelopeError::Name(what))
}

impl<'a> Envelope<'a> {
    /// Parse a stream record's header (at most [`MAX_RECORD_BYTES`]).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, EnvelopeError> {
        Self::parse_within(bytes, MAX_RECORD_BYTES)
    }

    /// Parse the record a claim check names (at most
    /// [`MAX_SEGMENT_BYTES`]; never a claim check itself).
    pub fn parse_segment(bytes: &'a [u8]) -> Result<Self, EnvelopeError> {
        let env = Self::parse_within(bytes, MAX_SEGMENT_BYTES)?;
        if env.header.kind == Kind::Claim {
            return Err(EnvelopeError::Claim("a claimed object is itself a claim check".into()));
        }
        Ok(env)
    }

    fn parse_within(bytes: &'a [u8], limit: usize) -> Result<Self, EnvelopeError> {
        if !is_ours(bytes) {
            return Err(EnvelopeError::NotOurs);
        }
        if bytes.len() > limit {
            return Err(EnvelopeError::RecordTooLarge(bytes.len()));
        }
        let h = take(bytes, 0, FIXED_HEADER, "header")?;
        if h[4] != VERSION {
            return Err(EnvelopeError::Version(h[4]));
        }
        let kind = Kind::from_u8(h[5]).ok_or(EnvelopeError::Kind(h[5]))?;
        let codec = match h[6] {
            0 => Codec::None,
            1 => Codec::Zstd,
            c => return Err(EnvelopeError::Codec(c)),
        };
        let u64_at = |i: usize| u64::from_be_bytes(h[i..i + 8].try_into().unwrap_or_default());
        let payload_len = u32::from_be_bytes(h[24..28].try_into().unwrap_or_default()) as usize;
        if payload_len > MAX_PAYLOAD_BYTES {
            return Err(EnvelopeError::TooLarge(payload_len));
        }
        let n = h[28] as usize;
        let sensor_id = name(take(bytes, FIXED_HEADER, n, "sensor id")?, "sensor id", false)?;
        let m = take(bytes, FIXED_HEADER + n, 1, "label length")?[0] as usize;
        let label = name(take(bytes, FIXED_HEADER + n + 1, m, "label")?, "label", true)?;
        let payload = &bytes[FIXED_HEADER + n + 1 + m..];
        let header = Header {
            kind,
            codec,
            sequence: u64_at(SEQUENCE_AT.start),
            created_ns: u64_at(16) as i64,
            sensor_id,
            label,
        };
        Ok(Envelope { header, payload_len, payload })
    }

    /// The payload, decompressed; never more than the declared size.
    pub fn decompress(&self) -> Result<Vec<u8>, EnvelopeError> {
        let bad = |e: String| EnvelopeError::Decompress(e);
        let out = match self.header.codec {
            Codec::None => self.payload.to_vec(),
            Codec::Zstd => {
                let mut dec = zstd::stream::read::Decoder::new(self.payload).map_err(|e| bad(e.to_string()))?;
                let mut out = Vec::with_capacity(self.payload_len.min(MAX_RECORD_BYTES * 8));
                // One byte more than declared tells a lying header.
                (&mut dec).take(self.payload_len as u64 + 1).read_to_end(&mut out).map_err(|e| bad(e.to_string()))?;
                out
            }
        };
        if out.len() != self.payload_len {
            return Err(bad(format!("{} bytes, header says {}", out.len(), self.payload_len)));
        }
        Ok(out)
    }

    /// The rows of a `rows` record, checked against the labelled table's schema.
    pub fn rows(&self) -> Result<(Table, Vec<RecordBatch>), EnvelopeError> {
        let table = Table::from_name(&self.header.label)
            .ok_or_else(|| EnvelopeError::UnknownTable(self.header.label.clone()))?;
        let bad = |e: String| EnvelopeError::Rows(e);
        // The push decoder slices the payload it is given: a length in a
        // message that points past the payload is an error, never an
        // allocation of that length (the pull reader allocates first, so a
        // forged 2 GB length was a 2 GB allocation).
        let mut payload = Buffer::from_vec(self.decompress()?);
        let mut decoder = StreamDecoder::new();
        let expected = table.schema();
        let mut out = Vec::new();
        while let Some(b) = decoder.decode(&mut payload).map_err(|e| bad(e.to_string()))? {
            if !schemas_match(b.schema().as_ref(), &expected) {
                return Err(bad(format!("schema differs from the {} table's", table.name())));
            }
            // Rebuild with the canonical schema (metadata and all).
            let b = RecordBatch::try_new(expected.clone(), b.columns().to_vec()).map_err(|e| bad(e.to_string()))?;
            out.push(b);
        }
        decoder.finish().map_err(|e| bad(format!("cut short: {e}")))?;
        match decoder.schema() {
            None => Err(bad("no Arrow IPC schema message".into())),
            Some(s) if !schemas_match(s.as_ref(), &expected) => {
                Err(bad(format!("schema differs from the {} table's", table.name())))
            }
            Some(_) => Ok((table, out)),
        }
    }

    /// The entries of a `logs` record.
    pub fn log_lines(&self) -> Result<Vec<LogLine>, EnvelopeError> {
        decode_log_lines(&self.decompress()?)
    }

    /// The object a `claim` record names.
    pub fn claim_check(&self) -> Result<ClaimCheck, EnvelopeError> {
        if self.header.kind != Kind::Claim {
            return Err(EnvelopeError::Claim(format!("a {} record is not a claim check", self.header.kind.name())));
        }
        ClaimCheck::decode(&self.decompress()?)
    }
}

/// Where a record too large for the stream was put, and how to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCheck {
    /// The object, `s3://bucket/key`.
    pub uri: String,
    /// Its exact size.
    pub bytes: u64,
}

impl ClaimCheck {
    /// The payload of a claim record: `uri` and `bytes` on two lines.
    pub fn encode(&self) -> Vec<u8> {
        format!("{}\n{}", self.uri, self.bytes).into_bytes()
    }

    /// Read a claim record's payload.
    pub fn decode(payload: &[u8]) -> Result<ClaimCheck, EnvelopeError> {
        let bad = |why: &str| EnvelopeError::Claim(why.to_string());
        let text = std::str::from_utf8(payload).map_err(|_| bad("claim check is not UTF-8"))?;
        let (uri, bytes) = text.split_once('\n').ok_or_else(|| bad("claim check has no size line"))?;
        if !uri.starts_with("s3://")
            || uri.len() > 1024
            || uri[5..].split_once('/').is_none_or(|(b, k)| b.is_empty() || k.is_empty())
        {
            return Err(bad("claim check names no s3://bucket/key"));
        }
        let bytes: u64 = bytes.trim().parse().map_err(|_| bad("claim check size is not a number"))?;
        if bytes as usize > MAX_SEGMENT_BYTES {
            return Err(bad("claimed object is larger than a segment may be"));
        }
        Ok(ClaimCheck { uri: uri.to_string(), bytes })
    }

    /// The bucket and the key.
    pub fn bucket_and_key(&self) -> (&str, &str) {
        self.uri[5..].split_once('/').unwrap_or(("", ""))
    }
}

/// True when `bytes` is one of our records of kind `claim` (without
/// checking the rest).
pub fn is_claim(bytes: &[u8]) -> bool {
    is_ours(bytes) && bytes.get(5) == Some(&(Kind::Claim as u8))
}

fn schemas_match(got: &arrow_schema::Schema, want: &arrow_schema::Schema) -> bool {
    got.fields().len() == want.fields().len()
        && got.fields().iter().zip(want.fields()).all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type())
}

/// One raw log line and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When the sensor received it (ns since the epoch).
    pub received_ns: i64,
    /// Where: a file path or a peer address.
    pub origin: String,
    /// The line, without its terminator; not necessarily UTF-8.
    pub line: Vec<u8>,
}

/// Append one log entry to a logs payload.
pub fn push_log_line(out: &mut Vec<u8>, received_ns: i64, origin: &str, line: &[u8]) {
    let origin = &origin.as_bytes()[..origin.len().min(u16::MAX as usize)];
    out.extend_from_slice(&received_ns.to_be_bytes());
    out.extend_from_slice(&(origin.len() as u16).to_be_bytes());
    out.extend_from_slice(origin);
    out.extend_from_slice(&(line.len() as u32).to_be_bytes());
    out.extend_from_slice(line);
}

/// Bytes a log entry takes in a payload.
pub fn log_line_len(origin: &str, line: &[u8]) -> usize {
    8 + 2 + origin.len().min(u16::MAX as usize) + 4 + line.len()
}

fn decode_log_lines(p: &[u8]) -> Result<Vec<LogLine>, EnvelopeError> {
    let mut out = Vec::new();
    let mut at = 0;
    let bad = |offset| EnvelopeError::Payload { kind: "logs", offset };
    while at < p.len() {
        let start = at;
        let ts = p.get(at..at + 8).ok_or(bad(start))?;
        let olen = p.get(at + 8..at + 10).ok_or(bad(start))?;
        let olen = u16::from_be_bytes([olen[0], olen[1]]) as usize;
        let origin = p.get(at + 10..at + 10 + olen).ok_or(bad(start))?;
        at += 10 + olen;
        let llen = p.get(at..at + 4).ok_or(bad(start))?;
        let llen = u32::from_be_bytes([llen[0], llen[1], llen[2], llen[3]]) as usize;
        let line = p.get(at + 4..at + 4 + llen).ok_or(bad(start))?;
        at += 4 + llen;
        out.push(LogLine {
            received_ns: i64::from_be_bytes(ts.try_into().unwrap_or_default()),
            origin: String::from_utf8_lossy(origin).into_owned(),
            line: line.to_vec(),
        });
    }
    Ok(out)
}

/// Builds records: the header fields, then a payload.
#[derive(Debug, Clone)]
pub struct RecordWriter {
    sensor_id: String,
    zstd_level: i32,
}

/// A sensor id that is empty or longer than [`MAX_NAME_LEN`] bytes.
#[derive(Debug, thiserror::Error)]
#[error("sensor id must be 1 to {MAX_NAME_LEN} bytes, got {0:?}")]
pub struct BadSensorId(pub String);

/// Encoding failed.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Arrow IPC writing failed.
    #[error("arrow ipc: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// zstd failed.
    #[error("zstd: {0}")]
    Zstd(#[from] std::io::Error),
    /// One row (or entry) alone does not fit in a record.
    #[error("one {0} row does not fit in a {MAX_RECORD_BYTES}-byte record")]
    RowTooLarge(&'static str),
}

impl RecordWriter {
    /// Records from `sensor_id`, zstd at `zstd_level` (1 is fast; 3 the default).
    pub fn new(sensor_id: &str, zstd_level: i32) -> Result<Self, BadSensorId> {
        if sensor_id.is_empty() || sensor_id.len() > MAX_NAME_LEN {
            return Err(BadSensorId(sensor_id.to_string()));
        }
        Ok(RecordWriter { sensor_id: sensor_id.to_string(), zstd_level })
    }

    /// One record around an already-built payload.
    pub fn record(
        &self,
        kind: Kind,
        label: &str,
        sequence: u64,
        created_ns: i64,
        payload: &[u8],
    ) -> Result<Vec<u8>, EncodeError> {
        let label = &label[..label.len().min(MAX_NAME_LEN)];
        // With the frame checksum, a damaged payload fails to decompress
        // instead of decoding to different bytes.
        let mut zc = zstd::bulk::Compressor::new(self.zstd_level)?;
        zc.include_checksum(true)?;
        let compressed = zc.compress(payload)?;
        let mut out = Vec::with_capacity(FIXED_HEADER + self.sensor_id.len() + 1 + label.len() + compressed.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[VERSION, kind as u8, Codec::Zstd as u8, 0]);
        out.extend_from_slice(&sequence.to_be_bytes());
        out.extend_from_slice(&created_ns.to_be_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.push(self.sensor_id.len() as u8);
        out.extend_from_slice(self.sensor_id.as_bytes());
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
        out.extend_from_slice(&compressed);
        Ok(out)
    }

    /// A table's rows as records of at most `max_record` bytes each
    /// (normally [`MAX_RECORD_BYTES`]); `next_sequence` numbers them.
    pub fn rows_records(
        &self,
        table: Table,
        batch: &RecordBatch,
        max_record: usize,
        created_ns: i64,
        next_sequence: &mut impl FnMut() -> u64,
    ) -> Result<Vec<Vec<u8>>, EncodeError> {
        let mut out = Vec::new();
        let mut start = 0;
        let rows = batch.num_rows();
        // First guess from the in-memory size; halve on overflow.
        let mem = batch.get_array_memory_size().max(1);
        let per_row = mem.div_ceil(rows.max(1));
        while start < rows {
            let mut n = ((max_record * 2) / per_row).clamp(1, rows - start);
            loop {
                let payload = ipc_bytes(&batch.slice(start, n))?;
                let mut rec = self.record(Kind::Rows, table.name(), 0, created_ns, &payload)?;
                if rec.len() <= max_record {
                    // Numbered only once it fits, so sequence numbers have no gaps.
                    rec[SEQUENCE_AT].copy_from_slice(&next_sequence().to_be_bytes());
                    out.push(rec);
                    start += n;
                    break;
                }
                if n == 1 {
                    return Err(EncodeError::RowTooLarge(table.name()));
                }
                n /= 2;
            }
        }
        Ok(out)
    }
}

/// A batch as an Arrow IPC stream.
pub fn ipc_bytes(batch: &RecordBatch) -> Result<Vec<u8>, arrow_schema::ArrowError> {
    let mut buf = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut buf, &batch.schema())?;
        w.write(batch)?;
        w.finish()?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, RecordBatch};
    use std::sync::Arc;

    fn quarantine_batch(rows: usize, raw_len: usize) -> RecordBatch {
        let schema = Table::Quarantine.schema();
        let cols: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                "raw" => Arc::new(arrow_array::BinaryArray::from_iter_values(
                    (0..rows).map(|i| (0..raw_len).map(|j| ((i * 31 + j * 7) % 251) as u8).collect::<Vec<_>>()),
                )) as ArrayRef,
                _ if f.is_nullable() => arrow_array::new_null_array(f.data_type(), rows),
                _ => match f.data_type() {
                    arrow_schema::DataType::Utf8 => {
                        Arc::new(arrow_array::StringArray::from(vec!["x"; rows])) as ArrayRef
                    }
                    arrow_schema::DataType::Date32 => Arc::new(arrow_array::Date32Array::from(vec![1; rows])),
                    arrow_schema::DataType::Timestamp(_, _) => {
                        Arc::new(arrow_array::TimestampMicrosecondArray::from(vec![1; rows]).with_timezone("UTC"))
                    }
                    other => panic!("no test value for {other}"),
                },
            })
            .collect();
        RecordBatch::try_new(schema, cols).unwrap()
    }

    #[test]
    fn rows_round_trip_and_split_under_the_record_limit() {
        let w = RecordWriter::new("sensor-a", 3).unwrap();
        let batch = quarantine_batch(300, 10_000); // ~3 MB of incompressible-ish bytes
        let mut seq = 0u64;
        let recs = w
            .rows_records(Table::Quarantine, &batch, 1 << 20, 7, &mut || {
                seq += 1;
                seq
            })
            .unwrap();
        assert!(recs.len() >= 2, "3 MB cannot fit one record");
        let mut total = 0;
        for (i, r) in recs.iter().enumerate() {
            assert!(r.len() <= 1 << 20);
            let env = Envelope::parse(r).unwrap();
            assert_eq!(env.header.sequence, i as u64 + 1);
            assert_eq!(env.header.sensor_id, "sensor-a");
            assert_eq!(env.header.created_ns, 7);
            let (t, batches) = env.rows().unwrap();
            assert_eq!(t, Table::Quarantine);
            total += batches.iter().map(|b| b.num_rows()).sum::<usize>();
        }
        assert_eq!(total, 300);
    }

    #[test]
    fn log_lines_round_trip() {
        let w = RecordWriter::new("s", 1).unwrap();
        let mut p = Vec::new();
        push_log_line(&mut p, 5, "/var/log/x", b"hello");
        push_log_line(&mut p, 6, "10.0.0.1:514", b"\xff\xfe not utf8");
        assert_eq!(p.len(), log_line_len("/var/log/x", b"hello") + log_line_len("10.0.0.1:514", b"\xff\xfe not utf8"));
        let r = w.record(Kind::Logs, "syslog", 1, 0, &p).unwrap();
        let env = Envelope::parse(&r).unwrap();
        assert_eq!(env.header.label, "syslog");
        let lines = env.log_lines().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].line, b"\xff\xfe not utf8");
        assert_eq!(lines[1].origin, "10.0.0.1:514");
    }

    #[test]
    fn claim_checks_round_trip_and_bad_ones_are_named() {
        let w = RecordWriter::new("s", 1).unwrap();
        let c = ClaimCheck { uri: "s3://bucket/segments/s/1.osoc".into(), bytes: 12345 };
        let rec = w.record(Kind::Claim, "packets", 7, 0, &c.encode()).unwrap();
        assert!(is_claim(&rec));
        let env = Envelope::parse(&rec).unwrap();
        assert_eq!(env.claim_check().unwrap(), c);
        assert_eq!(c.bucket_and_key(), ("bucket", "segments/s/1.osoc"));
        for bad in [&b"s3://bucket\n1"[..], b"http://b/k\n1", b"s3://b/k", b"s3://b/k\nmany", b"s3://b/k\n99999999999"]
        {
            assert!(matches!(ClaimCheck::decode(bad), Err(EnvelopeError::Claim(_))), "{bad:?}");
        }
        // A segment may be large, but not a claim of a claim.
        let big = w.record(Kind::Logs, "syslog", 8, 0, &vec![b'x'; 3 << 20]).unwrap();
        assert!(Envelope::parse(&big).is_ok(), "zstd makes it small");
        assert!(Envelope::parse_segment(&rec).is_err());
        let logs = w.record(Kind::Logs, "syslog", 1, 0, b"").unwrap();
        assert!(matches!(Envelope::parse(&logs).unwrap().claim_check(), Err(EnvelopeError::Claim(_))));
    }

    #[test]
    fn hostile_records_get_precise_errors() {
        let w = RecordWriter::new("s", 1).unwrap();
        let good = w.record(Kind::Logs, "syslog", 1, 0, b"").unwrap();
        assert_eq!(Envelope::parse(b"hello world").unwrap_err(), EnvelopeError::NotOurs);
        for cut in 4..good.len() - 1 {
            let e = Envelope::parse(&good[..cut]).and_then(|e| e.log_lines());
            assert!(e.is_err(), "cut at {cut} parsed");
        }
        let mut bad_kind = good.clone();
        bad_kind[5] = 99;
        assert_eq!(Envelope::parse(&bad_kind).unwrap_err(), EnvelopeError::Kind(99));
        // A header that lies about the payload size: a bomb is refused, a
        // mismatch is caught.
        let mut bomb = good.clone();
        bomb[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(Envelope::parse(&bomb).unwrap_err(), EnvelopeError::TooLarge(_)));
        let mut lie = w.record(Kind::Logs, "syslog", 1, 0, &[0u8; 1000]).unwrap();
        lie[24..28].copy_from_slice(&10u32.to_be_bytes());
        assert!(matches!(Envelope::parse(&lie).unwrap().decompress(), Err(EnvelopeError::Decompress(_))));
        // A flipped bit in the payload is caught by the frame checksum.
        let mut flipped = w.record(Kind::Logs, "syslog", 1, 0, b"some log line that compresses").unwrap();
        let n = flipped.len();
        flipped[n - 6] ^= 0x10;
        assert!(matches!(Envelope::parse(&flipped).unwrap().log_lines(), Err(EnvelopeError::Decompress(_))));
        // Garbage where zstd should be.
        let mut garbage = w.record(Kind::Rows, "flows", 1, 0, b"xxxx").unwrap();
        let n = garbage.len();
        garbage[n - 6..].copy_from_slice(b"ZZZZZZ");
        assert!(Envelope::parse(&garbage).unwrap().rows().is_err());
        // Rows of the wrong schema.
        let q = ipc_bytes(&quarantine_batch(1, 1)).unwrap();
        let wrong = w.record(Kind::Rows, "flows", 1, 0, &q).unwrap();
        assert!(matches!(Envelope::parse(&wrong).unwrap().rows(), Err(EnvelopeError::Rows(_))));
        let unknown = w.record(Kind::Rows, "nope", 1, 0, &q).unwrap();
        assert!(matches!(Envelope::parse(&unknown).unwrap().rows(), Err(EnvelopeError::UnknownTable(_))));
        // Rows cut short, and rows with nothing in them.
        let cut = w.record(Kind::Rows, "quarantine", 1, 0, &q[..q.len() - 20]).unwrap();
        assert!(matches!(Envelope::parse(&cut).unwrap().rows(), Err(EnvelopeError::Rows(_))));
        let empty = w.record(Kind::Rows, "quarantine", 1, 0, b"").unwrap();
        assert!(matches!(Envelope::parse(&empty).unwrap().rows(), Err(EnvelopeError::Rows(_))));
    }

    /// Found by the `envelope` fuzz target: an IPC message whose lengths
    /// claim far more than the payload holds must be refused without
    /// allocating what it claims.
    #[test]
    fn forged_ipc_lengths_are_errors_not_allocations() {
        let w = RecordWriter::new("s", 1).unwrap();
        let ipc = ipc_bytes(&quarantine_batch(3, 10)).unwrap();
        // The stream: [FFFFFFFF, len, schema message], [FFFFFFFF, len, batch message, body], EOS.
        let len_at = |at: usize| i32::from_le_bytes(ipc[at + 4..at + 8].try_into().unwrap()) as usize;
        let batch_at = 8 + len_at(0);
        let meta = batch_at + 8..batch_at + 8 + len_at(batch_at);
        let body = arrow_ipc::root_as_message(&ipc[meta.clone()]).unwrap().bodyLength();
        let needle = body.to_le_bytes();
        let hits: Vec<usize> = (meta.start..meta.end - 8).filter(|&i| ipc[i..i + 8] == needle).collect();
        assert_eq!(hits.len(), 1, "the body length appears once in the batch message");
        // A body of 1 TiB: the pull reader would try to allocate it.
        let mut forged = ipc.clone();
        forged[hits[0]..hits[0] + 8].copy_from_slice(&(1i64 << 40).to_le_bytes());
        let rec = w.record(Kind::Rows, "quarantine", 1, 0, &forged).unwrap();
        assert!(matches!(Envelope::parse(&rec).unwrap().rows(), Err(EnvelopeError::Rows(_))));
        // A 2 GB metadata length (the fuzzer's find).
        let mut forged = ipc.clone();
        forged[batch_at + 4..batch_at + 8].copy_from_slice(&0x7fff_fff0i32.to_le_bytes());
        let rec = w.record(Kind::Rows, "quarantine", 1, 0, &forged).unwrap();
        assert!(matches!(Envelope::parse(&rec).unwrap().rows(), Err(EnvelopeError::Rows(_))));
        // The fuzzer's input itself.
        let found = b"OSOC\x01\x01\x00\x00\x0a\x00\x00\xcdDDDDFDDE\x03\x03\x03u\x00\x00\x00\x0b\x03\x03\x03\x03\x04http\x00\x00\x03u\x00\x00\x00\x0b\x00\x00\x00";
        if let Ok(env) = Envelope::parse_segment(found) {
            assert!(env.rows().is_err());
        }
    }
}
