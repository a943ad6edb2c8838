//! A partition: an ordered list of segments in one directory, appended to
//! by one writer at a time and read by any number of threads.
//!
//! Appends are serialized by a mutex; a record is written into the mapped
//! segment, indexed, and only then published by a release store of the end
//! offset, so readers never wait for an append and never see half a record.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::error::{Error, IoOp, Result};
use crate::notify::Watchers;
use crate::record::codec;
use crate::record::{now_ms, NewRecord, Record};
use crate::stats::{Latencies, PartitionStats};
use crate::trace::{event, SLOW_SYNC};
mod compact;
mod follower;
mod options;
mod recovery;
pub(crate) mod state;

pub use crate::segment::{BatchIter, RecordBatch};
pub(crate) use compact::CompactionRules;
pub use options::PartitionOptions;
pub(crate) use options::{segment_setters, LiveSegmentConfig, SegmentConfig};
pub use recovery::RecoveryReport;

use crate::segment::header::LOG_HEADER_BYTES;
use crate::segment::index::{INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES};
use crate::segment::{files, Segment, SegmentWriter};
use crate::storage::lock::{lock_file, DirLock};
use crate::storage::Storage;
use state::PartitionState;

/// Most times a sync leader yields to let concurrent appenders join it.
const GATHER_YIELDS: usize = 4;

/// How much a failed step may have changed, for [`Partition::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    /// Only what the failed operation itself did: [`IoOp::poisons`] says
    /// whether that leaves the partition's files unknown.
    Operation,
    /// The step had begun changing the partition's files (a seal, a
    /// truncation, the sync of appended data): after any I/O failure they
    /// may no longer match what the partition holds in memory.
    Files,
    /// The call's change is already published (and durable); this step
    /// only cleans up after it (removing what it left out of the log).
    /// Poisons as `Operation` does, but is never reported as `DiskFull`,
    /// which promises that nothing stored changed.
    Published,
}

/// A sealed segment as the cleaner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentSummary {
    /// The offset after its last record.
    pub(crate) end_offset: u64,
    /// Bytes of log and index it holds.
    pub(crate) bytes: u64,
    /// The newest timestamp it holds or, compacted, held (see
    /// `Segment::max_timestamp_ms`).
    pub(crate) max_timestamp_ms: Option<i64>,
}

/// Where an append put its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the (first) record appended.
    pub offset: u64,
    /// Timestamp of the (first) record as stored: its own, or the append
    /// time if it came without one.
    pub timestamp_ms: i64,
}

/// Name of the lock file held while a partition is open.
const LOCK_FILE: &str = "partition.lock";

/// A partition log in one directory. `Send + Sync`: share it in an `Arc`.
//
// Locks (docs/DESIGN.md, 8 to 10): `compaction` (a compaction pass, a
// truncation), then `writer` (appends, rolls, cuts, the synced watermark),
// then `sync_state`, then `segments`; no fdatasync runs under `sync_state`.
pub struct Partition {
    dir: PathBuf,
    options: PartitionOptions,
    /// The segment configuration in force (it may change while open).
    config: LiveSegmentConfig,
    segments: RwLock<Vec<Arc<Segment>>>,
    /// Held by a compaction pass and by a truncation: both write a
    /// segment's `.cleaned` files, which must not interleave.
    compaction: Mutex<()>,
    /// The partition's topic is compacted: every record appended needs a
    /// key (set by the topic, and changed by `alter_topic`).
    keys_required: AtomicBool,
    writer: Mutex<Option<SegmentWriter>>,
    /// Whether a sync is running; waiters for it park on `sync_done`.
    sync_state: Mutex<bool>,
    sync_done: Condvar,
    end_offset: AtomicU64,
    log_start_offset: AtomicU64,
    /// Bytes of the sealed segments, counted when the list changes.
    sealed_bytes: AtomicU64,
    /// Every offset below it is durable. Changed only under the writer
    /// lock, so a sync that finishes after a truncation cannot raise it
    /// over records the truncation replaced (see `truncations`).
    synced_offset: AtomicU64,
    /// Truncations so far, bumped under the writer lock: a sync that began
    /// before one covers files that are gone, and claims nothing.
    truncations: AtomicU64,
    poisoned: AtomicBool,
    closed: AtomicBool,
    report: RecoveryReport,
    /// Consumers to wake when records are appended.
    watchers: Watchers,
    /// Records and bytes of frames appended since open, for `stats`.
    appended_records: AtomicU64,
    appended_bytes: AtomicU64,
    /// How long this partition's fdatasyncs took.
    syncs: Latencies,
    /// Held while open; released by a clean close, or when dropped.
    lock: Mutex<Option<DirLock>>,
    /// Set when opened read-only: the files another process writes,
    /// followed (see `follower`); there is no writer then.
    follower: Option<follower::Follower>,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("dir", &self.dir)
            .field("log_start_offset", &self.log_start_offset())
            .field("end_offset", &self.end_offset())
            .finish()
    }
}

