//! The indicator index.
//!
//! - Addresses and networks: one hash map per prefix length present (IPv4
//!   held as IPv4-mapped IPv6, so one table serves both); a lookup probes
//!   only the lengths that occur, longest first — a few dozen hash probes at
//!   most, whatever the number of indicators.
//! - Domains: a map of lower-case names; a lookup walks the name's suffixes
//!   at label boundaries, so a listed domain matches its subdomains.
//! - URLs and hashes: exact maps on the normalised value.
//!
//! Each key maps to the indicators that name it (several feeds may list the
//! same value). Lookups allocate nothing unless they must lower-case input.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{Indicator, IndicatorKind};
use crate::intel::load::normalise_url;

/// A hasher for the address maps: keys are already well-spread bits, so a
/// multiply-and-fold (as in rustc's FxHash) replaces SipHash; an IP lookup
/// probes one map per prefix length present.
#[derive(Default, Clone, Copy)]
pub struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
        // Spread the high bits into the low ones the table indexes by.
        self.0 ^= self.0 >> 32;
    }
}

/// The indicators one key names: nearly always one, so no vector for it.
#[derive(Debug, Clone)]
enum Ids {
    One(u32),
    Many(Vec<u32>),
}

impl Ids {
    /// Add `id` under `key`.
    fn add<K: std::hash::Hash + Eq, S: std::hash::BuildHasher>(map: &mut HashMap<K, Ids, S>, key: K, id: u32) {
        match map.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Ids::One(id));
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                let ids = o.get_mut();
                *ids = match std::mem::replace(ids, Ids::One(0)) {
                    Ids::One(a) => Ids::Many(vec![a, id]),
                    Ids::Many(mut v) => {
                        v.push(id);
                        Ids::Many(v)
                    }
                };
            }
        }
    }

    fn as_slice(&self) -> &[u32] {
        match self {
            Ids::One(a) => std::slice::from_ref(a),
            Ids::Many(v) => v,
        }
    }
}

type AddrMap = HashMap<u128, Ids, std::hash::BuildHasherDefault<AddrHasher>>;

/// A matched indicator.
pub type Match<'a> = &'a Indicator;

/// Indicators ready for matching.
#[derive(Debug, Default)]
pub struct IntelIndex {
    indicators: Vec<Indicator>,
    /// (prefix length, masked address → indicator ids), longest first.
    nets: Vec<(u8, AddrMap)>,
    domains: HashMap<String, Ids>,
    urls: HashMap<String, Ids>,
    hashes: HashMap<String, Ids>,
}

/// An address as IPv6 bits (IPv4 mapped into ::ffff:0:0/96).
fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn mask(addr: u128, len: u8) -> u128 {
    if len == 0 { 0 } else { addr & (u128::MAX << (128 - u32::from(len))) }
}

/// Parse `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or network into
/// (IPv6 bits, prefix length).
pub fn parse_network(s: &str) -> Option<(u128, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let ip: IpAddr = addr.trim().parse().ok()?;
    let (max, offset) = if ip.is_ipv4() { (32u8, 96u8) } else { (128, 0) };
    let len = len.unwrap_or(max);
    if len > max {
        return None;
    }
    Some((mask(bits(ip), len + offset), len + offset))
}

impl IntelIndex {
    /// Index `indicators`. Values that do not parse for their kind (they
    /// cannot come from the loaders) are skipped and counted in the log.
    pub fn build(indicators: Vec<Indicator>) -> IntelIndex {
        let mut ix = IntelIndex::default();
        let mut skipped = 0usize;
        let mut nets: HashMap<u8, AddrMap> = HashMap::new();
        for (id, ind) in indicators.iter().enumerate() {
            let id = id as u32;
            match ind.kind {
                IndicatorKind::Ip => match parse_network(&ind.value) {
                    Some((net, len)) => Ids::add(nets.entry(len).or_default(), net, id),
                    None => skipped += 1,
                },
                IndicatorKind::Domain => {
                    Ids::add(&mut ix.domains, ind.value.trim_end_matches('.').to_ascii_lowercase(), id)
                }
                IndicatorKind::Url => Ids::add(&mut ix.urls, normalise_url(&ind.value), id),
                IndicatorKind::Hash => Ids::add(&mut ix.hashes, ind.value.to_ascii_lowercase(), id),
            }
        }
        if skipped > 0 {
            tracing::warn!(skipped, "indicators whose value does not parse were left out");
        }
        ix.nets = nets.into_iter().collect();
        ix.nets.sort_unstable_by_key(|n| std::cmp::Reverse(n.0));
        ix.indicators = indicators;
        ix
    }

    /// Indicators held.
    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    fn emit<'a>(&'a self, ids: Option<&Ids>, at_ns: i64, f: &mut impl FnMut(Match<'a>)) {
        for &id in ids.map(Ids::as_slice).unwrap_or_default() {
            let ind = &self.indicators[id as usize];
            if ind.valid_at(at_ns) {
                f(ind);
            }
        }
    }

    /// Every valid indicator whose address or network holds `ip`, most
    /// specific first.
    pub fn match_ip<'a>(&'a self, ip: IpAddr, at_ns: i64, mut f: impl FnMut(Match<'a>)) {
        let addr = bits(ip);
        for (len, map) in &self.nets {
            self.emit(map.get(&mask(addr, *len)), at_ns, &mut f);
        }
    }

