//! A partition another process owns, opened read-only
//! ([`Partition::open_read_only`]): no lock is taken, no file is written,
//! cut or created. The partition's segments are followed as the owner
//! appends, rolls, truncates and deletes them:
//!
//! - every refresh probes the last segment for frames appended since (see
//!   `segment::follower`: a frame counts once its CRC and offset verify);
//! - at most every `RECONCILE_INTERVAL`, the directory is listed and
//!   `partition.state` read: segments deleted by retention go, segments
//!   created by a roll are followed once the one before them reaches their
//!   base, and a segment renamed over (a truncation, or the owner's
//!   recovery starting the log again) is followed anew from its new file.
//!   Whenever `partition.state` changed or the last followed segment's
//!   file is gone or replaced, every followed segment's file is checked,
//!   so a truncation of an earlier segment is never missed (a truncation
//!   deletes or replaces every segment from the one it cuts on, the last
//!   included, even when the owner has since rolled at the same offset
//!   again and written the same state); otherwise only the last one's is.
//!
//! The end offset may go down (a truncation): a position past it is out of
//! range, and a consumer resets it by `auto_offset_reset`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::error::{Error, IoOp, Result};
use crate::notify::Watchers;
use crate::partition::state::{PartitionState, STATE_FILE};
use crate::partition::{LiveSegmentConfig, Partition, PartitionOptions, RecoveryReport};
use crate::record::Record;
use crate::segment::files;
use crate::segment::follower::FollowedSegment;
use crate::segment::RecordBatch;
use crate::storage::meta;

/// Longest time between two looks at the directory and the state file.
const RECONCILE_INTERVAL: Duration = Duration::from_millis(5);

/// What a read-only partition follows.
pub(crate) struct Follower {
    segments: RwLock<Vec<Arc<FollowedSegment>>>,
    /// Serializes refreshes; what the last reconcile saw.
    refresh: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// `partition.state` as last read (`None`: missing).
    state: Option<Vec<u8>>,
    reconciled_at: Option<Instant>,
}

