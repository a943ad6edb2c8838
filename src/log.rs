//! A log directory: the lock that keeps it to one opener, its topics, its
//! groups, and the background sync of `Interval` topics.
//!
//! ```text
//! <dir>/LOCK                       exclusive fs2 lock while open
//! <dir>/topics/<topic>/topic.meta  partitions + options, CRC-framed
//! <dir>/topics/<topic>/<n>/        partition n (see docs/FORMAT.md)
//! <dir>/topics/<topic>~c/          a topic being created (removed on open)
//! <dir>/topics/<topic>~d/          a topic being deleted (removed on open)
//! <dir>/groups/<group>.offsets     a group's committed offsets
//! ```
//!
//! Creating, deleting and growing a topic do their file work outside the
//! topic map's lock; a name being created or deleted is reserved meanwhile,
//! so no second admin call on it starts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::consumer::{Consumer, ConsumerConfig};
use crate::error::{Error, IoOp, Result};
use crate::group::{validate_group_id, Group, GroupDescription, OFFSETS_EXTENSION};
use crate::partition::Partition;
use crate::partition::RecoveryReport;
use crate::producer::{Producer, ProducerConfig};
use crate::storage::lock::{lock_file, DirLock};
use crate::storage::{self, OsStorage, Storage};
use crate::topic::{self, validate_name, Durability, Topic, TopicConfig, TopicDescription};

const LOCK_FILE: &str = "LOCK";
const TOPICS_DIR: &str = "topics";
const GROUPS_DIR: &str = "groups";

type Topics = Arc<RwLock<BTreeMap<String, Arc<Topic>>>>;

/// How a log is opened.
#[derive(Debug, Clone)]
pub struct LogOptions {
    auto_create: Option<TopicConfig>,
    repair: bool,
    storage: Arc<dyn Storage>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions { auto_create: None, repair: false, storage: Arc::new(OsStorage) }
    }
}

impl LogOptions {
    /// Creates an unknown topic with `config` on its first send (off by
    /// default, like a careful Kafka broker's `auto.create.topics.enable`).
    pub fn auto_create_topics(mut self, config: TopicConfig) -> Self {
        self.auto_create = Some(config);
        self
    }

    /// On open, accept damage instead of refusing to open: corruption in a
    /// partition is cut there (see [`PartitionOptions::repair`]), missing
    /// segments are accepted, and a topic directory whose `topic.meta` is
    /// missing gets one rebuilt from its partition directories with the
    /// default configuration. What was lost is in the recovery reports.
    ///
    /// [`PartitionOptions::repair`]: crate::PartitionOptions::repair
    pub fn repair(mut self, repair: bool) -> Self {
        self.repair = repair;
        self
    }

    /// The file layer to do I/O through (default: the operating system).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = storage;
        self
    }
}

/// An open log directory: topics of partitions, shared by producers.
/// Cheap to clone; the directory stays locked until the last clone, and
/// every producer made from it, is gone (or [`Log::close`] is called).
#[derive(Clone)]
pub struct Log {
    inner: Arc<LogInner>,
}

pub(crate) struct LogInner {
    dir: PathBuf,
    options: LogOptions,
    topics: Topics,
    /// Topic names an admin call (create, delete) is working on.
    busy: Mutex<BTreeSet<String>>,
    busy_done: Condvar,
    groups: Mutex<BTreeMap<String, Arc<Group>>>,
    producers: Mutex<Vec<Weak<crate::producer::ProducerInner>>>,
    closed: AtomicBool,
    /// The interval syncer: dropping the sender stops it.
    syncer: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
    /// Held while open; released by `close`, or when the last owner drops.
    lock: Mutex<Option<DirLock>>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("dir", &self.inner.dir).field("topics", &self.list_topics()).finish()
    }
}

