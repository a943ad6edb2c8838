//! A group's committed offsets and the file that keeps them,
//! `<log>/groups/<group>.offsets`: an append-only log of CRC-framed
//! commits. A commit appends the offsets it changes and returns once an
//! fdatasync covered them (one sync, where an atomic file replacement
//! measured 4.6). Every `SNAPSHOT_FRAMES` commits the log is replaced,
//! atomically, by a snapshot of the whole map. On load, a torn last frame (a
//! commit that never returned) is cut and the one before it stands; a bad
//! frame followed by good ones is corruption: a typed error naming the
//! file, never a reset to 0. Nothing is written until the group has
//! something to store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, IoOp, Result};
use crate::group::topic_partition::TopicPartition;
use crate::storage::meta::FileKind;
use crate::storage::{le, meta, Storage};

/// A group's offsets file: magic and version.
const OFFSETS: FileKind = FileKind::new(b"LARDRGRP", 1);
const OFFSETS_HEADER_BYTES: usize = 16;
/// Commits appended before the log is compacted into a snapshot.
const SNAPSHOT_FRAMES: usize = 4096;

/// A group's committed offsets, in memory and in its file.
pub(crate) struct Offsets {
    group: String,
    path: PathBuf,
    storage: Arc<dyn Storage>,
    offsets: BTreeMap<TopicPartition, u64>,
    /// The open offsets file; `None` until the group first has something
    /// to store, and after it is closed or deleted.
    log: Option<OffsetsLog>,
    /// Bytes of a torn last commit cut when the offsets were loaded.
    torn_commit_bytes: u64,
    /// The log was closed: every commit and lookup fails.
    closed: bool,
    /// Set when the log is open read-only: the file another process
    /// writes, as last read; nothing is ever written.
    followed: Option<Followed>,
}

/// What a read-only group last read of its offsets file: its identity and
/// length (`None`: there was no file). Read again when either changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Followed {
    stamp: Option<(u64, u64, u64)>,
}

/// Device, inode and length of the file at `path`, if it exists.
fn stamp_of(path: &Path) -> Result<Option<(u64, u64, u64)>> {
    use std::os::unix::fs::MetadataExt as _;
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some((meta.dev(), meta.ino(), meta.len()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(IoOp::Stat, path, e)),
    }
}

impl Offsets {
    /// Loads the offsets stored at `path` (none if the file does not exist;
    /// a damaged file is an error naming it, never a reset).
    pub(crate) fn load(group: &str, path: PathBuf, storage: Arc<dyn Storage>) -> Result<Offsets> {
        let (log, offsets) = match OffsetsLog::open(&*storage, &path)? {
            Some((log, offsets)) => (Some(log), offsets),
            None => (None, BTreeMap::new()),
        };
        let torn_commit_bytes = log.as_ref().map_or(0, |log| log.torn_bytes);
        Ok(Offsets {
            group: group.to_string(),
            path,
            storage,
            offsets,
            log,
            torn_commit_bytes,
            closed: false,
            followed: None,
        })
    }

    /// Reads the offsets another process stores at `path`, writing
    /// nothing: a torn last commit (one being written) is skipped, not
    /// cut. [`Offsets::refresh`] reads them again when the file changed;
    /// commits and deletions fail with [`Error::ReadOnly`].
    pub(crate) fn load_read_only(group: &str, path: PathBuf, storage: Arc<dyn Storage>) -> Result<Offsets> {
        let mut offsets = Offsets {
            group: group.to_string(),
            path,
            storage,
            offsets: BTreeMap::new(),
            log: None,
            torn_commit_bytes: 0,
            closed: false,
            followed: Some(Followed { stamp: None }),
        };
        offsets.reread()?;
        Ok(offsets)
    }

    /// A read-only group's offsets as the file holds them now (read again
    /// only if the file changed); nothing for a group this process owns.
    pub(crate) fn refresh(&mut self) -> Result<()> {
        match self.followed {
            Some(followed) if !self.closed && stamp_of(&self.path)? != followed.stamp => self.reread(),
            _ => Ok(()),
        }
    }

