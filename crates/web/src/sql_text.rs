//! SQL literals built from request values. Values are first parsed into
//! what they claim to be (an address, a time, a rule id); text that reaches
//! SQL is quoted with its quotes doubled, so no value can end a literal.

use std::net::IpAddr;

use crate::ApiError;

/// A request parameter that is present and not blank (a form leaves
/// unused fields empty), trimmed.
pub fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A quoted SQL string literal.
pub fn text(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// An IP address parameter.
pub fn ip(name: &str, v: &str) -> Result<IpAddr, ApiError> {
    v.trim().parse().map_err(|_| ApiError::bad_request(format!("{name}: {v:?} is not an IP address")))
}

/// A time parameter, ns since the epoch.
pub fn time(name: &str, v: &str) -> Result<i64, ApiError> {
    opensoc_lake::time::parse_time_ns(v).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
}

/// A rule id: letters, digits and `._:-`, at most 200 characters.
pub fn rule(v: &str) -> Result<&str, ApiError> {
    if !v.is_empty() && v.len() <= 200 && v.bytes().all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(&c)) {
        Ok(v)
    } else {
        Err(ApiError::bad_request(format!("rule: {v:?} is not a rule id (letters, digits, '.', '_', ':', '-')")))
    }
}

/// A timestamp literal for a `timestamp` column from ns.
pub fn ts(ns: i64) -> String {
    format!("to_timestamp_micros({})", ns.div_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_cannot_end_a_literal() {
        assert_eq!(text("a'b"), "'a''b'");
        assert_eq!(text("'); DROP TABLE flows; --"), "'''); DROP TABLE flows; --'");
        assert!(rule("opensoc.dns.tunnel").is_ok());
        assert!(rule("x' OR '1'='1").is_err());
        assert!(ip("host", "10.0.0.1 ").is_ok());
        assert!(ip("host", "10.0.0.1'").is_err());
        assert_eq!(ts(1_500), "to_timestamp_micros(1)");
    }
}
