//! Rows of the `packets` table: flow chunks.
//!
//! Within one ingest batch, every packet is appended (as a pcap record) to
//! the chunk of its flow, link type and UTC day; a chunk becomes one row.
//! A chunk holds at most [`DEFAULT_MAX_CHUNK_BYTES`] (or the configured
//! most) of records; a busy flow gets several chunks.
//! Packets without an IP layer are chunked per link type and day, with no
//! flow columns. Rows are sorted by day (the partition), then
//! `community_id`, then time, so Parquet row-group statistics prune carves
//! well.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use arrow::array::BinaryArray;
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::record_batch::RecordBatch;
use opensoc_net::pcap_write::{RECORD_HEADER_LEN, push_record};
use opensoc_net::{CommunityId, FlowRef, LinkType, Packet};
use opensoc_schemas::Table;

use super::{assemble, date_col, event_date, i32_col, i64_col, ip_col, str_col, ts_col};
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
    /// Bytes of records.
    bytes: usize,
    /// The chunk's first and last record in [`PacketChunks::spans`].
    head: u32,
    tail: u32,
}

/// Where one packet record lies in the arena, and the next record of the
/// same chunk (`NO_SPAN` for the last).
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    len: u32,
    next: u32,
}

const NO_SPAN: u32 = u32::MAX;

/// Collects the packets of one ingest batch as flow chunks.
///
/// Records are appended in arrival order to one arena that is reused from
/// batch to batch, each chunk threading a list through them; building the
/// batch copies every chunk's records once, in order, into the Arrow
/// column. No allocation per chunk or per packet, and no regrowing of
/// per-chunk buffers.
#[derive(Default)]
pub struct PacketChunks {
    index: HashMap<ChunkKey, usize, ahash::RandomState>,
    chunks: Vec<Chunk>,
    arena: Vec<u8>,
    spans: Vec<Span>,
    sources: Vec<String>,
    bytes: usize,
    packets: u64,
    max_chunk_bytes: Option<usize>,
    recycler: Recycler,
}

/// Buffers of earlier batches' `data` columns, handed back when the last
/// reference to a column drops (once the lake has written its file). A
/// batch's column is tens of megabytes: above malloc's mmap threshold, so a
/// fresh one per batch is a fresh mapping whose every page the kernel
/// faults in and zeroes while the records are copied in.
#[derive(Debug, Default, Clone)]
struct Recycler(Arc<Mutex<Vec<Vec<u8>>>>);

/// Spare buffers kept: one batch's column is written while the next is
/// built, so one comes back for each taken; a second covers a slow writer.
const SPARE_BUFFERS: usize = 2;

impl Recycler {
    /// An empty buffer for `capacity` bytes: a spare one when one is large
    /// enough, else a new one with room for batches a little larger (a
    /// batch ends on the first packet past its size, so sizes vary).
    fn take(&self, capacity: usize) -> Vec<u8> {
        let mut spare = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match spare.iter().position(|v| v.capacity() >= capacity) {
            Some(i) => spare.swap_remove(i),
            None => {
                // Smaller ones would only be grown (a copy into a new mapping).
                spare.clear();
                Vec::with_capacity(capacity + capacity / 8)
            }
        }
    }
}

