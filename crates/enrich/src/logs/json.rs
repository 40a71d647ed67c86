//! Generic JSON lines: the normalized columns come from the names loggers
//! and the Elastic Common Schema use; the whole object is the fields.

use serde_json::Value;

use super::{LogRow, ParseError, json_ip, json_port, lookup, severity_from_name, time};

const NAME: &str = "json";

fn err(reason: impl Into<String>) -> ParseError {
    ParseError::new(NAME, reason)
}

fn first<'v>(v: &'v Value, names: &[&str]) -> Option<&'v Value> {
    names.iter().find_map(|n| lookup(v, n).filter(|x| !x.is_null()))
}

/// A time from a JSON value: ISO text, or an epoch number (unit by size).
pub fn json_time(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => time::parse_iso(s).or_else(|| s.parse::<f64>().ok().and_then(time::from_epoch_guess)),
        Value::Number(n) => n.as_f64().and_then(time::from_epoch_guess),
        _ => None,
    }
}

/// Parse one JSON object line.
pub fn parse(line: &str) -> Result<LogRow, ParseError> {
    let v: Value = serde_json::from_str(line).map_err(|e| err(format!("not JSON: {e}")))?;
    if !v.is_object() {
        return Err(err("not a JSON object"));
    }
    let ts = first(&v, &["@timestamp", "timestamp", "time", "ts", "eventTime", "date", "datetime"]);
    let ts_ns = match ts {
        Some(t) => json_time(t).ok_or_else(|| err(format!("time {t} is neither ISO 8601 nor an epoch number")))?,
        None => 0,
    };
    let text = |names: &[&str]| first(&v, names).and_then(Value::as_str).map(str::to_string);
    let severity = first(&v, &["severity", "level", "log.level", "syslog_severity"]).and_then(|s| match s {
        Value::String(s) => severity_from_name(s),
        Value::Number(n) => n.as_i64().filter(|n| (0..=7).contains(n)).map(|n| n as i32),
        _ => None,
    });
    let ip = |names: &[&str]| names.iter().find_map(|n| json_ip(lookup(&v, n)));
    let port = |names: &[&str]| names.iter().find_map(|n| json_port(lookup(&v, n)));
    Ok(LogRow {
        ts_ns,
        source_type: NAME.into(),
        host: text(&["host.name", "hostname", "host", "computer", "device"]),
        severity,
        app: text(&["app", "service.name", "program", "logger", "source", "event.dataset"]),
        src_ip: ip(&["src_ip", "source.ip", "src", "client_ip", "client.ip", "srcaddr", "sourceIPAddress"]),
        src_port: port(&["src_port", "source.port", "client_port", "srcport"]),
        dst_ip: ip(&["dst_ip", "dest_ip", "destination.ip", "dst", "server_ip", "server.ip", "dstaddr"]),
        dst_port: port(&["dst_port", "dest_port", "destination.port", "server_port", "dstport"]),
        community_id: text(&["community_id", "network.community_id"]),
        message: text(&["message", "msg", "log", "event.original", "eventName"]),
        fields: Some(line.trim().to_string()),
        ..Default::default()
    })
}
