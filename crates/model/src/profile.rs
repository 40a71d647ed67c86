//! What a model holds: the settings it was trained with, a profile per
//! host, the host pairs that were already periodic, and the lake-wide sets
//! (domains, countries and ASNs seen by anyone).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::hash::{hash64, mix};
use crate::network::InternalNetworks;
use crate::sketch::Bloom;
use crate::stats::Summary;

/// Training and scoring settings, stored with the model so every worker
/// scores the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address ranges whose addresses are hosts (the rest are peers).
    pub internal: InternalNetworks,
    /// A host is scored only with at least this many active hours …
    pub min_active_hours: u32,
    /// … on at least this many days.
    pub min_active_days: u32,
    /// Anomalies scoring below this (0–100) are not findings.
    pub threshold: i32,
    /// Bytes sent in an hour above this many times the host's norm for
    /// that hour are a volume anomaly …
    pub volume_ratio: f64,
    /// … when they are also above this many bytes (quiet hosts have tiny norms).
    pub volume_floor_bytes: f64,
    /// Connections of one pair before its intervals are judged.
    pub beacon_min_connections: u32,
    /// Largest median absolute deviation of the intervals, as a fraction
    /// of the median interval, that still counts as regular.
    pub beacon_max_jitter: f64,
    /// Largest median absolute deviation of the bytes the originator sent
    /// per connection, as a fraction of their median, that still counts as
    /// regular (beacons send the same thing each time).
    pub beacon_max_size_jitter: f64,
    /// Shortest median interval (seconds) that counts as a beacon.
    pub beacon_min_interval_s: f64,
    /// Longest median interval (seconds) that counts as a beacon.
    pub beacon_max_interval_s: f64,
    /// Domains no host queried in the window, looked up by one host within
    /// [`Settings::domain_burst_window_s`], that make a burst.
    pub domain_burst: u32,
    /// The burst window, seconds.
    pub domain_burst_window_s: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            internal: InternalNetworks::default(),
            min_active_hours: 12,
            min_active_days: 3,
            threshold: 50,
            volume_ratio: 10.0,
            volume_floor_bytes: 4.0 * 1024.0 * 1024.0,
            beacon_min_connections: 8,
            beacon_max_jitter: 0.1,
            beacon_max_size_jitter: 0.1,
            beacon_min_interval_s: 10.0,
            beacon_max_interval_s: 6.0 * 3600.0,
            domain_burst: 8,
            domain_burst_window_s: 600,
        }
    }
}

impl Settings {
    /// Refuse settings that cannot score sensibly.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |m: &str| Err(m.to_string());
        if !(1..=100).contains(&self.threshold) {
            return bad("threshold must be 1–100");
        }
        if self.volume_ratio.is_nan() || self.volume_ratio <= 1.0 {
            return bad("volume_ratio must be above 1");
        }
        if self.volume_floor_bytes.is_nan() || self.volume_floor_bytes < 0.0 {
            return bad("volume_floor_bytes must be 0 or more");
        }
        if self.beacon_min_connections < 4 {
            return bad("beacon_min_connections must be at least 4");
        }
        if !(self.beacon_max_jitter > 0.0 && self.beacon_max_jitter < 1.0) {
            return bad("beacon_max_jitter must be between 0 and 1");
        }
        if self.beacon_max_size_jitter.is_nan() || self.beacon_max_size_jitter <= 0.0 {
            return bad("beacon_max_size_jitter must be above 0");
        }
        if !(self.beacon_min_interval_s > 0.0 && self.beacon_min_interval_s < self.beacon_max_interval_s) {
            return bad("beacon_min_interval_s must be above 0 and below beacon_max_interval_s");
        }
        if self.domain_burst < 2 || self.domain_burst_window_s == 0 {
            return bad("domain_burst must be at least 2 and domain_burst_window_s above 0");
        }
        if self.min_active_days == 0 || self.min_active_hours == 0 {
            return bad("min_active_hours and min_active_days must be above 0");
        }
        Ok(())
    }
}

