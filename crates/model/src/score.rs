//! Scoring incoming rows against a model. A [`Scorer`] keeps what scoring
//! needs between batches — bytes per host per hour, recent connection
//! times per pair, recent never-seen domains per host — in bounded maps,
//! and reports anomalies at or above the model's threshold.
//!
//! Only hosts with a profile that has enough history are scored; the
//! others are counted ([`ScoreCounts`]) and never flagged.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arrow::record_batch::RecordBatch;
use opensoc_schemas::Table;

use crate::columns::{int_at, ints, str_at, strings};
use crate::domain::{label_entropy, registrable};
use crate::hash::{hash64, mix};
use crate::network::Side;
use crate::profile::{HostProfile, Model, pair_key};

const NS_PER_HOUR: i64 = 3_600_000_000_000;
const NS: f64 = 1e9;
/// A host's new country or ASN is reported once per this span.
const NEW_PEER_QUIET_NS: i64 = 24 * NS_PER_HOUR;
/// A pair's beacon is reported once per this span.
const BEACON_QUIET_NS: i64 = 6 * NS_PER_HOUR;
/// Connection times kept per pair (the beacon judgement looks at these).
pub const PAIR_TIMES: usize = 32;
/// Peers remembered per host-hour to name where the bytes went.
const HOUR_PEERS: usize = 16;
/// Entries past which the maps are pruned of old state.
const PRUNE_AT: usize = 100_000;

/// Rule names of the anomalies (`rule` and `rules` of findings).
pub mod rules {
    /// Regular connections with low jitter to one peer.
    pub const BEACON: &str = "model.beacon";
    /// A peer country the host never talked with.
    pub const NEW_COUNTRY: &str = "model.new-country";
    /// A peer ASN the host never talked with.
    pub const NEW_ASN: &str = "model.new-asn";
    /// Bytes sent far above the host's norm for the hour.
    pub const VOLUME: &str = "model.volume-spike";
    /// Many domains nobody in the lake looked up, in a short time (once per burst).
    pub const NEW_DOMAINS: &str = "model.new-domain-burst";
    /// Every model rule.
    pub const ALL: [&str; 5] = [BEACON, NEW_COUNTRY, NEW_ASN, VOLUME, NEW_DOMAINS];
}

/// One anomaly on one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// The row in the batch.
    pub row: usize,
    /// One of [`rules`].
    pub rule: &'static str,
    /// 0–100.
    pub score: i32,
    /// The field the anomaly is about.
    pub matched_field: &'static str,
    /// Its value.
    pub indicator: String,
    /// `ip`, `domain` or `aggregate`.
    pub indicator_kind: &'static str,
    /// The explanation for the analyst.
    pub description: String,
    /// The time span the anomaly covers (ns), when wider than the row.
    pub window: Option<(i64, i64)>,
}

/// Rows seen by scoring, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScoreCounts {
    /// Rows scored against their host's profile.
    pub scored: u64,
    /// Rows of hosts the model has no profile for (not scored).
    pub unscored_new_host: u64,
    /// Rows of hosts with too little history (not scored).
    pub unscored_thin_history: u64,
    /// Anomalies reported.
    pub anomalies: u64,
}

#[derive(Default)]
struct Counters {
    scored: AtomicU64,
    new_host: AtomicU64,
    thin: AtomicU64,
    anomalies: AtomicU64,
}

struct HourVolume {
    hour: i64,
    sent: f64,
    peers: Vec<PeerBytes>,
    fired: bool,
}

struct PeerBytes {
    peer: String,
    bytes: f64,
    country: Option<String>,
    asn: Option<i64>,
}

#[derive(Default)]
struct PairTimes {
    /// (start ns, originator bytes), sorted by start.
    conns: Vec<(i64, i64)>,
    last_fired: Option<i64>,
}

#[derive(Default)]
struct NameBurst {
    recent: VecDeque<(i64, u64, String)>,
    fired_at: usize,
}

#[derive(Default)]
struct State {
    volume: HashMap<u64, HourVolume>,
    newest_hour: i64,
    pairs: HashMap<u64, PairTimes>,
    newest_ns: i64,
    names: HashMap<u64, NameBurst>,
    new_peers: HashMap<u64, i64>,
}

