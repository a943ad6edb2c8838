//! The read side of a segment, shared by every reader: [`Segment`] reads
//! records and batches from the published part of its maps, checking each
//! against its offset and the index; [`RecordBatch`] hands them out without
//! a copy.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::record::codec::{self, FRAME_HEADER_BYTES};
use crate::record::{Record, RecordView};
use crate::segment::check::{check_frame, check_frame_within};
use crate::segment::files;
use crate::segment::header::LOG_HEADER_BYTES;
use crate::segment::index::{self, INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES};
use crate::segment::time_index::TimeIndex;
use crate::storage::le;
use crate::storage::mapping::{MappedFile, Pinned};

/// Consecutive records of one segment, read in one go: the handle keeps
/// their segment mapped, and iterating borrows each record from it with no
/// copy and no further check (every frame was validated when read).
#[derive(Clone)]
pub struct RecordBatch {
    /// The frames; `None` for an empty batch.
    frames: Option<Pinned>,
    first_offset: u64,
    count: u64,
    /// Where the next read starts: after the last record, and past the
    /// holes compaction left after it.
    next: u64,
}

impl RecordBatch {
    /// A batch of no records at `offset`.
    pub(crate) fn empty(offset: u64) -> RecordBatch {
        RecordBatch::empty_until(offset, offset)
    }

    /// A batch of `count` validated frames of consecutive offsets pinned
    /// in `frames`, the first holding `first_offset`.
    pub(crate) fn from_frames(frames: Pinned, first_offset: u64, count: u64) -> RecordBatch {
        RecordBatch { frames: Some(frames), first_offset, count, next: first_offset + count }
    }

    /// A batch of no records read at `offset`, the next read at `next`
    /// (offsets in between were compacted away).
    pub(crate) fn empty_until(offset: u64, next: u64) -> RecordBatch {
        RecordBatch { frames: None, first_offset: offset, count: 0, next }
    }

    /// Offset of the first record (on a compacted topic, the first that
    /// survived at or after the offset read).
    pub fn first_offset(&self) -> u64 {
        self.first_offset
    }

    /// Where the next read starts: the offset after the last record (past
    /// any offsets compaction removed after it).
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the batch's frames take.
    pub fn size_bytes(&self) -> usize {
        self.bytes().len()
    }

    /// The records, in offset order.
    pub fn iter(&self) -> BatchIter<'_> {
        BatchIter { remaining: self.bytes() }
    }

    fn bytes(&self) -> &[u8] {
        self.frames.as_ref().map_or(&[], Pinned::bytes)
    }

    /// The records as owned handles (each keeps the mapping alive), in
    /// offset order.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let mut at = 0;
        self.iter().zip(self.frames.iter().cycle()).map(move |(view, frames)| {
            let record = Record::new(frames.slice(at, view.frame_len()), view.layout());
            at += view.frame_len();
            record
        })
    }
}

impl std::fmt::Debug for RecordBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatch").field("first_offset", &self.first_offset).field("count", &self.count).finish()
    }
}

impl<'a> IntoIterator for &'a RecordBatch {
    type Item = RecordView<'a>;
    type IntoIter = BatchIter<'a>;

    fn into_iter(self) -> BatchIter<'a> {
        self.iter()
    }
}

/// Iterator over the records of a [`RecordBatch`].
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    remaining: &'a [u8],
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = RecordView<'a>;

    fn next(&mut self) -> Option<RecordView<'a>> {
        if self.remaining.is_empty() {
            return None;
        }
        let view = codec::view_validated(self.remaining);
        self.remaining = &self.remaining[view.frame_len()..];
        Some(view)
    }
}

/// A segment as readers see it. `times` is taken after a partition's
/// locks (docs/DESIGN.md, 11).
pub(crate) struct Segment {
    pub(super) base_offset: u64,
    pub(super) log: Arc<MappedFile>,
    pub(super) index: Arc<MappedFile>,
    pub(super) times: RwLock<TimeIndex>,
    /// Set when a truncation or deletion took the segment out of its
    /// partition: readers holding it must look the offset up again.
    retired: AtomicBool,
    /// Compacted: frames hold increasing offsets with holes, and the index
    /// entry of a removed offset points at the next surviving frame (or the
    /// end of the log). Such a segment is sealed and never appended to.
    compacted: bool,
    /// A compacted segment's header: the newest timestamp of the records
    /// it replaced.
    replaced_max_timestamp: Option<i64>,
}

impl Segment {
    pub(crate) fn new(base_offset: u64, log: Arc<MappedFile>, index: Arc<MappedFile>, times: TimeIndex) -> Self {
        let retired = AtomicBool::new(false);
        let replaced_max_timestamp = None;
        Segment {
            base_offset,
            log,
            index,
            times: RwLock::new(times),
            retired,
            compacted: false,
            replaced_max_timestamp,
        }
    }

    /// The newest timestamp the segment holds or (compacted) held: what
    /// time retention and the compaction lag judge it by.
    pub(crate) fn max_timestamp_ms(&self) -> Option<i64> {
        let held = self.times.read().max_timestamp().map(|(ts, _)| ts);
        held.max(self.replaced_max_timestamp)
    }

