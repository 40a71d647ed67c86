//! Link layers and EtherType dispatch.

use super::{Decoded, IssueKind, be16, ip};
use crate::LinkType;

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88A8;
const ETH_QINQ_OLD1: u16 = 0x9100;
const ETH_QINQ_OLD2: u16 = 0x9200;
const ETH_MPLS_UC: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;
const ETH_PPPOE_SESSION: u16 = 0x8864;
/// 802.1ah provider backbone bridging: a 4-byte I-TAG, then a customer frame.
const ETH_PBB: u16 = 0x88E7;
/// Cisco VN-Tag: 4 bytes, then the EtherType.
const ETH_VNTAG: u16 = 0x8926;
/// Transparent Ethernet bridging (Ethernet inside GRE/Geneve).
const ETH_TEB: u16 = 0x6558;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
/// The PPP EtherType (PPP inside GRE).
const ETH_PPP: u16 = 0x880B;

const MAX_VLAN_TAGS: usize = 8;
const MAX_MPLS_LABELS: usize = 16;

pub(crate) fn decode_link<'a>(d: &mut Decoded<'a>, linktype: LinkType, data: &'a [u8]) {
    match linktype {
        LinkType::ETHERNET => ethernet(d, data),
        LinkType::NULL => {
            if data.len() < 4 {
                return d.truncated("null");
            }
            let raw = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
            // The family is in the capturing host's byte order; a value with
            // bits in the upper half was written by the other byte order.
            let family = if raw & 0xffff_0000 != 0 { raw.swap_bytes() } else { raw };
            bsd_family(d, family, &data[4..]);
        }
        LinkType::LOOP => {
            if data.len() < 4 {
                return d.truncated("loop");
            }
            bsd_family(d, u32::from_be_bytes([data[0], data[1], data[2], data[3]]), &data[4..]);
        }
        LinkType::RAW | LinkType::RAW_BSD12 | LinkType::RAW_BSD14 => ip::by_version(d, data),
        LinkType::IPV4 => ip::ipv4(d, data),
        LinkType::IPV6 => ip::ipv6(d, data),
        LinkType::LINUX_SLL => {
            if data.len() < 16 {
                return d.truncated("sll");
            }
            ethertype(d, be16(data, 14), &data[16..]);
        }
        LinkType::LINUX_SLL2 => {
            if data.len() < 20 {
                return d.truncated("sll2");
            }
            ethertype(d, be16(data, 0), &data[20..]);
        }
        LinkType::PPP | LinkType::PPP_HDLC => ppp(d, data),
        LinkType::NFLOG => nflog(d, data),
        LinkType::FDDI => {
            // frame control, destination, source; then LLC.
            if data.len() < 13 {
                return d.truncated("fddi");
            }
            llc(d, &data[13..]);
        }
        LinkType::IEEE802_11 => wifi(d, data),
        LinkType::RADIOTAP => {
            if data.len() < 4 {
                return d.truncated("radiotap");
            }
            let len = u16::from_le_bytes([data[2], data[3]]) as usize;
            match data.get(len..) {
                Some(frame) if len >= 8 => wifi(d, frame),
                _ => d.fail(IssueKind::Malformed, "radiotap", "header length exceeds the frame"),
            }
        }
        _ => {}
    }
}

fn bsd_family<'a>(d: &mut Decoded<'a>, family: u32, rest: &'a [u8]) {
    match family {
        2 => ip::ipv4(d, rest),
        10 | 24 | 28 | 30 => ip::ipv6(d, rest),
        _ => {}
    }
}

pub(crate) fn ethernet<'a>(d: &mut Decoded<'a>, data: &'a [u8]) {
    if data.len() < 14 {
        return d.truncated("ethernet");
    }
    let etype = be16(data, 12);
    if etype <= 1500 {
        // IEEE 802.3 length field: LLC follows.
        return llc(d, &data[14..]);
    }
    ethertype(d, etype, &data[14..]);
}

/// LLC, and SNAP when present, to an EtherType.
fn llc<'a>(d: &mut Decoded<'a>, data: &'a [u8]) {
    if data.len() >= 8 && data[0] == 0xAA && data[1] == 0xAA && data[2] == 0x03 {
        ethertype(d, be16(data, 6), &data[8..]);
    } else if data.len() < 3 {
        d.truncated("llc");
    }
}

