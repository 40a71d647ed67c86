//! Training: rows of the lake's window stream through a [`Trainer`], which
//! keeps bounded per-host state (hour cells with HyperLogLog sketches,
//! Space-Saving top-k, country and ASN counts) and turns it into a
//! [`Model`] at the end.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::domain::registrable;
use crate::hash::hash64;
use crate::network::Side;
use crate::profile::{Global, HostProfile, Model, PeriodicPair, Settings, pair_key};
use crate::sketch::{Bloom, Hll, TopK};
use crate::stats::Summary;

const NS_PER_HOUR: i64 = 3_600_000_000_000;
const NS_PER_DAY: i64 = 24 * NS_PER_HOUR;
/// Heavy-hitter domains kept per host.
const TOP_DOMAINS: usize = 16;

/// One flow as training reads it.
#[derive(Debug, Clone, Copy)]
pub struct FlowSample<'a> {
    /// Originator address.
    pub src_ip: &'a str,
    /// Responder address.
    pub dst_ip: &'a str,
    /// Responder port.
    pub dst_port: i32,
    /// Bytes the originator sent.
    pub src_bytes: i64,
    /// Bytes the responder sent.
    pub dst_bytes: i64,
    /// Flow start (ns).
    pub first_ts_ns: i64,
    /// Originator's country, responder's country (GeoIP).
    pub src_country: Option<&'a str>,
    /// See `src_country`.
    pub dst_country: Option<&'a str>,
    /// Originator's ASN, responder's ASN.
    pub src_asn: Option<i64>,
    /// See `src_asn`.
    pub dst_asn: Option<i64>,
}

#[derive(Default)]
struct HourCell {
    sent: f64,
    flows: u32,
    peers: Hll,
    ports: Hll,
}

struct HostAcc {
    hours: HashMap<i64, HourCell>,
    countries: BTreeMap<String, u64>,
    asns: BTreeMap<i64, u64>,
    first: i64,
    last: i64,
    day_domains: HashMap<i64, Hll>,
    top: TopK,
}

impl HostAcc {
    fn new(ts: i64) -> HostAcc {
        HostAcc {
            hours: HashMap::new(),
            countries: BTreeMap::new(),
            asns: BTreeMap::new(),
            first: ts,
            last: ts,
            day_domains: HashMap::new(),
            top: TopK::new(TOP_DOMAINS),
        }
    }
}

/// Domain → (hash of the first host that used it, whether another did too).
type DomainUse = HashMap<String, (u64, bool)>;

/// Accumulates a window of the lake into a model.
pub struct Trainer {
    settings: Settings,
    hosts: HashMap<String, HostAcc>,
    domains: DomainUse,
    periodic: Vec<PeriodicPair>,
    rows: BTreeMap<String, u64>,
}

impl Trainer {
    /// A trainer with these settings.
    pub fn new(settings: Settings) -> Trainer {
        Trainer {
            settings,
            hosts: HashMap::new(),
            domains: HashMap::new(),
            periodic: Vec::new(),
            rows: BTreeMap::new(),
        }
    }

    fn host(&mut self, host: &str, ts: i64) -> &mut HostAcc {
        if !self.hosts.contains_key(host) {
            self.hosts.insert(host.to_string(), HostAcc::new(ts));
        }
        let acc = self.hosts.get_mut(host).expect("inserted above");
        acc.first = acc.first.min(ts);
        acc.last = acc.last.max(ts);
        acc
    }

    fn count_row(&mut self, table: &str) {
        if let Some(n) = self.rows.get_mut(table) {
            *n += 1;
        } else {
            self.rows.insert(table.to_string(), 1);
        }
    }

    /// Learn from one flow.
    pub fn add_flow(&mut self, f: &FlowSample<'_>) {
        self.count_row("flows");
        let side = self.settings.internal.host_side(f.src_ip, f.dst_ip);
        let (host, peer, sent, country, asn) = match side {
            Side::Src => (f.src_ip, f.dst_ip, f.src_bytes, f.dst_country, f.dst_asn),
            Side::Dst => (f.dst_ip, f.src_ip, f.dst_bytes, f.src_country, f.src_asn),
        };
        let ts = f.first_ts_ns;
        let acc = self.host(host, ts);
        let cell = acc.hours.entry(ts.div_euclid(NS_PER_HOUR)).or_default();
        cell.sent += sent.max(0) as f64;
        cell.flows += 1;
        cell.peers.add(peer.as_bytes());
        cell.ports.add_hash(hash64(&f.dst_port.to_le_bytes()));
        if let Some(c) = country.filter(|c| !c.is_empty()) {
            match acc.countries.get_mut(c) {
                Some(n) => *n += 1,
                None => {
                    acc.countries.insert(c.to_string(), 1);
                }
            }
        }
        if let Some(a) = asn {
            *acc.asns.entry(a).or_default() += 1;
        }
    }

