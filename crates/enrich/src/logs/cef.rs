//! ArcSight Common Event Format:
//! `CEF:Version|Vendor|Product|Device Version|Signature ID|Name|Severity|Extension`,
//! bare or as the message of a syslog line.

use serde_json::{Map, Value, json};

use super::{LogRow, ParseError, ip_text, syslog, time};

const NAME: &str = "cef";

fn err(reason: impl Into<String>) -> ParseError {
    ParseError::new(NAME, reason)
}

/// Parse a CEF line (bare, or syslog carrying CEF).
pub fn parse(line: &str, received_ns: i64) -> Result<LogRow, ParseError> {
    if line.starts_with("CEF:") {
        let mut row = LogRow { source_type: NAME.into(), ..Default::default() };
        let mut fields = Map::new();
        apply(line, &mut row, &mut fields)?;
        row.fields = Some(Value::Object(fields).to_string());
        return Ok(row);
    }
    if memchr::memmem::find(line.as_bytes(), b"CEF:").is_none() {
        return Err(err("no 'CEF:' record in the line"));
    }
    let row = syslog::parse(line, received_ns).map_err(|e| err(e.reason))?;
    if row.source_type != NAME {
        return Err(err("the syslog message is not a CEF record"));
    }
    Ok(row)
}

/// Split the header on unescaped pipes: 7 fields and the extension.
fn header(s: &str) -> Result<(Vec<String>, &str), ParseError> {
    let mut out = Vec::with_capacity(7);
    let mut cur = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('|' | '\\'))) => cur.push(e),
                Some((_, e)) => {
                    cur.push('\\');
                    cur.push(e);
                }
                None => cur.push('\\'),
            },
            '|' => {
                out.push(std::mem::take(&mut cur));
                if out.len() == 7 {
                    return Ok((out, &s[i + 1..]));
                }
            }
            c => cur.push(c),
        }
    }
    Err(err(format!("header has {} of the 7 '|'-separated fields", out.len() + usize::from(!cur.is_empty()))))
}

fn unescape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(e) => out.push(e),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `key=value key2=value with spaces`: a value runs to the space before
/// the next unescaped `key=`.
fn extension(s: &str) -> Result<Vec<(String, String)>, ParseError> {
    let b = s.as_bytes();
    // Positions of unescaped '='.
    let mut eqs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'=' => {
                eqs.push(i);
                i += 1
            }
            _ => i += 1,
        }
    }
    let key_start = |eq: usize| s[..eq].rfind(' ').map_or(0, |p| p + 1);
    let mut out = Vec::with_capacity(eqs.len());
    let mut prev: Option<(usize, usize)> = None; // (key start, eq)
    for &eq in &eqs {
        let ks = key_start(eq);
        let key = &s[ks..eq];
        let valid = !key.is_empty()
            && key.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'[' | b']' | b'-'));
        if !valid {
            // An unescaped '=' inside a value (common in the wild): part of it.
            if prev.is_none() {
                return Err(err(format!("extension does not start with key=value: {:?}", &s[..eq.min(40)])));
            }
            continue;
        }
        if let Some((pks, peq)) = prev {
            let value = s[peq + 1..ks].strip_suffix(' ').unwrap_or(&s[peq + 1..ks]);
            out.push((s[pks..peq].to_string(), unescape_value(value)));
        } else if !s[..ks].trim().is_empty() {
            return Err(err(format!("extension does not start with key=value: {:?}", &s[..ks.min(40)])));
        }
        prev = Some((ks, eq));
    }
    if let Some((pks, peq)) = prev {
        out.push((s[pks..peq].to_string(), unescape_value(s[peq + 1..].trim_end())));
    } else if !s.trim().is_empty() {
        return Err(err("extension has text but no key=value"));
    }
    Ok(out)
}

/// CEF severity (0–10 or Low/Medium/High/Very-High) on the syslog scale.
fn severity(s: &str) -> Option<i32> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "low" => 5,
        "medium" => 4,
        "high" => 3,
        "very-high" | "very high" => 2,
        n => match n.parse::<u8>().ok()? {
            0..=3 => 5,
            4..=6 => 4,
            7..=8 => 3,
            9..=10 => 2,
            _ => return None,
        },
    })
}

/// Fill `row` and `fields` from a CEF record (which starts `CEF:`).
pub fn apply(cef: &str, row: &mut LogRow, fields: &mut Map<String, Value>) -> Result<(), ParseError> {
    let body = cef.strip_prefix("CEF:").ok_or_else(|| err("does not start with 'CEF:'"))?;
    let (h, ext) = header(body)?;
    let version: u8 = h[0].trim().parse().map_err(|_| err(format!("version {:?} is not a number", h[0])))?;
    fields.insert("cef_version".into(), json!(version));
    for (k, v) in ["vendor", "product", "device_version", "signature_id", "name", "severity"].iter().zip(&h[1..]) {
        fields.insert((*k).into(), json!(v));
    }
    row.severity = severity(&h[6]).or(row.severity);
    row.app = Some(format!("{} {}", h[1], h[2]).trim().to_string());
    let ext = extension(ext)?;
    let mut msg = None;
    for (k, v) in ext {
        match k.as_str() {
            "src" | "sourceAddress" => row.src_ip = ip_text(&v).or(row.src_ip.take()),
            "dst" | "destinationAddress" => row.dst_ip = ip_text(&v).or(row.dst_ip.take()),
            "spt" | "sourcePort" => row.src_port = v.parse().ok().filter(|p: &i32| (0..=65535).contains(p)),
            "dpt" | "destinationPort" => row.dst_port = v.parse().ok().filter(|p: &i32| (0..=65535).contains(p)),
            "dvchost" | "deviceHostName" => row.host = Some(v.clone()),
            "shost" if row.host.is_none() => row.host = Some(v.clone()),
            "rt" | "receiptTime" | "start" if row.ts_ns == 0 => {
                row.ts_ns = time::cef(&v).ok_or_else(|| err(format!("{k}={v:?} is not a time")))?;
            }
            "msg" | "message" => msg = Some(v.clone()),
            _ => {}
        }
        fields.insert(k, Value::String(v));
    }
    row.message = Some(msg.unwrap_or_else(|| h[5].clone()));
    Ok(())
}