/// Scores batches against a model that can be replaced while it runs.
pub struct Scorer {
    model: RwLock<Arc<Model>>,
    state: Mutex<State>,
    counters: Counters,
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer").field("model", &self.model().id).field("counts", &self.counts()).finish()
    }
}

/// What scoring one row needs of its host.
enum HostCheck<'m> {
    Scored(&'m HostProfile),
    Skip,
}

impl Scorer {
    /// Score against `model`.
    pub fn new(model: Arc<Model>) -> Scorer {
        Scorer { model: RwLock::new(model), state: Mutex::new(State::default()), counters: Counters::default() }
    }

    /// The model in use.
    pub fn model(&self) -> Arc<Model> {
        self.model.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Score against `model` from now on; what was learned from recent rows
    /// (hour volumes, pair times) is kept.
    pub fn replace_model(&self, model: Arc<Model>) {
        *self.model.write().unwrap_or_else(|p| p.into_inner()) = model;
    }

    /// Rows seen so far, by outcome.
    pub fn counts(&self) -> ScoreCounts {
        let c = &self.counters;
        ScoreCounts {
            scored: c.scored.load(Ordering::Relaxed),
            unscored_new_host: c.new_host.load(Ordering::Relaxed),
            unscored_thin_history: c.thin.load(Ordering::Relaxed),
            anomalies: c.anomalies.load(Ordering::Relaxed),
        }
    }

    fn check<'m>(&self, model: &'m Model, host: &str) -> HostCheck<'m> {
        match model.hosts.get(host) {
            None => {
                self.counters.new_host.fetch_add(1, Ordering::Relaxed);
                HostCheck::Skip
            }
            Some(p) if p.unscored_reason(&model.settings).is_some() => {
                self.counters.thin.fetch_add(1, Ordering::Relaxed);
                HostCheck::Skip
            }
            Some(p) => {
                self.counters.scored.fetch_add(1, Ordering::Relaxed);
                HostCheck::Scored(p)
            }
        }
    }

    /// The anomalies of `batch` of `table` (flows, dns and tls are scored;
    /// other tables give none).
    pub fn score(&self, table: Table, batch: &RecordBatch) -> Vec<Anomaly> {
        let model = self.model();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let out = match table {
            Table::Flows => self.score_flows(&model, &mut state, batch),
            Table::Dns => self.score_names(&model, &mut state, batch, "query"),
            Table::Tls => self.score_names(&model, &mut state, batch, "sni"),
            _ => Vec::new(),
        };
        let threshold = model.settings.threshold;
        let out: Vec<Anomaly> = out.into_iter().filter(|a| a.score >= threshold).collect();
        self.counters.anomalies.fetch_add(out.len() as u64, Ordering::Relaxed);
        out
    }

    fn score_flows(&self, model: &Model, state: &mut State, batch: &RecordBatch) -> Vec<Anomaly> {
        let mut out = Vec::new();
        let (Some(src), Some(dst), Some(dport), Some(proto), Some(src_bytes), Some(dst_bytes), Some(first)) = (
            strings(batch, "src_ip"),
            strings(batch, "dst_ip"),
            ints(batch, "dst_port"),
            ints(batch, "proto"),
            ints(batch, "src_bytes"),
            ints(batch, "dst_bytes"),
            ints(batch, "first_ts_ns"),
        ) else {
            return out;
        };
        let src_country = strings(batch, "src_country");
        let dst_country = strings(batch, "dst_country");
        let src_asn = ints(batch, "src_asn");
        let dst_asn = ints(batch, "dst_asn");
        let flags = ints(batch, "src_tcp_flags");
        let end_reason = strings(batch, "end_reason");
        let s = &model.settings;
        for row in 0..batch.num_rows() {
            let (Some(src_ip), Some(dst_ip), Some(ts)) = (str_at(&src, row), str_at(&dst, row), int_at(&first, row))
            else {
                continue;
            };
            let side = s.internal.host_side(src_ip, dst_ip);
            let (host, peer) = if side == Side::Src { (src_ip, dst_ip) } else { (dst_ip, src_ip) };
            let HostCheck::Scored(profile) = self.check(model, host) else { continue };
            let country_col = if side == Side::Src { &dst_country } else { &src_country };
            let country = country_col.as_ref().and_then(|c| str_at(c, row)).filter(|c| !c.is_empty());
            let asn_col = if side == Side::Src { &dst_asn } else { &src_asn };
            let asn = asn_col.as_ref().and_then(|c| int_at(c, row));
            let sent = if side == Side::Src { int_at(&src_bytes, row) } else { int_at(&dst_bytes, row) };
            let port = int_at(&dport, row).unwrap_or(0) as i32;
            let proto = int_at(&proto, row).unwrap_or(0) as i32;
            let flow = FlowRow { row, ts, host, peer, country, asn };
            new_peer(model, profile, state, &flow, &mut out);
            volume(model, profile, state, &flow, sent.unwrap_or(0).max(0) as f64, &mut out);
            let new_connection = match proto {
                6 => flags.as_ref().and_then(|f| int_at(f, row)).is_some_and(|f| f & 0x02 != 0),
                17 => {
                    end_reason.as_ref().and_then(|e| str_at(e, row)).is_none_or(|r| r != "active" && r != "packet-cap")
                }
                _ => false,
            };
            // Beacons are looked for towards the outside, as RITA does: an
            // internal resolver or file server sees regular-enough traffic
            // from every host.
            if side == Side::Src && new_connection && !s.internal.contains(dst_ip) {
                let sent = int_at(&src_bytes, row).unwrap_or(0);
                beacon(model, state, row, (ts, sent), (src_ip, dst_ip, port, proto), &mut out);
            }
        }
        prune(state, s.beacon_max_interval_s);
        out
    }

    fn score_names(&self, model: &Model, state: &mut State, batch: &RecordBatch, column: &str) -> Vec<Anomaly> {
        let mut out = Vec::new();
        let (Some(src), Some(names), Some(ts)) =
            (strings(batch, "src_ip"), strings(batch, column), ints(batch, "ts_ns"))
        else {
            return out;
        };
        let s = &model.settings;
        let window_ns = i64::from(s.domain_burst_window_s) * 1_000_000_000;
        for row in 0..batch.num_rows() {
            let (Some(host), Some(name), Some(ts)) = (str_at(&src, row), str_at(&names, row), int_at(&ts, row)) else {
                continue;
            };
            if !matches!(self.check(model, host), HostCheck::Scored(_)) {
                continue;
            }
            let Some(domain) = registrable(name) else { continue };
            if model.global.domains.contains(domain.as_bytes()) {
                continue;
            }
            let burst = state.names.entry(hash64(host.as_bytes())).or_default();
            while burst.recent.front().is_some_and(|(t, _, _)| *t < ts - window_ns) {
                burst.recent.pop_front();
            }
            if burst.recent.is_empty() {
                burst.fired_at = 0;
            }
            let h = hash64(domain.as_bytes());
            if !burst.recent.iter().any(|(_, x, _)| *x == h) {
                burst.recent.push_back((ts, h, domain.clone()));
            }
            let n = burst.recent.len();
            // One finding per burst: again only after the host went a whole
            // window without a never-seen domain.
            if n >= s.domain_burst as usize && burst.fired_at == 0 {
                burst.fired_at = n;
                let entropy = burst.recent.iter().map(|(_, _, d)| label_entropy(d)).sum::<f64>() / n as f64;
                let examples: Vec<&str> = burst.recent.iter().rev().take(5).map(|(_, _, d)| d.as_str()).collect();
                let first_ts = burst.recent.front().map_or(ts, |x| x.0);
                let score =
                    55 + ((n - s.domain_burst as usize) as i32 * 2).min(25) + if entropy >= 3.0 { 10 } else { 0 };
                out.push(Anomaly {
                    row,
                    rule: rules::NEW_DOMAINS,
                    score: score.min(95),
                    matched_field: if column == "sni" { "sni" } else { "query" },
                    indicator: domain,
                    indicator_kind: "domain",
                    description: format!(
                        "host {host} looked up {n} domains that no host in the lake looked up in the model's window, within {} s (e.g. {}); mean label entropy {entropy:.1} bits",
                        (ts - first_ts) / 1_000_000_000,
                        examples.join(", ")
                    ),
                    window: Some((first_ts, ts)),
                });
            }
        }
        if state.names.len() > PRUNE_AT {
            let newest = state.names.values().filter_map(|b| b.recent.back().map(|x| x.0)).max().unwrap_or(0);
            state.names.retain(|_, b| b.recent.back().is_some_and(|x| x.0 >= newest - window_ns));
        }
        out
    }
}

