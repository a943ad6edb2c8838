//! An open topic: its directory, its configuration and its partitions, and
//! the file steps that create, grow and delete it all or nothing.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::catalog::cleanup::WhenFull;
use crate::catalog::config::{Durability, TopicConfig, META_FILE};
use crate::catalog::description::{describe_partition, TopicDescription};
use crate::error::{Error, IoOp, Result};
use crate::notify::Waker;
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
/// An empty file in a topic directory whose creation has not finished: it
/// is staged with the directory, moves into place with it, and is removed
/// (durably) as creation's last step. A topic directory holding it is a
/// creation that failed or was cut short — no record of it was ever
/// acknowledged — and the next open removes it.
pub(crate) const CREATING_MARKER: &str = "topic.creating";
/// An open topic.
///
/// Locks (docs/DESIGN.md, 4 then 5): `admin` across an admin call's file
/// work, then `partitions` and `config` for lookups and the final publish.
pub(crate) struct Topic {
    name: Arc<str>,
    deleted: AtomicBool,
    /// The log closed: senders waiting for buffer room give up.
    closed: AtomicBool,
    dir: PathBuf,
    config: RwLock<TopicConfig>,
    partitions: RwLock<Vec<Arc<Partition>>>,
    /// What every send reads, kept beside `config` and `partitions` (set
    /// under their write locks) so a send takes neither lock.
    send: SendCache,
    /// Serializes the topic's own admin calls (adding partitions,
    /// altering), which do file work without holding `partitions`. Holds
    /// the most partitions the `topic.meta` on disk may name: more than
    /// the topic has when an `add_partitions` failed and could not put the
    /// old file back (the new partitions' directories then stay, so that
    /// either file opens).
    admin: Mutex<u32>,
    /// Opened read-only (another process owns it): admin calls refused.
    read_only: bool,
    env: TopicEnv,
    /// Bytes sent to the topic and not yet appended, counted against its
    /// buffer.
    pending_bytes: AtomicU64,
    /// Senders waiting for buffer space park on `space_freed`; the
    /// cleaner wakes them after each pass.
    space: Mutex<()>,
    space_freed: Condvar,
    /// Senders waiting for buffer space now: the cleaner rolls consumed
    /// active segments for them.
    senders_waiting: AtomicUsize,
}

/// What every topic of a log shares: the file layer, and the cleaner's
/// waker, which a partition wakes when it rolls.
#[derive(Debug, Clone)]
pub(crate) struct TopicEnv {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) cleaner: Arc<Waker>,
}

/// Bytes of a topic's buffer held for a send until it is appended (or
/// refused); given back when dropped.
#[derive(Debug)]
pub(crate) struct BufferReservation {
    topic: Arc<Topic>,
    bytes: u64,
}

impl std::fmt::Debug for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic").field("name", &self.name).field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Drop for BufferReservation {
    fn drop(&mut self) {
        self.topic.pending_bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        // A send refused after its reservation gives the room back.
        if self.topic.senders_waiting.load(Ordering::Acquire) > 0 {
            self.topic.space_freed();
        }
    }
}

