//! Packet decoding from the link layer to the transport header, without
//! allocating: [`decode`] fills a [`Decoded`] that borrows the packet bytes.
//!
//! Link layers: Ethernet (802.1Q/802.1ad/QinQ VLANs, MPLS, PPPoE, LLC/SNAP),
//! NULL/LOOP, raw IPv4/IPv6, Linux SLL and SLL2, PPP, NFLOG, FDDI, 802.11 and
//! radiotap. Tunnels — GRE (incl. ERSPAN, transparent Ethernet bridging,
//! PPTP), IP-in-IP, 6in4, VXLAN, Geneve, GTP-U and Teredo — are decoded to the
//! inner packet; the outermost tunnel's endpoints are kept in
//! [`Decoded::tunnel`]. Whatever stops decoding is reported in
//! [`Decoded::issue`]; a packet is never rejected as a whole.

mod ip;
mod link;
mod transport;

use std::net::IpAddr;

use crate::LinkType;

/// How many tunnel layers are followed before giving up (a guard against
/// packets that nest tunnels forever).
pub const MAX_TUNNEL_DEPTH: u8 = 4;

/// TCP flag bits as in the TCP header (plus NS as bit 8).
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u16 = 0x001;
    /// SYN.
    pub const SYN: u16 = 0x002;
    /// RST.
    pub const RST: u16 = 0x004;
    /// PSH.
    pub const PSH: u16 = 0x008;
    /// ACK.
    pub const ACK: u16 = 0x010;
    /// URG.
    pub const URG: u16 = 0x020;
    /// ECE.
    pub const ECE: u16 = 0x040;
    /// CWR.
    pub const CWR: u16 = 0x080;
    /// NS.
    pub const NS: u16 = 0x100;
}

/// IANA protocol numbers used here.
pub mod ipproto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulation.
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 encapsulation.
    pub const IPV6: u8 = 41;
    /// GRE.
    pub const GRE: u8 = 47;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// The tunnel protocols that are decoded to their inner packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    /// GRE, including ERSPAN and PPTP's enhanced GRE.
    Gre,
    /// IPv4 or IPv6 directly inside IP (protocols 4 and 41).
    IpInIp,
    /// VXLAN (UDP 4789).
    Vxlan,
    /// Geneve (UDP 6081).
    Geneve,
    /// GTP-U (UDP 2152).
    Gtp,
    /// Teredo (UDP 3544).
    Teredo,
}

impl TunnelKind {
    /// Lower-case name for tables and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelKind::Gre => "gre",
            TunnelKind::IpInIp => "ip-in-ip",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Gtp => "gtp",
            TunnelKind::Teredo => "teredo",
        }
    }
}

/// The outermost tunnel a packet travelled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    /// Tunnel protocol.
    pub kind: TunnelKind,
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
}

/// An IP fragment's identity and place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// IP identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Offset of this fragment's data in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

/// The innermost IP header of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpHeader {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport protocol (after IPv6 extension headers).
    pub proto: u8,
    /// TTL or hop limit.
    pub ttl: u8,
    /// Set when the packet is a fragment.
    pub fragment: Option<Fragment>,
}

impl IpHeader {
    /// True for a fragment that does not carry the transport header.
    pub fn is_later_fragment(&self) -> bool {
        matches!(self.fragment, Some(f) if f.offset > 0)
    }
}

/// The transport header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// None decoded (not IP, a later fragment, another protocol, or cut short).
    #[default]
    None,
    /// TCP.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgement number.
        ack: u32,
        /// Flags, see [`tcp_flags`].
        flags: u16,
    },
    /// UDP.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// SCTP.
    Sctp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// ICMP or ICMPv6 (see [`IpHeader::proto`] for which).
    Icmp {
        /// Message type.
        icmp_type: u8,
        /// Message code.
        code: u8,
    },
}

impl Transport {
    /// (source, destination) ports for TCP, UDP and SCTP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match *self {
            Transport::Tcp { sport, dport, .. }
            | Transport::Udp { sport, dport }
            | Transport::Sctp { sport, dport } => Some((sport, dport)),
            _ => None,
        }
    }
}

/// Whether a decoding problem is a short capture or a broken header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueKind {
    /// The bytes end before the header does (often just the snap length).
    Truncated,
    /// The header's fields are inconsistent.
    Malformed,
}

/// The first problem met while decoding a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeIssue {
    /// Truncated or malformed.
    pub kind: IssueKind,
    /// The layer being decoded, e.g. "ipv4" or "tcp".
    pub layer: &'static str,
    /// What was wrong.
    pub reason: &'static str,
}

/// What could be decoded of one packet.
#[derive(Debug, Clone, Copy, Default)]
pub struct Decoded<'a> {
    /// Outermost VLAN id, if tagged.
    pub vlan: Option<u16>,
    /// Second VLAN id (QinQ), if double-tagged.
    pub inner_vlan: Option<u16>,
    /// The outermost tunnel, when the IP header below is an inner one.
    pub tunnel: Option<Tunnel>,
    /// The innermost IP header.
    pub ip: Option<IpHeader>,
    /// The transport header of the innermost IP packet.
    pub transport: Transport,
    /// Bytes after the transport header (or after IP for other protocols).
    pub payload: &'a [u8],
    /// The EtherType (or equivalent) of a non-IP packet, when known.
    pub ethertype: Option<u16>,
    /// The first problem met, if any.
    pub issue: Option<DecodeIssue>,
    pub(crate) tunnel_depth: u8,
}

impl Decoded<'_> {
    pub(crate) fn fail(&mut self, kind: IssueKind, layer: &'static str, reason: &'static str) {
        if self.issue.is_none() {
            self.issue = Some(DecodeIssue { kind, layer, reason });
        }
    }
    pub(crate) fn truncated(&mut self, layer: &'static str) {
        self.fail(IssueKind::Truncated, layer, "header cut short");
    }
}

/// Decode one packet of the given link type. Never fails: problems are
/// reported in [`Decoded::issue`] and decoding stops at that layer.
pub fn decode(linktype: LinkType, data: &[u8]) -> Decoded<'_> {
    let mut d = Decoded::default();
    link::decode_link(&mut d, linktype, data);
    d
}

/// Read a big-endian u16 at `at` (caller checked the length).
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Read a big-endian u32 at `at` (caller checked the length).
#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
