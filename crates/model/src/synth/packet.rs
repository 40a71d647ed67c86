//! Ethernet/IPv4 frames for generated traffic: TCP conversations (with a
//! TLS ClientHello when given a server name), DNS over UDP. Checksums are
//! computed, so other tools read the captures as they would real ones.

use std::net::Ipv4Addr;

/// Largest TCP payload per segment.
const MSS: usize = 1400;

/// Frames with their timestamps (ns), in any order.
pub type Frames = Vec<(i64, Vec<u8>)>;

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for c in chunks {
        let mut it = c.chunks_exact(2);
        for w in &mut it {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [b] = it.remainder() {
            sum += u32::from(*b) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn mac(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x00, o[0], o[1], o[2], o[3]]
}

/// An Ethernet frame holding an IPv4 packet of `proto` with `l4` (whose
/// checksum field, at `csum_at`, is filled here).
fn ipv4_frame(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, mut l4: Vec<u8>, csum_at: usize) -> Vec<u8> {
    let len = (20 + l4.len()) as u16;
    let pseudo = [&src.octets()[..], &dst.octets()[..], &[0, proto], &(l4.len() as u16).to_be_bytes()[..]].concat();
    let c = checksum(&[&pseudo, &l4]);
    l4[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    ip[2..4].copy_from_slice(&len.to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::with_capacity(14 + len as usize);
    f.extend_from_slice(&mac(dst));
    f.extend_from_slice(&mac(src));
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

/// TCP flags.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

#[allow(clippy::too_many_arguments)]
fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, seq: u32, ack: u32, fl: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, fl, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    ipv4_frame(src, dst, 6, t, 16)
}

/// One UDP datagram.
pub fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    ipv4_frame(src, dst, 17, u, 6)
}

/// A whole TCP connection: handshake, the client's bytes (starting with
/// `first`, e.g. a ClientHello), the server's bytes, and the close.
/// Returns the time of its last packet.
#[allow(clippy::too_many_arguments)]
pub fn tcp_conversation(
    out: &mut Frames,
    start: i64,
    (client, cport): (Ipv4Addr, u16),
    (server, sport): (Ipv4Addr, u16),
    first: &[u8],
    client_bytes: usize,
    server_bytes: usize,
    rtt_ns: i64,
) -> i64 {
    let (mut cseq, mut sseq) = (1000u32, 5000u32);
    let mut t = start;
    out.push((t, tcp(client, cport, server, sport, cseq, 0, flags::SYN, &[])));
    cseq += 1;
    t += rtt_ns / 2;
    out.push((t, tcp(server, sport, client, cport, sseq, cseq, flags::SYN | flags::ACK, &[])));
    sseq += 1;
    t += rtt_ns / 2;
    out.push((t, tcp(client, cport, server, sport, cseq, sseq, flags::ACK, &[])));
    let mut data = first.to_vec();
    data.resize(client_bytes.max(first.len()), 0x41);
    for chunk in data.chunks(MSS) {
        t += 20_000;
        out.push((t, tcp(client, cport, server, sport, cseq, sseq, flags::ACK | flags::PSH, chunk)));
        cseq = cseq.wrapping_add(chunk.len() as u32);
    }
    t += rtt_ns;
    let reply = vec![0x42u8; server_bytes];
    for chunk in reply.chunks(MSS) {
        t += 20_000;
        out.push((t, tcp(server, sport, client, cport, sseq, cseq, flags::ACK | flags::PSH, chunk)));
        sseq = sseq.wrapping_add(chunk.len() as u32);
    }
    t += 100_000;
    out.push((t, tcp(client, cport, server, sport, cseq, sseq, flags::FIN | flags::ACK, &[])));
    cseq += 1;
    t += rtt_ns / 2;
    out.push((t, tcp(server, sport, client, cport, sseq, cseq, flags::FIN | flags::ACK, &[])));
    sseq += 1;
    t += rtt_ns / 2;
    out.push((t, tcp(client, cport, server, sport, cseq, sseq, flags::ACK, &[])));
    t
}

fn dns_name(name: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(name.len() + 2);
    for label in name.trim_end_matches('.').split('.') {
        let l = &label.as_bytes()[..label.len().min(63)];
        v.push(l.len() as u8);
        v.extend_from_slice(l);
    }
    v.push(0);
    v
}

/// A DNS lookup of `name` (type A) and its answer — `answer` or NXDOMAIN.
#[allow(clippy::too_many_arguments)]
pub fn dns_lookup(
    out: &mut Frames,
    ts: i64,
    (client, cport): (Ipv4Addr, u16),
    resolver: Ipv4Addr,
    id: u16,
    name: &str,
    answer: Option<Ipv4Addr>,
    rtt_ns: i64,
) {
    let q = dns_name(name);
    let mut query = Vec::with_capacity(12 + q.len() + 4);
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    query.extend_from_slice(&q);
    query.extend_from_slice(&[0, 1, 0, 1]);
    out.push((ts, udp(client, cport, resolver, 53, &query)));
    let mut resp = query.clone();
    resp[2] = 0x81;
    resp[3] = if answer.is_some() { 0x80 } else { 0x83 };
    if let Some(a) = answer {
        resp[7] = 1;
        resp.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4]);
        resp.extend_from_slice(&a.octets());
    }
    out.push((ts + rtt_ns, udp(resolver, 53, client, cport, &resp)));
}

/// A TLS 1.2-framed ClientHello naming `sni`.
pub fn client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sni_ext = Vec::new();
    sni_ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni_ext.push(0);
    sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(name);
    let mut exts = Vec::new();
    exts.extend_from_slice(&[0, 0]);
    exts.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
    exts.extend_from_slice(&sni_ext);
    let mut body = vec![0x03, 0x03];
    body.extend((0..32u8).map(|i| i.wrapping_mul(7)));
    body.push(0);
    body.extend_from_slice(&[0, 6, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f]);
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_and_udp_checksums_verify() {
        let f = udp(Ipv4Addr::new(10, 0, 0, 1), 5353, Ipv4Addr::new(10, 0, 0, 53), 53, b"abc");
        // A correct checksum sums (with itself) to zero.
        assert_eq!(checksum(&[&f[14..34]]), 0);
        let pseudo = [&f[26..30], &f[30..34], &[0, 17], &(11u16).to_be_bytes()[..]].concat();
        assert_eq!(checksum(&[&pseudo, &f[34..]]), 0);
    }

    #[test]
    fn a_conversation_has_its_handshake_data_and_close() {
        let mut out = Frames::new();
        let end = tcp_conversation(
            &mut out,
            0,
            (Ipv4Addr::new(10, 0, 0, 1), 40000),
            (Ipv4Addr::new(81, 2, 69, 160), 443),
            &client_hello("www.example.com"),
            3000,
            100,
            1_000_000,
        );
        // SYN, SYN-ACK, ACK, 3 client segments, 1 server segment, FIN, FIN, ACK.
        assert_eq!(out.len(), 10);
        assert_eq!(out[0].1[47], flags::SYN);
        assert!(end > 0 && out.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
