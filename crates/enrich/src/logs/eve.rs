//! Suricata EVE JSON: every event type, with the message an analyst reads
//! first for alert, dns, http, tls, flow and fileinfo events.

use serde_json::Value;

use super::{LogRow, ParseError, json_ip, json_port, lookup, time};

const NAME: &str = "suricata-eve";

fn err(reason: impl Into<String>) -> ParseError {
    ParseError::new(NAME, reason)
}

/// Suricata's alert severity (1 = highest) on the syslog scale.
pub fn alert_severity(sev: i64) -> i32 {
    match sev {
        ..=1 => 2,
        2 => 3,
        3 => 4,
        _ => 5,
    }
}

/// Parse one EVE line.
pub fn parse(line: &str) -> Result<LogRow, ParseError> {
    let v: Value = serde_json::from_str(line).map_err(|e| err(format!("not JSON: {e}")))?;
    let obj = v.as_object().ok_or_else(|| err("not a JSON object"))?;
    let event_type = obj.get("event_type").and_then(Value::as_str).ok_or_else(|| err("no \"event_type\" string"))?;
    let ts = obj.get("timestamp").and_then(Value::as_str).ok_or_else(|| err("no \"timestamp\" string"))?;
    let ts_ns = time::parse_iso(ts).ok_or_else(|| err(format!("timestamp {ts:?} is not ISO 8601")))?;
    let s = |path: &str| lookup(&v, path).and_then(Value::as_str);
    let message = match event_type {
        "alert" => s("alert.signature").map(str::to_string),
        "dns" => s("dns.rrname").or_else(|| s("dns.queries.0.rrname")).map(str::to_string).or_else(|| {
            lookup(&v, "dns.queries")
                .and_then(Value::as_array)
                .and_then(|q| q.first())
                .and_then(|q| q.get("rrname").and_then(Value::as_str).map(str::to_string))
        }),
        "http" => match (s("http.hostname"), s("http.url")) {
            (Some(h), Some(u)) => Some(format!("{} {h}{u}", s("http.http_method").unwrap_or("-"))),
            (None, Some(u)) => Some(u.to_string()),
            (Some(h), None) => Some(h.to_string()),
            (None, None) => None,
        },
        "tls" => s("tls.sni").or_else(|| s("tls.subject")).map(str::to_string),
        "fileinfo" => s("fileinfo.filename").map(str::to_string),
        "flow" => lookup(&v, "flow").map(|f| {
            let n = |k: &str| f.get(k).and_then(Value::as_i64).unwrap_or(0);
            format!(
                "{} {} pkts {} bytes, state {}",
                s("app_proto").unwrap_or(s("proto").unwrap_or("flow")),
                n("pkts_toserver") + n("pkts_toclient"),
                n("bytes_toserver") + n("bytes_toclient"),
                f.get("state").and_then(Value::as_str).unwrap_or("-")
            )
        }),
        "anomaly" => s("anomaly.event").map(str::to_string),
        _ => None,
    };
    let severity = match event_type {
        "alert" => Some(lookup(&v, "alert.severity").and_then(Value::as_i64).map_or(4, alert_severity)),
        _ => None,
    };
    Ok(LogRow {
        ts_ns,
        source_type: NAME.into(),
        host: obj.get("host").and_then(Value::as_str).map(str::to_string),
        severity,
        app: Some(event_type.to_string()),
        src_ip: json_ip(obj.get("src_ip")),
        src_port: json_port(obj.get("src_port")),
        dst_ip: json_ip(obj.get("dest_ip")),
        dst_port: json_port(obj.get("dest_port")),
        community_id: obj.get("community_id").and_then(Value::as_str).map(str::to_string),
        message,
        fields: Some(line.trim().to_string()),
        ..Default::default()
    })
}
