//! One segment of a partition: `<base>.log` (record frames after a 64-byte
//! header), `<base>.idx` (dense offset index) and `<base>.tix` (sparse time
//! index), where `<base>` is the first offset, 20 digits zero-padded.
//!
//! [`Segment`] is the shared, read side; [`SegmentWriter`] the unique append
//! side of the active segment. [`scan`] is the pure function recovery uses
//! to find the valid prefix of a log.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::error::{Error, IoOp, Result};
use crate::index::{self, IndexHeader, Seal, TimeIndex, INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES};
use crate::record::codec::{self, FrameError, Layout, FRAME_HEADER_BYTES};
use crate::record::{NewRecord, Record, RecordView};
use crate::storage::le;
use crate::storage::mapping::{MapWriter, MappedFile, Pinned};
use crate::storage::Storage;

/// Appends of at least this many bytes are written with a system call
/// rather than through the map (measured: below it, the call costs more
/// than the kernel's zero-filling of new pages saves).
const WRITE_THROUGH_BYTES: usize = 16 << 10;

/// Bytes of the `.log` header; the first frame starts here.
pub(crate) const LOG_HEADER_BYTES: usize = 64;
const LOG_MAGIC: &[u8; 8] = b"LARDRLOG";
const LOG_VERSION: u16 = 1;
const LOG_BASE_AT: usize = 16;
const LOG_SYNCED_AT: usize = LOG_BASE_AT + 8;
const LOG_CRC_AT: usize = LOG_SYNCED_AT + 8;

/// File name of a segment file: 20-digit base offset and extension.
pub(crate) fn file_name(base_offset: u64, extension: &str) -> String {
    format!("{base_offset:020}.{extension}")
}

/// The base offset a `.log` file name stands for, if it is one of ours.
pub(crate) fn parse_log_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    let ours = digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit());
    ours.then(|| digits.parse().ok()).flatten()
}

/// Encodes the `.log` header. `synced_position` is a log length known to
/// be durable: every byte below it was covered by a completed sync.
pub(crate) fn encode_log_header(base_offset: u64, synced_position: u64) -> [u8; LOG_HEADER_BYTES] {
    let mut bytes = [0u8; LOG_HEADER_BYTES];
    bytes[..8].copy_from_slice(LOG_MAGIC);
    le::put_u16(&mut bytes, 8, LOG_VERSION);
    le::put_u64(&mut bytes, LOG_BASE_AT, base_offset);
    le::put_u64(&mut bytes, LOG_SYNCED_AT, synced_position);
    let crc = crc32c::crc32c(&bytes[..LOG_CRC_AT]);
    le::put_u32(&mut bytes, LOG_CRC_AT, crc);
    bytes
}

/// A decoded `.log` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogHeader {
    pub(crate) base_offset: u64,
    /// `None` when the header's checksum fails (a torn header update): the
    /// sync point is then unknown and taken as the start of the data.
    pub(crate) synced_position: Option<u64>,
}

/// Decodes a `.log` header; an error when it is not one of ours at all.
pub(crate) fn decode_log_header(bytes: &[u8]) -> Result<LogHeader, &'static str> {
    if bytes.len() < LOG_HEADER_BYTES {
        return Err("shorter than the log header");
    }
    if &bytes[..8] != LOG_MAGIC || le::u16_at(bytes, 8) != LOG_VERSION {
        return Err("bad magic or version");
    }
    let intact = le::u32_at(bytes, LOG_CRC_AT) == crc32c::crc32c(&bytes[..LOG_CRC_AT]);
    let synced_position = intact.then(|| le::u64_at(bytes, LOG_SYNCED_AT));
    Ok(LogHeader { base_offset: le::u64_at(bytes, LOG_BASE_AT), synced_position })
}

/// Bytes of index a log of `log_capacity` bytes can need: one entry per
/// smallest possible frame.
pub(crate) fn index_capacity(log_capacity: usize) -> usize {
    let entries = (log_capacity - LOG_HEADER_BYTES) / FRAME_HEADER_BYTES + 1;
    INDEX_HEADER_BYTES + entries * INDEX_ENTRY_BYTES
}

/// The valid prefix of a log file, found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Position of each valid frame, in offset order.
    pub(crate) positions: Vec<u32>,
    /// The time index of the valid frames.
    pub(crate) times: TimeIndex,
    /// End of the last valid frame.
    pub(crate) valid_end: usize,
    /// Why the scan stopped before the end of the bytes, if it did, other
    /// than reaching zeroed (never written) space.
    pub(crate) stop: Option<FrameError>,
}

