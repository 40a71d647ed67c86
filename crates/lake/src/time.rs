//! Parsing the times people give: on the command line, in carve and query
//! requests.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Why a text is not a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not in any accepted form.
    #[error("cannot read {0:?} as a time: use RFC 3339 (2024-05-01T12:00:00Z), a date, or Unix seconds")]
    Unreadable(String),
    /// A time, but outside what nanoseconds since the epoch hold (1677–2262).
    #[error("{0:?} is out of range (years 1678 to 2261)")]
    OutOfRange(String),
}

/// Parse RFC 3339 (`2024-05-01T12:00:00Z`), a date-time without zone (UTC),
/// a date (midnight UTC), or a Unix time in seconds (with fraction).
pub fn parse_time_ns(text: &str) -> Result<i64, TimeError> {
    let s = text.trim();
    let range = || TimeError::OutOfRange(text.to_string());
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return dt.timestamp_nanos_opt().ok_or_else(range);
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return dt.and_utc().timestamp_nanos_opt().ok_or_else(range);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).and_then(|dt| dt.and_utc().timestamp_nanos_opt()).ok_or_else(range);
    }
    if let Some((int, frac)) = s.split_once('.').or(Some((s, "")))
        && !int.is_empty()
        && int.bytes().all(|c| c.is_ascii_digit())
        && frac.bytes().all(|c| c.is_ascii_digit())
    {
        let secs: i64 = int.parse().map_err(|_| range())?;
        let mut ns_text = frac.to_string();
        ns_text.truncate(9);
        while ns_text.len() < 9 {
            ns_text.push('0');
        }
        let ns: i64 = ns_text.parse().unwrap_or(0);
        return secs.checked_mul(1_000_000_000).and_then(|v| v.checked_add(ns)).ok_or_else(range);
    }
    Err(TimeError::Unreadable(text.to_string()))
}

/// A time in ns as RFC 3339 with nanoseconds (`2024-05-01T12:00:00.000000001Z`).
pub fn format_time_ns(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The `event_date` literal (a partition value) of a time in ns, for SQL
/// that prunes by day.
pub fn date_literal(ns: i64) -> String {
    let day: String = format_time_ns(ns).chars().take(10).collect();
    format!("DATE '{day}'")
}

/// A day number (days since 1970-01-01, as in Arrow's `Date32`) as
/// `YYYY-MM-DD`; `None` past the dates chrono represents.
pub fn day_text(days: i32) -> Option<String> {
    chrono::NaiveDate::from_num_days_from_ce_opt(days.checked_add(719_163)?).map(|d| d.format("%Y-%m-%d").to_string())
}

/// A time as `YYYYMMDDTHHMMSSZ` (for ids and object names).
pub fn compact_utc(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).format("%Y%m%dT%H%M%SZ").to_string()
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
        assert!(matches!(parse_time_ns("99999999999999999999"), Err(TimeError::OutOfRange(_))));
        assert_eq!(format_time_ns(1_000_000_001), "1970-01-01T00:00:01.000000001Z");
        assert_eq!(parse_time_ns(&format_time_ns(1_700_000_000_123_456_789)).unwrap(), 1_700_000_000_123_456_789);
        assert_eq!(date_literal(86_400_000_000_000), "DATE '1970-01-02'");
        assert_eq!(date_literal(-1), "DATE '1969-12-31'");
    }
}
