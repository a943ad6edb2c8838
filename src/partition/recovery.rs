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

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, IoOp, Result};
use crate::partition::options::PartitionOptions;
use crate::partition::state::{self, PartitionState, STATE_FILE};
use crate::record::codec::FrameError;
use crate::segment::check::{self, Examined};
use crate::segment::files::{self, FileBytes};
use crate::segment::header::{self, LOG_HEADER_BYTES};
use crate::segment::{compacted, rewrite_valid_prefix, OpenParts, Segment, SegmentWriter};
use crate::storage::Storage;

/// What opening a partition found and did.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
    /// Compactions that had committed the swap of a segment but not
    /// finished it, completed on open.
    pub swaps_completed: usize,
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
    let swaps_completed = compacted::settle_swaps(storage, dir)?;
    let mut report = RecoveryReport { swaps_completed, ..RecoveryReport::default() };
    let state = state::read(dir)?;
    report.state_rebuilt = state.is_none();
    let mut bases = files::list_bases(dir)?;
    // Segments wholly below the durable log start (the next one starts at
    // or below it) are what a deletion left: it made the new start durable
    // before their files went, and removing them failed (a full disk poisons
    // nothing) or was cut short. Nothing in them is ever read; later
    // deletions may have removed the segments after them, so in the walk
    // they would look like a gap. They stay out of it, and go once the
    // state file is found to agree with the segments that are walked.
    let log_start = state.map_or(0, |s| s.log_start_offset);
    let leftovers: Vec<u64> = bases.drain(..bases.windows(2).take_while(|pair| pair[1] <= log_start).count()).collect();
    report.segments = bases.len();
    report.clean_shutdown = state.is_some_and(|s| s.clean);
    let recovery_point = state.map_or(0, |s| s.recovery_point);
    let mut walk = Recovery { dir, options, storage, report, segments: Vec::new(), bases: &bases, recovery_point };
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
    let mut recovered = recovered;
    for base in leftovers {
        files::delete_segment_files(storage, dir, base)?;
        recovered.report.segments_deleted += 1;
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
fn refuse_missing_segments(dir: &Path, state: &PartitionState, recovered: &Recovered) -> Result<()> {
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

/// The walk over a partition's segments on open, deciding for each what
/// can be trusted.
struct Recovery<'a> {
    dir: &'a Path,
    options: &'a PartitionOptions,
    storage: &'a dyn Storage,
    report: RecoveryReport,
    segments: Vec<Arc<Segment>>,
    bases: &'a [u64],
    /// Offsets below this are synced, per the state file (0 without one).
    recovery_point: u64,
}

impl Recovery<'_> {
    fn run(&mut self, state: Option<PartitionState>) -> Result<SegmentWriter> {
        let clean = state.is_some_and(|s| s.clean);
        let bases = self.bases;
        let Some(&last) = bases.last() else {
            return self.create(state.map_or(0, |s| s.log_start_offset));
        };
        for (i, &base) in bases.iter().enumerate() {
            if let Some(end) = self.segments.last().map(|s| s.end_offset()).filter(|&end| end != base) {
                if !self.later_segments_hold_data(i - 1)? {
                    return self.drop_orphans(i);
                }
                let path = self.dir.join(files::file_name(base, "log"));
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

    /// Segments from `bases[from]` on hold no record and do not start where
    /// the segment before them ends: a roll that failed (or was cut short by
    /// a crash) after creating them, before any record went in — inside the
    /// previous segment, or past its end when a power cut took the unsynced
    /// tail it was rolled at. They are deleted, and the segment before them
    /// is the active one again.
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
        let Some(verified) = check::verify_seal(self.dir, base)? else { return Ok(None) };
        let times =
            check::load_time_index(self.dir, base, &verified, self.options.segments.index_interval_bytes as u64)?;
        if !is_last || verified.compacted {
            let segment = Segment::open_sealed(self.dir, base, verified.log_len, times, verified.compacted)?;
            if is_last {
                // A compacted segment is never appended to: a new active
                // segment starts at its end.
                let end = segment.end_offset();
                self.segments.push(segment);
                return self.create(end).map(|writer| Some(Trusted::Active(writer)));
            }
            return Ok(Some(Trusted::Sealed(segment)));
        }
        let first_timestamp = verified.first_timestamp;
        let parts = OpenParts::existing(self.dir, base, verified.log_len)?;
        let capacity = self.options.segments.segment_bytes as usize;
        let writer = SegmentWriter::open(self.dir, base, capacity, parts, times, first_timestamp)?;
        Ok(Some(Trusted::Active(writer)))
    }

    /// Scans segment `bases[i]` frame by frame. Returns the writer when it
    /// turns out to be the last segment holding data; later segments hold
    /// none then and are deleted, and a torn tail is cut.
    fn scan_segment(&mut self, i: usize, base: u64) -> Result<Option<SegmentWriter>> {
        self.report.segments_scanned += 1;
        let log_path = self.dir.join(files::file_name(base, "log"));
        // Everything is learned from the map, which is dropped before the
        // file is cut or rewritten: a mapped file is never written.
        let examined =
            Examined::of(&FileBytes::map(&log_path)?, base, self.options.segments.index_interval_bytes as u64);
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
        scan: check::Scan,
        first_timestamp: Option<i64>,
        active: bool,
    ) -> Result<Option<SegmentWriter>> {
        self.report.indexes_rebuilt += 1;
        // A compacted segment stays sealed; a new one is appended to.
        let compacted = scan.compacted_end.is_some();
        let parts = rewrite_valid_prefix(self.storage, self.dir, base, &scan, active && !compacted)?;
        if active && !compacted {
            let capacity = self.options.segments.segment_bytes as usize;
            return SegmentWriter::open(self.dir, base, capacity, parts, scan.times, first_timestamp).map(Some);
        }
        let log_len = parts.log_len as u64;
        drop(parts);
        let segment = Segment::open_sealed(self.dir, base, log_len, scan.times, compacted)?;
        let end = segment.end_offset();
        self.segments.push(segment);
        if active {
            return self.create(end).map(Some);
        }
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
            let log = FileBytes::map(&self.dir.join(files::file_name(base, "log")))?;
            count += check::scan(&log, base, u64::MAX).positions.len() as u64;
        }
        Ok(count)
    }

    /// Whether any segment after `bases[i]` starts with a valid record.
    fn later_segments_hold_data(&self, i: usize) -> Result<bool> {
        for &base in self.bases.iter().skip(i + 1) {
            let log = FileBytes::map(&self.dir.join(files::file_name(base, "log")))?;
            // A compacted segment holds its range of offsets even when
            // compaction removed every record of it.
            let compacted = header::compacted_end(&log).is_some();
            let first_frame_valid =
                log.get(LOG_HEADER_BYTES..).is_some_and(|frames| check::valid_frame_len(frames, base).is_some());
            if compacted || first_frame_valid {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Deletes the files of segments `bases[from..]`.
    fn delete_from(&mut self, from: usize) -> Result<()> {
        for &base in self.bases.iter().skip(from) {
            if files::delete_segment_files(self.storage, self.dir, base)? {
                self.report.segments_deleted += 1;
            }
        }
        self.bases = &self.bases[..from.min(self.bases.len())];
        Ok(())
    }

    fn create(&mut self, base: u64) -> Result<SegmentWriter> {
        let writer = SegmentWriter::create(self.storage, self.dir, base, self.options.segments.segment_bytes as usize)?;
        self.storage.sync_dir(self.dir).map_err(|e| Error::io(IoOp::SyncDirectory, self.dir, e))?;
        Ok(writer)
    }
}

enum Trusted {
    Sealed(Arc<Segment>),
    Active(SegmentWriter),
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
        files::delete_segment_files(storage, dir, base)?;
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
        files::delete_segment_files(storage, dir, base)?;
        report.segments_deleted += 1;
    }
    report.restarted_from = Some(end);
    let writer = SegmentWriter::create(storage, dir, start, options.segments.segment_bytes as usize)?;
    Ok(Recovered { segments: Vec::new(), writer, log_start_offset: start, report })
}

/// Removes `*.tmp` files larder left behind (interrupted atomic writes).
fn remove_temp_files(storage: &dyn Storage, dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(IoOp::List, dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let ours = name.to_str().and_then(|n| n.strip_suffix(".tmp")).is_some_and(|n| {
            let stem = [".log", ".idx", ".tix"].iter().find_map(|extension| n.strip_suffix(extension));
            n.starts_with("partition.")
                || stem.is_some_and(|stem| files::parse_log_name(&format!("{stem}.log")).is_some())
        });
        if ours {
            storage.remove_file(&entry.path()).map_err(|e| Error::io(IoOp::Remove, entry.path(), e))?;
        }
    }
    Ok(())
}
