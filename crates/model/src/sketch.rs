//! Streaming sketches with bounded memory: HyperLogLog for distinct
//! counts, Space-Saving for heavy hitters, and a Bloom filter for "has
//! anyone seen this before" over sets too large to keep.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::hash::{hash64, mix};

/// HyperLogLog with 2^[`Hll::P`] registers, exact while small: it keeps up
/// to [`Hll::SPARSE`] distinct hashes and turns into registers past that, so
/// the many quiet (host, hour) cells of a baseline cost a few words each.
#[derive(Debug, Clone)]
pub enum Hll {
    /// Distinct hashes, while there are few.
    Sparse(Vec<u64>),
    /// One register per bucket: the longest run of leading zeros seen + 1.
    Dense(Box<[u8; 1 << Hll::P]>),
}

impl Default for Hll {
    fn default() -> Self {
        Hll::Sparse(Vec::new())
    }
}

impl Hll {
    /// Precision: 256 registers, about 6.5 % standard error once dense.
    pub const P: u32 = 8;
    /// Distinct values kept exactly.
    pub const SPARSE: usize = 32;

    /// Count `bytes`.
    pub fn add(&mut self, bytes: &[u8]) {
        self.add_hash(hash64(bytes));
    }

    /// Count a value by its (well-mixed) hash.
    pub fn add_hash(&mut self, h: u64) {
        match self {
            Hll::Sparse(v) => {
                if !v.contains(&h) {
                    v.push(h);
                    if v.len() > Self::SPARSE {
                        let mut dense = Box::new([0u8; 1 << Hll::P]);
                        for h in v.iter() {
                            Self::set(&mut dense, *h);
                        }
                        *self = Hll::Dense(dense);
                    }
                }
            }
            Hll::Dense(r) => Self::set(r, h),
        }
    }