pub(crate) fn ethertype<'a>(d: &mut Decoded<'a>, mut etype: u16, mut data: &'a [u8]) {
    let mut tags = 0;
    while matches!(etype, ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD1 | ETH_QINQ_OLD2 | ETH_VNTAG) {
        if data.len() < 4 {
            return d.truncated("vlan");
        }
        tags += 1;
        if etype == ETH_VNTAG {
            if data.len() < 6 {
                return d.truncated("vntag");
            }
            etype = be16(data, 4);
            data = &data[6..];
            continue;
        }
        if tags > MAX_VLAN_TAGS {
            return d.fail(IssueKind::Malformed, "vlan", "too many stacked VLAN tags");
        }
        let vid = be16(data, 0) & 0x0fff;
        if d.vlan.is_none() {
            d.vlan = Some(vid);
        } else if d.inner_vlan.is_none() {
            d.inner_vlan = Some(vid);
        }
        etype = be16(data, 2);
        data = &data[4..];
    }
    match etype {
        ETH_IPV4 => ip::ipv4(d, data),
        ETH_IPV6 => ip::ipv6(d, data),
        ETH_MPLS_UC | ETH_MPLS_MC => mpls(d, data),
        ETH_PPPOE_SESSION => {
            if data.len() < 8 {
                return d.truncated("pppoe");
            }
            ppp_protocol(d, be16(data, 6), &data[8..]);
        }
        ETH_TEB => ethernet(d, data),
        ETH_PBB => match data.get(4..) {
            Some(frame) => ethernet(d, frame),
            None => d.truncated("pbb"),
        },
        ETH_PPP => ppp(d, data),
        other => d.ethertype = Some(other),
    }
}

fn mpls<'a>(d: &mut Decoded<'a>, mut data: &'a [u8]) {
    for _ in 0..MAX_MPLS_LABELS {
        if data.len() < 4 {
            return d.truncated("mpls");
        }
        let bottom = data[2] & 0x01 != 0;
        data = &data[4..];
        if bottom {
            // No protocol field: guess from the first nibble, as Wireshark does.
            return match data.first().map(|b| b >> 4) {
                Some(4) => ip::ipv4(d, data),
                Some(6) => ip::ipv6(d, data),
                // Pseudowire control word (all zero nibble) then Ethernet.
                Some(0) if data.len() >= 4 => ethernet(d, &data[4..]),
                _ => {}
            };
        }
    }
    d.fail(IssueKind::Malformed, "mpls", "label stack too deep");
}

fn ppp<'a>(d: &mut Decoded<'a>, mut data: &'a [u8]) {
    if data.len() >= 2 && data[0] == 0xFF && data[1] == 0x03 {
        data = &data[2..];
    }
    match data.first() {
        None => d.truncated("ppp"),
        // Protocol field compression: one byte when it is odd.
        Some(b) if b & 1 == 1 => ppp_protocol(d, *b as u16, &data[1..]),
        Some(_) if data.len() >= 2 => ppp_protocol(d, be16(data, 0), &data[2..]),
        Some(_) => d.truncated("ppp"),
    }
}

fn ppp_protocol<'a>(d: &mut Decoded<'a>, proto: u16, data: &'a [u8]) {
    match proto {
        PPP_IPV4 => ip::ipv4(d, data),
        PPP_IPV6 => ip::ipv6(d, data),
        _ => {}
    }
}

/// Linux NFLOG: a 4-byte header, then TLVs in host byte order; type 9 is the packet.
fn nflog<'a>(d: &mut Decoded<'a>, data: &'a [u8]) {
    if data.len() < 4 {
        return d.truncated("nflog");
    }
    let family = data[0];
    let mut rest = &data[4..];
    while rest.len() >= 4 {
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_le_bytes([rest[2], rest[3]]) & 0x7fff;
        if len < 4 || len > rest.len() {
            return d.fail(IssueKind::Malformed, "nflog", "TLV length out of bounds");
        }
        if kind == 9 {
            let payload = &rest[4..len];
            return match family {
                2 => ip::ipv4(d, payload),
                10 => ip::ipv6(d, payload),
                _ => ip::by_version(d, payload),
            };
        }
        let padded = (len + 3) & !3;
        rest = rest.get(padded..).unwrap_or(&[]);
    }
}

/// IEEE 802.11 data frames with LLC/SNAP.
fn wifi<'a>(d: &mut Decoded<'a>, data: &'a [u8]) {
    if data.len() < 24 {
        return d.truncated("802.11");
    }
    let fc0 = data[0];
    let fc1 = data[1];
    let frame_type = (fc0 >> 2) & 0x3;
    let subtype = fc0 >> 4;
    if frame_type != 2 || subtype & 0x4 != 0 {
        return; // management, control or a data frame without payload
    }
    if fc1 & 0x40 != 0 {
        return; // protected frame: payload is encrypted
    }
    let mut hdr = 24;
    if fc1 & 0x03 == 0x03 {
        hdr += 6; // four-address frame
    }
    if subtype & 0x8 != 0 {
        hdr += 2; // QoS control
        if fc1 & 0x80 != 0 {
            hdr += 4; // HT control
        }
    }
    match data.get(hdr..) {
        Some(rest) => llc(d, rest),
        None => d.truncated("802.11"),
    }
}
