//! A segment that another process writes, followed read-only: what
//! `Partition::open_read_only` reads through. Nothing here writes, cuts or
//! locks a file.
//!
//! The owner publishes a record by writing its frame into the segment's
//! shared map; another process sees the bytes appear in the page cache in
//! no particular order. So the follower trusts nothing it has not checked:
//! it reads the bytes past its verified end with `pread` (which cannot fault,
//! whatever the owner does to the file meanwhile), accepts each frame whose
//! length, CRC and offset verify, and only then publishes those bytes in
//! its own read-only map of the `.log`, through which records are handed out
//! without a copy. A frame that does not verify yet (half written, or torn
//! by a crash the owner's recovery will cut) ends the verified prefix until
//! a later probe. The map is never read past the verified end: the owner
//! never cuts a `.log` below a complete frame nor rewrites one in place
//! (docs/FORMAT.md, "Reading a live log"), so those bytes stay valid.
//!
//! `.idx` files are never mapped: the owner's recovery rewrites the index
//! of a segment it reopens in place. A segment whose seal verifies (read
//! with ordinary reads) is final, and its index is read with `pread`, entry
//! by entry; any other segment is walked frame by frame, keeping a sparse
//! list of checkpoints to find offsets again.

use std::fs::File;
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, IoOp, Result};
use crate::record::codec::FRAME_HEADER_BYTES;
use crate::record::Record;
use crate::segment::check::{self, check_frame};
use crate::segment::files;
use crate::segment::header::{self, LOG_HEADER_BYTES};
use crate::segment::index::{self, INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES};
use crate::segment::reader::{RecordBatch, Segment};
use crate::segment::time_index::TimeIndex;
use crate::storage::le;
use crate::storage::mapping::MappedFile;
use crate::storage::meta;

/// Bytes read per `pread` while probing for new frames.
const PROBE_BYTES: usize = 64 << 10;
/// Log bytes between two checkpoints of a walked segment.
const CHECKPOINT_BYTES: usize = 64 << 10;
/// Largest frame a probe accepts: no frame can be longer than a segment.
const MAX_FRAME_BYTES: usize = i32::MAX as usize;

/// A file's identity: device and inode. A segment renamed over (a
/// truncation) or deleted and created again is another file.
pub(crate) type FileId = (u64, u64);

/// The identity of the file at `path`, `None` if it does not exist.
pub(crate) fn identity_of(path: &Path) -> Result<Option<FileId>> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some((meta.dev(), meta.ino()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(IoOp::Stat, path, e)),
    }
}

/// A sealed segment's index, verified: read entry by entry with `pread`.
struct SealedIndex {
    file: File,
    path: PathBuf,
    entry_count: u64,
    log_len: usize,
}

/// What a walk of the log verified so far.
struct Walk {
    /// The current read-only map; its published length is the verified end.
    map: Arc<MappedFile>,
    end_offset: u64,
    end_position: usize,
    /// `(offset, position)` of a frame every `CHECKPOINT_BYTES` or so,
    /// the first frame's included.
    checkpoints: Vec<(u64, u32)>,
    /// Where the last read stopped: the next sequential read starts there.
    cursor: (u64, usize),
    buffer: Vec<u8>,
}

/// One segment of a partition another process owns, followed read-only.
pub(crate) struct FollowedSegment {
    base_offset: u64,
    path: PathBuf,
    identity: FileId,
    file: File,
    sealed: Option<SealedIndex>,
    /// A compacted segment (with holes), read through the owner's own
    /// reader: compacted files are complete and synced before they are
    /// renamed into place and never change after, so mapping them is safe.
    compacted: Option<Arc<Segment>>,
    walk: Mutex<Walk>,
    /// The offset after the last verified record.
    end_offset: AtomicU64,
}