impl Log {
    /// Opens (creating if needed) the log in `dir`: takes its lock (a second
    /// open, from this process or another, fails with [`Error::Locked`]) and
    /// recovers every partition of every topic.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<Log> {
        let dir = dir.as_ref().to_path_buf();
        let storage = Arc::clone(&options.storage);
        if dir.exists() && !dir.is_dir() {
            return Err(Error::invalid("dir", format!("{} exists and is not a directory", dir.display())));
        }
        storage::create_dir_synced(&*storage, &dir)?;
        let lock = lock_file(&dir, LOCK_FILE)?;
        for sub in [TOPICS_DIR, GROUPS_DIR] {
            storage::create_dir_synced(&*storage, &dir.join(sub))?;
        }
        // Offsets files read from now on may be renames a crash left in
        // the page cache only: made durable before they are acted on.
        storage::sync_dir(&*storage, &dir.join(GROUPS_DIR))?;
        let topics = Arc::new(RwLock::new(topic::open_all(&dir.join(TOPICS_DIR), &storage, options.repair)?));
        let syncer = start_interval_syncer(Arc::clone(&topics))?;
        let opened = Log::from_parts(dir, options, topics, syncer, lock);
        opened.inner.forget_missing_topics()?;
        Ok(opened)
    }

    fn from_parts(
        dir: PathBuf,
        options: LogOptions,
        topics: Topics,
        syncer: (Sender<()>, JoinHandle<()>),
        lock: DirLock,
    ) -> Log {
        let inner = Arc::new(LogInner {
            dir,
            options,
            topics,
            busy: Mutex::new(BTreeSet::new()),
            busy_done: Condvar::new(),
            groups: Mutex::new(BTreeMap::new()),
            producers: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            syncer: Mutex::new(Some(syncer)),
            lock: Mutex::new(Some(lock)),
        });
        Log { inner }
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Creates topic `name` with `config`. Atomic: the topic is built in a
    /// directory of its own and renamed into place, so a failure (or a
    /// crash) part way leaves nothing behind.
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<()> {
        self.inner.create_topic(name, config).map(drop)
    }

    /// Deletes topic `name` and all its records. Producers' later sends to
    /// it fail with [`Error::UnknownTopic`].
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.inner.delete_topic(name)
    }

    /// Names of every topic, sorted (none once the log is closed).
    pub fn list_topics(&self) -> Vec<String> {
        self.inner.topics.read().keys().cloned().collect()
    }

    /// Configuration and per-partition figures of topic `name`.
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        Ok(self.inner.topic(name)?.describe())
    }

    /// Grows topic `name` to `partitions` partitions; the count only grows.
    /// The new partitions exist once `topic.meta` names them: if this fails,
    /// the topic keeps its old count. Groups subscribed to the topic
    /// rebalance so the new partitions are read.
    pub fn add_partitions(&self, name: &str, partitions: u32) -> Result<()> {
        self.inner.topic(name)?.add_partitions(partitions)?;
        self.inner.topic_changed(name);
        Ok(())
    }

    /// Partition `partition` of topic `name`, for reading.
    pub fn partition(&self, name: &str, partition: u32) -> Result<Arc<Partition>> {
        self.inner.topic(name)?.partition(partition)
    }

    /// What recovery found in each partition when it was opened:
    /// `(topic, partition, report)`.
    pub fn recovery_reports(&self) -> Vec<(String, u32, RecoveryReport)> {
        let topics = self.inner.topics.read();
        let mut reports = Vec::new();
        for (name, topic) in topics.iter() {
            for (n, partition) in topic.partitions().iter().enumerate() {
                reports.push((name.clone(), n as u32, partition.recovery_report().clone()));
            }
        }
        reports
    }

    /// A producer sending into this log.
    pub fn producer(&self, config: ProducerConfig) -> Result<Producer> {
        self.inner.check_open()?;
        let producer = Producer::start(Arc::clone(&self.inner), config)?;
        self.inner.producers.lock().push(producer.downgrade());
        Ok(producer)
    }

    /// A consumer reading from this log.
    pub fn consumer(&self, config: ConsumerConfig) -> Result<Consumer> {
        self.inner.check_open()?;
        Consumer::new(Arc::clone(&self.inner), config)
    }

    /// Ids of the groups with committed offsets or live members, sorted.
    pub fn list_groups(&self) -> Result<Vec<String>> {
        self.inner.check_open()?;
        let groups = self.inner.groups.lock();
        let mut ids: BTreeSet<String> = groups.values().filter(|g| g.exists()).map(|g| g.id().to_string()).collect();
        ids.extend(stored_group_ids(&self.inner.dir)?.into_iter().filter(|id| !groups.contains_key(id)));
        Ok(ids.into_iter().collect())
    }

    /// Members, assignment, committed offsets and lag of group `id`;
    /// [`Error::UnknownGroup`] if it has neither members nor offsets (and
    /// asking creates nothing).
    pub fn describe_group(&self, id: &str) -> Result<GroupDescription> {
        let group = self.inner.group(id)?;
        if !group.exists() {
            return Err(Error::UnknownGroup { group: id.to_string() });
        }
        Ok(group.describe(|tp| self.partition(&tp.topic, tp.partition).map_or(0, |p| p.end_offset())))
    }

    /// Deletes group `id` and its committed offsets, as
    /// `kafka-consumer-groups --delete`: refused with
    /// [`Error::GroupNotEmpty`] while it has members, and
    /// [`Error::UnknownGroup`] if it stores nothing.
    pub fn delete_group(&self, id: &str) -> Result<()> {
        self.inner.group(id)?.delete()
    }

    /// Abandons the log as a crash would: no partition is sealed or synced,
    /// no clean-shutdown marker is written, the locks are released. What
    /// was appended stays in the OS page cache, as when the process is
    /// killed. Producers and consumers should be dropped first.
    #[cfg(feature = "fault-injection")]
    pub fn simulate_crash(self) {
        let _ = self.inner.shut(|partition| {
            partition.abandon();
            Ok(())
        });
    }

    /// Closes the log: every producer made from it is drained (its queued
    /// sends appended and acknowledged), then every partition is synced and
    /// sealed and its clean-shutdown marker written, every group's offsets
    /// file closed and every thread the log started joined. When it returns
    /// no file of the log is open (records still held keep their own
    /// mappings), and every handle of the log — other clones, producers,
    /// consumers, partitions — fails with [`Error::Closed`]. Returns the
    /// first error.
    pub fn close(self) -> Result<()> {
        self.inner.shut(Partition::shutdown)
    }
}

