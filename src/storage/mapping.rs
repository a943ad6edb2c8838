//! Shared memory maps of segment and index files: the only module with
//! `unsafe`.
//!
//! A file is mapped once at its full capacity. Its first `header_bytes`
//! belong to the single [`MapWriter`]; after them, bytes below the
//! *published* length are immutable and may be borrowed by any reader
//! ([`MappedFile::bytes`]); bytes at or above it belong to the writer,
//! which fills them, then publishes them with a release store. Readers
//! load the published length with acquire ordering, so they only ever see
//! complete bytes, and no byte is written while a reader can see it.
//!
//! Space is allocated on disk (fallocate) in chunks ahead of the writer, so
//! a write to the map never needs a block the filesystem cannot provide: a
//! full disk surfaces as an error from [`MapWriter::reserve`], never as a
//! fault inside the map.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{Error, IoOp, Result};
use crate::storage::Storage;

/// The first allocation ahead of the writer: a partition holding a few
/// records occupies about this much per file.
const FIRST_CHUNK_BYTES: u64 = 64 << 10;
/// The largest allocation ahead of the writer: files grow by doubling up to
/// chunks of this size, so the number of allocations per segment stays small
/// while a short segment stays small on disk.
const LARGEST_CHUNK_BYTES: u64 = 32 << 20;
/// Allocations end on a page boundary.
const PAGE_BYTES: u64 = 4096;
/// Bytes prefaulted at a time ahead of writes through the map.
const PREFAULT_BYTES: usize = 4 << 20;

/// A mapped file: readers borrow its published bytes.
pub(crate) struct MappedFile {
    path: PathBuf,
    file: File,
    map: MmapRaw,
    header_bytes: usize,
    published: AtomicUsize,
    /// The file's identity while it is mapped read-only (debug builds
    /// check nothing writes it meanwhile).
    read_only: Option<FileId>,
}

/// A file's identity: device and inode.
type FileId = (u64, u64);

/// Files mapped read-only now, with how many maps each, in debug builds.
/// Such a file is never written or cut while mapped: a cut makes access past
/// the new end fault, and a write changes bytes readers borrow. Writers of
/// existing segment files call [`debug_assert_unmapped`] first.
static READ_ONLY_MAPS: parking_lot::Mutex<BTreeMap<FileId, usize>> = parking_lot::const_mutex(BTreeMap::new());

fn file_id(file: &File) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt as _;
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

/// Panics, in debug builds, if `file` is mapped read-only by this process.
pub(crate) fn debug_assert_unmapped(file: &File, path: &Path) {
    if cfg!(debug_assertions) {
        let id = file_id(file);
        let mapped = id.is_some_and(|id| READ_ONLY_MAPS.lock().contains_key(&id));
        assert!(!mapped, "{} is written while it is mapped read-only", path.display());
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        let Some(id) = self.read_only else { return };
        let mut maps = READ_ONLY_MAPS.lock();
        if let Some(count) = maps.get_mut(&id) {
            *count -= 1;
            if *count == 0 {
                maps.remove(&id);
            }
        }
    }
}

impl MappedFile {
    /// Maps `file` read-write at `capacity` bytes (which may exceed its
    /// current length) and returns the mapping with its one writer.
    /// `published` bytes (at least the header) are taken as already valid;
    /// `allocated` is the file's current length.
    pub(crate) fn writable(
        path: PathBuf,
        file: File,
        capacity: usize,
        header_bytes: usize,
        published: usize,
    ) -> Result<(Arc<MappedFile>, MapWriter)> {
        let allocated = file_len(&file, &path)?;
        assert!(header_bytes <= published && published as u64 <= allocated);
        assert!(allocated <= capacity as u64, "file longer than its mapping");
        // Mapping is safe; reading and writing the map is what needs care:
        // it is only accessed through `bytes` (published bytes, below the
        // file length, never rewritten) and through the unique `MapWriter`
        // (bytes not yet published, below the allocated file length, so no
        // access can fault past the end of the file).
        let map = MmapOptions::new().len(capacity).map_raw(&file).map_err(|e| Error::io(IoOp::Map, &path, e))?;
        let valid = AtomicUsize::new(published);
        let mapped = Arc::new(MappedFile { path, file, map, header_bytes, published: valid, read_only: None });
        let writer = MapWriter { mapped: Arc::clone(&mapped), allocated, prefaulted: published };
        Ok((mapped, writer))
    }