impl FollowedSegment {
    /// Opens segment `base` of `dir`. A segment that may still grow (the
    /// last one) is walked; an earlier one whose seal verifies is taken
    /// whole. `None` if its files are gone or not complete yet (a roll
    /// under way: it is looked at again later).
    pub(crate) fn open(dir: &Path, base: u64, may_grow: bool) -> Result<Option<FollowedSegment>> {
        let [path, index_path, _] = files::paths(dir, base);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(IoOp::Open, &path, e)),
        };
        let meta = file.metadata().map_err(|e| Error::io(IoOp::Stat, &path, e))?;
        let identity = (meta.dev(), meta.ino());
        let mut head = [0u8; LOG_HEADER_BYTES];
        if read_full_at(&file, &path, &mut head, 0)? < LOG_HEADER_BYTES {
            return Ok(None);
        }
        let compacted = match header::decode_log_header(&head) {
            Ok(decoded) if decoded.base_offset == base => decoded.compacted_end.is_some(),
            Ok(_) => return Err(Error::corrupt(&path, 0, "log header: it names another base offset")),
            Err(reason) => return Err(Error::corrupt(&path, 0, format!("log header: {reason}"))),
        };
        if compacted {
            return FollowedSegment::open_compacted(dir, base, path, identity, file);
        }
        let sealed = if may_grow { None } else { verify_seal(&file, &path, &index_path, base)? };
        // Mapping past the end of the file is allowed; reading there is not,
        // and nothing past the verified end is read.
        let map_len = sealed.as_ref().map_or(meta.len() as usize, |s| s.log_len).max(LOG_HEADER_BYTES);
        let map = MappedFile::followed(
            path.clone(),
            file.try_clone().map_err(|e| Error::io(IoOp::Open, &path, e))?,
            map_len,
            LOG_HEADER_BYTES,
        )?;
        let mut walk = Walk {
            map,
            end_offset: base,
            end_position: LOG_HEADER_BYTES,
            checkpoints: Vec::new(),
            cursor: (base, LOG_HEADER_BYTES),
            buffer: Vec::new(),
        };
        if let Some(sealed) = &sealed {
            walk.map.publish_verified(sealed.log_len);
            walk.end_offset = base + sealed.entry_count;
            walk.end_position = sealed.log_len;
        }
        let end_offset = AtomicU64::new(walk.end_offset);
        let segment = FollowedSegment {
            base_offset: base,
            path,
            identity,
            file,
            sealed,
            compacted: None,
            walk: Mutex::new(walk),
            end_offset,
        };
        if segment.sealed.is_none() {
            segment.probe()?;
        }
        Ok(Some(segment))
    }

    /// Opens compacted segment `base`, once its seal verifies (`None`
    /// before: a swap half done, looked at again later).
    fn open_compacted(dir: &Path, base: u64, path: PathBuf, identity: FileId, file: File) -> Result<Option<Self>> {
        let Some(sealed) = check::verify_seal(dir, base)? else { return Ok(None) };
        let end = base + sealed.entry_count;
        let segment = Segment::open_compacted(dir, base, end)?;
        let map = MappedFile::followed(
            path.clone(),
            file.try_clone().map_err(|e| Error::io(IoOp::Open, &path, e))?,
            LOG_HEADER_BYTES,
            LOG_HEADER_BYTES,
        )?;
        let walk = Walk {
            map,
            end_offset: end,
            end_position: sealed.log_len as usize,
            checkpoints: Vec::new(),
            cursor: (end, sealed.log_len as usize),
            buffer: Vec::new(),
        };
        Ok(Some(FollowedSegment {
            base_offset: base,
            path,
            identity,
            file,
            sealed: None,
            compacted: Some(segment),
            walk: Mutex::new(walk),
            end_offset: AtomicU64::new(end),
        }))
    }

    /// The first surviving record at or after `offset` in this segment;
    /// `None` if compaction left none after it here.
    pub(crate) fn record_from(&self, offset: u64) -> Result<Option<Record>> {
        match &self.compacted {
            Some(segment) => segment.record_from(offset),
            None => self.record(offset).map(Some),
        }
    }

    /// The first offset of this segment.
    pub(crate) fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// The offset after its last verified record.
    pub(crate) fn end_offset(&self) -> u64 {
        self.end_offset.load(Ordering::Acquire)
    }

    /// Whether the file at the segment's path is still the one followed.
    pub(crate) fn is_current(&self) -> Result<bool> {
        Ok(self.identity_now()? == Some(self.identity))
    }

    /// The identity of the file at the segment's path now (`None`: gone).
    pub(crate) fn identity_now(&self) -> Result<Option<FileId>> {
        identity_of(&self.path)
    }

    /// The identity of the file followed.
    pub(crate) fn identity(&self) -> FileId {
        self.identity
    }

    /// Bytes of verified log, header included, plus the index they need.
    pub(crate) fn size_bytes(&self) -> u64 {
        let walk = self.walk.lock();
        let records = walk.end_offset - self.base_offset;
        (walk.end_position + INDEX_HEADER_BYTES) as u64 + records * INDEX_ENTRY_BYTES as u64
    }

    /// Bytes the segment's log and index take on the file system (blocks
    /// allocated); an index the owner removed or has not made counts 0.
    pub(crate) fn disk_bytes(&self) -> u64 {
        let log = self.file.metadata().map_or(0, |m| m.blocks() * 512);
        let index = std::fs::metadata(self.path.with_extension("idx")).map_or(0, |m| m.blocks() * 512);
        log + index
    }

    /// Verifies the frames appended since the last probe; returns whether
    /// there were any. Stops at the first frame that does not verify yet.
    pub(crate) fn probe(&self) -> Result<bool> {
        if self.sealed.is_some() || self.compacted.is_some() {
            return Ok(false);
        }
        let mut walk = self.walk.lock();
        let before = walk.end_offset;
        loop {
            let at = walk.end_position;
            let mut buffer = std::mem::take(&mut walk.buffer);
            buffer.resize(PROBE_BYTES, 0);
            let read = read_full_at(&self.file, &self.path, &mut buffer, at as u64)?;
            let verified = self.verify_frames(&mut walk, &buffer[..read]);
            let big = if verified == 0 { self.probe_large_frame(&mut walk, &buffer[..read])? } else { false };
            walk.buffer = buffer;
            if verified == 0 && !big {
                break;
            }
        }
        let progressed = walk.end_offset > before;
        if progressed {
            self.publish(&mut walk)?;
        }
        Ok(progressed)
    }

    /// Accepts the complete, valid frames at the start of `bytes` (read at
    /// the verified end); returns how many.
    fn verify_frames(&self, walk: &mut Walk, bytes: &[u8]) -> usize {
        let mut at = 0;
        let mut count = 0;
        while let Ok((layout, _)) = check_frame(&bytes[at..], walk.end_offset) {
            walk.accept(layout.frame_len());
            at += layout.frame_len();
            count += 1;
        }
        count
    }

    /// A frame longer than one probe read: read whole, if the file holds
    /// it, and accepted if it verifies.
    fn probe_large_frame(&self, walk: &mut Walk, bytes: &[u8]) -> Result<bool> {
        let Some(len) = bytes.get(..4).map(|b| le::u32_at(b, 0) as usize) else { return Ok(false) };
        let file_len = self.file.metadata().map_err(|e| Error::io(IoOp::Stat, &self.path, e))?.len() as usize;
        let fits = walk.end_position.checked_add(len).is_some_and(|end| end <= file_len);
        if len <= bytes.len() || len > MAX_FRAME_BYTES || !fits {
            return Ok(false);
        }
        let mut frame = vec![0u8; len];
        if read_full_at(&self.file, &self.path, &mut frame, walk.end_position as u64)? < len {
            return Ok(false);
        }
        Ok(self.verify_frames(walk, &frame) == 1)
    }

    /// Makes the verified frames readable: remaps if they pass the map.
    fn publish(&self, walk: &mut Walk) -> Result<()> {
        if walk.end_position > walk.map.capacity() {
            let file = self.file.try_clone().map_err(|e| Error::io(IoOp::Open, &self.path, e))?;
            let len = file.metadata().map_err(|e| Error::io(IoOp::Stat, &self.path, e))?.len() as usize;
            walk.map = MappedFile::followed(self.path.clone(), file, len.max(walk.end_position), LOG_HEADER_BYTES)?;
        }
        walk.map.publish_verified(walk.end_position);
        self.end_offset.store(walk.end_offset, Ordering::Release);
        Ok(())
    }

    /// The record at `offset` (below the verified end).
    pub(crate) fn record(&self, offset: u64) -> Result<Record> {
        let batch = self.read_batch(offset, 1)?;
        let record = batch.records().next();
        record.ok_or_else(|| self.out_of_range(offset))
    }

    fn out_of_range(&self, offset: u64) -> Error {
        Error::OffsetOutOfRange { offset, log_start_offset: self.base_offset, end_offset: self.end_offset() }
    }

    /// Up to `max_records` verified records from `offset`, one batch,
    /// every frame checked again as it is read.
    pub(crate) fn read_batch(&self, offset: u64, max_records: u64) -> Result<RecordBatch> {
        if let Some(segment) = &self.compacted {
            return segment.read_batch(offset, max_records);
        }
        let end = self.end_offset();
        if offset < self.base_offset || offset >= end {
            return Err(self.out_of_range(offset));
        }
        let count = max_records.min(end - offset);
        let (map, start) = self.locate(offset)?;
        let published = map.published();
        let mut len = 0;
        for n in 0..count {
            let position = start + len;
            let available = map.bytes(position, published - position);
            let (layout, _) = check_frame(available, offset + n)
                .map_err(|e| Error::corrupt(&self.path, position as u64, e.to_string()))?;
            len += layout.frame_len();
        }
        self.check_tiling(offset + count, start + len)?;
        self.walk.lock().cursor = (offset + count, start + len);
        Ok(RecordBatch::from_frames(map.pin(start, len), offset, count))
    }

    /// The map and position of the frame of `offset` (verified).
    fn locate(&self, offset: u64) -> Result<(Arc<MappedFile>, usize)> {
        let walk = self.walk.lock();
        let map = Arc::clone(&walk.map);
        if walk.cursor.0 == offset {
            return Ok((map, walk.cursor.1));
        }
        let position = match &self.sealed {
            Some(sealed) => {
                drop(walk);
                self.sealed_position(sealed, offset)?
            }
            None => walk.walk_to(offset),
        };
        Ok((map, position))
    }

    /// Position of `offset` from a sealed index entry, checked to lie in
    /// the log.
    fn sealed_position(&self, sealed: &SealedIndex, offset: u64) -> Result<usize> {
        let position = sealed.entry(offset - self.base_offset)? as usize;
        if position < LOG_HEADER_BYTES || position.saturating_add(FRAME_HEADER_BYTES) > sealed.log_len {
            let reason = format!("index entry of offset {offset} points outside the log ({} bytes)", sealed.log_len);
            return Err(Error::corrupt(&self.path, position as u64, reason));
        }
        Ok(position)
    }

    /// Frames read up to `end` must be followed by the index entry of
    /// `next` in a sealed segment (an entry pointing inside another
    /// record is corruption, never a record). Walked frames tile by
    /// construction.
    fn check_tiling(&self, next: u64, end: usize) -> Result<()> {
        let Some(sealed) = &self.sealed else { return Ok(()) };
        let n = next - self.base_offset;
        let expected = if n < sealed.entry_count { sealed.entry(n)? as usize } else { sealed.log_len };
        if expected == end {
            return Ok(());
        }
        let reason = format!("the frame before offset {next} ends at {end}, but the index puts it at {expected}");
        Err(Error::corrupt(&sealed.path, index::entry_position(n) as u64, reason))
    }

    /// The first offset from `from` on whose record has a timestamp >=
    /// `timestamp_ms`, if this segment has one. A sealed segment's `.tix`
    /// (read whole, checked) skips what it can.
    pub(crate) fn offset_for_timestamp(&self, from: u64, timestamp_ms: i64) -> Result<Option<u64>> {
        let end = self.end_offset();
        let mut offset = from.max(self.base_offset);
        if self.compacted.is_some() {
            while offset < end {
                let batch = self.read_batch(offset, 1024)?;
                if let Some(found) = batch.iter().find(|r| r.timestamp_ms() >= timestamp_ms) {
                    return Ok(Some(found.offset()));
                }
                offset = batch.next_offset().max(offset + 1);
            }
            return Ok(None);
        }
        if self.sealed.is_some() {
            let time_path = self.path.with_extension("tix");
            let times = meta::read_if_exists(&time_path)?.and_then(|b| TimeIndex::decode(&b, self.base_offset, end));
            // Checked against the records it names before it is used, as
            // the owner checks it (`check::load_time_index`): the first
            // entry is the first record's, the last is true of its record
            // and no older than the last record, and the entry a scan
            // starts after is true of its record. A false one is ignored.
            let timestamp_at = |offset: u64| -> Option<i64> {
                let batch = self.read_batch(offset, 1).ok()?;
                let record = batch.iter().next().filter(|r| r.offset() == offset)?;
                Some(record.timestamp_ms())
            };
            let trusted = times.filter(|times| match (times.first_entry(), times.max_timestamp()) {
                (Some(first), Some(max)) => {
                    timestamp_at(self.base_offset) == Some(first.0)
                        && first.1 == self.base_offset
                        && timestamp_at(max.1) == Some(max.0)
                        && end.checked_sub(1).and_then(timestamp_at).is_some_and(|last| last <= max.0)
                }
                _ => end == self.base_offset,
            });
            if let Some(times) = trusted {
                if times.max_timestamp().is_none_or(|(max, _)| max < timestamp_ms) {
                    return Ok(None);
                }
                if let Some((ts, older)) = times.last_older_than(timestamp_ms) {
                    if timestamp_at(older) == Some(ts) {
                        offset = offset.max(older + 1);
                    }
                }
            }
        }
        while offset < end {
            let batch = self.read_batch(offset, 1024)?;
            if let Some(found) = batch.iter().find(|r| r.timestamp_ms() >= timestamp_ms) {
                return Ok(Some(found.offset()));
            }
            offset = batch.next_offset();
        }
        Ok(None)
    }
}

