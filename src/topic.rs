//! Topics: a validated name, a configuration persisted in `topic.meta`, and
//! N partitions, each a [`Partition`] in `<topic>/<n>/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, IoOp, Result};
use crate::partition::{Partition, PartitionOptions};
use crate::storage::le;
use crate::storage::meta;
use crate::storage::{self, Storage};

/// Longest topic name (Kafka's limit).
pub const MAX_NAME_CHARS: usize = 249;
/// Most partitions a topic may have.
pub const MAX_PARTITIONS: u32 = 10_000;
/// Longest duration a topic stores (`segment_ms`, an `Interval`), in
/// milliseconds: what an `i64` of milliseconds holds, as Kafka's do.
pub const MAX_DURATION_MS: u64 = i64::MAX as u64;
/// Suffix of a topic directory being created; `~` cannot occur in a topic
/// name, so it never collides with one, and a 249-character name with it
/// still fits a 255-byte file name.
const CREATING_SUFFIX: &str = "~c";
/// Suffix of a topic directory being deleted.
const DELETING_SUFFIX: &str = "~d";
/// The suffix earlier versions gave a topic directory being deleted.
const LEGACY_DELETING_SUFFIX: &str = "~deleted";
const META_FILE: &str = "topic.meta";
const META_MAGIC: &[u8; 8] = b"LARDRTOP";

/// Checks a topic name or group id against Kafka's rule: 1 to 249
/// characters of `[A-Za-z0-9._-]`, and not `.` or `..`. Such a name is
/// always a plain file name, never a path.
pub fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_NAME_CHARS {
        Some("longer than 249 characters")
    } else if name == "." || name == ".." {
        Some("'.' and '..' are not allowed")
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        Some("only ASCII letters, digits, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName { name: name.escape_debug().to_string(), reason }),
        None => Ok(()),
    }
}

/// When an appended record is made durable, per topic; in the spirit of
/// Kafka's `flush.messages` / `flush.ms`, with an honest name per level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// In the OS page cache when acknowledged (safe from a process crash,
    /// not from power loss); synced when a segment rolls and on close.
    #[default]
    Buffered,
    /// As `Buffered`, plus a background sync at this period.
    Interval(Duration),
    /// Acknowledged only once an fdatasync covered the record; concurrent
    /// senders share one fdatasync (group commit).
    Sync,
}

/// How a topic is created and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    pub(crate) partitions: u32,
    pub(crate) segment_bytes: u32,
    pub(crate) segment_ms: Option<u64>,
    pub(crate) max_record_bytes: u32,
    pub(crate) durability: Durability,
}

impl TopicConfig {
    /// A configuration with `partitions` partitions and the defaults:
    /// 1 GiB segments, no time-based roll, 1 MiB records, `Buffered`.
    pub fn new(partitions: u32) -> Self {
        TopicConfig {
            partitions,
            segment_bytes: PartitionOptions::DEFAULT_SEGMENT_BYTES,
            segment_ms: None,
            max_record_bytes: PartitionOptions::DEFAULT_MAX_RECORD_BYTES,
            durability: Durability::Buffered,
        }
    }

    /// Sets `segment_bytes`.
    pub fn segment_bytes(mut self, segment_bytes: u32) -> Self {
        self.segment_bytes = segment_bytes;
        self
    }

    /// Sets `segment_ms`.
    pub fn segment_ms(mut self, segment_ms: u64) -> Self {
        self.segment_ms = Some(segment_ms);
        self
    }

    /// Sets `max_record_bytes`.
    pub fn max_record_bytes(mut self, max_record_bytes: u32) -> Self {
        self.max_record_bytes = max_record_bytes;
        self
    }

    /// Sets the durability level.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The number of partitions.
    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// The durability level.
    pub fn durability_level(&self) -> Durability {
        self.durability
    }

    /// Checks every field against its limit, and that the configuration
    /// reads back from `topic.meta` exactly as it is.
    pub(crate) fn validate(&self) -> Result<()> {
        self.validate_fields()?;
        match TopicConfig::decode(&self.encode()) {
            Ok(stored) if stored == *self => Ok(()),
            _ => Err(Error::invalid("config", format!("{self:?} does not round-trip through topic.meta"))),
        }
    }

    fn validate_fields(&self) -> Result<()> {
        if !(1..=MAX_PARTITIONS).contains(&self.partitions) {
            let reason = format!("{} is outside 1..={MAX_PARTITIONS}", self.partitions);
            return Err(Error::invalid("partitions", reason));
        }
        if let Durability::Interval(period) = self.durability {
            let whole_ms = period.subsec_nanos() % 1_000_000 == 0;
            if period < Duration::from_millis(1) || !whole_ms || period.as_millis() > MAX_DURATION_MS as u128 {
                let reason = format!("{period:?} is not a whole number of milliseconds in 1..={MAX_DURATION_MS}");
                return Err(Error::invalid("durability", reason));
            }
        }
        self.partition_options(Arc::new(crate::storage::OsStorage)).validate()
    }