/// A column's values that go back to their [`Recycler`] when dropped.
struct Recycled {
    values: Vec<u8>,
    home: Recycler,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.values
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let mut values = std::mem::take(&mut self.values);
        values.clear();
        let mut spare = self.home.0.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < SPARE_BUFFERS {
            spare.push(values);
        }
    }
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
            Some(&i) if self.chunks[i].bytes + record_len <= self.max_chunk_bytes() => i,
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
                    bytes: 0,
                    head: NO_SPAN,
                    tail: NO_SPAN,
                });
                self.index.insert(key, self.chunks.len() - 1);
                self.chunks.len() - 1
            }
        };
        let span = self.spans.len() as u32;
        self.spans.push(Span { start: self.arena.len(), len: record_len as u32, next: NO_SPAN });
        push_record(&mut self.arena, pkt.ts_ns, pkt.origlen, pkt.data);
        let c = &mut self.chunks[idx];
        match c.tail {
            NO_SPAN => c.head = span,
            tail => self.spans[tail as usize].next = span,
        }
        c.tail = span;
        c.out_of_order |= pkt.ts_ns < c.last_ts;
        c.first_ts = c.first_ts.min(pkt.ts_ns);
        c.last_ts = c.last_ts.max(pkt.ts_ns);
        c.count += 1;
        c.bytes += record_len;
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
        let total = std::mem::take(&mut self.bytes);
        self.packets = 0;
        let none = CommunityId::default_sort_key();
        // Grouped by day first: the lake writes each day's run of rows to
        // its partition as a slice, without copying the packet bytes.
        chunks.sort_by_key(|c| (event_date(c.first_ts), c.flow.map_or(none, |f| f.community_id), c.first_ts));
        let values = self.recycler.take(total);
        let data = data_column(&chunks, &self.arena, &self.spans, total, values)?;
        let data = recycled(data, &self.recycler)?;
        self.arena.clear();
        self.spans.clear();
        let ip = |f: fn(&FlowRef) -> IpAddr| ip_col(chunks.iter().map(|c| c.flow.map(|r| f(&r))));
        let flow_i32 = |f: fn(&FlowRef) -> i32| i32_col(chunks.iter().map(|c| c.flow.map(|r| f(&r))));
        let batch = assemble(
            Table::Packets,
            vec![
                ("community_id", str_col(chunks.iter().map(|c| c.flow.as_ref().map(|f| f.community_id.as_str())))),
                ("ip_lo", ip(|r| r.ip_lo)),
                ("ip_hi", ip(|r| r.ip_hi)),
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
                ("byte_count", i64_col(chunks.iter().map(|c| Some(c.bytes as i64)))),
                ("source", str_col(chunks.iter().map(|c| sources.get(c.source as usize).map(String::as_str)))),
                ("data", Arc::new(data)),
                ("event_date", date_col(chunks.iter().map(|c| c.first_ts))),
            ],
        )?;
        Ok(Some(batch))
    }
}

/// The `data` column: every chunk's records, chunk after chunk, each
/// chunk's in time order, copied once from the arena (`total` bytes) into
/// `values`; the offsets and the filled values.
fn data_column(
    chunks: &[Chunk],
    arena: &[u8],
    spans: &[Span],
    total: usize,
    mut values: Vec<u8>,
) -> Result<(Vec<i32>, Vec<u8>), RowsError> {
    let mut offsets = Vec::with_capacity(chunks.len() + 1);
    offsets.push(0i32);
    for c in chunks {
        let start = values.len();
        let mut at = c.head;
        while at != NO_SPAN {
            let s = spans[at as usize];
            values.extend_from_slice(&arena[s.start..s.start + s.len as usize]);
            at = s.next;
        }
        if c.out_of_order {
            sort_records_by_time(&mut values[start..]);
        }
        offsets.push(i32::try_from(values.len()).map_err(|_| RowsError::Arrow {
            table: Table::Packets.name(),
            source: arrow::error::ArrowError::ComputeError(format!(
                "{total} bytes of packet records in one batch: more than a Binary column holds (2 GiB); use smaller batches"
            )),
        })?);
    }
    Ok((offsets, values))
}

/// The `data` column over `values`, which go back to `home` once the
/// column is dropped.
fn recycled((offsets, values): (Vec<i32>, Vec<u8>), home: &Recycler) -> Result<BinaryArray, RowsError> {
    let values = bytes::Bytes::from_owner(Recycled { values, home: home.clone() });
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    BinaryArray::try_new(offsets, Buffer::from(values), None)
        .map_err(|source| RowsError::Arrow { table: Table::Packets.name(), source })
}