impl Partition {
    /// Opens (creating if needed) the partition in `dir`, recovering it if
    /// it was not closed cleanly. See [`Partition::recovery_report`].
    pub fn open(dir: impl AsRef<Path>, options: PartitionOptions) -> Result<Partition> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        create_dir(&*options.storage, &dir)?;
        let lock = lock_file(&dir, LOCK_FILE, options.lock_timeout)?;
        let recovered = recovery::recover(&dir, &options)?;
        report_recovery(&dir, &options, &recovered.report);
        let end = recovered.writer.segment().end_offset();
        let state = PartitionState {
            clean: false,
            log_start_offset: recovered.log_start_offset,
            recovery_point: recovered.writer.segment().base_offset(),
        };
        state.write(&*options.storage, &dir)?;
        let mut segments = recovered.segments;
        segments.push(Arc::clone(recovered.writer.segment()));
        let sealed = &segments[..segments.len() - 1];
        let sealed_bytes = AtomicU64::new(sealed.iter().map(|s| s.log_bytes() + s.index_bytes()).sum());
        Ok(Partition {
            sealed_bytes,
            dir,
            config: LiveSegmentConfig::new(options.segments),
            options,
            segments: RwLock::new(segments),
            compaction: Mutex::new(()),
            keys_required: AtomicBool::new(false),
            writer: Mutex::new(Some(recovered.writer)),
            sync_state: Mutex::new(false),
            sync_done: Condvar::new(),
            end_offset: AtomicU64::new(end),
            log_start_offset: AtomicU64::new(recovered.log_start_offset),
            // Recovery synced whatever it kept, so everything stored is durable.
            synced_offset: AtomicU64::new(end),
            truncations: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            report: recovered.report,
            watchers: Watchers::default(),
            appended_records: AtomicU64::new(0),
            appended_bytes: AtomicU64::new(0),
            syncs: Latencies::default(),
            lock: Mutex::new(Some(lock)),
            follower: None,
        })
    }

    /// Consumers to wake when records are appended.
    pub(crate) fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    /// What opening found and did.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The offset the next append gets (Kafka's log end offset).
    pub fn end_offset(&self) -> u64 {
        self.end_offset.load(Ordering::Acquire)
    }

    /// The first offset still stored.
    pub fn log_start_offset(&self) -> u64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// Every offset below this one is durable (covered by a completed sync).
    pub fn synced_offset(&self) -> u64 {
        self.synced_offset.load(Ordering::Acquire)
    }

    /// Changes how segments are cut and records bounded from now on: the
    /// next record is checked against the new `max_record_bytes`, the
    /// active segment rolls by the new `segment_bytes` / `segment_ms`.
    /// Sealed segments are not rewritten.
    pub(crate) fn reconfigure(&self, config: SegmentConfig) -> Result<()> {
        config.validate()?;
        self.config.store(config);
        Ok(())
    }

    /// Whether an earlier failed sync poisoned the partition.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// Whether the partition was closed (by [`Partition::close`], or by the
    /// log it belongs to).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The topic and partition number for events, `("", 0)` standalone.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    fn label(&self) -> (&str, u32) {
        self.options.label.as_ref().map_or(("", 0), |(topic, partition)| (topic.as_ref(), *partition))
    }

    /// A snapshot of the partition's figures: records and bytes appended
    /// since it was opened, its offsets, size and segments, and its
    /// fdatasyncs. Reads atomics and takes the segment list's lock for a
    /// moment: cheap enough to call every second.
    ///
    /// ```
    /// # fn main() -> larder::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use larder::partition::{Partition, PartitionOptions};
    /// use larder::record::NewRecord;
    ///
    /// let partition = Partition::open(dir.path(), PartitionOptions::default())?;
    /// partition.append_batch(&[NewRecord::new(b"a"), NewRecord::new(b"b")])?;
    /// partition.sync()?;
    /// let stats = partition.stats();
    /// assert_eq!((stats.records_appended, stats.end_offset, stats.synced_offset), (2, 2, 2));
    /// assert_eq!(stats.syncs.count, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> PartitionStats {
        PartitionStats {
            partition: self.label().1,
            records_appended: self.appended_records.load(Ordering::Relaxed),
            bytes_appended: self.appended_bytes.load(Ordering::Relaxed),
            log_start_offset: self.log_start_offset(),
            end_offset: self.end_offset(),
            synced_offset: self.synced_offset(),
            size_bytes: self.size_bytes(),
            segments: self.segment_count(),
            poisoned: self.is_poisoned(),
            syncs: self.syncs.snapshot(),
        }
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        if let Some(follower) = &self.follower {
            return self.follower_bases(follower).len();
        }
        self.segments.read().len()
    }

    /// Base offsets of the segments, ascending.
    pub fn segment_base_offsets(&self) -> Vec<u64> {
        if let Some(follower) = &self.follower {
            return self.follower_bases(follower);
        }
        self.segments.read().iter().map(|s| s.base_offset()).collect()
    }

    /// Bytes the segments hold (logs and dense indexes, valid part): what a
    /// bounded buffer counts. Cheap: sealed segments are counted when the
    /// list of segments changes, the active one read as it grows.
    pub fn size_bytes(&self) -> u64 {
        if let Some(follower) = &self.follower {
            return self.follower_size_bytes(follower);
        }
        let active = self.segments.read().last().map_or(0, |s| s.log_bytes() + s.index_bytes());
        self.sealed_bytes.load(Ordering::Acquire) + active
    }

    /// Bytes a record whose frame is `frame_len` bytes adds to
    /// [`Partition::size_bytes`]: its frame and its index entry.
    pub(crate) fn stored_bytes(frame_len: usize) -> u64 {
        (frame_len + INDEX_ENTRY_BYTES) as u64
    }

    /// Bytes a roll adds to [`Partition::size_bytes`] before any record:
    /// the new segment's log and index headers.
    pub(crate) const SEGMENT_OVERHEAD_BYTES: u64 = (LOG_HEADER_BYTES + INDEX_HEADER_BYTES) as u64;

    /// Bytes the partition's files take on the file system (blocks
    /// allocated, preallocation included).
    pub fn disk_bytes(&self) -> u64 {
        if let Some(follower) = &self.follower {
            return self.follower_disk_bytes(follower);
        }
        self.segments.read().iter().map(|s| s.disk_bytes()).sum()
    }

    /// The sealed segments holding records from the log start on, oldest
    /// first (never the active segment).
    fn sealed_from_start(&self) -> Vec<Arc<Segment>> {
        let start = self.log_start_offset();
        let segments = self.segments.read();
        let sealed = &segments[..segments.len().saturating_sub(1)];
        sealed.iter().filter(|s| s.end_offset() > start).cloned().collect()
    }

    /// The sealed segments from the log start on, oldest first: what the
    /// cleaner may remove (never the active segment).
    pub(crate) fn sealed_segments(&self) -> Vec<SegmentSummary> {
        self.sealed_from_start()
            .iter()
            .map(|s| SegmentSummary {
                end_offset: s.end_offset(),
                bytes: s.log_bytes() + s.index_bytes(),
                max_timestamp_ms: s.max_timestamp_ms(),
            })
            .collect()
    }

    /// Counts the bytes of the sealed segments in `segments` (all but the
    /// last), after the list changed.
    fn recount_sealed(&self, segments: &[Arc<Segment>]) {
        let sealed = &segments[..segments.len().saturating_sub(1)];
        let bytes = sealed.iter().map(|s| s.log_bytes() + s.index_bytes()).sum();
        self.sealed_bytes.store(bytes, Ordering::Release);
    }

    /// Appends one record; returns its offset and timestamp. A partition of
    /// a compacted topic refuses a record without a key with
    /// [`Error::MissingKey`] (a batch as a whole, in [`Partition::append_batch`]).
    pub fn append(&self, record: &NewRecord<'_>) -> Result<Appended> {
        let timestamp_ms = record.timestamp_ms.unwrap_or_else(now_ms);
        let len = self.frame_len(record, timestamp_ms)?;
        self.append_frames(std::iter::once((record, timestamp_ms, len)), len, timestamp_ms)
    }

    /// Appends `records` in one write with contiguous offsets; returns the
    /// first offset and the first record's timestamp. Records without a
    /// timestamp get the same one, read once from the clock. Either every
    /// record is appended or, on error, none is.
    pub fn append_batch(&self, records: &[NewRecord<'_>]) -> Result<Appended> {
        let now = now_ms();
        let timestamp = |r: &NewRecord<'_>| r.timestamp_ms.unwrap_or(now);
        let lengths = records.iter().map(|r| self.frame_len(r, timestamp(r))).collect::<Result<Vec<_>>>()?;
        let total = lengths.iter().sum::<usize>();
        let first_timestamp = records.first().map_or(now, timestamp);
        let frames = records.iter().zip(lengths).map(|(r, len)| (r, timestamp(r), len));
        self.append_frames(frames, total, first_timestamp)
    }

    /// Writes frames of `total` bytes under the writer lock and publishes
    /// them with one release store of the end offset.
    fn append_frames<'r>(
        &self,
        frames: impl ExactSizeIterator<Item = (&'r NewRecord<'r>, i64, usize)>,
        total: usize,
        first_timestamp: i64,
    ) -> Result<Appended> {
        let count = frames.len() as u64;
        let mut guard = self.writer.lock();
        let writer = self.writable(&mut guard)?;
        let offset = self.end_offset.load(Ordering::Relaxed);
        if count > 0 {
            if total > PartitionOptions::MAX_SEGMENT_BYTES as usize - LOG_HEADER_BYTES {
                return Err(Error::invalid("records", format!("batch of {total} bytes exceeds the largest segment")));
            }
            let interval = self.config.index_interval_bytes();
            self.make_room(writer, total, first_timestamp)?;
            let written = writer.append(&*self.options.storage, offset, frames, total, interval);
            self.check(written, Damage::Operation)?;
            self.end_offset.store(offset + count, Ordering::Release);
            self.debug_check_invariants(guard.as_ref());
            drop(guard);
            self.appended_records.fetch_add(count, Ordering::Relaxed);
            self.appended_bytes.fetch_add(total as u64, Ordering::Relaxed);
            self.watchers.notify();
        }
        Ok(Appended { offset, timestamp_ms: first_timestamp })
    }

    /// The partition's whole policy for failed file operations, applied to
    /// every step that writes: whether the failure poisons the partition
    /// (see [`Damage`]), and a full disk reported as [`Error::DiskFull`]
    /// naming the topic and partition.
    fn check<T>(&self, result: Result<T>, damage: Damage) -> Result<T> {
        result.map_err(|error| {
            let poisons = match damage {
                Damage::Operation | Damage::Published => error.poisons(),
                Damage::Files => matches!(error, Error::Io { .. }),
            };
            if poisons {
                if !self.poisoned.swap(true, Ordering::AcqRel) {
                    event!(ERROR, topic = self.label().0, partition = self.label().1, error = %error, "partition poisoned: writes refused until it is reopened");
                }
                // Not `DiskFull`: that promises appends resume once there
                // is room, and a poisoned partition refuses them.
                return error;
            }
            if damage == Damage::Published {
                return error;
            }
            self.disk_full_or(error)
        })
    }

    fn disk_full_or(&self, error: Error) -> Error {
        let Error::Io { path, .. } = &error else { return error };
        if !error.is_no_space() {
            return error;
        }
        event!(WARN, topic = self.label().0, partition = self.label().1, path = %path.display(), "disk full: appends refused until there is room");
        let (topic, partition) = match &self.options.label {
            Some((topic, partition)) => (Some(topic.to_string()), Some(*partition)),
            None => (None, None),
        };
        Error::DiskFull { topic, partition, path: path.clone() }
    }

    /// Frame length of `record`, after the record check.
    fn frame_len(&self, record: &NewRecord<'_>, timestamp_ms: i64) -> Result<usize> {
        let len = codec::checked_frame_len(record, timestamp_ms, self.config.max_record_bytes())?;
        if record.key.is_none() && self.keys_required.load(Ordering::Relaxed) {
            // A handle of a closed partition says so first, whatever it is given.
            self.check_open()?;
            return Err(Error::MissingKey { topic: self.label().0.to_string() });
        }
        Ok(len)
    }

    /// Whether every record appended must have a key from now on (its
    /// topic is compacted, as Kafka refuses keyless records there).
    pub(crate) fn require_keys(&self, required: bool) {
        self.keys_required.store(required, Ordering::Relaxed);
    }

    fn writable<'g>(&self, guard: &'g mut Option<SegmentWriter>) -> Result<&'g mut SegmentWriter> {
        let writer = guard.as_mut().ok_or_else(|| self.not_writable("append"))?;
        if self.is_poisoned() {
            return Err(Error::Poisoned { path: self.dir.clone() });
        }
        Ok(writer)
    }

    /// Why there is no writer: the partition is read-only, or closed.
    fn not_writable(&self, operation: &'static str) -> Error {
        match self.follower {
            Some(_) => Error::ReadOnly { operation, path: self.dir.clone() },
            None => Error::Closed { what: "partition" },
        }
    }

    /// Fails with [`Error::ReadOnly`] on a read-only partition.
    fn check_writable(&self, operation: &'static str) -> Result<()> {
        match self.follower {
            Some(_) => Err(self.not_writable(operation)),
            None => Ok(()),
        }
    }

    /// Fails with [`Error::Closed`] once the partition is closed: reads
    /// too, since a closed partition has let go of its files.
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed { what: "partition" });
        }
        Ok(())
    }

    /// Checks, in debug builds, what must hold after every change of the
    /// partition's state: `log_start <= synced <= end`, the segments
    /// contiguous and ending where the end offset says, the last one the
    /// writer's. Called under the writer lock.
    fn debug_check_invariants(&self, writer: Option<&SegmentWriter>) {
        if cfg!(debug_assertions) {
            let (start, synced, end) = (self.log_start_offset(), self.synced_offset(), self.end_offset());
            assert!(
                start <= synced && synced <= end,
                "{}: start {start}, synced {synced}, end {end}",
                self.dir.display()
            );
            let segments = self.segments.read();
            for pair in segments.windows(2) {
                assert_eq!(
                    pair[0].end_offset(),
                    pair[1].base_offset(),
                    "{}: segments not contiguous",
                    self.dir.display()
                );
            }
            if let (Some(writer), Some(last)) = (writer, segments.last()) {
                assert!(
                    Arc::ptr_eq(writer.segment(), last),
                    "{}: the writer's segment is not the last",
                    self.dir.display()
                );
                assert_eq!(
                    last.end_offset(),
                    end,
                    "{}: the last segment does not end at the end offset",
                    self.dir.display()
                );
                writer.debug_check();
            }
            assert!(
                segments.first().is_none_or(|first| first.base_offset() <= start),
                "{}: log start below the first segment",
                self.dir.display()
            );
        }
    }

    /// Rolls first if `bytes` do not fit the active segment or its
    /// `segment_ms` has elapsed at `timestamp_ms`.
    fn make_room(&self, writer: &mut SegmentWriter, bytes: usize, timestamp_ms: i64) -> Result<()> {
        let aged = match (self.config.segment_ms(), writer.first_timestamp()) {
            (Some(ms), Some(first)) => timestamp_ms.saturating_sub(first) >= ms as i64,
            _ => false,
        };
        if writer.fits(bytes) && !aged {
            return Ok(());
        }
        let capacity = self.config.segment_bytes().max(LOG_HEADER_BYTES + bytes);
        self.roll_to(writer, capacity)
    }

    /// Seals the active segment and starts a new one at the end offset, if
    /// the active segment holds any record (otherwise does nothing).
    pub fn roll(&self) -> Result<()> {
        self.check_writable("roll")?;
        let mut guard = self.writer.lock();
        let writer = self.writable(&mut guard)?;
        if writer.record_count() == 0 {
            return Ok(());
        }
        self.roll_to(writer, self.config.segment_bytes())
    }

    /// Starts a new segment at the end offset and seals the old one. The
    /// new one is created first, so a failure (a full disk) leaves the old
    /// one active and untouched. An empty active segment is replaced
    /// instead, to give a large batch the `capacity` it needs.
    fn roll_to(&self, writer: &mut SegmentWriter, capacity: usize) -> Result<()> {
        let storage = &*self.options.storage;
        let base = self.end_offset.load(Ordering::Relaxed);
        let replaces_empty = writer.record_count() == 0;
        // Written under temporary names first: a failure there changed
        // nothing of the partition (a failed sync still poisons, as every
        // failed sync does).
        let staged = SegmentWriter::stage(storage, &self.dir, base);
        let staged = self.check(staged, Damage::Operation)?;
        let fresh = match staged.install(storage, &self.dir, capacity) {
            Ok(fresh) => fresh,
            // Replacing an empty active segment renamed new files over the
            // ones the writer maps: the writer no longer matches them.
            Err(error) if replaces_empty => return self.check(Err(error), Damage::Files),
            // A new segment's files that could not be installed are removed,
            // or the partition is poisoned: no record may be appended to the
            // old segment past an orphan's base offset.
            Err(error) => {
                let removed = files::delete_segment_files(storage, &self.dir, base);
                let damage = if removed.is_ok() { Damage::Operation } else { Damage::Files };
                return self.check(Err(error), damage);
            }
        };
        // The writer's segment is the last listed from the moment it is the
        // writer's: a seal or directory sync failing below poisons the
        // partition, but a sync already past its poison check (it holds no
        // lock during its fdatasync) still finds the writer where the list
        // ends, and so does a close.
        let old = std::mem::replace(writer, fresh);
        let mut segments = self.segments.write();
        if replaces_empty {
            segments.pop();
        }
        segments.push(Arc::clone(writer.segment()));
        self.recount_sealed(&segments);
        drop(segments);
        if !replaces_empty {
            self.check(old.seal(storage, &self.dir), Damage::Files)?;
        }
        let synced_dir = storage.sync_dir(&self.dir).map_err(|e| Error::io(IoOp::SyncDirectory, &self.dir, e));
        self.check(synced_dir, Damage::Files)?;
        // The old segment was sealed, and sealing syncs it.
        self.synced_offset.fetch_max(base, Ordering::AcqRel);
        self.debug_check_invariants(Some(writer));
        if let Some(rolled) = &self.options.on_roll {
            rolled.wake();
        }
        let state = PartitionState { clean: false, log_start_offset: self.log_start_offset(), recovery_point: base };
        self.check(state.write(storage, &self.dir), Damage::Operation)
    }

    /// Starts write-back of every appended byte to the disk without waiting
    /// for it. Appends are in the OS page cache from the moment they return
    /// (segments are shared memory maps), so a process crash never loses
    /// them; only [`Partition::sync`] makes them survive power loss.
    pub fn flush(&self) -> Result<()> {
        self.check_writable("flush")?;
        self.active_segment()?.log().start_writeback()
    }

    /// Makes every record appended before this call durable (fdatasync), so
    /// it survives power loss, and returns the offset up to which the log is
    /// now durable. Appends go on while the sync runs. Concurrent callers
    /// share fdatasyncs: one whose records another caller's sync covered
    /// returns without syncing. A failed sync poisons the partition: this
    /// and every later write returns an error until it is reopened.
    pub fn sync(&self) -> Result<u64> {
        // The target is what was appended before this call: a caller that
        // waited for the lock while another sync covered its records
        // returns without an fdatasync of its own (group commit).
        self.check_writable("sync")?;
        let target = self.end_offset();
        let mut syncing = self.sync_state.lock();
        loop {
            // Closed first: a handle of a closed partition (or log) reports
            // that, poisoned or not.
            self.check_open()?;
            let synced = self.synced_offset();
            // A truncation meanwhile may have removed part of the target.
            if synced >= target.min(self.end_offset()) {
                return Ok(synced);
            }
            if self.is_poisoned() {
                return Err(Error::Poisoned { path: self.dir.clone() });
            }
            if !*syncing {
                break;
            }
            self.sync_done.wait(&mut syncing);
        }
        // This caller leads the next sync; the others wait for it together
        // and wake together, instead of passing a lock from one to the next.
        *syncing = true;
        drop(syncing);
        self.gather_appends();
        let synced = self.sync_now();
        *self.sync_state.lock() = false;
        self.sync_done.notify_all();
        synced
    }

    /// Before leading a sync, lets appenders already on their way in (woken
    /// by the previous sync) add their records, so one fdatasync covers
    /// them: yields while the end offset keeps moving, a few times at most.
    /// Alone, a yield returns at once.
    fn gather_appends(&self) {
        let mut seen = self.end_offset();
        for _ in 0..GATHER_YIELDS {
            std::thread::yield_now();
            let now = self.end_offset();
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    /// The fdatasync of [`Partition::sync`], run by one caller at a time.
    fn sync_now(&self) -> Result<u64> {
        let (log, position, covered, truncations) = {
            let mut guard = self.writer.lock();
            let writer = self.writable(&mut guard)?;
            let covered = self.end_offset.load(Ordering::Relaxed);
            (Arc::clone(writer.segment().log()), writer.position(), covered, self.truncations.load(Ordering::Relaxed))
        };
        let storage = &*self.options.storage;
        let started = std::time::Instant::now();
        let synced = files::sync(storage, &log);
        let took = started.elapsed();
        self.syncs.record(took);
        if took >= SLOW_SYNC {
            event!(
                WARN,
                topic = self.label().0,
                partition = self.label().1,
                took_ms = took.as_millis() as u64,
                "slow fdatasync"
            );
        }
        self.check(synced, Damage::Files)?;
        let mut guard = self.writer.lock();
        if self.truncations.load(Ordering::Relaxed) != truncations {
            // What was synced was replaced meanwhile: claim nothing.
            return Ok(self.synced_offset());
        }
        if let Some(writer) = guard.as_mut().filter(|w| Arc::ptr_eq(w.segment().log(), &log)) {
            writer.synced_to(position);
        }
        self.synced_offset.fetch_max(covered, Ordering::AcqRel);
        self.debug_check_invariants(guard.as_ref());
        Ok(covered)
    }

    fn active_segment(&self) -> Result<Arc<Segment>> {
        self.check_open()?;
        self.segments.read().last().cloned().ok_or(Error::Closed { what: "partition" })
    }

    /// Reads the record at `offset`. On a compacted topic, an offset
    /// compacted away reads as the next surviving record (as a Kafka fetch
    /// does); if none survives before the end offset, the read fails with
    /// [`Error::OffsetOutOfRange`].
    pub fn read(&self, offset: u64) -> Result<Record> {
        if let Some(follower) = &self.follower {
            return self.follower_read(follower, offset);
        }
        let mut at = offset;
        loop {
            let segment = self.segment_for(at)?;
            match segment.record_from(at)? {
                Some(record) => return Ok(record),
                None => at = segment.end_offset(),
            }
        }
    }

    /// The segment holding `offset`, which must be in range.
    fn segment_for(&self, offset: u64) -> Result<Arc<Segment>> {
        self.check_open()?;
        let (start, end) = (self.log_start_offset(), self.end_offset());
        let out_of_range = || Error::OffsetOutOfRange { offset, log_start_offset: start, end_offset: end };
        if offset < start || offset >= end {
            return Err(out_of_range());
        }
        let segments = self.segments.read();
        let found = match segments.last() {
            Some(last) if last.base_offset() <= offset => Some(last),
            _ => segments.partition_point(|s| s.base_offset() <= offset).checked_sub(1).map(|i| &segments[i]),
        };
        found.filter(|s| offset < s.end_offset()).cloned().ok_or_else(out_of_range)
    }

    /// Reads up to `max_records` consecutive records from `offset` as one
    /// batch (never more than the rest of `offset`'s segment; call again
    /// from [`RecordBatch::next_offset`]). An empty batch at the end offset.
    ///
    /// On a compacted topic the batch starts at the first record that
    /// survived at or after `offset` (holes are crossed, even into the next
    /// segment) and its [`RecordBatch::next_offset`] is past the holes
    /// after its last record.
    pub fn read_batch(&self, offset: u64, max_records: usize) -> Result<RecordBatch> {
        self.check_open()?;
        if let Some(follower) = &self.follower {
            return self.follower_read_batch(follower, offset, max_records);
        }
        let mut at = offset;
        loop {
            if at == self.end_offset() && at >= self.log_start_offset() {
                return Ok(RecordBatch::empty(at));
            }
            let batch = self.segment_for(at)?.read_batch(at, max_records as u64)?;
            if !batch.is_empty() || batch.next_offset() == at || max_records == 0 {
                return Ok(batch);
            }
            at = batch.next_offset();
        }
    }

    /// Iterates over records from `offset` to the end offset as it is when
    /// each record is read (records appended meanwhile are included). The
    /// iterator ends after the first error it returns.
    pub fn iter_from(&self, offset: u64) -> PartitionIter<'_> {
        PartitionIter { partition: self, next: offset, segment: None, failed: false }
    }

    /// The first offset whose record has a timestamp >= `timestamp_ms`
    /// (Kafka's `offsets_for_times`), or `None` if no record is that recent.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<u64>> {
        if let Some(follower) = &self.follower {
            return self.follower_offset_for_timestamp(follower, timestamp_ms);
        }
        self.check_open()?;
        let segments = self.segments.read().clone();
        let start = self.log_start_offset();
        for (n, segment) in segments.iter().enumerate().filter(|(_, s)| s.end_offset() > start) {
            let times = segment.times().read();
            // Readers' copy of the active segment's index may lag its last
            // records, so the active segment is always scanned.
            let active = n + 1 == segments.len();
            if !active && times.max_timestamp().is_none_or(|(max, _)| max < timestamp_ms) {
                continue;
            }
            // The entry the scan starts after says every record up to it is
            // older: trusted only if its record is there with the entry's
            // timestamp (one frame read); a false one (a crafted `.tix`
            // whose CRC matches) scans the whole segment rather than skip
            // records.
            let entry = times.last_older_than(timestamp_ms);
            drop(times);
            let holds = |(ts, offset): (i64, u64)| {
                segment
                    .record_from(offset)
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.offset() == offset && r.timestamp_ms() == ts)
            };
            let scan_start = match entry {
                Some(entry) if holds(entry) => entry.1 + 1,
                _ => segment.base_offset(),
            };
            let mut from = scan_start.max(start).max(segment.base_offset());
            while from < segment.end_offset() {
                // On a compacted segment, the next surviving record.
                let Some(record) = segment.record_from(from)? else { break };
                if record.timestamp_ms() >= timestamp_ms {
                    return Ok(Some(record.offset()));
                }
                from = record.offset() + 1;
            }
        }
        Ok(None)
    }

    /// Removes every record at or after `offset`
    /// (`log_start_offset..=end_offset`); the next append gets `offset`.
    /// Records already read stay valid: the cut segment is rewritten into a
    /// new file, never changed in place.
    ///
    /// On a compacted topic, compaction is not undone: a value compaction
    /// removed because a later record had the same key stays removed when
    /// that later record is cut (a truncation waits for a compaction pass
    /// under way, so it never sees half of one).
    pub fn truncate_to(&self, offset: u64) -> Result<()> {
        self.check_writable("truncate")?;
        let _no_compaction = self.compaction.lock();
        let mut guard = self.writer.lock();
        let writer = self.writable(&mut guard)?;
        let (start, end) = (self.log_start_offset(), self.end_offset());
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange { offset, log_start_offset: start, end_offset: end });
        }
        if offset == end {
            return Ok(());
        }
        // The old writer's files are replaced, never rewritten in place.
        let (kept, fresh) = self.check(self.cut(offset), Damage::Files)?;
        self.truncations.fetch_add(1, Ordering::Relaxed);
        {
            let mut segments = self.segments.write();
            let first_replaced = kept.as_ref().map_or(fresh.segment().base_offset(), |k| k.base_offset());
            let replaced_from = segments.partition_point(|s| s.base_offset() < first_replaced);
            for segment in segments.drain(replaced_from..) {
                segment.retire();
            }
            segments.extend(kept);
            segments.push(Arc::clone(fresh.segment()));
            self.recount_sealed(&segments);
        }
        // Readers that see the new end see the old segments retired.
        self.end_offset.store(offset, Ordering::Release);
        self.synced_offset.fetch_min(offset, Ordering::AcqRel);
        *writer = fresh;
        self.debug_check_invariants(guard.as_ref());
        Ok(())
    }

    /// Deletes the segments from the one holding `offset` on, then rewrites
    /// that one's records below `offset` as the new active segment — or, if
    /// it is compacted, as a compacted segment ending at `offset` (returned
    /// first), followed by a new, empty active segment.
    fn cut(&self, offset: u64) -> Result<(Option<Arc<Segment>>, SegmentWriter)> {
        let storage = &*self.options.storage;
        let segments = self.segments.read().clone();
        let keep = segments.partition_point(|s| s.base_offset() <= offset).saturating_sub(1);
        let holder = &segments[keep];
        let base = holder.base_offset();
        let state = PartitionState { clean: false, log_start_offset: self.log_start_offset(), recovery_point: base };
        state.write(storage, &self.dir)?;
        // Newest first: a crash part way leaves a shorter log, never a gap.
        for segment in segments[keep + 1..].iter().rev() {
            files::delete_segment_files(storage, &self.dir, segment.base_offset())?;
        }
        let capacity = self.config.segment_bytes();
        let interval = self.config.index_interval_bytes();
        if !holder.is_compacted() {
            return SegmentWriter::rewrite_prefix(storage, &self.dir, holder, offset, capacity, interval)
                .map(|writer| (None, writer));
        }
        let kept = if offset > base { Some(self.compacted_prefix(holder, offset)?) } else { None };
        if kept.is_none() {
            files::delete_segment_files(storage, &self.dir, base)?;
        }
        let writer = SegmentWriter::create(storage, &self.dir, offset, capacity)?;
        storage.sync_dir(&self.dir).map_err(|e| Error::io(IoOp::SyncDirectory, &self.dir, e))?;
        Ok((kept, writer))
    }

    /// Advances the log start offset to `offset` (at most the end offset):
    /// records below it are no longer readable, and segments wholly below
    /// it are deleted. The new start is persisted before any file goes, and
    /// offsets never change. A failure removing those files comes after
    /// the start moved: it is reported as [`Error::Io`], never
    /// [`Error::DiskFull`] (which promises nothing changed).
    pub fn delete_before(&self, offset: u64) -> Result<u64> {
        self.check_writable("delete records")?;
        let mut guard = self.writer.lock();
        let active_base = self.writable(&mut guard)?.segment().base_offset();
        let start = offset.min(self.end_offset()).max(self.log_start_offset());
        let storage = &*self.options.storage;
        let state = PartitionState { clean: false, log_start_offset: start, recovery_point: active_base };
        self.check(state.write(storage, &self.dir), Damage::Operation)?;
        self.log_start_offset.store(start, Ordering::Release);
        // Nothing below the start is readable, so nothing below it needs a
        // sync to be safe: recovery restarts the log at the start if a
        // power cut took more than that.
        self.synced_offset.fetch_max(start, Ordering::AcqRel);
        let doomed: Vec<Arc<Segment>> = {
            let mut segments = self.segments.write();
            let cut = segments.iter().take_while(|s| s.end_offset() <= start && s.base_offset() < active_base).count();
            let doomed = segments.drain(..cut).collect();
            self.recount_sealed(&segments);
            doomed
        };
        self.debug_check_invariants(guard.as_ref());
        for segment in &doomed {
            segment.retire();
        }
        // Out of the list, nothing reaches their files: they go without
        // holding up appends.
        drop(guard);
        // The new start is published: a failure from here on left it moved.
        for segment in &doomed {
            self.check(files::delete_segment_files(storage, &self.dir, segment.base_offset()), Damage::Published)?;
        }
        if !doomed.is_empty() {
            let synced = storage.sync_dir(&self.dir).map_err(|e| Error::io(IoOp::SyncDirectory, &self.dir, e));
            self.check(synced, Damage::Published)?;
        }
        Ok(start)
    }

    /// Closes cleanly: seals the active segment (syncing everything) and
    /// writes the clean-shutdown marker, so the next open needs no scan.
    /// Dropping a partition does the same, ignoring errors.
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }

    /// Seals and marks clean, once; later calls do nothing.
    pub(crate) fn shutdown(&self) -> Result<()> {
        // A compaction under way (from `Log::run_cleaner`) writes its
        // cleaned files without the writer lock: it finishes first, so
        // nothing is written, or left open, once the partition is closed.
        let _no_compaction = self.compaction.lock();
        let mut guard = self.writer.lock();
        if self.follower.is_some() {
            // Nothing to seal or mark: let go of the followed files.
            self.release_files();
            return Ok(());
        }
        let Some(writer) = guard.take() else { return Ok(()) };
        self.closed.store(true, Ordering::Release);
        let closed = self.seal_and_mark_clean(writer);
        self.release_files();
        drop(guard);
        // Readers blocked waiting for records learn it is closed.
        self.watchers.notify();
        closed
    }

    /// Lets go of every file: nothing more is written or read through this
    /// object, whatever the outcome of closing, and the directory may be
    /// opened (and recovered) again at once. Records read before stay
    /// valid: each keeps its own mapping.
    fn release_files(&self) {
        self.closed.store(true, Ordering::Release);
        self.segments.write().clear();
        if let Some(follower) = &self.follower {
            follower.clear();
        }
        self.lock.lock().take();
    }

    fn seal_and_mark_clean(&self, writer: SegmentWriter) -> Result<()> {
        if self.is_poisoned() {
            return Err(Error::Poisoned { path: self.dir.clone() });
        }
        let storage = &*self.options.storage;
        let base = writer.segment().base_offset();
        writer.seal(storage, &self.dir)?;
        let end = self.end_offset();
        let state =
            PartitionState { clean: true, log_start_offset: self.log_start_offset(), recovery_point: end.max(base) };
        state.write(storage, &self.dir)
    }

    /// Stops writing without touching the files: for a partition whose
    /// directory is being deleted. Later writes fail as on a closed one.
    pub(crate) fn abandon(&self) {
        self.abandon_held(self.hold_writes());
    }

    /// Holds off every write (a compaction under way is waited for; then
    /// appends, rolls, truncations, deletions, the end of a sync) until the
    /// hold is given to [`Partition::abandon_held`] or dropped: a topic
    /// being deleted holds its partitions across the rename of its
    /// directory, so none writes into the moved directory.
    pub(crate) fn hold_writes(&self) -> WriteHold<'_> {
        let compaction = self.compaction.lock();
        WriteHold { _compaction: compaction, writer: self.writer.lock() }
    }

    /// As [`Partition::abandon`], under a hold taken before.
    pub(crate) fn abandon_held(&self, hold: WriteHold<'_>) {
        let WriteHold { writer: mut guard, _compaction } = hold;
        guard.take();
        self.release_files();
        drop(guard);
        self.watchers.notify();
    }

    /// Abandons the partition as a crash would: nothing is sealed or synced
    /// and no clean-shutdown marker is written. What was appended stays in
    /// the OS page cache, exactly as when the process is killed.
    #[cfg(feature = "fault-injection")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fault-injection")))]
    pub fn simulate_crash(self) {
        self.abandon();
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// A partition's compaction and writer locks, held by
/// [`Partition::hold_writes`].
pub(crate) struct WriteHold<'a> {
    _compaction: parking_lot::MutexGuard<'a, ()>,
    writer: parking_lot::MutexGuard<'a, Option<SegmentWriter>>,
}

