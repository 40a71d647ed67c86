//! Writing packets: the record format of the `packets` table, and pcap /
//! pcapng files for carving.
//!
//! A flow chunk's `data` is a run of classic pcap records, little-endian with
//! nanosecond timestamps — exactly what follows the file header of a pcap
//! file with magic `4d3cb2a1` — so a carve of one link type is a file header
//! followed by the chunks' bytes.

use std::io::{self, Write};

use crate::LinkType;

/// Length of one record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// Append one packet record (LE, ns) to `out`.
pub fn push_record(out: &mut Vec<u8>, ts_ns: i64, origlen: u32, data: &[u8]) {
    let (sec, nsec) = split_ts(ts_ns);
    out.extend_from_slice(&sec.to_le_bytes());
    out.extend_from_slice(&nsec.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&origlen.to_le_bytes());
    out.extend_from_slice(data);
}

/// Seconds and nanoseconds of a timestamp as pcap stores them (clamped to
/// what 32-bit unsigned seconds can hold).
fn split_ts(ts_ns: i64) -> (u32, u32) {
    if ts_ns <= 0 {
        return (0, 0);
    }
    let sec = (ts_ns / 1_000_000_000).min(u32::MAX as i64) as u32;
    (sec, (ts_ns % 1_000_000_000) as u32)
}

/// One record read back from chunk data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Where the record's header starts in the chunk data.
    pub offset: usize,
    /// Timestamp, ns since the epoch.
    pub ts_ns: i64,
    /// Original length.
    pub origlen: u32,
    /// Captured bytes.
    pub data: &'a [u8],
}

/// Chunk data that does not parse as records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("packet record data damaged at byte {offset}")]
pub struct RecordError {
    /// Where the bad record starts.
    pub offset: usize,
}

/// Iterate the records of chunk data.
pub fn records(data: &[u8]) -> impl Iterator<Item = Result<Record<'_>, RecordError>> {
    let mut at = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || at >= data.len() {
            return None;
        }
        let h = match data.get(at..at + RECORD_HEADER_LEN) {
            Some(h) => h,
            None => {
                failed = true;
                return Some(Err(RecordError { offset: at }));
            }
        };
        let le = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let caplen = le(8) as usize;
        let start = at + RECORD_HEADER_LEN;
        let Some(body) = data.get(start..start + caplen) else {
            failed = true;
            return Some(Err(RecordError { offset: at }));
        };
        let rec =
            Record { offset: at, ts_ns: le(0) as i64 * 1_000_000_000 + le(4) as i64, origlen: le(12), data: body };
        at = start + caplen;
        Some(Ok(rec))
    })
}

/// The 24-byte header of a little-endian, nanosecond pcap file.
pub fn pcap_file_header(linktype: LinkType) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    h[16..20].copy_from_slice(&262_144u32.to_le_bytes());
    h[20..24].copy_from_slice(&linktype.0.to_le_bytes());
    h
}

/// Writes a pcapng file with one interface per link type (ns resolution).
pub struct PcapngWriter<W: Write> {
    out: W,
    interfaces: Vec<LinkType>,
    scratch: Vec<u8>,
}

impl<W: Write> PcapngWriter<W> {
    /// Start a file: writes the section header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut shb = Vec::with_capacity(28);
        shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        write_block(&mut out, 0x0A0D_0D0A, &shb)?;
        Ok(PcapngWriter { out, interfaces: Vec::new(), scratch: Vec::new() })
    }

    fn interface(&mut self, lt: LinkType) -> io::Result<u32> {
        if let Some(i) = self.interfaces.iter().position(|l| *l == lt) {
            return Ok(i as u32);
        }
        let mut idb = Vec::with_capacity(20);
        idb.extend_from_slice(&(lt.0 as u16).to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes());
        idb.extend_from_slice(&9u16.to_le_bytes()); // if_tsresol
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 0, 0]); // 10^-9
        idb.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        write_block(&mut self.out, 1, &idb)?;
        self.interfaces.push(lt);
        Ok(self.interfaces.len() as u32 - 1)
    }

    /// Write one packet as an enhanced packet block.
    pub fn write_packet(&mut self, lt: LinkType, ts_ns: i64, origlen: u32, data: &[u8]) -> io::Result<()> {
        let iface = self.interface(lt)?;
        let ts = ts_ns.max(0) as u64;
        self.scratch.clear();
        self.scratch.extend_from_slice(&iface.to_le_bytes());
        self.scratch.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        self.scratch.extend_from_slice(&(ts as u32).to_le_bytes());
        self.scratch.extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.scratch.extend_from_slice(&origlen.to_le_bytes());
        self.scratch.extend_from_slice(data);
        let body = std::mem::take(&mut self.scratch);
        let r = write_block(&mut self.out, 6, &body);
        self.scratch = body;
        r
    }

    /// Flush and return the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

fn write_block<W: Write>(out: &mut W, kind: u32, body: &[u8]) -> io::Result<()> {
    let pad = (4 - body.len() % 4) % 4;
    let len = (12 + body.len() + pad) as u32;
    out.write_all(&kind.to_le_bytes())?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&[0u8; 3][..pad])?;
    out.write_all(&len.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureFormat, CaptureReader};

    #[test]
    fn records_round_trip_through_a_pcap_file() {
        let mut chunk = Vec::new();
        push_record(&mut chunk, 1_700_000_000_123_456_789, 60, b"first");
        push_record(&mut chunk, 1_700_000_001_000_000_001, 5, b"2nd");
        let back: Vec<_> = records(&chunk).map(|r| r.unwrap()).collect();
        assert_eq!(back[0].ts_ns, 1_700_000_000_123_456_789);
        assert_eq!(back[1].data, b"2nd");
        let mut file = pcap_file_header(LinkType::ETHERNET).to_vec();
        file.extend(&chunk);
        let mut r = CaptureReader::from_reader(std::io::Cursor::new(file)).unwrap();
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!((p.ts_ns, p.origlen, p.data), (1_700_000_000_123_456_789, 60, &b"first"[..]));
    }

    #[test]
    fn damaged_chunk_is_reported() {
        let mut chunk = Vec::new();
        push_record(&mut chunk, 1, 3, b"abc");
        chunk.truncate(chunk.len() - 1);
        assert_eq!(records(&chunk).next(), Some(Err(RecordError { offset: 0 })));
    }

    #[test]
    fn pcapng_with_two_link_types_reads_back() {
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        w.write_packet(LinkType::ETHERNET, 5_000_000_001, 3, b"eth").unwrap();
        w.write_packet(LinkType::RAW, 6_000_000_002, 2, b"ip").unwrap();
        let bytes = w.finish().unwrap();
        let mut r = CaptureReader::from_reader(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(r.format(), CaptureFormat::Pcapng);
        let a = r.next_packet().unwrap().unwrap();
        assert_eq!((a.linktype, a.ts_ns), (LinkType::ETHERNET, 5_000_000_001));
        let b = r.next_packet().unwrap().unwrap();
        assert_eq!((b.linktype, b.ts_ns, b.data), (LinkType::RAW, 6_000_000_002, &b"ip"[..]));
    }
}