/// One host's baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostProfile {
    /// Hours with any flow of the host.
    pub active_hours: u32,
    /// Days (UTC) with any flow of the host.
    pub active_days: u32,
    /// First and last flow start seen (ns).
    pub first_seen_ns: i64,
    /// See `first_seen_ns`.
    pub last_seen_ns: i64,
    /// Bytes the host sent in each hour of day (UTC, 24 entries) over its
    /// active days, idle hours counting as 0.
    pub sent_bytes_by_hour: Vec<Summary>,
    /// Bytes sent per active hour.
    pub sent_bytes_hourly: Summary,
    /// Flows per active hour.
    pub connections_hourly: Summary,
    /// Distinct peers per active hour (HyperLogLog estimates).
    pub peers_hourly: Summary,
    /// Distinct destination ports per active hour (HyperLogLog estimates).
    pub ports_hourly: Summary,
    /// Peer countries (ISO code) with their flow counts.
    pub countries: BTreeMap<String, u64>,
    /// Peer ASNs with their flow counts.
    pub asns: BTreeMap<i64, u64>,
    /// Distinct registrable domains looked up (DNS) or named (TLS SNI) per
    /// active day (HyperLogLog estimates).
    pub domains_daily: Summary,
    /// The most looked-up domains (Space-Saving top-k), with counts.
    pub top_domains: Vec<(String, u64)>,
}

impl HostProfile {
    /// Why the host is not scored, when it is not: too little history.
    pub fn unscored_reason(&self, s: &Settings) -> Option<String> {
        (self.active_hours < s.min_active_hours || self.active_days < s.min_active_days).then(|| {
            format!(
                "too little history: {} active hours on {} days (needs {} hours on {} days); not scored",
                self.active_hours, self.active_days, s.min_active_hours, s.min_active_days
            )
        })
    }

    /// The bytes an hour at `hour_of_day` normally stays under: the 95th
    /// percentile for that hour of day, never below the median of all
    /// active hours (an hour the host is usually idle in is not held to
    /// zero).
    pub fn volume_norm(&self, hour_of_day: usize) -> f64 {
        let by_hour = self.sent_bytes_by_hour.get(hour_of_day).map_or(0.0, |x| x.p95);
        by_hour.max(self.sent_bytes_hourly.median)
    }
}

/// A host pair whose connections were already regular in the baseline
/// (updates, monitoring): its regularity is no news.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodicPair {
    /// Originator.
    pub src: String,
    /// Responder.
    pub dst: String,
    /// Responder port.
    pub dst_port: i32,
    /// IANA protocol number.
    pub proto: i32,
    /// Connections in the window.
    pub connections: u32,
    /// Median interval, seconds.
    pub interval_s: f64,
    /// Median absolute deviation of the intervals over the median.
    pub jitter: f64,
    /// Median bytes the originator sent per connection.
    #[serde(default)]
    pub size: f64,
}

/// The key a pair is looked up by.
pub fn pair_key(src: &str, dst: &str, dst_port: i32, proto: i32) -> u64 {
    mix(hash64(src.as_bytes()) ^ mix(hash64(dst.as_bytes())) ^ mix(((dst_port as u64) << 8) | (proto as u64 & 0xff)))
}

/// What the whole lake has seen in the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    /// Registrable domains looked up or named by any host.
    pub domains: Bloom,
    /// Distinct registrable domains inserted.
    pub domain_count: u64,
    /// Peer countries with the number of hosts that talked with them.
    pub country_hosts: BTreeMap<String, u32>,
    /// Peer ASNs with the number of hosts that talked with them.
    pub asn_hosts: BTreeMap<i64, u32>,
}

/// A trained model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Its id (`m-` + training time), unique per training run.
    pub id: String,
    /// When it was trained (ns).
    pub trained_at_ns: i64,
    /// The window of the lake it learned from (ns, end exclusive).
    pub window: (i64, i64),
    /// The settings it was trained with and scores with.
    pub settings: Settings,
    /// Profiles by host address.
    pub hosts: HashMap<String, HostProfile>,
    /// Pairs that were periodic in the baseline.
    pub periodic: Vec<PeriodicPair>,
    /// [`pair_key`]s of `periodic`.
    pub periodic_keys: HashSet<u64>,
    /// Lake-wide sets.
    pub global: Global,
    /// Rows read per table.
    pub rows_read: BTreeMap<String, u64>,
}

impl Model {
    /// Whether `src → dst:port/proto` was periodic in the baseline.
    pub fn is_known_periodic(&self, src: &str, dst: &str, dst_port: i32, proto: i32) -> bool {
        self.periodic_keys.contains(&pair_key(src, dst, dst_port, proto))
    }

    /// Hosts that are scored.
    pub fn scored_hosts(&self) -> usize {
        self.hosts.values().filter(|p| p.unscored_reason(&self.settings).is_none()).count()
    }
}
