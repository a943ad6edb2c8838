//! Compacted segments on disk: writing one beside the segment it replaces,
//! and the swap that installs it so that a crash at any step leaves either
//! the old segment or the new one (docs/FORMAT.md, "Compaction").
//!
//! A compacted segment has the same base offset and the same end offset as
//! the segment it replaces, a version 2 log header naming that end, the
//! surviving frames copied byte for byte (each still holds its offset), and
//! a dense index whose entry for a removed offset is the position of the
//! next surviving frame, or the log's length after the last one.
//!
//! The swap of segment `B`:
//! 1. `B.log.cleaned`, `B.idx.cleaned`, `B.tix.cleaned` are written and
//!    synced ([`write_cleaned`]).
//! 2. `B.idx.cleaned` and `B.tix.cleaned` are renamed to `.swap`, then
//!    `B.log.cleaned` to `B.log.swap`: that rename commits the swap. The
//!    directory is synced.
//! 3. `B.idx.swap`, `B.tix.swap`, then `B.log.swap` are renamed over the old
//!    files; the directory is synced.
//!
//! On open, [`settle_swaps`] completes step 3 wherever a `B.log.swap`
//! exists (committed), and removes every other `.cleaned` or `.swap` file
//! (a swap that never committed: the old files are untouched).

use std::path::{Path, PathBuf};

use crate::error::{Error, IoOp, Result};
use crate::segment::files::{self, create_with};
use crate::segment::header::{encode_compacted_log_header, LOG_HEADER_BYTES};
use crate::segment::index::{self, IndexHeader, Seal};
use crate::segment::time_index::TimeIndex;
use crate::storage::Storage;

/// Suffix of a compacted segment's files while they are written.
const CLEANED: &str = "cleaned";
/// Suffix of a compacted segment's files once the swap is committed.
const SWAP: &str = "swap";

