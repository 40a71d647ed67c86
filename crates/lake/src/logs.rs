//! Log lines into `logs` rows: each line parsed by its source type's
//! parser ([`opensoc_enrich::logs`]); a line its format refuses goes to
//! `quarantine` with its bytes and the parser's reason, and the rest go on.

use opensoc_enrich::logs::{LogParser, Parsed};
use opensoc_rows::tables::{LogRows, QuarantineRows};

/// Quarantine stage of lines a parser refused.
pub const PARSE_STAGE: &str = "parse";

/// One line to parse.
#[derive(Debug, Clone, Copy)]
pub struct LogLine<'a> {
    /// When it was received (ns).
    pub received_ns: i64,
    /// File path or peer address.
    pub origin: &'a str,
    /// The line's bytes.
    pub line: &'a [u8],
    /// The line's number in its file, when known (for quarantine rows).
    pub line_no: Option<u64>,
}

/// What parsing a run of lines did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ParseCounts {
    /// Log events.
    pub events: u64,
    /// Header lines consumed (Zeek's `#fields` and friends).
    pub headers: u64,
    /// Lines quarantined.
    pub quarantined: u64,
}

/// Parse `lines` declared as `source_type` into `rows`, quarantining the
/// ones that do not parse. Blank lines are skipped.
pub fn parse_lines<'a>(
    parser: &mut LogParser,
    source_type: &str,
    lines: impl IntoIterator<Item = LogLine<'a>>,
    rows: &mut LogRows,
    quarantine: &mut QuarantineRows,
) -> ParseCounts {
    let mut counts = ParseCounts::default();
    for mut l in lines {
        if l.line.trim_ascii().is_empty() {
            continue;
        }
        while let [rest @ .., b'\n' | b'\r'] = l.line {
            l.line = rest;
        }
        match parser.parse(source_type, l.origin, l.received_ns, l.line) {
            Ok(Parsed::Event(row)) => {
                counts.events += 1;
                rows.0.push(*row);
            }
            Ok(Parsed::Header) => counts.headers += 1,
            Err(e) => {
                counts.quarantined += 1;
                let position = match l.line_no {
                    Some(n) => format!("line {n}"),
                    None => format!("line received at {} ns", l.received_ns),
                };
                quarantine.refuse(l.origin, position, PARSE_STAGE, e.to_string(), l.line);
            }
        }
    }
    counts
}

/// Log rows a local ingest gathers before it commits.
pub const LOG_ROWS_PER_BATCH: usize = 200_000;

/// Lines read from a file per parse call.
const LINES_PER_CHUNK: usize = 10_000;

/// Longest line kept whole; longer ones are cut (and will not parse).
const MAX_LINE: usize = 1 << 20;

/// A log file's lines, gunzipped when it starts with the gzip magic.
pub fn open_lines(path: &std::path::Path) -> std::io::Result<Box<dyn std::io::BufRead + Send>> {
    use std::io::{BufRead, BufReader};
    let mut file = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let gz = file.fill_buf()?.starts_with(&opensoc_net::capture::GZIP_MAGIC);
    Ok(if gz {
        Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(file)
    })
}

/// Read up to a chunk of lines (numbered from 1) into `chunk`; true at the
/// end of the file. `progress` counts the bytes read.
pub fn read_chunk(
    mut reader: &mut dyn std::io::BufRead,
    chunk: &mut Vec<(u64, Vec<u8>)>,
    line_no: &mut u64,
    progress: &std::sync::atomic::AtomicU64,
) -> std::io::Result<bool> {
    use std::io::{BufRead, Read};
    while chunk.len() < LINES_PER_CHUNK {
        let mut line = Vec::new();
        let n = Read::take(&mut reader, MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(true);
        }
        progress.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        if line.len() > MAX_LINE && line.last() != Some(&b'\n') {
            // Skip the rest of an over-long line; what was kept is quarantined.
            let mut rest = Vec::new();
            reader.read_until(b'\n', &mut rest)?;
            progress.fetch_add(rest.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        *line_no += 1;
        chunk.push((*line_no, line));
    }
    Ok(false)
}
