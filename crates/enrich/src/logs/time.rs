//! Timestamps as log formats write them, to ns since the epoch (UTC).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// RFC 3339 / ISO 8601 with an offset (`Z`, `+00:00` or `+0000`), or
/// without one (taken as UTC); fractions of any length.
pub fn parse_iso(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt();
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return t.timestamp_nanos_opt();
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Utc.from_utc_datetime(&t).timestamp_nanos_opt();
        }
    }
    None
}

/// Seconds since the epoch written as a decimal (Zeek's `ts`,
/// `1562600677.167017`), exactly: no float rounding of the microseconds.
pub fn from_decimal_seconds(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|c| c.is_ascii_digit()) || !frac.bytes().all(|c| c.is_ascii_digit()) {
        // Exponent forms and the like: through a float.
        let v: f64 = s.parse().ok()?;
        let ns = v * 1e9 * if neg { -1.0 } else { 1.0 };
        return (ns.is_finite() && ns.abs() < i64::MAX as f64).then_some(ns as i64);
    }
    let secs: i64 = int.parse().ok()?;
    let digits = &frac[..frac.len().min(9)];
    let nanos: i64 =
        if digits.is_empty() { 0 } else { digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32) };
    let ns = secs.checked_mul(1_000_000_000)?.checked_add(nanos)?;
    Some(if neg { -ns } else { ns })
}

/// An epoch number whose unit is told by its size: s, ms, µs or ns.
pub fn from_epoch_guess(v: f64) -> Option<i64> {
    let a = v.abs();
    let scale = if a < 1e11 {
        1e9
    } else if a < 1e14 {
        1e6
    } else if a < 1e17 {
        1e3
    } else {
        1.0
    };
    let ns = v * scale;
    (ns.is_finite() && ns.abs() < i64::MAX as f64).then_some(ns as i64)
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The month of a three-letter English abbreviation (1–12).
pub fn month(s: &str) -> Option<u32> {
    MONTHS.iter().position(|m| m.eq_ignore_ascii_case(s)).map(|i| i as u32 + 1)
}

/// RFC 3164's `Mmm dd hh:mm:ss` (no year, no zone): the year is the
/// received time's, or the one before when that would put the event more
/// than a day after it was received (December lines read in January). UTC.
pub fn bsd(month_name: &str, day: &str, clock: &str, received_ns: i64) -> Option<i64> {
    let m = month(month_name)?;
    let d: u32 = day.trim().parse().ok()?;
    let mut parts = clock.split(':');
    let (h, mi, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (sec, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(9).collect();
        digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
    };
    let received_year = DateTime::from_timestamp_nanos(received_ns).naive_utc().date().format("%Y").to_string();
    let year: i32 = received_year.parse().ok()?;
    let at = |y: i32| -> Option<i64> {
        let t = NaiveDate::from_ymd_opt(y, m, d)?.and_hms_nano_opt(
            h.parse().ok()?,
            mi.parse().ok()?,
            sec.parse().ok()?,
            nanos,
        )?;
        Utc.from_utc_datetime(&t).timestamp_nanos_opt()
    };
    let this_year = at(year);
    match this_year {
        Some(t) if t > received_ns.saturating_add(86_400_000_000_000) => at(year - 1),
        Some(t) => Some(t),
        // 29 February of a year that has none: the year before may not either.
        None => at(year - 1),
    }
}

/// CEF's `rt`/`start`/`end`: epoch ms, or `MMM dd yyyy HH:mm:ss[.SSS][ zone]`.
pub fn cef(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return ms.checked_mul(1_000_000);
    }
    if let Some(t) = parse_iso(s) {
        return Some(t);
    }
    let mut it = s.split_ascii_whitespace();
    let (mon, day, year, clock) = (it.next()?, it.next()?, it.next()?, it.next()?);
    let m = month(mon)?;
    let date = NaiveDate::from_ymd_opt(year.parse().ok()?, m, day.parse().ok()?)?;
    let t = NaiveDateTime::parse_from_str(&format!("{date} {clock}"), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    Utc.from_utc_datetime(&t).timestamp_nanos_opt()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: i64 = 1_000_000_000;

    #[test]
    fn iso_forms() {
        assert_eq!(parse_iso("1970-01-01T00:00:01Z"), Some(NS));
        assert_eq!(parse_iso("1970-01-01T00:00:01.5+0000"), Some(NS + NS / 2));
        assert_eq!(parse_iso("1970-01-01T01:00:01+01:00"), Some(NS));
        assert_eq!(parse_iso("1970-01-01 00:00:02.25"), Some(2 * NS + NS / 4));
        assert_eq!(parse_iso("yesterday"), None);
    }

    #[test]
    fn bsd_year_comes_from_the_receive_time() {
        let received = parse_iso("2024-01-02T00:00:00Z").unwrap();
        assert_eq!(bsd("Jan", "1", "10:00:00", received), parse_iso("2024-01-01T10:00:00Z"));
        assert_eq!(bsd("Dec", "31", "23:59:59", received), parse_iso("2023-12-31T23:59:59Z"));
        assert_eq!(
            bsd("Feb", "29", "00:00:00", parse_iso("2025-03-01T00:00:00Z").unwrap()),
            parse_iso("2024-02-29T00:00:00Z")
        );
        assert_eq!(bsd("Foo", "1", "00:00:00", received), None);
        assert_eq!(bsd("Jan", "1", "25:00:00", received), None);
    }

    #[test]
    fn decimal_seconds_are_exact() {
        assert_eq!(from_decimal_seconds("1562600677.167017"), Some(1_562_600_677_167_017_000));
        assert_eq!(from_decimal_seconds("1"), Some(NS));
        assert_eq!(from_decimal_seconds("-1.5"), Some(-NS - NS / 2));
        assert_eq!(from_decimal_seconds("1e3"), Some(1000 * NS));
        assert_eq!(from_decimal_seconds("x"), None);
        assert_eq!(from_decimal_seconds("99999999999999999999"), None);
    }

    #[test]
    fn epoch_units_are_told_by_size() {
        assert_eq!(from_epoch_guess(1.5), Some(NS + NS / 2));
        assert_eq!(from_epoch_guess(1_700_000_000_000.0), Some(1_700_000_000 * NS));
        assert_eq!(from_epoch_guess(f64::NAN), None);
        assert_eq!(cef("1700000000000"), Some(1_700_000_000 * NS));
        assert_eq!(cef("Nov 14 2023 22:13:20"), Some(1_700_000_000 * NS));
    }
}