impl Topic {
    /// Creates topic `name` in `topics_dir`, atomically: its metadata and
    /// empty partition directories are written into `<name>~c`, which is
    /// renamed to `<name>` once complete; then the partitions open. A
    /// failure at any step removes what was made, so nothing half-created
    /// is left for the next open to trip on.
    pub(crate) fn create(topics_dir: &Path, name: &str, config: TopicConfig, env: &TopicEnv) -> Result<Topic> {
        config.validate()?;
        let storage = &env.storage;
        let stage = topics_dir.join(format!("{name}{CREATING_SUFFIX}"));
        let dir = topics_dir.join(name);
        if stage.exists() {
            storage::remove_tree(&**storage, &stage)?;
        }
        if dir.exists() {
            // The caller found no topic of this name, so this is an earlier
            // creation that failed and could not take itself away (marked,
            // or failed syncing its marker's removal): it never returned,
            // so nothing in it was acknowledged. Taken away out of the name
            // first, as the next open would.
            storage.rename(&dir, &stage).map_err(|e| Error::io(IoOp::Rename, &stage, e))?;
            storage::sync_dir(&**storage, topics_dir)?;
            remove_if_exists(&**storage, &stage)?;
        }
        let staged = stage_topic(&**storage, &stage, &config)
            .and_then(|()| storage.rename(&stage, &dir).map_err(|e| Error::io(IoOp::Rename, &dir, e)));
        if let Err(error) = staged {
            let _ = remove_if_exists(&**storage, &stage);
            return Err(error);
        }
        // In place, but marked unfinished: from here a failure takes the
        // whole topic away again, or leaves the marker for the next open to.
        let marker = dir.join(CREATING_MARKER);
        let finish = |topic: Topic| {
            storage.remove_file(&marker).map_err(|e| Error::io(IoOp::Remove, &marker, e))?;
            storage::sync_dir(&**storage, &dir)?;
            Ok(topic)
        };
        storage::sync_dir(&**storage, topics_dir)
            .and_then(|()| Topic::open(dir.clone(), name, env, false))
            .and_then(finish)
            .inspect_err(|_| {
                if remove_topic_dir(&**storage, topics_dir, name).is_err() && !marker.exists() {
                    // The marker went, then a sync failed; put it back so
                    // the next open does not adopt the topic.
                    let _ = storage.create_file(&marker).and_then(|_| storage.sync_dir(&dir));
                }
            })
    }

    /// Opens an existing topic directory, recovering every partition. Each
    /// partition directory `topic.meta` names must exist: a missing one is
    /// refused by name (unless `repair`, which starts it empty).
    pub(crate) fn open(dir: PathBuf, name: &str, env: &TopicEnv, repair: bool) -> Result<Topic> {
        let path = dir.join(META_FILE);
        let bytes =
            meta::read_if_exists(&path)?.ok_or_else(|| Error::corrupt(&path, 0, "topic metadata is missing"))?;
        let config = TopicConfig::decode(&bytes).map_err(|reason| Error::corrupt(&path, 0, reason))?;
        let options = config.partition_options(env).repair(repair);
        let mut partitions = Vec::new();
        for n in 0..config.partitions {
            let partition_dir = dir.join(n.to_string());
            if !repair && !partition_dir.is_dir() {
                let reason = format!("topic.meta names {} partitions, but partition {n} is missing", config.partitions);
                return Err(Error::corrupt(&partition_dir, 0, reason));
            }
            let options = PartitionOptions { label: Some((Arc::from(name), n)), ..options.clone() };
            let partition = Partition::open(partition_dir, options)?;
            partition.require_keys(config.cleanup.policy.compacts());
            partitions.push(Arc::new(partition));
        }
        Ok(Topic::assemble(dir, name, config, partitions, env, false))
    }

    /// A topic of `partitions`, open.
    fn assemble(
        dir: PathBuf,
        name: &str,
        config: TopicConfig,
        partitions: Vec<Arc<Partition>>,
        env: &TopicEnv,
        read_only: bool,
    ) -> Topic {
        let named = config.partitions;
        Topic {
            read_only,
            name: name.into(),
            deleted: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            dir,
            send: SendCache::new(&config, partitions.len()),
            config: RwLock::new(config),
            partitions: RwLock::new(partitions),
            admin: Mutex::new(named),
            env: env.clone(),
            pending_bytes: AtomicU64::new(0),
            space: Mutex::new(()),
            space_freed: Condvar::new(),
            senders_waiting: AtomicUsize::new(0),
        }
    }

    /// Opens topic `name` in `dir` read-only: its configuration and its
    /// partitions as another process stores them, followed, never written.
    pub(crate) fn open_read_only(dir: PathBuf, name: &str, env: &TopicEnv) -> Result<Topic> {
        let config = read_config(&dir)?;
        let topic = Topic::assemble(dir, name, config.clone(), Vec::new(), env, true);
        topic.open_partitions_read_only(&config)?;
        Ok(topic)
    }

