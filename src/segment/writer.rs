//! The append side of the active segment: [`SegmentWriter`] encodes frames
//! into the log's map (or one write for large batches), writes their index
//! entries, publishes them, records sync points, and seals the segment; and
//! the rewrites that replace a segment by a valid prefix of it.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, IoOp, Result};
use crate::record::codec;
use crate::record::NewRecord;
use crate::segment::check::Scan;
use crate::segment::files::{self, create_with, install, sync, temp_path, write_and_sync};
use crate::segment::header::{encode_compacted_log_header, encode_log_header, LOG_HEADER_BYTES};
use crate::segment::index::{self, index_capacity, IndexHeader, Seal, INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES};
use crate::segment::reader::Segment;
use crate::segment::time_index::TimeIndex;
use crate::storage::le;
use crate::storage::mapping::{MapWriter, MappedFile};
use crate::storage::Storage;

/// Appends of at least this many bytes are written with a system call
/// rather than through the map (measured: below it, the call costs more
/// than the kernel's zero-filling of new pages saves).
const WRITE_THROUGH_BYTES: usize = 16 << 10;

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
        Self::stage(storage, dir, base_offset)?.install(storage, dir, capacity_bytes)
    }

    /// The first half of [`SegmentWriter::create`]: writes and syncs the new
    /// files under their temporary names. Nothing a reader or a recovery
    /// would look at changes; on failure the temporaries are removed.
    pub(crate) fn stage(storage: &dyn Storage, dir: &Path, base_offset: u64) -> Result<StagedSegment> {
        let [log_path, index_path, _] = files::paths(dir, base_offset);
        let (log_temp, index_temp) = (temp_path(&log_path), temp_path(&index_path));
        let header = encode_log_header(base_offset, LOG_HEADER_BYTES as u64);
        let index_header = index::encode_index_header(&IndexHeader { base_offset, seal: None });
        let staged = create_with(storage, &log_temp, &header)
            .and_then(|log_file| Ok((log_file, create_with(storage, &index_temp, &index_header)?)));
        match staged {
            Ok((log_file, index_file)) => Ok(StagedSegment { base_offset, log_file, index_file }),
            Err(error) => {
                for temp in [&log_temp, &index_temp] {
                    let _ = storage.remove_file(temp);
                }
                Err(error)
            }
        }
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
        let [log_path, index_path, _] = files::paths(dir, base_offset);
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
            let frame_len = crate::segment::check::valid_frame_len(
                segment.log.bytes(position, published - position),
                segment.base_offset + last,
            );
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
        let frames_out = if through_buffer { &mut buffer[..total_bytes] } else { self.log.region(start, total_bytes) };
        let mut new_time_entry = false;
        let mut at = 0;
        for (n, (record, timestamp, frame_len)) in frames.enumerate() {
            let offset = first_offset + n as u64;
            // CRCs are written for the whole run below, overlapped.
            codec::encode_unsealed(&mut frames_out[at..at + frame_len], offset, timestamp, record);
            le::put_u32(entries, n * INDEX_ENTRY_BYTES, (start + at) as u32);
            new_time_entry |= self.times.observe(offset, timestamp, frame_len as u64, interval_bytes);
            self.first_timestamp.get_or_insert(timestamp);
            at += frame_len;
        }
        if new_time_entry {
            self.segment.times.write().catch_up(&self.times);
        }
        debug_assert_eq!(at, total_bytes);
        codec::seal_run(frames_out);
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
        let [log_path, index_path, time_path] = files::paths(dir, base);
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

/// A new segment's files, written under temporary names by
/// [`SegmentWriter::stage`].
pub(crate) struct StagedSegment {
    base_offset: u64,
    log_file: File,
    index_file: File,
}

impl StagedSegment {
    /// The second half of [`SegmentWriter::create`]: renames the files into
    /// place and maps them for appending.
    pub(crate) fn install(self, storage: &dyn Storage, dir: &Path, capacity_bytes: usize) -> Result<SegmentWriter> {
        let [log_path, index_path, time_path] = files::paths(dir, self.base_offset);
        let (log_temp, index_temp) = (temp_path(&log_path), temp_path(&index_path));
        install(storage, &[(&log_temp, &log_path), (&index_temp, &index_path)], &time_path)?;
        let parts =
            OpenParts { log_file: self.log_file, index_file: self.index_file, log_len: LOG_HEADER_BYTES, entries: 0 };
        SegmentWriter::open(dir, self.base_offset, capacity_bytes, parts, TimeIndex::default(), None)
    }
}

/// Opened files of an existing segment and how much of them is valid.
pub(crate) struct OpenParts {
    pub(crate) log_file: File,
    pub(crate) index_file: File,
    pub(crate) log_len: usize,
    pub(crate) entries: u64,
}

impl OpenParts {
    /// Opens segment `base`'s files of `dir` for appending after its first
    /// `log_len` bytes, with as many index entries as its `.idx` holds.
    pub(crate) fn existing(dir: &Path, base: u64, log_len: u64) -> Result<OpenParts> {
        let [log_path, index_path, _] = files::paths(dir, base);
        let len = std::fs::metadata(&index_path).map_err(|e| Error::io(IoOp::Stat, &index_path, e))?.len();
        Ok(OpenParts {
            entries: len.saturating_sub(INDEX_HEADER_BYTES as u64) / INDEX_ENTRY_BYTES as u64,
            log_file: files::open(&log_path, true)?,
            index_file: files::open(&index_path, true)?,
            log_len: log_len as usize,
        })
    }
}

/// Writes the `.tix` file of `segment`.
fn write_time_index(storage: &dyn Storage, dir: &Path, segment: &Segment) -> Result<()> {
    let [_, _, path] = files::paths(dir, segment.base_offset);
    let bytes = segment.times.read().encode(segment.base_offset);
    create_with(storage, &path, &bytes).map(drop)
}

/// Rewrites segment `base` to hold exactly the scan's valid prefix: the log
/// is cut at the valid end, the index rebuilt (sealed unless `active`).
pub(crate) fn rewrite_valid_prefix(
    storage: &dyn Storage,
    dir: &Path,
    base: u64,
    scan: &Scan,
    active: bool,
) -> Result<OpenParts> {
    let [log_path, index_path, time_path] = files::paths(dir, base);
    let log_file = files::open(&log_path, true)?;
    crate::storage::mapping::debug_assert_unmapped(&log_file, &log_path);
    let log_len = scan.valid_end as u64;
    storage.set_len(&log_file, &log_path, log_len).map_err(|e| Error::io(IoOp::Truncate, &log_path, e))?;
    let synced = if active { LOG_HEADER_BYTES as u64 } else { log_len };
    // A compacted segment keeps its holes up to where its valid frames
    // (and, when all are valid, its holes) reach.
    let end = base + scan.positions.len() as u64;
    let header = match scan.compacted_end {
        Some(_) if end > base => encode_compacted_log_header(base, log_len, end, scan.compacted_max_timestamp),
        _ => encode_log_header(base, synced),
    };
    storage.write_at(&log_file, &log_path, 0, &header).map_err(|e| Error::io(IoOp::Write, &log_path, e))?;
    storage.sync_file(&log_file, &log_path).map_err(|e| Error::io(IoOp::Sync, &log_path, e))?;
    let entries = index::encode_entries(&scan.positions);
    let entry_count = scan.positions.len() as u64;
    let seal = (!active).then(|| Seal { entry_count, log_len, entries_crc: crc32c::crc32c(&entries) });
    let mut bytes = index::encode_index_header(&IndexHeader { base_offset: base, seal }).to_vec();
    bytes.extend_from_slice(&entries);
    let index_file = create_with(storage, &index_path, &bytes)?;
    if !active {
        create_with(storage, &time_path, &scan.times.encode(base))?;
    }
    Ok(OpenParts { log_file, index_file, log_len: scan.valid_end, entries: entry_count })
}