    fn set(r: &mut [u8; 1 << Hll::P], h: u64) {
        let idx = (h >> (64 - Self::P)) as usize;
        let rest = (h << Self::P) | (1 << (Self::P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if r[idx] < rank {
            r[idx] = rank;
        }
    }

    /// The estimated number of distinct values (exact while sparse).
    pub fn estimate(&self) -> f64 {
        match self {
            Hll::Sparse(v) => v.len() as f64,
            Hll::Dense(r) => {
                let m = (1u32 << Self::P) as f64;
                let alpha = 0.7213 / (1.0 + 1.079 / m);
                let sum: f64 = r.iter().map(|&x| 2f64.powi(-i32::from(x))).sum();
                let raw = alpha * m * m / sum;
                let zeros = r.iter().filter(|&&x| x == 0).count();
                if raw <= 2.5 * m && zeros > 0 {
                    // Linear counting while many registers are empty.
                    m * (m / zeros as f64).ln()
                } else {
                    raw
                }
            }
        }
    }
}

/// Space-Saving (Metwally et al.): the `k` most frequent keys of a stream
/// in O(k) memory; a key's count is over by at most its `error`.
#[derive(Debug, Clone, Default)]
pub struct TopK {
    k: usize,
    counts: HashMap<String, (u64, u64)>,
}

impl TopK {
    /// Keep `k` keys.
    pub fn new(k: usize) -> TopK {
        TopK { k: k.max(1), counts: HashMap::new() }
    }

    /// Count one occurrence of `key`.
    pub fn add(&mut self, key: &str, n: u64) {
        if let Some(c) = self.counts.get_mut(key) {
            c.0 += n;
            return;
        }
        if self.counts.len() < self.k {
            self.counts.insert(key.to_string(), (n, 0));
            return;
        }
        // Replace the least counted key; the newcomer inherits its count as error.
        let Some((min_key, &(min, _))) = self.counts.iter().min_by_key(|(_, c)| c.0) else { return };
        let min_key = min_key.clone();
        self.counts.remove(&min_key);
        self.counts.insert(key.to_string(), (min + n, min));
    }

    /// The keys with their counts, most frequent first (ties by key).
    pub fn top(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self.counts.iter().map(|(k, c)| (k.clone(), c.0)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// A Bloom filter: "certainly not seen" or "probably seen".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bloom {
    bits: Vec<u64>,
    hashes: u32,
}

impl Bloom {
    /// A filter for about `items` keys at false-positive rate `fpp`.
    pub fn with_capacity(items: usize, fpp: f64) -> Bloom {
        let items = items.max(16) as f64;
        let fpp = fpp.clamp(1e-9, 0.5);
        let bits = (-items * fpp.ln() / (2f64.ln().powi(2))).ceil().max(64.0);
        let hashes = ((bits / items) * 2f64.ln()).round().clamp(1.0, 16.0) as u32;
        Bloom { bits: vec![0; (bits as usize).div_ceil(64)], hashes }
    }

    fn positions(&self, key: &[u8]) -> impl Iterator<Item = usize> + '_ {
        let h1 = hash64(key);
        let h2 = mix(h1 ^ 0x9e37_79b9_7f4a_7c15) | 1;
        let m = (self.bits.len() * 64) as u64;
        (0..u64::from(self.hashes)).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    /// Remember `key`.
    pub fn insert(&mut self, key: &[u8]) {
        let pos: Vec<usize> = self.positions(key).collect();
        for p in pos {
            self.bits[p / 64] |= 1 << (p % 64);
        }
    }

    /// Whether `key` was (probably) inserted; never false for an inserted key.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.positions(key).all(|p| self.bits[p / 64] & (1 << (p % 64)) != 0)
    }

    /// The filter as bytes (stored in the models table).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.bits.len() * 8);
        out.extend_from_slice(&self.hashes.to_le_bytes());
        for w in &self.bits {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// A filter back from [`Bloom::to_bytes`]; `None` when the bytes are not one.
    pub fn from_bytes(b: &[u8]) -> Option<Bloom> {
        if b.len() < 12 || !(b.len() - 4).is_multiple_of(8) {
            return None;
        }
        let hashes = u32::from_le_bytes(b[..4].try_into().ok()?);
        if !(1..=16).contains(&hashes) {
            return None;
        }
        let bits = b[4..].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
        Some(Bloom { bits, hashes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hll_is_exact_while_sparse_and_close_once_dense() {
        let mut h = Hll::default();
        for i in 0..20 {
            h.add(format!("10.0.0.{i}").as_bytes());
            h.add(format!("10.0.0.{i}").as_bytes());
        }
        assert_eq!(h.estimate(), 20.0);
        for n in [100usize, 1000, 20_000] {
            let mut h = Hll::default();
            for i in 0..n {
                h.add(format!("peer-{i}").as_bytes());
            }
            let e = h.estimate();
            let err = (e - n as f64).abs() / n as f64;
            assert!(err < 0.2, "{n} distinct estimated as {e}");
        }
    }

    #[test]
    fn space_saving_keeps_the_heavy_hitters() {
        // 5 000 counts over 8 slots: anything above 625 is guaranteed kept.
        let mut t = TopK::new(8);
        for i in 0..2000 {
            t.add("heavy.example", 1);
            if i % 2 == 0 {
                t.add("second.example", 1);
            }
            t.add(&format!("once-{i}.example"), 1);
        }
        let top = t.top();
        assert_eq!(top[0].0, "heavy.example");
        assert_eq!(top[1].0, "second.example");
        assert!(top[0].1 >= 2000);
    }

    #[test]
    fn bloom_has_no_false_negatives_and_few_false_positives() {
        let mut b = Bloom::with_capacity(10_000, 0.01);
        for i in 0..10_000 {
            b.insert(format!("known-{i}.com").as_bytes());
        }
        assert!((0..10_000).all(|i| b.contains(format!("known-{i}.com").as_bytes())));
        let fp = (0..10_000).filter(|i| b.contains(format!("unknown-{i}.net").as_bytes())).count();
        assert!(fp < 250, "{fp} false positives in 10 000");
        let back = Bloom::from_bytes(&b.to_bytes()).expect("round trip");
        assert_eq!(back, b);
        assert!(Bloom::from_bytes(b"garbage").is_none());
        assert!(Bloom::from_bytes(&[0u8; 12]).is_none(), "zero hash functions is not a filter");
    }
}
