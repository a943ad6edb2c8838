//! An open topic: its directory, its configuration and its partitions, and
//! the file steps that create, grow and delete it all or nothing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::catalog::config::{Durability, TopicConfig, META_FILE};
use crate::catalog::description::{describe_partition, TopicDescription};
use crate::error::{Error, IoOp, Result};
use crate::partition::{Partition, PartitionOptions};
use crate::storage::{self, meta, Storage};

/// Suffix of a topic directory being created; `~` cannot occur in a topic
/// name, so it never collides with one, and a 249-character name with it
/// still fits a 255-byte file name.
pub(crate) const CREATING_SUFFIX: &str = "~c";
/// Suffix of a topic directory being deleted.
pub(crate) const DELETING_SUFFIX: &str = "~d";
/// The suffix earlier versions gave a topic directory being deleted.
pub(crate) const LEGACY_DELETING_SUFFIX: &str = "~deleted";
/// An open topic.
///
/// Locks (docs/DESIGN.md, 4 then 5): `admin` across an admin call's file
/// work, then `partitions` and `config` for lookups and the final publish.
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

    /// Opens topic `name` in `dir` read-only: its configuration and its
    /// partitions as another process stores them, followed, never written.
    pub(crate) fn open_read_only(dir: PathBuf, name: &str, storage: Arc<dyn Storage>) -> Result<Topic> {
        let config = read_config(&dir)?;
        let topic = Topic {
            name: name.into(),
            deleted: AtomicBool::new(false),
            dir,
            config: RwLock::new(config.clone()),
            partitions: RwLock::new(Vec::new()),
            admin: Mutex::new(()),
            storage,
        };
        topic.open_partitions_read_only(&config)?;
        Ok(topic)
    }

    /// Opens read-only the partitions `config` names that are not open
    /// yet; returns whether there were any.
    fn open_partitions_read_only(&self, config: &TopicConfig) -> Result<bool> {
        let from = self.partition_count();
        let options = config.partition_options(Arc::clone(&self.storage));
        let mut added = Vec::new();
        for n in from..config.partitions {
            let options = PartitionOptions { label: Some((Arc::clone(&self.name), n)), ..options.clone() };
            added.push(Arc::new(Partition::open_read_only(self.dir.join(n.to_string()), options)?));
        }
        let grew = !added.is_empty();
        self.partitions.write().extend(added);
        Ok(grew)
    }

    /// A read-only topic catches up with its `topic.meta`: a configuration
    /// changed by its owner, partitions added. Returns whether partitions
    /// were added.
    pub(crate) fn follow_read_only(&self) -> Result<bool> {
        let config = read_config(&self.dir)?;
        let grew = self.open_partitions_read_only(&config)?;
        *self.config.write() = config;
        Ok(grew)
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
        self.config.read().segments.max_record_bytes
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

/// The configuration `dir/topic.meta` holds.
fn read_config(dir: &Path) -> Result<TopicConfig> {
    let path = dir.join(META_FILE);
    let bytes = meta::read_if_exists(&path)?.ok_or_else(|| Error::corrupt(&path, 0, "topic metadata is missing"))?;
    TopicConfig::decode(&bytes).map_err(|reason| Error::corrupt(&path, 0, reason))
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
pub(crate) fn remove_if_exists(storage: &dyn Storage, path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    storage::remove_tree(storage, path)?;
    storage::sync_dir(storage, path.parent().unwrap_or(Path::new(".")))
}