    /// Opens read-only the partitions `config` names that are not open
    /// yet; returns whether there were any.
    fn open_partitions_read_only(&self, config: &TopicConfig) -> Result<bool> {
        let from = self.partition_count();
        let options = config.partition_options(&self.env);
        let mut added = Vec::new();
        for n in from..config.partitions {
            let options = PartitionOptions { label: Some((Arc::clone(&self.name), n)), ..options.clone() };
            added.push(Arc::new(Partition::open_read_only(self.dir.join(n.to_string()), options)?));
        }
        let grew = !added.is_empty();
        self.extend_partitions(added);
        Ok(grew)
    }

    /// A read-only topic catches up with its `topic.meta`: a configuration
    /// changed by its owner, partitions added. Returns whether partitions
    /// were added.
    pub(crate) fn follow_read_only(&self) -> Result<bool> {
        // One follow at a time (the follower thread, lookups and stats all
        // follow): two would both open the partitions past the same count.
        let _admin = self.admin.lock();
        let config = read_config(&self.dir)?;
        let grew = self.open_partitions_read_only(&config)?;
        self.set_config(config);
        Ok(grew)
    }

    /// Takes the topic's directory out of place, renaming it to
    /// `<name>~d`: one atomic step, after which the topic is gone (on disk
    /// too, once [`Topic::finish_delete`] synced it). Fails without
    /// changing anything.
    ///
    /// Every partition's writes are held off across the rename (their
    /// writer locks, taken in partition order; nothing holds two otherwise):
    /// an append never rolls into the moved directory (an I/O error that
    /// would read as a failing disk), and once the topic is marked deleted
    /// and its partitions stopped, the writes that waited fail as on a
    /// deleted topic.
    pub(crate) fn retire_dir(&self, topics_dir: &Path) -> Result<PathBuf> {
        let doomed = topics_dir.join(format!("{}{DELETING_SUFFIX}", self.name));
        remove_if_exists(&*self.env.storage, &doomed)?;
        let partitions = self.partitions();
        let holds: Vec<_> = partitions.iter().map(|p| p.hold_writes()).collect();
        self.env.storage.rename(&self.dir, &doomed).map_err(|e| Error::io(IoOp::Rename, &doomed, e))?;
        self.mark_deleted();
        for (partition, hold) in partitions.iter().zip(holds) {
            partition.abandon_held(hold);
        }
        Ok(doomed)
    }

    /// After [`Topic::retire_dir`]: makes the rename durable and removes
    /// the files.
    pub(crate) fn finish_delete(&self, doomed: &Path) -> Result<()> {
        storage::sync_dir(&*self.env.storage, doomed.parent().unwrap_or(Path::new(".")))?;
        remove_if_exists(&*self.env.storage, doomed)
    }

    /// Fails with [`Error::ReadOnly`] naming `operation` on a topic
    /// another process owns.
    fn check_writable(&self, operation: &'static str) -> Result<()> {
        match self.read_only {
            true => Err(Error::ReadOnly { operation, path: self.dir.clone() }),
            false => Ok(()),
        }
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

    /// What a send checks, read under one lock: the largest record (bytes
    /// of its frame), whether keys are required (compaction), and whether
    /// the topic has a buffer to reserve room in.
    pub(crate) fn send_settings(&self) -> SendSettings {
        let send = &self.send;
        SendSettings {
            max_record_bytes: send.max_record_bytes.load(Ordering::Acquire),
            keys_required: send.keys_required.load(Ordering::Acquire),
            buffered: send.buffered.load(Ordering::Acquire),
        }
    }

    /// Adds partitions, publishing the new count to senders.
    fn extend_partitions(&self, added: Vec<Arc<Partition>>) {
        let mut partitions = self.partitions.write();
        partitions.extend(added);
        self.send.partition_count.store(partitions.len() as u32, Ordering::Release);
    }

    /// Replaces the configuration, publishing what senders read.
    fn set_config(&self, config: TopicConfig) {
        let mut current = self.config.write();
        self.send.set(&config);
        *current = config;
    }

    /// Fails if the topic was deleted ([`Error::UnknownTopic`]) or its log
    /// closed ([`Error::Closed`]).
    pub(crate) fn check_usable(&self) -> Result<()> {
        self.gone()
    }

    /// Marks the topic deleted: queued sends to it fail, and senders
    /// waiting for room in its buffer fail at once.
    pub(crate) fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
        self.space_freed();
    }

