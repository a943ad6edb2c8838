//! A file layer that injects failures, for larder's own tests and for
//! applications that want to test their handling of a failing disk.
//! Enabled by the `fault-injection` feature.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::errno::{EIO, ENOSPC};
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
    Create { path: PathBuf },
    Rename { from: PathBuf, to: PathBuf, replaced: Option<Vec<u8>> },
    Remove { path: PathBuf, content: Option<Vec<u8>> },
}

impl DirOp {
    fn in_dir(&self, dir: &Path) -> bool {
        let parent = |p: &Path| p.parent() == Some(dir);
        match self {
            DirOp::Create { path } | DirOp::Remove { path, .. } => parent(path),
            DirOp::Rename { from, to, .. } => parent(from) || parent(to),
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
        let reverted: Vec<DirOp> = disk.pending.drain(surviving..).rev().collect();
        let mut untouchable = Vec::new();
        for op in reverted {
            untouchable.extend(revert(&mut disk.durable, op)?);
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
fn revert(durable: &mut BTreeMap<PathBuf, Vec<u8>>, op: DirOp) -> io::Result<Vec<PathBuf>> {
    match op {
        DirOp::Create { path } => {
            durable.remove(&path);
            remove_if_exists(&path)?;
            Ok(Vec::new())
        }
        DirOp::Rename { from, to, replaced } => {
            let moved = durable.remove(&to).unwrap_or_default();
            std::fs::write(&from, &moved)?;
            durable.insert(from.clone(), moved);
            match replaced {
                Some(content) => {
                    std::fs::write(&to, &content)?;
                    durable.insert(to.clone(), content);
                }
                None => remove_if_exists(&to)?,
            }
            Ok(vec![from, to])
        }
        DirOp::Remove { path, content } => {
            let content = content.unwrap_or_default();
            std::fs::write(&path, &content)?;
            durable.insert(path.clone(), content);
            Ok(vec![path])
        }
    }
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

    fn sync_file(&self, file: &File, path: &Path) -> io::Result<()> {
        let content = std::fs::read(path)?;
        let _ = file;
        self.disk.lock().durable.insert(path.to_path_buf(), content);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.disk.lock().pending.retain(|op| !op.in_dir(dir));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsStorage.rename(from, to)?;
        let mut disk = self.disk.lock();
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
