//! Consumer groups: committed offsets persisted per group, and membership
//! inside the log with Kafka's eager rebalance protocol.
//!
//! When a member joins or leaves, the group starts a rebalance: every
//! member, at its next `poll`, revokes its partitions (its revoke callback
//! runs and it may still commit, its generation being current) and rejoins.
//! Once all have rejoined, the generation is bumped and the partitions of
//! the subscribed topics are split among the members (range or round-robin,
//! as Kafka's assignors do); each member takes its share at its next poll.
//! A commit from an older generation fails with [`Error::StaleGeneration`].
//!
//! Offsets live in `<log>/groups/<group>.offsets`, an append-only log of
//! CRC-framed commits: a commit appends the offsets it changes and returns
//! once an fdatasync covered them (one sync, where an atomic file
//! replacement measured 4.6). Every `SNAPSHOT_FRAMES` commits the log is
//! replaced, atomically, by a snapshot of the whole map. On load, a torn
//! last frame (a commit that never returned) is cut and the one before it
//! stands; a bad frame followed by good ones is corruption: a typed error
//! naming the file, never a reset to 0.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{Error, IoOp, Result};
use crate::notify::Waker;
use crate::storage::le;
use crate::storage::meta;
use crate::storage::Storage;

const OFFSETS_MAGIC: &[u8; 8] = b"LARDRGRP";
const OFFSETS_VERSION: u16 = 1;
const OFFSETS_HEADER_BYTES: usize = 16;
/// Commits appended before the log is compacted into a snapshot.
const SNAPSHOT_FRAMES: usize = 4096;
/// Extension of a group's offsets file.
pub(crate) const OFFSETS_EXTENSION: &str = "offsets";
/// Longest group id: its offsets file's temporary name,
/// `<id>.offsets.tmp`, must fit a 255-byte file name.
pub const MAX_GROUP_ID_CHARS: usize = 255 - ".offsets.tmp".len();

/// Checks a group id: Kafka's topic-name rule (it becomes a file name),
/// and at most [`MAX_GROUP_ID_CHARS`] characters.
pub fn validate_group_id(id: &str) -> Result<()> {
    crate::topic::validate_name(id)?;
    if id.len() > MAX_GROUP_ID_CHARS {
        let reason = "longer than 243 characters (its offsets file name would pass 255 bytes)";
        return Err(Error::InvalidName { name: id.to_string(), reason });
    }
    Ok(())
}

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: u32,
}

impl TopicPartition {
    /// Partition `partition` of `topic`.
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// How a group splits partitions among its members (Kafka's
/// `partition.assignment.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Assignor {
    /// Per topic, contiguous ranges of partitions, the first members taking
    /// one extra when they do not divide evenly (Kafka's `RangeAssignor`).
    #[default]
    Range,
    /// All partitions, sorted, dealt out in turn to the members subscribed to
    /// their topic (Kafka's `RoundRobinAssignor`).
    RoundRobin,
}

impl Assignor {
    /// Splits the partitions of the subscribed topics among `members`
    /// (member id → topics), `partitions(topic)` giving each count.
    pub(crate) fn assign(
        self,
        members: &BTreeMap<String, Vec<String>>,
        partitions: impl Fn(&str) -> u32,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut assignment: BTreeMap<String, Vec<TopicPartition>> =
            members.keys().map(|m| (m.clone(), Vec::new())).collect();
        let topics: BTreeSet<&String> = members.values().flatten().collect();
        let subscribers = |topic: &str| -> Vec<&String> {
            members.iter().filter(|(_, t)| t.iter().any(|t| t == topic)).map(|(m, _)| m).collect()
        };
        match self {
            Assignor::Range => {
                for topic in topics {
                    let owners = subscribers(topic);
                    let (count, n) = (partitions(topic), owners.len() as u32);
                    let (each, extra) = (count / n, count % n);
                    let mut next = 0;
                    for (i, owner) in owners.iter().enumerate() {
                        let take = each + u32::from((i as u32) < extra);
                        let share = (next..next + take).map(|p| TopicPartition::new(topic.as_str(), p));
                        assignment.entry((*owner).clone()).or_default().extend(share);
                        next += take;
                    }
                }
            }
            Assignor::RoundRobin => {
                let all: Vec<TopicPartition> = topics
                    .iter()
                    .flat_map(|t| (0..partitions(t)).map(move |p| TopicPartition::new(t.as_str(), p)))
                    .collect();
                let ring: Vec<&String> = members.keys().collect();
                let mut turn = 0;
                for tp in all {
                    while !members[ring[turn % ring.len()]].contains(&tp.topic) {
                        turn += 1;
                    }
                    assignment.entry(ring[turn % ring.len()].clone()).or_default().push(tp);
                    turn += 1;
                }
            }
        }
        assignment
    }
}

