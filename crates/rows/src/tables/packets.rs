//! Rows of the `packets` table: flow chunks.
//!
//! Within one ingest batch, every packet is appended (as a pcap record) to
//! the chunk of its flow, link type and UTC day; a chunk becomes one row.
//! A chunk holds at most [`DEFAULT_MAX_CHUNK_BYTES`] (or the configured
//! most) of records; a busy flow gets several chunks.
//! Packets without an IP layer are chunked per link type and day, with no
//! flow columns. Rows are sorted by `community_id`, then time, so Parquet
//! row-group statistics prune carves well.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::BinaryBuilder;
use arrow::record_batch::RecordBatch;
use opensoc_net::pcap_write::{RECORD_HEADER_LEN, push_record};
use opensoc_net::{CommunityId, FlowRef, LinkType, Packet};
use opensoc_schemas::Table;

use super::{assemble, date_col, event_date, i32_col, i64_col, str_col, ts_col};
use crate::RowsError;

/// What a chunk is filed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkKey {
    /// Meter flow id within the current source, or `None` for non-IP packets.
    pub flow: Option<u64>,
    /// Source index within the batch (flow ids restart per source).
    pub source: u32,
    /// Link type.
    pub linktype: u32,
    /// UTC day.
    pub day: i32,
}

struct Chunk {
    flow: Option<FlowRef>,
    linktype: LinkType,
    vlan: Option<u16>,
    source: u32,
    first_ts: i64,
    last_ts: i64,
    count: u64,
    /// A packet arrived with an earlier time than one before it.
    out_of_order: bool,
    data: Vec<u8>,
}

/// Collects the packets of one ingest batch as flow chunks.
#[derive(Default)]
pub struct PacketChunks {
    index: HashMap<ChunkKey, usize, ahash::RandomState>,
    chunks: Vec<Chunk>,
    sources: Vec<String>,
    bytes: usize,
    packets: u64,
    max_chunk_bytes: Option<usize>,
}

/// The default most bytes of packet records in one chunk.
pub const DEFAULT_MAX_CHUNK_BYTES: usize = 1 << 20;

impl PacketChunks {
    /// Chunks of at most `max` bytes of records (a single larger packet
    /// still gets a chunk of its own). Stream records must stay under
    /// 1 MiB, so the sensor uses smaller chunks than the lake.
    pub fn with_max_chunk_bytes(max: usize) -> Self {
        PacketChunks { max_chunk_bytes: Some(max), ..Default::default() }
    }

    fn max_chunk_bytes(&self) -> usize {
        self.max_chunk_bytes.unwrap_or(DEFAULT_MAX_CHUNK_BYTES)
    }

    /// Start filing packets from a new source (file or stream shard).
    pub fn begin_source(&mut self, source: &str) -> u32 {
        self.sources.push(source.to_string());
        (self.sources.len() - 1) as u32
    }

    /// File one packet.
    pub fn push(&mut self, source: u32, pkt: &Packet<'_>, flow: Option<FlowRef>, vlan: Option<u16>) {
        let key =
            ChunkKey { flow: flow.map(|f| f.flow_id), source, linktype: pkt.linktype.0, day: event_date(pkt.ts_ns) };
        let record_len = RECORD_HEADER_LEN + pkt.data.len();
        let idx = match self.index.get(&key) {
            Some(&i) if self.chunks[i].data.len() + record_len <= self.max_chunk_bytes() => i,
            // New flow, or its chunk is full: start a chunk (a flow may have several).
            _ => {
                self.chunks.push(Chunk {
                    flow,
                    linktype: pkt.linktype,
                    vlan,
                    source,
                    first_ts: pkt.ts_ns,
                    last_ts: pkt.ts_ns,
                    count: 0,
                    out_of_order: false,
                    data: Vec::new(),
                });
                self.index.insert(key, self.chunks.len() - 1);
                self.chunks.len() - 1
            }
        };
        let c = &mut self.chunks[idx];
        c.out_of_order |= pkt.ts_ns < c.last_ts;
        c.first_ts = c.first_ts.min(pkt.ts_ns);
        c.last_ts = c.last_ts.max(pkt.ts_ns);
        c.count += 1;
        push_record(&mut c.data, pkt.ts_ns, pkt.origlen, pkt.data);
        self.bytes += record_len;
        self.packets += 1;
    }

