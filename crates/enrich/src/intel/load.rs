//! Feed readers. Every item that cannot be read is an error of its own
//! (with its line or object number); the rest of the feed loads.
//!
//! - Plain lists, one indicator per line, `#` and `;` comments — abuse.ch IP
//!   and URL lists, Spamhaus DROP (`1.10.16.0/20 ; SBL256894`).
//! - CSV with a header row (also a header in the last `#` comment, as
//!   abuse.ch writes it): the value column is the first of `ioc`, `indicator`,
//!   `value`, `url`, `ip`, `ip_address`, `dst_ip`, `domain`, `sha256_hash`,
//!   `sha256`, `sha1`, `md5_hash`, `md5`; `first_seen`/`dateadded`,
//!   `last_seen`/`last_online`, `confidence`, `threat`/`description` are read
//!   when present.
//! - STIX 2.1 bundles: `indicator` objects with STIX patterns comparing
//!   `ipv4-addr:value`, `ipv6-addr:value`, `domain-name:value`, `url:value` or
//!   `file:hashes.*` with `=` (joined by `OR`); `valid_from`, `valid_until`,
//!   `confidence`, `name`.
//! - MISP event JSON (`{"Event": …}` or a list of them): attributes of type
//!   ip-src/ip-dst (and `|port`), domain, hostname, domain|ip, url, md5,
//!   sha1, sha256 (and `filename|hash`), also inside objects.
//!
//! Duplicates (same kind, value and source) are merged, keeping the widest
//! first/last seen.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::index::parse_network;
use super::{Indicator, IndicatorKind};

/// Largest feed file read (a guard against a runaway download).
pub const MAX_FEED_BYTES: u64 = 1 << 30;

/// What a feed gave.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// The indicators, duplicates merged.
    pub indicators: Vec<Indicator>,
    /// One message per item that could not be read.
    pub errors: Vec<String>,
}

/// A feed that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Over [`MAX_FEED_BYTES`].
    #[error("{path}: {bytes} bytes is over the {MAX_FEED_BYTES}-byte limit for a feed")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        bytes: u64,
    },
    /// JSON that does not parse, or is neither STIX nor MISP.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// Lower-case scheme and host, no trailing slash on a bare host.