/// Iterator over a partition's records, from [`Partition::iter_from`].
pub struct PartitionIter<'a> {
    partition: &'a Partition,
    next: u64,
    /// The segment of the last record read, reused while it holds the next
    /// offset and no truncation retired it.
    segment: Option<Arc<Segment>>,
    failed: bool,
}

impl Iterator for PartitionIter<'_> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        if self.partition.follower.is_some() && self.next >= self.partition.end_offset() && !self.failed {
            // A read-only partition learns of new records when refreshed.
            let _ = self.partition.refresh();
        }
        // The end first: a truncation retires segments before it lowers the
        // end, so an end that includes later appends comes with the retired
        // flags of what they replaced.
        if self.failed || self.next >= self.partition.end_offset() {
            return None;
        }
        let offset = self.next;
        if self.partition.follower.is_some() {
            let record = self.partition.read(offset);
            match &record {
                // Past the holes compaction left, if any.
                Ok(record) => self.next = record.offset() + 1,
                Err(_) => self.failed = true,
            }
            return Some(record);
        }
        let cached =
            self.segment.as_ref().filter(|s| s.base_offset() <= offset && offset < s.end_offset() && !s.is_retired());
        let cached = cached.filter(|_| offset >= self.partition.log_start_offset() && !self.partition.is_closed());
        let segment = match cached {
            Some(segment) => Arc::clone(segment),
            None => match self.partition.segment_for(offset) {
                Ok(segment) => segment,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            },
        };
        let record = segment.record_from(offset);
        let end = segment.end_offset();
        self.segment = Some(segment);
        match record {
            Ok(Some(record)) => {
                self.next = record.offset() + 1;
                Some(Ok(record))
            }
            // The rest of a compacted segment was compacted away.
            Ok(None) => {
                self.next = end;
                self.next()
            }
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}

