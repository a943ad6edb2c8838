//! A log directory: the lock that keeps it to one opener, its topics, and
//! the background sync of `Interval` topics.
//!
//! ```text
//! <dir>/LOCK                       exclusive fs2 lock while open
//! <dir>/topics/<topic>/topic.meta  partitions + options, CRC-framed
//! <dir>/topics/<topic>/<n>/        partition n (see docs/FORMAT.md)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Mutex, RwLock};

use crate::consumer::{Consumer, ConsumerConfig};
use crate::error::{Error, IoOp, Result};
use crate::group::{Group, GroupDescription, OFFSETS_EXTENSION};
use crate::partition::{lock_file, DirLock, Partition};
use crate::producer::{Producer, ProducerConfig};
use crate::recovery::RecoveryReport;
use crate::storage::{OsStorage, Storage};
use crate::topic::{validate_name, Durability, Topic, TopicConfig, TopicDescription};

const LOCK_FILE: &str = "LOCK";
const TOPICS_DIR: &str = "topics";
const GROUPS_DIR: &str = "groups";
/// Suffix of a topic directory being deleted; `~` cannot occur in a topic
/// name, so it never collides with one.
const DELETED_SUFFIX: &str = "~deleted";

/// How a log is opened.
#[derive(Debug, Clone)]
pub struct LogOptions {
    auto_create: Option<TopicConfig>,
    storage: Arc<dyn Storage>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions { auto_create: None, storage: Arc::new(OsStorage) }
    }
}

impl LogOptions {
    /// Creates an unknown topic with `config` on its first send (off by
    /// default, like a careful Kafka broker's `auto.create.topics.enable`).
    pub fn auto_create_topics(mut self, config: TopicConfig) -> Self {
        self.auto_create = Some(config);
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
    topics: Arc<RwLock<BTreeMap<String, Arc<Topic>>>>,
    groups: Mutex<BTreeMap<String, Arc<Group>>>,
    producers: Mutex<Vec<Weak<crate::producer::ProducerInner>>>,
    _stop_syncer: Sender<()>,
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
        let topics_dir = dir.join(TOPICS_DIR);
        if dir.exists() && !dir.is_dir() {
            return Err(Error::invalid("dir", format!("{} exists and is not a directory", dir.display())));
        }
        for sub in [&topics_dir, &dir.join(GROUPS_DIR)] {
            storage.create_dir_all(sub).map_err(|e| Error::io(IoOp::CreateDirectory, sub, e))?;
        }
        let lock = lock_file(&dir, LOCK_FILE)?;
        let topics = open_topics(&topics_dir, &storage)?;
        let (stop_syncer, stopped) = crossbeam_channel::bounded(0);
        let topics = Arc::new(RwLock::new(topics));
        start_interval_syncer(Arc::clone(&topics), stopped);
        let inner = Arc::new(LogInner {
            dir,
            options,
            topics,
            groups: Mutex::new(BTreeMap::new()),
            producers: Mutex::new(Vec::new()),
            _stop_syncer: stop_syncer,
            lock: Mutex::new(Some(lock)),
        });
        Ok(Log { inner })
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Creates topic `name` with `config`.
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<()> {
        self.inner.create_topic(name, config).map(drop)
    }

    /// Deletes topic `name` and all its records. Producers' later sends to
    /// it fail with [`Error::UnknownTopic`].
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        validate_name(name)?;
        let storage = &*self.inner.options.storage;
        let mut topics = self.inner.topics.write();
        let topic = topics.remove(name).ok_or_else(|| Error::UnknownTopic { topic: name.into() })?;
        let doomed = self.inner.topics_dir().join(format!("{name}{DELETED_SUFFIX}"));
        storage.rename(topic.dir(), &doomed).map_err(|e| Error::io(IoOp::Rename, &doomed, e))?;
        sync_dir(storage, &self.inner.topics_dir())?;
        drop(topics);
        topic.mark_deleted();
        for partition in topic.partitions() {
            partition.abandon();
        }
        remove_deleted(storage, &doomed)
    }