pub fn normalise_url(url: &str) -> String {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (host, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let path = if path == "/" { "" } else { path };
    format!("{}://{}{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase(), path)
}

fn is_hex(s: &str) -> bool {
    matches!(s.len(), 32 | 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_domain(s: &str) -> bool {
    let s = s.trim_end_matches('.');
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
        })
        && !s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Classify a bare value.
pub fn classify(value: &str) -> Result<(IndicatorKind, String), String> {
    let v = value.trim();
    if v.is_empty() {
        return Err("empty value".into());
    }
    if parse_network(v).is_some() {
        return Ok((IndicatorKind::Ip, v.to_string()));
    }
    if v.contains("://") {
        return Ok((IndicatorKind::Url, normalise_url(v)));
    }
    if is_hex(v) {
        return Ok((IndicatorKind::Hash, v.to_ascii_lowercase()));
    }
    if is_domain(v) {
        return Ok((IndicatorKind::Domain, v.trim_end_matches('.').to_ascii_lowercase()));
    }
    Err(format!("{:?} is not an address, network, domain, URL or hash", truncate(v)))
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Nanoseconds since the epoch from RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC) or
/// Unix seconds.
fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim().trim_matches('"');
    if s.is_empty() || s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("null") {
        return None;
    }
    if let Ok(secs) = s.parse::<i64>() {
        return secs.checked_mul(1_000_000_000);
    }
    let t = s.replace(' ', "T");
    let t = if t.len() == 19 { format!("{t}Z") } else { t };
    let (date, time) = t.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let time = time.trim_end_matches('Z');
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut h = hms.split(':').map(|x| x.parse::<i64>());
    let (hh, mm, ss) = (h.next()?.ok()?, h.next()?.ok()?, h.next()?.ok()?);
    // Out-of-range fields are not a time (and would overflow below).
    if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    if !(0..24).contains(&hh) || !(0..60).contains(&mm) || !(0..=60).contains(&ss) {
        return None;
    }
    let digits: String = frac.chars().take_while(char::is_ascii_digit).take(9).collect();
    let nanos = if digits.is_empty() { 0 } else { digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32) };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    // Nanoseconds in an i64 reach from 1677 to 2262; later dates are not kept.
    (((days * 24 + hh) * 60 + mm) * 60 + ss).checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Read a feed file; the format comes from its content (JSON: STIX or MISP)
/// or its extension (`.csv`), else a plain list. `source` names the feed.
pub fn load_file(path: &Path, source: &str) -> Result<LoadReport, LoadError> {
    let p = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| LoadError::Io { path: p.clone(), source: e })?;
    if meta.len() > MAX_FEED_BYTES {
        return Err(LoadError::TooLarge { path: p, bytes: meta.len() });
    }
    let bytes = std::fs::read(path).map_err(|e| LoadError::Io { path: p.clone(), source: e })?;
    let csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    load_bytes(&bytes, csv, source).map_err(|message| LoadError::Format { path: p, message })
}

/// Read a feed from memory: JSON (STIX or MISP) by its first character,
/// else CSV when `csv`, else a plain list. Invalid UTF-8 is replaced, so a
/// bad byte spoils only its item. `Err` only for JSON that does not parse or
/// is neither STIX nor MISP.
pub fn load_bytes(bytes: &[u8], csv: bool, source: &str) -> Result<LoadReport, String> {
    let text = String::from_utf8_lossy(bytes);
    let first = text.trim_start().chars().next();
    let mut report = if matches!(first, Some('{') | Some('[')) {
        let json: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        load_json(&json, source)?
    } else if csv {
        load_csv(&text, source)
    } else {
        load_list(&text, source)
    };
    report.indicators = merge(std::mem::take(&mut report.indicators));
    Ok(report)
}

fn load_json(json: &Value, source: &str) -> Result<LoadReport, String> {
    if json["type"] == "bundle" {
        return Ok(load_stix(json, source));
    }
    let events: Vec<&Value> = match json {
        Value::Array(a) => a.iter().map(|e| e.get("Event").unwrap_or(e)).collect(),
        Value::Object(_) if json.get("Event").is_some() => vec![&json["Event"]],
        Value::Object(_) if json.get("Attribute").is_some() => vec![json],
        _ => return Err("JSON that is neither a STIX 2.1 bundle nor a MISP event".into()),
    };
    Ok(load_misp(&events, source))
}

/// A plain list.
pub fn load_list(text: &str, source: &str) -> LoadReport {
    let source: std::sync::Arc<str> = source.into();
    let mut r = LoadReport::default();
    for (n, line) in text.lines().enumerate() {
        let v = line.split(['#', ';']).next().unwrap_or("").trim();
        if v.is_empty() {
            continue;
        }
        match classify(v) {
            Ok((kind, value)) => r.indicators.push(Indicator::new(kind, value, source.clone())),
            Err(e) => r.errors.push(format!("line {}: {e}", n + 1)),
        }
    }
    r
}

/// Split one CSV line (double quotes, doubled quotes inside).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

const VALUE_COLUMNS: [&str; 13] = [
    "ioc",
    "indicator",
    "value",
    "url",
    "ip",
    "ip_address",
    "dst_ip",
    "domain",
    "sha256_hash",
    "sha256",
    "sha1",
    "md5_hash",
    "md5",
];

/// A CSV feed.
pub fn load_csv(text: &str, source: &str) -> LoadReport {
    let source: std::sync::Arc<str> = source.into();
    let mut r = LoadReport::default();
    let mut header: Option<Vec<String>> = None;
    let mut last_comment: Option<&str> = None;
    let col = |h: &[String], names: &[&str]| names.iter().find_map(|n| h.iter().position(|c| c == n));
    let mut cols = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            last_comment = Some(c);
            continue;
        }
        let fields = csv_fields(line);
        if header.is_none() {
            let names = |l: &str| csv_fields(l).iter().map(|f| f.trim().to_ascii_lowercase()).collect::<Vec<_>>();
            let from_comment = last_comment.map(names).filter(|h| col(h, &VALUE_COLUMNS).is_some());
            match from_comment {
                Some(h) => header = Some(h),
                None => {
                    header = Some(names(line));
                    continue;
                }
            }
        }
        let h = header.as_ref().expect("set above");
        let c = *cols.get_or_insert_with(|| {
            (
                col(h, &VALUE_COLUMNS),
                col(h, &["first_seen", "first_seen_utc", "dateadded"]),
                col(h, &["last_seen", "last_seen_utc", "last_online"]),
                col(h, &["confidence", "confidence_level"]),
                col(h, &["threat", "threat_type", "description", "malware"]),
            )
        });
        let Some(vc) = c.0 else {
            r.errors.push(format!("no value column in the header ({})", h.join(",")));
            return r;
        };
        let get = |i: Option<usize>| i.and_then(|i| fields.get(i)).map(|s| s.trim()).filter(|s| !s.is_empty());
        let Some(v) = get(Some(vc)) else {
            r.errors.push(format!("line {}: no value", n + 1));
            continue;
        };
        match classify(v) {
            Ok((kind, value)) => {
                let mut ind = Indicator::new(kind, value, source.clone());
                ind.first_seen_ns = get(c.1).and_then(parse_time);
                ind.last_seen_ns = get(c.2).and_then(parse_time);
                ind.confidence = get(c.3).and_then(|s| s.parse::<u8>().ok()).map(|x| x.min(100));
                ind.description = get(c.4).map(str::to_string);
                r.indicators.push(ind);
            }
            Err(e) => r.errors.push(format!("line {}: {e}", n + 1)),
        }
    }
    r
}