    fn reread(&mut self) -> Result<()> {
        let stamp = stamp_of(&self.path)?;
        let bytes = meta::read_if_exists(&self.path)?;
        let replayed = match &bytes {
            Some(bytes) => {
                Some(replay(bytes).map_err(|(position, reason)| Error::corrupt(&self.path, position, reason))?)
            }
            None => None,
        };
        self.torn_commit_bytes = match (&bytes, &replayed) {
            (Some(bytes), Some(replayed)) => bytes.len() as u64 - replayed.valid_len,
            _ => 0,
        };
        self.offsets = replayed.map(|r| r.offsets).unwrap_or_default();
        self.followed = Some(Followed { stamp: stamp.filter(|_| bytes.is_some()) });
        Ok(())
    }

    /// Fails with [`Error::ReadOnly`] for a read-only group.
    fn check_writable(&self, operation: &'static str) -> Result<()> {
        match self.followed {
            Some(_) => Err(Error::ReadOnly { operation, path: self.path.clone() }),
            None => Ok(()),
        }
    }

    /// Whether the group stores anything.
    pub(crate) fn stored(&self) -> bool {
        if let Some(followed) = self.followed {
            return followed.stamp.is_some();
        }
        self.log.is_some()
    }

    /// Fails with [`Error::Closed`] once the log is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed { what: "log" });
        }
        Ok(())
    }

    /// Appends `offsets` (an offset of `REMOVED` removes the entry) to the
    /// offsets file, creating it with the group's first commit, and applies
    /// them once durable.
    pub(crate) fn store(&mut self, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        self.check_open()?;
        self.check_writable("commit")?;
        let storage = &*self.storage;
        let mut committed = self.offsets.clone();
        apply(&mut committed, offsets.iter().cloned());
        match &mut self.log {
            Some(log) if log.frames < SNAPSHOT_FRAMES => log.append(storage, &self.path, offsets)?,
            log => *log = Some(OffsetsLog::snapshot(storage, &self.path, &committed)?),
        }
        self.offsets = committed;
        Ok(())
    }

    /// The committed offset of `tp`, if any.
    pub(crate) fn committed(&self, tp: &TopicPartition) -> Result<Option<u64>> {
        self.check_open()?;
        Ok(self.offsets.get(tp).copied())
    }

    /// Every committed offset.
    pub(crate) fn all(&self) -> &BTreeMap<TopicPartition, u64> {
        &self.offsets
    }

    /// Bytes of a torn last commit cut when the offsets were loaded.
    pub(crate) fn torn_commit_bytes(&self) -> u64 {
        self.torn_commit_bytes
    }

    /// The topics with committed offsets.
    pub(crate) fn topics(&self) -> Vec<String> {
        let topics: BTreeSet<&String> = self.offsets.keys().map(|tp| &tp.topic).collect();
        topics.into_iter().cloned().collect()
    }

    /// Removes the committed offsets of `topic`'s partitions.
    pub(crate) fn forget_topic(&mut self, topic: &str) -> Result<()> {
        let removed: Vec<(TopicPartition, u64)> =
            self.offsets.keys().filter(|tp| tp.topic == topic).map(|tp| (tp.clone(), REMOVED)).collect();
        if removed.is_empty() {
            return Ok(());
        }
        self.store(&removed)
    }

    /// Removes every offset and the file.
    pub(crate) fn delete(&mut self) -> Result<()> {
        self.check_open()?;
        self.check_writable("delete a group")?;
        if self.log.take().is_none() {
            return Err(Error::UnknownGroup { group: self.group.clone() });
        }
        self.offsets.clear();
        self.torn_commit_bytes = 0;
        let path = &self.path;
        self.storage.remove_file(path).map_err(|e| Error::io(IoOp::Remove, path, e))?;
        crate::storage::sync_dir(&*self.storage, path.parent().unwrap_or(Path::new(".")))
    }

    /// Closes the file: every later commit or lookup fails.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        self.log.take();
    }
}

/// The open offsets log of a group: where the next commit goes.
struct OffsetsLog {
    file: std::fs::File,
    len: u64,
    frames: usize,
    /// Bytes of a torn last commit cut on open.
    torn_bytes: u64,
    /// Set by a failed write or sync: the page cache is not trusted again,
    /// so every later commit fails until the log is reopened.
    failed: bool,
}

