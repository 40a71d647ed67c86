//! Log parsers: each line a source ships becomes a row of the `logs` table
//! with normalized columns (time, host, source type, severity, message,
//! endpoints) and its parsed fields as a JSON object — or, when the line is
//! not what its source type says, a [`ParseError`] that the caller turns
//! into a quarantine row holding the raw bytes.
//!
//! | source type | format |
//! |---|---|
//! | `syslog` | RFC 5424 (with structured data) or RFC 3164, with or without `<PRI>`; a CEF payload is parsed as CEF |
//! | `zeek` | Zeek TSV logs (`#fields` headers, remembered per origin) and Zeek JSON logs |
//! | `suricata-eve` | Suricata EVE JSON: alert, dns, http, tls, flow, fileinfo and any other event type |
//! | `cef` | ArcSight Common Event Format, bare or inside syslog |
//! | `json` | generic JSON lines (ECS-style and common field names) |
//! | anything else | detected from the line; text no parser claims is kept as a message |
//!
//! Severity is normalized to the syslog scale: 0 (emergency) … 7 (debug).

mod cef;
mod eve;
mod json;
mod syslog;
mod time;
mod zeek;

use std::collections::HashMap;

pub use opensoc_rows::tables::LogRow;

/// Why a line is not a log event of its source type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_type}: {reason}")]
pub struct ParseError {
    /// The format the line was parsed as.
    pub source_type: &'static str,
    /// What is wrong, precisely.
    pub reason: String,
}

impl ParseError {
    pub(crate) fn new(source_type: &'static str, reason: impl Into<String>) -> Self {
        ParseError { source_type, reason: reason.into() }
    }
}

/// What a parsed line yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A log event.
    Event(Box<LogRow>),
    /// A header or comment line that shapes the lines after it (Zeek's
    /// `#fields`): consumed, not an event.
    Header,
}

/// The line's shape, for a source that did not say (or said `json` or a
/// type no parser knows).
pub fn detect(line: &[u8]) -> &'static str {
    let t = line.trim_ascii_start();
    if t.starts_with(b"{") {
        let has = |k: &[u8]| memchr::memmem::find(t, k).is_some();
        if has(b"\"event_type\"") && (has(b"\"timestamp\"") || has(b"\"flow_id\"")) {
            "suricata-eve"
        } else if has(b"\"uid\"") || has(b"\"_path\"") || has(b"\"id.orig_h\"") {
            "zeek"
        } else {
            "json"
        }
    } else if t.starts_with(b"CEF:") {
        "cef"
    } else if t.starts_with(b"#separator") || t.starts_with(b"#fields") {
        "zeek"
    } else if t.starts_with(b"<") || syslog::starts_with_3164_time(t) {
        "syslog"
    } else {
        "text"
    }
}

/// Parses the lines of many origins; remembers the Zeek TSV headers seen
/// per origin (a file's lines arrive in order, possibly over many records).
#[derive(Debug, Default)]
pub struct LogParser {
    zeek_headers: HashMap<String, zeek::Header>,
}