    /// Learn from one looked-up name (a DNS query, a TLS server name) of `host`.
    pub fn add_name(&mut self, table: &str, host: &str, name: &str, ts_ns: i64) {
        self.count_row(table);
        let Some(domain) = registrable(name) else { return };
        let host_hash = hash64(host.as_bytes());
        match self.domains.get_mut(&domain) {
            Some((first, shared)) => *shared |= *first != host_hash,
            None => {
                self.domains.insert(domain.clone(), (host_hash, false));
            }
        }
        let acc = self.host(host, ts_ns);
        acc.day_domains.entry(ts_ns.div_euclid(NS_PER_DAY)).or_default().add(domain.as_bytes());
        acc.top.add(&domain, 1);
    }

    /// Learn from the connections of one pair — (start ns, bytes the
    /// originator sent), sorted here. A pair that scoring would have called
    /// a beacon somewhere in the baseline — any run of recent connections
    /// regular enough ([`crate::beacon::judge`]) — is remembered as periodic
    /// (updates, monitoring), so it is no news later.
    pub fn add_pair_connections(&mut self, src: &str, dst: &str, dst_port: i32, proto: i32, conns: &mut [(i64, i64)]) {
        let s = &self.settings;
        let min = s.beacon_min_connections as usize;
        // Scoring looks for beacons towards external peers only.
        if conns.len() < min.max(3) || s.internal.contains(dst) {
            return;
        }
        conns.sort_unstable();
        // The scorer judges the last `PAIR_TIMES` connections each time one
        // arrives; look at the same windows (at most ~2 000 of them per pair).
        let ends = conns.len() - min + 1;
        let step = ends.div_ceil(2000).max(1);
        let found = (min - 1..conns.len()).step_by(step).find_map(|end| {
            let start = (end + 1).saturating_sub(crate::score::PAIR_TIMES);
            crate::beacon::judge(&conns[start..=end], s)
        });
        if let Some(r) = found {
            self.periodic.push(PeriodicPair {
                src: src.to_string(),
                dst: dst.to_string(),
                dst_port,
                proto,
                connections: conns.len() as u32,
                interval_s: r.interval_s,
                jitter: r.jitter,
                size: r.size,
            });
        }
    }

    /// The model. `window` is the span learned from (ns, end exclusive).
    pub fn finish(self, id: String, trained_at_ns: i64, window: (i64, i64)) -> Model {
        let mut country_hosts: BTreeMap<String, u32> = BTreeMap::new();
        let mut asn_hosts: BTreeMap<i64, u32> = BTreeMap::new();
        let mut hosts = HashMap::with_capacity(self.hosts.len());
        for (host, acc) in self.hosts {
            for c in acc.countries.keys() {
                *country_hosts.entry(c.clone()).or_default() += 1;
            }
            for a in acc.asns.keys() {
                *asn_hosts.entry(*a).or_default() += 1;
            }
            hosts.insert(host, profile(acc));
        }
        let mut domains = Bloom::with_capacity(self.domains.len(), 0.001);
        for d in self.domains.keys() {
            domains.insert(d.as_bytes());
        }
        let periodic_keys: HashSet<u64> =
            self.periodic.iter().map(|p| pair_key(&p.src, &p.dst, p.dst_port, p.proto)).collect();
        Model {
            id,
            trained_at_ns,
            window,
            settings: self.settings,
            hosts,
            periodic: self.periodic,
            periodic_keys,
            global: Global { domains, domain_count: self.domains.len() as u64, country_hosts, asn_hosts },
            rows_read: self.rows,
        }
    }
}

