//! DNS messages (RFC 1035): header, question and answer records.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::decode::be16;

/// A parsed DNS message (only what the `dns` table keeps).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnsMessage {
    /// Transaction id.
    pub id: u16,
    /// True for a response.
    pub is_response: bool,
    /// Opcode.
    pub opcode: u8,
    /// Response code (meaningful in responses).
    pub rcode: u8,
    /// Authoritative answer, truncated, recursion desired, recursion available.
    pub flags: DnsFlags,
    /// First question's name (`"."` for the root).
    pub query: Option<String>,
    /// First question's type.
    pub qtype: Option<u16>,
    /// First question's class.
    pub qclass: Option<u16>,
    /// Answer section, rendered as text (addresses, names, text).
    pub answers: Vec<String>,
    /// TTL of each answer.
    pub ttls: Vec<u32>,
}

/// DNS header flag bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DnsFlags {
    /// Authoritative answer.
    pub aa: bool,
    /// Truncated.
    pub tc: bool,
    /// Recursion desired.
    pub rd: bool,
    /// Recursion available.
    pub ra: bool,
}

/// Why a DNS message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// Shorter than the 12-byte header.
    #[error("DNS message shorter than its header")]
    ShortHeader,
    /// A name or record runs past the end of the message.
    #[error("DNS message cut short in the {0} section")]
    Truncated(&'static str),
    /// A compression pointer loops or points forward.
    #[error("DNS name compression loop or bad pointer")]
    BadPointer,
    /// A name longer than 255 bytes.
    #[error("DNS name longer than 255 bytes")]
    NameTooLong,
    /// A label type that is not defined.
    #[error("DNS label type is reserved")]
    BadLabel,
    /// No question, answer or plausible header: not DNS.
    #[error("does not look like DNS (counts {0} questions)")]
    Implausible(u16),
}

/// At most this many answers are kept per message.
pub const MAX_ANSWERS: usize = 64;

/// Parse a DNS message (UDP payload, or one TCP message without its length prefix).
pub fn parse_dns(msg: &[u8]) -> Result<DnsMessage, DnsError> {
    if msg.len() < 12 {
        return Err(DnsError::ShortHeader);
    }
    let flags = be16(msg, 2);
    let qd = be16(msg, 4);
    let an = be16(msg, 6);
    if qd > 64 {
        return Err(DnsError::Implausible(qd));
    }
    let mut m = DnsMessage {
        id: be16(msg, 0),
        is_response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0xf) as u8,
        rcode: (flags & 0xf) as u8,
        flags: DnsFlags {
            aa: flags & 0x0400 != 0,
            tc: flags & 0x0200 != 0,
            rd: flags & 0x0100 != 0,
            ra: flags & 0x0080 != 0,
        },
        ..Default::default()
    };
    let mut at = 12;
    for i in 0..qd {
        let mut name = String::new();
        at = read_name(msg, at, &mut name)?;
        if at + 4 > msg.len() {
            return Err(DnsError::Truncated("question"));
        }
        if i == 0 {
            m.query = Some(name);
            m.qtype = Some(be16(msg, at));
            m.qclass = Some(be16(msg, at + 2));
        }
        at += 4;
    }
    for _ in 0..an {
        let mut owner = String::new();
        // A damaged answer section keeps the question and the answers before it.
        let Ok(next) = read_name(msg, at, &mut owner) else { break };
        at = next;
        if at + 10 > msg.len() {
            break;
        }
        let rtype = be16(msg, at);
        let ttl = u32::from_be_bytes([msg[at + 4], msg[at + 5], msg[at + 6], msg[at + 7]]);
        let rdlen = be16(msg, at + 8) as usize;
        let rdata_at = at + 10;
        if rdata_at + rdlen > msg.len() {
            break;
        }
        if m.answers.len() < MAX_ANSWERS {
            m.answers.push(render_rdata(msg, rtype, rdata_at, rdlen));
            m.ttls.push(ttl);
        }
        at = rdata_at + rdlen;
    }
    Ok(m)
}

