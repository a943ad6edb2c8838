//! Choosing a partition for a record: Kafka's default partitioner for keyed
//! records (so a key lands on the same partition number in larder and in a
//! Kafka topic with the same partition count), sticky round-robin for
//! records without a key.

use std::sync::atomic::{AtomicU64, Ordering};

/// Kafka's murmur2 (its Java client's `Utils.murmur2`), bit for bit.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's partition for `key` among `partitions`:
/// `(murmur2(key) & 0x7fffffff) % partitions`.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    ((murmur2(key) as u32) & 0x7fff_ffff) % partitions
}

/// Records without a key stay on one partition for this many records, then
/// move to the next, so the appender gets runs to batch (Kafka's sticky
/// partitioner does the same per batch).
pub const STICKY_RECORDS: u64 = 512;

/// Sticky round-robin over partitions for records without a key.
#[derive(Debug, Default)]
pub(crate) struct Sticky {
    sent: AtomicU64,
}

impl Sticky {
    /// The partition for the next keyless record among `partitions`.
    pub(crate) fn next(&self, partitions: u32) -> u32 {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        ((n / STICKY_RECORDS) % u64::from(partitions)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_test_vectors() {
        // From Kafka's clients UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            (b"abc", 479470107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key), expected, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn partition_is_kafkas_to_positive_modulo() {
        assert_eq!(partition_for_key(b"foobar", 1), 0);
        let positive = (-790332482i32 as u32) & 0x7fff_ffff;
        assert_eq!(partition_for_key(b"foobar", 6), positive % 6);
        assert_eq!(partition_for_key(b"21", 4), ((-973932308i32 as u32) & 0x7fff_ffff) % 4);
    }

    #[test]
    fn sticky_moves_on_after_a_run() {
        let sticky = Sticky::default();
        let picks: Vec<u32> = (0..STICKY_RECORDS * 4).map(|_| sticky.next(3)).collect();
        assert!(picks[..STICKY_RECORDS as usize].iter().all(|&p| p == 0));
        assert_eq!(picks[STICKY_RECORDS as usize], 1);
        assert_eq!(picks[3 * STICKY_RECORDS as usize], 0);
    }
}