    /// Maps the first `len` bytes of `file` read-only, all of them
    /// published past the header.
    pub(crate) fn read_only(path: PathBuf, file: File, header_bytes: usize) -> Result<Arc<MappedFile>> {
        let len = file_len(&file, &path)? as usize;
        assert!(header_bytes <= len && len > 0);
        // A read-only map of the file's current length. Files mapped this
        // way (sealed segments, files being recovered) are not written by
        // this process while mapped; truncation and repair write new files.
        let map = MmapOptions::new().len(len).map_raw_read_only(&file).map_err(|e| Error::io(IoOp::Map, &path, e))?;
        let published = AtomicUsize::new(len);
        let read_only = if cfg!(debug_assertions) { file_id(&file) } else { None };
        if let Some(id) = read_only {
            *READ_ONLY_MAPS.lock().entry(id).or_default() += 1;
        }
        Ok(Arc::new(MappedFile { path, file, map, header_bytes, published, read_only }))
    }

    /// Maps the first `len` bytes of a file another process writes,
    /// read-only, with nothing past the header published: the follower
    /// publishes bytes only once it has verified them through `pread`
    /// ([`MappedFile::publish_verified`]), and never reads the map past
    /// them. Not registered as a read-only map of this process: the file
    /// belongs to its owner, who may append to it while it is mapped here.
    pub(crate) fn followed(path: PathBuf, file: File, len: usize, header_bytes: usize) -> Result<Arc<MappedFile>> {
        assert!(header_bytes <= len && len > 0);
        // A read-only map of `len` bytes, `len` no more than the file's
        // length when it was read. Only bytes below the published length
        // are ever accessed, and those are frames the owner published and
        // never cuts or rewrites in place (docs/FORMAT.md, "Reading a live
        // log"), so no access can fault past the end of the file.
        let map = MmapOptions::new().len(len).map_raw_read_only(&file).map_err(|e| Error::io(IoOp::Map, &path, e))?;
        let published = AtomicUsize::new(header_bytes);
        Ok(Arc::new(MappedFile { path, file, map, header_bytes, published, read_only: None }))
    }

    /// Publishes bytes up to `end` of a [`MappedFile::followed`] map, once
    /// they were verified as complete frames; never moves backwards.
    pub(crate) fn publish_verified(&self, end: usize) {
        assert!(end <= self.map.len(), "verified end {end} past the map of {}", self.path.display());
        self.published.fetch_max(end, Ordering::AcqRel);
    }

    /// Borrows `len` published bytes starting at `position`.
    ///
    /// Panics if the range is not entirely published: that is a bug in the
    /// caller, not a property of the data.
    pub(crate) fn bytes(&self, position: usize, len: usize) -> &[u8] {
        let published = self.published.load(Ordering::Acquire);
        assert!(
            position >= self.header_bytes && position.saturating_add(len) <= published,
            "read of [{position}, +{len}) outside published [{}, {published}) of {}",
            self.header_bytes,
            self.path.display()
        );
        // SAFETY: the range lies inside the map (published <= allocated <=
        // capacity) and inside the file; published bytes are never written
        // again (the writer only writes at or above `published`, and
        // truncation replaces the file rather than rewriting it), so a
        // shared borrow of them cannot alias a write.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(position), len) }
    }

    /// Pins `len` published bytes from `position`: a handle that keeps the
    /// map alive and reads them without further checks. Panics like
    /// [`MappedFile::bytes`] if the range is not published.
    pub(crate) fn pin(self: &Arc<Self>, position: usize, len: usize) -> Pinned {
        self.bytes(position, len);
        Pinned { mapped: Arc::clone(self), position, len }
    }