impl Partition {
    /// Opens the partition in `dir` read-only, for reading while another
    /// process owns it (or after it crashed): takes no lock and writes
    /// nothing — no recovery runs, no torn tail is cut. It sees a consistent
    /// prefix: every sealed segment, and the active one up to its last
    /// complete frame whose CRC verifies. [`Partition::refresh`] (and any
    /// read at or past the end) follows new appends, rolls, truncations and
    /// deletions. Appends, syncs, truncations and deletions fail with
    /// [`Error::ReadOnly`].
    pub fn open_read_only(dir: impl AsRef<Path>, options: PartitionOptions) -> Result<Partition> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            let reason = format!("{} is not a partition directory", dir.display());
            return Err(Error::invalid("dir", reason));
        }
        let follower = Follower { segments: RwLock::new(Vec::new()), refresh: Mutex::new(Seen::default()) };
        let partition = Partition {
            dir,
            config: LiveSegmentConfig::new(options.segments),
            options,
            sealed_bytes: Default::default(),
            compaction: Mutex::new(()),
            keys_required: AtomicBool::new(false),
            segments: RwLock::new(Vec::new()),
            writer: Mutex::new(None),
            sync_state: Mutex::new(false),
            sync_done: Condvar::new(),
            end_offset: Default::default(),
            log_start_offset: Default::default(),
            synced_offset: Default::default(),
            truncations: Default::default(),
            poisoned: Default::default(),
            closed: Default::default(),
            report: RecoveryReport::default(),
            watchers: Watchers::default(),
            appended_records: Default::default(),
            appended_bytes: Default::default(),
            syncs: Default::default(),
            lock: Mutex::new(None),
            follower: Some(follower),
        };
        partition.refresh()?;
        Ok(partition)
    }

    /// Whether the partition was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.follower.is_some()
    }

    /// Brings a read-only partition up to date with its files (new
    /// records, rolls, truncations, retention) and returns its end offset;
    /// wakes consumers if it moved. Does nothing but return the end offset
    /// for a partition this process owns.
    pub fn refresh(&self) -> Result<u64> {
        let Some(follower) = &self.follower else { return Ok(self.end_offset()) };
        self.check_open()?;
        let mut seen = follower.refresh.lock();
        let progressed = match follower.segments.read().last() {
            Some(last) => last.probe()?,
            None => false,
        };
        let due = seen.reconciled_at.is_none_or(|at| at.elapsed() >= RECONCILE_INTERVAL);
        let start = if due || !progressed && seen.state.is_none() {
            self.reconcile(follower, &mut seen)?
        } else {
            self.log_start_offset()
        };
        let segments = follower.segments.read();
        let end = segments.last().map_or(start, |s| s.end_offset());
        let first = segments.first().map_or(end, |s| s.base_offset());
        drop(segments);
        let start = start.max(first).min(end);
        self.log_start_offset.store(start, Ordering::Release);
        let before = self.end_offset.swap(end, Ordering::AcqRel);
        if before != end {
            self.watchers.notify();
        }
        Ok(end)
    }

    /// Lists the directory and reads the state; returns the log start it
    /// names (0 without one). See the module docs.
    fn reconcile(&self, follower: &Follower, seen: &mut Seen) -> Result<u64> {
        seen.reconciled_at = Some(Instant::now());
        let state_bytes = meta::read_if_exists(&self.dir.join(STATE_FILE))?;
        let changed = state_bytes != seen.state;
        let start =
            state_bytes.as_deref().and_then(|b| PartitionState::decode(b).ok()).map_or(0, |s| s.log_start_offset);
        seen.state = state_bytes;
        let listed = match files::list_bases(&self.dir) {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::io(IoOp::List, &self.dir, std::io::Error::from(std::io::ErrorKind::NotFound)));
            }
            listed => listed?,
        };
        let ours = follower.segments.read().clone();
        // A replaced last segment may mean a truncation into an earlier
        // one followed by appends that rolled at the same offset again, so
        // that the state reads as before: every file is checked then too.
        let last_replaced = match ours.last() {
            Some(last) => !last.is_current()?,
            None => false,
        };
        let mut kept = kept_segments(&ours, &listed, changed || last_replaced)?;
        if let Some(last) = kept.last() {
            if !last.is_current()? {
                kept.pop();
            }
        }
        self.follow_new(&mut kept, &listed)?;
        *follower.segments.write() = kept;
        Ok(start)
    }

    /// Appends the listed segments after the last kept one, each once the
    /// one before it reaches its base.
    fn follow_new(&self, kept: &mut Vec<Arc<FollowedSegment>>, listed: &[u64]) -> Result<()> {
        let after = kept.last().map(|s| s.base_offset());
        let last_listed = listed.last().copied();
        for &base in listed.iter().filter(|&&b| after.is_none_or(|a| b > a)) {
            if let Some(previous) = kept.last() {
                if previous.end_offset() != base {
                    previous.probe()?;
                }
                if previous.end_offset() != base {
                    // Not caught up yet (or a gap the owner would refuse):
                    // nothing after it is visible.
                    break;
                }
            }
            match FollowedSegment::open(&self.dir, base, Some(base) == last_listed)? {
                Some(segment) => kept.push(Arc::new(segment)),
                // Gone since the listing, before anything is followed:
                // retention took it (oldest first); the next may be there.
                None if kept.is_empty() => continue,
                // Gone after a followed one: a truncation (newest first).
                None => break,
            }
        }
        Ok(())
    }

    /// The followed segment holding `offset`, refreshing first if `offset`
    /// is at or past the end known.
    fn followed_segment(&self, follower: &Follower, offset: u64) -> Result<Arc<FollowedSegment>> {
        self.check_open()?;
        if offset >= self.end_offset() {
            self.refresh()?;
        }
        let (start, end) = (self.log_start_offset(), self.end_offset());
        let out_of_range = || Error::OffsetOutOfRange { offset, log_start_offset: start, end_offset: end };
        if offset < start || offset >= end {
            return Err(out_of_range());
        }
        let segments = follower.segments.read();
        let i = segments.partition_point(|s| s.base_offset() <= offset).checked_sub(1).ok_or_else(out_of_range)?;
        let segment = &segments[i];
        if offset >= segment.end_offset() {
            return Err(out_of_range());
        }
        Ok(Arc::clone(segment))
    }

    /// [`Partition::read`] of a read-only partition.
    /// On a compacted topic, an offset compacted away reads as the next
    /// surviving record.
    pub(crate) fn follower_read(&self, follower: &Follower, offset: u64) -> Result<Record> {
        let mut at = offset;
        loop {
            let segment = self.followed_segment(follower, at)?;
            match segment.record_from(at)? {
                Some(record) => return Ok(record),
                None => at = segment.end_offset(),
            }
        }
    }

    /// [`Partition::read_batch`] of a read-only partition.
    pub(crate) fn follower_read_batch(&self, follower: &Follower, offset: u64, max: usize) -> Result<RecordBatch> {
        if offset == self.end_offset() && offset >= self.log_start_offset() {
            self.refresh()?;
            if offset == self.end_offset() {
                return Ok(RecordBatch::empty(offset));
            }
        }
        let mut at = offset;
        loop {
            let batch = self.followed_segment(follower, at)?.read_batch(at, max as u64)?;
            // Holes a compacted segment ends with: the next segment on.
            if !batch.is_empty() || batch.next_offset() == at || max == 0 {
                return Ok(batch);
            }
            at = batch.next_offset();
            if at == self.end_offset() {
                return Ok(RecordBatch::empty(at));
            }
        }
    }

    /// [`Partition::offset_for_timestamp`] of a read-only partition.
    pub(crate) fn follower_offset_for_timestamp(&self, follower: &Follower, timestamp_ms: i64) -> Result<Option<u64>> {
        self.check_open()?;
        let start = self.log_start_offset();
        let segments = follower.segments.read().clone();
        for segment in segments.iter().filter(|s| s.end_offset() > start) {
            if let Some(offset) = segment.offset_for_timestamp(start, timestamp_ms)? {
                return Ok(Some(offset));
            }
        }
        Ok(None)
    }

    /// Base offsets of the followed segments.
    pub(crate) fn follower_bases(&self, follower: &Follower) -> Vec<u64> {
        follower.segments.read().iter().map(|s| s.base_offset()).collect()
    }

    /// Bytes of the followed segments.
    pub(crate) fn follower_size_bytes(&self, follower: &Follower) -> u64 {
        follower.segments.read().iter().map(|s| s.size_bytes()).sum()
    }

    /// Bytes the followed segments' files take on the file system.
    pub(crate) fn follower_disk_bytes(&self, follower: &Follower) -> u64 {
        follower.segments.read().iter().map(|s| s.disk_bytes()).sum()
    }
}

impl Follower {
    /// Lets go of every followed segment (on close).
    pub(crate) fn clear(&self) {
        self.segments.write().clear();
    }
}

/// The followed segments still there: those retention deleted (oldest
/// first: below the first listed segment, or gone since the listing) go;
/// from the first one missing after a kept one, or (when the state changed)
/// replaced by another file, the rest go too.
fn kept_segments(
    ours: &[Arc<FollowedSegment>],
    listed: &[u64],
    check_files: bool,
) -> Result<Vec<Arc<FollowedSegment>>> {
    let first_listed = listed.first().copied().unwrap_or(u64::MAX);
    let mut kept = Vec::new();
    for segment in ours {
        let base = segment.base_offset();
        let present = listed.binary_search(&base).is_ok();
        let identity = match present && check_files {
            true => segment.identity_now()?,
            false => None,
        };
        if present && (!check_files || identity == Some(segment.identity())) {
            kept.push(Arc::clone(segment));
        } else if kept.is_empty() && (base < first_listed || present && identity.is_none()) {
            // Deleted by retention (oldest first), before or after the
            // listing: the next one may still be followed.
            continue;
        } else {
            break;
        }
    }
    Ok(kept)
}
