//! Shared by the tests of races and failures: a file layer that runs a hook
//! before every call and then passes it to another (the OS, or a
//! `SimStorage` that can also lose power), so a test can fail, count or park
//! any call it picks; and the helpers such tests share.
#![allow(dead_code)]

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::Duration;

pub use larder::storage::fault::FileCall as Call;
use larder::storage::{OsStorage, Storage};
use parking_lot::Mutex;

type Hook = Box<dyn Fn(Call, &Path) -> io::Result<()> + Send + Sync>;

/// Passes every call to `inner` after the hook (if any) allows it. With
/// `skip_syncs`, fdatasync and directory fsync are not really done (for
/// speed, in tests that never cut the power).
pub struct Hooked {
    hook: Mutex<Option<Arc<Hook>>>,
    inner: Arc<dyn Storage>,
    pub skip_syncs: AtomicBool,
}

impl std::fmt::Debug for Hooked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooked").field("inner", &self.inner).finish()
    }
}

impl Hooked {
    /// Hooks in front of the operating system's file layer.
    pub fn new() -> Arc<Hooked> {
        Hooked::over(Arc::new(OsStorage))
    }

    /// Hooks in front of the OS, with syncs skipped.
    pub fn fast() -> Arc<Hooked> {
        let hooked = Hooked::new();
        hooked.skip_syncs.store(true, Ordering::SeqCst);
        hooked
    }

    /// Hooks in front of `inner` (a `SimStorage`, say).
    pub fn over(inner: Arc<dyn Storage>) -> Arc<Hooked> {
        Arc::new(Hooked { hook: Mutex::new(None), inner, skip_syncs: AtomicBool::new(false) })
    }

    /// Runs `hook` before every call from now on; an error it returns is
    /// the call's.
    pub fn set(&self, hook: impl Fn(Call, &Path) -> io::Result<()> + Send + Sync + 'static) {
        *self.hook.lock() = Some(Arc::new(Box::new(hook)));
    }

    pub fn clear(&self) {
        *self.hook.lock() = None;
    }

    /// Parks the first call `pick` selects until the test releases it:
    /// `entered.wait()` returns once it is parked, `release.wait()` lets it
    /// go on.
    pub fn park_on(&self, pick: impl Fn(Call, &Path) -> bool + Send + Sync + 'static) -> (Arc<Barrier>, Arc<Barrier>) {
        let (entered, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
        let (e, r) = (entered.clone(), release.clone());
        let armed = AtomicBool::new(true);
        self.set(move |call, path| {
            if pick(call, path) && armed.swap(false, Ordering::SeqCst) {
                e.wait();
                r.wait();
            }
            Ok(())
        });
        (entered, release)
    }

    fn run(&self, call: Call, path: &Path) -> io::Result<()> {
        let hook = self.hook.lock().clone();
        match hook {
            Some(hook) => hook(call, path),
            None => Ok(()),
        }
    }

    fn skipping(&self) -> bool {
        self.skip_syncs.load(Ordering::SeqCst)
    }
}

pub fn eio() -> io::Error {
    io::Error::from_raw_os_error(5)
}

/// Open file descriptors of this process that point into `dir`.
pub fn open_files_under(dir: &Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(&dir))
        .map(|target| target.display().to_string())
        .collect()
}

/// Gives `thread` up to 200 ms to finish, for a race whose other side is
/// parked: an operation that does not wait for it is done by then, and one
/// that waits is still running (either outcome is then checked; the verdict
/// never depends on the time).
pub fn let_finish<T>(thread: &JoinHandle<T>) {
    for _ in 0..200 {
        if thread.is_finished() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

impl Storage for Hooked {
    fn create_file(&self, path: &Path) -> io::Result<File> {
        self.run(Call::Create, path)?;
        self.inner.create_file(path)
    }
    fn open_file(&self, path: &Path, writable: bool) -> io::Result<File> {
        self.run(Call::Open, path)?;
        self.inner.open_file(path, writable)
    }
    fn write_at(&self, file: &File, path: &Path, position: u64, bytes: &[u8]) -> io::Result<()> {
        self.run(Call::Write, path)?;
        self.inner.write_at(file, path, position, bytes)
    }
    fn allocate(&self, file: &File, path: &Path, len_bytes: u64) -> io::Result<()> {
        self.run(Call::Allocate, path)?;
        self.inner.allocate(file, path, len_bytes)
    }
    fn set_len(&self, file: &File, path: &Path, len_bytes: u64) -> io::Result<()> {
        self.run(Call::SetLen, path)?;
        self.inner.set_len(file, path, len_bytes)
    }
    fn sync_file(&self, file: &File, path: &Path) -> io::Result<()> {
        self.run(Call::Sync, path)?;
        if self.skipping() {
            return Ok(());
        }
        self.inner.sync_file(file, path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.run(Call::SyncDir, dir)?;
        if self.skipping() {
            return Ok(());
        }
        self.inner.sync_dir(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.run(Call::Rename, to)?;
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.run(Call::Remove, path)?;
        self.inner.remove_file(path)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.run(Call::CreateDir, dir)?;
        self.inner.create_dir_all(dir)
    }
}