    /// Borrows every published byte after the header.
    pub(crate) fn published_bytes(&self) -> &[u8] {
        let published = self.published();
        self.bytes(self.header_bytes, published - self.header_bytes)
    }

    /// Length of the valid prefix of the file, header included.
    pub(crate) fn published(&self) -> usize {
        self.published.load(Ordering::Acquire)
    }

    /// Starts write-back of the published bytes (msync with MS_ASYNC).
    pub(crate) fn start_writeback(&self) -> Result<()> {
        let len = self.published();
        self.map.flush_async_range(0, len).map_err(|e| Error::io(IoOp::Msync, &self.path, e))
    }

    /// Bytes the map covers.
    pub(crate) fn capacity(&self) -> usize {
        self.map.len()
    }

    /// The mapped file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The open file.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }
}

/// A published byte range of a mapped file, with the map kept alive.
#[derive(Clone)]
pub(crate) struct Pinned {
    mapped: Arc<MappedFile>,
    position: usize,
    len: usize,
}

impl Pinned {
    /// A sub-range of these pinned bytes, sharing the map.
    pub(crate) fn slice(&self, from: usize, len: usize) -> Pinned {
        assert!(from + len <= self.len, "slice past the pinned range");
        Pinned { mapped: Arc::clone(&self.mapped), position: self.position + from, len }
    }

    /// The pinned bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `pin` checked the range was published when this handle
        // was made; published bytes are never written again and the `Arc`
        // keeps the map (and so the pointer) valid for as long as `self`.
        unsafe { std::slice::from_raw_parts(self.mapped.map.as_ptr().add(self.position), self.len) }
    }
}

/// The unique writer of a [`MappedFile`].
pub(crate) struct MapWriter {
    mapped: Arc<MappedFile>,
    allocated: u64,
    /// Bytes of the map already faulted in writable.
    prefaulted: usize,
}

impl MapWriter {
    /// The mapping this writer fills.
    pub(crate) fn mapped(&self) -> &Arc<MappedFile> {
        &self.mapped
    }

    /// Bytes the map can hold.
    pub(crate) fn capacity(&self) -> usize {
        self.mapped.map.len()
    }

    /// Makes sure the file has disk space up to `end` bytes, allocating
    /// ahead in chunks that double with the file (see
    /// [`allocation_target`]). Fails (disk full, ...) without changing any
    /// byte.
    pub(crate) fn reserve(&mut self, storage: &dyn Storage, end: usize) -> Result<()> {
        if end as u64 <= self.allocated {
            return Ok(());
        }
        assert!(end <= self.capacity(), "reserve past the mapping's capacity");
        let target = allocation_target(self.allocated, end as u64, self.capacity() as u64);
        let mapped = &self.mapped;
        storage.allocate(&mapped.file, &mapped.path, target).map_err(|e| Error::io(IoOp::Allocate, &mapped.path, e))?;
        self.allocated = target;
        Ok(())
    }

    /// Before writing `[.., end)` through the map, asks the kernel to map
    /// the next pages writable in one call, instead of one page fault per
    /// page as the writer reaches them. Only a hint: failure is ignored.
    fn prefault_to(&mut self, end: usize) {
        if end <= self.prefaulted {
            return;
        }
        let page = 4096;
        let from = self.prefaulted.max(self.mapped.published()) / page * page;
        let to = (end + PREFAULT_BYTES).min(self.allocated as usize);
        #[cfg(target_os = "linux")]
        let _ = self.mapped.map.advise_range(memmap2::Advice::PopulateWrite, from, to - from);
        self.prefaulted = to;
    }

    /// Writes `bytes` at unpublished `position` with a write system call
    /// instead of through the map: for large writes, this spares the kernel
    /// zero-filling each new page before it is overwritten.
    pub(crate) fn write_through(&mut self, storage: &dyn Storage, position: usize, bytes: &[u8]) -> Result<()> {
        let published = self.mapped.published.load(Ordering::Relaxed);
        assert!(position >= published && (position + bytes.len()) as u64 <= self.allocated);
        let mapped = &self.mapped;
        storage
            .write_at(&mapped.file, &mapped.path, position as u64, bytes)
            .map_err(|e| Error::io(IoOp::Write, &mapped.path, e))
    }