/// Walks the frames of a whole `.log` file (header included) from the first
/// one, checking each frame's CRC and that it holds offset `base + n`.
pub(crate) fn scan(log: &[u8], base_offset: u64, interval_bytes: u64) -> Scan {
    let mut scan = Scan { positions: Vec::new(), times: TimeIndex::default(), valid_end: LOG_HEADER_BYTES, stop: None };
    let mut position = LOG_HEADER_BYTES;
    while position < log.len() {
        let expected = base_offset + scan.positions.len() as u64;
        match check_frame(&log[position..], expected) {
            Ok((layout, timestamp)) => {
                scan.positions.push(position as u32);
                scan.times.observe(expected, timestamp, layout.frame_len() as u64, interval_bytes);
                position += layout.frame_len();
                scan.valid_end = position;
            }
            Err(FrameError::End) => break,
            Err(error) => {
                scan.stop = Some(error);
                break;
            }
        }
    }
    scan
}

/// Validates the frame at the start of `bytes` and that it holds `expected`.
fn check_frame(bytes: &[u8], expected: u64) -> Result<(Layout, i64), FrameError> {
    let view = codec::decode(bytes)?;
    if view.offset() != expected {
        return Err(FrameError::OffsetMismatch { expected, found: view.offset() });
    }
    Ok((view.layout(), view.timestamp_ms()))
}

/// Length of the valid frame at the start of `bytes` if it holds `expected`.
pub(crate) fn valid_frame_len(bytes: &[u8], expected: u64) -> Option<usize> {
    check_frame(bytes, expected).ok().map(|(layout, _)| layout.frame_len())
}

/// Timestamp of the frame at `position` of a log (already validated).
pub(crate) fn frame_timestamp(log: &[u8], position: usize) -> i64 {
    le::i64_at(log, position + 16)
}

/// Bytes from `from` to the last non-zero byte of `bytes`: how much of a
/// torn tail held written data (zeroed, preallocated space does not count).
pub(crate) fn written_tail_bytes(bytes: &[u8], from: usize) -> u64 {
    let tail = bytes.get(from..).unwrap_or_default();
    tail.iter().rposition(|&b| b != 0).map_or(0, |last| last as u64 + 1)
}

/// Frames the torn tail seems to hold, found by following length fields
/// without checking them: how many records a cut loses, at least one if
/// any written byte is cut.
pub(crate) fn tail_records(bytes: &[u8], from: usize) -> u64 {
    let written = written_tail_bytes(bytes, from) as usize;
    let (mut position, mut frames) = (from, 0u64);
    while position + 8 <= from + written {
        let len = le::u32_at(bytes, position) as usize;
        if len < FRAME_HEADER_BYTES {
            break;
        }
        frames += 1;
        position += len;
    }
    frames.max(u64::from(written > 0))
}

/// Consecutive records of one segment, read in one go: the handle keeps
/// their segment mapped, and iterating borrows each record from it with no
/// copy and no further check (every frame was validated when read).
#[derive(Clone)]
pub struct RecordBatch {
    /// The frames; `None` for an empty batch.
    frames: Option<Pinned>,
    first_offset: u64,
    count: u64,
}

impl RecordBatch {
    /// A batch of no records at `offset`.
    pub(crate) fn empty(offset: u64) -> RecordBatch {
        RecordBatch { frames: None, first_offset: offset, count: 0 }
    }

    /// Offset of the first record.
    pub fn first_offset(&self) -> u64 {
        self.first_offset
    }

