//! De-aggregation of KPL (Kinesis Producer Library) aggregated records.
//!
//! Lambda hands aggregated records over as they are. Format: magic
//! `F3 89 9A C2`, a protobuf `AggregatedRecord`, then the MD5 of the
//! protobuf bytes. Anything that fails a check is not an aggregated
//! record and is taken as a plain one.

use md5::{Digest, Md5};

/// The KPL magic.
pub const KPL_MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

/// The user records inside an aggregated record, or `None` when `data` is
/// not a (valid) aggregated record.
pub fn deaggregate(data: &[u8]) -> Option<Vec<&[u8]>> {
    if data.len() < KPL_MAGIC.len() + DIGEST_LEN || !data.starts_with(&KPL_MAGIC) {
        return None;
    }
    let body = &data[KPL_MAGIC.len()..data.len() - DIGEST_LEN];
    let digest = &data[data.len() - DIGEST_LEN..];
    if Md5::digest(body).as_slice() != digest {
        return None;
    }
    let mut out = Vec::new();
    let mut p = Proto(body);
    while !p.0.is_empty() {
        let (field, wire) = p.key()?;
        match (field, wire) {
            (3, 2) => {
                let mut rec = Proto(p.bytes()?);
                let mut data = None;
                while !rec.0.is_empty() {
                    let (f, w) = rec.key()?;
                    match (f, w) {
                        (3, 2) => data = Some(rec.bytes()?),
                        _ => rec.skip(w)?,
                    }
                }
                out.push(data?);
            }
            _ => p.skip(wire)?,
        }
    }
    Some(out)
}

/// A protobuf reader over a byte slice.
struct Proto<'a>(&'a [u8]);

impl<'a> Proto<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn key(&mut self) -> Option<(u64, u8)> {
        let k = self.varint()?;
        Some((k >> 3, (k & 7) as u8))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        if n > self.0.len() {
            return None;
        }
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(b)
    }

    fn skip(&mut self, wire: u8) -> Option<()> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.advance(8),
            2 => self.bytes().map(drop),
            5 => self.advance(4),
            _ => None,
        }
    }

    fn advance(&mut self, n: usize) -> Option<()> {
        self.0 = self.0.get(n..)?;
        Some(())
    }
}

/// Build an aggregated record (what the KPL sends), for tests and tools.
pub fn aggregate(partition_key: &str, records: &[&[u8]]) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn field_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
        varint(out, field << 3 | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
    let mut body = Vec::new();
    field_bytes(&mut body, 1, partition_key.as_bytes());
    for r in records {
        let mut rec = Vec::new();
        varint(&mut rec, 1 << 3); // partition_key_index = 0
        varint(&mut rec, 0);
        field_bytes(&mut rec, 3, r);
        field_bytes(&mut body, 3, &rec);
    }
    let mut out = KPL_MAGIC.to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(&Md5::digest(&body));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_records_come_apart() {
        let agg = aggregate("pk", &[b"one", b"", b"three"]);
        assert_eq!(deaggregate(&agg).unwrap(), vec![&b"one"[..], b"", b"three"]);
    }

    #[test]
    fn anything_failing_a_check_is_a_plain_record() {
        let agg = aggregate("pk", &[b"one"]);
        let mut bad_digest = agg.clone();
        let n = bad_digest.len();
        bad_digest[n - 1] ^= 1;
        assert!(deaggregate(&bad_digest).is_none());
        assert!(deaggregate(b"plain text").is_none());
        assert!(deaggregate(&agg[..agg.len() - 3]).is_none());
        // A valid digest over damaged protobuf.
        let body = [0x1a, 0x7f, 0x01];
        let mut forged = KPL_MAGIC.to_vec();
        forged.extend_from_slice(&body);
        forged.extend_from_slice(&Md5::digest(body));
        assert!(deaggregate(&forged).is_none());
    }
}
