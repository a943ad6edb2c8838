//! The cleaner: gives disk back as each topic's cleanup policy says. One
//! thread per log, woken when a segment rolls, when a group commits, when a
//! sender waits for buffer space, and every `cleaner_interval`; the log
//! joins it when it closes. A pass is also run on demand by
//! [`Log::run_cleaner`](crate::Log::run_cleaner).
//!
//! It only ever removes whole sealed segments, oldest first, through
//! `Partition::delete_before` (the new log start is made durable before a
//! file goes), and compacts sealed segments (`compact`): the active segment
//! is never touched, so appends never wait for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::catalog::cleanup::{CleanupConfig, CleanupPolicy, WhenFull};
use crate::catalog::{Catalog, Topic};
use crate::clock::{horizon, Clock};
use crate::error::Result;
use crate::group::TopicPartition;
use crate::notify::Waker;
use crate::partition::{CompactionRules, Partition, SegmentSummary};
use crate::trace::event;

/// What one cleaner pass did.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CleanerReport {
    /// Whole segments removed by retention, consumption or a full buffer.
    pub segments_deleted: u64,
    /// Bytes those segments held.
    pub bytes_freed: u64,
    /// Partitions compacted.
    pub partitions_compacted: u64,
    /// Records compaction removed (older values of a key, expired tombstones).
    pub records_compacted: u64,
}

impl CleanerReport {
    fn add(&mut self, other: CleanerReport) {
        self.segments_deleted += other.segments_deleted;
        self.bytes_freed += other.bytes_freed;
        self.partitions_compacted += other.partitions_compacted;
        self.records_compacted += other.records_compacted;
    }
}

/// How a log's cleaner runs: the time it judges by, how often it looks
/// unprompted, and the memory of its compaction key map.
#[derive(Debug, Clone)]
pub(crate) struct CleanerSettings {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) interval: Duration,
    pub(crate) map_bytes: usize,
}

/// The cleaner of one log: what wakes it and what it judges time by.
#[derive(Debug)]
pub(crate) struct Cleaner {
    clock: Arc<dyn Clock>,
    waker: Arc<Waker>,
    stopping: AtomicBool,
    /// Serializes passes: the background thread's and `run_cleaner`'s.
    pass: Mutex<()>,
    interval: Duration,
    map_bytes: usize,
}

impl Cleaner {
    pub(crate) fn new(settings: CleanerSettings) -> Cleaner {
        let CleanerSettings { clock, interval, map_bytes } = settings;
        let (waker, stopping, pass) = (Arc::default(), AtomicBool::new(false), Mutex::new(()));
        Cleaner { clock, waker, stopping, pass, interval, map_bytes }
    }

    /// What wakes the cleaner: rolls, commits, senders waiting for space.
    pub(crate) fn waker(&self) -> &Arc<Waker> {
        &self.waker
    }

    /// The time retention is judged by.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Runs passes until [`Cleaner::stop`]: on every wake and every
    /// interval. A failed pass is retried at the next.
    pub(crate) fn run(&self, catalog: &Catalog) {
        while !self.stopping.load(Ordering::Acquire) {
            // A pass `Log::run_cleaner` runs is waited for, but never past
            // `stop`: closing the log does not queue behind it here.
            if let Some(one_at_a_time) = self.pass.try_lock_for(Duration::from_millis(10)) {
                let _ = self.pass_locked(catalog);
                drop(one_at_a_time);
                let deadline = Instant::now().checked_add(self.interval).unwrap_or_else(Instant::now);
                self.waker.wait_until(deadline);
            }
        }
    }

    /// Makes [`Cleaner::run`] return.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// One pass over every topic. Returns what it did, or the first error
    /// (the other topics, and the other partitions of its topic, are still
    /// cleaned).
    pub(crate) fn pass(&self, catalog: &Catalog) -> Result<CleanerReport> {
        let _one_at_a_time = self.pass.lock();
        self.pass_locked(catalog)
    }

    /// A pass, under the `pass` lock.
    fn pass_locked(&self, catalog: &Catalog) -> Result<CleanerReport> {
        let mut report = CleanerReport::default();
        let mut first_error = None;
        for topic in catalog.open_topics() {
            match self.clean_topic(catalog, &topic) {
                Ok(done) => {
                    if done != CleanerReport::default() {
                        event!(
                            INFO,
                            topic = topic.name().as_ref(),
                            segments_deleted = done.segments_deleted,
                            bytes_freed = done.bytes_freed,
                            partitions_compacted = done.partitions_compacted,
                            records_compacted = done.records_compacted,
                            "cleaner removed records"
                        );
                    }
                    report.add(done);
                }
                // Deleted during the pass: its partitions stopped under it.
                Err(_) if topic.is_deleted() => {}
                Err(error) => {
                    event!(WARN, topic = topic.name().as_ref(), error = %error, "cleaner pass failed on a topic");
                    first_error.get_or_insert(error);
                }
            }
            topic.space_freed();
        }
        first_error.map_or(Ok(report), Err)
    }