    /// The offset after the last record: where the next read starts.
    pub fn next_offset(&self) -> u64 {
        self.first_offset + self.count
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

/// A segment as readers see it.
pub(crate) struct Segment {
    base_offset: u64,
    log: Arc<MappedFile>,
    index: Arc<MappedFile>,
    times: RwLock<TimeIndex>,
    /// Set when a truncation or deletion took the segment out of its
    /// partition: readers holding it must look the offset up again.
    retired: AtomicBool,
}

impl Segment {
    pub(crate) fn new(base_offset: u64, log: Arc<MappedFile>, index: Arc<MappedFile>, times: TimeIndex) -> Self {
        Segment { base_offset, log, index, times: RwLock::new(times), retired: AtomicBool::new(false) }
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
    /// log: a stale or crafted index is an error, never a wild read.
    fn frames_from(&self, offset: u64) -> Result<(usize, &[u8])> {
        let n = offset.checked_sub(self.base_offset).filter(|&n| n < self.record_count()).ok_or(
            Error::OffsetOutOfRange { offset, log_start_offset: self.base_offset, end_offset: self.end_offset() },
        )?;
        let position = self.position(n);
        let published = self.log.published();
        if position < LOG_HEADER_BYTES || position.saturating_add(FRAME_HEADER_BYTES) > published {
            let reason = format!("index entry of offset {offset} points outside the log ({published} bytes)");
            return Err(Error::corrupt(self.log.path(), position as u64, reason));
        }
        Ok((position, self.log.bytes(position, published - position)))
    }

    /// Reads the published record at `offset`, validating its frame.
    pub(crate) fn record(&self, offset: u64) -> Result<Record> {
        let (position, available) = self.frames_from(offset)?;
        let corrupt = |reason: String| Error::corrupt(self.log.path(), position as u64, reason);
        let (layout, _) = check_frame(available, offset).map_err(|e| corrupt(e.to_string()))?;
        self.check_tiling(offset + 1, position + layout.frame_len())?;
        Ok(Record::new(self.log.pin(position, layout.frame_len()), layout))
    }

    /// Checks that frames read up to `end` are followed by the index entry
    /// of `next`, when that entry is published: frames tile the log between
    /// index entries, so an entry pointing at a frame-shaped run of bytes
    /// inside another record (a crafted index whose CRCs are valid) is
    /// caught as corruption rather than returned as a record.
    fn check_tiling(&self, next: u64, end: usize) -> Result<()> {
        let n = next - self.base_offset;
        if n >= self.record_count() || self.position(n) == end {
            return Ok(());
        }
        let reason =
            format!("the frame before offset {next} ends at {end}, but the index puts {next} at {}", self.position(n));
        Err(Error::corrupt(self.log.path(), end as u64, reason))
    }

    /// Reads up to `max_records` published records from `offset` (in this
    /// segment) as one batch, validating every frame once.
    pub(crate) fn read_batch(&self, offset: u64, max_records: u64) -> Result<RecordBatch> {
        let count = max_records.min(self.end_offset().saturating_sub(offset));
        if count == 0 {
            return Ok(RecordBatch::empty(offset));
        }
        let (start, available) = self.frames_from(offset)?;
        let mut len = 0;
        for n in 0..count {
            let frame = &available[len..];
            let (layout, _) = check_frame(frame, offset + n)
                .map_err(|e| Error::corrupt(self.log.path(), (start + len) as u64, e.to_string()))?;
            len += layout.frame_len();
        }
        self.check_tiling(offset + count, start + len)?;
        Ok(RecordBatch { frames: Some(self.log.pin(start, len)), first_offset: offset, count })
    }

    /// The time index.
    pub(crate) fn times(&self) -> &RwLock<TimeIndex> {
        &self.times
    }

    /// Paths of this segment's three files in `dir`.
    pub(crate) fn paths(dir: &Path, base_offset: u64) -> [PathBuf; 3] {
        ["log", "idx", "tix"].map(|extension| dir.join(file_name(base_offset, extension)))
    }
}

/// The unique append side of the active segment.
pub(crate) struct SegmentWriter {
    segment: Arc<Segment>,
    log: MapWriter,
    index: MapWriter,
    /// Log bytes covered by the last completed sync.
    synced_position: usize,
    /// Timestamp of the segment's first record, for `segment_ms`.
    first_timestamp: Option<i64>,
    /// Reused buffer of large writes.
    buffer: Vec<u8>,
    /// The time index, ahead of readers' copy in the segment, which catches
    /// up whenever an entry is added (not on every append).
    times: TimeIndex,
}

impl SegmentWriter {
    /// Creates the files of a new, empty segment at `base_offset` holding up
    /// to `capacity_bytes` of log, and makes them durable. The caller syncs
    /// the directory. They are written under temporary names and renamed
    /// into place, so files of an empty segment already at that base (one
    /// replaced to get more capacity) are replaced, never rewritten while
    /// something still maps them.
    pub(crate) fn create(storage: &dyn Storage, dir: &Path, base_offset: u64, capacity_bytes: usize) -> Result<Self> {
        let [log_path, index_path, time_path] = Segment::paths(dir, base_offset);
        let (log_temp, index_temp) = (temp_path(&log_path), temp_path(&index_path));
        let header = encode_log_header(base_offset, LOG_HEADER_BYTES as u64);
        let log_file = create_with(storage, &log_temp, &header)?;
        let index_header = index::encode_index_header(&IndexHeader { base_offset, seal: None });
        let index_file = create_with(storage, &index_temp, &index_header)?;
        install(storage, &[(&log_temp, &log_path), (&index_temp, &index_path)], &time_path)?;
        let parts = OpenParts { log_file, index_file, log_len: LOG_HEADER_BYTES, entries: 0 };
        Self::open(dir, base_offset, capacity_bytes, parts, TimeIndex::default(), None)
    }

    /// Maps existing segment files for appending after their `log_len`
    /// valid bytes and `entries` index entries.
    pub(crate) fn open(
        dir: &Path,
        base_offset: u64,
        capacity_bytes: usize,
        parts: OpenParts,
        times: TimeIndex,
        first_timestamp: Option<i64>,
    ) -> Result<Self> {
        let [log_path, index_path, _] = Segment::paths(dir, base_offset);
        let log_capacity = capacity_bytes.max(parts.log_len);
        let (log_map, log) =
            MappedFile::writable(log_path, parts.log_file, log_capacity, LOG_HEADER_BYTES, parts.log_len)?;
        let index_published = index::entry_position(parts.entries);
        let index_capacity = index_capacity(log_capacity).max(index_published);
        let (index_map, index) =
            MappedFile::writable(index_path, parts.index_file, index_capacity, INDEX_HEADER_BYTES, index_published)?;
        let segment = Arc::new(Segment::new(base_offset, log_map, index_map, times.clone()));
        let synced_position = parts.log_len;
        Ok(SegmentWriter { segment, log, index, synced_position, first_timestamp, buffer: Vec::new(), times })
    }

    /// The segment readers see.
    pub(crate) fn segment(&self) -> &Arc<Segment> {
        &self.segment
    }

    /// Log bytes written, header included.
    pub(crate) fn position(&self) -> usize {
        self.log.mapped().published()
    }

    /// Whether `frame_bytes` more fit in this segment's log.
    pub(crate) fn fits(&self, frame_bytes: usize) -> bool {
        self.position() + frame_bytes <= self.log.capacity()
    }

    /// Timestamp of the first record, if the segment has one.
    pub(crate) fn first_timestamp(&self) -> Option<i64> {
        self.first_timestamp
    }

    /// Records in the segment.
    pub(crate) fn record_count(&self) -> u64 {
        self.segment.record_count()
    }

    /// Checks, in debug builds, that the index and the log agree at their
    /// ends: the last entry points inside the published log, at a frame
    /// holding the last offset that ends exactly where the log does.
    pub(crate) fn debug_check(&self) {
        if cfg!(debug_assertions) {
            let segment = &self.segment;
            let Some(last) = segment.record_count().checked_sub(1) else {
                assert_eq!(self.position(), LOG_HEADER_BYTES, "an empty segment holds bytes");
                return;
            };
            let position = segment.position(last);
            let published = self.position();
            assert!(position >= LOG_HEADER_BYTES && position < published, "last index entry outside the log");
            let frame_len =
                valid_frame_len(segment.log.bytes(position, published - position), segment.base_offset + last);
            assert_eq!(frame_len.map(|len| position + len), Some(published), "last frame does not end the log");
        }
    }

    /// Writes a batch of already-sized frames at the end of the log and
    /// their index entries, then publishes them. `frames` yields
    /// `(record, timestamp, frame_len)`; `total_bytes` is their sum. Small
    /// writes go through the map; large ones are encoded into a buffer and
    /// written with one system call (see [`MapWriter::write_through`]).
    pub(crate) fn append<'r>(
        &mut self,
        storage: &dyn Storage,
        first_offset: u64,
        frames: impl ExactSizeIterator<Item = (&'r NewRecord<'r>, i64, usize)>,
        total_bytes: usize,
        interval_bytes: u64,
    ) -> Result<()> {
        let start = self.position();
        let first_entry = index::entry_position(self.record_count());
        let entries_bytes = frames.len() * INDEX_ENTRY_BYTES;
        self.log.reserve(storage, start + total_bytes)?;
        self.index.reserve(storage, first_entry + entries_bytes)?;
        let through_buffer = total_bytes >= WRITE_THROUGH_BYTES;
        // The buffer is reused as it is: every byte of `[..total_bytes]` is
        // overwritten by the frames, so only growth needs initializing.
        let mut buffer = std::mem::take(&mut self.buffer);
        if through_buffer && buffer.len() < total_bytes {
            buffer.resize(total_bytes, 0);
        }
        let entries = self.index.region(first_entry, entries_bytes);
        let mut new_time_entry = false;
        let mut at = 0;
        for (n, (record, timestamp, frame_len)) in frames.enumerate() {
            let offset = first_offset + n as u64;
            let frame =
                if through_buffer { &mut buffer[at..at + frame_len] } else { self.log.region(start + at, frame_len) };
            codec::encode(frame, offset, timestamp, record);
            le::put_u32(entries, n * INDEX_ENTRY_BYTES, (start + at) as u32);
            new_time_entry |= self.times.observe(offset, timestamp, frame_len as u64, interval_bytes);
            self.first_timestamp.get_or_insert(timestamp);
            at += frame_len;
        }
        if new_time_entry {
            self.segment.times.write().catch_up(&self.times);
        }
        debug_assert_eq!(at, total_bytes);
        if through_buffer {
            self.log.write_through(storage, start, &buffer[..total_bytes])?;
        }
        self.buffer = buffer;
        self.log.publish(start + total_bytes);
        self.index.publish(first_entry + entries_bytes);
        Ok(())
    }

    /// Notes that a sync covering the log up to `position` completed, and
    /// records it in the log header, so a later recovery can tell
    /// corruption (below it) from a torn tail. The header is written only
    /// after the sync, so it never names bytes that are not durable; it
    /// reaches the disk with the next sync or write-back (until then a
    /// power loss leaves an older, smaller value, which is still true).
    pub(crate) fn synced_to(&mut self, position: usize) {
        self.synced_position = self.synced_position.max(position);
        let header = encode_log_header(self.segment.base_offset, self.synced_position as u64);
        self.log.header().copy_from_slice(&header);
    }

    /// Syncs the log data, then seals the segment: the log is cut to its
    /// valid length with the header naming it synced, the index gets its
    /// seal (count, log length, CRC), the time index is written, and all
    /// three are synced. A sealed segment is trusted on open without a scan.
    pub(crate) fn seal(mut self, storage: &dyn Storage, dir: &Path) -> Result<Arc<Segment>> {
        let log_len = self.position();
        let log_map = Arc::clone(self.log.mapped());
        sync(storage, &log_map)?;
        self.synced_to(log_len);
        self.log.trim(storage)?;
        sync(storage, &log_map)?;
        let index_map = Arc::clone(self.index.mapped());
        let entries_crc = crc32c::crc32c(index_map.published_bytes());
        let seal = Seal { entry_count: self.record_count(), log_len: log_len as u64, entries_crc };
        let header = IndexHeader { base_offset: self.segment.base_offset, seal: Some(seal) };
        self.index.header().copy_from_slice(&index::encode_index_header(&header));
        self.index.trim(storage)?;
        sync(storage, &index_map)?;
        self.segment.times.write().catch_up(&self.times);
        write_time_index(storage, dir, &self.segment)?;
        Ok(self.segment)
    }
}

impl SegmentWriter {
    /// Replaces segment `old` by a copy of its records below `offset`, as
    /// the new active segment. The copy is written to temporary files and
    /// renamed over the old ones, so records read from `old` stay valid
    /// (their map keeps the old file alive) and a crash leaves either the
    /// old segment or the new one.
    pub(crate) fn rewrite_prefix(
        storage: &dyn Storage,
        dir: &Path,
        old: &Segment,
        offset: u64,
        capacity_bytes: usize,
        interval_bytes: u64,
    ) -> Result<Self> {
        let base = old.base_offset;
        let kept = offset - base;
        let log_len = if kept < old.record_count() { old.position(kept) } else { old.log.published() };
        let [log_path, index_path, time_path] = Segment::paths(dir, base);
        let (log_temp, index_temp) = (temp_path(&log_path), temp_path(&index_path));
        let log_file = create_with(storage, &log_temp, &encode_log_header(base, LOG_HEADER_BYTES as u64))?;
        let frames = old.log.bytes(LOG_HEADER_BYTES, log_len - LOG_HEADER_BYTES);
        write_and_sync(storage, &log_file, &log_temp, LOG_HEADER_BYTES as u64, frames)?;
        let index_file = create_with(
            storage,
            &index_temp,
            &index::encode_index_header(&IndexHeader { base_offset: base, seal: None }),
        )?;
        let entries = old.index.bytes(INDEX_HEADER_BYTES, kept as usize * INDEX_ENTRY_BYTES);
        write_and_sync(storage, &index_file, &index_temp, INDEX_HEADER_BYTES as u64, entries)?;
        install(storage, &[(&log_temp, &log_path), (&index_temp, &index_path)], &time_path)?;
        storage.sync_dir(dir).map_err(|e| Error::io(IoOp::SyncDirectory, dir, e))?;
        let mut times = TimeIndex::default();
        let mut first_timestamp = None;
        for n in 0..kept {
            let record = old.record(base + n)?;
            times.observe(base + n, record.timestamp_ms(), record.frame_len() as u64, interval_bytes);
            first_timestamp.get_or_insert(record.timestamp_ms());
        }
        let parts = OpenParts { log_file, index_file, log_len, entries: kept };
        Self::open(dir, base, capacity_bytes, parts, times, first_timestamp)
    }
}

/// `<name>.tmp` beside `path`: where a file is written before it is
/// renamed into place (recovery removes leftovers).
fn temp_path(path: &Path) -> PathBuf {
    path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or_default()))
}

