//! Syslog: RFC 5424 (with structured data) and RFC 3164 (BSD), with or
//! without the `<PRI>` that files written by a local daemon leave out. A
//! message that is a CEF record is parsed as CEF.

use serde_json::{Map, Value, json};

use super::{LogRow, ParseError, cef, time};

const NAME: &str = "syslog";

fn err(reason: impl Into<String>) -> ParseError {
    ParseError::new(NAME, reason)
}

/// Whether `t` opens with RFC 3164's `Mmm dd hh:mm:ss`.
pub fn starts_with_3164_time(t: &[u8]) -> bool {
    t.len() >= 15
        && std::str::from_utf8(&t[..3]).ok().and_then(time::month).is_some()
        && t[3] == b' '
        && t[9] == b':'
        && t[12] == b':'
}

/// Parse one syslog line.
pub fn parse(line: &str, received_ns: i64) -> Result<LogRow, ParseError> {
    let (pri, rest) = match line.strip_prefix('<') {
        Some(r) => {
            let end = r
                .find('>')
                .filter(|&e| (1..=3).contains(&e))
                .ok_or_else(|| err("<PRI> is not closed by '>' within 3 digits"))?;
            let pri: u8 = r[..end]
                .parse()
                .ok()
                .filter(|p| *p <= 191)
                .ok_or_else(|| err(format!("PRI {:?} is not a number from 0 to 191", &r[..end])))?;
            (Some(pri), &r[end + 1..])
        }
        None => (None, line),
    };
    let mut fields = Map::new();
    if let Some(p) = pri {
        fields.insert("facility".into(), json!(p / 8));
        fields.insert("severity".into(), json!(p % 8));
    }
    let mut row = LogRow { source_type: NAME.into(), severity: pri.map(|p| i32::from(p % 8)), ..Default::default() };
    let version = rest.split_once(' ').map(|(v, _)| v).filter(|v| !v.is_empty() && v.len() <= 2);
    match version.and_then(|v| v.parse::<u8>().ok()) {
        Some(v) if pri.is_some() && v >= 1 => rfc5424(&rest[version.map_or(0, str::len) + 1..], &mut row, &mut fields)?,
        _ => rfc3164(rest, pri.is_some(), received_ns, &mut row, &mut fields)?,
    }
    if row.src_ip.is_none() {
        row.src_ip = row.message.as_deref().and_then(peer_address);
    }
    if let Some(msg) = row.message.as_deref().filter(|m| m.starts_with("CEF:")) {
        let msg = msg.to_string();
        cef::apply(&msg, &mut row, &mut fields).map_err(|e| err(format!("CEF message: {}", e.reason)))?;
        row.source_type = "cef".into();
    }
    row.fields = Some(Value::Object(fields).to_string());
    Ok(row)
}

/// The remote address a daemon's message names — sshd's `from 203.0.113.7
/// port 52144`, PAM's `rhost=203.0.113.7` — so that rules can count per
/// source.
fn peer_address(msg: &str) -> Option<String> {
    for marker in ["from ", "rhost=", "client ", "src="] {
        let mut at = 0;
        while let Some(i) = msg[at..].find(marker) {
            let start = at + i + marker.len();
            let candidate: &str = msg[start..]
                .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ')' | ']'))
                .next()
                .unwrap_or("");
            let candidate = candidate.trim_start_matches('[');
            if let Some(ip) = super::ip_text(candidate) {
                return Some(ip);
            }
            at = start;
        }
    }
    None
}

/// Take the next space-delimited token.
fn token(s: &str) -> (&str, &str) {
    match s.split_once(' ') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    }
}

