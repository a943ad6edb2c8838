//! Opening a partition directory: the clean-shutdown marker and recovery
//! point (`partition.state`), and the recovery that decides, segment by
//! segment, what can be trusted.
//!
//! - A segment whose index carries a seal that verifies (entry CRC, log
//!   length, last frame) is trusted without a scan — except the last one
//!   after an unclean shutdown, which is always scanned.
//! - A scanned segment keeps its valid prefix. A bad frame is a torn write
//!   (cut, and counted in the [`RecoveryReport`]) only where a crash can
//!   explain it: at or above the sync point recorded in the log header, in
//!   the last segment holding data. Anywhere else it is corruption: opening
//!   fails with [`Error::Corrupt`] naming the file and position, unless
//!   repair was requested, which cuts there too.
//! - Indexes of scanned segments are rebuilt from the log.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, IoOp, Result};
use crate::index::{self, IndexHeader, Seal, TimeIndex, INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES};
use crate::partition::PartitionOptions;
use crate::record::codec::FrameError;
use crate::segment::{self, OpenParts, Scan, Segment, SegmentWriter, LOG_HEADER_BYTES};
use crate::storage::le;
use crate::storage::mapping::MappedFile;
use crate::storage::meta;
use crate::storage::Storage;

const STATE_FILE: &str = "partition.state";
const STATE_MAGIC: &[u8; 8] = b"LARDRPST";

/// What a partition records about itself between opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    /// Written by a clean close; cleared (written false) on open.
    pub(crate) clean: bool,
    /// The first offset readers may see.
    pub(crate) log_start_offset: u64,
    /// Every segment below this offset was sealed and synced.
    pub(crate) recovery_point: u64,
}

impl State {
    fn encode(&self) -> Vec<u8> {
        let mut payload = [0u8; 24];
        payload[0] = u8::from(self.clean);
        le::put_u64(&mut payload, 8, self.log_start_offset);
        le::put_u64(&mut payload, 16, self.recovery_point);
        meta::encode(STATE_MAGIC, &payload)
    }

    fn decode(bytes: &[u8]) -> Result<State, String> {
        let payload = meta::decode(STATE_MAGIC, bytes)?;
        if payload.len() != 24 || payload[0] > 1 {
            return Err("malformed payload".into());
        }
        Ok(State {
            clean: payload[0] == 1,
            log_start_offset: le::u64_at(payload, 8),
            recovery_point: le::u64_at(payload, 16),
        })
    }

    /// Replaces the state file atomically and durably.
    pub(crate) fn write(&self, storage: &dyn Storage, dir: &Path) -> Result<()> {
        meta::write_atomic(storage, dir, STATE_FILE, &self.encode())
    }
}

/// What opening a partition found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The previous close was clean (its marker was present).
    pub clean_shutdown: bool,
    /// The state file was missing or unreadable and was rebuilt.
    pub state_rebuilt: bool,
    /// Segments found on disk.
    pub segments: usize,
    /// Segments whose log was scanned frame by frame.
    pub segments_scanned: usize,
    /// Indexes rebuilt from their log.
    pub indexes_rebuilt: usize,
    /// Written bytes cut off as a torn tail (preallocated zeros not counted).
    pub truncated_bytes: u64,
    /// Records those bytes seemed to hold.
    pub truncated_records: u64,
    /// Corruption cut on explicit request (`repair`): where and what.
    pub repaired: Option<String>,
    /// Segments deleted: wholly below the log start offset, or after a cut.
    pub segments_deleted: usize,
    /// The log ended below its start offset (a power cut took unsynced
    /// records that a deletion had already passed, or repair cut there), so
    /// it restarted empty at the start: this was the end it had.
    pub restarted_from: Option<u64>,
}

/// A recovered partition, ready to append.
pub(crate) struct Recovered {
    pub(crate) segments: Vec<Arc<Segment>>,
    pub(crate) writer: SegmentWriter,
    pub(crate) log_start_offset: u64,
    pub(crate) report: RecoveryReport,
}

