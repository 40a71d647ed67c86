//! Capture file reading: classic pcap (µs and ns, both byte orders, the
//! Kuznetzov variant) and pcapng (several sections and interfaces, EPB, SPB
//! and the obsolete packet block, `if_tsresol`/`if_tsoffset`), plain or gzip.
//!
//! The reader is a lending iterator: [`CaptureReader::next_packet`] returns a
//! [`Packet`] that borrows the reader's internal buffer, so reading a capture
//! does not allocate per packet. A capture that is damaged part-way yields
//! every complete packet before the damage and then a [`CaptureError`] that
//! says where (byte offset, packet index) and why.

mod pcap;
mod pcapng;

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::LinkType;

/// Largest captured length accepted for one packet record. Wireshark uses the
/// same bound (`WTAP_MAX_PACKET_SIZE_STANDARD`); a larger record is taken as
/// damage, not as a packet.
pub const MAX_CAPLEN: u32 = 262_144;

/// Largest pcapng block accepted (payload plus options).
pub const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;

/// One packet record of a capture, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Capture time, nanoseconds since the Unix epoch (UTC).
    pub ts_ns: i64,
    /// Length of the packet on the wire; `data.len()` is the captured length.
    pub origlen: u32,
    /// Link type of the interface the packet was captured on.
    pub linktype: LinkType,
    /// Interface index within the section (always 0 for classic pcap).
    pub interface: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// The container format of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic libpcap format.
    Pcap,
    /// pcapng.
    Pcapng,
}

/// Why a capture could not be read (further).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The underlying file or decompressor failed.
    #[error("I/O error at byte {offset}: {source}")]
    Io {
        /// Byte offset (in the decompressed stream) where it happened.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The first bytes are not a pcap or pcapng magic number.
    #[error("not a pcap or pcapng capture (first bytes {magic:02x?})")]
    NotACapture {
        /// The bytes found.
        magic: Vec<u8>,
    },
    /// The file ends in the middle of a record.
    #[error(
        "capture cut short at byte {offset} after {packets} packets: {what} needs {needed} bytes, {available} left"
    )]
    Truncated {
        /// Byte offset of the incomplete record.
        offset: u64,
        /// Complete packets read before it.
        packets: u64,
        /// What was being read.
        what: &'static str,
        /// Bytes the record needs.
        needed: u64,
        /// Bytes that were left.
        available: u64,
    },
    /// A record or block header is inconsistent; reading cannot continue.
    #[error("malformed capture at byte {offset} after {packets} packets: {reason}")]
    Malformed {
        /// Byte offset of the bad record.
        offset: u64,
        /// Complete packets read before it.
        packets: u64,
        /// What is wrong.
        reason: String,
    },
}

impl CaptureError {
    /// Byte offset where the error was found, where known.
    pub fn offset(&self) -> Option<u64> {
        match self {
            CaptureError::Io { offset, .. }
            | CaptureError::Truncated { offset, .. }
            | CaptureError::Malformed { offset, .. } => Some(*offset),
            CaptureError::NotACapture { .. } => Some(0),
        }
    }
}

/// A growable window over a byte stream: the bytes of the current record stay
/// in one contiguous slice, refilled in large reads.
pub(crate) struct Window<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Absolute stream offset of `buf[start]`.
    offset: u64,
    eof: bool,
}

const READ_CHUNK: usize = 1 << 20;

impl<R: Read> Window<R> {
    fn new(src: R) -> Self {
        Window { src, buf: vec![0; READ_CHUNK], start: 0, end: 0, offset: 0, eof: false }
    }

    /// Absolute offset of the next unread byte.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes buffered and not yet consumed.
    pub(crate) fn available(&self) -> usize {
        self.end - self.start
    }