impl OffsetsLog {
    /// Opens (or creates) the log at `path` and replays it.
    fn open(storage: &dyn Storage, path: &Path) -> Result<Option<(OffsetsLog, BTreeMap<TopicPartition, u64>)>> {
        let Some(bytes) = meta::read_if_exists(path)? else { return Ok(None) };
        let replayed = replay(&bytes).map_err(|(position, reason)| Error::corrupt(path, position, reason))?;
        let file = storage.open_file(path, true).map_err(|e| Error::io(IoOp::Open, path, e))?;
        if replayed.valid_len < bytes.len() as u64 {
            // A torn last commit, never acknowledged: cut it.
            storage.set_len(&file, path, replayed.valid_len).map_err(|e| Error::io(IoOp::Truncate, path, e))?;
            storage.sync_file(&file, path).map_err(|e| Error::io(IoOp::Sync, path, e))?;
        }
        let torn_bytes = bytes.len() as u64 - replayed.valid_len;
        let log = OffsetsLog { file, len: replayed.valid_len, frames: replayed.frames, torn_bytes, failed: false };
        Ok(Some((log, replayed.offsets)))
    }

    /// Replaces the log at `path`, atomically, by one frame holding `offsets`.
    fn snapshot(storage: &dyn Storage, path: &Path, offsets: &BTreeMap<TopicPartition, u64>) -> Result<OffsetsLog> {
        let entries: Vec<(TopicPartition, u64)> = offsets.iter().map(|(tp, &o)| (tp.clone(), o)).collect();
        let mut bytes = offsets_header().to_vec();
        bytes.extend_from_slice(&encode_frame(&entries));
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        meta::write_atomic(storage, dir, name, &bytes)?;
        let file = storage.open_file(path, true).map_err(|e| Error::io(IoOp::Open, path, e))?;
        Ok(OffsetsLog { file, len: bytes.len() as u64, frames: 1, torn_bytes: 0, failed: false })
    }

    /// Appends one commit and syncs it.
    fn append(&mut self, storage: &dyn Storage, path: &Path, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        if self.failed {
            return Err(Error::Poisoned { path: path.to_path_buf() });
        }
        let frame = encode_frame(offsets);
        let written = storage
            .write_at(&self.file, path, self.len, &frame)
            .map_err(|e| Error::io(IoOp::Write, path, e))
            .and_then(|()| storage.sync_file(&self.file, path).map_err(|e| Error::io(IoOp::Sync, path, e)));
        if written.is_err() {
            self.failed = true;
        }
        written?;
        self.len += frame.len() as u64;
        self.frames += 1;
        Ok(())
    }
}

fn offsets_header() -> [u8; OFFSETS_HEADER_BYTES] {
    let mut header = [0u8; OFFSETS_HEADER_BYTES];
    OFFSETS.put(&mut header);
    header
}

/// A commit frame: `u32 len | u32 crc32c of the payload | payload`, the
/// payload `u32 count | { u16 topic_len | topic | u32 partition | u64 offset }*`.
fn encode_frame(offsets: &[(TopicPartition, u64)]) -> Vec<u8> {
    let mut frame = vec![0u8; 8];
    frame.extend_from_slice(&(offsets.len() as u32).to_le_bytes());
    for (tp, offset) in offsets {
        frame.extend_from_slice(&(tp.topic.len() as u16).to_le_bytes());
        frame.extend_from_slice(tp.topic.as_bytes());
        frame.extend_from_slice(&tp.partition.to_le_bytes());
        frame.extend_from_slice(&offset.to_le_bytes());
    }
    let len = frame.len() as u32;
    let crc = crc32c::crc32c(&frame[8..]);
    le::put_u32(&mut frame, 0, len);
    le::put_u32(&mut frame, 4, crc);
    frame
}

/// An offset that removes a partition's committed offset (a deleted topic).
const REMOVED: u64 = u64::MAX;

/// Applies commit entries to a map of committed offsets, in order.
fn apply(offsets: &mut BTreeMap<TopicPartition, u64>, entries: impl IntoIterator<Item = (TopicPartition, u64)>) {
    for (tp, offset) in entries {
        if offset == REMOVED {
            offsets.remove(&tp);
        } else {
            offsets.insert(tp, offset);
        }
    }
}

