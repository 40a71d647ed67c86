//! Community ID v1 flow hashing, exactly per the specification
//! (<https://github.com/corelight/community-id-spec>): SHA-1 over
//! `seed | saddr | daddr | proto | 0 | sport | dport` in network order, with the
//! endpoints ordered so the smaller (address, port) comes first, and ICMP
//! types mapped to port equivalents.

use std::fmt;
use std::net::IpAddr;

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::decode::ipproto;

/// Length of a Community ID string: `"1:"` plus 28 base64 characters.
pub const COMMUNITY_ID_LEN: usize = 30;

/// A Community ID v1 string, held inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommunityId([u8; COMMUNITY_ID_LEN]);

impl CommunityId {
    /// The ID as text, e.g. `1:LQU9qZlK+B5F3KDmev6m5PMibrg=`.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written into the array.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl CommunityId {
    /// A value that sorts before every real Community ID (for rows without one).
    pub fn default_sort_key() -> CommunityId {
        CommunityId([0; COMMUNITY_ID_LEN])
    }
}

impl fmt::Display for CommunityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CommunityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommunityId({})", self.as_str())
    }
}

/// The flow tuple as seen in one packet, before ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowTuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IANA protocol number.
    pub proto: u8,
    /// Source port, or ICMP type; `None` when the protocol has no ports.
    pub sport: Option<u16>,
    /// Destination port, or ICMP code.
    pub dport: Option<u16>,
}

/// Computes Community IDs with a fixed seed.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommunityIdHasher {
    seed: u16,
}

impl CommunityIdHasher {
    /// A hasher with the given seed (the spec's default is 0).
    pub fn new(seed: u16) -> Self {
        CommunityIdHasher { seed }
    }

    /// The Community ID of a flow tuple. For ICMP/ICMPv6, `sport` is the
    /// type and `dport` the code, as the packet carries them.
    pub fn hash(&self, t: &FlowTuple) -> CommunityId {
        self.hash_canonical(&CanonicalTuple::from_tuple(t))
    }

    /// The Community ID of a tuple already put in canonical order.
    pub fn hash_canonical(&self, c: &CanonicalTuple) -> CommunityId {
        let mut h = Sha1::new();
        h.update(self.seed.to_be_bytes());
        update_addr(&mut h, c.a);
        update_addr(&mut h, c.b);
        h.update([c.proto, 0]);
        if c.has_ports {
            h.update(c.a_port.to_be_bytes());
            h.update(c.b_port.to_be_bytes());
        }
        let digest = h.finalize();
        let mut out = [0u8; COMMUNITY_ID_LEN];
        out[0] = b'1';
        out[1] = b':';
        // 20 bytes of SHA-1 encode to exactly 28 base64 characters.
        let written = base64::engine::general_purpose::STANDARD.encode_slice(digest, &mut out[2..]).unwrap_or(0);
        debug_assert_eq!(written, 28);
        CommunityId(out)
    }
}

/// A flow tuple in the spec's canonical order: the key of a bidirectional
/// flow. ICMP types are already mapped to their port equivalents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CanonicalTuple {
    /// The smaller endpoint's address (or the source, for one-way ICMP).
    pub a: IpAddr,
    /// The other address.
    pub b: IpAddr,
    /// Port (or ICMP equivalent) of `a`.
    pub a_port: u16,
    /// Port (or ICMP equivalent) of `b`.
    pub b_port: u16,
    /// IANA protocol number.
    pub proto: u8,
    /// Whether ports take part in the hash.
    pub has_ports: bool,
}

impl CanonicalTuple {
    /// Order a packet's tuple; also says whether the packet's source is `b`.
    pub fn from_tuple_with_direction(t: &FlowTuple) -> (CanonicalTuple, bool) {
        let (mut sport, mut dport) = (t.sport.unwrap_or(0), t.dport.unwrap_or(0));
        let has_ports = t.sport.is_some() && has_ports(t.proto);
        let mut one_way = false;
        if has_ports && (t.proto == ipproto::ICMP || t.proto == ipproto::ICMPV6) {
            let (p1, p2, ow) = icmp_port_equivalents(t.proto == ipproto::ICMPV6, sport as u8, dport as u8);
            sport = p1;
            dport = p2;
            one_way = ow;
        }
        let swapped = !one_way && !is_ordered(t.src, sport, t.dst, dport);
        let c = if swapped {
            CanonicalTuple { a: t.dst, b: t.src, a_port: dport, b_port: sport, proto: t.proto, has_ports }
        } else {
            CanonicalTuple { a: t.src, b: t.dst, a_port: sport, b_port: dport, proto: t.proto, has_ports }
        };
        (c, swapped)
    }

