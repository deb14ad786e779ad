//! The per-task map from daisy block id to [`BlockEntry`](super::state::BlockEntry), with a
//! fast hasher for integer keys.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for `u64` block ids: one 128-bit multiply folded to 64 bits (the mix of wyhash /
/// foldhash). Block ids are not adversarial, so SipHash's protection is not needed, and this
/// is several times faster on maps with millions of blocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockIdHasher(u64);

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for BlockIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let m = u128::from(self.0 ^ n) * u128::from(MULTIPLIER);
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

/// Map from block id to `V` using [`BlockIdHasher`].
pub type BlockMap<V> = HashMap<u64, V, BuildHasherDefault<BlockIdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn spreads_consecutive_ids() {
        let b = BuildHasherDefault::<BlockIdHasher>::default();
        // Low 7 bits select buckets within a group and high 7 bits are the control byte:
        // consecutive ids must differ in both.
        let hashes: Vec<u64> = (0..256u64).map(|i| b.hash_one(i)).collect();
        let low: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 0x7f).collect();
        let high: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(
            low.len() > 64 && high.len() > 64,
            "{} {}",
            low.len(),
            high.len()
        );
    }
}