impl Walk {
    /// Accepts the frame of `frame_len` bytes at the verified end.
    fn accept(&mut self, frame_len: usize) {
        let last = self.checkpoints.last().map_or(0, |&(_, p)| p as usize);
        if self.checkpoints.is_empty() || self.end_position - last >= CHECKPOINT_BYTES {
            self.checkpoints.push((self.end_offset, self.end_position as u32));
        }
        self.end_offset += 1;
        self.end_position += frame_len;
    }

    /// Position of verified `offset`: from the nearest checkpoint (or the
    /// cursor) before it, hopping over verified frames by their lengths.
    fn walk_to(&self, offset: u64) -> usize {
        let i = self.checkpoints.partition_point(|&(o, _)| o <= offset).saturating_sub(1);
        let (mut at, mut position) = self.checkpoints.get(i).map_or((0, LOG_HEADER_BYTES), |&(o, p)| (o, p as usize));
        if self.cursor.0 <= offset && self.cursor.0 > at {
            (at, position) = self.cursor;
        }
        while at < offset {
            position += le::u32_at(self.map.bytes(position, 4), 0) as usize;
            at += 1;
        }
        position
    }
}

impl SealedIndex {
    /// Entry `n` (below the entry count).
    fn entry(&self, n: u64) -> Result<u32> {
        let mut bytes = [0u8; INDEX_ENTRY_BYTES];
        let at = index::entry_position(n) as u64;
        if read_full_at(&self.file, &self.path, &mut bytes, at)? < INDEX_ENTRY_BYTES {
            return Err(Error::corrupt(&self.path, at, "the sealed index is shorter than its seal says"));
        }
        Ok(le::u32_at(&bytes, 0))
    }
}