    /// Names of every topic, sorted.
    pub fn list_topics(&self) -> Vec<String> {
        self.inner.topics.read().keys().cloned().collect()
    }

    /// Configuration and per-partition figures of topic `name`.
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        Ok(self.inner.topic(name)?.describe())
    }

    /// Grows topic `name` to `partitions` partitions; the count only grows.
    /// Groups subscribed to the topic rebalance so the new partitions are read.
    pub fn add_partitions(&self, name: &str, partitions: u32) -> Result<()> {
        self.inner.topic(name)?.add_partitions(partitions)?;
        for group in self.inner.groups.lock().values() {
            group.topic_grew(name);
        }
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
        let producer = Producer::start(Arc::clone(&self.inner), config)?;
        self.inner.producers.lock().push(producer.downgrade());
        Ok(producer)
    }

    /// A consumer reading from this log.
    pub fn consumer(&self, config: ConsumerConfig) -> Result<Consumer> {
        Consumer::new(Arc::clone(&self.inner), config)
    }

    /// Ids of the groups with committed offsets or live members, sorted.
    pub fn list_groups(&self) -> Result<Vec<String>> {
        let mut ids: BTreeSet<String> = self.inner.groups.lock().keys().cloned().collect();
        let dir = self.inner.dir.join(GROUPS_DIR);
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(IoOp::List, &dir, e))? {
            let name = entry.map_err(|e| Error::io(IoOp::List, &dir, e))?.file_name();
            let id = name.to_str().and_then(|n| n.strip_suffix(&format!(".{OFFSETS_EXTENSION}")));
            if let Some(id) = id.filter(|id| validate_name(id).is_ok()) {
                ids.insert(id.to_string());
            }
        }
        Ok(ids.into_iter().collect())
    }

    /// Members, assignment, committed offsets and lag of group `id`.
    pub fn describe_group(&self, id: &str) -> Result<GroupDescription> {
        let group = self.inner.group(id)?;
        Ok(group.describe(|tp| self.partition(&tp.topic, tp.partition).map_or(0, |p| p.end_offset())))
    }

    /// Abandons the log as a crash would: no partition is sealed or synced,
    /// no clean-shutdown marker is written, the locks are released. What
    /// was appended stays in the OS page cache, as when the process is
    /// killed. Producers and consumers should be dropped first.
    #[cfg(feature = "fault-injection")]
    pub fn simulate_crash(self) {
        for topic in self.inner.topics.read().values() {
            for partition in topic.partitions() {
                partition.abandon();
            }
        }
        self.inner.lock.lock().take();
    }

    /// Closes the log: every producer made from it is drained (its queued
    /// sends appended and acknowledged), then every partition is synced and
    /// sealed and its clean-shutdown marker written. Returns the first error.
    pub fn close(self) -> Result<()> {
        let producers: Vec<_> = self.inner.producers.lock().drain(..).filter_map(|p| p.upgrade()).collect();
        for producer in producers {
            producer.close();
        }
        let mut first_error = Ok(());
        for topic in self.inner.topics.read().values() {
            for partition in topic.partitions() {
                let closed = partition.shutdown();
                if first_error.is_ok() {
                    first_error = closed;
                }
            }
        }
        self.inner.lock.lock().take();
        first_error
    }
}

impl Drop for LogInner {
    /// The last owner gone: close every partition here and now (sealed,
    /// marked clean, unlocked), whoever else still holds a topic.
    fn drop(&mut self) {
        for topic in self.topics.read().values() {
            for partition in topic.partitions() {
                let _ = partition.shutdown();
            }
        }
    }
}

impl LogInner {
    fn topics_dir(&self) -> PathBuf {
        self.dir.join(TOPICS_DIR)
    }

    fn create_topic(&self, name: &str, config: TopicConfig) -> Result<Arc<Topic>> {
        validate_name(name)?;
        let mut topics = self.topics.write();
        if topics.contains_key(name) {
            return Err(Error::TopicExists { topic: name.into() });
        }
        let dir = self.topics_dir().join(name);
        let topic = Arc::new(Topic::create(dir, name, config, Arc::clone(&self.options.storage))?);
        topics.insert(name.to_string(), Arc::clone(&topic));
        Ok(topic)
    }