    /// Make at least `need` bytes available. Returns the number available,
    /// which is less than `need` only at the end of the stream.
    pub(crate) fn fill(&mut self, need: usize) -> io::Result<usize> {
        if self.available() >= need {
            return Ok(self.available());
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < need {
            self.buf.resize(need.next_power_of_two(), 0);
        }
        while self.end < need && !self.eof {
            let n = match self.src.read(&mut self.buf[self.end..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.eof = true;
            }
            self.end += n;
        }
        Ok(self.available())
    }

    /// The next `len` buffered bytes (call [`Window::fill`] first).
    pub(crate) fn peek(&self, len: usize) -> &[u8] {
        &self.buf[self.start..self.start + len]
    }

    /// Everything buffered and not consumed.
    pub(crate) fn tail(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Consume `len` bytes.
    pub(crate) fn consume(&mut self, len: usize) {
        self.start += len;
        self.offset += len as u64;
    }

    /// The buffered bytes at `[self.start + from, self.start + to)`, for a
    /// record that was just consumed with [`Window::consume_record`].
    pub(crate) fn slice(&self, abs_start: usize, len: usize) -> &[u8] {
        &self.buf[abs_start..abs_start + len]
    }

    /// Consume `len` bytes and return the buffer index where they start, so
    /// the caller can borrow them until the next fill.
    pub(crate) fn consume_record(&mut self, len: usize) -> usize {
        let at = self.start;
        self.consume(len);
        at
    }
}

enum Format {
    Pcap(pcap::PcapState),
    Pcapng(pcapng::PcapngState),
}

/// Gzip's magic number: a compressed capture starts with it.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// pcapng's Section Header Block type, the first four bytes of every pcapng file.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Whether `head` (the first bytes of a file) starts like a capture this crate reads:
/// pcap in any of its variants, pcapng, or gzip (whose content is only checked on open).
pub fn looks_like_capture(head: &[u8]) -> bool {
    head.starts_with(&GZIP_MAGIC)
        || head.starts_with(&PCAPNG_MAGIC)
        || (head.len() >= 4 && pcap::PcapState::from_magic(head).is_some())
}

/// Reads packets from a pcap or pcapng stream, plain or gzip-compressed.
pub struct CaptureReader {
    window: Window<Box<dyn Read + Send>>,
    format: Format,
    packets: u64,
    finished: bool,
}

impl CaptureReader {
    /// Open a capture file; gzip compression is detected from its content.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CaptureError> {
        let file = File::open(path.as_ref()).map_err(|source| CaptureError::Io { offset: 0, source })?;
        Self::from_reader(file)
    }

    /// Read a capture from any byte stream; gzip compression is detected.
    pub fn from_reader(src: impl Read + Send + 'static) -> Result<Self, CaptureError> {
        let mut raw = Window::new(Box::new(src) as Box<dyn Read + Send>);
        let io_err = |source| CaptureError::Io { offset: 0, source };
        let n = raw.fill(4).map_err(io_err)?;
        let gz = n >= 2 && raw.peek(2) == GZIP_MAGIC;
        let mut window = if gz {
            // Hand the bytes already read back to the decompressor.
            let head = raw.peek(n).to_vec();
            let rest = raw.src;
            let chained: Box<dyn Read + Send> =
                Box::new(MultiGzDecoder::new(BufReader::with_capacity(1 << 16, io::Cursor::new(head).chain(rest))));
            Window::new(chained)
        } else {
            raw
        };
        let n = window.fill(4).map_err(io_err)?;
        let magic = window.peek(n.min(4)).to_vec();
        let format = if n < 4 {
            return Err(CaptureError::NotACapture { magic });
        } else if magic == PCAPNG_MAGIC {
            Format::Pcapng(pcapng::PcapngState::default())
        } else if let Some(state) = pcap::PcapState::from_magic(&magic) {
            Format::Pcap(state)
        } else {
            return Err(CaptureError::NotACapture { magic });
        };
        let mut reader = CaptureReader { window, format, packets: 0, finished: false };
        if let Format::Pcap(state) = &mut reader.format {
            state.read_header(&mut reader.window)?;
        }
        Ok(reader)
    }

    /// The container format.
    pub fn format(&self) -> CaptureFormat {
        match self.format {
            Format::Pcap(_) => CaptureFormat::Pcap,
            Format::Pcapng(_) => CaptureFormat::Pcapng,
        }
    }

    /// Packets returned so far.
    pub fn packets_read(&self) -> u64 {
        self.packets
    }

    /// Byte offset (in the decompressed stream) of the next record.
    pub fn offset(&self) -> u64 {
        self.window.offset()
    }

    /// The bytes read from the stream but not yet consumed: after an error,
    /// the damaged record and what follows it (as far as it was read).
    pub fn buffered_tail(&self) -> &[u8] {
        self.window.tail()
    }

    /// The link type of classic pcap files, or of the first interface seen
    /// in a pcapng file.
    pub fn first_linktype(&self) -> Option<LinkType> {
        match &self.format {
            Format::Pcap(s) => Some(s.linktype),
            Format::Pcapng(s) => s.first_linktype(),
        }
    }

    /// The next packet, `Ok(None)` at the end of the capture. After an error
    /// the reader is finished and returns `Ok(None)`.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        if self.finished {
            return Ok(None);
        }
        let packets = self.packets;
        let result = match &mut self.format {
            Format::Pcap(state) => state.next(&mut self.window, packets),
            Format::Pcapng(state) => state.next(&mut self.window, packets),
        };
        match result {
            Ok(Some(rec)) => {
                self.packets += 1;
                Ok(Some(Packet {
                    ts_ns: rec.ts_ns,
                    origlen: rec.origlen,
                    linktype: rec.linktype,
                    interface: rec.interface,
                    data: self.window.slice(rec.at, rec.caplen),
                }))
            }
            Ok(None) => {
                self.finished = true;
                Ok(None)
            }
            Err(e) => {
                self.finished = true;
                Err(e)
            }
        }
    }
}

