//! How a partition is stored: every limit with its default and setter.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::notify::Waker;
use crate::record::codec::FRAME_HEADER_BYTES;
use crate::segment::header::LOG_HEADER_BYTES;
use crate::storage::{OsStorage, Storage};

/// How segments are cut and records bounded: the configuration a
/// [`PartitionOptions`] and a topic's configuration share, and its checks.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentConfig {
    pub(crate) segment_bytes: u32,
    pub(crate) segment_ms: Option<u64>,
    pub(crate) max_record_bytes: u32,
    pub(crate) index_interval_bytes: u32,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            segment_bytes: PartitionOptions::DEFAULT_SEGMENT_BYTES,
            segment_ms: None,
            max_record_bytes: PartitionOptions::DEFAULT_MAX_RECORD_BYTES,
            index_interval_bytes: PartitionOptions::DEFAULT_INDEX_INTERVAL_BYTES,
        }
    }
}

impl SegmentConfig {
    /// Checks every field against its limit.
    pub(crate) fn validate(&self) -> Result<()> {
        let (min, max) = (PartitionOptions::MIN_SEGMENT_BYTES, PartitionOptions::MAX_SEGMENT_BYTES);
        if !(min..=max).contains(&self.segment_bytes) {
            let reason = format!("{} is outside {min}..={max}", self.segment_bytes);
            return Err(Error::invalid("segment_bytes", reason));
        }
        let largest = max - LOG_HEADER_BYTES as u32;
        if !(FRAME_HEADER_BYTES as u32..=largest).contains(&self.max_record_bytes) {
            let reason = format!("{} is outside {FRAME_HEADER_BYTES}..={largest}", self.max_record_bytes);
            return Err(Error::invalid("max_record_bytes", reason));
        }
        if self.segment_ms.is_some_and(|ms| ms == 0 || ms > i64::MAX as u64) {
            return Err(Error::invalid("segment_ms", format!("must be in 1..={} ms", i64::MAX)));
        }
        if self.index_interval_bytes == 0 {
            return Err(Error::invalid("index_interval_bytes", "must be at least 1"));
        }
        Ok(())
    }
}

/// A partition's [`SegmentConfig`] as it is now: atomics, so a topic's
/// configuration can change under a running partition (read by appends,
/// which take effect from the next record or roll) at no cost to them.
#[derive(Debug)]
pub(crate) struct LiveSegmentConfig {
    segment_bytes: AtomicU32,
    /// 0 for none.
    segment_ms: AtomicU64,
    max_record_bytes: AtomicU32,
    index_interval_bytes: AtomicU32,
}

impl LiveSegmentConfig {
    pub(crate) fn new(config: SegmentConfig) -> LiveSegmentConfig {
        let live = LiveSegmentConfig {
            segment_bytes: AtomicU32::new(0),
            segment_ms: AtomicU64::new(0),
            max_record_bytes: AtomicU32::new(0),
            index_interval_bytes: AtomicU32::new(0),
        };
        live.store(config);
        live
    }

    /// Replaces the configuration (validated by the caller).
    pub(crate) fn store(&self, config: SegmentConfig) {
        self.segment_bytes.store(config.segment_bytes, Ordering::Relaxed);
        self.segment_ms.store(config.segment_ms.unwrap_or(0), Ordering::Relaxed);
        self.max_record_bytes.store(config.max_record_bytes, Ordering::Relaxed);
        self.index_interval_bytes.store(config.index_interval_bytes, Ordering::Relaxed);
    }

    pub(crate) fn segment_bytes(&self) -> usize {
        self.segment_bytes.load(Ordering::Relaxed) as usize
    }

    pub(crate) fn segment_ms(&self) -> Option<u64> {
        Some(self.segment_ms.load(Ordering::Relaxed)).filter(|&ms| ms > 0)
    }