fn profile(acc: HostAcc) -> HostProfile {
    let days: HashSet<i64> = acc.hours.keys().map(|h| h.div_euclid(24)).collect();
    let mut by_hour = Vec::with_capacity(24);
    for hod in 0..24 {
        let mut v: Vec<f64> = days.iter().map(|d| acc.hours.get(&(d * 24 + hod)).map_or(0.0, |c| c.sent)).collect();
        by_hour.push(Summary::of(&mut v));
    }
    let summary = |f: &dyn Fn(&HourCell) -> f64| Summary::of(&mut acc.hours.values().map(f).collect::<Vec<_>>());
    HostProfile {
        active_hours: acc.hours.len() as u32,
        active_days: days.len() as u32,
        first_seen_ns: acc.first,
        last_seen_ns: acc.last,
        sent_bytes_by_hour: by_hour,
        sent_bytes_hourly: summary(&|c| c.sent),
        connections_hourly: summary(&|c| f64::from(c.flows)),
        peers_hourly: summary(&|c| c.peers.estimate().round()),
        ports_hourly: summary(&|c| c.ports.estimate().round()),
        countries: acc.countries,
        asns: acc.asns,
        domains_daily: Summary::of(&mut acc.day_domains.values().map(|h| h.estimate().round()).collect::<Vec<_>>()),
        top_domains: acc.top.top(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow<'a>(src: &'a str, dst: &'a str, ts: i64, bytes: i64, country: Option<&'a str>) -> FlowSample<'a> {
        FlowSample {
            src_ip: src,
            dst_ip: dst,
            dst_port: 443,
            src_bytes: bytes,
            dst_bytes: 10,
            first_ts_ns: ts,
            src_country: country.filter(|_| !src.starts_with("10.")),
            dst_country: country.filter(|_| !dst.starts_with("10.")),
            src_asn: None,
            dst_asn: country.map(|_| 209),
        }
    }

    #[test]
    fn a_host_profile_counts_hours_days_countries_and_bytes_per_hour_of_day() {
        let mut t = Trainer::new(Settings::default());
        for day in 0..4 {
            for hour in [9, 10] {
                let ts = day * NS_PER_DAY + hour * NS_PER_HOUR + 5;
                t.add_flow(&flow("10.0.0.1", "216.160.83.56", ts, 1000 * (day + 1), Some("US")));
                t.add_flow(&flow("81.2.69.160", "10.0.0.1", ts, 5, Some("GB")));
            }
        }
        t.add_name("dns", "10.0.0.1", "www.example.com", 1);
        t.add_name("dns", "10.0.0.2", "mail.example.com", 2);
        t.add_name("dns", "10.0.0.2", "other.org", 2);
        let m = t.finish("m-1".into(), 0, (0, 4 * NS_PER_DAY));
        let p = &m.hosts["10.0.0.1"];
        assert_eq!((p.active_hours, p.active_days), (8, 4));
        // Inbound: the host sent the responder's bytes (10) to a GB peer.
        assert_eq!(p.countries.get("US"), Some(&8));
        assert_eq!(p.countries.get("GB"), Some(&8));
        assert_eq!(p.sent_bytes_by_hour[9].median, 2510.0);
        assert_eq!(p.sent_bytes_by_hour[3].p95, 0.0);
        assert_eq!(p.volume_norm(3), p.sent_bytes_hourly.median);
        assert!(p.unscored_reason(&m.settings).unwrap().contains("8 active hours on 4 days"));
        assert!(m.global.domains.contains(b"example.com"));
        assert!(!m.global.domains.contains(b"unknown.net"));
        assert_eq!(m.global.domain_count, 2);
        assert_eq!(m.global.country_hosts.get("US"), Some(&1));
    }

    #[test]
    fn regular_pairs_are_remembered_as_periodic() {
        let mut t = Trainer::new(Settings::default());
        let mut times: Vec<(i64, i64)> =
            (0..20).map(|i| (i * 300_000_000_000 + (i % 3) * 1_000_000_000, 400)).collect();
        t.add_pair_connections("10.0.0.1", "216.160.83.57", 8443, 6, &mut times);
        let mut random: Vec<(i64, i64)> =
            [1, 7, 9, 40, 41, 300, 302, 900, 1000, 5000].iter().map(|s| (s * 1_000_000_000, 400)).collect();
        t.add_pair_connections("10.0.0.1", "216.160.83.58", 80, 6, &mut random);
        // Regular within each daily replay of a capture, irregular overall:
        // scoring would have flagged it in the baseline, so it is known.
        let mut replays: Vec<(i64, i64)> =
            (0..3).flat_map(|r| (0..10).map(move |i| (r * 7_200_000_000_000 + i * 30_000_000_000, 76))).collect();
        t.add_pair_connections("10.0.0.1", "216.160.83.59", 123, 17, &mut replays);
        let m = t.finish("m".into(), 0, (0, 1));
        assert!(m.is_known_periodic("10.0.0.1", "216.160.83.59", 123, 17));
        assert!(m.is_known_periodic("10.0.0.1", "216.160.83.57", 8443, 6));
        assert!(!m.is_known_periodic("10.0.0.1", "216.160.83.58", 80, 6));
        let p = m.periodic.iter().find(|p| p.dst_port == 8443).unwrap();
        assert!((p.interval_s - 300.0).abs() <= 2.0 && p.jitter < 0.01 && p.size == 400.0, "{p:?}");
    }
}
