//! File layers that inject failures, for larder's own tests and for
//! applications that want to test their handling of a failing disk.
//! Enabled by the `fault-injection` feature.
//!
//! - [`FaultStorage`] passes calls to the operating system and fails whole
//!   classes of them on demand (every sync, every allocation, ...).
//! - [`PowerLossStorage`] keeps what was written apart from what was made
//!   durable, and [`PowerLossStorage::power_cut`] rewrites the files as a
//!   disk could leave them after losing power.
//! - [`SimStorage`] is a [`PowerLossStorage`] that also counts every call
//!   by kind and fails the k-th call of a kind with `EIO`, `ENOSPC` or
//!   `EMFILE`, once or from then on, as a seeded simulation schedules it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::errno::{EIO, EMFILE, ENOSPC};
use crate::storage::{OsStorage, Storage};

/// Passes every call to the operating system, counts syncs, and fails the
/// calls it is told to fail.
#[derive(Debug, Default)]
pub struct FaultStorage {
    fail_syncs: AtomicBool,
    fail_allocations: AtomicBool,
    fail_writes: AtomicBool,
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

    /// From now on, every write system call fails with `EIO` (or stops
    /// failing). Writes through memory maps do not go through the layer.
    pub fn fail_writes(&self, fail: bool) {
        self.fail_writes.store(fail, Ordering::SeqCst);
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
    fn write_at(&self, file: &File, path: &Path, position: u64, bytes: &[u8]) -> io::Result<()> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(EIO));
        }
        OsStorage.write_at(file, path, position, bytes)
    }

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

/// A file layer that simulates power loss. It passes every call to the
/// operating system, and keeps apart what was written from what was made
/// durable: a file's content as of its last sync, and the creations,
/// renames and removals not yet covered by a sync of their directory.
/// [`PowerLossStorage::power_cut`] then rewrites the files as a disk could
/// leave them after losing power at that moment.
///
/// Record bytes reach files through shared memory maps, which no file layer
/// sees; the durable content of a file is therefore read back from the file
/// when it is synced, which is exactly what a sync makes durable.
///
/// Directories are durable once created (larder syncs the parent of each
/// directory it creates). A renamed directory takes its files with it; a
/// cut that undoes a removal recreates the directories it needs.
#[derive(Debug, Default)]
pub struct PowerLossStorage {
    disk: Mutex<Disk>,
}

#[derive(Debug, Default)]
struct Disk {
    /// Durable content of the file now at each path.
    durable: BTreeMap<PathBuf, Vec<u8>>,
    /// Directory operations not yet made durable, in order.
    pending: Vec<DirOp>,
}

#[derive(Debug)]
enum DirOp {
    Create {
        path: PathBuf,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        replaced: Option<Vec<u8>>,
    },
    /// A directory renamed, with everything in it (larder renames a topic's
    /// directory to delete it).
    RenameDir {
        from: PathBuf,
        to: PathBuf,
    },
    Remove {
        path: PathBuf,
        content: Option<Vec<u8>>,
    },
}

impl DirOp {
    fn in_dir(&self, dir: &Path) -> bool {
        let parent = |p: &Path| p.parent() == Some(dir);
        match self {
            DirOp::Create { path } | DirOp::Remove { path, .. } => parent(path),
            DirOp::Rename { from, to, .. } | DirOp::RenameDir { from, to } => parent(from) || parent(to),
        }
    }

    /// Renames the paths this operation names that lie under `from` to lie
    /// under `to` instead (their directory was renamed).
    fn move_tree(&mut self, from: &Path, to: &Path) {
        match self {
            DirOp::Create { path } | DirOp::Remove { path, .. } => moved(path, from, to),
            DirOp::Rename { from: a, to: b, .. } | DirOp::RenameDir { from: a, to: b } => {
                moved(a, from, to);
                moved(b, from, to);
            }
        }
    }
}