/// `B.<ext>.<suffix>` for each of segment `base`'s three files.
fn suffixed(dir: &Path, base: u64, suffix: &str) -> [PathBuf; 3] {
    files::paths(dir, base).map(|path| {
        let mut name = path.into_os_string();
        name.push(".");
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// A frame that survives compaction: its offset, timestamp and bytes.
pub(crate) struct Survivor<'a> {
    pub(crate) offset: u64,
    pub(crate) timestamp_ms: i64,
    pub(crate) frame: &'a [u8],
}

/// Step 1: writes and syncs the compacted replacement of segment
/// `base..end` holding `survivors` (in offset order, inside the range) as
/// `.cleaned` files; its header keeps `replaced_max_timestamp`, the newest
/// timestamp of the records it replaces. Returns the new log's length. On failure the
/// `.cleaned` files are removed (best effort; recovery removes leftovers).
pub(crate) fn write_cleaned<'a>(
    storage: &dyn Storage,
    dir: &Path,
    base: u64,
    end: u64,
    survivors: impl Iterator<Item = Survivor<'a>>,
    interval_bytes: u64,
    replaced_max_timestamp: Option<i64>,
) -> Result<u64> {
    debug_assert!(end > base);
    let [log_path, index_path, time_path] = suffixed(dir, base, CLEANED);
    let mut log = vec![0u8; LOG_HEADER_BYTES];
    let mut positions = Vec::with_capacity((end - base) as usize);
    let mut times = TimeIndex::default();
    for survivor in survivors {
        debug_assert!(survivor.offset >= base + positions.len() as u64 && survivor.offset < end);
        let position = log.len() as u32;
        let holes = (survivor.offset - base) as usize + 1 - positions.len();
        positions.extend(std::iter::repeat_n(position, holes));
        times.observe(survivor.offset, survivor.timestamp_ms, survivor.frame.len() as u64, interval_bytes);
        log.extend_from_slice(survivor.frame);
    }
    let log_len = log.len() as u64;
    positions.resize((end - base) as usize, log_len as u32);
    log[..LOG_HEADER_BYTES].copy_from_slice(&encode_compacted_log_header(base, log_len, end, replaced_max_timestamp));
    let entries = index::encode_entries(&positions);
    let seal = Seal { entry_count: end - base, log_len, entries_crc: crc32c::crc32c(&entries) };
    let mut index_bytes = index::encode_index_header(&IndexHeader { base_offset: base, seal: Some(seal) }).to_vec();
    index_bytes.extend_from_slice(&entries);
    let written = create_with(storage, &log_path, &log)
        .and_then(|_| create_with(storage, &index_path, &index_bytes))
        .and_then(|_| create_with(storage, &time_path, &times.encode(base)));
    if let Err(error) = written {
        remove_cleaned(storage, dir, base);
        return Err(error);
    }
    Ok(log_len)
}

/// Removes segment `base`'s `.cleaned` files, if any (best effort).
pub(crate) fn remove_cleaned(storage: &dyn Storage, dir: &Path, base: u64) {
    for path in suffixed(dir, base, CLEANED) {
        let _ = storage.remove_file(&path);
    }
}

/// Steps 2 and 3: commits the swap of segment `base` and installs its
/// compacted files. An error before the commit leaves the old files in
/// place (the caller may go on with them); [`SwapError::Committed`] says
/// the swap committed but was not completed: the old files may be half
/// replaced on disk, and the next open completes the swap.
pub(crate) fn swap_in(storage: &dyn Storage, dir: &Path, base: u64) -> std::result::Result<(), SwapError> {
    let cleaned = suffixed(dir, base, CLEANED);
    let swap = suffixed(dir, base, SWAP);
    let rename = |from: &Path, to: &Path| storage.rename(from, to).map_err(|e| Error::io(IoOp::Rename, to, e));
    // Step 2: the index and time index first, the log last (the commit).
    let committed = rename(&cleaned[1], &swap[1])
        .and_then(|()| rename(&cleaned[2], &swap[2]))
        .and_then(|()| rename(&cleaned[0], &swap[0]));
    if let Err(error) = committed {
        for path in cleaned.iter().chain(&swap) {
            let _ = storage.remove_file(path);
        }
        return Err(SwapError::Uncommitted(error));
    }
    complete(storage, dir, base).map_err(SwapError::Committed)
}

/// Step 3 (and the directory sync that makes step 2 durable first).
fn complete(storage: &dyn Storage, dir: &Path, base: u64) -> Result<()> {
    crate::storage::sync_dir(storage, dir)?;
    let swap = suffixed(dir, base, SWAP);
    let targets = files::paths(dir, base);
    for n in [1, 2, 0] {
        match storage.rename(&swap[n], &targets[n]) {
            Ok(()) => {}
            // Renamed already by an earlier, interrupted completion.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && n != 0 => {}
            Err(e) => return Err(Error::io(IoOp::Rename, &targets[n], e)),
        }
    }
    crate::storage::sync_dir(storage, dir)
}

/// Why a swap failed.
#[derive(Debug)]
pub(crate) enum SwapError {
    /// Before the commit: the old segment's files are untouched.
    Uncommitted(Error),
    /// After the commit: the next open completes the swap.
    Committed(Error),
}

/// On open, before segments are read: completes every committed swap in
/// `dir` and removes the files of uncommitted ones. Returns how many swaps
/// were completed.
pub(crate) fn settle_swaps(storage: &dyn Storage, dir: &Path) -> Result<usize> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(IoOp::List, dir, e))?;
    let mut committed = Vec::new();
    let mut leftovers = Vec::new();
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let Some((stem, suffix)) = name.rsplit_once('.') else { continue };
        if suffix != CLEANED && suffix != SWAP {
            continue;
        }
        let base = [".log", ".idx", ".tix"]
            .iter()
            .find_map(|extension| stem.strip_suffix(extension))
            .and_then(|digits| files::parse_log_name(&format!("{digits}.log")));
        let Some(base) = base else { continue };
        if suffix == SWAP && stem.ends_with(".log") {
            committed.push(base);
        } else {
            leftovers.push(entry.path());
        }
    }
    for &base in &committed {
        complete(storage, dir, base)?;
    }
    for path in leftovers {
        // Files of a committed swap were renamed by its completion.
        match storage.remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(IoOp::Remove, &path, e)),
            _ => {}
        }
    }
    if !committed.is_empty() {
        crate::storage::sync_dir(storage, dir)?;
    }
    Ok(committed.len())
}