impl LogParser {
    /// A parser with no headers seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse one line that `origin` shipped as `source_type` and that was
    /// received at `received_ns`.
    ///
    /// A declared type the line does not fit is an error: the line goes to
    /// quarantine. `json`, `stream-raw`, `text` and unknown types are
    /// detected from the line, and text that no parser claims becomes an
    /// event whose message is the line (the producer promised no format).
    /// `json:NAME` is JSON that must parse as such, stored with source type
    /// `NAME`.
    pub fn parse(
        &mut self,
        source_type: &str,
        origin: &str,
        received_ns: i64,
        line: &[u8],
    ) -> Result<Parsed, ParseError> {
        let line = trim_line(line);
        // `json:NAME`: JSON events of a source named NAME (what the webhook
        // ships for `/ingest/NAME`): parsed as JSON, stored as NAME.
        let (source_type, named) = match source_type.strip_prefix("json:") {
            Some(name) if !name.is_empty() => ("json", Some(name)),
            _ => (source_type, None),
        };
        let declared = match source_type {
            "syslog" | "zeek" | "suricata-eve" | "cef" => source_type,
            // The sensor calls JSON that is neither EVE nor Zeek `json`; look
            // again, since a JSON source may still hold either — but what is
            // not JSON at all is not a `json` event.
            "json" => match detect(line) {
                d @ ("suricata-eve" | "zeek") => d,
                _ => "json",
            },
            _ => detect(line),
        };
        let text = std::str::from_utf8(line).map_err(|e| {
            ParseError::new(static_name(declared), format!("not UTF-8 (invalid byte at offset {})", e.valid_up_to()))
        })?;
        let mut row = match declared {
            "syslog" => syslog::parse(text, received_ns)?,
            "zeek" => match zeek::parse(text, origin, &mut self.zeek_headers)? {
                Some(row) => row,
                None => return Ok(Parsed::Header),
            },
            "suricata-eve" => eve::parse(text)?,
            "cef" => cef::parse(text, received_ns)?,
            "json" => json::parse(text)?,
            _ => LogRow { source_type: "text".into(), message: Some(text.to_string()), ..Default::default() },
        };
        if row.ts_ns == 0 {
            row.ts_ns = received_ns;
        }
        row.received_ns = received_ns;
        row.origin = origin.to_string();
        row.raw = line.to_vec();
        if declared == "text" {
            // A foreign or unknown source keeps its own name.
            row.source_type = source_type.to_string();
        }
        if let Some(name) = named {
            row.source_type = name.to_string();
        }
        Ok(Parsed::Event(Box::new(row)))
    }

    /// Forget the Zeek header of `origin` (its file was rotated).
    pub fn forget(&mut self, origin: &str) {
        self.zeek_headers.remove(origin);
    }
}

fn static_name(t: &str) -> &'static str {
    match t {
        "syslog" => "syslog",
        "zeek" => "zeek",
        "suricata-eve" => "suricata-eve",
        "cef" => "cef",
        "json" => "json",
        _ => "text",
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let [rest @ .., b'\n' | b'\r' | 0] = l {
        l = rest;
    }
    l
}

/// Syslog's severities by name, as programs and JSON loggers write them.
pub(crate) fn severity_from_name(s: &str) -> Option<i32> {
    Some(match s.to_ascii_lowercase().as_str() {
        "emerg" | "emergency" | "panic" | "fatal" => 0,
        "alert" => 1,
        "crit" | "critical" => 2,
        "err" | "error" => 3,
        "warn" | "warning" => 4,
        "notice" => 5,
        "info" | "informational" | "information" => 6,
        "debug" | "trace" => 7,
        n => return n.parse::<i32>().ok().filter(|v| (0..=7).contains(v)),
    })
}

/// A port from JSON (number or digits).
pub(crate) fn json_port(v: Option<&serde_json::Value>) -> Option<i32> {
    match v? {
        serde_json::Value::Number(n) => n.as_i64().filter(|p| (0..=65535).contains(p)).map(|p| p as i32),
        serde_json::Value::String(s) => s.parse::<i32>().ok().filter(|p| (0..=65535).contains(p)),
        _ => None,
    }
}

/// An IP address from JSON, kept only when it parses (normalized form).
pub(crate) fn json_ip(v: Option<&serde_json::Value>) -> Option<String> {
    ip_text(v?.as_str()?)
}

/// An IP address in its normalized text form, when `s` is one.
pub(crate) fn ip_text(s: &str) -> Option<String> {
    s.trim().parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string())
}

/// A value at a dotted path (`host.name`) or under the literal dotted key
/// (Zeek's `id.orig_h`).
pub(crate) fn lookup<'v>(obj: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    if let Some(v) = obj.get(path) {
        return Some(v);
    }
    let mut cur = obj;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests;
