//! The topics and groups of one log, and the admin calls that change them:
//! what the producer and consumer look things up in (they never see the
//! `Log` itself, so the client layer has no import loop with it).
//!
//! Creating, deleting, growing and altering a topic do their file work
//! outside the topic map's lock; the name is reserved meanwhile. Every
//! admin call on a reserved name waits for it, then looks the topic up
//! again: a create after a deletion creates the topic afresh (its old
//! committed offsets are gone by then), a grow or alter after one finds no
//! topic.

mod cleaner;
mod cleanup;
pub(crate) mod config;
mod description;
mod follow;
mod topic;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock, RwLockReadGuard};

use crate::name::validate_name;
use crate::notify::Watchers;
pub use cleaner::CleanerReport;
pub(crate) use cleaner::{Cleaner, CleanerSettings};
pub use cleanup::{CleanupPolicy, WhenFull};
pub use config::{Durability, SegmentLimits, TopicConfig};
pub use description::{PartitionDescription, TopicDescription};
pub(crate) use topic::{BufferReservation, Topic};

use crate::error::{Error, IoOp, Result};
use crate::group::{validate_group_id, Group, TopicPartition, OFFSETS_EXTENSION};
use crate::partition::Partition;
use crate::storage::{self, Storage};
use config::META_FILE;
use topic::{remove_if_exists, TopicEnv, CREATING_MARKER, CREATING_SUFFIX, DELETING_SUFFIX, LEGACY_DELETING_SUFFIX};

/// The topics of a log, by name.
pub(crate) type Topics = Arc<RwLock<BTreeMap<String, Arc<Topic>>>>;

/// The topics and groups of one open log.
///
/// Locks (docs/DESIGN.md, 0a to 3): `admitted`, held (shared) across an
/// admin call's file work so that `close` waits for it; `busy`, `topics`,
/// `groups`, each held for a lookup or an insertion only, never across
/// file I/O.
pub(crate) struct Catalog {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    /// What every topic shares: the file layer and the cleaner's waker.
    env: TopicEnv,
    cleaner: Cleaner,
    /// Configuration of topics created on their first send, if that is on.
    auto_create: Option<TopicConfig>,
    topics: Topics,
    /// Topic names an admin call (create, delete, grow, alter) is working on.
    busy: Mutex<BTreeSet<String>>,
    busy_done: Condvar,
    /// Each group's slot: the map's lock is held for a lookup only, the
    /// slot's while the group is loaded (its offsets file read, a torn
    /// commit cut), so one group's load holds up no other.
    groups: Mutex<BTreeMap<String, Arc<GroupSlot>>>,
    closed: AtomicBool,
    /// Held shared by each admin call admitted before the log closed, for
    /// all its file work; `close` takes it exclusively, so it returns only
    /// once they are done, and none writes to the directory after it.
    admitted: RwLock<()>,
    /// Consumers that follow the topic list (subscribed by pattern, or
    /// without a group): woken when a topic is created, deleted or grown.
    topic_watchers: Watchers,
    /// Opened read-only (`follow`): admin calls and commits are refused.
    read_only: bool,
}

/// A group, once loaded.
type GroupSlot = Mutex<Option<Arc<Group>>>;

/// The subdirectory of a log holding its topics.
pub(crate) const TOPICS_DIR: &str = "topics";
/// The subdirectory of a log holding its groups' offsets.
pub(crate) const GROUPS_DIR: &str = "groups";