    /// Every valid indicator naming `name` or a domain it is under.
    pub fn match_domain<'a>(&'a self, name: &str, at_ns: i64, mut f: impl FnMut(Match<'a>)) {
        if self.domains.is_empty() {
            return;
        }
        let name = name.trim_end_matches('.');
        let lowered;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = name.to_ascii_lowercase();
            lowered.as_str()
        } else {
            name
        };
        let mut rest = name;
        loop {
            self.emit(self.domains.get(rest), at_ns, &mut f);
            match rest.split_once('.') {
                Some((_, tail)) if !tail.is_empty() => rest = tail,
                _ => break,
            }
        }
    }

    /// Every valid indicator naming this URL.
    pub fn match_url<'a>(&'a self, url: &str, at_ns: i64, mut f: impl FnMut(Match<'a>)) {
        if !self.urls.is_empty() {
            self.emit(self.urls.get(&normalise_url(url)), at_ns, &mut f);
        }
    }

    /// Every valid indicator naming this file hash.
    pub fn match_hash<'a>(&'a self, hash: &str, at_ns: i64, mut f: impl FnMut(Match<'a>)) {
        if self.hashes.is_empty() {
            return;
        }
        if hash.bytes().any(|b| b.is_ascii_uppercase()) {
            self.emit(self.hashes.get(&hash.to_ascii_lowercase()), at_ns, &mut f);
        } else {
            self.emit(self.hashes.get(hash), at_ns, &mut f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ind(kind: IndicatorKind, v: &str, src: &str) -> Indicator {
        Indicator::new(kind, v, src)
    }

    fn ips(ix: &IntelIndex, ip: &str) -> Vec<String> {
        let mut v = Vec::new();
        ix.match_ip(ip.parse().unwrap(), 0, |m| v.push(format!("{}:{}", m.source, m.value)));
        v
    }

    #[test]
    fn addresses_and_networks_match_most_specific_first_for_both_families() {
        let ix = IntelIndex::build(vec![
            ind(IndicatorKind::Ip, "203.0.113.7", "a"),
            ind(IndicatorKind::Ip, "203.0.113.0/24", "drop"),
            ind(IndicatorKind::Ip, "203.0.113.7", "b"),
            ind(IndicatorKind::Ip, "2001:db8::/32", "v6"),
            ind(IndicatorKind::Ip, "0.0.0.0/0", "everything"),
        ]);
        assert_eq!(
            ips(&ix, "203.0.113.7"),
            ["a:203.0.113.7", "b:203.0.113.7", "drop:203.0.113.0/24", "everything:0.0.0.0/0"]
        );
        assert_eq!(ips(&ix, "203.0.113.8"), ["drop:203.0.113.0/24", "everything:0.0.0.0/0"]);
        assert_eq!(ips(&ix, "2001:db8:1::5"), ["v6:2001:db8::/32"]);
        // An IPv4 network does not swallow IPv6 space, nor the reverse.
        assert!(ips(&ix, "2001:db9::1").is_empty());
        assert_eq!(ips(&ix, "198.51.100.1"), ["everything:0.0.0.0/0"]);
    }

    #[test]
    fn domains_match_their_subdomains_at_label_boundaries_only() {
        let ix = IntelIndex::build(vec![ind(IndicatorKind::Domain, "Evil.Example", "f")]);
        let hit = |n: &str| {
            let mut c = 0;
            ix.match_domain(n, 0, |_| c += 1);
            c
        };
        assert_eq!(hit("evil.example"), 1);
        assert_eq!(hit("a.b.EVIL.example."), 1);
        assert_eq!(hit("notevil.example"), 0);
        assert_eq!(hit("example"), 0);
    }

    #[test]
    fn urls_and_hashes_match_exactly_and_expired_indicators_do_not() {
        let mut old = ind(IndicatorKind::Hash, "D41D8CD98F00B204E9800998ECF8427E", "old");
        old.expires_ns = Some(100);
        let ix = IntelIndex::build(vec![old, ind(IndicatorKind::Url, "HTTP://Bad.Example/x/payload.exe", "u")]);
        let mut n = 0;
        ix.match_hash("d41d8cd98f00b204e9800998ecf8427e", 99, |_| n += 1);
        assert_eq!(n, 1);
        ix.match_hash("d41d8cd98f00b204e9800998ecf8427e", 100, |_| n += 1);
        assert_eq!(n, 1, "expired at 100");
        ix.match_url("http://bad.example/x/payload.exe", 0, |_| n += 1);
        assert_eq!(n, 2);
        ix.match_url("http://bad.example/x/PAYLOAD.exe", 0, |_| n += 1);
        assert_eq!(n, 2, "paths keep their case");
    }

    #[test]
    fn networks_parse_strictly() {
        assert_eq!(parse_network("10.0.0.0/8").map(|p| p.1), Some(104));
        assert_eq!(parse_network("10.1.2.3/8"), parse_network("10.0.0.0/8"), "host bits are masked");
        for bad in ["10.0.0.0/33", "::/129", "300.1.1.1", "10.0.0.0/", "/8", "example.com", ""] {
            assert_eq!(parse_network(bad), None, "{bad}");
        }
    }
}
