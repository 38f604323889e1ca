//! The hash of the matcher's term caches and the topic text table: fast
//! on short keys, and good enough in its low bits for hashbrown.

/// A small multiplicative hasher for the term caches: compile hashes every
/// term of every subscriber's query, and SipHash's DoS resistance buys
/// nothing for keys that already passed the parser's size limits.
#[derive(Default, Clone, Copy)]
pub(crate) struct TermHasher(u64);

impl std::hash::Hasher for TermHasher {
    fn finish(&self) -> u64 {
        // The multiply leaves low bits weak, and hashbrown picks buckets by
        // low bits; a final avalanche (murmur3's fmix64) spreads them.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}