/// Captures are not always in time order; a chunk's records must be.
fn sort_records_by_time(data: &mut [u8]) {
    let mut spans: Vec<_> = opensoc_net::pcap_write::records(data)
        .flatten()
        .map(|r| (r.ts_ns, r.offset, RECORD_HEADER_LEN + r.data.len()))
        .collect();
    spans.sort_by_key(|s| s.0); // stable: equal times keep capture order
    let mut out = Vec::with_capacity(data.len());
    for (_, start, len) in spans {
        out.extend_from_slice(&data[start..start + len]);
    }
    // Our own records always parse; should one not, capture order stays.
    if out.len() == data.len() {
        data.copy_from_slice(&out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, Int64Array};

    const DAY_NS: i64 = 86_400 * 1_000_000_000;

    fn pkt(ts_ns: i64, linktype: u32, data: &[u8]) -> Packet<'_> {
        Packet { ts_ns, origlen: data.len() as u32, linktype: LinkType(linktype), interface: 0, data }
    }

    /// The records of each row, as (ts, bytes).
    fn rows(b: &RecordBatch) -> Vec<Vec<(i64, Vec<u8>)>> {
        let data = b.column_by_name("data").unwrap().as_binary::<i32>();
        (0..data.len())
            .map(|i| {
                opensoc_net::pcap_write::records(data.value(i))
                    .map(|r| r.unwrap())
                    .map(|r| (r.ts_ns, r.data.to_vec()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn interleaved_chunks_come_out_whole_grouped_by_day_and_in_time_order() {
        let mut c = PacketChunks::default();
        let src = c.begin_source("test");
        let t = 10 * DAY_NS;
        c.push(src, &pkt(t + 5, 1, b"a1"), None, None);
        c.push(src, &pkt(t + DAY_NS, 1, b"day2"), None, None);
        c.push(src, &pkt(t + 6, 101, b"b1"), None, None);
        c.push(src, &pkt(t + 3, 1, b"a0"), None, None); // out of order within its chunk
        c.push(src, &pkt(t + 7, 101, b"b2"), None, None);
        assert_eq!((c.packets(), c.bytes()), (5, 5 * RECORD_HEADER_LEN + 12));
        let b = c.take_batch("s").unwrap().unwrap();
        assert_eq!(
            rows(&b),
            vec![
                vec![(t + 3, b"a0".to_vec()), (t + 5, b"a1".to_vec())],
                vec![(t + 6, b"b1".to_vec()), (t + 7, b"b2".to_vec())],
                vec![(t + DAY_NS, b"day2".to_vec())],
            ]
        );
        let counts = b.column_by_name("pkt_count").unwrap().as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(counts.values().to_vec(), vec![2, 2, 1]);
        let bytes = b.column_by_name("byte_count").unwrap().as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(bytes.values().to_vec(), vec![2 * 16 + 4, 2 * 16 + 4, 16 + 4]);
        assert!(c.is_empty() && c.bytes() == 0);
    }

    #[test]
    fn a_full_chunk_starts_another_and_the_arena_is_reused_across_batches() {
        let mut c = PacketChunks::with_max_chunk_bytes(2 * (RECORD_HEADER_LEN + 4));
        let src = c.begin_source("test");
        for round in 0..2 {
            for i in 0..5i64 {
                c.push(src, &pkt(DAY_NS + i, 1, &[round as u8; 4]), None, None);
            }
            let b = c.take_batch("s").unwrap().unwrap();
            let sizes: Vec<usize> = rows(&b).iter().map(Vec::len).collect();
            assert_eq!(sizes, vec![2, 2, 1], "round {round}");
            assert!(rows(&b).iter().flatten().all(|(_, d)| d == &[round as u8; 4]));
        }
        assert!(c.take_batch("s").unwrap().is_none());
    }

    #[test]
    fn a_dropped_batchs_column_buffer_serves_the_next_batch_and_a_held_one_is_left_alone() {
        let mut c = PacketChunks::default();
        let src = c.begin_source("test");
        let mut fill = |byte: u8| {
            for i in 0..100i64 {
                c.push(src, &pkt(DAY_NS + i, 1, &[byte; 500]), None, None);
            }
            c.take_batch("s").unwrap().unwrap()
        };
        let at = |b: &RecordBatch| b.column_by_name("data").unwrap().as_binary::<i32>().values().as_ptr();
        let holds = |b: &RecordBatch, byte: u8| {
            let rows = rows(b);
            rows.iter().flatten().count() == 100 && rows.iter().flatten().all(|(_, d)| d == &[byte; 500])
        };
        let first = fill(1);
        let second = fill(2);
        assert_ne!(at(&second), at(&first), "a held column is not reused");
        assert!(holds(&first, 1) && holds(&second, 2));
        let first_at = at(&first);
        drop(first);
        let third = fill(3);
        assert_eq!(at(&third), first_at, "the dropped column's buffer is reused");
        assert!(holds(&second, 2) && holds(&third, 3));
    }
}
