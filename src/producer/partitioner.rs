//! Choosing a partition for a record: Kafka's default partitioner for keyed
//! records (so a key lands on the same partition number in larder and in a
//! Kafka topic with the same partition count), and for records without a
//! key Kafka's uniform sticky partitioner: one partition per batch, the
//! next partition for the next batch.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use parking_lot::Mutex;

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

/// Records without a key, per topic: Kafka 3.3's uniform sticky partitioner
/// (KIP-794), with the appender's drains standing in for Kafka's batches.
/// A run stays on one partition until its batch closes — the appender took
/// a drain from the queue since the run began, a direct send wrote it, or
/// its frames reached the byte budget — and the next record starts a run
/// on the next partition. A flood thus still gives the appender long runs
/// to batch (a drain's worth, or the budget), while a trickle, where each
/// record is its own drain, spreads over every partition in turn.
#[derive(Debug)]
pub(crate) struct Sticky {
    /// Bytes of frames after which a run moves on.
    budget_bytes: usize,
    runs: Mutex<HashMap<Arc<str>, Run, BuildHasherDefault<Fnv>>>,
}

/// FNV-1a: topic names are short and chosen by the application, so a
/// keyed hash's resistance to crafted collisions buys nothing on this
/// per-send lookup.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

impl Sticky {
    /// Runs of at most `budget_bytes` of frames (a larger record alone).
    pub(crate) fn new(budget_bytes: usize) -> Self {
        Sticky { budget_bytes, runs: Mutex::new(HashMap::default()) }
    }

    /// The partition among `partitions` of `topic` for the next keyless
    /// record, whose frame takes `frame_bytes`, now that the appender has
    /// taken `drains` drains. A `direct` record is a batch of its own: the
    /// record after it starts a new run.
    pub(crate) fn next(&self, topic: &Arc<str>, partitions: u32, frame_bytes: usize, drains: u64, direct: bool) -> u32 {
        let mut runs = self.runs.lock();
        let run = match runs.get_mut(&**topic) {
            Some(run) => run,
            None => runs.entry(Arc::clone(topic)).or_insert_with(|| Run::new(drains)),
        };
        let partition = run.place(partitions, frame_bytes, drains, self.budget_bytes);
        run.closed |= direct;
        partition
    }
}

/// The current run of one topic's keyless records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    /// Counts the runs so far; the run's partition is `turn % partitions`.
    turn: u64,
    /// The appender's drain count when the run began.
    drains: u64,
    /// Bytes of frames placed in the run.
    bytes: usize,
    /// Whether the run's batch was written already (a direct send).
    closed: bool,
}

impl Run {
    fn new(drains: u64) -> Self {
        Run { turn: 0, drains, bytes: 0, closed: false }
    }

    /// Places a record of `frame_bytes`, starting a new run first if the
    /// current one's batch closed or the record would take it past
    /// `budget_bytes`.
    fn place(&mut self, partitions: u32, frame_bytes: usize, drains: u64, budget_bytes: usize) -> u32 {
        let full = self.bytes > 0 && self.bytes.saturating_add(frame_bytes) > budget_bytes;
        if self.closed || self.drains != drains || full {
            *self = Run { turn: self.turn.wrapping_add(1), ..Run::new(drains) };
        }
        self.bytes = self.bytes.saturating_add(frame_bytes);
        (self.turn % u64::from(partitions)) as u32
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
    fn a_run_moves_on_when_the_budget_is_spent() {
        let mut run = Run::new(0);
        let picks: Vec<u32> = (0..12).map(|_| run.place(3, 100, 0, 400)).collect();
        assert_eq!(picks, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(run.place(3, 100, 0, 400), 0, "round-robin wraps");
    }

    #[test]
    fn a_run_moves_on_after_each_drain_or_direct_send() {
        let mut run = Run::new(7);
        assert_eq!((run.place(6, 10, 7, 1 << 14), run.place(6, 10, 7, 1 << 14)), (0, 0));
        assert_eq!((run.place(6, 10, 8, 1 << 14), run.place(6, 10, 8, 1 << 14)), (1, 1));
        let sticky = Sticky::new(1 << 14);
        let topic: Arc<str> = Arc::from("t");
        let direct: Vec<u32> = (0..4).map(|_| sticky.next(&topic, 3, 10, 0, true)).collect();
        assert_eq!(direct, [0, 1, 2, 0], "each direct send is a batch of its own");
        assert_eq!(sticky.next(&topic, 3, 10, 0, false), 1);
        assert_eq!(sticky.next(&topic, 3, 10, 0, false), 1);
    }

    #[test]
    fn a_record_over_the_budget_runs_alone_and_topics_run_apart() {
        let mut run = Run::new(0);
        let picks: Vec<u32> = [50, 500, 50, 50].iter().map(|&bytes| run.place(4, bytes, 0, 100)).collect();
        assert_eq!(picks, [0, 1, 2, 2]);
        let sticky = Sticky::new(100);
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let picks: Vec<u32> = (0..4).map(|n| sticky.next(if n % 2 == 0 { &a } else { &b }, 4, 60, 0, false)).collect();
        assert_eq!(picks, [0, 0, 1, 1], "each topic has its own run");
    }
}