/// Rewrites `path` to lie under `to` if it lies under `from`.
fn moved(path: &mut PathBuf, from: &Path, to: &Path) {
    if let Ok(rest) = path.strip_prefix(from) {
        *path = to.join(rest);
    }
}

impl Disk {
    /// Follows the rename of directory `from` to `to` in the durable
    /// contents and the pending operations.
    fn move_tree(&mut self, from: &Path, to: &Path) {
        let inside: Vec<PathBuf> = self.durable.keys().filter(|p| p.starts_with(from)).cloned().collect();
        for path in inside {
            let content = self.durable.remove(&path).unwrap_or_default();
            let mut target = path;
            moved(&mut target, from, to);
            self.durable.insert(target, content);
        }
        for op in &mut self.pending {
            op.move_tree(from, to);
        }
    }
}

/// How a power cut treats one sector whose written content differs from
/// its durable content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SectorFate {
    Dropped,
    Kept,
    Torn,
    Zeroed,
    Garbled,
}

const SECTOR_BYTES: usize = 512;

impl PowerLossStorage {
    /// A disk on which nothing is pending: files that exist are durable.
    pub fn new() -> Self {
        PowerLossStorage::default()
    }

    /// Cuts the power: undoes the directory operations after a random prefix
    /// of the pending ones (a journal keeps them in order), then rewrites
    /// every tracked file so that each sector it wrote since its last sync
    /// is dropped, kept, torn at a random byte, zeroed or garbled, and its
    /// length is the synced or the written one. Everything synced survives.
    /// Afterwards the disk is in step again: all that exists is durable.
    /// Every process holding the files must be gone (or act as if it were).
    pub fn power_cut(&self, seed: u64) -> io::Result<()> {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut disk = self.disk.lock();
        let surviving = rng.below(disk.pending.len() as u64 + 1) as usize;
        let mut reverted: Vec<DirOp> = disk.pending.drain(surviving..).rev().collect();
        let mut untouchable = Vec::new();
        while !reverted.is_empty() {
            let op = reverted.remove(0);
            if let DirOp::RenameDir { from, to } = &op {
                // Earlier operations, still to undo, happened before the
                // move: they name the paths it moves back.
                for earlier in &mut reverted {
                    earlier.move_tree(to, from);
                }
            }
            untouchable.extend(revert(&mut disk, op)?);
        }
        disk.pending.clear();
        let paths: Vec<PathBuf> = disk.durable.keys().filter(|p| !untouchable.contains(p)).cloned().collect();
        for path in paths {
            let Ok(written) = std::fs::read(&path) else { continue };
            let durable = &disk.durable[&path];
            if &written != durable {
                std::fs::write(&path, mix(&mut rng, durable, &written))?;
            }
        }
        let durable: BTreeMap<PathBuf, Vec<u8>> =
            disk.durable.keys().filter_map(|p| std::fs::read(p).ok().map(|c| (p.clone(), c))).collect();
        disk.durable = durable;
        Ok(())
    }

    /// Directory operations not yet made durable.
    pub fn pending_directory_operations(&self) -> usize {
        self.disk.lock().pending.len()
    }
}

/// Undoes one directory operation on disk; returns the paths it restored
/// to their durable content (nothing unsynced is left to mix there).
fn revert(disk: &mut Disk, op: DirOp) -> io::Result<Vec<PathBuf>> {
    let durable = &mut disk.durable;
    match op {
        DirOp::Create { path } => {
            durable.remove(&path);
            remove_if_exists(&path)?;
            Ok(Vec::new())
        }
        DirOp::Rename { from, to, replaced } => {
            let moved = durable.remove(&to).unwrap_or_default();
            restore(&from, &moved)?;
            durable.insert(from.clone(), moved);
            match replaced {
                Some(content) => {
                    restore(&to, &content)?;
                    durable.insert(to.clone(), content);
                }
                None => remove_if_exists(&to)?,
            }
            Ok(vec![from, to])
        }
        DirOp::RenameDir { from, to } => {
            if to.is_dir() {
                std::fs::rename(&to, &from)?;
            } else {
                std::fs::create_dir_all(&from)?;
            }
            disk.move_tree(&to, &from);
            Ok(Vec::new())
        }
        DirOp::Remove { path, content } => {
            let content = content.unwrap_or_default();
            restore(&path, &content)?;
            durable.insert(path.clone(), content);
            Ok(vec![path])
        }
    }
}

