//! Decoding one stream record into table rows.
//!
//! A record is, in this order of checks: a KPL aggregate (taken apart, each
//! user record decoded on its own); an OpenSOC envelope (rows or log
//! lines); gzip (a CloudWatch Logs subscription, say: decompressed, at most
//! 64 MiB); or a third party's text, one log row per line. What none of
//! these accepts — random bytes, a damaged envelope, a zstd bomb — becomes
//! a quarantine row with the reason and the bytes. Decoding never fails
//! the delivery.
//!
//! A claim-check record names an object in S3 that holds the real record
//! (a packet segment); the caller fetches it ([`super::claim`]) and hands
//! it to [`decode_claimed_record`].

use std::io::Read;

use deltalake::arrow::record_batch::RecordBatch;
use opensoc_enrich::logs::LogParser;
use opensoc_net::capture::GZIP_MAGIC;
use opensoc_rows::tables::{LogRows, QuarantineRows};
use opensoc_schemas::Table;
use opensoc_schemas::envelope::{Envelope, EnvelopeError, Kind, MAX_PAYLOAD_BYTES, is_ours};

use super::StreamRecord;
use super::kpl;
use crate::logs::{LogLine, parse_lines};

/// Source type of lines from records that are not ours.
pub const FOREIGN_SOURCE_TYPE: &str = "stream-raw";
/// `sensor_id` of rows from records that are not ours.
pub const FOREIGN_SENSOR: &str = "external";

/// The rows one record holds.
#[derive(Debug, Default)]
pub struct DecodedRecord {
    /// Rows per table (a table may appear more than once).
    pub batches: Vec<(Table, RecordBatch)>,
    /// User records inside a KPL aggregate (0 when not aggregated).
    pub kpl_user_records: u64,
    /// Quarantine rows among `batches`.
    pub quarantined: u64,
}

/// What decoding works with besides the record: the log parser (its
/// state outlives a delivery) and the quarantine rows being collected.
struct Ctx<'p> {
    parser: &'p mut LogParser,
    quarantine: QuarantineRows,
}

/// Decode one record. `source` names the stream and shard for quarantine
/// rows; log lines are parsed with `parser` (lines that do not parse are
/// quarantined one by one).
pub fn decode_record(r: &StreamRecord, source: &str, parser: &mut LogParser) -> DecodedRecord {
    let mut out = DecodedRecord::default();
    let mut ctx = Ctx { parser, quarantine: QuarantineRows::default() };
    decode_parts(r, source, &mut out, &mut ctx);
    finish(out, ctx.quarantine, source, r)
}

/// Decode a claim-check record whose object was fetched (`Ok`: its bytes)
/// or could not be used (`Err`: why — it is gone, or not what the claim
/// says). A refused claim becomes a quarantine row holding the claim.
pub fn decode_claimed_record(
    r: &StreamRecord,
    source: &str,
    object: Result<&[u8], String>,
    parser: &mut LogParser,
) -> DecodedRecord {
    let mut out = DecodedRecord::default();
    let mut ctx = Ctx { parser, quarantine: QuarantineRows::default() };
    let decoded =
        object.and_then(|bytes| decode_segment(&r.data, bytes, &mut out.batches, &mut ctx).map_err(|e| e.to_string()));
    if let Err(reason) = decoded {
        ctx.quarantine.refuse(source, format!("sequence {}", r.sequence), "claim", reason, &r.data);
    }
    finish(out, ctx.quarantine, source, r)
}

/// The segment a claim record names, checked to be the one it claims
/// (same sensor, sequence and label), decoded.
fn decode_segment(
    claim: &[u8],
    object: &[u8],
    out: &mut Vec<(Table, RecordBatch)>,
    ctx: &mut Ctx<'_>,
) -> Result<(), EnvelopeError> {
    let claim = Envelope::parse(claim)?;
    let check = claim.claim_check()?;
    if object.len() as u64 != check.bytes {
        return Err(EnvelopeError::Claim(format!(
            "{} holds {} bytes, the claim says {}",
            check.uri,
            object.len(),
            check.bytes
        )));
    }
    let env = Envelope::parse_segment(object)?;
    let (c, h) = (&claim.header, &env.header);
    if (c.sensor_id.as_str(), c.sequence, c.label.as_str()) != (h.sensor_id.as_str(), h.sequence, h.label.as_str()) {
        return Err(EnvelopeError::Claim(format!(
            "{} holds record {}/{} ({}), the claim names {}/{} ({})",
            check.uri, h.sensor_id, h.sequence, h.label, c.sensor_id, c.sequence, c.label
        )));
    }
    decode_envelope(env, out, ctx)
}