/// One flow row as the per-host checks see it: its host, the peer at the
/// other end, and the peer's GeoIP.
#[derive(Clone, Copy)]
struct FlowRow<'a> {
    row: usize,
    ts: i64,
    host: &'a str,
    peer: &'a str,
    country: Option<&'a str>,
    asn: Option<i64>,
}

fn new_peer(model: &Model, profile: &HostProfile, state: &mut State, flow: &FlowRow<'_>, out: &mut Vec<Anomaly>) {
    let FlowRow { row, ts, host, peer, country, asn } = *flow;
    let days = (profile.last_seen_ns - profile.first_seen_ns) as f64 / (24.0 * 3600.0 * NS);
    let mut quiet = |key: u64| -> bool {
        match state.new_peers.get(&key) {
            Some(t) if ts - *t < NEW_PEER_QUIET_NS && ts >= *t => false,
            _ => {
                state.new_peers.insert(key, ts);
                true
            }
        }
    };
    let host_hash = hash64(host.as_bytes());
    if let Some(c) = country
        && !profile.countries.contains_key(c)
        && quiet(mix(host_hash ^ hash64(c.as_bytes()) ^ 1))
    {
        let anyone = model.global.country_hosts.get(c).copied().unwrap_or(0);
        let usual: Vec<&str> = profile.countries.keys().map(String::as_str).take(8).collect();
        out.push(Anomaly {
            row,
            rule: rules::NEW_COUNTRY,
            score: if anyone == 0 { 70 } else { 55 },
            matched_field: "peer_country",
            indicator: peer.to_string(),
            indicator_kind: "ip",
            description: format!(
                "host {host} talked with {peer} in {c}{}, a country it never talked with in {days:.0} days of history (usual: {}); {}",
                asn.map(|a| format!(" (AS{a})")).unwrap_or_default(),
                if usual.is_empty() { "none".to_string() } else { usual.join(", ") },
                if anyone == 0 { "no host in the lake did".to_string() } else { format!("{anyone} other hosts did") }
            ),
            window: None,
        });
    }
    if let Some(a) = asn
        && !profile.asns.contains_key(&a)
        && quiet(mix(host_hash ^ (a as u64) ^ 2))
    {
        let anyone = model.global.asn_hosts.get(&a).copied().unwrap_or(0);
        out.push(Anomaly {
            row,
            rule: rules::NEW_ASN,
            score: if anyone == 0 { 50 } else { 35 },
            matched_field: "peer_asn",
            indicator: peer.to_string(),
            indicator_kind: "ip",
            description: format!(
                "host {host} talked with {peer} in AS{a}{}, a network it never talked with in {days:.0} days of history; {}",
                country.map(|c| format!(" ({c})")).unwrap_or_default(),
                if anyone == 0 { "first seen in the lake".to_string() } else { format!("{anyone} other hosts did") }
            ),
            window: None,
        });
    }
}

