//! Bidirectional flow metering.
//!
//! A flow is keyed by the Community ID's canonical tuple, so both directions
//! meet in one flow and the flow's Community ID is computed once. The
//! originator is the sender of the first packet, except that a first packet
//! carrying SYN+ACK names its receiver as the originator. Flows end on idle
//! timeout (per protocol), active timeout, a packet cap, or a new SYN after
//! the connection closed; non-first IP fragments join the flow of their
//! first fragment.

mod meter;

pub use meter::FlowMeter;

use std::net::IpAddr;

use crate::community_id::CommunityId;
use crate::decode::Tunnel;
use crate::proto::{AppProto, FlowContext};

/// Timeouts and limits of the flow meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Idle timeout for TCP flows.
    pub tcp_idle_ns: i64,
    /// Idle timeout for UDP flows.
    pub udp_idle_ns: i64,
    /// Idle timeout for ICMP and ICMPv6 flows.
    pub icmp_idle_ns: i64,
    /// Idle timeout for other IP protocols.
    pub other_idle_ns: i64,
    /// A flow longer than this is ended and continues as a new flow.
    pub active_timeout_ns: i64,
    /// A flow with this many packets is ended and continues as a new flow.
    pub max_packets: u64,
    /// Community ID seed.
    pub community_id_seed: u16,
    /// How long a first fragment's flow is remembered for later fragments.
    pub fragment_timeout_ns: i64,
}

const SEC: i64 = 1_000_000_000;

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            tcp_idle_ns: 480 * SEC,
            udp_idle_ns: 60 * SEC,
            icmp_idle_ns: 10 * SEC,
            other_idle_ns: 60 * SEC,
            active_timeout_ns: 1800 * SEC,
            max_packets: 100_000,
            community_id_seed: 0,
            fragment_timeout_ns: 30 * SEC,
        }
    }
}

/// Why a flow record was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// No packet within the idle timeout.
    Idle,
    /// Longer than the active timeout.
    Active,
    /// Reached the packet cap.
    PacketCap,
    /// A new connection (SYN) reused the tuple after FIN or RST.
    TcpReuse,
    /// The input ended.
    EndOfInput,
}

impl EndReason {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Idle => "idle",
            EndReason::Active => "active",
            EndReason::PacketCap => "packet-cap",
            EndReason::TcpReuse => "tcp-reuse",
            EndReason::EndOfInput => "end-of-input",
        }
    }
}

/// Counters for one direction of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirectionStats {
    /// Packets.
    pub packets: u64,
    /// Bytes on the wire (original frame lengths).
    pub bytes: u64,
    /// Transport payload bytes captured.
    pub payload_bytes: u64,
    /// OR of the TCP flags seen.
    pub tcp_flags: u16,
}

/// A finished flow.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRecord {
    /// Meter-local id, also given to the flow's packets in [`FlowRef`].
    pub flow_id: u64,
    /// Community ID, endpoints (originator first) and protocol. For ICMP
    /// the ports are the Community ID port equivalents (type and
    /// counterpart type, or type and code).
    pub ctx: FlowContext,
    /// First packet time (ns since the epoch).
    pub first_ts_ns: i64,
    /// Last packet time.
    pub last_ts_ns: i64,
    /// Originator → responder.
    pub orig: DirectionStats,
    /// Responder → originator.
    pub resp: DirectionStats,
    /// VLAN of the first packet.
    pub vlan: Option<u16>,
    /// Tunnel of the first packet.
    pub tunnel: Option<Tunnel>,
    /// Application protocol recognised.
    pub app_proto: Option<AppProto>,
    /// Why the record was emitted.
    pub end_reason: EndReason,
}

/// What a packet belongs to: enough to file it in the `packets` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRef {
    /// Meter-local flow id.
    pub flow_id: u64,
    /// Community ID.
    pub community_id: CommunityId,
    /// Lower endpoint address (canonical order).
    pub ip_lo: IpAddr,
    /// Higher endpoint address.
    pub ip_hi: IpAddr,
    /// Port of `ip_lo` (0 when none).
    pub port_lo: u16,
    /// Port of `ip_hi`.
    pub port_hi: u16,
    /// IANA protocol number.
    pub proto: u8,
    /// 0 when the packet went originator → responder, 1 otherwise.
    pub direction: u8,
}

/// Counters of the meter's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MeterStats {
    /// Packets offered.
    pub packets: u64,
    /// Packets without an IP layer.
    pub non_ip: u64,
    /// Non-first fragments whose first fragment was not seen.
    pub orphan_fragments: u64,
    /// Flows started.
    pub flows_started: u64,
}