fn finish(mut out: DecodedRecord, mut quarantine: QuarantineRows, source: &str, r: &StreamRecord) -> DecodedRecord {
    out.quarantined = quarantine.0.len() as u64;
    if let Err(e) = push(&mut out.batches, Table::Quarantine, quarantine.take_batch(FOREIGN_SENSOR)) {
        // Only a bug (builder and schema disagree) gets here; say so loudly.
        tracing::error!(error = %e, source, sequence = %r.sequence, "cannot build quarantine rows");
    }
    out
}

fn decode_parts(r: &StreamRecord, source: &str, out: &mut DecodedRecord, ctx: &mut Ctx<'_>) {
    let parts = match kpl::deaggregate(&r.data) {
        Some(parts) => {
            out.kpl_user_records = parts.len() as u64;
            parts
        }
        None => vec![r.data.as_slice()],
    };
    let aggregated = out.kpl_user_records > 0;
    for (i, part) in parts.into_iter().enumerate() {
        let position = if aggregated {
            format!("sequence {} user record {i}", r.sequence)
        } else {
            format!("sequence {}", r.sequence)
        };
        if let Err(reason) = decode_part(part, r, source, &mut out.batches, ctx) {
            ctx.quarantine.refuse(source, position, "record", reason, part);
        }
    }
}

fn push(
    out: &mut Vec<(Table, RecordBatch)>,
    t: Table,
    b: Result<Option<RecordBatch>, opensoc_rows::RowsError>,
) -> Result<(), String> {
    match b {
        Ok(Some(b)) => out.push((t, b)),
        Ok(None) => {}
        Err(e) => return Err(e.to_string()),
    }
    Ok(())
}

fn decode_part(
    part: &[u8],
    r: &StreamRecord,
    source: &str,
    out: &mut Vec<(Table, RecordBatch)>,
    ctx: &mut Ctx<'_>,
) -> Result<(), String> {
    if is_ours(part) {
        return Envelope::parse(part).and_then(|env| decode_envelope(env, out, ctx)).map_err(|e| e.to_string());
    }
    let text = if part.starts_with(&GZIP_MAGIC) { gunzip(part)? } else { part.to_vec() };
    let text = std::str::from_utf8(&text)
        .map_err(|e| format!("not an OpenSOC record and not text: invalid UTF-8 at byte {}", e.valid_up_to()))?;
    let mut logs = LogRows::default();
    let lines = text.split('\n').map(|l| LogLine {
        received_ns: r.arrival_ns,
        origin: source,
        line: l.as_bytes(),
        line_no: None,
    });
    let counts = parse_lines(ctx.parser, FOREIGN_SOURCE_TYPE, lines, &mut logs, &mut ctx.quarantine);
    if counts == Default::default() {
        return Err("empty record (no lines)".into());
    }
    push(out, Table::Logs, logs.take_batch(FOREIGN_SENSOR))
}

fn decode_envelope(
    env: Envelope<'_>,
    out: &mut Vec<(Table, RecordBatch)>,
    ctx: &mut Ctx<'_>,
) -> Result<(), EnvelopeError> {
    match env.header.kind {
        Kind::Rows => {
            let (t, batches) = env.rows()?;
            out.extend(batches.into_iter().filter(|b| b.num_rows() > 0).map(|b| (t, b)));
        }
        Kind::Logs => {
            let mut logs = LogRows::default();
            let entries = env.log_lines()?;
            let lines = entries.iter().map(|l| LogLine {
                received_ns: l.received_ns,
                origin: &l.origin,
                line: &l.line,
                line_no: None,
            });
            parse_lines(ctx.parser, &env.header.label, lines, &mut logs, &mut ctx.quarantine);
            if let Some(b) = logs.take_batch(&env.header.sensor_id).map_err(|e| EnvelopeError::Rows(e.to_string()))? {
                out.push((Table::Logs, b));
            }
        }
        Kind::Packets => {
            return Err(EnvelopeError::Rows(
                "raw packet records are not ingested: ship flow chunks (rows of the packets table)".into(),
            ));
        }
        Kind::Claim => {
            // Top-level claims are fetched before decoding; one that gets
            // here is malformed (say how) or inside a KPL aggregate (the
            // sensor never makes those), which is not followed.
            env.claim_check()?;
            return Err(EnvelopeError::Claim("a claim check inside a KPL aggregate is not followed".into()));
        }
    }
    Ok(())
}

fn gunzip(part: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(part)
        .take(MAX_PAYLOAD_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip record does not decompress: {e}"))?;
    if out.len() > MAX_PAYLOAD_BYTES {
        return Err(format!("gzip record decompresses past {MAX_PAYLOAD_BYTES} bytes"));
    }
    Ok(out)
}