/// One member as `describe_group` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberDescription {
    /// The member's id.
    pub member_id: String,
    /// The topics it subscribed to.
    pub subscription: Vec<String>,
    /// The partitions it holds in the current generation.
    pub assignment: Vec<TopicPartition>,
}

/// One committed offset as `describe_group` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommittedOffset {
    /// The partition.
    pub partition: TopicPartition,
    /// The committed offset: the next one the group will read.
    pub committed: u64,
    /// The partition's end offset now.
    pub end_offset: u64,
    /// `end_offset - committed`.
    pub lag: u64,
}

/// A group as `describe_group` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The current generation (bumped by each completed rebalance).
    pub generation: u64,
    /// Whether a rebalance is under way.
    pub rebalancing: bool,
    /// The live members.
    pub members: Vec<MemberDescription>,
    /// Committed offsets, with the lag behind each partition's end.
    pub offsets: Vec<CommittedOffset>,
    /// Bytes of a torn last commit cut when the offsets were loaded (that
    /// commit never returned; the one before it stands). 0 normally.
    pub torn_commit_bytes: u64,
}

struct Member {
    subscription: Vec<String>,
    /// Removed from the group if a rebalance waits on it longer than this.
    max_poll_interval: Duration,
    last_seen: Instant,
    rejoined: bool,
    generation: u64,
    assignment: Vec<TopicPartition>,
    waker: Arc<Waker>,
}

struct State {
    generation: u64,
    rebalancing: bool,
    assignor: Assignor,
    members: BTreeMap<String, Member>,
    offsets: BTreeMap<TopicPartition, u64>,
    /// The open offsets file; `None` until the group first has something
    /// to store, and after it is closed or deleted.
    log: Option<OffsetsLog>,
    /// Bytes of a torn last commit cut when the offsets were loaded.
    torn_commit_bytes: u64,
    /// The log was closed: every commit and lookup fails.
    closed: bool,
}

/// What a member must do, as `Group::sync` tells it.
pub(crate) enum Sync {
    /// Nothing changed.
    Steady,
    /// A rebalance started: revoke everything, then call `rejoin`.
    Revoke,
    /// A rebalance completed: take this assignment of this generation.
    Assign(u64, Vec<TopicPartition>),
    /// The member was removed (it kept a rebalance waiting longer than its
    /// `max_poll_interval`): its partitions are lost; join again.
    Removed,
    /// Waiting for other members to rejoin.
    Waiting,
}

/// A consumer group of one log.
pub(crate) struct Group {
    id: String,
    path: PathBuf,
    storage: Arc<dyn Storage>,
    state: Mutex<State>,
}

static MEMBER_IDS: AtomicU64 = AtomicU64::new(0);

impl Group {
    /// Loads group `id`'s committed offsets from `dir` (none if the file
    /// does not exist; a damaged file is an error naming it, never a reset).
    pub(crate) fn load(dir: &Path, id: &str, storage: Arc<dyn Storage>) -> Result<Group> {
        let path = dir.join(format!("{id}.{OFFSETS_EXTENSION}"));
        let (log, offsets) = match OffsetsLog::open(&*storage, &path)? {
            Some((log, offsets)) => (Some(log), offsets),
            None => (None, BTreeMap::new()),
        };
        let torn_commit_bytes = log.as_ref().map_or(0, |log| log.torn_bytes);
        let state = State {
            generation: 0,
            rebalancing: false,
            assignor: Assignor::Range,
            members: BTreeMap::new(),
            offsets,
            log,
            torn_commit_bytes,
            closed: false,
        };
        Ok(Group { id: id.to_string(), path, storage, state: Mutex::new(state) })
    }

    /// The group's id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Whether the group exists: it has live members or stored offsets.
    pub(crate) fn exists(&self) -> bool {
        let state = self.state.lock();
        !state.members.is_empty() || state.log.is_some()
    }

