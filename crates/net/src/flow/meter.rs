//! The flow table.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{DirectionStats, EndReason, FlowConfig, FlowRecord, FlowRef, MeterStats};
use crate::capture::Packet;
use crate::community_id::{CanonicalTuple, CommunityId, CommunityIdHasher, FlowTuple};
use crate::decode::{Decoded, Transport, Tunnel, ipproto, tcp_flags};
use crate::proto::{self, AppProto, AppRecords, AppState, FlowContext, Segment};

type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// How often (in capture time) the table is swept for idle flows.
const SWEEP_INTERVAL_NS: i64 = 5_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FragKey {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

struct FlowState {
    id: u64,
    community_id: CommunityId,
    /// True when the originator is the canonical tuple's `a` side.
    orig_is_a: bool,
    first_ts: i64,
    last_ts: i64,
    dirs: [DirectionStats; 2],
    vlan: Option<u16>,
    tunnel: Option<Tunnel>,
    app_proto: Option<AppProto>,
    app: Option<Box<AppState>>,
    fin_seen: [bool; 2],
    rst_seen: bool,
}

/// Meters bidirectional flows and extracts protocol metadata.
pub struct FlowMeter {
    cfg: FlowConfig,
    hasher: CommunityIdHasher,
    flows: FastMap<CanonicalTuple, FlowState>,
    fragments: FastMap<FragKey, (CanonicalTuple, i64)>,
    next_id: u64,
    last_sweep_ns: Option<i64>,
    finished: Vec<FlowRecord>,
    records: AppRecords,
    stats: MeterStats,
}

impl FlowMeter {
    /// A meter with the given configuration.
    pub fn new(cfg: FlowConfig) -> Self {
        FlowMeter {
            cfg,
            hasher: CommunityIdHasher::new(cfg.community_id_seed),
            flows: FastMap::default(),
            fragments: FastMap::default(),
            next_id: 0,
            last_sweep_ns: None,
            finished: Vec::new(),
            records: AppRecords::default(),
            stats: MeterStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> MeterStats {
        self.stats
    }

    /// Flows currently open.
    pub fn active_flows(&self) -> usize {
        self.flows.len()
    }

    /// Take the flows that have ended.
    pub fn drain_flows(&mut self) -> Vec<FlowRecord> {
        std::mem::take(&mut self.finished)
    }

    /// Take the metadata records produced so far.
    pub fn drain_records(&mut self) -> AppRecords {
        std::mem::take(&mut self.records)
    }

    /// End every open flow (end of input).
    pub fn flush(&mut self) {
        let keys: Vec<CanonicalTuple> = self.flows.keys().copied().collect();
        for k in keys {
            self.end(&k, EndReason::EndOfInput);
        }
        self.fragments.clear();
    }

    /// End the flows idle or active too long as of `now` (ns): for live
    /// traffic that pauses, since sweeps otherwise ride on packets.
    pub fn expire(&mut self, now: i64) {
        self.sweep(now);
        self.last_sweep_ns = Some(now);
    }

    fn idle_timeout(&self, proto: u8) -> i64 {
        match proto {
            ipproto::TCP => self.cfg.tcp_idle_ns,
            ipproto::UDP => self.cfg.udp_idle_ns,
            ipproto::ICMP | ipproto::ICMPV6 => self.cfg.icmp_idle_ns,
            _ => self.cfg.other_idle_ns,
        }
    }

    fn sweep(&mut self, now: i64) {
        let mut expired = Vec::new();
        for (k, f) in &self.flows {
            if now.saturating_sub(f.last_ts) > self.idle_timeout(k.proto) {
                expired.push((*k, EndReason::Idle));
            } else if now.saturating_sub(f.first_ts) > self.cfg.active_timeout_ns {
                expired.push((*k, EndReason::Active));
            }
        }
        for (k, why) in expired {
            self.end(&k, why);
        }
        let frag_timeout = self.cfg.fragment_timeout_ns;
        self.fragments.retain(|_, (_, t)| now.saturating_sub(*t) <= frag_timeout);
    }

    fn end(&mut self, key: &CanonicalTuple, why: EndReason) {
        let Some(f) = self.flows.remove(key) else { return };
        let ctx = context(key, &f);
        proto::flush(f.app, &ctx, &mut self.records);
        self.finished.push(FlowRecord {
            flow_id: f.id,
            ctx,
            first_ts_ns: f.first_ts,
            last_ts_ns: f.last_ts,
            orig: f.dirs[0],
            resp: f.dirs[1],
            vlan: f.vlan,
            tunnel: f.tunnel,
            app_proto: f.app_proto,
            end_reason: why,
        });
    }

    /// Account one packet. Returns the flow it belongs to, or `None` for
    /// packets without an IP layer.
    pub fn process(&mut self, pkt: &Packet<'_>, dec: &Decoded<'_>) -> Option<FlowRef> {
        self.stats.packets += 1;
        let now = pkt.ts_ns;
        match self.last_sweep_ns {
            None => self.last_sweep_ns = Some(now),
            Some(t) if now.saturating_sub(t) >= SWEEP_INTERVAL_NS => {
                self.sweep(now);
                self.last_sweep_ns = Some(now);
            }
            Some(_) => {}
        }
        let Some(ip) = dec.ip else {
            self.stats.non_ip += 1;
            return None;
        };

        // The packet's tuple; later fragments borrow their first fragment's.
        let (key, src_is_b) = if ip.is_later_fragment() {
            let fk = frag_key(&ip);
            match self.fragments.get(&fk) {
                Some((k, _)) => (*k, ip.src != k.a),
                None => {
                    self.stats.orphan_fragments += 1;
                    let t = FlowTuple { src: ip.src, dst: ip.dst, proto: ip.proto, sport: None, dport: None };
                    CanonicalTuple::from_tuple_with_direction(&t)
                }
            }
        } else {
            let (sport, dport) = match dec.transport {
                Transport::Tcp { sport, dport, .. }
                | Transport::Udp { sport, dport }
                | Transport::Sctp { sport, dport } => (Some(sport), Some(dport)),
                Transport::Icmp { icmp_type, code } => (Some(icmp_type as u16), Some(code as u16)),
                Transport::None => (None, None),
            };
            let t = FlowTuple { src: ip.src, dst: ip.dst, proto: ip.proto, sport, dport };
            let r = CanonicalTuple::from_tuple_with_direction(&t);
            if let Some(fr) = ip.fragment
                && fr.more
            {
                self.fragments.insert(frag_key(&ip), (r.0, now));
            }
            r
        };

        let flags = match dec.transport {
            Transport::Tcp { flags, .. } => flags,
            _ => 0,
        };
        let syn_only = flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;

        // End the existing flow if this packet cannot belong to it.
        if let Some(f) = self.flows.get(&key) {
            let why = if now.saturating_sub(f.last_ts) > self.idle_timeout(key.proto) {
                Some(EndReason::Idle)
            } else if now.saturating_sub(f.first_ts) > self.cfg.active_timeout_ns {
                Some(EndReason::Active)
            } else if syn_only && (f.rst_seen || (f.fin_seen[0] && f.fin_seen[1])) {
                Some(EndReason::TcpReuse)
            } else {
                None
            };
            if let Some(why) = why {
                self.end(&key, why);
            }
        }

        let f = match self.flows.get_mut(&key) {
            Some(f) => f,
            None => {
                self.stats.flows_started += 1;
                let id = self.next_id;
                self.next_id += 1;
                // SYN+ACK first: its receiver opened the connection.
                let synack = flags & (tcp_flags::SYN | tcp_flags::ACK) == (tcp_flags::SYN | tcp_flags::ACK);
                let sender_is_a = !src_is_b;
                let orig_is_a = if synack { !sender_is_a } else { sender_is_a };
                self.flows.entry(key).or_insert(FlowState {
                    id,
                    community_id: self.hasher.hash_canonical(&key),
                    orig_is_a,
                    first_ts: now,
                    last_ts: now,
                    dirs: [DirectionStats::default(); 2],
                    vlan: dec.vlan,
                    tunnel: dec.tunnel,
                    app_proto: None,
                    app: None,
                    fin_seen: [false; 2],
                    rst_seen: false,
                })
            }
        };

        let sender_is_a = !src_is_b;
        let dir = usize::from(sender_is_a != f.orig_is_a);
        f.last_ts = f.last_ts.max(now);
        let d = &mut f.dirs[dir];
        d.packets += 1;
        d.bytes += pkt.origlen as u64;
        d.payload_bytes += dec.payload.len() as u64;
        d.tcp_flags |= flags;
        if flags & tcp_flags::FIN != 0 {
            f.fin_seen[dir] = true;
        }
        if flags & tcp_flags::RST != 0 {
            f.rst_seen = true;
        }

        if !dec.payload.is_empty() && !ip.is_later_fragment() {
            let ctx = context(&key, f);
            let seg = Segment { ts_ns: now, dir, transport: dec.transport, payload: dec.payload };
            if let Some(app) = proto::on_payload(&mut f.app, &ctx, seg, &mut self.records) {
                f.app_proto.get_or_insert(app);
            }
        }

        let flow_ref = FlowRef {
            flow_id: f.id,
            community_id: f.community_id,
            ip_lo: key.a,
            ip_hi: key.b,
            port_lo: key.a_port,
            port_hi: key.b_port,
            proto: key.proto,
            direction: dir as u8,
        };
        if f.dirs[0].packets + f.dirs[1].packets >= self.cfg.max_packets {
            self.end(&key, EndReason::PacketCap);
        }
        Some(flow_ref)
    }
}

fn frag_key(ip: &crate::decode::IpHeader) -> FragKey {
    FragKey { src: ip.src, dst: ip.dst, proto: ip.proto, id: ip.fragment.map_or(0, |f| f.id) }
}

fn context(key: &CanonicalTuple, f: &FlowState) -> FlowContext {
    let (src, sport, dst, dport) =
        if f.orig_is_a { (key.a, key.a_port, key.b, key.b_port) } else { (key.b, key.b_port, key.a, key.a_port) };
    FlowContext { community_id: f.community_id, src, sport, dst, dport, proto: key.proto }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LinkType;
    use crate::decode::decode;
    use crate::flow::EndReason;

    /// A raw IPv4 packet (link type RAW) with a TCP or UDP header.
    fn ipv4(
        src: [u8; 4],
        dst: [u8; 4],
        proto: u8,
        (sport, dport): (u16, u16),
        (flags, frag): (u8, u16),
        payload: &[u8],
    ) -> Vec<u8> {
        let l4_len = if proto == 6 { 20 } else { 8 };
        let total = 20 + l4_len + payload.len();
        let mut p =
            vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 7, (frag >> 8) as u8, frag as u8, 64, proto, 0, 0];
        p.extend(src);
        p.extend(dst);
        p.extend(sport.to_be_bytes());
        p.extend(dport.to_be_bytes());
        if proto == 6 {
            p.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        } else {
            p.extend(((8 + payload.len()) as u16).to_be_bytes());
            p.extend([0, 0]);
        }
        p.extend(payload);
        p
    }

    fn feed(m: &mut FlowMeter, ts_s: f64, data: &[u8]) -> Option<FlowRef> {
        let pkt = Packet {
            ts_ns: (ts_s * 1e9) as i64,
            origlen: data.len() as u32,
            linktype: LinkType::RAW,
            interface: 0,
            data,
        };
        let d = decode(LinkType::RAW, data);
        m.process(&pkt, &d)
    }

    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];

    #[test]
    fn both_directions_meet_and_syn_ack_first_names_the_client() {
        let mut m = FlowMeter::new(FlowConfig::default());
        // first packet seen is the server's SYN+ACK (B:80 -> A:5000)
        let r1 = feed(&mut m, 1.0, &ipv4(B, A, 6, (80, 5000), (0x12, 0), b"")).unwrap();
        let r2 = feed(&mut m, 1.1, &ipv4(A, B, 6, (5000, 80), (0x10, 0), b"hello")).unwrap();
        assert_eq!(r1.flow_id, r2.flow_id);
        assert_eq!((r1.direction, r2.direction), (1, 0));
        m.flush();
        let f = &m.drain_flows()[0];
        assert_eq!((f.ctx.src.to_string().as_str(), f.ctx.sport, f.ctx.dport), ("10.0.0.1", 5000, 80));
        assert_eq!((f.orig.packets, f.resp.packets, f.orig.payload_bytes), (1, 1, 5));
        assert_eq!(f.resp.tcp_flags, 0x12);
    }

    #[test]
    fn idle_timeout_splits_flows_and_sweeps_end_them() {
        let mut m = FlowMeter::new(FlowConfig::default());
        let a = feed(&mut m, 0.0, &ipv4(A, B, 17, (1000, 2000), (0, 0), b"x")).unwrap();
        let b = feed(&mut m, 61.5, &ipv4(A, B, 17, (1000, 2000), (0, 0), b"x")).unwrap();
        assert_ne!(a.flow_id, b.flow_id, "UDP idle timeout is 60 s");
        assert_eq!(a.community_id, b.community_id);
        let ended = m.drain_flows();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].end_reason, EndReason::Idle);
        // an unrelated packet 200 s later sweeps the open flow
        feed(&mut m, 300.0, &ipv4(B, A, 17, (9, 9), (0, 0), b""));
        assert_eq!(m.drain_flows().len(), 1);
    }

    #[test]
    fn packet_cap_and_port_reuse_start_new_flows() {
        let cfg = FlowConfig { max_packets: 3, ..FlowConfig::default() };
        let mut m = FlowMeter::new(cfg);
        for i in 0..7 {
            feed(&mut m, i as f64, &ipv4(A, B, 6, (1, 2), (0x10, 0), b""));
        }
        let ended = m.drain_flows();
        assert_eq!(ended.len(), 2);
        assert!(ended.iter().all(|f| f.end_reason == EndReason::PacketCap && f.orig.packets + f.resp.packets == 3));

        let mut m = FlowMeter::new(FlowConfig::default());
        feed(&mut m, 0.0, &ipv4(A, B, 6, (1, 2), (0x02, 0), b""));
        feed(&mut m, 0.1, &ipv4(A, B, 6, (1, 2), (0x04, 0), b"")); // RST
        feed(&mut m, 0.2, &ipv4(A, B, 6, (1, 2), (0x02, 0), b"")); // new SYN
        assert_eq!(m.drain_flows()[0].end_reason, EndReason::TcpReuse);
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let mut m = FlowMeter::new(FlowConfig::default());
        let data = ipv4(A, B, 17, (1, 2), (0, 0), b"");
        for ts in [i64::MIN, i64::MAX, 0, i64::MIN + 1, i64::MAX] {
            let pkt =
                Packet { ts_ns: ts, origlen: data.len() as u32, linktype: LinkType::RAW, interface: 0, data: &data };
            m.process(&pkt, &decode(LinkType::RAW, &data));
        }
        m.flush();
        assert!(!m.drain_flows().is_empty());
    }

    #[test]
    fn later_fragments_join_their_first_fragment() {
        let mut m = FlowMeter::new(FlowConfig::default());
        let first = feed(&mut m, 0.0, &ipv4(A, B, 17, (53, 53), (0, 0x2000), b"part one")).unwrap();
        // offset 2 (16 bytes): no UDP header; build the IP header by hand
        let mut later = ipv4(A, B, 17, (0, 0), (0, 0x0002), b"");
        later.truncate(20);
        later.extend(b"part two");
        let total = later.len() as u16;
        later[2..4].copy_from_slice(&total.to_be_bytes());
        let second = feed(&mut m, 0.1, &later).unwrap();
        assert_eq!(first.flow_id, second.flow_id);
        assert_eq!(m.stats().orphan_fragments, 0);
    }
}