    pub(crate) fn max_record_bytes(&self) -> u32 {
        self.max_record_bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn index_interval_bytes(&self) -> u64 {
        u64::from(self.index_interval_bytes.load(Ordering::Relaxed))
    }
}

/// The setters of the [`SegmentConfig`] in a field `segments`, for the types
/// that carry one (partition options, topic configurations): written once.
macro_rules! segment_setters {
    () => {
        /// Rolls to a new segment once the active one would exceed this many
        /// bytes (`MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES`). A batch larger than
        /// a whole segment gets a segment of its own, sized to fit.
        pub fn segment_bytes(mut self, segment_bytes: u32) -> Self {
            self.segments.segment_bytes = segment_bytes;
            self
        }

        /// Rolls to a new segment when a record's timestamp is this many
        /// milliseconds past the first record of the active segment.
        pub fn segment_ms(mut self, segment_ms: u64) -> Self {
            self.segments.segment_ms = Some(segment_ms);
            self
        }

        /// Largest record accepted, in bytes of its encoded frame.
        pub fn max_record_bytes(mut self, max_record_bytes: u32) -> Self {
            self.segments.max_record_bytes = max_record_bytes;
            self
        }

        /// Log bytes between two entries of the time index.
        pub fn index_interval_bytes(mut self, index_interval_bytes: u32) -> Self {
            self.segments.index_interval_bytes = index_interval_bytes;
            self
        }
    };
}
pub(crate) use segment_setters;

/// How a partition is stored. Every limit has a default and a setter.
#[derive(Debug, Clone)]
pub struct PartitionOptions {
    pub(crate) segments: SegmentConfig,
    pub(crate) repair: bool,
    pub(crate) storage: Arc<dyn Storage>,
    /// Topic and partition number, when the partition belongs to a topic:
    /// errors name them.
    pub(crate) label: Option<(Arc<str>, u32)>,
    pub(crate) lock_timeout: Duration,
    /// Woken when a segment rolls (the log's cleaner, for a topic's
    /// partition).
    pub(crate) on_roll: Option<Arc<Waker>>,
}

impl Default for PartitionOptions {
    fn default() -> Self {
        PartitionOptions {
            segments: SegmentConfig::default(),
            repair: false,
            storage: Arc::new(OsStorage),
            label: None,
            lock_timeout: Self::DEFAULT_LOCK_TIMEOUT,
            on_roll: None,
        }
    }
}

impl PartitionOptions {
    /// Default `segment_bytes`: 1 GiB, as in Kafka.
    pub const DEFAULT_SEGMENT_BYTES: u32 = 1 << 30;
    /// Default `max_record_bytes`: 1 MiB, as Kafka's `max.message.bytes`.
    pub const DEFAULT_MAX_RECORD_BYTES: u32 = 1 << 20;
    /// Default `index_interval_bytes` of the time index: 4 KiB, as in Kafka.
    pub const DEFAULT_INDEX_INTERVAL_BYTES: u32 = 4096;
    /// Smallest `segment_bytes` accepted.
    pub const MIN_SEGMENT_BYTES: u32 = 128;
    /// Largest `segment_bytes` accepted (Kafka's limit too): positions in a
    /// segment are stored as `u32`.
    pub const MAX_SEGMENT_BYTES: u32 = i32::MAX as u32;

    /// Default [`PartitionOptions::lock_timeout`]: 1 s (see
    /// [`LogOptions::DEFAULT_LOCK_TIMEOUT`](crate::LogOptions::DEFAULT_LOCK_TIMEOUT)).
    pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(1);

    segment_setters!();

    /// How long [`Partition::open`](crate::partition::Partition::open)
    /// waits for the directory's lock while another opener holds it (a
    /// process killed a moment ago, say), before failing with
    /// [`Error::Locked`]; zero tries once.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// On open, cut corruption found below the sync point instead of
    /// refusing to open (records from the bad one on are lost, and the
    /// [`RecoveryReport`](crate::partition::RecoveryReport) says where and how many).
    pub fn repair(mut self, repair: bool) -> Self {
        self.repair = repair;
        self
    }

    /// The file layer to do I/O through (default: the operating system).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = storage;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.segments.validate()
    }
}
