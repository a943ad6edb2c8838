//! What [`Log::stats`](crate::Log::stats), [`Partition::stats`](crate::partition::Partition::stats)
//! and [`Producer::stats`](crate::Producer::stats) return: a snapshot of counters
//! larder keeps as it works — records and bytes appended, offsets, size on
//! disk, fsync counts and latencies per partition; generations, members and
//! lag per group; queue depth per producer — and the latency histogram the
//! fsync figures come from. Taking one reads atomics and takes each lock
//! for a lookup only: cheap enough to call every second. With the `serde`
//! feature every type here is `Serialize`, for a status endpoint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets of the latency histogram: bucket `b` counts durations of
/// `[2^b, 2^(b+1))` microseconds (bucket 0 from 0), so 40 buckets reach
/// past 12 days.
const BUCKETS: usize = 40;

/// A latency histogram updated with relaxed atomics (no lock): log2
/// buckets of microseconds, a count, a sum and a maximum.
#[derive(Debug)]
pub(crate) struct Latencies {
    count: AtomicU64,
    total_us: AtomicU64,
    max_us: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            count: AtomicU64::new(0),
            total_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Latencies {
    /// Counts one operation that took `elapsed`.
    pub(crate) fn record(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = (u64::BITS - us.leading_zeros()).saturating_sub(1) as usize;
        self.buckets[bucket.min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The figures so far.
    pub(crate) fn snapshot(&self) -> LatencyStats {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let count = self.count.load(Ordering::Relaxed);
        let max_us = self.max_us.load(Ordering::Relaxed);
        let percentile = |p: u64| percentile_us(&counts, p).min(max_us);
        LatencyStats {
            count,
            mean_us: self.total_us.load(Ordering::Relaxed).checked_div(count).unwrap_or(0),
            p50_us: percentile(50),
            p99_us: percentile(99),
            max_us,
        }
    }
}

/// The upper bound of the bucket holding the `p`-th percentile of
/// `counts`, in microseconds (0 when empty).
fn percentile_us(counts: &[u64], p: u64) -> u64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0;
    }
    // The rank of the percentile, 1-based, rounded up.
    let rank = (total * p).div_ceil(100).max(1);
    let mut seen = 0;
    for (bucket, &count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return (1u64 << (bucket + 1)) - 1;
        }
    }
    u64::MAX
}

/// Figures of an operation's latency. Percentiles come from power-of-two
/// buckets: each is the upper end of its bucket (at most twice the true
/// value), never above `max_us`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct LatencyStats {
    /// Operations counted.
    pub count: u64,
    /// Mean duration, in microseconds.
    pub mean_us: u64,
    /// Median duration, in microseconds (bucket upper bound).
    pub p50_us: u64,
    /// 99th percentile, in microseconds (bucket upper bound).
    pub p99_us: u64,
    /// Longest duration, in microseconds.
    pub max_us: u64,
}

/// One partition's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PartitionStats {
    /// The partition number (0 for a standalone partition).
    pub partition: u32,
    /// Records appended since the partition was opened.
    pub records_appended: u64,
    /// Bytes of record frames appended since the partition was opened.
    pub bytes_appended: u64,
    /// First offset still stored.
    pub log_start_offset: u64,
    /// Offset the next record gets.
    pub end_offset: u64,
    /// Every offset below this one is durable.
    pub synced_offset: u64,
    /// Bytes of valid log and index on disk.
    pub size_bytes: u64,
    /// Number of segments.
    pub segments: usize,
    /// Whether a failed write or sync poisoned the partition.
    pub poisoned: bool,
    /// fdatasyncs of the partition's data since it was opened.
    pub syncs: LatencyStats,
}

/// One topic's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TopicStats {
    /// The topic.
    pub name: String,
    /// One entry per partition, in partition order.
    pub partitions: Vec<PartitionStats>,
}

/// How far a group's committed offset is behind one partition's end.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The committed offset: the next one the group reads.
    pub committed: u64,
    /// The partition's end offset now.
    pub end_offset: u64,
    /// `end_offset - committed`: records the group has not committed yet.
    pub lag: u64,
}

/// One consumer group's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GroupStats {
    /// The group id.
    pub group_id: String,
    /// The current generation (bumped by each completed rebalance).
    pub generation: u64,
    /// Whether a rebalance is under way.
    pub rebalancing: bool,
    /// Live members.
    pub members: usize,
    /// The sum of `lag` over `partitions`.
    pub total_lag: u64,
    /// Lag per partition with a committed offset.
    pub partitions: Vec<PartitionLag>,
}

/// One producer's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ProducerStats {
    /// Records queued, not yet taken by the appender.
    pub queued_records: usize,
    /// The queue's capacity in records.
    pub queue_capacity: usize,
    /// Bytes of records queued or being appended: held from `send` until
    /// the appender is done with the record (just after its
    /// acknowledgement; on a `Sync` topic once it is appended, before the
    /// sync it waits for).
    pub buffered_bytes: u64,
    /// The bound on `buffered_bytes` (`ProducerConfig::buffer_memory`).
    pub buffer_memory: u64,
}

/// A snapshot of a whole log, from [`Log::stats`](crate::Log::stats).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct LogStats {
    /// Every topic, sorted by name.
    pub topics: Vec<TopicStats>,
    /// Every group with members or committed offsets, sorted by id.
    pub groups: Vec<GroupStats>,
    /// Every open producer of the log.
    pub producers: Vec<ProducerStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_bucket_bounds_capped_by_the_maximum() {
        let latencies = Latencies::default();
        assert_eq!(latencies.snapshot(), LatencyStats::default());
        for us in [100, 110, 120, 130, 5_000] {
            latencies.record(Duration::from_micros(us));
        }
        let stats = latencies.snapshot();
        assert_eq!((stats.count, stats.max_us, stats.mean_us), (5, 5_000, 1_092));
        // 100..=130 µs fall in [64, 128) and [128, 256).
        assert_eq!(stats.p50_us, 127);
        assert_eq!(stats.p99_us, 5_000);
        latencies.record(Duration::from_secs(u64::MAX / 4));
        assert_eq!(latencies.snapshot().count, 6);
    }
}
