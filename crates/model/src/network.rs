//! Which endpoint of a flow is "the host" a profile is about: the internal
//! one. A flow between two internal addresses, or two external ones, is
//! the originator's.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The internal address ranges (stored as CIDR strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct InternalNetworks(pub Vec<IpNet>);

impl TryFrom<Vec<String>> for InternalNetworks {
    type Error = String;
    fn try_from(list: Vec<String>) -> Result<Self, String> {
        InternalNetworks::parse(&list)
    }
}

impl From<InternalNetworks> for Vec<String> {
    fn from(n: InternalNetworks) -> Vec<String> {
        n.0.iter().map(ToString::to_string).collect()
    }
}

impl Default for InternalNetworks {
    /// RFC 1918, shared address space (RFC 6598), loopback, link-local and
    /// unique-local IPv6.
    fn default() -> Self {
        let nets = [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "fc00::/7",
            "fe80::/10",
            "::1/128",
        ];
        InternalNetworks(nets.iter().filter_map(|n| n.parse().ok()).collect())
    }
}

/// A flow's endpoints as host and peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The host is the source (originator).
    Src,
    /// The host is the destination (the flow came in).
    Dst,
}

impl InternalNetworks {
    /// Parse a list of CIDRs.
    pub fn parse(list: &[String]) -> Result<InternalNetworks, String> {
        list.iter()
            .map(|s| s.trim().parse::<IpNet>().map_err(|e| format!("internal network {s:?}: {e}")))
            .collect::<Result<_, _>>()
            .map(InternalNetworks)
    }

    /// Whether `ip` is internal.
    pub fn contains(&self, ip: &str) -> bool {
        ip.parse::<IpAddr>().is_ok_and(|ip| self.0.iter().any(|n| n.contains(&ip)))
    }

    /// Which side of a flow from `src` to `dst` is the host.
    pub fn host_side(&self, src: &str, dst: &str) -> Side {
        if !self.contains(src) && self.contains(dst) { Side::Dst } else { Side::Src }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_internal_end_is_the_host() {
        let n = InternalNetworks::default();
        assert_eq!(n.host_side("10.0.0.5", "81.2.69.160"), Side::Src);
        assert_eq!(n.host_side("81.2.69.160", "10.0.0.5"), Side::Dst);
        assert_eq!(n.host_side("10.0.0.5", "192.168.1.1"), Side::Src);
        assert_eq!(n.host_side("8.8.8.8", "1.1.1.1"), Side::Src);
        assert_eq!(n.host_side("fd00::1", "2001:db8::1"), Side::Src);
        assert_eq!(n.host_side("not an ip", "10.0.0.1"), Side::Dst);
        assert!(InternalNetworks::parse(&["10.0.0.0/33".into()]).is_err());
        let json = serde_json::to_string(&n).unwrap();
        assert!(json.starts_with("[\"10.0.0.0/8\""), "{json}");
        assert_eq!(serde_json::from_str::<InternalNetworks>(&json).unwrap(), n);
        assert!(serde_json::from_str::<InternalNetworks>("[\"nonsense\"]").is_err());
    }
}