/// Recovers the partition in `dir` (which exists).
pub(crate) fn recover(dir: &Path, options: &PartitionOptions) -> Result<Recovered> {
    let storage = &*options.storage;
    remove_temp_files(storage, dir)?;
    let mut report = RecoveryReport::default();
    let state = read_state(dir, &mut report)?;
    let bases = list_bases(dir)?;
    report.segments = bases.len();
    report.clean_shutdown = state.is_some_and(|s| s.clean);
    let recovery_point = state.map_or(0, |s| s.recovery_point);
    let mut walk = Walk { dir, options, storage, report, segments: Vec::new(), bases: &bases, recovery_point };
    let writer = walk.run(state)?;
    let recovered = Recovered {
        log_start_offset: state.map_or(0, |s| s.log_start_offset),
        segments: walk.segments,
        writer,
        report: walk.report,
    };
    if let Some(state) = state.filter(|_| !options.repair) {
        refuse_missing_segments(dir, &state, &recovered)?;
    }
    let recovered = settle_log_start(dir, options, recovered)?;
    storage.sync_dir(dir).map_err(|e| Error::io(IoOp::SyncDirectory, dir, e))?;
    Ok(recovered)
}

/// Refuses a log that disagrees with its state file: it lacks records the
/// state vouches for (segments below the recovery point were sealed and
/// synced — after a clean close, every record — and the segment holding the
/// log start was never deleted), or the state puts the log start beyond
/// anything the last segment could have held. No crash makes either: files
/// were removed, or the state file was damaged, and opening would silently
/// reuse offsets or drop records.
fn refuse_missing_segments(dir: &Path, state: &State, recovered: &Recovered) -> Result<()> {
    let last = recovered.writer.segment();
    let end = last.end_offset();
    let first = recovered.segments.first().unwrap_or(last).base_offset();
    let reason = if end < state.recovery_point {
        format!("records up to offset {} were synced, but the segments end at {end}", state.recovery_point)
    } else if first > state.log_start_offset {
        format!("the log starts at offset {}, but the first segment at {first}", state.log_start_offset)
    } else if state.log_start_offset > last.base_offset().saturating_add(last.capacity_records()) {
        let most = last.base_offset().saturating_add(last.capacity_records());
        format!("the log starts at offset {}, past any record the segments can hold ({most})", state.log_start_offset)
    } else {
        return Ok(());
    };
    let reason =
        format!("{reason}: segment files are missing or the state file is damaged (open with repair to accept)");
    Err(Error::corrupt(dir.join(STATE_FILE), 0, reason))
}

struct Walk<'a> {
    dir: &'a Path,
    options: &'a PartitionOptions,
    storage: &'a dyn Storage,
    report: RecoveryReport,
    segments: Vec<Arc<Segment>>,
    bases: &'a [u64],
    /// Offsets below this are synced, per the state file (0 without one).
    recovery_point: u64,
}