    /// Whether the segment was compacted (holds holes).
    pub(crate) fn is_compacted(&self) -> bool {
        self.compacted
    }

    /// Marks the segment as no longer part of its partition.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    /// Whether the segment left its partition.
    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// The first offset of this segment.
    pub(crate) fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// Records published in this segment.
    pub(crate) fn record_count(&self) -> u64 {
        ((self.index.published() - INDEX_HEADER_BYTES) / INDEX_ENTRY_BYTES) as u64
    }

    /// The offset after this segment's last published record.
    pub(crate) fn end_offset(&self) -> u64 {
        self.base_offset + self.record_count()
    }

    /// Most records this segment's log file can hold, at the smallest
    /// frame each.
    pub(crate) fn capacity_records(&self) -> u64 {
        let file_bytes = self.log.file().metadata().map_or(0, |m| m.len()).max(self.log.capacity() as u64);
        file_bytes.saturating_sub(LOG_HEADER_BYTES as u64) / FRAME_HEADER_BYTES as u64 + 1
    }

    /// Bytes its files take on the file system (blocks allocated).
    pub(crate) fn disk_bytes(&self) -> u64 {
        use std::os::unix::fs::MetadataExt as _;
        let blocks = |file: &MappedFile| file.file().metadata().map_or(0, |m| m.blocks() * 512);
        blocks(&self.log) + blocks(&self.index)
    }

    /// Bytes of valid log, header included.
    pub(crate) fn log_bytes(&self) -> u64 {
        self.log.published() as u64
    }

    /// Bytes of valid index, header included.
    pub(crate) fn index_bytes(&self) -> u64 {
        self.index.published() as u64
    }

    /// The log mapping.
    pub(crate) fn log(&self) -> &Arc<MappedFile> {
        &self.log
    }

    /// Position of relative offset `n`, by arithmetic on the dense index.
    /// The caller checked `n` is below [`Segment::record_count`].
    pub(crate) fn position(&self, n: u64) -> usize {
        le::u32_at(self.index.bytes(index::entry_position(n), INDEX_ENTRY_BYTES), 0) as usize
    }

    /// The published log bytes from the frame of `offset` on, checking the
    /// offset is in this segment and its index entry points inside the
    /// log: a stale or crafted index is an error, never a wild read. `None`
    /// when `offset` is in a compacted segment's holes after its last frame.
    fn frames_from(&self, offset: u64) -> Result<Option<(usize, &[u8])>> {
        let n = offset.checked_sub(self.base_offset).filter(|&n| n < self.record_count()).ok_or(
            Error::OffsetOutOfRange { offset, log_start_offset: self.base_offset, end_offset: self.end_offset() },
        )?;
        let position = self.position(n);
        let published = self.log.published();
        if self.compacted && position == published {
            return Ok(None);
        }
        if position < LOG_HEADER_BYTES || position.saturating_add(FRAME_HEADER_BYTES) > published {
            let reason = format!("index entry of offset {offset} points outside the log ({published} bytes)");
            return Err(Error::corrupt(self.log.path(), position as u64, reason));
        }
        Ok(Some((position, self.log.bytes(position, published - position))))
    }

    /// Validates the frame at the start of `bytes`, read for offset `next`:
    /// it holds `next` — or, compacted, an offset from `next` to the end
    /// whose own index entry points at `position`. Returns its offset and
    /// layout.
    fn check_frame_for(&self, bytes: &[u8], position: usize, next: u64) -> Result<(u64, codec::Layout)> {
        let corrupt = |reason: String| Error::corrupt(self.log.path(), position as u64, reason);
        if !self.compacted {
            let (layout, _) = check_frame(bytes, next).map_err(|e| corrupt(e.to_string()))?;
            return Ok((next, layout));
        }
        let (offset, layout, _) =
            check_frame_within(bytes, next, self.end_offset()).map_err(|e| corrupt(e.to_string()))?;
        let own = self.position(offset - self.base_offset);
        if own != position {
            return Err(corrupt(format!("offset {offset} is at {position}, but its index entry says {own}")));
        }
        Ok((offset, layout))
    }

    /// Reads the published record at `offset` — on a compacted segment, the
    /// first surviving at or after it — validating its frame. `None` when
    /// no record of this segment is at or after `offset` (compacted away).
    pub(crate) fn record_from(&self, offset: u64) -> Result<Option<Record>> {
        let Some((position, available)) = self.frames_from(offset)? else { return Ok(None) };
        let (found, layout) = self.check_frame_for(available, position, offset)?;
        self.check_tiling(found + 1, position + layout.frame_len())?;
        Ok(Some(Record::new(self.log.pin(position, layout.frame_len()), layout)))
    }

    /// Reads the published record at exactly `offset` of a segment without
    /// holes.
    pub(crate) fn record(&self, offset: u64) -> Result<Record> {
        debug_assert!(!self.compacted, "exact reads are for dense segments");
        let found = self.record_from(offset)?.filter(|r| r.offset() == offset);
        found.ok_or_else(|| Error::corrupt(self.log.path(), 0, format!("no record at offset {offset}")))
    }

