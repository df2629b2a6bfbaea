//! Fixed-memory "have I seen this before?" for streaming imports: a Bloom filter. It never
//! misses a repeat; it may (rarely) report one that is not, so callers treat a hit as a
//! suspect and confirm it exactly. With the default 16 MiB and up to ten million rows, fewer
//! than two in a thousand rows become suspects; with one million, about one in a billion.

const K: u32 = 7;

/// A Bloom filter over 64-bit hashes.
pub struct SeenFilter {
    bits: Vec<u64>,
    mask: u64,
}

impl SeenFilter {
    /// A filter of 2^`log2_bits` bits (2^27 = 16 MiB).
    pub fn new(log2_bits: u32) -> Self {
        let nbits = 1u64 << log2_bits;
        Self {
            bits: vec![0; (nbits / 64) as usize],
            mask: nbits - 1,
        }
    }

    /// Adds `hash`; returns true when it may have been added before.
    pub fn insert(&mut self, hash: u64) -> bool {
        let h1 = hash;
        let h2 = splitmix64(hash) | 1;
        let mut seen = true;
        for i in 0..u64::from(K) {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) & self.mask;
            let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
            if self.bits[word] & mask == 0 {
                seen = false;
                self.bits[word] |= mask;
            }
        }
        seen
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A well-mixed 64-bit hash of some text parts (stable within one process run).
pub fn hash_parts(parts: &[&str]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_always_reported() {
        let mut f = SeenFilter::new(16);
        for i in 0..2000u64 {
            assert!(!f.insert(hash_parts(&[&i.to_string()])) || i > 0);
        }
        for i in 0..2000u64 {
            assert!(f.insert(hash_parts(&[&i.to_string()])), "{i} must be seen");
        }
    }

    #[test]
    fn false_alarms_are_rare_when_sized_well() {
        let mut f = SeenFilter::new(20);
        let hits = (0..50_000u64)
            .filter(|i| f.insert(hash_parts(&[&i.to_string()])))
            .count();
        assert!(hits < 50, "{hits} false alarms");
    }
}