impl Walk<'_> {
    fn run(&mut self, state: Option<State>) -> Result<SegmentWriter> {
        let clean = state.is_some_and(|s| s.clean);
        let bases = self.bases;
        let Some(&last) = bases.last() else {
            return self.create(state.map_or(0, |s| s.log_start_offset));
        };
        for (i, &base) in bases.iter().enumerate() {
            if let Some(end) = self.segments.last().map(|s| s.end_offset()).filter(|&end| end != base) {
                if base < end && !self.later_segments_hold_data(i - 1)? {
                    return self.drop_orphans(i);
                }
                let path = self.dir.join(segment::file_name(base, "log"));
                let reason = format!("segment starts at offset {base} but the previous one ends at {end}");
                self.repair_or(Error::corrupt(path, 0, reason), i, end, 0)?;
                return self.create(end);
            }
            let is_last = base == last;
            if !is_last || clean {
                match self.open_trusted(base, is_last)? {
                    Some(Trusted::Sealed(segment)) => {
                        self.segments.push(segment);
                        continue;
                    }
                    Some(Trusted::Active(writer)) => return Ok(writer),
                    None => {}
                }
            }
            if let Some(writer) = self.scan_segment(i, base)? {
                return Ok(writer);
            }
        }
        unreachable!("scanning the last segment always yields the writer")
    }

    /// Segments from `bases[from]` on hold no record and start inside the
    /// segment before them: a roll that failed (or was cut short by a
    /// crash) after creating them, before any record went in. They are
    /// deleted, and the segment before them is the active one again.
    fn drop_orphans(&mut self, from: usize) -> Result<SegmentWriter> {
        self.delete_from(from)?;
        let previous = self.segments.pop().map(|s| s.base_offset());
        let index = from - 1;
        debug_assert_eq!(previous, Some(self.bases[index]));
        let base = self.bases[index];
        if let Some(Trusted::Active(writer)) = self.open_trusted(base, true)? {
            return Ok(writer);
        }
        self.scan_segment(index, base)?.ok_or_else(|| Error::corrupt(self.dir, 0, "no segment to append to"))
    }

    /// Opens segment `base` without a scan if its seal verifies.
    fn open_trusted(&mut self, base: u64, is_last: bool) -> Result<Option<Trusted>> {
        let Some(verified) = verify_seal(self.dir, base)? else { return Ok(None) };
        let times = load_time_index(self.dir, base, &verified, self.options.index_interval_bytes as u64)?;
        if !is_last {
            return Ok(Some(Trusted::Sealed(verified.map_read_only(self.dir, base, times)?)));
        }
        let first_timestamp = verified.first_timestamp;
        let parts = verified.into_parts(self.dir, base)?;
        let capacity = self.options.segment_bytes as usize;
        let writer = SegmentWriter::open(self.dir, base, capacity, parts, times, first_timestamp)?;
        Ok(Some(Trusted::Active(writer)))
    }

    /// Scans segment `bases[i]` frame by frame. Returns the writer when it
    /// turns out to be the last segment holding data; later segments hold
    /// none then and are deleted, and a torn tail is cut.
    fn scan_segment(&mut self, i: usize, base: u64) -> Result<Option<SegmentWriter>> {
        self.report.segments_scanned += 1;
        let log_path = self.dir.join(segment::file_name(base, "log"));
        // Everything is learned from the map, which is dropped before the
        // file is cut or rewritten: a mapped file is never written.
        let examined = Examined::of(&FileBytes::map(&log_path)?, base, self.options.index_interval_bytes as u64);
        let header = match examined.header {
            Ok(header) if header.base_offset == base => header,
            Ok(_) => return self.bad_header(i, base, &examined, &log_path, "it names another base offset"),
            Err(reason) => return self.bad_header(i, base, &examined, &log_path, reason),
        };
        let Examined { scan, tail_bytes, tail_records, first_timestamp, .. } = examined;
        let last_with_data = !self.later_segments_hold_data(i)?;
        if scan.stop.is_some() || tail_bytes > 0 {
            let synced = header.synced_position.unwrap_or(LOG_HEADER_BYTES as u64);
            let position = scan.valid_end as u64;
            if position < synced || !last_with_data {
                let why = scan.stop.clone().unwrap_or(FrameError::BadLength("written bytes after the end marker"));
                let reason = format!("{why} (sync point {synced}, later segments hold data: {})", !last_with_data);
                let offset = base + scan.positions.len() as u64;
                self.repair_or(Error::corrupt(&log_path, position, reason), i + 1, offset, tail_records)?;
            } else {
                self.report.truncated_records += tail_records;
            }
            self.report.truncated_bytes += tail_bytes;
        }
        if !last_with_data {
            return self.keep(base, scan, first_timestamp, false);
        }
        self.delete_from(i + 1)?;
        self.keep(base, scan, first_timestamp, true)
    }

    /// Keeps the scanned valid prefix of segment `base`: cuts the file
    /// there, rebuilds the index, and either seals it or opens it as the
    /// active segment.
    fn keep(
        &mut self,
        base: u64,
        scan: Scan,
        first_timestamp: Option<i64>,
        active: bool,
    ) -> Result<Option<SegmentWriter>> {
        self.report.indexes_rebuilt += 1;
        let parts = rewrite_segment(self.storage, self.dir, base, &scan, active)?;
        if active {
            let capacity = self.options.segment_bytes as usize;
            return SegmentWriter::open(self.dir, base, capacity, parts, scan.times, first_timestamp).map(Some);
        }
        let verified = Verified { log_len: parts.log_len as u64, entry_count: parts.entries, first_timestamp };
        drop(parts);
        self.segments.push(verified.map_read_only(self.dir, base, scan.times)?);
        Ok(None)
    }

    /// A log whose header is not ours. Never written at all (a crash while
    /// creating it), last, and above the recovery point (so it held no
    /// synced record): recreated. Otherwise corruption.
    fn bad_header(
        &mut self,
        i: usize,
        base: u64,
        examined: &Examined,
        path: &Path,
        reason: &str,
    ) -> Result<Option<SegmentWriter>> {
        let interrupted_creation =
            examined.never_written && base >= self.recovery_point && !self.later_segments_hold_data(i)?;
        if !interrupted_creation {
            let error = Error::corrupt(path, 0, format!("log header: {reason}"));
            self.repair_or(error, i, base, examined.records_after_header)?;
        }
        self.delete_from(i)?;
        self.create(base).map(Some)
    }

    /// Fails with `error`; or, if repair was requested, records it and lets
    /// the caller cut at `offset`, deleting the segments from `bases[from]`.
    /// `cut_records` is what the cut inside the current segment loses.
    fn repair_or(&mut self, error: Error, from: usize, offset: u64, cut_records: u64) -> Result<()> {
        if !self.options.repair {
            return Err(error);
        }
        let lost = cut_records + self.records_from(from)?;
        self.report.truncated_records += lost;
        self.report.repaired = Some(format!("{error}; cut at offset {offset}, {lost} records dropped"));
        self.delete_from(from)
    }

    fn records_from(&self, from: usize) -> Result<u64> {
        let mut count = 0;
        for &base in self.bases.iter().skip(from) {
            let log = FileBytes::map(&self.dir.join(segment::file_name(base, "log")))?;
            count += segment::scan(&log, base, u64::MAX).positions.len() as u64;
        }
        Ok(count)
    }

    /// Whether any segment after `bases[i]` starts with a valid record.
    fn later_segments_hold_data(&self, i: usize) -> Result<bool> {
        for &base in self.bases.iter().skip(i + 1) {
            let log = FileBytes::map(&self.dir.join(segment::file_name(base, "log")))?;
            if log.get(LOG_HEADER_BYTES..).is_some_and(|frames| segment::valid_frame_len(frames, base).is_some()) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Deletes the files of segments `bases[from..]`.
    fn delete_from(&mut self, from: usize) -> Result<()> {
        for &base in self.bases.iter().skip(from) {
            if delete_segment_files(self.storage, self.dir, base)? {
                self.report.segments_deleted += 1;
            }
        }
        self.bases = &self.bases[..from.min(self.bases.len())];
        Ok(())
    }

    fn create(&mut self, base: u64) -> Result<SegmentWriter> {
        let writer = SegmentWriter::create(self.storage, self.dir, base, self.options.segment_bytes as usize)?;
        self.storage.sync_dir(self.dir).map_err(|e| Error::io(IoOp::SyncDirectory, self.dir, e))?;
        Ok(writer)
    }
}

/// What a scan of one `.log` file found, read from its map (which is
/// dropped before anything is rewritten).
struct Examined {
    header: Result<segment::LogHeader, &'static str>,
    /// No byte of the file was ever written (a creation cut short).
    never_written: bool,
    scan: Scan,
    /// Written bytes after the valid prefix.
    tail_bytes: u64,
    /// Records those bytes seem to hold.
    tail_records: u64,
    /// Records the bytes after the header seem to hold (for a bad header).
    records_after_header: u64,
    first_timestamp: Option<i64>,
}

impl Examined {
    fn of(log: &[u8], base: u64, interval_bytes: u64) -> Examined {
        let scan = segment::scan(log, base, interval_bytes);
        Examined {
            header: segment::decode_log_header(log),
            never_written: log.iter().all(|&b| b == 0),
            tail_bytes: segment::written_tail_bytes(log, scan.valid_end),
            tail_records: segment::tail_records(log, scan.valid_end),
            records_after_header: segment::tail_records(log, LOG_HEADER_BYTES.min(log.len())),
            first_timestamp: scan.positions.first().map(|&p| segment::frame_timestamp(log, p as usize)),
            scan,
        }
    }
}

enum Trusted {
    Sealed(Arc<Segment>),
    Active(SegmentWriter),
}

/// A segment whose seal verified (or whose index was just rebuilt).
struct Verified {
    log_len: u64,
    entry_count: u64,
    first_timestamp: Option<i64>,
}

impl Verified {
    fn entries(&self, dir: &Path, base: u64) -> Result<u64> {
        let index_path = dir.join(segment::file_name(base, "idx"));
        let len = std::fs::metadata(&index_path).map_err(|e| Error::io(IoOp::Stat, &index_path, e))?.len();
        Ok(len.saturating_sub(INDEX_HEADER_BYTES as u64) / INDEX_ENTRY_BYTES as u64)
    }

    fn map_read_only(&self, dir: &Path, base: u64, times: TimeIndex) -> Result<Arc<Segment>> {
        let [log_path, index_path, _] = Segment::paths(dir, base);
        let log = MappedFile::read_only(log_path.clone(), open(&log_path, false)?, LOG_HEADER_BYTES)?;
        let index = MappedFile::read_only(index_path.clone(), open(&index_path, false)?, INDEX_HEADER_BYTES)?;
        debug_assert_eq!(log.published() as u64, self.log_len);
        Ok(Arc::new(Segment::new(base, log, index, times)))
    }

    fn into_parts(self, dir: &Path, base: u64) -> Result<OpenParts> {
        let [log_path, index_path, _] = Segment::paths(dir, base);
        Ok(OpenParts {
            entries: self.entries(dir, base)?,
            log_file: open(&log_path, true)?,
            index_file: open(&index_path, true)?,
            log_len: self.log_len as usize,
        })
    }
}

/// Checks segment `base`'s index seal against its log: header, entry CRC,
/// exact file lengths, and the last frame. `None` if anything disagrees.
/// Reads the index and two frames of the log, never the whole log.
fn verify_seal(dir: &Path, base: u64) -> Result<Option<Verified>> {
    let [log_path, index_path, _] = Segment::paths(dir, base);
    let index_bytes = FileBytes::map(&index_path)?;
    let Ok(IndexHeader { base_offset, seal: Some(seal) }) = index::decode_index_header(&index_bytes) else {
        return Ok(None);
    };
    let log = FileBytes::map(&log_path)?;
    let entries = &index_bytes[INDEX_HEADER_BYTES..];
    if base_offset != base || !seal_matches(&seal, entries, &log, base) {
        return Ok(None);
    }
    let first_timestamp = (seal.entry_count > 0).then(|| segment::frame_timestamp(&log, LOG_HEADER_BYTES));
    Ok(Some(Verified { log_len: seal.log_len, entry_count: seal.entry_count, first_timestamp }))
}

fn seal_matches(seal: &Seal, entries: &[u8], log: &[u8], base: u64) -> bool {
    let entries_len = seal.entry_count.checked_mul(INDEX_ENTRY_BYTES as u64);
    let lengths_agree = entries_len == Some(entries.len() as u64) && log.len() as u64 == seal.log_len;
    let header_agrees = segment::decode_log_header(log).is_ok_and(|h| h.base_offset == base);
    if !lengths_agree || !header_agrees || crc32c::crc32c(entries) != seal.entries_crc {
        return false;
    }
    let Some(last) = seal.entry_count.checked_sub(1) else {
        return log.len() == LOG_HEADER_BYTES;
    };
    let position = le::u32_at(entries, last as usize * INDEX_ENTRY_BYTES) as usize;
    let first_ok = segment::valid_frame_len(&log[LOG_HEADER_BYTES..], base).is_some();
    let last_len = log.get(position..).and_then(|tail| segment::valid_frame_len(tail, base + last));
    first_ok && last_len.is_some_and(|len| position + len == log.len())
}

/// The `.tix` of a trusted segment, or a rebuild from its log if missing or
/// damaged (it is derived data).
fn load_time_index(dir: &Path, base: u64, verified: &Verified, interval_bytes: u64) -> Result<TimeIndex> {
    let [log_path, index_path, time_path] = Segment::paths(dir, base);
    let end = base.saturating_add(verified.entry_count);
    let log = FileBytes::map(&log_path)?;
    let decoded = meta::read_if_exists(&time_path)?.and_then(|bytes| TimeIndex::decode(&bytes, base, end));
    if let Some(times) = decoded.filter(|times| last_time_entry_holds(times, &log, &FileBytes::map(&index_path), base))
    {
        return Ok(times);
    }
    let scan = segment::scan(&log[..verified.log_len as usize], base, interval_bytes);
    Ok(scan.times)
}

/// Whether the last entry of a decoded time index names the timestamp its
/// record really has (one frame read): a plausible but false index is
/// rebuilt rather than trusted.
fn last_time_entry_holds(times: &TimeIndex, log: &[u8], index: &Result<FileBytes>, base: u64) -> bool {
    let Some((timestamp, offset)) = times.max_timestamp() else { return true };
    let Ok(index) = index else { return false };
    let at = index::entry_position(offset - base);
    let Some(entry) = index.get(at..at + INDEX_ENTRY_BYTES) else { return false };
    let position = le::u32_at(entry, 0) as usize;
    let frame = log.get(position..).filter(|_| position >= LOG_HEADER_BYTES);
    frame.is_some_and(|f| {
        segment::valid_frame_len(f, offset).is_some() && segment::frame_timestamp(log, position) == timestamp
    })
}

/// Rewrites segment `base` to hold exactly the scan's valid prefix: the log
/// is cut at the valid end, the index rebuilt (sealed unless `active`).
fn rewrite_segment(storage: &dyn Storage, dir: &Path, base: u64, scan: &Scan, active: bool) -> Result<OpenParts> {
    let [log_path, index_path, time_path] = Segment::paths(dir, base);
    let log_file = open(&log_path, true)?;
    crate::storage::mapping::debug_assert_unmapped(&log_file, &log_path);
    let log_len = scan.valid_end as u64;
    storage.set_len(&log_file, &log_path, log_len).map_err(|e| Error::io(IoOp::Truncate, &log_path, e))?;
    let synced = if active { LOG_HEADER_BYTES as u64 } else { log_len };
    let header = segment::encode_log_header(base, synced);
    storage.write_at(&log_file, &log_path, 0, &header).map_err(|e| Error::io(IoOp::Write, &log_path, e))?;
    storage.sync_file(&log_file, &log_path).map_err(|e| Error::io(IoOp::Sync, &log_path, e))?;
    let entries = index::encode_entries(&scan.positions);
    let entry_count = scan.positions.len() as u64;
    let seal = (!active).then(|| Seal { entry_count, log_len, entries_crc: crc32c::crc32c(&entries) });
    let mut bytes = index::encode_index_header(&IndexHeader { base_offset: base, seal }).to_vec();
    bytes.extend_from_slice(&entries);
    let index_file = segment::create_with(storage, &index_path, &bytes)?;
    if !active {
        segment::create_with(storage, &time_path, &scan.times.encode(base))?;
    }
    Ok(OpenParts { log_file, index_file, log_len: scan.valid_end, entries: entry_count })
}

/// A whole file's bytes through a read-only map (no copy); empty when the
/// file is empty or missing.
enum FileBytes {
    Mapped(Arc<MappedFile>),
    Empty,
}

impl FileBytes {
    fn map(path: &Path) -> Result<FileBytes> {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileBytes::Empty),
            Err(e) => return Err(Error::io(IoOp::Open, path, e)),
        };
        let len = file.metadata().map_err(|e| Error::io(IoOp::Stat, path, e))?.len();
        if len == 0 {
            return Ok(FileBytes::Empty);
        }
        Ok(FileBytes::Mapped(MappedFile::read_only(path.to_path_buf(), file, 0)?))
    }
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(mapped) => mapped.published_bytes(),
            FileBytes::Empty => &[],
        }
    }
}