    /// Its log is closing: senders waiting for room in its buffer fail at
    /// once (the cleaner that would free room is stopped).
    pub(crate) fn shut(&self) {
        self.closed.store(true, Ordering::Release);
        self.space_freed();
    }

    /// Why a send to the topic can no longer wait for room: it was
    /// deleted, or its log closed.
    fn gone(&self) -> Result<()> {
        if self.is_deleted() {
            return Err(Error::UnknownTopic { topic: self.name.to_string() });
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed { what: "log" });
        }
        Ok(())
    }

    /// Whether the topic was deleted.
    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// `error`, from a call on one of the topic's partitions, as a caller
    /// of the topic should see it: a partition closed because the topic was
    /// deleted is [`Error::UnknownTopic`] (deletion marks the topic before
    /// it stops the partitions), not a closed log.
    pub(crate) fn partition_error(&self, error: Error) -> Error {
        match error {
            Error::Closed { .. } if self.is_deleted() => Error::UnknownTopic { topic: self.name.to_string() },
            error => error,
        }
    }

    /// The number of partitions.
    pub(crate) fn partition_count(&self) -> u32 {
        self.send.partition_count.load(Ordering::Acquire)
    }

    /// Partition `n`, or the typed error naming the topic and its count.
    pub(crate) fn partition(&self, n: u32) -> Result<Arc<Partition>> {
        let partitions = self.partitions.read();
        debug_assert_eq!(partitions.len() as u32, self.partition_count(), "the count senders read is stale");
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
        self.check_writable("add partitions")?;
        let mut named = self.admin.lock();
        let current = self.partition_count();
        if count <= current {
            let reason = format!("topic {:?} has {current} partitions; the count can only grow", self.name);
            return Err(Error::invalid("partitions", reason));
        }
        let mut config = self.config();
        config.partitions = count;
        config.validate()?;
        let mut added = Vec::new();
        let opened = self.open_new_partitions(&config, current, *named, &mut added);
        // A failed metadata write may have renamed the new file in place
        // before failing: the old one is put back, or, if that fails too,
        // the new partitions stay on disk so that either file opens.
        let grown = opened.and_then(|()| {
            self.write_meta(&config).inspect_err(|_| {
                if self.write_meta(&self.config()).is_ok() {
                    *named = current;
                } else {
                    added.iter().for_each(|p| p.abandon());
                    added.clear();
                    *named = (*named).max(count);
                }
            })
        });
        if let Err(error) = grown {
            // Those the file on disk may name stay.
            for (n, partition) in (current..).zip(&added) {
                partition.abandon();
                if n >= *named {
                    let _ = remove_if_exists(&*self.env.storage, partition.dir());
                }
            }
            return Err(error);
        }
        self.extend_partitions(added);
        self.set_config(config);
        *named = (*named).max(count);
        Ok(())
    }

    /// Replaces the topic's configuration (Kafka's `alter_configs`): the
    /// partition count stays (grow it with `add_partitions`). `topic.meta`
    /// is replaced atomically first (on failure the old one is put back and
    /// nothing changes); then the partitions cut segments and bound records
    /// by the new settings from their next append, and the cleaner applies
    /// the new cleanup settings at its next pass. Sealed segments are not
    /// rewritten.
    pub(crate) fn alter(&self, config: TopicConfig) -> Result<()> {
        self.check_writable("alter a topic")?;
        let _admin = self.admin.lock();
        let current = self.partition_count();
        if config.partitions != current {
            let reason = format!(
                "topic {:?} has {current} partitions and altering keeps them (add_partitions grows a topic)",
                self.name
            );
            return Err(Error::invalid("partitions", reason));
        }
        config.validate()?;
        if let Err(error) = self.write_meta(&config) {
            let _ = self.write_meta(&self.config());
            return Err(error);
        }
        for partition in self.partitions() {
            partition.reconfigure(config.segments)?;
            partition.require_keys(config.cleanup.policy.compacts());
        }
        self.set_config(config);
        self.env.cleaner.wake();
        self.space_freed();
        Ok(())
    }

    fn write_meta(&self, config: &TopicConfig) -> Result<()> {
        meta::write_atomic(&*self.env.storage, &self.dir, META_FILE, &config.encode())
    }

    /// Opens partitions `from..config.partitions`. A directory left by an
    /// earlier failed attempt is wiped first, unless the `topic.meta` on
    /// disk may name it (`named`): then it is opened as it is, since a
    /// failure before it is made again would leave that file naming a
    /// partition that is gone.
    fn open_new_partitions(
        &self,
        config: &TopicConfig,
        from: u32,
        named: u32,
        added: &mut Vec<Arc<Partition>>,
    ) -> Result<()> {
        let options = config.partition_options(&self.env);
        for n in from..config.partitions {
            let dir = self.dir.join(n.to_string());
            if n >= named {
                remove_if_exists(&*self.env.storage, &dir)?;
            }
            let options = PartitionOptions { label: Some((Arc::clone(&self.name), n)), ..options.clone() };
            let partition = Partition::open(dir, options)?;
            partition.require_keys(config.cleanup.policy.compacts());
            added.push(Arc::new(partition));
        }
        Ok(())
    }

    /// Wakes the senders waiting for buffer space (after a cleaner pass).
    pub(crate) fn space_freed(&self) {
        let _waiting = self.space.lock();
        self.space_freed.notify_all();
    }

    /// Whether the topic's buffer is pressed: senders wait for space, or
    /// it is at least three quarters full.
    pub(crate) fn buffer_pressed(&self, limit: u64) -> bool {
        self.senders_waiting.load(Ordering::Acquire) > 0 || self.buffer_used() >= limit / 4 * 3
    }

    /// Bytes the topic's buffer counts as used: what its partitions hold,
    /// what is sent and not yet appended, and room for each partition to
    /// roll once (a new segment's headers), so appends that fit never take
    /// [`Partition::size_bytes`] summed past the bound.
    pub(crate) fn buffer_used(&self) -> u64 {
        let partitions = self.partitions.read();
        let stored: u64 = partitions.iter().map(|p| p.size_bytes()).sum();
        let rolls = partitions.len() as u64 * Partition::SEGMENT_OVERHEAD_BYTES;
        stored + rolls + self.pending_bytes.load(Ordering::Acquire)
    }

    /// Holds `bytes` of the topic's buffer for a send, if the topic has
    /// one: at once if they fit; otherwise as its `WhenFull` says — wait up
    /// to `max_block` (no wait when `None`) for the cleaner to free space,
    /// refuse, or let the cleaner drop the oldest segments. Fails with
    /// [`Error::BufferFull`]; a wait ends at once with
    /// [`Error::UnknownTopic`] if the topic is deleted meanwhile, and with
    /// [`Error::Closed`] if its log closes. `started` is when the send began
    /// waiting: read from the clock here if this is its first wait, so
    /// every wait of one send shares one `max_block`.
    pub(crate) fn reserve(
        self: &Arc<Self>,
        bytes: u64,
        max_block: Option<Duration>,
        started: &OnceCell<Instant>,
    ) -> Result<Option<BufferReservation>> {
        let full = |limit: u64, waited: Duration| Error::BufferFull {
            topic: self.name.to_string(),
            buffer_bytes: limit,
            waited_ms: waited.as_millis() as u64,
        };
        let mut waiting = self.space.lock();
        // The cleaner is asked once per wait: a pass that freed too little
        // wakes this sender, which must not ask for another at once (the
        // two would take turns for as long as it waits); what may free
        // room later (a commit, a roll, delete_records, the interval) wakes
        // the cleaner or this sender itself.
        let mut asked_cleaner = false;
        loop {
            // Checked under `space`, which `mark_deleted`, `shut` and `alter`
            // take to wake the waiters: no wake-up (or new limit) is missed.
            self.gone()?;
            let Some((limit, when_full)) = self.config.read().cleanup.buffer else { return Ok(None) };
            // Even an empty topic holds each partition's segment headers.
            let floor = u64::from(self.partition_count()) * 2 * Partition::SEGMENT_OVERHEAD_BYTES;
            if bytes.saturating_add(floor) > limit {
                return Err(full(limit, Duration::ZERO));
            }
            let used = self.buffer_used();
            if used + bytes <= limit || when_full == WhenFull::DropOldest {
                self.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
                if used + bytes > limit {
                    self.env.cleaner.wake();
                }
                return Ok(Some(BufferReservation { topic: Arc::clone(self), bytes }));
            }
            if when_full == WhenFull::Reject || max_block.is_none() {
                return Err(full(limit, Duration::ZERO));
            }
            self.senders_waiting.fetch_add(1, Ordering::AcqRel);
            if !std::mem::replace(&mut asked_cleaner, true) {
                self.env.cleaner.wake();
            }
            let deadline = max_block.and_then(|wait| started.get_or_init(Instant::now).checked_add(wait));
            let timed_out = match deadline {
                Some(deadline) => self.space_freed.wait_until(&mut waiting, deadline).timed_out(),
                None => {
                    self.space_freed.wait_for(&mut waiting, Duration::from_secs(1));
                    false
                }
            };
            self.senders_waiting.fetch_sub(1, Ordering::AcqRel);
            self.gone()?;
            if timed_out {
                let limit = self.config.read().cleanup.buffer.map_or(0, |(limit, _)| limit);
                return Err(full(limit, started.get().map_or(Duration::ZERO, Instant::elapsed)));
            }
        }
    }

    /// The figures `describe_topic` reports.
    pub(crate) fn describe(&self) -> TopicDescription {
        let partitions = self.partitions().iter().enumerate().map(|(n, p)| describe_partition(n as u32, p)).collect();
        TopicDescription { name: self.name.to_string(), config: self.config(), partitions }
    }
}

