//! Log files read once (replay): every line shipped raw with its source
//! type — Suricata EVE, Zeek JSON, other JSON lines, or syslog.

use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::send::{Shipment, send_blocking};
use tokio::sync::mpsc;

use crate::ship::{Shipper, now_ns};

/// Lines shipped per batch of records.
const LINES_PER_BATCH: usize = 10_000;

/// The source type a line suggests.
pub fn detect_source_type(line: &[u8]) -> &'static str {
    let t = line.trim_ascii_start();
    if t.starts_with(b"{") {
        let has = |k: &[u8]| t.windows(k.len()).any(|w| w == k);
        if has(b"\"event_type\"") {
            "suricata-eve"
        } else if has(b"\"uid\"") || has(b"\"_path\"") {
            "zeek"
        } else {
            "json"
        }
    } else if t.starts_with(b"#separator") || t.starts_with(b"#fields") {
        "zeek"
    } else if t.starts_with(b"<") || t.starts_with(b"CEF:") {
        if t.starts_with(b"CEF:") { "cef" } else { "syslog" }
    } else {
        "syslog"
    }
}

/// Ship every line of `path`; `source_type` overrides detection (which
/// looks at the first non-empty line). Returns the lines shipped.
pub fn replay_file(
    path: &Path,
    source_type: Option<&str>,
    shipper: &Shipper,
    tx: &mpsc::Sender<Shipment>,
) -> anyhow::Result<u64> {
    let origin = path.display().to_string();
    let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut lines: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut kind: Option<String> = source_type.map(str::to_string);
    let mut total = 0u64;
    let mut buf = Vec::new();
    let flush = |lines: &mut Vec<(i64, Vec<u8>)>, kind: &str| -> anyhow::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let recs = shipper.logs(kind, lines.iter().map(|(t, l)| (*t, origin.as_str(), l.as_slice())))?;
        lines.clear();
        send_blocking(tx, recs)
    };
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            continue;
        }
        let k = kind.get_or_insert_with(|| detect_source_type(line).to_string());
        lines.push((now_ns(), line.to_vec()));
        total += 1;
        if lines.len() >= LINES_PER_BATCH {
            let k = k.clone();
            flush(&mut lines, &k)?;
        }
    }
    if let Some(k) = kind {
        flush(&mut lines, &k)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_types_are_told_apart() {
        assert_eq!(detect_source_type(br#"{"timestamp":"x","event_type":"alert"}"#), "suricata-eve");
        assert_eq!(detect_source_type(b"#separator \\x09"), "zeek");
        assert_eq!(detect_source_type(br#"{"ts":1.0,"uid":"C1","id.orig_h":"1.2.3.4"}"#), "zeek");
        assert_eq!(detect_source_type(br#"{"a":1}"#), "json");
        assert_eq!(detect_source_type(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed"), "syslog");
        assert_eq!(detect_source_type(b"CEF:0|Security|threatmanager|1.0|100|worm|10|src=10.0.0.1"), "cef");
    }
}