    /// Adds a member subscribed to `topics`; starts a rebalance. Returns its
    /// id. A member asking for another assignor than the members already in
    /// the group is refused (Kafka's `INCONSISTENT_GROUP_PROTOCOL`).
    pub(crate) fn join(&self, topics: Vec<String>, options: JoinOptions, waker: Arc<Waker>) -> Result<String> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(Error::Closed { what: "log" });
        }
        if !state.members.is_empty() && state.assignor != options.assignor {
            let group = self.id.clone();
            return Err(Error::InconsistentGroupProtocol {
                group,
                group_assignor: state.assignor,
                requested: options.assignor,
            });
        }
        let id = format!("{}-member-{:08}", self.id, MEMBER_IDS.fetch_add(1, Ordering::Relaxed));
        state.assignor = options.assignor;
        let member = Member {
            subscription: topics,
            max_poll_interval: options.max_poll_interval,
            last_seen: Instant::now(),
            rejoined: true,
            generation: 0,
            assignment: Vec::new(),
            waker,
        };
        state.members.insert(id.clone(), member);
        start_rebalance(&mut state);
        Ok(id)
    }

    /// Removes a member (closed, unsubscribed or dropped); starts a
    /// rebalance among the others.
    pub(crate) fn leave(&self, member: &str, partitions: impl Fn(&str) -> u32) {
        let mut state = self.state.lock();
        if state.members.remove(member).is_some() {
            start_rebalance(&mut state);
            try_complete(&mut state, &partitions);
        }
    }

    /// Tells `member` what to do next. Members that kept a rebalance
    /// waiting past their `max_poll_interval` are removed here.
    pub(crate) fn sync(&self, member: &str, known_generation: u64, partitions: impl Fn(&str) -> u32) -> Sync {
        let mut state = self.state.lock();
        let Some(me) = state.members.get_mut(member) else { return Sync::Removed };
        me.last_seen = Instant::now();
        if state.rebalancing {
            remove_overdue(&mut state);
            try_complete(&mut state, &partitions);
        }
        let Some(me) = state.members.get(member) else { return Sync::Removed };
        if state.rebalancing {
            return if me.rejoined { Sync::Waiting } else { Sync::Revoke };
        }
        if me.generation > known_generation {
            return Sync::Assign(me.generation, me.assignment.clone());
        }
        Sync::Steady
    }

    /// Starts a rebalance if a member subscribes to `topic` (it was created,
    /// grew or was deleted), so its partitions get an owner or are revoked.
    pub(crate) fn topic_changed(&self, topic: &str) {
        let mut state = self.state.lock();
        if state.members.values().any(|m| m.subscription.iter().any(|t| t == topic)) {
            start_rebalance(&mut state);
        }
    }

    /// `member` revoked its partitions; completes the rebalance if it was
    /// the last one the group waited for.
    pub(crate) fn rejoin(&self, member: &str, partitions: impl Fn(&str) -> u32) {
        let mut state = self.state.lock();
        if let Some(me) = state.members.get_mut(member) {
            me.rejoined = true;
            me.assignment.clear();
        }
        try_complete(&mut state, &partitions);
    }

    /// Completes a rebalance whose members all rejoined (used after a join,
    /// when the new member may be alone).
    pub(crate) fn complete_if_ready(&self, partitions: impl Fn(&str) -> u32) {
        try_complete(&mut self.state.lock(), &partitions);
    }

    /// Commits `offsets` durably. A group member must be of the current
    /// generation and hold every partition it commits.
    pub(crate) fn commit(&self, member: Option<(&str, u64)>, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        let mut state = self.state.lock();
        if let Some((member, generation)) = member {
            check_member(&self.id, &state, member, generation, offsets)?;
        }
        self.store(&mut state, offsets)
    }

    /// Appends `offsets` (an offset of `REMOVED` removes the entry) to the
    /// offsets file, creating it with the group's first commit, and applies
    /// them once durable.
    fn store(&self, state: &mut State, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        if state.closed {
            return Err(Error::Closed { what: "log" });
        }
        let storage = &*self.storage;
        let mut committed = state.offsets.clone();
        apply(&mut committed, offsets.iter().cloned());
        match &mut state.log {
            Some(log) if log.frames < SNAPSHOT_FRAMES => log.append(storage, &self.path, offsets)?,
            log => *log = Some(OffsetsLog::snapshot(storage, &self.path, &committed)?),
        }
        state.offsets = committed;
        Ok(())
    }

    /// The committed offset of `tp`, if any.
    pub(crate) fn committed(&self, tp: &TopicPartition) -> Result<Option<u64>> {
        let state = self.state.lock();
        if state.closed {
            return Err(Error::Closed { what: "log" });
        }
        Ok(state.offsets.get(tp).copied())
    }

    /// The topics this group has committed offsets for.
    pub(crate) fn committed_topics(&self) -> Vec<String> {
        let state = self.state.lock();
        let topics: BTreeSet<&String> = state.offsets.keys().map(|tp| &tp.topic).collect();
        topics.into_iter().cloned().collect()
    }

    /// Removes the committed offsets of `topic`'s partitions (it was
    /// deleted: a topic created again under its name starts afresh).
    pub(crate) fn forget_topic(&self, topic: &str) -> Result<()> {
        let mut state = self.state.lock();
        let removed: Vec<(TopicPartition, u64)> =
            state.offsets.keys().filter(|tp| tp.topic == topic).map(|tp| (tp.clone(), REMOVED)).collect();
        if removed.is_empty() {
            return Ok(());
        }
        self.store(&mut state, &removed)
    }

    /// Deletes the group's stored offsets (`kafka-consumer-groups
    /// --delete`): refused while it has members.
    pub(crate) fn delete(&self) -> Result<()> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(Error::Closed { what: "log" });
        }
        if !state.members.is_empty() {
            return Err(Error::GroupNotEmpty { group: self.id.clone(), members: state.members.len() });
        }
        if state.log.take().is_none() {
            return Err(Error::UnknownGroup { group: self.id.clone() });
        }
        state.offsets.clear();
        state.torn_commit_bytes = 0;
        let path = &self.path;
        self.storage.remove_file(path).map_err(|e| Error::io(IoOp::Remove, path, e))?;
        crate::storage::sync_dir(&*self.storage, path.parent().unwrap_or(Path::new(".")))
    }

    /// Closes the offsets file: every later commit or lookup fails with
    /// [`Error::Closed`]. Waits for a commit under way.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        state.log.take();
    }

    /// Members, generation and committed offsets; `end_offset` gives each
    /// partition's end.
    pub(crate) fn describe(&self, end_offset: impl Fn(&TopicPartition) -> u64) -> GroupDescription {
        let state = self.state.lock();
        let members = state
            .members
            .iter()
            .map(|(id, m)| MemberDescription {
                member_id: id.clone(),
                subscription: m.subscription.clone(),
                assignment: m.assignment.clone(),
            })
            .collect();
        let offsets = state
            .offsets
            .iter()
            .map(|(tp, &committed)| {
                let end = end_offset(tp);
                CommittedOffset {
                    partition: tp.clone(),
                    committed,
                    end_offset: end,
                    lag: end.saturating_sub(committed),
                }
            })
            .collect();
        GroupDescription {
            group_id: self.id.clone(),
            generation: state.generation,
            rebalancing: state.rebalancing,
            members,
            offsets,
            torn_commit_bytes: state.torn_commit_bytes,
        }
    }
}