/// What sends read of a topic, as atomics beside its locked
/// configuration and partition list.
struct SendCache {
    partition_count: AtomicU32,
    max_record_bytes: AtomicU32,
    keys_required: AtomicBool,
    buffered: AtomicBool,
}

impl SendCache {
    fn new(config: &TopicConfig, partitions: usize) -> SendCache {
        let cache = SendCache {
            partition_count: AtomicU32::new(partitions as u32),
            max_record_bytes: AtomicU32::new(0),
            keys_required: AtomicBool::new(false),
            buffered: AtomicBool::new(false),
        };
        cache.set(config);
        cache
    }

    fn set(&self, config: &TopicConfig) {
        self.max_record_bytes.store(config.segments.max_record_bytes, Ordering::Release);
        self.keys_required.store(config.cleanup.policy.compacts(), Ordering::Release);
        self.buffered.store(config.cleanup.buffer.is_some(), Ordering::Release);
    }
}

/// A topic's settings a send checks ([`Topic::send_settings`]).
pub(crate) struct SendSettings {
    pub(crate) max_record_bytes: u32,
    pub(crate) keys_required: bool,
    pub(crate) buffered: bool,
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
    let marker = stage.join(CREATING_MARKER);
    storage.create_file(&marker).map_err(|e| Error::io(IoOp::Create, &marker, e))?;
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