/// Deletes sealed segments wholly below the log start offset (a deletion
/// interrupted by a crash). If the log ends below its start — a power cut
/// took unsynced records a deletion had already passed, or repair cut
/// there — it restarts empty at the start, as Kafka does, so no offset is
/// ever reused. Without a state file, the start is the first stored offset.
fn settle_log_start(dir: &Path, options: &PartitionOptions, mut recovered: Recovered) -> Result<Recovered> {
    let storage = &*options.storage;
    let start = recovered.log_start_offset;
    if recovered.writer.segment().end_offset() < start {
        return restart_at(dir, options, recovered);
    }
    while recovered.segments.first().is_some_and(|s| s.end_offset() <= start) {
        let segment = recovered.segments.remove(0);
        let base = segment.base_offset();
        drop(segment);
        delete_segment_files(storage, dir, base)?;
        recovered.report.segments_deleted += 1;
    }
    let first = recovered.segments.first().unwrap_or(recovered.writer.segment()).base_offset();
    recovered.log_start_offset = start.max(first);
    Ok(recovered)
}

/// Replaces every segment by an empty one at the log start. Oldest first,
/// so a crash part way leaves a shorter, contiguous log that the next open
/// restarts the same way.
fn restart_at(dir: &Path, options: &PartitionOptions, recovered: Recovered) -> Result<Recovered> {
    let storage = &*options.storage;
    let Recovered { segments, writer, log_start_offset: start, mut report } = recovered;
    let mut bases: Vec<u64> = segments.iter().map(|s| s.base_offset()).collect();
    bases.push(writer.segment().base_offset());
    let end = writer.segment().end_offset();
    // Unmapped before their files go.
    drop((segments, writer));
    for base in bases {
        delete_segment_files(storage, dir, base)?;
        report.segments_deleted += 1;
    }
    report.restarted_from = Some(end);
    let writer = SegmentWriter::create(storage, dir, start, options.segment_bytes as usize)?;
    Ok(Recovered { segments: Vec::new(), writer, log_start_offset: start, report })
}