/// The offsets an offsets log holds, and where its valid part ends.
struct Replayed {
    offsets: BTreeMap<TopicPartition, u64>,
    valid_len: u64,
    frames: usize,
}

/// What an offsets file holds, for inspection.
pub(crate) struct Inspected {
    /// The offsets its valid commits leave.
    pub(crate) offsets: BTreeMap<TopicPartition, u64>,
    /// How many valid commits there are.
    pub(crate) commits: usize,
    /// Where the valid commits end.
    pub(crate) valid_len: u64,
}

/// An offsets file's contents — or the byte position and reason of the
/// corruption that stops a replay.
pub(crate) fn inspect(bytes: &[u8]) -> Result<Inspected, (u64, String)> {
    replay(bytes).map(|r| Inspected { offsets: r.offsets, commits: r.frames, valid_len: r.valid_len })
}

/// Replays an offsets log. A bad frame that is the last thing in the file
/// is a torn commit (cut); one followed by a good frame is corruption.
fn replay(bytes: &[u8]) -> Result<Replayed, (u64, String)> {
    OFFSETS.check(bytes).map_err(|reason| (0, format!("not a larder offsets file: {reason}")))?;
    if bytes.len() < OFFSETS_HEADER_BYTES {
        return Err((0, "shorter than its header".into()));
    }
    let mut replayed = Replayed { offsets: BTreeMap::new(), valid_len: OFFSETS_HEADER_BYTES as u64, frames: 0 };
    let mut at = OFFSETS_HEADER_BYTES;
    while at < bytes.len() {
        match decode_frame(&bytes[at..]) {
            Ok((entries, len)) => {
                apply(&mut replayed.offsets, entries);
                replayed.frames += 1;
                at += len;
                replayed.valid_len = at as u64;
            }
            Err(reason) if good_frame_after(bytes, at) => return Err((at as u64, reason)),
            Err(_) => break,
        }
    }
    Ok(replayed)
}

/// Whether a valid frame may start anywhere after the bad one at `at`.
/// Every byte is tried as a start, and each try may examine up to its
/// frame's length, so a crafted file could make the scan quadratic: once
/// the bytes examined pass a budget linear in the file, the answer is yes
/// — the file is refused as corrupt (by name, nothing changed) rather than
/// its tail cut as torn. Only bytes actually examined are charged: a
/// genuine torn commit holds many length fields that claim long frames
/// whose first entry already fails to decode.
fn good_frame_after(bytes: &[u8], at: usize) -> bool {
    let mut budget = 16 * bytes.len() + (1 << 20);
    (at + 1..bytes.len()).any(|start| {
        let Ok(frame) = frame_at(&bytes[start..]) else { return false };
        let mut examined = 0;
        let decoded = decode_entries_examining(&frame[8..], &mut examined).is_ok_and(|entries| !entries.is_empty());
        let cost = 8 + examined + if decoded { frame.len() } else { 0 };
        let Some(left) = budget.checked_sub(cost) else { return true };
        budget = left;
        decoded && checksum_matches(frame)
    })
}

fn decode_frame(bytes: &[u8]) -> Result<(Vec<(TopicPartition, u64)>, usize), String> {
    let frame = frame_at(bytes)?;
    if !checksum_matches(frame) {
        return Err("commit frame checksum mismatch".into());
    }
    Ok((decode_entries(&frame[8..])?, frame.len()))
}

/// The frame at the start of `bytes`, as long as its length field says.
fn frame_at(bytes: &[u8]) -> Result<&[u8], String> {
    let truncated = || "truncated commit frame".to_string();
    let len = le::u32_at(bytes.get(..4).ok_or_else(truncated)?, 0) as usize;
    if len < 12 {
        return Err(format!("commit frame length {len} is too small"));
    }
    bytes.get(..len).ok_or_else(truncated)
}

fn checksum_matches(frame: &[u8]) -> bool {
    le::u32_at(frame, 4) == crc32c::crc32c(&frame[8..])
}

/// The entries of a commit frame's payload, which they must fill exactly.
fn decode_entries(payload: &[u8]) -> Result<Vec<(TopicPartition, u64)>, String> {
    decode_entries_examining(payload, &mut 0)
}

