//! Whether a segment's files can be trusted, as pure functions over their
//! bytes: the frame-by-frame scan that finds the valid prefix of a `.log`,
//! what it found ([`Examined`]), and the verification of a sealed index
//! against its log ([`verify_seal`]) and of a time index's last entry.

use std::path::Path;

use crate::error::Result;
use crate::record::codec::{self, FrameError, Layout, FRAME_HEADER_BYTES};
use crate::segment::files::{self, FileBytes};
use crate::segment::header::{self, LogHeader, LOG_HEADER_BYTES};
use crate::segment::index::{self, IndexHeader, Seal, INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES};
use crate::segment::time_index::TimeIndex;
use crate::storage::{le, meta};

/// The valid prefix of a log file, found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    /// The dense index of the valid frames: the position of each offset
    /// from the base on, in a compacted segment the position of the first
    /// surviving frame at or after it (the end of the log past the last).
    pub(crate) positions: Vec<u32>,
    /// The end offset a compacted segment's header names.
    pub(crate) compacted_end: Option<u64>,
    /// The newest timestamp of the records a compacted segment replaced.
    pub(crate) compacted_max_timestamp: Option<i64>,
    /// The time index of the valid frames.
    pub(crate) times: TimeIndex,
    /// End of the last valid frame.
    pub(crate) valid_end: usize,
    /// Why the scan stopped before the end of the bytes, if it did, other
    /// than reaching zeroed (never written) space.
    pub(crate) stop: Option<FrameError>,
}

/// Most offsets one segment can span: one per smallest frame of the
/// largest segment. A compacted header naming a longer span is not ours.
pub(crate) const MAX_SEGMENT_SPAN: u64 = (i32::MAX as u64 - LOG_HEADER_BYTES as u64) / FRAME_HEADER_BYTES as u64 + 1;

