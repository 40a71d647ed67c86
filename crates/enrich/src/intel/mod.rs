//! Threat intelligence: indicators from feeds, and an index that matches
//! addresses, domains, URLs and file hashes against a million of them.
//!
//! - [`Indicator`]: one observable with its source, confidence, first/last
//!   seen and expiry.
//! - [`load`]: feed readers (plain lists and CSV, STIX 2.1 bundles, MISP
//!   events); every bad item is an error of its own and the rest loads.
//! - [`IntelIndex`]: the lookup structure.

pub mod index;
pub mod load;
pub mod table;

pub use index::{IntelIndex, Match};
pub use load::{LoadError, LoadReport, load_bytes, load_file};
pub use table::intel_batch;

/// What an indicator names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndicatorKind {
    /// One IPv4 or IPv6 address, or a network (CIDR).
    Ip,
    /// A domain; it also matches its subdomains.
    Domain,
    /// A URL (scheme and host compared without case).
    Url,
    /// An MD5, SHA-1 or SHA-256 file hash (hex, any case).
    Hash,
}

impl IndicatorKind {
    /// The name stored in the `intel` table.
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorKind::Ip => "ip",
            IndicatorKind::Domain => "domain",
            IndicatorKind::Url => "url",
            IndicatorKind::Hash => "hash",
        }
    }

    /// The kind a stored name stands for ([`IndicatorKind::as_str`] backwards).
    pub fn from_name(name: &str) -> Option<IndicatorKind> {
        [IndicatorKind::Ip, IndicatorKind::Domain, IndicatorKind::Url, IndicatorKind::Hash]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// One indicator.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    /// What it names.
    pub kind: IndicatorKind,
    /// The value, normalised (lower-case domains and hashes, CIDR text for networks).
    pub value: String,
    /// The feed it came from (shared by every indicator of a load).
    pub source: std::sync::Arc<str>,
    /// Confidence, 0–100, when the feed says.
    pub confidence: Option<u8>,
    /// First seen (ns since the epoch), when the feed says.
    pub first_seen_ns: Option<i64>,
    /// Last seen (ns since the epoch), when the feed says.
    pub last_seen_ns: Option<i64>,
    /// No longer valid from this time on (ns since the epoch).
    pub expires_ns: Option<i64>,
    /// A description or threat name, when the feed gives one.
    pub description: Option<String>,
}

impl Indicator {
    /// An indicator of `kind` with nothing but its value and source.
    pub fn new(kind: IndicatorKind, value: impl Into<String>, source: impl Into<std::sync::Arc<str>>) -> Indicator {
        Indicator {
            kind,
            value: value.into(),
            source: source.into(),
            confidence: None,
            first_seen_ns: None,
            last_seen_ns: None,
            expires_ns: None,
            description: None,
        }
    }

    /// Whether it is still valid at `at_ns`.
    pub fn valid_at(&self, at_ns: i64) -> bool {
        self.expires_ns.is_none_or(|e| at_ns < e)
    }
}
