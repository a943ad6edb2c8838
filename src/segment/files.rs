//! A segment's files as files: their names and paths, creating, installing,
//! syncing, listing and deleting them, and reading a whole one through a
//! read-only map.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, IoOp, Result};
use crate::storage::mapping::MappedFile;
use crate::storage::Storage;

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

/// Paths of segment `base_offset`'s three files in `dir`: `.log`, `.idx`,
/// `.tix`.
pub(crate) fn paths(dir: &Path, base_offset: u64) -> [PathBuf; 3] {
    ["log", "idx", "tix"].map(|extension| dir.join(file_name(base_offset, extension)))
}

/// `<name>.tmp` beside `path`: where a file is written before it is
/// renamed into place (recovery removes leftovers).
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or_default()))
}

/// Renames written temporaries into place, then removes the time index a
/// replaced segment may have left (it no longer describes the log).
pub(crate) fn install(storage: &dyn Storage, renames: &[(&Path, &Path)], time_path: &Path) -> Result<()> {
    for (from, to) in renames {
        storage.rename(from, to).map_err(|e| Error::io(IoOp::Rename, to, e))?;
    }
    match storage.remove_file(time_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(IoOp::Remove, time_path, e)),
        _ => Ok(()),
    }
}

pub(crate) fn write_and_sync(
    storage: &dyn Storage,
    file: &File,
    path: &Path,
    position: u64,
    bytes: &[u8],
) -> Result<()> {
    storage.write_at(file, path, position, bytes).map_err(|e| Error::io(IoOp::Write, path, e))?;
    storage.sync_file(file, path).map_err(|e| Error::io(IoOp::Sync, path, e))
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

/// Deletes a segment's files; whether its log existed.
pub(crate) fn delete_segment_files(storage: &dyn Storage, dir: &Path, base: u64) -> Result<bool> {
    let mut existed = false;
    for (n, path) in paths(dir, base).iter().enumerate() {
        match storage.remove_file(path) {
            Ok(()) => existed |= n == 0,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(IoOp::Remove, path, e)),
        }
    }
    Ok(existed)
}

/// Highest base offset a segment may have: a segment holds fewer than
/// `i32::MAX` records (each frame takes bytes of a file of at most that
/// length), so its offsets, and the end offset after them, stay below
/// `u64::MAX`. A higher base is a crafted name, never one larder made.
pub(crate) const MAX_BASE_OFFSET: u64 = u64::MAX - i32::MAX as u64;

/// Base offsets of the `.log` files in `dir`, ascending; other files are
/// left alone. A segment based above [`MAX_BASE_OFFSET`] is corruption.
pub(crate) fn list_bases(dir: &Path) -> Result<Vec<u64>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(IoOp::List, dir, e))?;
    let mut bases = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(IoOp::List, dir, e))?;
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if let Some(base) = entry.file_name().to_str().and_then(parse_log_name) {
            if !is_file {
                let reason = "a segment name that is not a regular file";
                return Err(Error::corrupt(entry.path(), 0, reason));
            }
            if base > MAX_BASE_OFFSET {
                let reason = format!("a segment base offset above {MAX_BASE_OFFSET} leaves no room for its records");
                return Err(Error::corrupt(entry.path(), 0, reason));
            }
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// A whole file's bytes through a read-only map (no copy); empty when the
/// file is empty or missing.
pub(crate) enum FileBytes {
    Mapped(Arc<MappedFile>),
    Empty,
}

impl FileBytes {
    pub(crate) fn map(path: &Path) -> Result<FileBytes> {
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

/// Opens `path`, for writing too when `writable`.
pub(crate) fn open(path: &Path, writable: bool) -> Result<File> {
    std::fs::OpenOptions::new().read(true).write(writable).open(path).map_err(|e| Error::io(IoOp::Open, path, e))
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
}
