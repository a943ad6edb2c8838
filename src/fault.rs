//! A file layer that injects failures, for larder's own tests and for
//! applications that want to test their handling of a failing disk.
//! Enabled by the `fault-injection` feature.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::storage::{OsStorage, Storage};

/// `EIO`: what Linux reports when write-back of a synced file failed.
const EIO: i32 = 5;
/// `ENOSPC`: no space left on the device.
const ENOSPC: i32 = 28;

/// Passes every call to the operating system, counts syncs, and fails the
/// calls it is told to fail.
#[derive(Debug, Default)]
pub struct FaultStorage {
    fail_syncs: AtomicBool,
    fail_allocations: AtomicBool,
    skip_syncs: AtomicBool,
    file_syncs: AtomicU64,
    dir_syncs: AtomicU64,
}

impl FaultStorage {
    /// A layer that fails nothing yet.
    pub fn new() -> Self {
        FaultStorage::default()
    }

    /// From now on, every file sync fails with `EIO` (or stops failing).
    pub fn fail_syncs(&self, fail: bool) {
        self.fail_syncs.store(fail, Ordering::SeqCst);
    }

    /// From now on, every allocation of disk space fails with `ENOSPC`, as
    /// on a full disk (or stops failing, as when space was freed).
    pub fn fail_allocations(&self, fail: bool) {
        self.fail_allocations.store(fail, Ordering::SeqCst);
    }

    /// Skips the real fsync calls (still counting them): for tests that
    /// simulate process crashes only, where the page cache survives, to run
    /// thousands of cases quickly.
    pub fn skip_syncs(&self, skip: bool) {
        self.skip_syncs.store(skip, Ordering::SeqCst);
    }

    /// File syncs (fdatasync) requested so far.
    pub fn file_syncs(&self) -> u64 {
        self.file_syncs.load(Ordering::SeqCst)
    }

    /// Directory syncs requested so far.
    pub fn dir_syncs(&self) -> u64 {
        self.dir_syncs.load(Ordering::SeqCst)
    }
}

impl Storage for FaultStorage {
    fn allocate(&self, file: &File, path: &Path, len_bytes: u64) -> io::Result<()> {
        if self.fail_allocations.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(ENOSPC));
        }
        OsStorage.allocate(file, path, len_bytes)
    }

    fn sync_file(&self, file: &File, path: &Path) -> io::Result<()> {
        self.file_syncs.fetch_add(1, Ordering::SeqCst);
        if self.fail_syncs.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(EIO));
        }
        if self.skip_syncs.load(Ordering::SeqCst) {
            return Ok(());
        }
        OsStorage.sync_file(file, path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.dir_syncs.fetch_add(1, Ordering::SeqCst);
        if self.skip_syncs.load(Ordering::SeqCst) {
            return Ok(());
        }
        OsStorage.sync_dir(dir)
    }
}