    pub(crate) fn partition_options(&self, storage: Arc<dyn Storage>) -> PartitionOptions {
        let options = PartitionOptions::default()
            .segment_bytes(self.segment_bytes)
            .max_record_bytes(self.max_record_bytes)
            .storage(storage);
        match self.segment_ms {
            Some(ms) => options.segment_ms(ms),
            None => options,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut payload = [0u8; 40];
        le::put_u32(&mut payload, 0, self.partitions);
        le::put_u32(&mut payload, 4, self.segment_bytes);
        le::put_u64(&mut payload, 8, self.segment_ms.unwrap_or(0));
        le::put_u32(&mut payload, 16, self.max_record_bytes);
        let (kind, period_ms) = match self.durability {
            Durability::Buffered => (0, 0),
            Durability::Interval(period) => (1, period.as_millis() as u64),
            Durability::Sync => (2, 0),
        };
        le::put_u32(&mut payload, 20, kind);
        le::put_u64(&mut payload, 24, period_ms);
        meta::encode(META_MAGIC, &payload)
    }

    fn decode(bytes: &[u8]) -> Result<TopicConfig, String> {
        let payload = meta::decode(META_MAGIC, bytes)?;
        if payload.len() != 40 {
            return Err(format!("payload of {} bytes, expected 40", payload.len()));
        }
        let durability = match (le::u32_at(payload, 20), le::u64_at(payload, 24)) {
            (0, _) => Durability::Buffered,
            (1, ms) => Durability::Interval(Duration::from_millis(ms)),
            (2, _) => Durability::Sync,
            (kind, _) => return Err(format!("unknown durability kind {kind}")),
        };
        let segment_ms = Some(le::u64_at(payload, 8)).filter(|&ms| ms > 0);
        let config = TopicConfig {
            partitions: le::u32_at(payload, 0),
            segment_bytes: le::u32_at(payload, 4),
            segment_ms,
            max_record_bytes: le::u32_at(payload, 16),
            durability,
        };
        config.validate_fields().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// Per-partition figures of a topic, as Kafka's `describe` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionDescription {
    /// The partition number.
    pub partition: u32,
    /// First offset still stored.
    pub log_start_offset: u64,
    /// Offset the next record gets.
    pub end_offset: u64,
    /// Bytes of valid log and index on disk.
    pub size_bytes: u64,
    /// Number of segments.
    pub segments: usize,
}

/// A topic and its partitions, as `describe_topic` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicDescription {
    /// The topic's name.
    pub name: String,
    /// Its configuration.
    pub config: TopicConfig,
    /// One entry per partition, in partition order.
    pub partitions: Vec<PartitionDescription>,
}

/// An open topic.
pub(crate) struct Topic {
    name: Arc<str>,
    deleted: AtomicBool,
    dir: PathBuf,
    config: RwLock<TopicConfig>,
    partitions: RwLock<Vec<Arc<Partition>>>,
    /// Serializes the topic's own admin calls (adding partitions), which
    /// do file work without holding `partitions`.
    admin: Mutex<()>,
    storage: Arc<dyn Storage>,
}

impl Topic {
    /// Creates topic `name` in `topics_dir`, atomically: its metadata and
    /// empty partition directories are written into `<name>~c`, which is
    /// renamed to `<name>` once complete; then the partitions open. A
    /// failure at any step removes what was made, so nothing half-created
    /// is left for the next open to trip on.
    pub(crate) fn create(
        topics_dir: &Path,
        name: &str,
        config: TopicConfig,
        storage: Arc<dyn Storage>,
    ) -> Result<Topic> {
        config.validate()?;
        let stage = topics_dir.join(format!("{name}{CREATING_SUFFIX}"));
        let dir = topics_dir.join(name);
        if stage.exists() {
            storage::remove_tree(&*storage, &stage)?;
        }
        let staged = stage_topic(&*storage, &stage, &config)
            .and_then(|()| storage.rename(&stage, &dir).map_err(|e| Error::io(IoOp::Rename, &dir, e)));
        if let Err(error) = staged {
            let _ = remove_if_exists(&*storage, &stage);
            return Err(error);
        }
        // In place: from here a failure takes the whole topic away again.
        storage::sync_dir(&*storage, topics_dir)
            .and_then(|()| Topic::open(dir.clone(), name, Arc::clone(&storage), false))
            .inspect_err(|_| {
                let _ = remove_topic_dir(&*storage, topics_dir, name);
            })
    }

