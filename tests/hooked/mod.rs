//! Shared by the tests of races and failures: a file layer that runs a hook before
//! every call, so a test can fail, count or park any call it picks.
#![allow(dead_code)]

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use larder::storage::{OsStorage, Storage};
use parking_lot::Mutex;

/// The kind of a file-layer call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Create,
    Open,
    Write,
    Allocate,
    SetLen,
    Sync,
    SyncDir,
    Rename,
    Remove,
    CreateDir,
}

type Hook = Box<dyn Fn(Call, &Path) -> io::Result<()> + Send + Sync>;

/// Passes every call to the OS after the hook (if any) allows it. With
/// `skip_syncs`, fdatasync and directory fsync are not really done (for
/// speed, in tests that never cut the power).
#[derive(Default)]
pub struct Hooked {
    hook: Mutex<Option<Arc<Hook>>>,
    pub skip_syncs: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Hooked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hooked")
    }
}

impl Hooked {
    pub fn new() -> Arc<Hooked> {
        Arc::new(Hooked::default())
    }

    pub fn fast() -> Arc<Hooked> {
        let hooked = Hooked::default();
        hooked.skip_syncs.store(true, std::sync::atomic::Ordering::SeqCst);
        Arc::new(hooked)
    }

    pub fn set(&self, hook: impl Fn(Call, &Path) -> io::Result<()> + Send + Sync + 'static) {
        *self.hook.lock() = Some(Arc::new(Box::new(hook)));
    }

    pub fn clear(&self) {
        *self.hook.lock() = None;
    }

    fn run(&self, call: Call, path: &Path) -> io::Result<()> {
        let hook = self.hook.lock().clone();
        match hook {
            Some(hook) => hook(call, path),
            None => Ok(()),
        }
    }

    fn skipping(&self) -> bool {
        self.skip_syncs.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub fn eio() -> io::Error {
    io::Error::from_raw_os_error(5)
}

impl Storage for Hooked {
    fn create_file(&self, path: &Path) -> io::Result<File> {
        self.run(Call::Create, path)?;
        OsStorage.create_file(path)
    }
    fn open_file(&self, path: &Path, writable: bool) -> io::Result<File> {
        self.run(Call::Open, path)?;
        OsStorage.open_file(path, writable)
    }
    fn write_at(&self, file: &File, path: &Path, position: u64, bytes: &[u8]) -> io::Result<()> {
        self.run(Call::Write, path)?;
        OsStorage.write_at(file, path, position, bytes)
    }
    fn allocate(&self, file: &File, path: &Path, len_bytes: u64) -> io::Result<()> {
        self.run(Call::Allocate, path)?;
        OsStorage.allocate(file, path, len_bytes)
    }
    fn set_len(&self, file: &File, path: &Path, len_bytes: u64) -> io::Result<()> {
        self.run(Call::SetLen, path)?;
        OsStorage.set_len(file, path, len_bytes)
    }
    fn sync_file(&self, file: &File, path: &Path) -> io::Result<()> {
        self.run(Call::Sync, path)?;
        if self.skipping() {
            return Ok(());
        }
        OsStorage.sync_file(file, path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.run(Call::SyncDir, dir)?;
        if self.skipping() {
            return Ok(());
        }
        OsStorage.sync_dir(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.run(Call::Rename, to)?;
        OsStorage.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.run(Call::Remove, path)?;
        OsStorage.remove_file(path)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.run(Call::CreateDir, dir)?;
        OsStorage.create_dir_all(dir)
    }
}