    /// Checks that frames read up to `end` are followed by the index entry
    /// of `next`, when that entry is published: frames tile the log between
    /// index entries, so an entry pointing at a frame-shaped run of bytes
    /// inside another record (a crafted index whose CRCs are valid) is
    /// caught as corruption rather than returned as a record.
    fn check_tiling(&self, next: u64, end: usize) -> Result<()> {
        let n = next - self.base_offset;
        if n >= self.record_count() {
            // A compacted segment's last frame ends its log.
            if self.compacted && end != self.log.published() {
                let reason = format!("the last frame ends at {end}, before the end of the log");
                return Err(Error::corrupt(self.log.path(), end as u64, reason));
            }
            return Ok(());
        }
        if self.position(n) == end {
            return Ok(());
        }
        let reason =
            format!("the frame before offset {next} ends at {end}, but the index puts {next} at {}", self.position(n));
        Err(Error::corrupt(self.log.path(), end as u64, reason))
    }

    /// Reads up to `max_records` published records from `offset` (in this
    /// segment) as one batch, validating every frame once.
    /// On a compacted segment, the batch starts at the first record that
    /// survived at or after `offset`, and ends past the holes after its
    /// last record.
    pub(crate) fn read_batch(&self, offset: u64, max_records: u64) -> Result<RecordBatch> {
        let most = max_records.min(self.end_offset().saturating_sub(offset));
        if most == 0 {
            return Ok(RecordBatch::empty(offset));
        }
        let Some((start, available)) = self.frames_from(offset)? else {
            return Ok(RecordBatch::empty_until(offset, self.end_offset()));
        };
        let (mut len, mut count, mut next, mut first) = (0, 0, offset, None);
        if !self.compacted {
            // The valid run in one go, CRCs of neighbouring frames
            // overlapped; the loop below takes the frame it stopped at, if
            // any, and names what is wrong with it.
            (len, count) = codec::validate_run(available, offset, most);
            next = offset + count;
            first = (count > 0).then_some(offset);
        }
        while count < most && (len < available.len() || !self.compacted) {
            let (found, layout) = self.check_frame_for(&available[len..], start + len, next)?;
            first.get_or_insert(found);
            len += layout.frame_len();
            count += 1;
            next = found + 1;
        }
        self.check_tiling(next, start + len)?;
        if self.compacted && start + len == self.log.published() {
            next = self.end_offset();
        }
        let first_offset = first.unwrap_or(offset);
        Ok(RecordBatch { frames: Some(self.log.pin(start, len)), first_offset, count, next })
    }

    /// The time index.
    pub(crate) fn times(&self) -> &RwLock<TimeIndex> {
        &self.times
    }

    /// Maps sealed segment `base` of `dir` read-only: its log of `log_len`
    /// bytes (checked by [`verify_seal`](crate::segment::check::verify_seal)
    /// or just rewritten) and its index.
    /// Maps compacted segment `base..end` of `dir`, just installed, with
    /// the time index written beside it.
    pub(crate) fn open_compacted(dir: &Path, base: u64, end: u64) -> Result<Arc<Segment>> {
        let [log_path, _, time_path] = files::paths(dir, base);
        let log_len = files::open(&log_path, false)?
            .metadata()
            .map_err(|e| Error::io(crate::error::IoOp::Stat, &log_path, e))?
            .len();
        let bytes = crate::storage::meta::read_if_exists(&time_path)?.unwrap_or_default();
        let times = TimeIndex::decode(&bytes, base, end).unwrap_or_default();
        let segment = Segment::open_sealed(dir, base, log_len, times, true)?;
        debug_assert_eq!(segment.end_offset(), end);
        Ok(segment)
    }

    pub(crate) fn open_sealed(
        dir: &Path,
        base: u64,
        log_len: u64,
        times: TimeIndex,
        compacted: bool,
    ) -> Result<Arc<Segment>> {
        let [log_path, index_path, _] = files::paths(dir, base);
        let log = MappedFile::read_only(log_path.clone(), files::open(&log_path, false)?, LOG_HEADER_BYTES)?;
        let index = MappedFile::read_only(index_path.clone(), files::open(&index_path, false)?, INDEX_HEADER_BYTES)?;
        debug_assert_eq!(log.published() as u64, log_len);
        let replaced_max_timestamp = if compacted { read_log_header(&log)?.compacted_max_timestamp } else { None };
        Ok(Arc::new(Segment { compacted, replaced_max_timestamp, ..Segment::new(base, log, index, times) }))
    }
}

/// Reads and decodes the header of a mapped `.log` (with a read call: a map
/// never hands out its header).
fn read_log_header(log: &MappedFile) -> Result<crate::segment::header::LogHeader> {
    use std::os::unix::fs::FileExt as _;
    let mut bytes = [0u8; LOG_HEADER_BYTES];
    log.file().read_exact_at(&mut bytes, 0).map_err(|e| Error::io(crate::error::IoOp::Read, log.path(), e))?;
    crate::segment::header::decode_log_header(&bytes).map_err(|reason| Error::corrupt(log.path(), 0, reason))
}