    /// Opens an existing topic directory, recovering every partition. Each
    /// partition directory `topic.meta` names must exist: a missing one is
    /// refused by name (unless `repair`, which starts it empty).
    pub(crate) fn open(dir: PathBuf, name: &str, storage: Arc<dyn Storage>, repair: bool) -> Result<Topic> {
        let path = dir.join(META_FILE);
        let bytes =
            meta::read_if_exists(&path)?.ok_or_else(|| Error::corrupt(&path, 0, "topic metadata is missing"))?;
        let config = TopicConfig::decode(&bytes).map_err(|reason| Error::corrupt(&path, 0, reason))?;
        let options = config.partition_options(Arc::clone(&storage)).repair(repair);
        let mut partitions = Vec::new();
        for n in 0..config.partitions {
            let partition_dir = dir.join(n.to_string());
            if !repair && !partition_dir.is_dir() {
                let reason = format!("topic.meta names {} partitions, but partition {n} is missing", config.partitions);
                return Err(Error::corrupt(&partition_dir, 0, reason));
            }
            let options = PartitionOptions { label: Some((Arc::from(name), n)), ..options.clone() };
            partitions.push(Arc::new(Partition::open(partition_dir, options)?));
        }
        Ok(Topic {
            name: name.into(),
            deleted: AtomicBool::new(false),
            dir,
            config: RwLock::new(config),
            partitions: RwLock::new(partitions),
            admin: Mutex::new(()),
            storage,
        })
    }

    /// Takes the topic's directory out of place, renaming it to
    /// `<name>~d`: one atomic step, after which the topic is gone (on disk
    /// too, once [`Topic::finish_delete`] synced it). Fails without
    /// changing anything.
    pub(crate) fn retire_dir(&self, topics_dir: &Path) -> Result<PathBuf> {
        let doomed = topics_dir.join(format!("{}{DELETING_SUFFIX}", self.name));
        remove_if_exists(&*self.storage, &doomed)?;
        self.storage.rename(&self.dir, &doomed).map_err(|e| Error::io(IoOp::Rename, &doomed, e))?;
        self.mark_deleted();
        Ok(doomed)
    }

    /// After [`Topic::retire_dir`]: stops the partitions, makes the rename
    /// durable and removes the files.
    pub(crate) fn finish_delete(&self, doomed: &Path) -> Result<()> {
        for partition in self.partitions() {
            partition.abandon();
        }
        storage::sync_dir(&*self.storage, doomed.parent().unwrap_or(Path::new(".")))?;
        remove_if_exists(&*self.storage, doomed)
    }

    /// The topic's name.
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The configuration.
    pub(crate) fn config(&self) -> TopicConfig {
        self.config.read().clone()
    }

    /// The durability level.
    pub(crate) fn durability(&self) -> Durability {
        self.config.read().durability
    }

    /// The largest record accepted, in bytes of its frame.
    pub(crate) fn max_record_bytes(&self) -> u32 {
        self.config.read().max_record_bytes
    }

    /// Marks the topic deleted: queued sends to it fail.
    pub(crate) fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
    }

    /// Whether the topic was deleted.
    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// The number of partitions.
    pub(crate) fn partition_count(&self) -> u32 {
        self.partitions.read().len() as u32
    }

    /// Partition `n`, or the typed error naming the topic and its count.
    pub(crate) fn partition(&self, n: u32) -> Result<Arc<Partition>> {
        let partitions = self.partitions.read();
        partitions.get(n as usize).cloned().ok_or_else(|| Error::UnknownPartition {
            topic: self.name.to_string(),
            partition: n,
            partitions: partitions.len() as u32,
        })
    }

    /// Every partition, in order.
    pub(crate) fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().clone()
    }

    /// Grows the topic to `count` partitions (the count only grows). The
    /// new partitions are opened first (directories left by an earlier
    /// failed attempt, which no metadata named, are wiped), then
    /// `topic.meta` names them, and only then are they used: if any step
    /// fails, they are removed again and the topic keeps its old count.
    pub(crate) fn add_partitions(&self, count: u32) -> Result<()> {
        let _admin = self.admin.lock();
        let current = self.partition_count();
        if count <= current {
            let reason = format!("topic {:?} has {current} partitions; the count can only grow", self.name);
            return Err(Error::invalid("partitions", reason));
        }
        let mut config = self.config();
        config.partitions = count;
        config.validate()?;
        let mut added = Vec::new();
        let opened = self.open_new_partitions(&config, current, &mut added);
        // A failed metadata write may have renamed the new file in place
        // before failing: the old one is put back, or, if that fails too,
        // the new partitions stay on disk so that either file opens.
        let grown = opened.and_then(|()| {
            self.write_meta(&config).inspect_err(|_| {
                if self.write_meta(&self.config()).is_err() {
                    added.iter().for_each(|p| p.abandon());
                    added.clear();
                }
            })
        });
        if let Err(error) = grown {
            for partition in &added {
                partition.abandon();
                let _ = remove_if_exists(&*self.storage, partition.dir());
            }
            return Err(error);
        }
        self.partitions.write().extend(added);
        *self.config.write() = config;
        Ok(())
    }

    fn write_meta(&self, config: &TopicConfig) -> Result<()> {
        meta::write_atomic(&*self.storage, &self.dir, META_FILE, &config.encode())
    }

    fn open_new_partitions(&self, config: &TopicConfig, from: u32, added: &mut Vec<Arc<Partition>>) -> Result<()> {
        let options = config.partition_options(Arc::clone(&self.storage));
        for n in from..config.partitions {
            let dir = self.dir.join(n.to_string());
            remove_if_exists(&*self.storage, &dir)?;
            let options = PartitionOptions { label: Some((Arc::clone(&self.name), n)), ..options.clone() };
            added.push(Arc::new(Partition::open(dir, options)?));
        }
        Ok(())
    }

    /// The figures `describe_topic` reports.
    pub(crate) fn describe(&self) -> TopicDescription {
        let partitions = self.partitions().iter().enumerate().map(|(n, p)| describe_partition(n as u32, p)).collect();
        TopicDescription { name: self.name.to_string(), config: self.config(), partitions }
    }
}