fn volume(
    model: &Model,
    profile: &HostProfile,
    state: &mut State,
    flow: &FlowRow<'_>,
    sent: f64,
    out: &mut Vec<Anomaly>,
) {
    let FlowRow { row, ts, host, peer, country, asn } = *flow;
    let s = &model.settings;
    let hour = ts.div_euclid(NS_PER_HOUR);
    state.newest_hour = state.newest_hour.max(hour);
    let cell = state.volume.entry(mix(hash64(host.as_bytes()) ^ hour as u64)).or_insert_with(|| HourVolume {
        hour,
        sent: 0.0,
        peers: Vec::new(),
        fired: false,
    });
    cell.sent += sent;
    if let Some(p) = cell.peers.iter_mut().find(|p| p.peer == peer) {
        p.bytes += sent;
    } else if cell.peers.len() < HOUR_PEERS {
        cell.peers.push(PeerBytes { peer: peer.to_string(), bytes: sent, country: country.map(str::to_string), asn });
    }
    let hour_of_day = hour.rem_euclid(24) as usize;
    let norm = profile.volume_norm(hour_of_day).max(1.0);
    if cell.fired || cell.sent <= s.volume_ratio * norm || cell.sent <= s.volume_floor_bytes {
        return;
    }
    cell.fired = true;
    let ratio = cell.sent / norm;
    let score = (50.0 + 10.0 * (ratio / s.volume_ratio).log2()).clamp(50.0, 95.0).round() as i32;
    let top = cell.peers.iter().max_by(|a, b| a.bytes.total_cmp(&b.bytes));
    let to = top
        .map(|p| {
            let where_ = match (&p.country, p.asn) {
                (Some(c), Some(a)) => format!(" ({c}, AS{a})"),
                (Some(c), None) => format!(" ({c})"),
                (None, Some(a)) => format!(" (AS{a})"),
                (None, None) => String::new(),
            };
            format!("; most of it ({}) to {}{where_}", human_bytes(p.bytes), p.peer)
        })
        .unwrap_or_default();
    out.push(Anomaly {
        row,
        rule: rules::VOLUME,
        score,
        matched_field: "sent_bytes",
        indicator: top.map_or_else(|| peer.to_string(), |p| p.peer.clone()),
        indicator_kind: "ip",
        description: format!(
            "host {host} sent {ratio:.0}× its norm for {hour_of_day:02}:00 UTC ({} in the hour against a 95th percentile of {}){to}",
            human_bytes(cell.sent),
            human_bytes(norm)
        ),
        window: Some((hour * NS_PER_HOUR, (hour + 1) * NS_PER_HOUR - 1)),
    });
}