    /// Borrows the unpublished bytes `[position, position + len)` for writing.
    pub(crate) fn region(&mut self, position: usize, len: usize) -> &mut [u8] {
        self.prefault_to(position + len);
        let published = self.mapped.published.load(Ordering::Relaxed);
        assert!(
            position >= published && (position + len) as u64 <= self.allocated,
            "write of [{position}, +{len}) outside unpublished, allocated [{published}, {})",
            self.allocated
        );
        // SAFETY: the range is inside the map and the allocated file, and at
        // or above the published length, so no reader can hold a borrow of
        // it; `&mut self` on the unique writer excludes other writers.
        unsafe { std::slice::from_raw_parts_mut(self.mapped.map.as_mut_ptr().add(position), len) }
    }

    /// Borrows the writer-owned header for writing.
    pub(crate) fn header(&mut self) -> &mut [u8] {
        let len = self.mapped.header_bytes;
        assert!(len as u64 <= self.allocated);
        // SAFETY: `bytes` never hands out the header range, so only this
        // unique writer (borrowed mutably) accesses it.
        unsafe { std::slice::from_raw_parts_mut(self.mapped.map.as_mut_ptr(), len) }
    }

    /// Publishes bytes up to `end`: readers may borrow them from now on.
    pub(crate) fn publish(&mut self, end: usize) {
        assert!(end as u64 <= self.allocated && end >= self.mapped.published());
        self.mapped.published.store(end, Ordering::Release);
    }

    /// Cuts the file to exactly its published length (used when a segment
    /// is sealed): the preallocated tail is given back.
    pub(crate) fn trim(&mut self, storage: &dyn Storage) -> Result<()> {
        let len = self.mapped.published() as u64;
        storage
            .set_len(&self.mapped.file, &self.mapped.path, len)
            .map_err(|e| Error::io(IoOp::Truncate, &self.mapped.path, e))?;
        self.allocated = len;
        Ok(())
    }
}

/// The file length to allocate when a file of `allocated` bytes must hold
/// `end`: at least `end`, ahead of it by as much as the file already holds
/// (between [`FIRST_CHUNK_BYTES`] and [`LARGEST_CHUNK_BYTES`]), on a page
/// boundary, and never past the mapping's `capacity`.
fn allocation_target(allocated: u64, end: u64, capacity: u64) -> u64 {
    let ahead = allocated.clamp(FIRST_CHUNK_BYTES, LARGEST_CHUNK_BYTES);
    let target = end.max(allocated + ahead).div_ceil(PAGE_BYTES) * PAGE_BYTES;
    let target = target.min(capacity);
    debug_assert!(target >= end && target > allocated);
    target
}

fn file_len(file: &File, path: &Path) -> Result<u64> {
    Ok(file.metadata().map_err(|e| Error::io(IoOp::Stat, path, e))?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_doubles_from_a_small_first_chunk_up_to_the_largest() {
        let capacity = 1 << 30;
        assert_eq!(allocation_target(128, 129, capacity), FIRST_CHUNK_BYTES + PAGE_BYTES);
        assert_eq!(allocation_target(1 << 20, (1 << 20) + 1, capacity), 2 << 20);
        assert_eq!(allocation_target(512 << 20, (512 << 20) + 1, capacity), (512 << 20) + LARGEST_CHUNK_BYTES);
        // A large append gets at least what it needs, page-aligned.
        assert_eq!(allocation_target(128, 10 << 20, capacity), 10 << 20);
        assert_eq!(allocation_target(128, (10 << 20) + 1, capacity), (10 << 20) + PAGE_BYTES);
        // Never past the mapping.
        assert_eq!(allocation_target(capacity - 10, capacity, capacity), capacity);
    }
}