    fn clean_topic(&self, catalog: &Catalog, topic: &Topic) -> Result<CleanerReport> {
        let config = topic.config();
        let mut report = CleanerReport::default();
        let readers = match &config.cleanup.policy {
            CleanupPolicy::UntilConsumed { groups } => Some(catalog.readers(topic.name(), groups)?),
            _ => None,
        };
        let pressed = config.cleanup.buffer.is_some_and(|(limit, _)| topic.buffer_pressed(limit));
        // A partition that cannot be cleaned (a poisoned one, a key map too
        // small for its segments) is reported, and the others are still
        // cleaned, as Kafka sets an uncleanable partition aside.
        let mut first_error = None;
        for (n, partition) in topic.partitions().iter().enumerate() {
            let tp = TopicPartition::new(topic.name().as_ref(), n as u32);
            match self.clean_partition(partition, &tp, &config, readers.as_deref(), pressed) {
                Ok(done) => report.add(done),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if let Some((limit, WhenFull::DropOldest)) = config.cleanup.buffer {
            match drop_oldest(topic, limit) {
                Ok(done) => report.add(done),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(report), Err)
    }

    /// Cleans one partition of a topic as its configuration says.
    fn clean_partition(
        &self,
        partition: &Partition,
        tp: &TopicPartition,
        config: &crate::catalog::TopicConfig,
        readers: Option<&[Arc<crate::group::Group>]>,
        pressed: bool,
    ) -> Result<CleanerReport> {
        let mut report = CleanerReport::default();
        let consumed = match readers {
            Some(readers) => Some(Catalog::consumed_offset(tp, readers)?),
            None => None,
        };
        // A buffer under pressure gets back even the active segment
        // once it is all consumed: sealed, it can go.
        if pressed && consumed.flatten().is_some_and(|c| c >= partition.end_offset()) {
            partition.roll()?;
        }
        // One look at the segments, judged and removed: a segment a
        // concurrent delete_records removes meanwhile shifts nothing.
        let sealed = partition.sealed_segments();
        let doomed = doomed_prefix(&sealed, config, consumed, partition.size_bytes(), self);
        report.add(delete_prefix(partition, &sealed[..doomed])?);
        if config.cleanup.policy.compacts() {
            report.add(self.compact(partition, &config.cleanup)?);
        }
        Ok(report)
    }
}

impl Cleaner {
    /// Compacts one partition of a compacted topic.
    fn compact(&self, partition: &Partition, cleanup: &CleanupConfig) -> Result<CleanerReport> {
        let rules = CompactionRules {
            now_ms: self.now_ms(),
            min_compaction_lag_ms: cleanup.min_compaction_lag_ms,
            delete_retention_ms: cleanup.delete_retention_ms,
            min_dirty_ratio: f64::from(cleanup.min_cleanable_dirty_ppm) / 1e6,
            map_bytes: self.map_bytes,
        };
        let done = partition.compact(&rules)?;
        Ok(CleanerReport {
            partitions_compacted: u64::from(done.segments_rewritten > 0),
            records_compacted: done.records_removed,
            ..CleanerReport::default()
        })
    }
}

/// How many of `sealed` (oldest first) the topic's policy removes: those
/// older than `retention_ms`, those beyond `retention_bytes` of the
/// partition's `size`, and — retention until consumed — those every
/// reading group committed past (`consumed`). The retention limits apply to
/// every policy that deletes; under `UntilConsumed` they are the caps.
fn doomed_prefix(
    sealed: &[SegmentSummary],
    config: &crate::catalog::TopicConfig,
    consumed: Option<Option<u64>>,
    size: u64,
    cleaner: &Cleaner,
) -> usize {
    let cleanup = &config.cleanup;
    if !cleanup.policy.deletes() {
        return 0;
    }
    let mut doomed = 0;
    if let Some(retention_ms) = cleanup.retention_ms {
        let horizon = horizon(cleaner.now_ms(), retention_ms);
        doomed = sealed.iter().take_while(|s| s.max_timestamp_ms.is_some_and(|ts| ts < horizon)).count();
    }
    if let Some(limit) = cleanup.retention_bytes {
        let mut left = size;
        let over = sealed.iter().take_while(|s| {
            let go = left.saturating_sub(s.bytes) >= limit;
            left = left.saturating_sub(s.bytes);
            go
        });
        doomed = doomed.max(over.count());
    }
    if let Some(Some(consumed)) = consumed {
        doomed = doomed.max(sealed.iter().take_while(|s| s.end_offset <= consumed).count());
    }
    doomed
}

/// Removes `doomed`, the first sealed segments of `partition` as a look at
/// them found: the log start moves up to the end of the last (never past
/// it, whatever was removed since the look).
fn delete_prefix(partition: &Partition, doomed: &[SegmentSummary]) -> Result<CleanerReport> {
    let Some(last) = doomed.last() else { return Ok(CleanerReport::default()) };
    partition.delete_before(last.end_offset)?;
    let bytes_freed = doomed.iter().map(|s| s.bytes).sum();
    Ok(CleanerReport { segments_deleted: doomed.len() as u64, bytes_freed, ..CleanerReport::default() })
}

/// A full buffer that drops the oldest: removes the oldest sealed segment of
/// the fullest partition while the topic's buffer is over `limit`. With
/// nothing sealed left, the fullest partition's active segment is sealed
/// and removed (a buffer smaller than its segments drops whole segments).
fn drop_oldest(topic: &Topic, limit: u64) -> Result<CleanerReport> {
    let mut report = CleanerReport::default();
    while topic.buffer_used() > limit {
        let partitions = topic.partitions();
        let with_sealed = partitions.iter().filter(|p| !p.sealed_segments().is_empty());
        let partition = match with_sealed.max_by_key(|p| p.size_bytes()) {
            Some(partition) => partition,
            None => {
                let Some(fullest) =
                    partitions.iter().filter(|p| p.end_offset() > p.log_start_offset()).max_by_key(|p| p.size_bytes())
                else {
                    break;
                };
                fullest.roll()?;
                if fullest.sealed_segments().is_empty() {
                    break;
                }
                fullest
            }
        };
        let sealed = partition.sealed_segments();
        report.add(delete_prefix(partition, sealed.get(..1).unwrap_or_default())?);
    }
    Ok(report)
}