impl Drop for LogInner {
    /// The last owner gone: close every partition here and now (sealed,
    /// marked clean, unlocked), whoever else still holds a topic.
    fn drop(&mut self) {
        let _ = self.shut(Partition::shutdown);
    }
}

impl LogInner {
    fn topics_dir(&self) -> PathBuf {
        self.dir.join(TOPICS_DIR)
    }

    /// Fails with [`Error::Closed`] once the log is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed { what: "log" });
        }
        Ok(())
    }

    /// Closes the log once, closing each partition with `close_partition`.
    fn shut(&self, close_partition: impl Fn(&Partition) -> Result<()>) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let producers: Vec<_> = self.producers.lock().drain(..).filter_map(|p| p.upgrade()).collect();
        for producer in producers {
            producer.close();
        }
        if let Some((stop, syncer)) = self.syncer.lock().take() {
            drop(stop);
            let _ = syncer.join();
        }
        for group in std::mem::take(&mut *self.groups.lock()).into_values() {
            group.close();
        }
        let topics = std::mem::take(&mut *self.topics.write());
        let mut first_error = Ok(());
        for topic in topics.values() {
            for partition in topic.partitions() {
                let closed = close_partition(&partition);
                if first_error.is_ok() {
                    first_error = closed;
                }
            }
        }
        self.lock.lock().take();
        first_error
    }

    fn create_topic(&self, name: &str, config: TopicConfig) -> Result<Arc<Topic>> {
        self.check_open()?;
        validate_name(name)?;
        config.validate()?;
        let reservation = self.reserve(name)?;
        if self.topics.read().contains_key(name) {
            return Err(Error::TopicExists { topic: name.into() });
        }
        let topic = Arc::new(Topic::create(&self.topics_dir(), name, config, Arc::clone(&self.options.storage))?);
        self.topics.write().insert(name.to_string(), Arc::clone(&topic));
        drop(reservation);
        self.topic_changed(name);
        Ok(topic)
    }

    /// Lets every group follow a change of `topic`'s partitions.
    fn topic_changed(&self, topic: &str) {
        for group in self.groups.lock().values() {
            group.topic_changed(topic);
        }
    }

    /// Every group stored or in use, loaded.
    fn all_groups(&self) -> Result<Vec<Arc<Group>>> {
        for id in stored_group_ids(&self.dir)? {
            self.group(&id)?;
        }
        Ok(self.groups.lock().values().cloned().collect())
    }

    /// Removes committed offsets of topics that no longer exist, in every
    /// group: a delete interrupted before it got to them. A group whose
    /// offsets file is damaged is left alone here; using it fails by name.
    fn forget_missing_topics(&self) -> Result<()> {
        for id in stored_group_ids(&self.dir)? {
            match self.group(&id) {
                Err(Error::Corrupt { .. } | Error::UnsupportedFile { .. }) => {}
                loaded => drop(loaded?),
            }
        }
        let groups: Vec<Arc<Group>> = self.groups.lock().values().cloned().collect();
        for group in groups {
            for topic in group.committed_topics() {
                if !self.topics.read().contains_key(&topic) {
                    group.forget_topic(&topic)?;
                }
            }
        }
        Ok(())
    }

    fn delete_topic(&self, name: &str) -> Result<()> {
        self.check_open()?;
        validate_name(name)?;
        let reservation = self.reserve(name)?;
        let topic = self.topics.write().remove(name).ok_or_else(|| Error::UnknownTopic { topic: name.into() })?;
        let doomed = match topic.retire_dir(&self.topics_dir()) {
            Ok(doomed) => doomed,
            Err(error) => {
                // Nothing was removed: the topic stays.
                self.topics.write().insert(name.to_string(), topic);
                return Err(error);
            }
        };
        let finished = topic.finish_delete(&doomed);
        drop(reservation);
        self.topic_changed(name);
        // A topic created again under this name starts afresh; a crash
        // before this is caught up with on the next open.
        for group in self.all_groups()? {
            group.forget_topic(name)?;
        }
        finished
    }

    /// Reserves `name` for an admin call, or fails with
    /// [`Error::TopicExists`] if another one is working on it.
    fn reserve(&self, name: &str) -> Result<Reservation<'_>> {
        if !self.busy.lock().insert(name.to_string()) {
            return Err(Error::TopicExists { topic: name.into() });
        }
        Ok(Reservation { log: self, name: name.to_string() })
    }

    /// Group `id`, loaded on first use.
    pub(crate) fn group(&self, id: &str) -> Result<Arc<Group>> {
        self.check_open()?;
        validate_group_id(id)?;
        let mut groups = self.groups.lock();
        if let Some(group) = groups.get(id) {
            return Ok(Arc::clone(group));
        }
        let group = Arc::new(Group::load(&self.dir.join(GROUPS_DIR), id, Arc::clone(&self.options.storage))?);
        groups.insert(id.to_string(), Arc::clone(&group));
        Ok(group)
    }

    /// The partition count of `topic`, 0 if it does not exist.
    pub(crate) fn partition_count(&self, topic: &str) -> u32 {
        self.topics.read().get(topic).map_or(0, |t| t.partition_count())
    }

    /// Topic `name`, validated and existing.
    pub(crate) fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.check_open()?;
        if let Some(topic) = self.topics.read().get(name) {
            return Ok(Arc::clone(topic));
        }
        validate_name(name)?;
        Err(Error::UnknownTopic { topic: name.into() })
    }

    /// Topic `name`, created with the auto-create configuration if it is
    /// unknown and auto-creation is on. A creation under way by another
    /// caller is waited for.
    pub(crate) fn topic_for_send(&self, name: &str) -> Result<Arc<Topic>> {
        loop {
            match (self.topic(name), &self.options.auto_create) {
                (Err(Error::UnknownTopic { .. }), Some(config)) => match self.create_topic(name, config.clone()) {
                    Err(Error::TopicExists { .. }) => self.wait_not_busy(name),
                    created => return created,
                },
                (found, _) => return found,
            }
        }
    }

    /// Waits until no admin call works on `name`.
    fn wait_not_busy(&self, name: &str) {
        let mut busy = self.busy.lock();
        while busy.contains(name) {
            self.busy_done.wait(&mut busy);
        }
    }
}