fn render_rdata(msg: &[u8], rtype: u16, at: usize, len: usize) -> String {
    let rd = &msg[at..at + len];
    let mut out = String::new();
    match (rtype, len) {
        (1, 4) => out = Ipv4Addr::new(rd[0], rd[1], rd[2], rd[3]).to_string(),
        (28, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(rd);
            out = Ipv6Addr::from(a).to_string();
        }
        (2 | 5 | 12 | 39, _) => {
            if read_name(msg, at, &mut out).is_err() {
                out = format!("<bad name in type {rtype}>");
            }
        }
        (15, l) if l >= 3 => {
            if read_name(msg, at + 2, &mut out).is_err() {
                out = format!("<bad name in type {rtype}>");
            }
        }
        (16, _) => {
            let mut p = 0;
            while p < rd.len() {
                let l = rd[p] as usize;
                let end = (p + 1 + l).min(rd.len());
                if !out.is_empty() {
                    out.push(' ');
                }
                push_escaped(&mut out, &rd[p + 1..end]);
                p = end;
            }
        }
        _ => {
            let _ = write!(out, "TYPE{rtype} ({len} bytes)");
        }
    }
    out
}

/// Append `b` as text, escaping bytes that are not printable ASCII as `\DDD`.
fn push_escaped(out: &mut String, b: &[u8]) {
    for &c in b {
        if (0x21..0x7f).contains(&c) || c == b' ' {
            out.push(c as char);
        } else {
            let _ = write!(out, "\\{c:03}");
        }
    }
}

/// Read a possibly compressed name at `at` into `out`; returns the offset after it.
fn read_name(msg: &[u8], mut at: usize, out: &mut String) -> Result<usize, DnsError> {
    let mut end = None;
    let mut jumps = 0;
    let mut total = 0usize;
    loop {
        let len = *msg.get(at).ok_or(DnsError::Truncated("name"))? as usize;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    if out.is_empty() {
                        out.push('.');
                    }
                    return Ok(end.unwrap_or(at + 1));
                }
                let label = msg.get(at + 1..at + 1 + len).ok_or(DnsError::Truncated("name"))?;
                total += len + 1;
                if total > 255 {
                    return Err(DnsError::NameTooLong);
                }
                if !out.is_empty() {
                    out.push('.');
                }
                push_escaped(out, label);
                at += 1 + len;
            }
            0xc0 => {
                let lo = *msg.get(at + 1).ok_or(DnsError::Truncated("name"))? as usize;
                let target = ((len & 0x3f) << 8) | lo;
                if end.is_none() {
                    end = Some(at + 2);
                }
                jumps += 1;
                if jumps > 64 || target >= msg.len() {
                    return Err(DnsError::BadPointer);
                }
                at = target;
            }
            _ => return Err(DnsError::BadLabel),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            m.push(l.len() as u8);
            m.extend(l.as_bytes());
        }
        m.extend([0, 0, 1, 0, 1]);
        m
    }

    #[test]
    fn parses_query_and_compressed_answer() {
        let mut m = query("www.example.com");
        m[2] = 0x81;
        m[3] = 0x80;
        m[7] = 2; // two answers
        // CNAME pointing at offset 12, then an A record
        m.extend([0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 16]);
        m.extend([0xc0, 16, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 93, 184, 216, 34]);
        let d = parse_dns(&m).unwrap();
        assert!(d.is_response);
        assert_eq!(d.query.as_deref(), Some("www.example.com"));
        assert_eq!(d.qtype, Some(1));
        assert_eq!(d.answers, vec!["example.com".to_string(), "93.184.216.34".to_string()]);
        assert_eq!(d.ttls, vec![60, 256]);
    }

    #[test]
    fn pointer_loop_is_an_error() {
        let mut m = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend([0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse_dns(&m), Err(DnsError::BadPointer));
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64 {
            let m: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = parse_dns(&m);
        }
    }
}
