//! A request body as events: gzip undone (within a limit), then one JSON
//! object, a JSON array of objects, or NDJSON (one object per line).
//!
//! Every event is kept as its own line. What does not read as a JSON object
//! is kept too, marked invalid with the reason: the pipeline stores it in
//! quarantine, so a half-valid body loses nothing.

use std::io::Read;

/// Why a body could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body decompresses to more than the limit.
    #[error("the body decompresses to more than {limit} bytes")]
    TooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// The gzip stream is damaged.
    #[error("the body is not valid gzip: {0}")]
    BadGzip(String),
    /// Nothing but blank lines.
    #[error("the body holds no events")]
    Empty,
}

/// An event that is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// 1-based position of the event in the body.
    pub event: usize,
    /// Why.
    pub reason: String,
}

/// The events of a body.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Events {
    /// Every event, as one line, in body order (the invalid ones included).
    pub lines: Vec<Vec<u8>>,
    /// The events that are not JSON objects.
    pub invalid: Vec<Invalid>,
}

/// gzip magic.
const GZIP: [u8; 2] = [0x1f, 0x8b];

/// Undo gzip when the body is gzip (by `Content-Encoding` or its magic),
/// reading at most `limit` bytes of output.
pub fn decode(body: &[u8], gzip_declared: bool, limit: usize) -> Result<Vec<u8>, BodyError> {
    if !(gzip_declared || body.starts_with(&GZIP)) {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    let mut reader = flate2::read::MultiGzDecoder::new(body).take(limit as u64 + 1);
    reader.read_to_end(&mut out).map_err(|e| BodyError::BadGzip(e.to_string()))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(out)
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Split a decoded body into events.
pub fn events(body: &[u8]) -> Result<Events, BodyError> {
    let mut out = Events::default();
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Err(BodyError::Empty);
    }
    // One JSON document: an object, or an array of events.
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(trimmed) {
        match doc {
            serde_json::Value::Array(items) => {
                if items.is_empty() {
                    return Err(BodyError::Empty);
                }
                for (i, item) in items.into_iter().enumerate() {
                    if !item.is_object() {
                        out.invalid.push(Invalid {
                            event: i + 1,
                            reason: format!("event {} is {}, not a JSON object", i + 1, kind(&item)),
                        });
                    }
                    out.lines.push(item.to_string().into_bytes());
                }
            }
            serde_json::Value::Object(_) => out.lines.push(doc.to_string().into_bytes()),
            other => {
                out.invalid
                    .push(Invalid { event: 1, reason: format!("the body is {}, not a JSON object", kind(&other)) });
                out.lines.push(trimmed.to_vec());
            }
        }
        return Ok(out);
    }
    // NDJSON: each line on its own.
    for line in trimmed.split(|b| *b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let n = out.lines.len() + 1;
        match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(v) if v.is_object() => {}
            Ok(v) => {
                out.invalid.push(Invalid { event: n, reason: format!("line {n} is {}, not a JSON object", kind(&v)) })
            }
            Err(e) => out.invalid.push(Invalid { event: n, reason: format!("line {n} is not JSON: {e}") }),
        }
        out.lines.push(line.to_vec());
    }
    if out.lines.is_empty() {
        return Err(BodyError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_arrays_and_ndjson_become_one_line_per_event() {
        let one = events(br#" {"a": 1} "#).unwrap();
        assert_eq!(one.lines, vec![br#"{"a":1}"#.to_vec()]);
        assert!(one.invalid.is_empty());
        let arr = events(br#"[{"a":1},{"b":"x\ny"}]"#).unwrap();
        assert_eq!(arr.lines.len(), 2);
        assert!(!arr.lines[1].contains(&b'\n'), "an event stays on one line");
        let nd = events(b"{\"a\":1}\n\n{\"b\":2}\r\n").unwrap();
        assert_eq!(nd.lines, vec![br#"{"a":1}"#.to_vec(), br#"{"b":2}"#.to_vec()]);
    }

    #[test]
    fn what_is_not_an_object_is_kept_and_marked_with_the_reason() {
        let half = events(b"{\"ok\":1}\nnot json\n[1]\n{\"ok\":2}").unwrap();
        assert_eq!(half.lines.len(), 4);
        assert_eq!(half.invalid.len(), 2);
        assert_eq!(half.invalid[0].event, 2);
        assert!(half.invalid[0].reason.starts_with("line 2 is not JSON"), "{:?}", half.invalid);
        assert_eq!(half.invalid[1].reason, "line 3 is an array, not a JSON object");
        let arr = events(br#"[{"a":1}, 5, "x"]"#).unwrap();
        assert_eq!(arr.invalid.iter().map(|i| i.event).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(events(b"42").unwrap().invalid[0].reason, "the body is a number, not a JSON object");
        assert_eq!(events(b"  \n ").unwrap_err(), BodyError::Empty);
        assert_eq!(events(b"[]").unwrap_err(), BodyError::Empty);
        let bin = events(b"\xff\xfe\x00garbage").unwrap();
        assert_eq!(bin.invalid.len(), 1);
    }

    #[test]
    fn gzip_is_undone_within_the_limit() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&b"{\"a\":1}\n".repeat(1000)).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decode(&gz, false, 1 << 20).unwrap().len(), 8000, "found by its magic");
        assert_eq!(decode(&gz, true, 100).unwrap_err(), BodyError::TooLarge { limit: 100 });
        assert!(matches!(decode(b"\x1f\x8bnot gzip", true, 100), Err(BodyError::BadGzip(_))));
        assert_eq!(decode(b"plain", false, 3).unwrap(), b"plain", "plain bodies are limited by the body limit");
    }
}