/// Writes `content` back to `path`, recreating its directory if it was
/// removed meanwhile (larder removes a deleted topic's directories).
fn restore(path: &Path, content: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, content)
}

/// Everything `file` holds, read through the handle up to its end as it is
/// while reading (another thread may cut or grow it meanwhile), without
/// moving its cursor.
fn read_whole(file: &File) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt as _;
    let mut content = Vec::with_capacity(file.metadata()?.len() as usize);
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        match file.read_at(&mut chunk, content.len() as u64) {
            Ok(0) => return Ok(content),
            Ok(n) => content.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Whether two metadata describe the same file (device and inode).
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What a file holds after a power cut, from its `durable` content and
/// what was `written` since, sector by sector. The model is "powersafe
/// overwrite", as SQLite assumes by default and as disks provide: a byte a
/// write did not change keeps its value, and a changed byte inside the
/// durable part of the file ends up old or new (the sector torn at some
/// point) — never garbage. Past the durable end, a sector may be dropped,
/// kept, torn, zeroed or garbled.
fn mix(rng: &mut Rng, durable: &[u8], written: &[u8]) -> Vec<u8> {
    let len = if written.len() == durable.len() || rng.below(2) == 0 { written.len() } else { durable.len() };
    let mut out = vec![0u8; len];
    for start in (0..len).step_by(SECTOR_BYTES) {
        let end = (start + SECTOR_BYTES).min(len);
        let old = sector(durable, start, end);
        let new = sector(written, start, end);
        if old == new {
            out[start..end].copy_from_slice(&new);
            continue;
        }
        let fate = rng.fate();
        let cut = rng.below((end - start) as u64 + 1) as usize;
        for (i, byte) in out[start..end].iter_mut().enumerate() {
            let inside_durable = start + i < durable.len();
            *byte = match fate {
                SectorFate::Kept => new[i],
                SectorFate::Torn if i < cut => new[i],
                SectorFate::Dropped | SectorFate::Torn => old[i],
                _ if inside_durable => old[i],
                SectorFate::Zeroed => 0,
                SectorFate::Garbled => rng.next() as u8,
            };
        }
    }
    out
}

/// Bytes `[start, end)` of `content`, zero-padded past its end.
fn sector(content: &[u8], start: usize, end: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; end - start];
    if start < content.len() {
        let available = content.len().min(end) - start;
        bytes[..available].copy_from_slice(&content[start..start + available]);
    }
    bytes
}

/// xorshift64*: small, seeded, so a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn fate(&mut self) -> SectorFate {
        match self.below(20) {
            0..=5 => SectorFate::Dropped,
            6..=13 => SectorFate::Kept,
            14..=16 => SectorFate::Torn,
            17 => SectorFate::Zeroed,
            _ => SectorFate::Garbled,
        }
    }
}

impl Storage for PowerLossStorage {
    fn create_file(&self, path: &Path) -> io::Result<File> {
        let existed = path.exists();
        let file = OsStorage.create_file(path)?;
        let mut disk = self.disk.lock();
        if !existed {
            disk.durable.insert(path.to_path_buf(), Vec::new());
            disk.pending.push(DirOp::Create { path: path.to_path_buf() });
        }
        Ok(file)
    }