/// Renames written temporaries into place, then removes the time index a
/// replaced segment may have left (it no longer describes the log).
fn install(storage: &dyn Storage, renames: &[(&Path, &Path)], time_path: &Path) -> Result<()> {
    for (from, to) in renames {
        storage.rename(from, to).map_err(|e| Error::io(IoOp::Rename, to, e))?;
    }
    match storage.remove_file(time_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(IoOp::Remove, time_path, e)),
        _ => Ok(()),
    }
}

fn write_and_sync(storage: &dyn Storage, file: &File, path: &Path, position: u64, bytes: &[u8]) -> Result<()> {
    storage.write_at(file, path, position, bytes).map_err(|e| Error::io(IoOp::Write, path, e))?;
    storage.sync_file(file, path).map_err(|e| Error::io(IoOp::Sync, path, e))
}

/// Opened files of an existing segment and how much of them is valid.
pub(crate) struct OpenParts {
    pub(crate) log_file: File,
    pub(crate) index_file: File,
    pub(crate) log_len: usize,
    pub(crate) entries: u64,
}

/// Syncs a mapped file's data.
pub(crate) fn sync(storage: &dyn Storage, mapped: &MappedFile) -> Result<()> {
    storage.sync_file(mapped.file(), mapped.path()).map_err(|e| Error::io(IoOp::Sync, mapped.path(), e))
}

