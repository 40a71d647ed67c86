//! Parsing times given on the command line.

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Parse RFC 3339 (`2024-05-01T12:00:00Z`), a date-time without zone (UTC),
/// a date (midnight UTC), or a Unix time in seconds (with fraction).
pub fn parse_time_ns(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return dt.timestamp_nanos_opt().context("time out of range");
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return dt.and_utc().timestamp_nanos_opt().context("time out of range");
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).and_then(|dt| dt.and_utc().timestamp_nanos_opt()).context("time out of range");
    }
    if let Some((int, frac)) = s.split_once('.').or(Some((s, "")))
        && !int.is_empty()
        && int.bytes().all(|c| c.is_ascii_digit())
        && frac.bytes().all(|c| c.is_ascii_digit())
    {
        let secs: i64 = int.parse().context("seconds out of range")?;
        let mut ns_text = frac.to_string();
        ns_text.truncate(9);
        while ns_text.len() < 9 {
            ns_text.push('0');
        }
        let ns: i64 = ns_text.parse().unwrap_or(0);
        return secs.checked_mul(1_000_000_000).and_then(|v| v.checked_add(ns)).context("time out of range");
    }
    bail!("cannot read {s:?} as a time: use RFC 3339 (2024-05-01T12:00:00Z), a date, or Unix seconds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        assert_eq!(parse_time_ns("1970-01-01T00:00:01Z").unwrap(), 1_000_000_000);
        assert_eq!(parse_time_ns("1970-01-02").unwrap(), 86_400_000_000_000);
        assert_eq!(parse_time_ns("12.5").unwrap(), 12_500_000_000);
        assert_eq!(parse_time_ns("1.000000001").unwrap(), 1_000_000_001);
        assert!(parse_time_ns("yesterday").is_err());
        assert!(parse_time_ns("99999999999999999999").is_err());
    }
}