    fn open_file(&self, path: &Path, writable: bool) -> io::Result<File> {
        let file = OsStorage.open_file(path, writable)?;
        let mut disk = self.disk.lock();
        if !disk.durable.contains_key(path) {
            // First seen: whatever it holds was there before the test began.
            disk.durable.insert(path.to_path_buf(), std::fs::read(path)?);
        }
        Ok(file)
    }

    /// A sync makes durable what the file holds, read through its handle:
    /// an fdatasync works on the file wherever its name is now. The content
    /// is recorded under `path` if it still names the file, else under the
    /// tracked path that does (its directory was renamed); if none does
    /// (it was replaced or removed), no name leads to it any more. It is
    /// read under the disk's lock, so of two syncs of one file on two
    /// threads the one recorded last read last: durable content never goes
    /// back to an older snapshot.
    fn sync_file(&self, file: &File, path: &Path) -> io::Result<()> {
        let mut disk = self.disk.lock();
        let content = read_whole(file)?;
        let synced = file.metadata()?;
        let names = |candidate: &Path| std::fs::metadata(candidate).is_ok_and(|m| same_file(&m, &synced));
        let here = match names(path) {
            true => Some(path.to_path_buf()),
            false => disk.durable.keys().find(|candidate| names(candidate)).cloned(),
        };
        if let Some(here) = here {
            disk.durable.insert(here, content);
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.disk.lock().pending.retain(|op| !op.in_dir(dir));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let directory = from.is_dir();
        OsStorage.rename(from, to)?;
        let mut disk = self.disk.lock();
        if directory {
            disk.move_tree(from, to);
            disk.pending.push(DirOp::RenameDir { from: from.to_path_buf(), to: to.to_path_buf() });
            return Ok(());
        }
        let moved = disk.durable.remove(from).unwrap_or_default();
        let replaced = disk.durable.insert(to.to_path_buf(), moved);
        disk.pending.push(DirOp::Rename { from: from.to_path_buf(), to: to.to_path_buf(), replaced });
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        OsStorage.remove_file(path)?;
        let mut disk = self.disk.lock();
        let content = disk.durable.remove(path);
        disk.pending.push(DirOp::Remove { path: path.to_path_buf(), content });
        Ok(())
    }
}

/// A kind of call through the file layer, as [`SimStorage`] counts and
/// fails them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileCall {
    /// [`Storage::create_file`].
    Create,
    /// [`Storage::open_file`].
    Open,
    /// [`Storage::write_at`].
    Write,
    /// [`Storage::allocate`].
    Allocate,
    /// [`Storage::set_len`].
    SetLen,
    /// [`Storage::sync_file`].
    Sync,
    /// [`Storage::sync_dir`].
    SyncDir,
    /// [`Storage::rename`].
    Rename,
    /// [`Storage::remove_file`].
    Remove,
    /// [`Storage::create_dir_all`].
    CreateDir,
}

impl FileCall {
    /// Every kind, in declaration order.
    pub const ALL: [FileCall; 10] = [
        FileCall::Create,
        FileCall::Open,
        FileCall::Write,
        FileCall::Allocate,
        FileCall::SetLen,
        FileCall::Sync,
        FileCall::SyncDir,
        FileCall::Rename,
        FileCall::Remove,
        FileCall::CreateDir,
    ];
}

/// The error an injected fault returns, as the operating system would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultError {
    /// `EIO` (5): the device failed, e.g. write-back of a synced file.
    Eio,
    /// `ENOSPC` (28): no space left on the device.
    NoSpace,
    /// `EMFILE` (24): the process has too many open files.
    TooManyFiles,
}

impl FaultError {
    /// Every error, in declaration order.
    pub const ALL: [FaultError; 3] = [FaultError::Eio, FaultError::NoSpace, FaultError::TooManyFiles];

    /// Its `errno` value (what `io::Error::raw_os_error` reports).
    pub fn raw_os_error(self) -> i32 {
        match self {
            FaultError::Eio => EIO,
            FaultError::NoSpace => ENOSPC,
            FaultError::TooManyFiles => EMFILE,
        }
    }