fn check_member(
    group: &str,
    state: &State,
    member: &str,
    generation: u64,
    offsets: &[(TopicPartition, u64)],
) -> Result<()> {
    let Some(me) = state.members.get(member) else {
        return Err(Error::UnknownMember { group: group.into(), member: member.into() });
    };
    if me.generation != generation || generation != state.generation {
        return Err(Error::StaleGeneration { group: group.into(), generation, current: state.generation });
    }
    match offsets.iter().find(|(tp, _)| !me.assignment.contains(tp)) {
        Some((tp, _)) => Err(Error::NotAssigned { topic: tp.topic.clone(), partition: tp.partition }),
        None => Ok(()),
    }
}

/// How a member takes part in its group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JoinOptions {
    pub(crate) assignor: Assignor,
    pub(crate) max_poll_interval: Duration,
}

/// Removes the members a rebalance is waiting on that have not polled
/// within their `max_poll_interval` (Kafka's `max.poll.interval.ms`).
fn remove_overdue(state: &mut State) {
    state.members.retain(|_, m| m.rejoined || m.last_seen.elapsed() <= m.max_poll_interval);
}

fn start_rebalance(state: &mut State) {
    state.rebalancing = true;
    for member in state.members.values_mut() {
        if !member.assignment.is_empty() || member.generation > 0 {
            member.rejoined = false;
        }
        member.waker.wake();
    }
}

