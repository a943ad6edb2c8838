//! What a running mirror reports: records and bytes mirrored, the recent
//! rate, retries, the last error, and each partition's progress and lag.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// The span the recent rate is measured over.
const RATE_WINDOW: Duration = Duration::from_secs(10);

/// Where a mirror stands on one source partition.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionProgress {
    /// The source topic (larder's for a mirror out, Kafka's for a mirror in).
    pub topic: String,
    /// The source partition.
    pub partition: u32,
    /// The committed offset: the next record the mirror copies. `None`
    /// before its first commit.
    pub committed: Option<u64>,
    /// The source partition's end offset, as last seen.
    pub end_offset: u64,
    /// Records not yet copied: `end_offset - committed` (from the log's
    /// start before the first commit).
    pub lag: u64,
}

/// A snapshot of a mirror's figures ([`MirrorOut::stats`](crate::mirror::MirrorOut::stats),
/// [`MirrorIn::stats`](crate::mirror::MirrorIn::stats)).
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MirrorStats {
    /// Records copied and committed since the mirror started.
    pub records: u64,
    /// Bytes of keys and values copied and committed since it started.
    pub bytes: u64,
    /// Records copied per second over the last ten seconds.
    pub records_per_second: f64,
    /// Batches the mirror gave up on and sent again (broker down, delivery
    /// timed out, commit refused).
    pub retries: u64,
    /// Whether the last attempt reached the cluster.
    pub connected: bool,
    /// The last failure the mirror retried after, if any.
    pub last_error: Option<String>,
    /// Whether the mirror's thread still runs (it stops on a failure it
    /// cannot retry; [`MirrorOut::stop`](crate::mirror::MirrorOut::stop) returns that failure).
    pub running: bool,
    /// Progress and lag per source partition.
    pub partitions: Vec<PartitionProgress>,
}

impl MirrorStats {
    /// The summed lag of every partition.
    pub fn lag(&self) -> u64 {
        self.partitions.iter().map(|p| p.lag).sum()
    }
}

/// The counters a mirror's thread updates and `stats` reads.
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) stop: AtomicBool,
    pub(crate) running: AtomicBool,
    records: AtomicU64,
    bytes: AtomicU64,
    retries: AtomicU64,
    connected: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// `(when, records)` samples for the recent rate.
    samples: Mutex<VecDeque<(Instant, u64)>>,
    /// The last published progress (a mirror in's, which only its thread
    /// can see).
    pub(crate) progress: Mutex<Vec<PartitionProgress>>,
}

impl Counters {
    /// Asks the mirror's `thread` to stop and waits for it; the failure it
    /// stopped on, if any (`operation` names the direction in a panic's).
    pub(crate) fn stop_thread(
        &self,
        thread: &mut Option<std::thread::JoinHandle<Result<()>>>,
        operation: &'static str,
    ) -> Result<()> {
        self.stop.store(true, Ordering::Release);
        match thread.take().map(std::thread::JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::Kafka { operation, reason: "the mirror thread panicked".into() }),
        }
    }

    pub(crate) fn new() -> Counters {
        Counters {
            stop: AtomicBool::new(false),
            running: AtomicBool::new(true),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            connected: AtomicBool::new(true),
            last_error: Mutex::new(None),
            samples: Mutex::new(VecDeque::from([(Instant::now(), 0)])),
            progress: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// A batch of `records` holding `bytes` was copied and committed.
    pub(crate) fn copied(&self, records: u64, bytes: u64) {
        let total = self.records.fetch_add(records, Ordering::Relaxed) + records;
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.connected.store(true, Ordering::Relaxed);
        let now = Instant::now();
        let mut samples = self.samples.lock();
        samples.push_back((now, total));
        while samples.len() > 2 && samples.front().is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW) {
            samples.pop_front();
        }
    }

    /// An attempt failed and will be retried.
    pub(crate) fn retrying(&self, reason: String) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        self.connected.store(false, Ordering::Relaxed);
        *self.last_error.lock() = Some(reason);
    }

    /// The thread ended on `error`.
    pub(crate) fn failed(&self, reason: String) {
        *self.last_error.lock() = Some(reason);
    }

    fn rate(&self) -> f64 {
        let samples = self.samples.lock();
        let (Some((first_at, first)), Some((_, last))) = (samples.front(), samples.back()) else { return 0.0 };
        let seconds = first_at.elapsed().as_secs_f64();
        if seconds <= 0.0 {
            return 0.0;
        }
        (last - first) as f64 / seconds
    }

    pub(crate) fn snapshot(&self, partitions: Vec<PartitionProgress>) -> MirrorStats {
        MirrorStats {
            records: self.records.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            records_per_second: self.rate(),
            retries: self.retries.load(Ordering::Relaxed),
            connected: self.connected.load(Ordering::Relaxed),
            last_error: self.last_error.lock().clone(),
            running: self.running.load(Ordering::Acquire),
            partitions,
        }
    }

    /// Sleeps `pause` in short steps, waking early once stopping.
    pub(crate) fn pause(&self, pause: Duration) {
        let until = Instant::now() + pause;
        while !self.stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// Pauses that double from 100 ms up to a ceiling while failures repeat.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);

    pub(crate) fn new(max: Duration) -> Backoff {
        Backoff { next: Backoff::FIRST.min(max), max }
    }

    /// The pause to take now; the next one is twice as long.
    pub(crate) fn next(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(self.max);
        pause
    }

    pub(crate) fn reset(&mut self) {
        self.next = Backoff::FIRST.min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(500));
        let pauses: Vec<u64> = (0..5).map(|_| backoff.next().as_millis() as u64).collect();
        assert_eq!(pauses, [100, 200, 400, 500, 500]);
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(100));
    }

    #[test]
    fn lag_sums_the_partitions() {
        let counters = Counters::new();
        let progress = |partition, lag| PartitionProgress {
            topic: "t".into(),
            partition,
            committed: Some(1),
            end_offset: 1 + lag,
            lag,
        };
        counters.copied(10, 100);
        let stats = counters.snapshot(vec![progress(0, 3), progress(1, 4)]);
        assert_eq!((stats.lag(), stats.records, stats.bytes), (7, 10, 100));
    }
}