    /// The `io::Error` a failed call returns.
    pub fn to_io_error(self) -> io::Error {
        io::Error::from_raw_os_error(self.raw_os_error())
    }
}

/// A fault to inject: fail the `nth` call of kind `call` made after the
/// fault is scheduled with `error`, and, if `sticky`, every later call of
/// that kind too (a dead disk rather than a transient error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fault {
    /// The kind of call to fail.
    pub call: FileCall,
    /// Which call of that kind fails, counting from 1 at the first call
    /// made after [`SimStorage::schedule`].
    pub nth: u64,
    /// The error returned.
    pub error: FaultError,
    /// Whether every later call of that kind fails as well, until
    /// [`SimStorage::clear_faults`].
    pub sticky: bool,
}

impl Fault {
    /// A fault chosen from `seed`: any kind of call, `nth` in
    /// `1..=max_nth` (at least 1), any error, sticky one time in four. The
    /// same seed always gives the same fault.
    pub fn from_seed(seed: u64, max_nth: u64) -> Fault {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let call = FileCall::ALL[rng.below(FileCall::ALL.len() as u64) as usize];
        let nth = 1 + rng.below(max_nth.max(1));
        let error = FaultError::ALL[rng.below(FaultError::ALL.len() as u64) as usize];
        Fault { call, nth, error, sticky: rng.below(4) == 0 }
    }
}

/// A fault that fired: which call failed, on which file, in which thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFault {
    /// The kind of call that failed.
    pub call: FileCall,
    /// The error it returned.
    pub error: FaultError,
    /// The file or directory it was called on.
    pub path: PathBuf,
    /// The name of the thread that made the call, if it has one (larder
    /// names its threads: `larder-appender`, `larder-interval-sync`).
    pub thread: Option<String>,
}

/// The file layer of a simulation: a [`PowerLossStorage`] (written apart
/// from durable, pending directory operations, [`SimStorage::power_cut`])
/// that also counts every call by [`FileCall`] kind and fails the calls a
/// schedule of [`Fault`]s names. Calls are counted whether they fail or
/// not, so for a given sequence of calls the same schedule fails the same
/// calls. A failed call does nothing: a failed sync makes nothing durable,
/// a failed rename or removal leaves the names as they were.
///
/// ```
/// use larder::storage::fault::{Fault, FaultError, FileCall, SimStorage};
/// use larder::storage::Storage;
///
/// let dir = tempfile::tempdir().unwrap();
/// let disk = SimStorage::new();
/// disk.schedule(Fault { call: FileCall::Sync, nth: 2, error: FaultError::Eio, sticky: false });
/// let path = dir.path().join("f");
/// let file = disk.create_file(&path).unwrap();
/// assert!(disk.sync_file(&file, &path).is_ok());
/// let error = disk.sync_file(&file, &path).unwrap_err();
/// assert_eq!(error.raw_os_error(), Some(5));
/// assert!(disk.sync_file(&file, &path).is_ok(), "only the second sync fails");
/// assert_eq!((disk.calls(FileCall::Sync), disk.injected().len()), (3, 1));
/// ```
#[derive(Debug, Default)]
pub struct SimStorage {
    disk: PowerLossStorage,
    faults: Mutex<Faults>,
}

#[derive(Debug, Default)]
struct Faults {
    /// Calls made so far, indexed by `FileCall as usize`.
    calls: [u64; FileCall::ALL.len()],
    armed: Vec<Armed>,
    injected: Vec<InjectedFault>,
}

/// A scheduled fault and the call count at which it fires first.
#[derive(Debug, Clone, Copy)]
struct Armed {
    fault: Fault,
    first: u64,
}