fn try_complete(state: &mut State, partitions: &dyn Fn(&str) -> u32) {
    if !state.rebalancing || state.members.values().any(|m| !m.rejoined) {
        return;
    }
    state.generation += 1;
    state.rebalancing = false;
    let subscriptions: BTreeMap<String, Vec<String>> =
        state.members.iter().map(|(id, m)| (id.clone(), m.subscription.clone())).collect();
    let mut assignment = state.assignor.assign(&subscriptions, partitions);
    let generation = state.generation;
    for (id, member) in state.members.iter_mut() {
        debug_assert!(member.generation < generation, "a member's generation must only grow");
        member.assignment = assignment.remove(id).unwrap_or_default();
        member.generation = generation;
        member.waker.wake();
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
    header[..8].copy_from_slice(OFFSETS_MAGIC);
    le::put_u16(&mut header, 8, OFFSETS_VERSION);
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

/// Replays an offsets log. A bad frame that is the last thing in the file
/// is a torn commit (cut); one followed by a good frame is corruption.
fn replay(bytes: &[u8]) -> Result<Replayed, (u64, String)> {
    if bytes.len() < OFFSETS_HEADER_BYTES || bytes[..8] != *OFFSETS_MAGIC {
        return Err((0, "not a larder offsets file (bad magic)".into()));
    }
    if le::u16_at(bytes, 8) != OFFSETS_VERSION {
        return Err((8, format!("unsupported version {}", le::u16_at(bytes, 8))));
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

/// Whether a valid frame starts anywhere after the bad one at `at`.
fn good_frame_after(bytes: &[u8], at: usize) -> bool {
    (at + 1..bytes.len()).any(|start| decode_frame(&bytes[start..]).is_ok_and(|(entries, _)| !entries.is_empty()))
}

fn decode_frame(bytes: &[u8]) -> Result<(Vec<(TopicPartition, u64)>, usize), String> {
    let truncated = || "truncated commit frame".to_string();
    let len = le::u32_at(bytes.get(..4).ok_or_else(truncated)?, 0) as usize;
    if len < 12 {
        return Err(format!("commit frame length {len} is too small"));
    }
    let frame = bytes.get(..len).ok_or_else(truncated)?;
    if le::u32_at(frame, 4) != crc32c::crc32c(&frame[8..]) {
        return Err("commit frame checksum mismatch".into());
    }
    let payload = &frame[8..];
    let count = le::u32_at(payload, 0);
    let mut at = 4;
    let mut entries = Vec::new();
    for _ in 0..count {
        let topic_len = le::u16_at(payload.get(at..at + 2).ok_or_else(truncated)?, 0) as usize;
        let topic = payload.get(at + 2..at + 2 + topic_len).ok_or_else(truncated)?;
        let topic = std::str::from_utf8(topic).map_err(|_| "topic name is not UTF-8".to_string())?;
        let fixed = payload.get(at + 2 + topic_len..at + 14 + topic_len).ok_or_else(truncated)?;
        entries.push((TopicPartition::new(topic, le::u32_at(fixed, 0)), le::u64_at(fixed, 4)));
        at += 14 + topic_len;
    }
    if at != payload.len() {
        return Err(format!("{} bytes after the last entry", payload.len() - at));
    }
    Ok((entries, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        entries.iter().map(|(m, t)| (m.to_string(), t.iter().map(|t| t.to_string()).collect())).collect()
    }

    fn names(assignment: &[TopicPartition]) -> Vec<String> {
        assignment.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn range_gives_contiguous_shares_extra_to_the_first() {
        let m = members(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
        let assignment = Assignor::Range.assign(&m, |_| 7);
        assert_eq!(names(&assignment["a"]), ["t/0", "t/1", "t/2"]);
        assert_eq!(names(&assignment["b"]), ["t/3", "t/4"]);
        assert_eq!(names(&assignment["c"]), ["t/5", "t/6"]);
    }

    #[test]
    fn round_robin_deals_in_turn_and_skips_members_not_subscribed() {
        let m = members(&[("a", &["t", "u"]), ("b", &["t"])]);
        let assignment = Assignor::RoundRobin.assign(&m, |topic| if topic == "t" { 3 } else { 2 });
        assert_eq!(names(&assignment["a"]), ["t/0", "t/2", "u/0", "u/1"]);
        assert_eq!(names(&assignment["b"]), ["t/1"]);
    }

    #[test]
    fn more_members_than_partitions_leaves_some_empty() {
        let m = members(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
        let assignment = Assignor::Range.assign(&m, |_| 2);
        assert_eq!(assignment.values().map(Vec::len).collect::<Vec<_>>(), [1, 1, 0]);
    }

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
}