fn nil(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

fn rfc5424(s: &str, row: &mut LogRow, fields: &mut Map<String, Value>) -> Result<(), ParseError> {
    let (ts, s) = token(s);
    let (host, s) = token(s);
    let (app, s) = token(s);
    let (procid, s) = token(s);
    let (msgid, s) = token(s);
    if msgid.is_empty() {
        return Err(err("RFC 5424 header is short: TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA expected"));
    }
    if let Some(ts) = nil(ts) {
        row.ts_ns = time::parse_iso(ts).ok_or_else(|| err(format!("RFC 5424 TIMESTAMP {ts:?} is not RFC 3339")))?;
    }
    row.host = nil(host).map(str::to_string);
    row.app = nil(app).map(str::to_string);
    for (k, v) in [("app", app), ("procid", procid), ("msgid", msgid)] {
        if let Some(v) = nil(v) {
            fields.insert(k.into(), json!(v));
        }
    }
    let (sd, msg) = structured_data(s)?;
    if !sd.is_empty() {
        fields.insert("sd".into(), Value::Object(sd));
    }
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    row.message = (!msg.is_empty()).then(|| msg.to_string());
    Ok(())
}

/// STRUCTURED-DATA: `-` or `[id name="value" …]…`; returns the elements
/// and the message after them.
fn structured_data(s: &str) -> Result<(Map<String, Value>, &str), ParseError> {
    let mut out = Map::new();
    if let Some(rest) = s.strip_prefix('-') {
        return Ok((out, rest.strip_prefix(' ').unwrap_or(rest)));
    }
    if !s.starts_with('[') {
        return Err(err("RFC 5424 STRUCTURED-DATA must be '-' or start with '['"));
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b'[' {
        i += 1;
        let id_end = s[i..].find([' ', ']']).map(|e| i + e).ok_or_else(|| err("SD-ELEMENT is not closed"))?;
        let id = &s[i..id_end];
        if id.is_empty() || id.contains(['=', '"']) {
            return Err(err(format!("SD-ID {id:?} is empty or has '=' or '\"'")));
        }
        i = id_end;
        let mut params = Map::new();
        loop {
            match b.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => i += 1,
                Some(_) => {
                    let eq =
                        s[i..].find('=').map(|e| i + e).ok_or_else(|| err(format!("SD-PARAM in [{id}] has no '='")))?;
                    let name = &s[i..eq];
                    if name.is_empty() || name.contains([' ', ']', '"']) {
                        return Err(err(format!("SD-PARAM name {name:?} in [{id}] is malformed")));
                    }
                    if b.get(eq + 1) != Some(&b'"') {
                        return Err(err(format!("SD-PARAM {name} in [{id}] has no quoted value")));
                    }
                    let mut value = String::new();
                    let mut j = eq + 2;
                    let mut closed = false;
                    let mut chars = s[j..].char_indices();
                    while let Some((k, c)) = chars.next() {
                        match c {
                            '\\' => match chars.next() {
                                Some((_, e @ ('"' | '\\' | ']'))) => value.push(e),
                                Some((_, e)) => {
                                    value.push('\\');
                                    value.push(e);
                                }
                                None => break,
                            },
                            '"' => {
                                j += k + 1;
                                closed = true;
                                break;
                            }
                            c => value.push(c),
                        }
                    }
                    if !closed {
                        return Err(err(format!("SD-PARAM {name} in [{id}] has an unterminated value")));
                    }
                    params.insert(name.to_string(), Value::String(value));
                    i = j;
                }
                None => return Err(err(format!("SD-ELEMENT [{id}] is not closed"))),
            }
        }
        out.insert(id.to_string(), Value::Object(params));
    }
    let rest = &s[i..];
    Ok((out, rest.strip_prefix(' ').unwrap_or(rest)))
}

fn rfc3164(
    s: &str,
    has_pri: bool,
    received_ns: i64,
    row: &mut LogRow,
    fields: &mut Map<String, Value>,
) -> Result<(), ParseError> {
    let mut rest = s;
    let mut has_time = true;
    if starts_with_3164_time(s.as_bytes()) {
        let (mon, day) = (&s[..3], &s[4..6]);
        // Optional fraction (rsyslog's high-precision BSD form).
        let frac_len = s[15..].bytes().take_while(|c| *c == b'.' || c.is_ascii_digit()).count();
        let clock_full = &s[7..15 + frac_len];
        row.ts_ns = time::bsd(mon, day, clock_full, received_ns)
            .ok_or_else(|| err(format!("RFC 3164 timestamp {:?} is not a date", &s[..15])))?;
        rest = s[15 + frac_len..].trim_start_matches(' ');
    } else if let Some(t) = s.split(' ').next().and_then(time::parse_iso) {
        row.ts_ns = t;
        rest = token(s).1;
    } else if !has_pri {
        return Err(err("neither <PRI> nor a timestamp opens the line"));
    } else {
        has_time = false;
    }
    if rest.starts_with("CEF:") {
        row.message = Some(rest.to_string());
        return Ok(());
    }
    // HOSTNAME, unless the next token is already the TAG (`app:` or `app[pid]:`).
    let (first, after) = token(rest);
    let is_tag = first.ends_with(':') || (first.contains('[') && first.ends_with("]:"));
    if !first.is_empty() && !is_tag && !after.is_empty() && has_time {
        row.host = Some(first.to_string());
        rest = after;
    }
    if rest.starts_with("CEF:") {
        row.message = Some(rest.to_string());
        return Ok(());
    }
    // TAG[PID]: MSG
    let tag_len =
        rest.bytes().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/')).count();
    let (tag, tail) = rest.split_at(tag_len);
    let (pid, tail) = match tail.strip_prefix('[').and_then(|t| t.split_once(']')) {
        Some((pid, t)) => (Some(pid), t),
        None => (None, tail),
    };
    match tail.strip_prefix(':') {
        Some(msg) if tag_len > 0 && tag_len <= 48 => {
            row.app = Some(tag.to_string());
            fields.insert("tag".into(), json!(tag));
            if let Some(p) = pid {
                fields.insert("pid".into(), json!(p));
            }
            let msg = msg.strip_prefix(' ').unwrap_or(msg);
            row.message = Some(msg.to_string());
        }
        _ => row.message = (!rest.is_empty()).then(|| rest.to_string()),
    }
    Ok(())
}
