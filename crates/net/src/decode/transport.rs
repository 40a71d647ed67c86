//! Transport headers, and the tunnels that ride on IP or UDP.

use super::link;
use super::{Decoded, IssueKind, MAX_TUNNEL_DEPTH, Transport, Tunnel, TunnelKind, be16, be32, ip, ipproto};

const VXLAN_PORT: u16 = 4789;
const GENEVE_PORT: u16 = 6081;
const GTPU_PORT: u16 = 2152;
const TEREDO_PORT: u16 = 3544;
const GRE_IN_UDP_PORT: u16 = 4754;

const ETH_ERSPAN2: u16 = 0x88BE;
const ETH_ERSPAN3: u16 = 0x22EB;

pub(crate) fn dispatch<'a>(d: &mut Decoded<'a>, proto: u8, data: &'a [u8]) {
    match proto {
        ipproto::TCP => tcp(d, data),
        ipproto::UDP => udp(d, data),
        ipproto::SCTP => {
            if data.len() < 12 {
                return d.truncated("sctp");
            }
            d.transport = Transport::Sctp { sport: be16(data, 0), dport: be16(data, 2) };
            d.payload = &data[12..];
        }
        ipproto::ICMP | ipproto::ICMPV6 => {
            if data.len() < 4 {
                return d.truncated("icmp");
            }
            d.transport = Transport::Icmp { icmp_type: data[0], code: data[1] };
            d.payload = &data[4..];
        }
        ipproto::IPIP => tunnel(d, TunnelKind::IpInIp, |d| ip::ipv4(d, data)),
        ipproto::IPV6 => tunnel(d, TunnelKind::IpInIp, |d| ip::ipv6(d, data)),
        ipproto::GRE => gre(d, data),
        _ => {}
    }
}

fn tcp<'a>(d: &mut Decoded<'a>, data: &'a [u8]) {
    if data.len() < 20 {
        return d.truncated("tcp");
    }
    let off = (data[12] >> 4) as usize * 4;
    if off < 20 {
        return d.fail(IssueKind::Malformed, "tcp", "data offset below 20 bytes");
    }
    let flags = (((data[12] & 0x01) as u16) << 8) | data[13] as u16;
    d.transport =
        Transport::Tcp { sport: be16(data, 0), dport: be16(data, 2), seq: be32(data, 4), ack: be32(data, 8), flags };
    if off > data.len() {
        d.payload = &[];
        return d.truncated("tcp");
    }
    d.payload = &data[off..];
}

fn udp<'a>(d: &mut Decoded<'a>, data: &'a [u8]) {
    if data.len() < 8 {
        return d.truncated("udp");
    }
    let sport = be16(data, 0);
    let dport = be16(data, 2);
    let ulen = be16(data, 4) as usize;
    d.transport = Transport::Udp { sport, dport };
    d.payload = if ulen >= 8 && ulen <= data.len() { &data[8..ulen] } else { &data[8..] };
    let payload = d.payload;
    let either = |p: u16| sport == p || dport == p;
    if either(VXLAN_PORT) && payload.len() >= 8 + 14 && payload[0] & 0x08 != 0 {
        tunnel(d, TunnelKind::Vxlan, |d| link::ethernet(d, &payload[8..]));
    } else if either(GENEVE_PORT) && payload.len() >= 8 && payload[0] >> 6 == 0 {
        let hlen = 8 + (payload[0] & 0x3f) as usize * 4;
        let proto = be16(payload, 2);
        if let Some(inner) = payload.get(hlen..) {
            tunnel(d, TunnelKind::Geneve, |d| link::ethertype(d, proto, inner));
        }
    } else if either(GTPU_PORT) {
        if let Some(inner) = gtpu_payload(payload) {
            tunnel(d, TunnelKind::Gtp, |d| ip::by_version(d, inner));
        }
    } else if dport == GRE_IN_UDP_PORT && payload.len() >= 4 {
        gre(d, payload);
    } else if either(TEREDO_PORT)
        && let Some(inner) = teredo_payload(payload)
    {
        tunnel(d, TunnelKind::Teredo, |d| ip::ipv6(d, inner));
    }
}

