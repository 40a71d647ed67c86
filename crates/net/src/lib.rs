//! # opensoc-net
//!
//! Everything OpenSOC knows about packets, with no I/O beyond reading a
//! capture: capture files ([`capture`]), link-to-transport decoding
//! ([`decode`]), Community ID v1 ([`community_id`]), bidirectional flow
//! metering ([`flow`]), DNS/HTTP/TLS metadata ([`proto`]) and writing packets
//! back out ([`pcap_write`]).
//!
//! The hot path — read, decode, meter — does not allocate per packet:
//! packets borrow the reader's buffer, decoding fills a `Copy` struct, and
//! flows are keyed by their canonical tuple.

pub mod capture;
pub mod community_id;
pub mod decode;
pub mod filter;
pub mod flow;
mod linktype;
pub mod pcap_write;
pub mod proto;

pub use capture::{CaptureError, CaptureReader, Packet};
pub use community_id::{CommunityId, CommunityIdHasher};
pub use decode::{Decoded, decode};
pub use flow::{FlowConfig, FlowMeter, FlowRecord, FlowRef};
pub use linktype::LinkType;