/// Deletes a segment's files; whether its log existed.
pub(crate) fn delete_segment_files(storage: &dyn Storage, dir: &Path, base: u64) -> Result<bool> {
    let mut existed = false;
    for (n, path) in Segment::paths(dir, base).iter().enumerate() {
        match storage.remove_file(path) {
            Ok(()) => existed |= n == 0,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(IoOp::Remove, path, e)),
        }
    }
    Ok(existed)
}

fn read_state(dir: &Path, report: &mut RecoveryReport) -> Result<Option<State>> {
    let bytes = meta::read_if_exists(&dir.join(STATE_FILE))?;
    let state = bytes.as_deref().map(State::decode).and_then(Result::ok);
    report.state_rebuilt = state.is_none();
    Ok(state)
}

/// Base offsets of the `.log` files in `dir`, ascending; other files are
/// left alone.
fn list_bases(dir: &Path) -> Result<Vec<u64>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(IoOp::List, dir, e))?;
    let mut bases = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(IoOp::List, dir, e))?;
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if let Some(base) = entry.file_name().to_str().and_then(segment::parse_log_name) {
            if !is_file {
                let reason = "a segment name that is not a regular file";
                return Err(Error::corrupt(entry.path(), 0, reason));
            }
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Removes `*.tmp` files larder left behind (interrupted atomic writes).
fn remove_temp_files(storage: &dyn Storage, dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(IoOp::List, dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let ours = name.to_str().and_then(|n| n.strip_suffix(".tmp")).is_some_and(|n| {
            let stem = [".log", ".idx", ".tix"].iter().find_map(|extension| n.strip_suffix(extension));
            n.starts_with("partition.")
                || stem.is_some_and(|stem| segment::parse_log_name(&format!("{stem}.log")).is_some())
        });
        if ours {
            storage.remove_file(&entry.path()).map_err(|e| Error::io(IoOp::Remove, entry.path(), e))?;
        }
    }
    Ok(())
}

fn open(path: &Path, writable: bool) -> Result<File> {
    std::fs::OpenOptions::new().read(true).write(writable).open(path).map_err(|e| Error::io(IoOp::Open, path, e))
}