/// The comparisons of a STIX pattern: `[a:b = 'x' OR c:d = 'y']`.
fn stix_pattern(p: &str) -> Result<Vec<(IndicatorKind, String)>, String> {
    let p = p.trim();
    let inner = p
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| format!("unsupported STIX pattern {:?}: expected one [ … ] observation", truncate(p)))?;
    for op in [" AND ", " FOLLOWEDBY ", " MATCHES ", " LIKE ", "!=", " IN ", " NOT "] {
        if inner.contains(op) {
            return Err(format!("unsupported STIX pattern {:?}: {} is not read", truncate(p), op.trim()));
        }
    }
    let mut out = Vec::new();
    for term in inner.split(" OR ") {
        let (path, value) = term
            .split_once('=')
            .ok_or_else(|| format!("unsupported STIX comparison {:?}: only = is read", truncate(term)))?;
        let path = path.trim();
        let value = value.trim();
        let value = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .ok_or_else(|| format!("STIX value {:?} is not a quoted string", truncate(value)))?
            .replace("\\'", "'")
            .replace("\\\\", "\\");
        let kind = match path {
            "ipv4-addr:value" | "ipv6-addr:value" => IndicatorKind::Ip,
            "domain-name:value" => IndicatorKind::Domain,
            "url:value" => IndicatorKind::Url,
            p if p.starts_with("file:hashes.") => IndicatorKind::Hash,
            other => return Err(format!("unsupported STIX object path {:?}", truncate(other))),
        };
        let (got, value) = classify(&value)?;
        if got != kind {
            return Err(format!("{path} holds {:?}, which is not a {}", truncate(&value), kind.as_str()));
        }
        out.push((kind, value));
    }
    Ok(out)
}

/// A STIX 2.1 bundle.
pub fn load_stix(bundle: &Value, source: &str) -> LoadReport {
    let source: std::sync::Arc<str> = source.into();
    let mut r = LoadReport::default();
    let Some(objects) = bundle["objects"].as_array() else {
        r.errors.push("a bundle without objects".into());
        return r;
    };
    for (n, o) in objects.iter().enumerate() {
        if o["type"] != "indicator" {
            continue;
        }
        let id = o["id"].as_str().unwrap_or("?");
        if o["pattern_type"].as_str().is_some_and(|t| t != "stix") {
            r.errors.push(format!("object {n} ({id}): pattern type {} is not read", o["pattern_type"]));
            continue;
        }
        let Some(pattern) = o["pattern"].as_str() else {
            r.errors.push(format!("object {n} ({id}): no pattern"));
            continue;
        };
        match stix_pattern(pattern) {
            Ok(values) => {
                for (kind, value) in values {
                    let mut ind = Indicator::new(kind, value, source.clone());
                    ind.first_seen_ns = o["valid_from"].as_str().and_then(parse_time);
                    ind.last_seen_ns = o["modified"].as_str().and_then(parse_time);
                    ind.expires_ns = o["valid_until"].as_str().and_then(parse_time);
                    ind.confidence = o["confidence"].as_u64().map(|c| c.min(100) as u8);
                    ind.description = o["name"].as_str().or(o["description"].as_str()).map(str::to_string);
                    r.indicators.push(ind);
                }
            }
            Err(e) => r.errors.push(format!("object {n} ({id}): {e}")),
        }
    }
    r
}

