//! Classic libpcap files.

use std::io::Read;

use super::{CaptureError, Endian, MAX_CAPLEN, RawRecord, Window, need};
use crate::LinkType;

const GLOBAL_HEADER_LEN: usize = 24;

/// Reading state of a classic pcap file.
pub(crate) struct PcapState {
    endian: Endian,
    nanos: bool,
    /// Kuznetzov's modified pcap: 8 more bytes per record header.
    modified: bool,
    pub(crate) linktype: LinkType,
}

impl PcapState {
    /// Recognise the four magic numbers (µs/ns × byte order) and the modified format.
    pub(crate) fn from_magic(magic: &[u8]) -> Option<Self> {
        let be = u32::from_be_bytes([magic[0], magic[1], magic[2], magic[3]]);
        let (endian, nanos, modified) = match be {
            0xa1b2_c3d4 => (Endian::Big, false, false),
            0xd4c3_b2a1 => (Endian::Little, false, false),
            0xa1b2_3c4d => (Endian::Big, true, false),
            0x4d3c_b2a1 => (Endian::Little, true, false),
            0xa1b2_cd34 => (Endian::Big, false, true),
            0x34cd_b2a1 => (Endian::Little, false, true),
            _ => return None,
        };
        Some(PcapState { endian, nanos, modified, linktype: LinkType(0) })
    }

    pub(crate) fn read_header<R: Read>(&mut self, w: &mut Window<R>) -> Result<(), CaptureError> {
        if !need(w, GLOBAL_HEADER_LEN, "pcap file header", 0)? {
            return Err(CaptureError::Truncated {
                offset: 0,
                packets: 0,
                what: "pcap file header",
                needed: GLOBAL_HEADER_LEN as u64,
                available: 0,
            });
        }
        let h = w.peek(GLOBAL_HEADER_LEN);
        // The upper 16 bits may carry FCS information (pcap-linktype(7)).
        self.linktype = LinkType(self.endian.u32(&h[20..24]) & 0xffff);
        w.consume(GLOBAL_HEADER_LEN);
        Ok(())
    }

    pub(crate) fn next<R: Read>(&mut self, w: &mut Window<R>, packets: u64) -> Result<Option<RawRecord>, CaptureError> {
        let hdr_len = if self.modified { 24 } else { 16 };
        if !need(w, hdr_len, "pcap record header", packets)? {
            return Ok(None);
        }
        let h = w.peek(hdr_len);
        let e = self.endian;
        let sec = e.u32(&h[0..4]) as i64;
        let frac = e.u32(&h[4..8]) as i64;
        let caplen = e.u32(&h[8..12]);
        let origlen = e.u32(&h[12..16]);
        let offset = w.offset();
        if caplen > MAX_CAPLEN {
            return Err(CaptureError::Malformed {
                offset,
                packets,
                reason: format!("record captured length {caplen} exceeds the {MAX_CAPLEN}-byte limit"),
            });
        }
        let frac_ns = if self.nanos { frac } else { frac * 1000 };
        let ts_ns = sec.saturating_mul(1_000_000_000).saturating_add(frac_ns);
        let total = hdr_len + caplen as usize;
        if !need(w, total, "pcap packet data", packets)? {
            return Ok(None);
        }
        let at = w.consume_record(total) + hdr_len;
        Ok(Some(RawRecord { ts_ns, origlen, linktype: self.linktype, interface: 0, at, caplen: caplen as usize }))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use crate::capture::{CaptureError, CaptureReader};

    fn file(magic: [u8; 4], le: bool, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let u32b = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let u16b = |v: u16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let mut out = magic.to_vec();
        out.extend(u16b(2));
        out.extend(u16b(4));
        out.extend([0; 8]);
        out.extend(u32b(65535));
        out.extend(u32b(101));
        for (s, f, d) in records {
            out.extend(u32b(*s));
            out.extend(u32b(*f));
            out.extend(u32b(d.len() as u32));
            out.extend(u32b(d.len() as u32 + 10));
            out.extend(*d);
        }
        out
    }

    #[test]
    fn reads_all_four_magics() {
        for (magic, le, nanos) in [
            ([0xd4, 0xc3, 0xb2, 0xa1], true, false),
            ([0xa1, 0xb2, 0xc3, 0xd4], false, false),
            ([0x4d, 0x3c, 0xb2, 0xa1], true, true),
            ([0xa1, 0xb2, 0x3c, 0x4d], false, true),
        ] {
            let data = file(magic, le, &[(10, 7, b"abc"), (11, 0, b"")]);
            let mut r = CaptureReader::from_reader(Cursor::new(data)).unwrap();
            assert_eq!(r.first_linktype().unwrap().0, 101);
            let p = r.next_packet().unwrap().unwrap();
            assert_eq!(p.ts_ns, 10_000_000_000 + if nanos { 7 } else { 7_000 });
            assert_eq!(p.data, b"abc");
            assert_eq!(p.origlen, 13);
            let p = r.next_packet().unwrap().unwrap();
            assert_eq!(p.data.len(), 0);
            assert!(r.next_packet().unwrap().is_none());
        }
    }

    #[test]
    fn truncated_record_keeps_earlier_packets() {
        let mut data = file([0xd4, 0xc3, 0xb2, 0xa1], true, &[(1, 0, b"complete"), (2, 0, b"cut-short")]);
        data.truncate(data.len() - 3);
        let mut r = CaptureReader::from_reader(Cursor::new(data)).unwrap();
        assert_eq!(r.next_packet().unwrap().unwrap().data, b"complete");
        let err = r.next_packet().unwrap_err();
        assert!(matches!(err, CaptureError::Truncated { packets: 1, offset: 48, .. }), "{err}");
        assert!(r.next_packet().unwrap().is_none());
    }

    #[test]
    fn oversized_record_is_malformed() {
        let mut data = file([0xd4, 0xc3, 0xb2, 0xa1], true, &[]);
        data.extend(1u32.to_le_bytes());
        data.extend(0u32.to_le_bytes());
        data.extend(u32::MAX.to_le_bytes());
        data.extend(u32::MAX.to_le_bytes());
        let mut r = CaptureReader::from_reader(Cursor::new(data)).unwrap();
        assert!(matches!(r.next_packet(), Err(CaptureError::Malformed { .. })));
    }

    #[test]
    fn gzip_is_detected() {
        use std::io::Write;
        let data = file([0xd4, 0xc3, 0xb2, 0xa1], true, &[(1, 0, b"zipped")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let mut r = CaptureReader::from_reader(Cursor::new(gz.finish().unwrap())).unwrap();
        assert_eq!(r.next_packet().unwrap().unwrap().data, b"zipped");
    }
}
