//! The file layer: every call larder makes that changes what is on disk or
//! makes it durable (create, allocate, resize, write of metadata, sync,
//! rename, remove, directory sync) goes through a [`Storage`]. The default,
//! [`OsStorage`], calls the operating system; tests substitute a layer that
//! injects failures (see the `fault-injection` feature).
//!
//! Record bytes themselves are written through shared memory maps of
//! allocated file space (see `mapping`), so they reach the page cache
//! without a system call; their durability still comes from
//! [`Storage::sync_file`].

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use fs2::FileExt as _;

use crate::error::errno::ENOSPC;
use crate::error::{Error, IoOp, Result};

#[cfg(feature = "fault-injection")]
#[cfg_attr(docsrs, doc(cfg(feature = "fault-injection")))]
pub mod fault;
pub(crate) mod le;
pub(crate) mod lock;
#[allow(unsafe_code)]
pub(crate) mod mapping;
pub(crate) mod meta;

/// The operations larder performs on files and directories.
pub trait Storage: Send + Sync + Debug {
    /// Creates (or truncates) `path` for reading and writing.
    fn create_file(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)
    }

    /// Opens an existing `path`, for writing too when `writable`.
    fn open_file(&self, path: &Path, writable: bool) -> io::Result<File> {
        OpenOptions::new().read(true).write(writable).open(path)
    }

    /// Writes all of `bytes` at byte `position` of `file`.
    fn write_at(&self, file: &File, path: &Path, position: u64, bytes: &[u8]) -> io::Result<()> {
        let _ = path;
        file.write_all_at(bytes, position)
    }

    /// Makes sure `file` has real disk space for its first `len_bytes`
    /// bytes, growing it to that length if it is shorter.
    fn allocate(&self, file: &File, path: &Path, len_bytes: u64) -> io::Result<()> {
        file.allocate(len_bytes).map_err(|reported| allocation_error(reported, file, path, len_bytes))
    }

    /// Sets the length of `file`, cutting or zero-extending it.
    fn set_len(&self, file: &File, path: &Path, len_bytes: u64) -> io::Result<()> {
        let _ = path;
        file.set_len(len_bytes)
    }

    /// Makes the data of `file` durable (fdatasync), including writes made
    /// through memory maps of it.
    fn sync_file(&self, file: &File, path: &Path) -> io::Result<()> {
        let _ = path;
        file.sync_data()
    }

    /// Makes the entries of directory `dir` durable (fsync of the directory).
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    /// Renames `from` to `to`, replacing `to` atomically.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    /// Removes the file `path`.
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    /// Creates directory `dir` and its missing parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
}

/// Makes the entries of `dir` durable, as an [`Error`] naming it.
pub(crate) fn sync_dir(storage: &dyn Storage, dir: &Path) -> Result<()> {
    storage.sync_dir(dir).map_err(|e| Error::io(IoOp::SyncDirectory, dir, e))
}

/// Creates `dir` and any missing parents, durably: the parent of each
/// directory created is synced, so none of them vanishes in a crash.
pub(crate) fn create_dir_synced(storage: &dyn Storage, dir: &Path) -> Result<()> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    storage.create_dir_all(dir).map_err(|e| Error::io(IoOp::CreateDirectory, dir, e))?;
    for created in missing.iter().rev() {
        let parent = created.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        sync_dir(storage, parent)?;
    }
    Ok(())
}

/// Removes the directory tree at `dir`, its files through the file layer.
pub(crate) fn remove_tree(storage: &dyn Storage, dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(IoOp::List, dir, e))? {
        let path = entry.map_err(|e| Error::io(IoOp::List, dir, e))?.path();
        if path.is_dir() {
            remove_tree(storage, &path)?;
        } else {
            storage.remove_file(&path).map_err(|e| Error::io(IoOp::Remove, &path, e))?;
        }
    }
    std::fs::remove_dir(dir).map_err(|e| Error::io(IoOp::RemoveDirectory, dir, e))
}

/// The real cause of a failed allocation. fs2 0.4 builds its error from
/// `errno` after `posix_fallocate`, which returns its error number instead
/// of setting `errno` (fs2-rs pull request #42), so what it reports is
/// whatever `errno` held — "Success", say, on a full disk. A full disk is
/// confirmed from the free space; anything else is reported as an
/// allocation failure of unknown cause.
fn allocation_error(reported: io::Error, file: &File, path: &Path, len_bytes: u64) -> io::Error {
    if reported.raw_os_error() == Some(ENOSPC) {
        return reported;
    }
    let needed = len_bytes.saturating_sub(file.allocated_size().unwrap_or(0));
    match fs2::available_space(path) {
        Ok(available) if available < needed => io::Error::from_raw_os_error(ENOSPC),
        _ => io::Error::other(format!("posix_fallocate of {len_bytes} bytes failed (its error is not reported)")),
    }
}

/// The operating system's file calls, unchanged.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsStorage;

impl Storage for OsStorage {}
