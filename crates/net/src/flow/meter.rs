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
            if now - f.last_ts > self.idle_timeout(k.proto) {
                expired.push((*k, EndReason::Idle));
            } else if now - f.first_ts > self.cfg.active_timeout_ns {
                expired.push((*k, EndReason::Active));
            }
        }
        for (k, why) in expired {
            self.end(&k, why);
        }
        let frag_timeout = self.cfg.fragment_timeout_ns;
        self.fragments.retain(|_, (_, t)| now - *t <= frag_timeout);
    }

    fn end(&mut self, key: &CanonicalTuple, why: EndReason) {
        let Some(f) = self.flows.remove(key) else { return };
        let ctx = context(key, &f);
        proto::flush(f.app, &ctx, &mut self.records);
        self.finished.push(FlowRecord {
            flow_id: f.id,
            community_id: f.community_id,
            src: ctx.src,
            sport: ctx.sport,
            dst: ctx.dst,
            dport: ctx.dport,
            proto: key.proto,
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
            Some(t) if now - t >= SWEEP_INTERVAL_NS => {
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
            let why = if now - f.last_ts > self.idle_timeout(key.proto) {
                Some(EndReason::Idle)
            } else if now - f.first_ts > self.cfg.active_timeout_ns {
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
