//! pcapng files: sections, interfaces with their time resolution and offset,
//! enhanced, simple and obsolete packet blocks. Other blocks are skipped.

use std::io::Read;

use super::{CaptureError, Endian, MAX_BLOCK_LEN, MAX_CAPLEN, RawRecord, Window, need};
use crate::LinkType;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const OPB: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

const OPT_END: u16 = 0;
const IF_TSRESOL: u16 = 9;
const IF_TSOFFSET: u16 = 14;

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: LinkType,
    snaplen: u32,
    /// Timestamp units per second, as (base, exponent): 10^-e or 2^-e.
    resol: Resolution,
    offset_secs: i64,
}

#[derive(Debug, Clone, Copy)]
enum Resolution {
    Decimal(u8),
    Binary(u8),
}

impl Resolution {
    fn to_ns(self, units: u64) -> i64 {
        let ns: u128 = match self {
            Resolution::Decimal(e) if e <= 9 => units as u128 * 10u128.pow(9 - e as u32),
            Resolution::Decimal(e) => units as u128 / 10u128.pow((e as u32 - 9).min(38)),
            Resolution::Binary(e) => ((units as u128) * 1_000_000_000u128) >> e.min(127),
        };
        i64::try_from(ns).unwrap_or(i64::MAX)
    }
}

/// Reading state of a pcapng stream.
#[derive(Default)]
pub(crate) struct PcapngState {
    endian: Option<Endian>,
    interfaces: Vec<Interface>,
    first_linktype: Option<LinkType>,
}

impl PcapngState {
    pub(crate) fn first_linktype(&self) -> Option<LinkType> {
        self.first_linktype
    }

    pub(crate) fn next<R: Read>(&mut self, w: &mut Window<R>, packets: u64) -> Result<Option<RawRecord>, CaptureError> {
        loop {
            if !need(w, 12, "pcapng block header", packets)? {
                return Ok(None);
            }
            let offset = w.offset();
            let head = w.peek(12);
            let raw_type = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let malformed = |reason: String| CaptureError::Malformed { offset, packets, reason };
            if raw_type == SHB {
                let bom = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
                self.endian = Some(match bom {
                    BYTE_ORDER_MAGIC => Endian::Little,
                    0x4D3C_2B1A => Endian::Big,
                    other => {
                        return Err(malformed(format!("section header byte-order magic {other:#010x} is invalid")));
                    }
                });
                self.interfaces.clear();
            }
            let Some(e) = self.endian else {
                return Err(malformed("pcapng block before any section header".into()));
            };
            let block_type = e.u32(&head[0..4]);
            let block_len = e.u32(&head[4..8]);
            if block_len < 12 || block_len % 4 != 0 || block_len > MAX_BLOCK_LEN {
                return Err(malformed(format!("block type {block_type:#x} has invalid total length {block_len}")));
            }
            if !need(w, block_len as usize, "pcapng block", packets)? {
                return Ok(None);
            }
            let at = w.consume_record(block_len as usize);
            let block = w.slice(at, block_len as usize);
            let trailer = e.u32(&block[block.len() - 4..]);
            if trailer != block_len {
                return Err(malformed(format!(
                    "block type {block_type:#x} length {block_len} does not match its trailing length {trailer}"
                )));
            }
            let body = &block[8..block.len() - 4];
            match block_type {
                SHB => {}
                IDB => {
                    let iface = parse_idb(e, body).map_err(malformed)?;
                    self.first_linktype.get_or_insert(iface.linktype);
                    self.interfaces.push(iface);
                }
                EPB | OPB => {
                    if body.len() < 20 {
                        return Err(malformed(format!("packet block body of {} bytes is too short", body.len())));
                    }
                    let (iface_id, hi, lo, caplen, origlen) = if block_type == EPB {
                        (
                            e.u32(&body[0..4]),
                            e.u32(&body[4..8]),
                            e.u32(&body[8..12]),
                            e.u32(&body[12..16]),
                            e.u32(&body[16..20]),
                        )
                    } else {
                        (
                            e.u16(&body[0..2]) as u32,
                            e.u32(&body[4..8]),
                            e.u32(&body[8..12]),
                            e.u32(&body[12..16]),
                            e.u32(&body[16..20]),
                        )
                    };
                    let iface = *self.interfaces.get(iface_id as usize).ok_or_else(|| {
                        malformed(format!("packet block names interface {iface_id}, which is not described"))
                    })?;
                    if caplen > MAX_CAPLEN || caplen as usize > body.len() - 20 {
                        return Err(malformed(format!(
                            "packet block captured length {caplen} exceeds its block ({} bytes) or the {MAX_CAPLEN}-byte limit",
                            body.len() - 20
                        )));
                    }
                    let units = ((hi as u64) << 32) | lo as u64;
                    let ts_ns =
                        iface.resol.to_ns(units).saturating_add(iface.offset_secs.saturating_mul(1_000_000_000));
                    return Ok(Some(RawRecord {
                        ts_ns,
                        origlen,
                        linktype: iface.linktype,
                        interface: iface_id,
                        at: at + 8 + 20,
                        caplen: caplen as usize,
                    }));
                }
                SPB => {
                    if body.len() < 4 {
                        return Err(malformed("simple packet block is too short".into()));
                    }
                    let iface = *self
                        .interfaces
                        .first()
                        .ok_or_else(|| malformed("simple packet block before any interface description".into()))?;
                    let origlen = e.u32(&body[0..4]);
                    let mut caplen = (origlen as usize).min(body.len() - 4);
                    if iface.snaplen != 0 {
                        caplen = caplen.min(iface.snaplen as usize);
                    }
                    return Ok(Some(RawRecord {
                        ts_ns: 0,
                        origlen,
                        linktype: iface.linktype,
                        interface: 0,
                        at: at + 8 + 4,
                        caplen,
                    }));
                }
                _ => {} // name resolution, statistics, custom, decryption secrets …
            }
        }
    }
}