/// MISP events.
pub fn load_misp(events: &[&Value], source: &str) -> LoadReport {
    let source: std::sync::Arc<str> = source.into();
    let mut r = LoadReport::default();
    for (e, event) in events.iter().enumerate() {
        let info = event["info"].as_str();
        let mut attrs: Vec<&Value> = event["Attribute"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
        for o in event["Object"].as_array().into_iter().flatten() {
            attrs.extend(o["Attribute"].as_array().into_iter().flatten());
        }
        for (n, a) in attrs.iter().enumerate() {
            let (Some(t), Some(v)) = (a["type"].as_str(), a["value"].as_str()) else {
                r.errors.push(format!("event {e} attribute {n}: no type or value"));
                continue;
            };
            let value = match t {
                "ip-src" | "ip-dst" | "domain" | "hostname" | "url" | "link" | "md5" | "sha1" | "sha256" => v,
                "ip-src|port" | "ip-dst|port" | "domain|ip" => v.split('|').next().unwrap_or(v),
                "filename|md5" | "filename|sha1" | "filename|sha256" => v.rsplit('|').next().unwrap_or(v),
                _ => continue, // not an observable we match on
            };
            match classify(value) {
                Ok((kind, value)) => {
                    let mut ind = Indicator::new(kind, value, source.clone());
                    let secs = |k: &str| {
                        a[k].as_str().and_then(parse_time).or(a[k].as_i64().and_then(|s| s.checked_mul(1_000_000_000)))
                    };
                    ind.first_seen_ns = secs("first_seen");
                    ind.last_seen_ns = secs("last_seen").or(secs("timestamp"));
                    ind.description = a["comment"].as_str().filter(|c| !c.is_empty()).or(info).map(str::to_string);
                    r.indicators.push(ind);
                }
                Err(err) => r.errors.push(format!("event {e} attribute {n} ({t}): {err}")),
            }
        }
    }
    r
}

/// Merge duplicates (kind, value, source): the widest seen range, the
/// latest expiry, the highest confidence.
fn merge(indicators: Vec<Indicator>) -> Vec<Indicator> {
    let mut at: HashMap<(IndicatorKind, String, std::sync::Arc<str>), usize> = HashMap::new();
    let mut out: Vec<Indicator> = Vec::with_capacity(indicators.len());
    for ind in indicators {
        let key = (ind.kind, ind.value.clone(), ind.source.clone());
        match at.get(&key) {
            Some(&i) => {
                let o = &mut out[i];
                o.first_seen_ns = o.first_seen_ns.into_iter().chain(ind.first_seen_ns).min();
                o.last_seen_ns = o.last_seen_ns.into_iter().chain(ind.last_seen_ns).max();
                o.expires_ns = match (o.expires_ns, ind.expires_ns) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                o.confidence = o.confidence.into_iter().chain(ind.confidence).max();
            }
            None => {
                at.insert(key, out.len());
                out.push(ind);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        crate::test_paths::crate_dir().join("testdata/intel").join(name)
    }

    #[test]
    fn a_stix_bundle_gives_its_indicators_and_names_each_bad_one() {
        let r = load_file(&fixture("stix-bundle.json"), "stix").unwrap();
        let got: Vec<(&str, &str)> = r.indicators.iter().map(|i| (i.kind.as_str(), i.value.as_str())).collect();
        assert_eq!(
            got,
            [
                ("ip", "198.51.100.23"),
                ("domain", "c2.example.net"),
                ("ip", "2001:db8::/48"),
                ("hash", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                ("url", "http://bad.example.org/dropper.bin"),
            ]
        );
        let first = &r.indicators[0];
        assert_eq!(first.confidence, Some(85));
        assert_eq!(first.first_seen_ns, Some(1_704_067_200_000_000_000), "2024-01-01T00:00:00Z");
        assert_eq!(first.expires_ns, Some(1_735_689_600_000_000_000), "2025-01-01T00:00:00Z");
        assert_eq!(r.errors.len(), 3, "{:?}", r.errors);
        assert!(r.errors.iter().any(|e| e.contains("AND is not read")), "{:?}", r.errors);
        assert!(r.errors.iter().any(|e| e.contains("\"not-an-ip\" is not an address")), "{:?}", r.errors);
        assert!(r.errors.iter().any(|e| e.contains("pattern type")), "{:?}", r.errors);
    }

    #[test]
    fn a_misp_event_gives_its_observables() {
        let r = load_file(&fixture("misp-event.json"), "misp").unwrap();
        let got: Vec<(&str, &str)> = r.indicators.iter().map(|i| (i.kind.as_str(), i.value.as_str())).collect();
        assert_eq!(
            got,
            [
                ("ip", "203.0.113.50"),
                ("domain", "update.example.com"),
                ("ip", "192.0.2.77"),
                ("hash", "44d88612fea8a8f36de82e1278abb02f"),
                ("url", "https://evil.example.com/gate.php"),
            ]
        );
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        assert_eq!(r.indicators[0].last_seen_ns, Some(1_700_000_000_000_000_000));
    }

    #[test]
    fn lists_and_csv_feeds_load_with_an_error_per_bad_line_and_duplicates_merged() {
        let r = load_file(&fixture("drop.txt"), "spamhaus-drop").unwrap();
        assert_eq!(r.indicators.iter().map(|i| i.value.as_str()).collect::<Vec<_>>(), ["1.10.16.0/20", "1.19.0.0/16"]);
        assert_eq!(r.errors, ["line 5: \"999.1.1.0/24\" is not an address, network, domain, URL or hash"]);
        let r = load_file(&fixture("urlhaus.csv"), "urlhaus").unwrap();
        assert_eq!(r.indicators.len(), 2, "{:?}", r.indicators);
        let u = &r.indicators[0];
        assert_eq!(u.value, "http://192.0.2.10:8080/bins/mozi.m");
        assert_eq!(u.first_seen_ns, Some(1_700_000_000_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(u.description.as_deref(), Some("malware_download"));
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    }

    #[test]
    fn garbage_and_oversized_values_are_errors_not_panics() {
        let long = "a".repeat(100_000);
        let r = load_list(&format!("{long}\n\u{0}\u{1}\n1.2.3.4\n[::1\n"), "x");
        assert_eq!(r.indicators.len(), 1);
        assert_eq!(r.errors.len(), 3);
        assert!(r.errors[0].len() < 200, "values are cut in messages");
        for bad in [
            "[ipv4-addr:value = '1.2.3.4'",
            "ipv4-addr:value = '1.2.3.4'",
            "[file:name = 'x']",
            "[url:value = unquoted]",
        ] {
            assert!(stix_pattern(bad).is_err(), "{bad}");
        }
        assert!(load_json(&serde_json::json!({"x": 1}), "s").is_err());
    }

    #[test]
    fn times_parse_in_the_forms_feeds_use() {
        assert_eq!(parse_time("1970-01-02T00:00:00Z"), Some(86_400_000_000_000));
        assert_eq!(parse_time("1970-01-01 00:00:01"), Some(1_000_000_000));
        assert_eq!(parse_time("2000-03-01T00:00:00.5Z"), Some(951_868_800_500_000_000));
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_time("None"), None);
        assert_eq!(parse_time("yesterday"), None);
        // Found by the intel_feeds fuzz target: fields that overflowed.
        assert_eq!(parse_time("99999999999999-01-01 00:00:00"), None);
        assert_eq!(parse_time("2023-13-01 00:00:00"), None);
        assert_eq!(parse_time("2023-01-01 00:00:99999999999999999"), None);
        assert_eq!(parse_time("9999-12-31T23:59:59Z"), None, "past what i64 nanoseconds hold");
        assert_eq!(parse_time("2262-01-01T00:00:00Z").map(|t| t > 0), Some(true));
    }
}
