//! IPv4 and IPv6 (with extension headers and fragments).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Decoded, Fragment, IpHeader, IssueKind, be16, be32, transport};

pub(crate) fn by_version<'a>(d: &mut Decoded<'a>, data: &'a [u8]) {
    match data.first().map(|b| b >> 4) {
        Some(4) => ipv4(d, data),
        Some(6) => ipv6(d, data),
        Some(_) => d.fail(IssueKind::Malformed, "ip", "IP version is neither 4 nor 6"),
        None => d.truncated("ip"),
    }
}

pub(crate) fn ipv4<'a>(d: &mut Decoded<'a>, data: &'a [u8]) {
    if data.len() < 20 {
        return d.truncated("ipv4");
    }
    if data[0] >> 4 != 4 {
        return d.fail(IssueKind::Malformed, "ipv4", "version field is not 4");
    }
    let ihl = (data[0] & 0x0f) as usize * 4;
    if ihl < 20 {
        return d.fail(IssueKind::Malformed, "ipv4", "header length below 20 bytes");
    }
    if ihl > data.len() {
        return d.truncated("ipv4");
    }
    let total = be16(data, 2) as usize;
    let end = if total == 0 {
        data.len() // segmentation offload: the length is filled in by the NIC
    } else if total < ihl {
        return d.fail(IssueKind::Malformed, "ipv4", "total length shorter than the header");
    } else if total > data.len() {
        d.truncated("ipv4");
        data.len()
    } else {
        total
    };
    let frag = be16(data, 6);
    let more = frag & 0x2000 != 0;
    let offset = (frag & 0x1fff) as u32 * 8;
    let fragment = (more || offset > 0).then_some(Fragment { id: be16(data, 4) as u32, offset, more });
    let src = Ipv4Addr::new(data[12], data[13], data[14], data[15]);
    let dst = Ipv4Addr::new(data[16], data[17], data[18], data[19]);
    let hdr = IpHeader { src: IpAddr::V4(src), dst: IpAddr::V4(dst), proto: data[9], ttl: data[8], fragment };
    set_ip(d, hdr, &data[ihl..end]);
}

pub(crate) fn ipv6<'a>(d: &mut Decoded<'a>, data: &'a [u8]) {
    if data.len() < 40 {
        return d.truncated("ipv6");
    }
    if data[0] >> 4 != 6 {
        return d.fail(IssueKind::Malformed, "ipv6", "version field is not 6");
    }
    let plen = be16(data, 4) as usize;
    let end = if plen == 0 {
        data.len() // jumbogram or offload
    } else if 40 + plen > data.len() {
        d.truncated("ipv6");
        data.len()
    } else {
        40 + plen
    };
    let addr = |at: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&data[at..at + 16]);
        IpAddr::V6(Ipv6Addr::from(a))
    };
    let mut hdr = IpHeader { src: addr(8), dst: addr(24), proto: data[6], ttl: data[7], fragment: None };
    let mut rest = &data[40..end];
    // Extension headers.
    for _ in 0..16 {
        let ext_len = match hdr.proto {
            0 | 43 | 60 | 135 | 139 | 140 => {
                if rest.len() < 2 {
                    d.truncated("ipv6-ext");
                    return set_ip(d, hdr, &[]);
                }
                (rest[1] as usize + 1) * 8
            }
            44 => {
                if rest.len() < 8 {
                    d.truncated("ipv6-frag");
                    return set_ip(d, hdr, &[]);
                }
                let off = be16(rest, 2);
                hdr.fragment = Some(Fragment { id: be32(rest, 4), offset: (off & 0xfff8) as u32, more: off & 1 != 0 });
                8
            }
            51 => {
                if rest.len() < 2 {
                    d.truncated("ipv6-ah");
                    return set_ip(d, hdr, &[]);
                }
                (rest[1] as usize + 2) * 4
            }
            _ => break,
        };
        if ext_len > rest.len() {
            d.truncated("ipv6-ext");
            hdr.proto = rest[0];
            return set_ip(d, hdr, &[]);
        }
        hdr.proto = rest[0];
        rest = &rest[ext_len..];
        if hdr.is_later_fragment() {
            break;
        }
    }
    set_ip(d, hdr, rest)
}

fn set_ip<'a>(d: &mut Decoded<'a>, hdr: IpHeader, payload: &'a [u8]) {
    d.ip = Some(hdr);
    d.transport = super::Transport::None;
    d.payload = payload;
    if hdr.is_later_fragment() {
        return; // no transport header in this fragment
    }
    transport::dispatch(d, hdr.proto, payload);
}