    /// Bytes of packet records held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Packets held.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Build the batch and clear.
    pub fn take_batch(&mut self, sensor_id: &str) -> Result<Option<RecordBatch>, RowsError> {
        if self.chunks.is_empty() {
            return Ok(None);
        }
        let mut chunks = std::mem::take(&mut self.chunks);
        // Sources stay: the current one goes on filing packets after this batch.
        let sources = &self.sources;
        self.index.clear();
        self.bytes = 0;
        self.packets = 0;
        for c in chunks.iter_mut().filter(|c| c.out_of_order) {
            sort_records_by_time(&mut c.data);
        }
        let none = CommunityId::default_sort_key();
        chunks.sort_by(|a, b| {
            let ka = a.flow.map_or(none, |f| f.community_id);
            let kb = b.flow.map_or(none, |f| f.community_id);
            ka.cmp(&kb).then(a.first_ts.cmp(&b.first_ts))
        });
        let ip =
            |f: fn(&FlowRef) -> IpAddr| chunks.iter().map(|c| c.flow.map(|r| f(&r).to_string())).collect::<Vec<_>>();
        let ip_lo = ip(|r| r.ip_lo);
        let ip_hi = ip(|r| r.ip_hi);
        let total: usize = chunks.iter().map(|c| c.data.len()).sum();
        let mut data = BinaryBuilder::with_capacity(chunks.len(), total);
        for c in &chunks {
            data.append_value(&c.data);
        }
        let flow_i32 = |f: fn(&FlowRef) -> i32| i32_col(chunks.iter().map(|c| c.flow.map(|r| f(&r))));
        let batch = assemble(
            Table::Packets,
            vec![
                ("community_id", str_col(chunks.iter().map(|c| c.flow.as_ref().map(|f| f.community_id.as_str())))),
                ("ip_lo", str_col(ip_lo.iter().map(|s| s.as_deref()))),
                ("ip_hi", str_col(ip_hi.iter().map(|s| s.as_deref()))),
                ("port_lo", flow_i32(|r| r.port_lo as i32)),
                ("port_hi", flow_i32(|r| r.port_hi as i32)),
                ("proto", flow_i32(|r| r.proto as i32)),
                ("first_ts", ts_col(chunks.iter().map(|c| c.first_ts))),
                ("last_ts", ts_col(chunks.iter().map(|c| c.last_ts))),
                ("first_ts_ns", i64_col(chunks.iter().map(|c| Some(c.first_ts)))),
                ("last_ts_ns", i64_col(chunks.iter().map(|c| Some(c.last_ts)))),
                ("sensor_id", str_col(chunks.iter().map(|_| Some(sensor_id)))),
                ("linktype", i32_col(chunks.iter().map(|c| Some(c.linktype.0 as i32)))),
                ("vlan", i32_col(chunks.iter().map(|c| c.vlan.map(i32::from)))),
                ("pkt_count", i64_col(chunks.iter().map(|c| Some(c.count as i64)))),
                ("byte_count", i64_col(chunks.iter().map(|c| Some(c.data.len() as i64)))),
                ("source", str_col(chunks.iter().map(|c| sources.get(c.source as usize).map(String::as_str)))),
                ("data", Arc::new(data.finish())),
                ("event_date", date_col(chunks.iter().map(|c| c.first_ts))),
            ],
        )?;
        Ok(Some(batch))
    }
}

/// Captures are not always in time order; a chunk's records must be.
fn sort_records_by_time(data: &mut Vec<u8>) {
    let mut spans: Vec<_> = opensoc_net::pcap_write::records(data)
        .flatten()
        .map(|r| (r.ts_ns, r.offset, RECORD_HEADER_LEN + r.data.len()))
        .collect();
    spans.sort_by_key(|s| s.0); // stable: equal times keep capture order
    let mut out = Vec::with_capacity(data.len());
    for (_, start, len) in spans {
        out.extend_from_slice(&data[start..start + len]);
    }
    *data = out;
}
