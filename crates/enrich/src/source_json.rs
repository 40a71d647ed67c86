//! MaxMind's test databases come with the JSON they were built from; this
//! reads it to say what a lookup must return — an oracle for tests of
//! anything that enriches (feature `source-json`, for tests only).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;

use serde_json::Value;

/// A network as an IPv6 prefix (IPv4 sits at ::/96, as in the databases' tree).
fn prefix(cidr: &str) -> Option<(u128, u32)> {
    let (addr, len) = cidr.split_once('/')?;
    let len: u32 = len.parse().ok()?;
    Some(match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 96 + len),
        IpAddr::V6(v6) => (u128::from(v6), len),
    })
}

fn contains((net, len): (u128, u32), addr: u128) -> bool {
    len == 0 || (len <= 128 && (net ^ addr) >> (128 - len) == 0)
}

fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The networks of a source JSON file.
pub struct SourceJson {
    nets: Vec<((u128, u32), String, Value)>,
}

impl SourceJson {
    /// Read `path` (a list of `{"CIDR": record}` objects).
    pub fn read(path: &Path) -> Result<SourceJson, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let list: Vec<BTreeMap<String, Value>> =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let nets = list
            .into_iter()
            .flatten()
            .map(|(cidr, v)| prefix(&cidr).map(|p| (p, cidr.clone(), v)).ok_or(format!("bad network {cidr}")))
            .collect::<Result<_, _>>()?;
        Ok(SourceJson { nets })
    }

    /// The record a lookup of `ip` must return: that of the most specific
    /// network holding it.
    pub fn record(&self, ip: IpAddr) -> Option<&Value> {
        let k = key(ip);
        self.nets.iter().filter(|(p, _, _)| contains(*p, k)).max_by_key(|(p, _, _)| p.1).map(|(_, _, v)| v)
    }

    /// Every network's first address, with the record a lookup must return.
    pub fn first_addresses(&self) -> Vec<(IpAddr, Value)> {
        self.nets
            .iter()
            .filter_map(|(_, cidr, _)| {
                let ip = match cidr.split_once('/')?.0.parse::<IpAddr>().ok()? {
                    IpAddr::V4(v4) => IpAddr::V4(v4),
                    IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6))),
                };
                Some((ip, self.record(ip)?.clone()))
            })
            .collect()
    }
}

/// Every network's first address in the file at `path`, with its record.
pub fn networks(path: &Path) -> Result<Vec<(IpAddr, Value)>, String> {
    Ok(SourceJson::read(path)?.first_addresses())
}