impl Catalog {
    /// Opens the topics and groups of the log in `dir` (locked by the
    /// caller): every partition is recovered, committed offsets of topics
    /// that no longer exist are removed.
    /// Retention is judged by `clock`; the cleaner looks at least every
    /// `cleaner_interval` (its thread is the log's: see [`Catalog::run_cleaner`]).
    pub(crate) fn open(
        dir: &Path,
        storage: Arc<dyn Storage>,
        auto_create: Option<TopicConfig>,
        repair: bool,
        cleaner: CleanerSettings,
    ) -> Result<Catalog> {
        for sub in [TOPICS_DIR, GROUPS_DIR] {
            storage::create_dir_synced(&*storage, &dir.join(sub))?;
        }
        // Offsets files read from now on may be renames a crash left in
        // the page cache only: made durable before they are acted on.
        storage::sync_dir(&*storage, &dir.join(GROUPS_DIR))?;
        let cleaner = Cleaner::new(cleaner);
        let env = TopicEnv { storage: Arc::clone(&storage), cleaner: Arc::clone(cleaner.waker()) };
        let topics = open_all(&dir.join(TOPICS_DIR), &env, repair)?;
        let catalog = Catalog {
            dir: dir.to_path_buf(),
            storage,
            env,
            cleaner,
            auto_create,
            topics: Arc::new(RwLock::new(topics)),
            busy: Mutex::new(BTreeSet::new()),
            busy_done: Condvar::new(),
            groups: Mutex::new(BTreeMap::new()),
            closed: AtomicBool::new(false),
            admitted: RwLock::new(()),
            topic_watchers: Watchers::default(),
            read_only: false,
        };
        catalog.forget_missing_topics()?;
        Ok(catalog)
    }

    /// The topic map, shared with the interval syncer.
    pub(crate) fn topics(&self) -> &Topics {
        &self.topics
    }

    /// Every open topic.
    pub(crate) fn open_topics(&self) -> Vec<Arc<Topic>> {
        self.topics.read().values().cloned().collect()
    }

    /// Runs cleaner passes until [`Catalog::stop_cleaner`]: the body of the
    /// log's cleaner thread.
    pub(crate) fn run_cleaner(&self) {
        self.cleaner.run(self);
    }

    /// Makes [`Catalog::run_cleaner`] return.
    pub(crate) fn stop_cleaner(&self) {
        self.cleaner.stop();
    }

    /// One cleaner pass, now.
    pub(crate) fn clean(&self) -> Result<CleanerReport> {
        self.check_open()?;
        self.check_writable("run the cleaner")?;
        self.cleaner.pass(self)
    }

    /// The groups whose consumption retention until consumed waits for on
    /// `topic`: the ones `named`, or, if none is, every group that reads
    /// it (a member subscribes, or it committed offsets for it).
    pub(crate) fn readers(&self, topic: &str, named: &[String]) -> Result<Vec<Arc<Group>>> {
        if named.is_empty() {
            return Ok(self.all_groups()?.into_iter().filter(|g| g.reads(topic)).collect());
        }
        named.iter().map(|id| self.group(id)).collect()
    }

    /// The offset every group in `readers` has consumed `tp` up to: the
    /// least committed offset, 0 for a group that committed none. `None`
    /// with no reader.
    pub(crate) fn consumed_offset(tp: &TopicPartition, readers: &[Arc<Group>]) -> Result<Option<u64>> {
        let mut consumed: Option<u64> = None;
        for group in readers {
            let committed = group.committed(tp)?.unwrap_or(0);
            consumed = Some(consumed.map_or(committed, |c| c.min(committed)));
        }
        Ok(consumed)
    }

    /// Names of every topic, sorted.
    pub(crate) fn list_topics(&self) -> Vec<String> {
        self.topics.read().keys().cloned().collect()
    }

    /// Ids of the groups with committed offsets or live members, sorted.
    pub(crate) fn list_groups(&self) -> Result<Vec<String>> {
        self.check_open()?;
        let loaded = self.loaded_groups();
        let mut ids: BTreeSet<String> = loaded.iter().filter(|g| g.exists()).map(|g| g.id().to_string()).collect();
        let known: BTreeSet<&str> = loaded.iter().map(|g| g.id()).collect();
        ids.extend(stored_group_ids(&self.dir)?.into_iter().filter(|id| !known.contains(id.as_str())));
        Ok(ids.into_iter().collect())
    }

