//! Exclusive directory locks: a lock file held (fs2 `flock`) while a log or
//! partition is open, so a second opener — in this process or another —
//! fails with [`Error::Locked`].
//!
//! A process killed with SIGKILL keeps its locks until the kernel has torn
//! it down, which takes a moment (tens of milliseconds with large maps): an
//! opener that restarts it at once would see the directory locked. So an
//! opener may wait for the lock, up to a timeout. `flock` has no timed
//! wait, and a blocking one could not be given up on, so the wait retries
//! with a growing pause (1 ms doubling to 16 ms): it is taken once per
//! open, never on a hot path.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use fs2::FileExt as _;

use crate::error::{Error, IoOp, Result};

/// Longest pause between two tries while waiting for a lock.
const RETRY_PAUSE_MAX: Duration = Duration::from_millis(16);

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

/// Takes the exclusive lock file `name` of `dir`, waiting up to `timeout`
/// while it is held (by this process or another), then failing with
/// [`Error::Locked`]. A zero timeout tries once.
pub(crate) fn lock_file(dir: &Path, name: &str, timeout: Duration) -> Result<DirLock> {
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(IoOp::Lock, &path, e))?;
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock_exclusive() {
            Ok(()) => return Ok(DirLock(file)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.raw_os_error() == Some(11) => {}
            Err(e) => return Err(Error::io(IoOp::Lock, &path, e)),
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(Error::Locked { path: dir.to_path_buf() });
        }
        std::thread::sleep(pause.min(timeout - waited));
        pause = (pause * 2).min(RETRY_PAUSE_MAX);
    }
}