impl Faults {
    /// Counts a call of kind `call` on `path`, and fails it if a scheduled
    /// fault names it.
    fn count(&mut self, call: FileCall, path: &Path) -> io::Result<()> {
        let count = &mut self.calls[call as usize];
        *count += 1;
        let n = *count;
        let fires =
            |armed: &Armed| armed.fault.call == call && (n == armed.first || (armed.fault.sticky && n > armed.first));
        let Some(index) = self.armed.iter().position(fires) else { return Ok(()) };
        let fault = self.armed[index].fault;
        if !fault.sticky {
            self.armed.remove(index);
        }
        let thread = std::thread::current().name().map(str::to_string);
        self.injected.push(InjectedFault { call, error: fault.error, path: path.to_path_buf(), thread });
        Err(fault.error.to_io_error())
    }
}

impl SimStorage {
    /// A disk on which nothing is pending and no fault is scheduled.
    pub fn new() -> Self {
        SimStorage::default()
    }

    /// Schedules `fault`: the `fault.nth` call of its kind from now on fails.
    pub fn schedule(&self, fault: Fault) {
        let mut faults = self.faults.lock();
        let first = faults.calls[fault.call as usize] + fault.nth.max(1);
        faults.armed.push(Armed { fault, first });
    }

    /// Disarms every scheduled fault (a replaced disk, space freed, ...);
    /// returns how many were still armed.
    pub fn clear_faults(&self) -> usize {
        std::mem::take(&mut self.faults.lock().armed).len()
    }

    /// Scheduled faults that may still fire: not yet fired, or sticky.
    pub fn armed_faults(&self) -> usize {
        self.faults.lock().armed.len()
    }

    /// Calls of kind `call` made so far, failed ones included.
    pub fn calls(&self, call: FileCall) -> u64 {
        self.faults.lock().calls[call as usize]
    }

    /// Every fault that fired so far, in order.
    pub fn injected(&self) -> Vec<InjectedFault> {
        self.faults.lock().injected.clone()
    }

    /// Cuts the power, as [`PowerLossStorage::power_cut`] does. Scheduled
    /// faults stay armed.
    pub fn power_cut(&self, seed: u64) -> io::Result<()> {
        self.disk.power_cut(seed)
    }

    /// Directory operations not yet made durable.
    pub fn pending_directory_operations(&self) -> usize {
        self.disk.pending_directory_operations()
    }

    fn count(&self, call: FileCall, path: &Path) -> io::Result<()> {
        self.faults.lock().count(call, path)
    }
}

impl Storage for SimStorage {
    fn create_file(&self, path: &Path) -> io::Result<File> {
        self.count(FileCall::Create, path)?;
        self.disk.create_file(path)
    }

    fn open_file(&self, path: &Path, writable: bool) -> io::Result<File> {
        self.count(FileCall::Open, path)?;
        self.disk.open_file(path, writable)
    }

    fn write_at(&self, file: &File, path: &Path, position: u64, bytes: &[u8]) -> io::Result<()> {
        self.count(FileCall::Write, path)?;
        self.disk.write_at(file, path, position, bytes)
    }

    fn allocate(&self, file: &File, path: &Path, len_bytes: u64) -> io::Result<()> {
        self.count(FileCall::Allocate, path)?;
        self.disk.allocate(file, path, len_bytes)
    }

    fn set_len(&self, file: &File, path: &Path, len_bytes: u64) -> io::Result<()> {
        self.count(FileCall::SetLen, path)?;
        self.disk.set_len(file, path, len_bytes)
    }

    fn sync_file(&self, file: &File, path: &Path) -> io::Result<()> {
        self.count(FileCall::Sync, path)?;
        self.disk.sync_file(file, path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.count(FileCall::SyncDir, dir)?;
        self.disk.sync_dir(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.count(FileCall::Rename, to)?;
        self.disk.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.count(FileCall::Remove, path)?;
        self.disk.remove_file(path)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.count(FileCall::CreateDir, dir)?;
        self.disk.create_dir_all(dir)
    }
}