/// Ids of the groups with an offsets file in `dir`'s groups directory.
fn stored_group_ids(dir: &Path) -> Result<Vec<String>> {
    let dir = dir.join(GROUPS_DIR);
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(IoOp::List, &dir, e))? {
        let name = entry.map_err(|e| Error::io(IoOp::List, &dir, e))?.file_name();
        let id = name.to_str().and_then(|n| n.strip_suffix(&format!(".{OFFSETS_EXTENSION}")));
        if let Some(id) = id.filter(|id| validate_group_id(id).is_ok()) {
            ids.push(id.to_string());
        }
    }
    ids.sort();
    Ok(ids)
}

/// A topic name reserved for one admin call; released when dropped.
struct Reservation<'a> {
    log: &'a LogInner,
    name: String,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.log.busy.lock().remove(&self.name);
        self.log.busy_done.notify_all();
    }
}

/// Syncs the partitions of `Interval` topics at their period, until its
/// stop channel disconnects; the log joins it when it closes. It holds the
/// topic map only, never the log itself, so dropping the log stays
/// immediate.
fn start_interval_syncer(topics: Topics) -> Result<(Sender<()>, JoinHandle<()>)> {
    let (stop, stopped): (Sender<()>, Receiver<()>) = crossbeam_channel::bounded(0);
    let name = "larder-interval-sync";
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut last_sync: BTreeMap<String, Instant> = BTreeMap::new();
            let mut tick = Duration::from_millis(100);
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                tick = sync_due(&topics, &mut last_sync);
            }
        })
        .map_err(|e| Error::io(IoOp::SpawnThread, name, e))?;
    Ok((stop, thread))
}

/// Syncs every `Interval` topic whose period elapsed; returns how long to
/// wait before looking again.
fn sync_due(topics: &RwLock<BTreeMap<String, Arc<Topic>>>, last_sync: &mut BTreeMap<String, Instant>) -> Duration {
    let topics: Vec<Arc<Topic>> = topics.read().values().cloned().collect();
    let mut tick = Duration::from_millis(100);
    for topic in topics {
        let Durability::Interval(period) = topic.durability() else { continue };
        tick = tick.min(period).max(Duration::from_millis(1));
        let last = last_sync.entry(topic.name().to_string()).or_insert_with(Instant::now);
        if last.elapsed() >= period {
            for partition in topic.partitions() {
                // A failure poisons the partition; its writers see it.
                let _ = partition.sync();
            }
            *last = Instant::now();
        }
    }
    tick
}