impl PartitionIter<'_> {
    /// The offset the next call to `next` reads.
    pub fn next_offset(&self) -> u64 {
        self.next
    }
}

fn create_dir(storage: &dyn Storage, dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::invalid("dir", format!("{} exists and is not a directory", dir.display())));
    }
    crate::storage::create_dir_synced(storage, dir)
}

/// Tells `tracing` subscribers what recovery found, at a level fitting
/// what it means: damage repaired away is `error`, a torn tail cut or a
/// restart past lost records `warn`, rebuilt indexes `info`.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
fn report_recovery(dir: &Path, options: &PartitionOptions, report: &RecoveryReport) {
    let topic = options.label.as_ref().map_or("", |(topic, _)| topic.as_ref());
    let partition = options.label.as_ref().map_or(0, |(_, partition)| *partition);
    let dir = dir.display();
    if let Some(repaired) = &report.repaired {
        event!(ERROR, topic, partition, %dir, repaired = repaired.as_str(), "recovery cut corruption (repair)");
    }
    if report.truncated_bytes > 0 {
        let (bytes, records) = (report.truncated_bytes, report.truncated_records);
        event!(WARN, topic, partition, %dir, bytes, records, "recovery cut a torn tail");
    }
    if let Some(end) = report.restarted_from {
        event!(WARN, topic, partition, %dir, end, "recovery restarted the log empty at its start");
    }
    if report.indexes_rebuilt > 0 || report.state_rebuilt {
        let (indexes, state) = (report.indexes_rebuilt, report.state_rebuilt);
        event!(INFO, topic, partition, %dir, indexes, state, "recovery rebuilt indexes");
    }
    if !report.clean_shutdown {
        let scanned = report.segments_scanned;
        event!(DEBUG, topic, partition, %dir, scanned, "recovered after an unclean shutdown");
    }
}