    /// The groups loaded so far.
    fn loaded_groups(&self) -> Vec<Arc<Group>> {
        let slots: Vec<Arc<GroupSlot>> = self.groups.lock().values().cloned().collect();
        slots.iter().filter_map(|slot| slot.lock().clone()).collect()
    }

    /// Marks the catalog closed: from now on every lookup and admin call
    /// fails with [`Error::Closed`]. Returns whether this call did it (the
    /// first to close the log).
    pub(crate) fn begin_close(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    /// Closes the catalog (marked closed by [`Catalog::begin_close`], or
    /// here): every later lookup and admin call fails
    /// with [`Error::Closed`], the admin calls under way are waited for,
    /// every group's offsets file is closed, and each partition (those the
    /// admin calls made too) is closed with `close_partition`. Returns the
    /// first error.
    pub(crate) fn close(&self, close_partition: impl Fn(&Partition) -> Result<()>) -> Result<()> {
        self.begin_close();
        drop(self.admitted.write());
        let slots = std::mem::take(&mut *self.groups.lock());
        for slot in slots.into_values() {
            if let Some(group) = slot.lock().take() {
                group.close();
            }
        }
        self.topic_watchers.notify();
        let topics = std::mem::take(&mut *self.topics.write());
        let mut first_error = Ok(());
        for topic in topics.values() {
            topic.shut();
            for partition in topic.partitions() {
                let closed = close_partition(&partition);
                if first_error.is_ok() {
                    first_error = closed;
                }
            }
        }
        first_error
    }

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

    /// Admits an admin call, which holds the guard across its file work:
    /// [`Error::Closed`] once `close` began; otherwise `close` waits for
    /// the call to finish, and then closes what it made.
    fn admit(&self) -> Result<RwLockReadGuard<'_, ()>> {
        // Recursive: an admin call may run inside another's (auto-creation
        // from a send made in a storage callback, say) while `close` waits.
        let admitted = self.admitted.read_recursive();
        self.check_open()?;
        Ok(admitted)
    }

    /// Creates topic `name`; if it exists with the same configuration,
    /// returns it and changes nothing (a create under way by another
    /// caller is waited for, then compared; so is a deletion). With another
    /// configuration: [`Error::TopicExists`] saying how it differs.
    pub(crate) fn create_topic(&self, name: &str, config: TopicConfig) -> Result<Arc<Topic>> {
        let _admitted = self.admit()?;
        self.check_writable("create a topic")?;
        validate_name(name)?;
        config.validate()?;
        let reservation = loop {
            match self.reserve(name) {
                Ok(reservation) => break reservation,
                Err(_) => self.wait_not_busy(name),
            }
        };
        if let Some(existing) = self.topics.read().get(name) {
            return match config_difference(&existing.config(), &config) {
                None => Ok(Arc::clone(existing)),
                Some(reason) => Err(Error::TopicExists { topic: name.into(), reason }),
            };
        }
        // A topic created under a name starts afresh: offsets a deletion of
        // an earlier topic of that name left (it failed before it could
        // know the deletion durable) go first.
        for group in self.all_groups_admitted()? {
            group.forget_topic(name)?;
        }
        let topic = Arc::new(Topic::create(&self.topics_dir(), name, config, &self.env)?);
        self.topics.write().insert(name.to_string(), Arc::clone(&topic));
        drop(reservation);
        self.topic_changed(name);
        Ok(topic)
    }

    /// Lets every group, and every consumer following the topic list,
    /// follow a change of `topic`'s partitions.
    pub(crate) fn topic_changed(&self, topic: &str) {
        for group in self.loaded_groups() {
            group.topic_changed(topic);
        }
        self.topic_watchers.notify();
    }

    /// The consumers woken by [`Catalog::topic_changed`].
    pub(crate) fn topic_watchers(&self) -> &Watchers {
        &self.topic_watchers
    }