fn beacon(
    model: &Model,
    state: &mut State,
    row: usize,
    (ts, sent): (i64, i64),
    (src, dst, port, proto): (&str, &str, i32, i32),
    out: &mut Vec<Anomaly>,
) {
    let s = &model.settings;
    state.newest_ns = state.newest_ns.max(ts);
    if model.is_known_periodic(src, dst, port, proto) {
        return;
    }
    let pair = state.pairs.entry(pair_key(src, dst, port, proto)).or_default();
    if let Err(at) = pair.conns.binary_search_by_key(&ts, |c| c.0) {
        pair.conns.insert(at, (ts, sent));
        if pair.conns.len() > PAIR_TIMES {
            pair.conns.remove(0);
        }
    }
    if pair.last_fired.is_some_and(|t| ts - t < BEACON_QUIET_NS && ts >= t) {
        return;
    }
    let Some(r) = crate::beacon::judge(&pair.conns, s) else { return };
    pair.last_fired = Some(ts);
    let n = pair.conns.len();
    let score = 60.0
        + 25.0 * (1.0 - r.jitter / s.beacon_max_jitter)
        + (n as f64 - f64::from(s.beacon_min_connections)).min(10.0);
    let proto_name = match proto {
        6 => "tcp",
        17 => "udp",
        _ => "ip",
    };
    out.push(Anomaly {
        row,
        rule: rules::BEACON,
        score: score.clamp(60.0, 95.0).round() as i32,
        matched_field: "dst_ip",
        indicator: dst.to_string(),
        indicator_kind: "ip",
        description: format!(
            "host {src} connected to {dst}:{port}/{proto_name} {n} times about every {:.0} s (median deviation {:.1} s, {:.1} %), sending about {} each time: a beacon; the pair was not periodic in the baseline",
            r.interval_s,
            r.jitter * r.interval_s,
            r.jitter * 100.0,
            human_bytes(r.size)
        ),
        window: Some((pair.conns[0].0, pair.conns[n - 1].0)),
    });
}

fn prune(state: &mut State, max_interval_s: f64) {
    if state.volume.len() > PRUNE_AT {
        let keep_from = state.newest_hour - 2;
        state.volume.retain(|_, v| v.hour >= keep_from);
    }
    if state.pairs.len() > PRUNE_AT {
        let keep_from = state.newest_ns - (2.0 * max_interval_s * NS) as i64;
        state.pairs.retain(|_, p| p.conns.last().is_some_and(|c| c.0 >= keep_from));
    }
    if state.new_peers.len() > PRUNE_AT {
        let keep_from = state.newest_ns - NEW_PEER_QUIET_NS;
        state.new_peers.retain(|_, t| *t >= keep_from);
    }
}

/// Bytes for people: `1.2 MB`.
pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 { format!("{v:.0} B") } else { format!("{v:.1} {}", UNITS[u]) }
}