/// The seal of segment `base`'s index, if it vouches for the log as it is
/// (header and entries CRC, exact lengths, first and last frames), read
/// with ordinary reads only. `None` means: walk the segment instead.
fn verify_seal(log: &File, log_path: &Path, index_path: &Path, base: u64) -> Result<Option<SealedIndex>> {
    let Some(bytes) = meta::read_if_exists(index_path)? else { return Ok(None) };
    let Ok(index::IndexHeader { base_offset, seal: Some(seal) }) = index::decode_index_header(&bytes) else {
        return Ok(None);
    };
    let entries = &bytes[INDEX_HEADER_BYTES..];
    let log_len = log.metadata().map_err(|e| Error::io(IoOp::Stat, log_path, e))?.len();
    let entries_agree = seal.entry_count.checked_mul(INDEX_ENTRY_BYTES as u64) == Some(entries.len() as u64);
    if base_offset != base || !entries_agree || log_len != seal.log_len || crc32c::crc32c(entries) != seal.entries_crc {
        return Ok(None);
    }
    let Some(last) = seal.entry_count.checked_sub(1) else { return Ok(None) };
    let position = le::u32_at(entries, last as usize * INDEX_ENTRY_BYTES) as u64;
    let ends = frame_at(log, log_path, LOG_HEADER_BYTES as u64, base)?.is_some()
        && frame_at(log, log_path, position, base + last)?.is_some_and(|len| position + len as u64 == log_len);
    if !ends {
        return Ok(None);
    }
    let file = File::open(index_path).map_err(|e| Error::io(IoOp::Open, index_path, e))?;
    Ok(Some(SealedIndex {
        file,
        path: index_path.to_path_buf(),
        entry_count: seal.entry_count,
        log_len: log_len as usize,
    }))
}

/// Length of the valid frame holding `offset` at `position` of a log, read
/// with `pread`.
fn frame_at(log: &File, path: &Path, position: u64, offset: u64) -> Result<Option<usize>> {
    let mut head = [0u8; 4];
    if read_full_at(log, path, &mut head, position)? < 4 {
        return Ok(None);
    }
    let len = le::u32_at(&head, 0) as usize;
    if !(FRAME_HEADER_BYTES..=MAX_FRAME_BYTES).contains(&len) {
        return Ok(None);
    }
    let mut frame = vec![0u8; len];
    if read_full_at(log, path, &mut frame, position)? < len {
        return Ok(None);
    }
    Ok(check_frame(&frame, offset).ok().map(|(layout, _)| layout.frame_len()))
}

/// Reads into `buffer` at `position` until it is full or the file ends;
/// returns the bytes read. A read cannot fault, whatever happens to the
/// file meanwhile.
fn read_full_at(file: &File, path: &Path, buffer: &mut [u8], position: u64) -> Result<usize> {
    let mut read = 0;
    while read < buffer.len() {
        match file.read_at(&mut buffer[read..], position + read as u64) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(IoOp::Read, path, e)),
        }
    }
    Ok(read)
}
