//! Exclusive directory locks: a lock file held (fs2 `flock`) while a log or
//! partition is open, so a second opener — in this process or another —
//! fails at once with [`Error::Locked`].

use std::fs::File;
use std::path::Path;

use fs2::FileExt as _;

use crate::error::{Error, IoOp, Result};

/// An exclusive lock on a directory, held through a lock file.
#[derive(Debug)]
pub(crate) struct DirLock(File);

impl Drop for DirLock {
    /// Unlocks explicitly rather than by closing the file: a child process
    /// forked meanwhile shares the open file (until it execs), and the lock
    /// would stay held as long as it does.
    fn drop(&mut self) {
        let _ = fs2::FileExt::unlock(&self.0);
    }
}

/// Takes the exclusive lock file `name` of `dir`, failing at once with
/// [`Error::Locked`] if it is held (by this process or another).
pub(crate) fn lock_file(dir: &Path, name: &str) -> Result<DirLock> {
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(IoOp::Lock, &path, e))?;
    match file.try_lock_exclusive() {
        Ok(()) => Ok(DirLock(file)),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.raw_os_error() == Some(11) => {
            Err(Error::Locked { path: dir.to_path_buf() })
        }
        Err(e) => Err(Error::io(IoOp::Lock, &path, e)),
    }
}
