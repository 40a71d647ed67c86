//! A stable 64-bit hash for sketches that are stored in the lake: FNV-1a
//! finished with SplitMix64's mixer. `std`'s hasher may change between
//! Rust releases, which would silently empty every stored Bloom filter.

/// FNV-1a, 64 bits.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Hash `bytes` to 64 well-mixed bits; the same on every platform and build.
pub fn hash64(bytes: &[u8]) -> u64 {
    mix(fnv1a(bytes))
}

/// SplitMix64's finaliser: spreads every input bit over the output.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_published_test_vectors() {
        // From the FNV reference test suite (draft-eastlake-fnv).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_mixer_spreads_single_bit_differences() {
        let a = hash64(b"example.com");
        let b = hash64(b"example.con");
        assert!((a ^ b).count_ones() > 16, "{a:x} vs {b:x}");
    }
}