    /// Every group stored or in use, loaded.
    fn all_groups(&self) -> Result<Vec<Arc<Group>>> {
        for id in stored_group_ids(&self.dir)? {
            self.group(&id)?;
        }
        Ok(self.loaded_groups())
    }

    /// As [`Catalog::all_groups`], for an admitted admin call: `close`,
    /// which may have begun, waits for it before it closes the groups.
    fn all_groups_admitted(&self) -> Result<Vec<Arc<Group>>> {
        for id in stored_group_ids(&self.dir)? {
            self.load_group(&id)?;
        }
        Ok(self.loaded_groups())
    }

    /// Grows topic `name` to `partitions` partitions, then lets the groups
    /// follow.
    pub(crate) fn add_partitions(&self, name: &str, partitions: u32) -> Result<()> {
        let _admitted = self.admit()?;
        validate_name(name)?;
        let reservation = self.reserve_when_free(name);
        self.topic(name)?.add_partitions(partitions)?;
        drop(reservation);
        self.topic_changed(name);
        Ok(())
    }

    /// Replaces topic `name`'s configuration.
    pub(crate) fn alter_topic(&self, name: &str, config: TopicConfig) -> Result<()> {
        let _admitted = self.admit()?;
        validate_name(name)?;
        let _reservation = self.reserve_when_free(name);
        self.topic(name)?.alter(config)
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
        for group in self.loaded_groups() {
            for topic in group.committed_topics() {
                if !self.topics.read().contains_key(&topic) {
                    group.forget_topic(&topic)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn delete_topic(&self, name: &str) -> Result<()> {
        let _admitted = self.admit()?;
        self.check_writable("delete a topic")?;
        validate_name(name)?;
        let reservation = self.reserve_when_free(name);
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
        // A topic created again under this name starts afresh: its old
        // offsets go while the name is still reserved, so none committed
        // to the new topic is taken with them — once the deletion is known
        // durable: a failed one may be undone by a power cut, and the topic
        // must then come back with its offsets. What is not forgotten here
        // is, on the next open if the topic is gone, or by the creation of
        // a topic of that name.
        let forgotten = match &finished {
            Ok(()) => {
                self.all_groups_admitted().and_then(|groups| groups.iter().try_for_each(|g| g.forget_topic(name)))
            }
            Err(_) => Ok(()),
        };
        drop(reservation);
        self.topic_changed(name);
        finished.and(forgotten)
    }

    /// Reserves `name` for an admin call, or fails with
    /// [`Error::TopicExists`] if another one is working on it.
    fn reserve(&self, name: &str) -> Result<Reservation<'_>> {
        if !self.busy.lock().insert(name.to_string()) {
            let reason = "another admin call is creating or deleting it".to_string();
            return Err(Error::TopicExists { topic: name.into(), reason });
        }
        Ok(Reservation { catalog: self, name: name.to_string() })
    }

    /// Reserves `name` for an admin call on an existing topic (delete,
    /// grow, alter), once no other admin call works on it: the caller looks
    /// the topic up after this, so it never works on a topic another call
    /// deleted or is deleting (its directory would be made again).
    fn reserve_when_free(&self, name: &str) -> Reservation<'_> {
        let mut busy = self.busy.lock();
        while busy.contains(name) {
            self.busy_done.wait(&mut busy);
        }
        busy.insert(name.to_string());
        Reservation { catalog: self, name: name.to_string() }
    }

    /// Group `id`, loaded on first use.
    pub(crate) fn group(&self, id: &str) -> Result<Arc<Group>> {
        self.check_open()?;
        let (group, fresh) = self.load_group(id)?;
        if fresh && self.check_open().is_err() {
            // Closed while loading: `close` may have missed it.
            group.close();
            return Err(Error::Closed { what: "log" });
        }
        Ok(group)
    }

    /// Group `id`, loaded on first use (then `true`), whether or not
    /// `close` began.
    fn load_group(&self, id: &str) -> Result<(Arc<Group>, bool)> {
        validate_group_id(id)?;
        let slot = Arc::clone(self.groups.lock().entry(id.to_string()).or_default());
        let mut loaded = slot.lock();
        if let Some(group) = &*loaded {
            return Ok((Arc::clone(group), false));
        }
        let dir = self.dir.join(GROUPS_DIR);
        let storage = Arc::clone(&self.storage);
        let on_commit = Arc::clone(&self.env.cleaner);
        let group = match self.read_only {
            true => Group::load_read_only(&dir, id, storage, on_commit)?,
            false => Group::load(&dir, id, storage, on_commit)?,
        };
        let group = Arc::new(group);
        *loaded = Some(Arc::clone(&group));
        Ok((group, true))
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
        if self.read_only {
            // The owner may have created it since the last look.
            self.follow()?;
            if let Some(topic) = self.topics.read().get(name) {
                return Ok(Arc::clone(topic));
            }
        }
        Err(Error::UnknownTopic { topic: name.into() })
    }

    /// Topic `name`, created with the auto-create configuration if it is
    /// unknown and auto-creation is on. A creation under way by another
    /// caller is waited for.
    pub(crate) fn topic_for_send(&self, name: &str) -> Result<Arc<Topic>> {
        loop {
            match (self.topic(name), &self.auto_create) {
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

/// How `existing` differs from `asked`, in words; `None` if they are the
/// same configuration.
fn config_difference(existing: &TopicConfig, asked: &TopicConfig) -> Option<String> {
    if existing == asked {
        return None;
    }
    if existing.partitions != asked.partitions {
        return Some(format!("it has {} partitions, not {}", existing.partitions, asked.partitions));
    }
    // Each setting by its own name, as the setters call it.
    let (e, a) = (&existing.segments, &asked.segments);
    let (ec, ac) = (&existing.cleanup, &asked.cleanup);
    let settings: [(&str, String, String); 12] = [
        ("segment_bytes", format!("{}", e.segment_bytes), format!("{}", a.segment_bytes)),
        ("segment_ms", format!("{:?}", e.segment_ms), format!("{:?}", a.segment_ms)),
        ("max_record_bytes", format!("{}", e.max_record_bytes), format!("{}", a.max_record_bytes)),
        ("index_interval_bytes", format!("{}", e.index_interval_bytes), format!("{}", a.index_interval_bytes)),
        ("durability", format!("{:?}", existing.durability), format!("{:?}", asked.durability)),
        ("cleanup_policy", format!("{:?}", ec.policy), format!("{:?}", ac.policy)),
        ("retention_ms", format!("{:?}", ec.retention_ms), format!("{:?}", ac.retention_ms)),
        ("retention_bytes", format!("{:?}", ec.retention_bytes), format!("{:?}", ac.retention_bytes)),
        ("delete_retention_ms", format!("{}", ec.delete_retention_ms), format!("{}", ac.delete_retention_ms)),
        ("min_compaction_lag_ms", format!("{}", ec.min_compaction_lag_ms), format!("{}", ac.min_compaction_lag_ms)),
        (
            "min_cleanable_dirty_ratio",
            format!("{}", f64::from(ec.min_cleanable_dirty_ppm) / 1e6),
            format!("{}", f64::from(ac.min_cleanable_dirty_ppm) / 1e6),
        ),
        ("buffer", format!("{:?}", ec.buffer), format!("{:?}", ac.buffer)),
    ];
    let differences: Vec<String> = settings
        .iter()
        .filter(|(_, has, asked)| has != asked)
        .map(|(name, has, asked)| format!("{name} is {has}, not {asked}"))
        .collect();
    if differences.is_empty() {
        return Some(format!("its configuration is {existing:?}, not {asked:?}"));
    }
    Some(format!("its {}", differences.join("; ")))
}

/// Ids of the groups with an offsets file in `dir`'s groups directory.
fn stored_group_ids(dir: &Path) -> Result<Vec<String>> {
    let dir = dir.join(GROUPS_DIR);
    let mut ids = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        // A log read-only before its owner ever made it: no groups.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
        entries => entries.map_err(|e| Error::io(IoOp::List, &dir, e))?,
    };
    for entry in entries {
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
    catalog: &'a Catalog,
    name: String,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.catalog.busy.lock().remove(&self.name);
        self.catalog.busy_done.notify_all();
    }
}

/// Opens every topic in `topics_dir`, finishing what a crash interrupted:
/// a topic directory being created (`<name>~c`, or in place but still
/// holding `topic.creating`) or deleted (`<name>~d`) is removed. A directory with a topic's name but no `topic.meta` is
/// refused by name if it holds anything else (a crash cannot make one:
/// creation renames a complete directory into place), unless `repair`,
/// which rebuilds the metadata from the partition directories.
fn open_all(topics_dir: &Path, env: &TopicEnv, repair: bool) -> Result<BTreeMap<String, Arc<Topic>>> {
    let storage = &env.storage;
    let mut topics = BTreeMap::new();
    // The names are made durable before any is acted on: a `~d` directory
    // may be a rename whose sync failed, and removing its files while the
    // rename is not durable lets a power cut bring the topic back under
    // its name with part of it gone.
    storage::sync_dir(&**storage, topics_dir)?;
    let entries = std::fs::read_dir(topics_dir).map_err(|e| Error::io(IoOp::List, topics_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(IoOp::List, topics_dir, e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
        let unfinished = [CREATING_SUFFIX, DELETING_SUFFIX, LEGACY_DELETING_SUFFIX].iter().any(|s| name.ends_with(s));
        if unfinished && path.is_dir() {
            remove_if_exists(&**storage, &path)?;
            continue;
        }
        if validate_name(&name).is_err() || !path.is_dir() {
            continue;
        }
        if path.join(CREATING_MARKER).exists() {
            // A creation that failed after moving into place; it never
            // returned, so nothing in it was acknowledged.
            let doomed = topics_dir.join(format!("{name}{CREATING_SUFFIX}"));
            storage.rename(&path, &doomed).map_err(|e| Error::io(IoOp::Rename, &doomed, e))?;
            storage::sync_dir(&**storage, topics_dir)?;
            remove_if_exists(&**storage, &doomed)?;
            continue;
        }
        if !path.join(META_FILE).exists() && !recover_missing_meta(&**storage, &path, repair)? {
            continue;
        }
        // What is read is made durable before it is acted on: the current
        // `topic.meta` may be a rename a crash left in the page cache only.
        storage::sync_dir(&**storage, &path)?;
        topics.insert(name.clone(), Arc::new(Topic::open(path, &name, env, repair)?));
    }
    storage::sync_dir(&**storage, topics_dir)?;
    Ok(topics)
}

/// A topic directory without `topic.meta`. Empty but for an unfinished
/// metadata write (a creation by an earlier version, cut short): removed,
/// `false`. Holding partitions: refused, or with `repair` given metadata
/// with the default configuration and as many partitions as there are
/// directories `0, 1, ...`: `true`.
fn recover_missing_meta(storage: &dyn Storage, dir: &Path, repair: bool) -> Result<bool> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(IoOp::List, dir, e))? {
        names.push(entry.map_err(|e| Error::io(IoOp::List, dir, e))?.file_name());
    }
    if names.iter().all(|n| n.to_str() == Some("topic.meta.tmp")) {
        remove_if_exists(storage, dir)?;
        return Ok(false);
    }
    let path = dir.join(META_FILE);
    if !repair {
        let reason = "topic metadata is missing but the topic holds partitions (open with repair to rebuild it)";
        return Err(Error::corrupt(path, 0, reason));
    }
    let partitions = (0..TopicConfig::MAX_PARTITIONS).take_while(|n| dir.join(n.to_string()).is_dir()).count() as u32;
    let config = TopicConfig::new(partitions.max(1));
    storage::meta::write_atomic(storage, dir, META_FILE, &config.encode())?;
    Ok(true)
}