/// Walks the frames of a whole `.log` file (header included) from the first
/// one, checking each frame's CRC and that it holds offset `base + n` — or,
/// in a compacted segment, an offset above the previous frame's and below
/// the segment's end, holes in between pointing at the next frame.
pub(crate) fn scan(log: &[u8], base_offset: u64, interval_bytes: u64) -> Scan {
    let compacted_end =
        header::compacted_end(log).filter(|&end| end > base_offset && end - base_offset <= MAX_SEGMENT_SPAN);
    let mut scan = Scan {
        positions: Vec::new(),
        compacted_end,
        compacted_max_timestamp: compacted_end
            .and_then(|_| header::decode_log_header(log).ok()?.compacted_max_timestamp),
        times: TimeIndex::default(),
        valid_end: LOG_HEADER_BYTES,
        stop: None,
    };
    let mut position = LOG_HEADER_BYTES;
    while position < log.len() {
        let next = base_offset + scan.positions.len() as u64;
        let found = match compacted_end {
            None => check_frame(&log[position..], next).map(|(layout, timestamp)| (next, layout, timestamp)),
            Some(end) => check_frame_within(&log[position..], next, end),
        };
        match found {
            Ok((offset, layout, timestamp)) => {
                let holes = (offset - next) as usize;
                scan.positions.extend(std::iter::repeat_n(position as u32, holes + 1));
                scan.times.observe(offset, timestamp, layout.frame_len() as u64, interval_bytes);
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
    // The holes after a compacted segment's last frame, if nothing is wrong.
    if let Some(end) = compacted_end.filter(|_| scan.stop.is_none()) {
        let holes = end.saturating_sub(base_offset + scan.positions.len() as u64) as usize;
        scan.positions.extend(std::iter::repeat_n(scan.valid_end as u32, holes));
    }
    scan
}

/// Validates the frame at the start of `bytes` of a compacted segment: its
/// offset at least `next` and below `end`.
pub(crate) fn check_frame_within(bytes: &[u8], next: u64, end: u64) -> Result<(u64, Layout, i64), FrameError> {
    let view = codec::decode(bytes)?;
    if view.offset() < next || view.offset() >= end {
        return Err(FrameError::OffsetMismatch { expected: next, found: view.offset() });
    }
    Ok((view.offset(), view.layout(), view.timestamp_ms()))
}

/// Validates the frame at the start of `bytes` and that it holds `expected`.
pub(crate) fn check_frame(bytes: &[u8], expected: u64) -> Result<(Layout, i64), FrameError> {
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

/// What a scan of one `.log` file found, read from its map (which is
/// dropped before anything is rewritten).
pub(crate) struct Examined {
    pub(crate) header: Result<LogHeader, &'static str>,
    /// No byte of the file was ever written (a creation cut short).
    pub(crate) never_written: bool,
    pub(crate) scan: Scan,
    /// Written bytes after the valid prefix.
    pub(crate) tail_bytes: u64,
    /// Records those bytes seem to hold.
    pub(crate) tail_records: u64,
    /// Records the bytes after the header seem to hold (for a bad header).
    pub(crate) records_after_header: u64,
    pub(crate) first_timestamp: Option<i64>,
}

impl Examined {
    pub(crate) fn of(log: &[u8], base: u64, interval_bytes: u64) -> Examined {
        let scan = scan(log, base, interval_bytes);
        Examined {
            header: header::decode_log_header(log),
            never_written: log.iter().all(|&b| b == 0),
            tail_bytes: written_tail_bytes(log, scan.valid_end),
            tail_records: tail_records(log, scan.valid_end),
            records_after_header: tail_records(log, LOG_HEADER_BYTES.min(log.len())),
            first_timestamp: scan.positions.first().map(|&p| frame_timestamp(log, p as usize)),
            scan,
        }
    }
}

/// A segment whose seal verified: what it vouches for.
pub(crate) struct SealedSegment {
    pub(crate) log_len: u64,
    pub(crate) entry_count: u64,
    pub(crate) first_timestamp: Option<i64>,
    /// A compacted segment (with holes).
    pub(crate) compacted: bool,
}

/// Checks segment `base`'s index seal against its log: header, entry CRC,
/// exact file lengths, and the last frame. `None` if anything disagrees.
/// Reads the index and two frames of the log, never the whole log.
pub(crate) fn verify_seal(dir: &Path, base: u64) -> Result<Option<SealedSegment>> {
    let [log_path, index_path, _] = files::paths(dir, base);
    let index_bytes = FileBytes::map(&index_path)?;
    let Ok(IndexHeader { base_offset, seal: Some(seal) }) = index::decode_index_header(&index_bytes) else {
        return Ok(None);
    };
    let log = FileBytes::map(&log_path)?;
    let entries = &index_bytes[INDEX_HEADER_BYTES..];
    if base_offset != base || !seal_matches(&seal, entries, &log, base) {
        return Ok(None);
    }
    let first_timestamp = (log.len() > LOG_HEADER_BYTES).then(|| frame_timestamp(&log, LOG_HEADER_BYTES));
    let compacted = header::compacted_end(&log).is_some();
    Ok(Some(SealedSegment { log_len: seal.log_len, entry_count: seal.entry_count, first_timestamp, compacted }))
}

fn seal_matches(seal: &Seal, entries: &[u8], log: &[u8], base: u64) -> bool {
    let entries_len = seal.entry_count.checked_mul(INDEX_ENTRY_BYTES as u64);
    let lengths_agree = entries_len == Some(entries.len() as u64) && log.len() as u64 == seal.log_len;
    let header_agrees = header::decode_log_header(log).is_ok_and(|h| h.base_offset == base);
    if !lengths_agree || !header_agrees || crc32c::crc32c(entries) != seal.entries_crc {
        return false;
    }
    if let Some(end) = header::compacted_end(log) {
        return compacted_seal_matches(seal, entries, log, base, end);
    }
    let Some(last) = seal.entry_count.checked_sub(1) else {
        return log.len() == LOG_HEADER_BYTES;
    };
    let position = le::u32_at(entries, last as usize * INDEX_ENTRY_BYTES) as usize;
    let first_ok = valid_frame_len(&log[LOG_HEADER_BYTES..], base).is_some();
    let last_len = log.get(position..).and_then(|tail| valid_frame_len(tail, base + last));
    first_ok && last_len.is_some_and(|len| position + len == log.len())
}

/// The seal of a compacted segment: it spans `base..end` densely; the
/// first frame and the last are valid and where their entries say, the
/// holes before the first point at it and the last ends the log (a segment
/// compaction emptied has every entry at the end of its header). Reads the
/// index and two frames.
fn compacted_seal_matches(seal: &Seal, entries: &[u8], log: &[u8], base: u64, end: u64) -> bool {
    if end <= base || end - base > MAX_SEGMENT_SPAN || seal.entry_count != end - base {
        return false;
    }
    let entry = |n: u64| le::u32_at(entries, n as usize * INDEX_ENTRY_BYTES) as usize;
    if log.len() == LOG_HEADER_BYTES {
        return (0..seal.entry_count).all(|n| entry(n) == LOG_HEADER_BYTES);
    }
    let Ok((first, _, _)) = check_frame_within(&log[LOG_HEADER_BYTES..], base, end) else { return false };
    if entry(0) != LOG_HEADER_BYTES || entry(first - base) != LOG_HEADER_BYTES {
        return false;
    }
    let trailing = (0..seal.entry_count).rev().take_while(|&n| entry(n) == log.len()).count() as u64;
    let Some(last) = seal.entry_count.checked_sub(trailing + 1) else { return false };
    let position = entry(last);
    let frame = log.get(position..).filter(|_| position >= LOG_HEADER_BYTES);
    frame.and_then(|f| valid_frame_len(f, base + last)).is_some_and(|len| position + len == log.len())
}

/// The `.tix` of a trusted segment, or a rebuild from its log if missing or
/// damaged (it is derived data).
pub(crate) fn load_time_index(
    dir: &Path,
    base: u64,
    verified: &SealedSegment,
    interval_bytes: u64,
) -> Result<TimeIndex> {
    let [log_path, index_path, time_path] = files::paths(dir, base);
    let end = base.saturating_add(verified.entry_count);
    let log = FileBytes::map(&log_path)?;
    let decoded = meta::read_if_exists(&time_path)?.and_then(|bytes| TimeIndex::decode(&bytes, base, end));
    let index = FileBytes::map(&index_path);
    if let Some(times) = decoded.filter(|times| time_entries_hold(times, &log, &index, base, verified)) {
        return Ok(times);
    }
    let scan = scan(&log[..verified.log_len as usize], base, interval_bytes);
    Ok(scan.times)
}

/// Whether a decoded time index agrees with what its segment's writer (or
/// compaction) made, reading three frames: the first entry is the first
/// frame's timestamp at its offset (the base, but in a compacted segment),
/// the last entry names a record that is there with that timestamp, and
/// is no older than the last frame. An index with no entry is only right
/// for a segment with no frame. A plausible but false index is rebuilt
/// rather than trusted; an entry in the middle is checked when a lookup
/// relies on it (`Partition::offset_for_timestamp`).
fn time_entries_hold(
    times: &TimeIndex,
    log: &[u8],
    index: &Result<FileBytes>,
    base: u64,
    verified: &SealedSegment,
) -> bool {
    let log = &log[..(verified.log_len as usize).min(log.len())];
    let (Some(first), Some(max)) = (times.first_entry(), times.max_timestamp()) else {
        return log.len() <= LOG_HEADER_BYTES;
    };
    let Ok(index) = index else { return false };
    let records = verified.entry_count;
    let entry = |n: u64| -> Option<usize> {
        let at = index::entry_position(n);
        index.get(at..at + INDEX_ENTRY_BYTES).map(|entry| le::u32_at(entry, 0) as usize)
    };
    // The offset and timestamp of the frame index entry `n` points at: the
    // record at `base + n`, or in a compacted segment the next survivor.
    let frame_at = |n: u64| -> Option<(u64, i64)> {
        let position = entry(n)?;
        let frame = log.get(position..).filter(|_| position >= LOG_HEADER_BYTES)?;
        let offset = match verified.compacted {
            false => valid_frame_len(frame, base + n).map(|_| base + n)?,
            true => check_frame_within(frame, base + n, base + records).ok()?.0,
        };
        Some((offset, frame_timestamp(log, position)))
    };
    // The last frame: in a compacted segment, holes after it point at the
    // end of the log.
    let last = (0..records).rev().find(|&n| entry(n) != Some(log.len()));
    frame_at(0).is_some_and(|(offset, ts)| first == (ts, offset))
        && max.1.checked_sub(base).and_then(frame_at) == Some((max.1, max.0))
        && last.and_then(frame_at).is_some_and(|(_, ts)| ts <= max.0)
}