/// The inner packet of a GTP-U G-PDU.
fn gtpu_payload(p: &[u8]) -> Option<&[u8]> {
    if p.len() < 8 || p[0] >> 5 != 1 || p[0] & 0x10 == 0 || p[1] != 0xFF {
        return None;
    }
    let mut at = 8;
    if p[0] & 0x07 != 0 {
        at = 12; // sequence number, N-PDU number, next extension type
        let mut next = *p.get(11)?;
        let mut guard = 0;
        while next != 0 {
            let len = *p.get(at)? as usize * 4;
            if len == 0 || guard > 16 {
                return None;
            }
            next = *p.get(at + len - 1)?;
            at += len;
            guard += 1;
        }
    }
    let inner = p.get(at..)?;
    matches!(inner.first().map(|b| b >> 4), Some(4 | 6)).then_some(inner)
}

/// The IPv6 packet inside a Teredo datagram, skipping the authentication and
/// origin indication headers; `None` when it does not look like Teredo.
fn teredo_payload(mut p: &[u8]) -> Option<&[u8]> {
    if p.len() >= 4 && p[0] == 0 && p[1] == 1 {
        let id_len = p[2] as usize;
        let au_len = p[3] as usize;
        p = p.get(4 + id_len + au_len + 9..)?;
    }
    if p.len() >= 8 && p[0] == 0 && p[1] == 0 {
        p = &p[8..];
    }
    if p.len() < 40 || p[0] >> 4 != 6 || 40 + be16(p, 4) as usize != p.len() {
        return None;
    }
    Some(p)
}

fn gre<'a>(d: &mut Decoded<'a>, data: &'a [u8]) {
    if data.len() < 4 {
        return d.truncated("gre");
    }
    let flags = be16(data, 0);
    let version = flags & 0x7;
    let proto = be16(data, 2);
    let mut at = 4;
    if flags & 0x4000 != 0 {
        return d.fail(IssueKind::Malformed, "gre", "source routing is not supported");
    }
    if flags & 0x8000 != 0 {
        at += 4; // checksum + reserved
    }
    if flags & 0x2000 != 0 {
        at += 4; // key (or PPTP payload length + call id)
    }
    let seq = flags & 0x1000 != 0;
    if seq {
        at += 4;
    }
    if version == 1 && flags & 0x0080 != 0 {
        at += 4; // PPTP acknowledgement number
    }
    let Some(inner) = data.get(at..) else {
        return d.truncated("gre");
    };
    match proto {
        ETH_ERSPAN2 => {
            // ERSPAN type I has no header (and no GRE sequence number); type II has 8 bytes.
            let skip = if seq { 8 } else { 0 };
            if let Some(frame) = inner.get(skip..) {
                tunnel(d, TunnelKind::Gre, |d| link::ethernet(d, frame));
            }
        }
        ETH_ERSPAN3 => {
            if inner.len() < 12 {
                return d.truncated("erspan");
            }
            let skip = if inner[11] & 0x01 != 0 { 20 } else { 12 };
            if let Some(frame) = inner.get(skip..) {
                tunnel(d, TunnelKind::Gre, |d| link::ethernet(d, frame));
            }
        }
        _ => tunnel(d, TunnelKind::Gre, |d| link::ethertype(d, proto, inner)),
    }
}

/// Decode an inner packet. The outermost tunnel's endpoints are recorded;
/// when the inner packet has no IP layer, the outer decoding stands.
fn tunnel<'a>(d: &mut Decoded<'a>, kind: TunnelKind, inner: impl FnOnce(&mut Decoded<'a>)) {
    let Some(outer) = d.ip else { return };
    if d.tunnel_depth >= MAX_TUNNEL_DEPTH {
        return d.fail(IssueKind::Malformed, "tunnel", "tunnels nested too deep");
    }
    let saved = *d;
    d.tunnel_depth += 1;
    if d.tunnel.is_none() {
        d.tunnel = Some(Tunnel { kind, src: outer.src, dst: outer.dst });
    }
    d.ip = None;
    d.transport = Transport::None;
    d.issue = None;
    inner(d);
    if d.ip.is_none() {
        // Not an IP packet inside (or not really this tunnel): keep the outer view.
        *d = saved;
    } else if saved.issue.is_some() {
        d.issue = saved.issue;
    }
}