    /// Order a packet's tuple.
    pub fn from_tuple(t: &FlowTuple) -> CanonicalTuple {
        Self::from_tuple_with_direction(t).0
    }
}

fn has_ports(proto: u8) -> bool {
    matches!(proto, ipproto::TCP | ipproto::UDP | ipproto::SCTP | ipproto::ICMP | ipproto::ICMPV6)
}

fn update_addr(h: &mut Sha1, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => h.update(v4.octets()),
        IpAddr::V6(v6) => h.update(v6.octets()),
    }
}

/// `(a, ap) < (b, bp)` comparing address bytes, then ports.
fn is_ordered(a: IpAddr, ap: u16, b: IpAddr, bp: u16) -> bool {
    let cmp = match (a, b) {
        (IpAddr::V4(x), IpAddr::V4(y)) => x.octets().cmp(&y.octets()),
        (IpAddr::V6(x), IpAddr::V6(y)) => x.octets().cmp(&y.octets()),
        (IpAddr::V4(_), IpAddr::V6(_)) => std::cmp::Ordering::Less,
        (IpAddr::V6(_), IpAddr::V4(_)) => std::cmp::Ordering::Greater,
    };
    cmp.is_lt() || (cmp.is_eq() && ap < bp)
}

/// The spec's ICMP type mapping: (port1, port2, one_way).
fn icmp_port_equivalents(v6: bool, icmp_type: u8, code: u8) -> (u16, u16, bool) {
    let counterpart = if v6 {
        match icmp_type {
            128 => Some(129),
            129 => Some(128),
            133 => Some(134),
            134 => Some(133),
            135 => Some(136),
            136 => Some(135),
            130 => Some(131),
            131 => Some(130),
            139 => Some(140),
            140 => Some(139),
            144 => Some(145),
            145 => Some(144),
            _ => None,
        }
    } else {
        match icmp_type {
            8 => Some(0),
            0 => Some(8),
            13 => Some(14),
            14 => Some(13),
            15 => Some(16),
            16 => Some(15),
            10 => Some(9),
            17 => Some(18),
            18 => Some(17),
            _ => None,
        }
    };
    match counterpart {
        Some(c) => (icmp_type as u16, c, false),
        None => (icmp_type as u16, code as u16, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(src: &str, dst: &str, proto: u8, sport: u16, dport: u16, seed: u16) -> String {
        CommunityIdHasher::new(seed)
            .hash(&FlowTuple {
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                proto,
                sport: Some(sport),
                dport: Some(dport),
            })
            .to_string()
    }

    // Values from the specification's README and baseline tables.
    #[test]
    fn spec_examples() {
        assert_eq!(id("128.232.110.120", "66.35.250.204", 6, 34855, 80, 0), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        assert_eq!(id("66.35.250.204", "128.232.110.120", 6, 80, 34855, 0), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        assert_eq!(id("128.232.110.120", "66.35.250.204", 6, 34855, 80, 1), "1:3V71V58M3Ksw/yuFALMcW0LAHvc=");
    }

    #[test]
    fn ports_absent_for_other_protocols() {
        let h = CommunityIdHasher::new(0);
        let t = FlowTuple {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            proto: 46,
            sport: None,
            dport: None,
        };
        let r = FlowTuple { src: t.dst, dst: t.src, ..t };
        assert_eq!(h.hash(&t), h.hash(&r));
        assert_eq!(h.hash(&t).as_str().len(), COMMUNITY_ID_LEN);
    }

    #[test]
    fn icmp_echo_pairs_and_one_way_types() {
        // echo request and its reply map to the same flow
        assert_eq!(id("10.0.0.1", "10.0.0.2", 1, 8, 0, 0), id("10.0.0.2", "10.0.0.1", 1, 0, 0, 0));
        // destination unreachable is one-way: direction matters
        assert_ne!(id("10.0.0.1", "10.0.0.2", 1, 3, 1, 0), id("10.0.0.2", "10.0.0.1", 1, 3, 1, 0));
    }
}