/// Creates `path` holding `bytes`, synced.
pub(crate) fn create_with(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> Result<File> {
    let file = storage.create_file(path).map_err(|e| Error::io(IoOp::Create, path, e))?;
    storage.write_at(&file, path, 0, bytes).map_err(|e| Error::io(IoOp::Write, path, e))?;
    storage.sync_file(&file, path).map_err(|e| Error::io(IoOp::Sync, path, e))?;
    Ok(file)
}

/// Writes the `.tix` file of `segment`.
fn write_time_index(storage: &dyn Storage, dir: &Path, segment: &Segment) -> Result<()> {
    let [_, _, path] = Segment::paths(dir, segment.base_offset);
    let bytes = segment.times.read().encode(segment.base_offset);
    create_with(storage, &path, &bytes).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_round_trip_and_foreign_names_are_ignored() {
        assert_eq!(file_name(42, "log"), "00000000000000000042.log");
        assert_eq!(parse_log_name("00000000000000000042.log"), Some(42));
        for foreign in ["42.log", "0000000000000000004x.log", "00000000000000000042.idx", "notes.txt"] {
            assert_eq!(parse_log_name(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn log_header_torn_checksum_loses_only_the_sync_point() {
        let mut bytes = encode_log_header(5, 1000);
        assert_eq!(decode_log_header(&bytes), Ok(LogHeader { base_offset: 5, synced_position: Some(1000) }));
        bytes[LOG_SYNCED_AT] ^= 1;
        assert_eq!(decode_log_header(&bytes), Ok(LogHeader { base_offset: 5, synced_position: None }));
        bytes[0] = b'X';
        assert!(decode_log_header(&bytes).is_err());
    }
}