    /// Group `id`, loaded on first use.
    pub(crate) fn group(&self, id: &str) -> Result<Arc<Group>> {
        validate_name(id)?;
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
        if let Some(topic) = self.topics.read().get(name) {
            return Ok(Arc::clone(topic));
        }
        validate_name(name)?;
        Err(Error::UnknownTopic { topic: name.into() })
    }

    /// Topic `name`, created with the auto-create configuration if it is
    /// unknown and auto-creation is on.
    pub(crate) fn topic_for_send(&self, name: &str) -> Result<Arc<Topic>> {
        match (self.topic(name), &self.options.auto_create) {
            (Err(Error::UnknownTopic { .. }), Some(config)) => match self.create_topic(name, config.clone()) {
                Err(Error::TopicExists { .. }) => self.topic(name),
                created => created,
            },
            (found, _) => found,
        }
    }
}

fn open_topics(topics_dir: &Path, storage: &Arc<dyn Storage>) -> Result<BTreeMap<String, Arc<Topic>>> {
    let mut topics = BTreeMap::new();
    let entries = std::fs::read_dir(topics_dir).map_err(|e| Error::io(IoOp::List, topics_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(IoOp::List, topics_dir, e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
        if name.ends_with(DELETED_SUFFIX) {
            remove_deleted(&**storage, &path)?;
            continue;
        }
        if validate_name(&name).is_err() || !path.is_dir() {
            continue;
        }
        if !path.join("topic.meta").exists() {
            // A creation cut short before its metadata was written: it never
            // existed as far as any caller knows.
            remove_deleted(&**storage, &path)?;
            continue;
        }
        topics.insert(name.clone(), Arc::new(Topic::open(path, &name, Arc::clone(storage))?));
    }
    Ok(topics)
}

fn remove_deleted(storage: &dyn Storage, path: &Path) -> Result<()> {
    remove_tree(storage, path)?;
    sync_dir(storage, path.parent().unwrap_or(Path::new(".")))
}

/// Removes a directory tree, its files through the file layer.
fn remove_tree(storage: &dyn Storage, dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(IoOp::List, dir, e))? {
        let path = entry.map_err(|e| Error::io(IoOp::List, dir, e))?.path();
        if path.is_dir() {
            remove_tree(storage, &path)?;
        } else {
            storage.remove_file(&path).map_err(|e| Error::io(IoOp::Remove, &path, e))?;
        }
    }
    std::fs::remove_dir(dir).map_err(|e| Error::io(IoOp::RemoveDirectory, dir, e))
}

fn sync_dir(storage: &dyn Storage, dir: &Path) -> Result<()> {
    storage.sync_dir(dir).map_err(|e| Error::io(IoOp::SyncDirectory, dir, e))
}

/// Syncs the partitions of `Interval` topics at their period, until the log
/// is dropped (its end of the channel disconnects). It holds the topic map
/// only, never the log itself, so dropping the log stays immediate.
fn start_interval_syncer(topics: Arc<RwLock<BTreeMap<String, Arc<Topic>>>>, stopped: Receiver<()>) {
    let spawned = std::thread::Builder::new().name("larder-interval-sync".into()).spawn(move || {
        let mut last_sync: BTreeMap<String, Instant> = BTreeMap::new();
        let mut tick = Duration::from_millis(100);
        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
            tick = sync_due(&topics, &mut last_sync);
        }
    });
    // Without the thread, Interval topics still sync on roll and close.
    drop(spawned);
}

/// Syncs every `Interval` topic whose period elapsed; returns how long to
/// wait before looking again.
fn sync_due(topics: &RwLock<BTreeMap<String, Arc<Topic>>>, last_sync: &mut BTreeMap<String, Instant>) -> Duration {
    let topics: Vec<Arc<Topic>> = topics.read().values().cloned().collect();
    let mut tick = Duration::from_millis(100);
    for topic in topics {
        let Durability::Interval(period) = topic.config().durability_level() else { continue };
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