/// [`decode_entries`], counting in `examined` the payload bytes it looked
/// at, however it ends.
fn decode_entries_examining(payload: &[u8], examined: &mut usize) -> Result<Vec<(TopicPartition, u64)>, String> {
    let truncated = || "truncated commit frame".to_string();
    let count = le::u32_at(payload, 0);
    let mut at = 4;
    let mut entries = Vec::new();
    for _ in 0..count {
        *examined = at;
        let topic_len = le::u16_at(payload.get(at..at + 2).ok_or_else(truncated)?, 0) as usize;
        *examined = at + 2 + topic_len;
        let topic = payload.get(at + 2..at + 2 + topic_len).ok_or_else(truncated)?;
        let topic = std::str::from_utf8(topic).map_err(|_| "topic name is not UTF-8".to_string())?;
        let fixed = payload.get(at + 2 + topic_len..at + 14 + topic_len).ok_or_else(truncated)?;
        entries.push((TopicPartition::new(topic, le::u32_at(fixed, 0)), le::u64_at(fixed, 4)));
        at += 14 + topic_len;
    }
    *examined = at;
    if at != payload.len() {
        return Err(format!("{} bytes after the last entry", payload.len() - at));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(commits: &[Vec<(TopicPartition, u64)>]) -> Vec<u8> {
        let mut bytes = offsets_header().to_vec();
        for commit in commits {
            bytes.extend_from_slice(&encode_frame(commit));
        }
        bytes
    }

    #[test]
    fn replay_applies_commits_in_order_and_cuts_a_torn_last_one() {
        let (a, b) = (TopicPartition::new("a", 0), TopicPartition::new("bb", 3));
        let commits = vec![vec![(a.clone(), 5), (b.clone(), 1 << 40)], vec![(a.clone(), 9)]];
        let bytes = log_of(&commits);
        let replayed = replay(&bytes).unwrap();
        assert_eq!(replayed.offsets, BTreeMap::from([(a.clone(), 9), (b.clone(), 1 << 40)]));
        let first_end = log_of(&commits[..1]).len();
        for cut in first_end..bytes.len() {
            let replayed = replay(&bytes[..cut]).unwrap();
            assert_eq!(replayed.offsets[&a], 5, "cut at {cut}: the torn commit falls back to the one before");
            assert_eq!(replayed.valid_len, first_end as u64);
        }
    }

    #[test]
    fn a_bad_frame_before_good_ones_is_corruption() {
        let tp = TopicPartition::new("t", 0);
        let commits: Vec<_> = (0..3).map(|n| vec![(tp.clone(), n)]).collect();
        let mut bytes = log_of(&commits);
        bytes[OFFSETS_HEADER_BYTES + 9] ^= 0xFF;
        let (position, reason) = replay(&bytes).err().unwrap();
        assert_eq!(position, OFFSETS_HEADER_BYTES as u64);
        assert!(reason.contains("checksum"), "{reason}");
        assert!(replay(b"garbage that is long enough").is_err());
    }

    #[test]
    fn a_crafted_file_of_long_frame_lengths_is_refused_without_summing_each() {
        // Every fourth byte starts a length of 983 040 that fits the file,
        // and the entries after it fill it exactly: checking each start
        // in full made this 1 MiB file take minutes to open. Past a budget
        // linear in the file the scan gives up and refuses it.
        let mut bytes = offsets_header().to_vec();
        bytes.extend([0x00, 0x00, 0x0F, 0x00].iter().cycle().take(1 << 20));
        let (position, _) = replay(&bytes).err().unwrap();
        assert_eq!(position, OFFSETS_HEADER_BYTES as u64);
    }

    #[test]
    fn a_torn_commit_of_many_partitions_is_cut_not_refused_as_corrupt() {
        // Inside one genuine commit of 2 000 partitions, partition numbers
        // and topic bytes read as length fields claiming long frames; the
        // scan once charged those claims unread, ran out of budget and
        // refused the file instead of cutting its torn tail.
        let first = vec![(TopicPartition::new("t", 0), 0)];
        let all: Vec<_> = (0..2_000).map(|p| (TopicPartition::new("t", p), 0)).collect();
        let bytes = log_of(&[first, all]);
        let replayed = replay(&bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(replayed.offsets, BTreeMap::from([(TopicPartition::new("t", 0), 0)]));
        assert_eq!(replayed.frames, 1);
    }
}