fn parse_idb(e: Endian, body: &[u8]) -> Result<Interface, String> {
    if body.len() < 8 {
        return Err("interface description block is too short".into());
    }
    let mut iface = Interface {
        linktype: LinkType(e.u16(&body[0..2]) as u32),
        snaplen: e.u32(&body[4..8]),
        resol: Resolution::Decimal(6),
        offset_secs: 0,
    };
    let mut opts = &body[8..];
    while opts.len() >= 4 {
        let code = e.u16(&opts[0..2]);
        let len = e.u16(&opts[2..4]) as usize;
        let padded = (len + 3) & !3;
        if opts.len() < 4 + len {
            break; // options cut short: keep what was read, as Wireshark does
        }
        let value = &opts[4..4 + len];
        match code {
            OPT_END => break,
            IF_TSRESOL if len >= 1 => {
                let v = value[0];
                iface.resol = if v & 0x80 != 0 { Resolution::Binary(v & 0x7f) } else { Resolution::Decimal(v) };
            }
            IF_TSOFFSET if len >= 8 => {
                let a = [value[0], value[1], value[2], value[3], value[4], value[5], value[6], value[7]];
                iface.offset_secs = match e {
                    Endian::Little => i64::from_le_bytes(a),
                    Endian::Big => i64::from_be_bytes(a),
                };
            }
            _ => {}
        }
        opts = opts.get(4 + padded..).unwrap_or(&[]);
    }
    Ok(iface)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use crate::capture::{CaptureError, CaptureReader};

    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = (body.len() + 12) as u32;
        let mut out = kind.to_le_bytes().to_vec();
        out.extend(len.to_le_bytes());
        out.extend(body);
        out.extend(len.to_le_bytes());
        out
    }

    fn shb() -> Vec<u8> {
        let mut b = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
        b.extend(1u16.to_le_bytes());
        b.extend(0u16.to_le_bytes());
        b.extend((-1i64).to_le_bytes());
        block(0x0A0D_0D0A, &b)
    }

    fn idb(linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
        let mut b = linktype.to_le_bytes().to_vec();
        b.extend([0, 0]);
        b.extend(0u32.to_le_bytes());
        if let Some(r) = tsresol {
            b.extend(9u16.to_le_bytes());
            b.extend(1u16.to_le_bytes());
            b.extend([r, 0, 0, 0]);
            b.extend([0, 0, 0, 0]);
        }
        block(1, &b)
    }

    fn epb(iface: u32, units: u64, data: &[u8]) -> Vec<u8> {
        let mut b = iface.to_le_bytes().to_vec();
        b.extend(((units >> 32) as u32).to_le_bytes());
        b.extend((units as u32).to_le_bytes());
        b.extend((data.len() as u32).to_le_bytes());
        b.extend((data.len() as u32).to_le_bytes());
        b.extend(data);
        block(6, &b)
    }

    #[test]
    fn interfaces_resolutions_and_sections() {
        let mut f = shb();
        f.extend(idb(1, None));
        f.extend(idb(101, Some(9)));
        f.extend(idb(113, Some(0x80 | 10)));
        f.extend(epb(0, 1_500_000, b"eth"));
        f.extend(epb(1, 1_500_000_000, b"raw"));
        f.extend(epb(2, 1024 * 3, b"sll"));
        f.extend(block(4, b"name resolution"));
        // a second section resets the interfaces
        f.extend(shb());
        f.extend(idb(228, None));
        let mut spb = 5u32.to_le_bytes().to_vec();
        spb.extend(b"ipv4!");
        f.extend(block(3, &spb));
        let mut r = CaptureReader::from_reader(Cursor::new(f)).unwrap();
        let mut got = Vec::new();
        while let Some(p) = r.next_packet().unwrap() {
            got.push((p.linktype.0, p.ts_ns, p.data.to_vec(), p.interface));
        }
        assert_eq!(
            got,
            vec![
                (1, 1_500_000_000, b"eth".to_vec(), 0),
                (101, 1_500_000_000, b"raw".to_vec(), 1),
                (113, 3_000_000_000, b"sll".to_vec(), 2),
                (228, 0, b"ipv4!".to_vec(), 0),
            ]
        );
    }

    #[test]
    fn packet_naming_unknown_interface_is_malformed() {
        let mut f = shb();
        f.extend(epb(3, 0, b"x"));
        let mut r = CaptureReader::from_reader(Cursor::new(f)).unwrap();
        let err = r.next_packet().unwrap_err();
        assert!(matches!(err, CaptureError::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("interface 3"));
    }

    #[test]
    fn bad_block_length_is_malformed_not_a_panic() {
        let mut f = shb();
        f.extend(idb(1, None));
        f.extend(6u32.to_le_bytes());
        f.extend(7u32.to_le_bytes());
        f.extend([0; 16]);
        let mut r = CaptureReader::from_reader(Cursor::new(f)).unwrap();
        assert!(matches!(r.next_packet(), Err(CaptureError::Malformed { .. })));
    }
}