/// Writes a new topic's metadata and empty partition directories into
/// `stage`, durably.
fn stage_topic(storage: &dyn Storage, stage: &Path, config: &TopicConfig) -> Result<()> {
    storage::create_dir_synced(storage, stage)?;
    meta::write_atomic(storage, stage, META_FILE, &config.encode())?;
    for n in 0..config.partitions {
        let dir = stage.join(n.to_string());
        storage.create_dir_all(&dir).map_err(|e| Error::io(IoOp::CreateDirectory, &dir, e))?;
    }
    storage::sync_dir(storage, stage)
}

/// Removes topic `name`'s directory as a deletion does: renamed away in
/// one step, then removed.
fn remove_topic_dir(storage: &dyn Storage, topics_dir: &Path, name: &str) -> Result<()> {
    let doomed = topics_dir.join(format!("{name}{DELETING_SUFFIX}"));
    storage.rename(&topics_dir.join(name), &doomed).map_err(|e| Error::io(IoOp::Rename, &doomed, e))?;
    storage::sync_dir(storage, topics_dir)?;
    remove_if_exists(storage, &doomed)
}

/// Removes the directory tree at `path` if it exists, and syncs its parent.
fn remove_if_exists(storage: &dyn Storage, path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    storage::remove_tree(storage, path)?;
    storage::sync_dir(storage, path.parent().unwrap_or(Path::new(".")))
}

/// Opens every topic in `topics_dir`, finishing what a crash interrupted:
/// a topic directory being created (`<name>~c`) or deleted (`<name>~d`) is
/// removed. A directory with a topic's name but no `topic.meta` is
/// refused by name if it holds anything else (a crash cannot make one:
/// creation renames a complete directory into place), unless `repair`,
/// which rebuilds the metadata from the partition directories.
pub(crate) fn open_all(
    topics_dir: &Path,
    storage: &Arc<dyn Storage>,
    repair: bool,
) -> Result<BTreeMap<String, Arc<Topic>>> {
    let mut topics = BTreeMap::new();
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
        if !path.join(META_FILE).exists() && !recover_missing_meta(&**storage, &path, repair)? {
            continue;
        }
        // What is read is made durable before it is acted on: the current
        // `topic.meta` may be a rename a crash left in the page cache only.
        storage::sync_dir(&**storage, &path)?;
        topics.insert(name.clone(), Arc::new(Topic::open(path, &name, Arc::clone(storage), repair)?));
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
    let partitions = (0..MAX_PARTITIONS).take_while(|n| dir.join(n.to_string()).is_dir()).count() as u32;
    let config = TopicConfig::new(partitions.max(1));
    meta::write_atomic(storage, dir, META_FILE, &config.encode())?;
    Ok(true)
}

fn describe_partition(partition: u32, p: &Partition) -> PartitionDescription {
    PartitionDescription {
        partition,
        log_start_offset: p.log_start_offset(),
        end_offset: p.end_offset(),
        size_bytes: p.size_bytes(),
        segments: p.segment_count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafkas_rule() {
        for good in ["a", "events", "A.b_c-9", &"x".repeat(249), "..."] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", &"x".repeat(250), "é", "a b", "../x"] {
            assert!(matches!(validate_name(bad), Err(Error::InvalidName { .. })), "{bad:?}");
        }
    }

    #[test]
    fn config_round_trips() {
        for durability in [Durability::Buffered, Durability::Interval(Duration::from_millis(250)), Durability::Sync] {
            let config = TopicConfig::new(6).segment_bytes(4096).segment_ms(60_000).durability(durability);
            assert_eq!(TopicConfig::decode(&config.encode()).unwrap(), config);
        }
    }
}
