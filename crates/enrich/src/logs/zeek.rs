//! Zeek logs: TSV with `#separator`/`#fields`/`#types` headers (remembered
//! per origin, since a file's lines arrive in order) and Zeek's JSON logs.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{LogRow, ParseError, json::json_time, json_ip, json_port, lookup, time};

const NAME: &str = "zeek";

fn err(reason: impl Into<String>) -> ParseError {
    ParseError::new(NAME, reason)
}

/// What a TSV file's header lines said.
#[derive(Debug, Clone)]
pub struct Header {
    separator: String,
    set_separator: String,
    empty_field: String,
    unset_field: String,
    path: Option<String>,
    fields: Vec<String>,
    types: Vec<String>,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            separator: "\t".into(),
            set_separator: ",".into(),
            empty_field: "(empty)".into(),
            unset_field: "-".into(),
            path: None,
            fields: Vec::new(),
            types: Vec::new(),
        }
    }
}

/// `\x09` and friends, as Zeek escapes separators and bytes.
fn unescape(s: &str) -> String {
    if !s.contains("\\x") {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'x')
            && let Some(v) = s.get(i + 2..i + 4).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The log's name from the file it came from (`…/conn.log` → `conn`).
fn path_from_origin(origin: &str) -> Option<String> {
    let file = origin.rsplit(['/', '\\']).next()?;
    let stem = file.split('.').next()?;
    (!stem.is_empty()).then(|| stem.to_string())
}

/// Parse a line; `Ok(None)` for a header line.
pub fn parse(line: &str, origin: &str, headers: &mut HashMap<String, Header>) -> Result<Option<LogRow>, ParseError> {
    if line.starts_with('{') {
        return json_line(line, origin).map(Some);
    }
    if let Some(h) = line.strip_prefix('#') {
        header_line(h, origin, headers)?;
        return Ok(None);
    }
    let header = headers
        .get(origin)
        .filter(|h| !h.fields.is_empty())
        .ok_or_else(|| err(format!("TSV line without a #fields header from {origin} (ship the log from its start)")))?;
    tsv_line(line, header, origin).map(Some)
}

fn header_line(h: &str, origin: &str, headers: &mut HashMap<String, Header>) -> Result<(), ParseError> {
    if let Some(sep) = h.strip_prefix("separator ") {
        // A new file (or a rotated one) begins.
        let separator = unescape(sep.trim_end());
        if separator.is_empty() {
            return Err(err("#separator is empty"));
        }
        headers.insert(origin.to_string(), Header { separator, ..Header::default() });
        return Ok(());
    }
    let header = headers.entry(origin.to_string()).or_default();
    let (key, value) = h.split_once(header.separator.as_str()).unwrap_or((h, ""));
    let list = || value.split(header.separator.as_str()).map(str::to_string).collect::<Vec<_>>();
    match key {
        "set_separator" => header.set_separator = unescape(value),
        "empty_field" => header.empty_field = value.to_string(),
        "unset_field" => header.unset_field = value.to_string(),
        "path" => header.path = Some(value.to_string()),
        "fields" => {
            header.fields = list();
            header.types.clear();
        }
        "types" => header.types = list(),
        // #open, #close and comments.
        _ => {}
    }
    Ok(())
}

fn typed(value: &str, ty: &str, header: &Header) -> Result<Value, String> {
    if let Some(inner) = ty.strip_prefix("set[").or_else(|| ty.strip_prefix("vector[")) {
        let inner = inner.trim_end_matches(']');
        if value == header.empty_field {
            return Ok(Value::Array(Vec::new()));
        }
        return value
            .split(header.set_separator.as_str())
            .map(|v| if v == header.unset_field { Ok(Value::Null) } else { typed(v, inner, header) })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    Ok(match ty {
        "time" | "interval" | "double" => {
            json!(value.parse::<f64>().map_err(|_| format!("{value:?} is not a {ty}"))?)
        }
        "count" | "port" => json!(value.parse::<u64>().map_err(|_| format!("{value:?} is not a {ty}"))?),
        "int" => json!(value.parse::<i64>().map_err(|_| format!("{value:?} is not an int"))?),
        "bool" => match value {
            "T" => Value::Bool(true),
            "F" => Value::Bool(false),
            _ => return Err(format!("{value:?} is not a bool (T or F)")),
        },
        _ if value == header.empty_field => Value::String(String::new()),
        _ => Value::String(unescape(value)),
    })
}

fn tsv_line(line: &str, header: &Header, origin: &str) -> Result<LogRow, ParseError> {
    let values: Vec<&str> = line.split(header.separator.as_str()).collect();
    if values.len() != header.fields.len() {
        return Err(err(format!("{} values for the {} #fields", values.len(), header.fields.len())));
    }
    let mut obj = Map::new();
    for (i, (name, raw)) in header.fields.iter().zip(&values).enumerate() {
        if *raw == header.unset_field {
            continue;
        }
        let ty = header.types.get(i).map_or("string", String::as_str);
        let v = typed(raw, ty, header).map_err(|e| err(format!("field {name}: {e}")))?;
        obj.insert(name.clone(), v);
    }
    let path = header.path.clone().or_else(|| path_from_origin(origin));
    if let Some(p) = &path {
        obj.insert("_path".into(), json!(p));
    }
    let ts = header.fields.iter().position(|f| f == "ts").and_then(|i| values.get(i)).copied();
    normalize(Value::Object(obj), path, None, ts)
}

fn json_line(line: &str, origin: &str) -> Result<LogRow, ParseError> {
    let v: Value = serde_json::from_str(line).map_err(|e| err(format!("not JSON: {e}")))?;
    if !v.is_object() {
        return Err(err("not a JSON object"));
    }
    let path = v.get("_path").and_then(Value::as_str).map(str::to_string).or_else(|| path_from_origin(origin));
    normalize(v, path, Some(line), None)
}

/// The row of a parsed record; `ts_text` is the TSV's `ts` as written.
fn normalize(v: Value, path: Option<String>, text: Option<&str>, ts_text: Option<&str>) -> Result<LogRow, ParseError> {
    let ts = v.get("ts").ok_or_else(|| err("no ts field"))?;
    let ts_ns = match (ts_text, ts) {
        (Some(t), _) => time::from_decimal_seconds(t),
        (None, ts) => match ts {
            Value::Number(n) => time::from_decimal_seconds(&n.to_string()),
            other => json_time(other),
        },
    }
    .ok_or_else(|| err(format!("ts {ts} is not a time")))?;
    let s = |k: &str| lookup(&v, k).and_then(Value::as_str);
    let message = match path.as_deref() {
        Some("notice") => s("msg").map(str::to_string),
        Some("weird") => s("name").map(str::to_string),
        Some("dns") => s("query").map(str::to_string),
        Some("http") => match (s("host"), s("uri")) {
            (Some(h), Some(u)) => Some(format!("{} {h}{u}", s("method").unwrap_or("-"))),
            (h, u) => h.or(u).map(str::to_string),
        },
        Some("ssl") => s("server_name").map(str::to_string),
        Some("files") => s("filename").or(s("mime_type")).map(str::to_string),
        _ => None,
    };
    Ok(LogRow {
        ts_ns,
        source_type: NAME.into(),
        app: path,
        src_ip: json_ip(lookup(&v, "id.orig_h")),
        src_port: json_port(lookup(&v, "id.orig_p")),
        dst_ip: json_ip(lookup(&v, "id.resp_h")),
        dst_port: json_port(lookup(&v, "id.resp_p")),
        community_id: s("community_id").map(str::to_string),
        host: s("_node").or(s("peer")).map(str::to_string),
        severity: None,
        message,
        fields: Some(match text {
            Some(t) => t.trim().to_string(),
            None => v.to_string(),
        }),
        ..Default::default()
    })
}