/// A record located in the window, turned into a [`Packet`] by the reader.
pub(crate) struct RawRecord {
    pub ts_ns: i64,
    pub origlen: u32,
    pub linktype: LinkType,
    pub interface: u32,
    pub at: usize,
    pub caplen: usize,
}

/// Read bytes from the window, mapping a short read to `Truncated`.
pub(crate) fn need<R: Read>(
    window: &mut Window<R>,
    len: usize,
    what: &'static str,
    packets: u64,
) -> Result<bool, CaptureError> {
    let offset = window.offset();
    let got = window.fill(len).map_err(|source| io_error(offset, source, packets, what, len))?;
    if got >= len {
        return Ok(true);
    }
    if got == 0 {
        return Ok(false);
    }
    Err(CaptureError::Truncated { offset, packets, what, needed: len as u64, available: got as u64 })
}

/// A gzip stream that ends early shows up as an I/O error; report it as a cut-short capture.
fn io_error(offset: u64, source: io::Error, packets: u64, what: &'static str, len: usize) -> CaptureError {
    if source.kind() == io::ErrorKind::UnexpectedEof {
        CaptureError::Truncated { offset, packets, what, needed: len as u64, available: 0 }
    } else {
        CaptureError::Io { offset, source }
    }
}

/// Little helpers for reading integers in the capture's byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endian {
    Little,
    Big,
}

impl Endian {
    pub(crate) fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }
    pub(crate) fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_with_its_magic() {
        let err = CaptureReader::from_reader(io::Cursor::new(b"hello world".to_vec())).err().unwrap();
        assert!(matches!(err, CaptureError::NotACapture { ref magic } if magic == b"hell"), "{err}");
    }

    #[test]
    fn rejects_empty_input() {
        let err = CaptureReader::from_reader(io::Cursor::new(Vec::new())).err().unwrap();
        assert!(matches!(err, CaptureError::NotACapture { .. }));
    }
}
