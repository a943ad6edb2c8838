//! A log directory: the lock that keeps it to one opener, its catalog of
//! topics and groups, the producers made from it, and the background sync
//! of `Interval` topics.
//!
//! ```text
//! <dir>/LOCK                       exclusive fs2 lock while open
//! <dir>/topics/<topic>/topic.meta  partitions + options, CRC-framed
//! <dir>/topics/<topic>/<n>/        partition n (see docs/FORMAT.md)
//! <dir>/topics/<topic>~c/          a topic being created (removed on open)
//! <dir>/topics/<topic>~d/          a topic being deleted (removed on open)
//! <dir>/groups/<group>.offsets     a group's committed offsets
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::catalog::{Catalog, CleanerReport, CleanerSettings, Durability, TopicConfig, TopicDescription, Topics};
use crate::clock::{Clock, SystemClock};
use crate::consumer::{Consumer, ConsumerConfig};
use crate::error::{Error, IoOp, Result};
use crate::group::{GroupDescription, TopicPartition};
use crate::partition::{Partition, RecoveryReport};
use crate::producer::{Producer, ProducerConfig, ProducerInner};
use crate::stats::{GroupStats, LogStats, PartitionLag, TopicStats};
use crate::storage::lock::{lock_file, DirLock};
use crate::storage::{self, OsStorage, Storage};

const LOCK_FILE: &str = "LOCK";

/// How a log is opened.
#[derive(Debug, Clone)]
pub struct LogOptions {
    auto_create: Option<TopicConfig>,
    repair: bool,
    storage: Arc<dyn Storage>,
    lock_timeout: Duration,
    clock: Arc<dyn Clock>,
    cleaner_interval: Duration,
    cleaner_map_bytes: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            auto_create: None,
            repair: false,
            storage: Arc::new(OsStorage),
            lock_timeout: Self::DEFAULT_LOCK_TIMEOUT,
            clock: Arc::new(SystemClock),
            cleaner_interval: LogOptions::DEFAULT_CLEANER_INTERVAL,
            cleaner_map_bytes: LogOptions::DEFAULT_CLEANER_MAP_BYTES,
        }
    }
}

impl LogOptions {
    /// Default [`LogOptions::lock_timeout`]: 1 s, long enough for the
    /// kernel to release the locks of a process killed with SIGKILL (it
    /// takes tens of milliseconds), short enough to report a log that is
    /// really open elsewhere without a long hang.
    pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(1);

    /// How long [`Log::open`] waits for the directory's lock while another
    /// opener holds it, before failing with [`Error::Locked`] (default
    /// [`LogOptions::DEFAULT_LOCK_TIMEOUT`]; zero tries once). A process
    /// killed with `kill -9` holds its locks until the kernel has torn it
    /// down, so a supervisor that restarts it at once needs this wait.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

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
    /// [`PartitionOptions::repair`]: crate::partition::PartitionOptions::repair
    pub fn repair(mut self, repair: bool) -> Self {
        self.repair = repair;
        self
    }

    /// The file layer to do I/O through (default: the operating system).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = storage;
        self
    }

    /// How often the cleaner looks at every topic even if nothing woke it
    /// (Kafka's `log.retention.check.interval.ms`). It is also woken when a
    /// segment rolls, a group commits and a send waits for buffer space.
    pub const DEFAULT_CLEANER_INTERVAL: Duration = Duration::from_secs(30);

    /// The time retention is judged by (default: the system clock). Tests
    /// pass a [`ManualClock`](crate::clock::ManualClock) and call
    /// [`Log::run_cleaner`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How often the cleaner looks at every topic unprompted (default
    /// [`LogOptions::DEFAULT_CLEANER_INTERVAL`]); at least 1 ms.
    pub fn cleaner_interval(mut self, interval: Duration) -> Self {
        self.cleaner_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Default memory of the compaction key map: 64 MiB, about 1.6 million
    /// distinct keys per pass.
    pub const DEFAULT_CLEANER_MAP_BYTES: usize = 64 << 20;

    /// Memory the compaction of one partition may use for its key map
    /// (Kafka's `log.cleaner.dedupe.buffer.size`; default
    /// [`LogOptions::DEFAULT_CLEANER_MAP_BYTES`]). Each distinct key takes
    /// about 40 bytes; a pass compacts as many whole segments as the map
    /// holds, and the next pass goes on. At least 4 KiB.
    pub fn cleaner_map_bytes(mut self, bytes: usize) -> Self {
        self.cleaner_map_bytes = bytes.max(4096);
        self
    }
}

/// An open log directory: topics of partitions, shared by producers and
/// consumers. Cheap to clone; the directory stays locked until the last
/// clone, and every producer made from it, is gone (or [`Log::close`] is
/// called). Consumers do not keep it open: once those are gone, a
/// consumer's calls fail with [`Error::Closed`].
///
/// ```
/// # fn main() -> larder::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use larder::{Log, LogOptions, TopicConfig};
///
/// // A restart right after a crash waits for the old process's lock.
/// let options = LogOptions::default().lock_timeout(Duration::from_secs(5));
/// let log = Log::open(dir.path(), options)?;
/// log.create_topic("events", TopicConfig::new(3).retention_ms(7 * 24 * 3600 * 1000))?;
/// assert_eq!(log.list_topics(), ["events"]);
/// assert_eq!(log.describe_topic("events")?.partitions.len(), 3);
/// // Every open partition recovered (here: created) cleanly or says what it cut.
/// assert!(log.recovery_reports().iter().all(|(_, _, report)| report.truncated_bytes == 0));
/// log.close()?; // drains producers, syncs, marks a clean shutdown
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Log {
    inner: Arc<LogInner>,
}

struct LogInner {
    dir: PathBuf,
    catalog: Arc<Catalog>,
    producers: Mutex<Vec<Weak<ProducerInner>>>,
    /// The interval syncer: dropping the sender stops it.
    syncer: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
    /// The cleaner thread: `Catalog::stop_cleaner` stops it.
    cleaner: Mutex<Option<JoinHandle<()>>>,
    /// A read-only log's follower thread: dropping the sender stops it.
    follower: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
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
        let lock = lock_file(&dir, LOCK_FILE, options.lock_timeout)?;
        let catalog = Arc::new(Catalog::open(
            &dir,
            storage,
            options.auto_create,
            options.repair,
            CleanerSettings {
                clock: options.clock,
                interval: options.cleaner_interval,
                map_bytes: options.cleaner_map_bytes,
            },
        )?);
        let syncer = start_interval_syncer(Arc::clone(catalog.topics()))?;
        let cleaner = match start_cleaner(Arc::clone(&catalog)) {
            Ok(cleaner) => cleaner,
            Err(error) => {
                let (stop, syncer) = syncer;
                drop(stop);
                let _ = syncer.join();
                return Err(error);
            }
        };
        let inner = LogInner {
            dir,
            catalog,
            producers: Mutex::new(Vec::new()),
            syncer: Mutex::new(Some(syncer)),
            cleaner: Mutex::new(Some(cleaner)),
            follower: Mutex::new(None),
            lock: Mutex::new(Some(lock)),
        };
        Ok(Log { inner: Arc::new(inner) })
    }

    /// Opens the log in `dir` read-only, for looking at it while another
    /// process owns it (or after that process died): takes no lock and
    /// writes nothing — no recovery, no cleaner, no syncer. Each partition
    /// shows a consistent prefix (its sealed segments, and the active one up
    /// to its last complete frame whose CRC verifies: the owner may be
    /// mid-write), and follows the owner's appends, rolls, truncations,
    /// retention and topic changes: a thread polls the files of the
    /// partitions a consumer waits on every [`Log::FOLLOW_INTERVAL`], and
    /// the topic list every [`Log::TOPICS_INTERVAL`] (a lookup of a topic
    /// not seen yet looks at once).
    ///
    /// Consumers read, and may read a group's committed offsets (for lag),
    /// but a commit — and a consumer that would auto-commit — fails with
    /// [`Error::ReadOnly`], as do producers and every admin call. A read
    /// below a start the owner moved up is [`Error::OffsetOutOfRange`] and a
    /// consumer follows its `auto_offset_reset`.
    ///
    /// ```
    /// # fn main() -> larder::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use larder::{Log, LogOptions, TopicConfig};
    ///
    /// let owner = Log::open(dir.path(), LogOptions::default())?;
    /// owner.create_topic("events", TopicConfig::new(1))?;
    /// owner.partition("events", 0)?.append(&larder::record::NewRecord::new(b"hello"))?;
    ///
    /// // Another process (here: the same one) looks at the live log.
    /// let reader = Log::open_read_only(dir.path())?;
    /// assert!(reader.is_read_only());
    /// assert_eq!(reader.partition("events", 0)?.read(0)?.value(), Some(&b"hello"[..]));
    /// assert!(matches!(reader.create_topic("x", TopicConfig::new(1)), Err(larder::Error::ReadOnly { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Log> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(Error::invalid("dir", format!("{} is not a directory", dir.display())));
        }
        let catalog = Arc::new(Catalog::open_read_only(&dir, Arc::new(OsStorage), Arc::new(SystemClock))?);
        let follower = start_follower(Arc::clone(&catalog))?;
        let inner = LogInner {
            dir,
            catalog,
            producers: Mutex::new(Vec::new()),
            syncer: Mutex::new(None),
            cleaner: Mutex::new(None),
            follower: Mutex::new(Some(follower)),
            lock: Mutex::new(None),
        };
        Ok(Log { inner: Arc::new(inner) })
    }

    /// How often a read-only log looks for new records in the partitions
    /// consumers wait on (see docs/FORMAT.md, "Reading a live log").
    pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(10);

    /// How often a read-only log looks for topics created, deleted or grown.
    pub const TOPICS_INTERVAL: Duration = Duration::from_millis(200);

    /// Whether the log was opened with [`Log::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.inner.catalog.is_read_only()
    }

    /// Fails with [`Error::ReadOnly`] naming `operation` on a read-only log.
    fn check_writable(&self, operation: &'static str) -> Result<()> {
        self.inner.catalog.check_writable(operation)
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Creates topic `name` with `config`. Atomic: the topic is built in a
    /// directory of its own and renamed into place, so a failure (or a
    /// crash) part way leaves nothing behind.
    ///
    /// Idempotent, so a service can declare its topics at every start: if
    /// the topic exists with the same configuration this succeeds and
    /// changes nothing; with another configuration (a different partition
    /// count, say) it fails with [`Error::TopicExists`] saying how they
    /// differ ([`Log::alter_topic`] and [`Log::add_partitions`] change a
    /// topic). A create of a topic being deleted waits for the deletion,
    /// then creates it afresh.
    ///
    /// ```
    /// # fn main() -> larder::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use larder::{Error, Log, LogOptions, TopicConfig};
    ///
    /// let log = Log::open(dir.path(), LogOptions::default())?;
    /// log.create_topic("events", TopicConfig::new(3))?;
    /// log.create_topic("events", TopicConfig::new(3))?; // no-op
    /// let error = log.create_topic("events", TopicConfig::new(4)).unwrap_err();
    /// assert!(matches!(error, Error::TopicExists { .. }));
    /// # Ok(())
    /// # }
    /// ```
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<()> {
        self.inner.catalog.create_topic(name, config).map(drop)
    }

    /// Deletes topic `name` and all its records. Producers' later sends to
    /// it fail with [`Error::UnknownTopic`]; its groups' committed offsets
    /// go with it, before the name is free for a new topic. Waits for
    /// another admin call working on the topic. If this fails once the
    /// topic is out of the log, whether it is gone shows on the next open
    /// (a power cut may bring it back, with its committed offsets); a
    /// topic created again under the name starts without offsets either
    /// way.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.inner.catalog.delete_topic(name)
    }

    /// Names of every topic, sorted (none once the log is closed).
    pub fn list_topics(&self) -> Vec<String> {
        self.inner.catalog.list_topics()
    }

    /// Configuration and per-partition figures of topic `name`.
    /// On a read-only log, each partition is brought up to date first.
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let topic = self.inner.catalog.topic(name)?;
        if self.is_read_only() {
            for partition in topic.partitions() {
                partition.refresh()?;
            }
        }
        Ok(topic.describe())
    }

    /// Grows topic `name` to `partitions` partitions; the count only grows.
    /// The new partitions exist once `topic.meta` names them: if this fails,
    /// the topic keeps its old count. Groups subscribed to the topic
    /// rebalance so the new partitions are read.
    pub fn add_partitions(&self, name: &str, partitions: u32) -> Result<()> {
        self.check_writable("add partitions")?;
        self.inner.catalog.add_partitions(name, partitions)
    }

    /// Replaces topic `name`'s configuration (Kafka's `alter_configs`):
    /// retention, cleanup policy, buffer, segment and record limits,
    /// durability. The partition count must stay as it is
    /// ([`Log::add_partitions`] grows it). `topic.meta` is replaced
    /// atomically first; new segment limits apply from the next append,
    /// new cleanup settings from the cleaner's next pass (woken at once).
    pub fn alter_topic(&self, name: &str, config: TopicConfig) -> Result<()> {
        self.check_writable("alter a topic")?;
        self.inner.catalog.alter_topic(name, config)
    }

    /// Removes the records of `name`'s `partition` below `before` (Kafka's
    /// `delete_records`): the log start moves there at once (made durable
    /// before this returns); the whole segments below it leave the disk.
    /// A consumer whose position (or group's committed offset) is below the
    /// new start is reset by its `auto_offset_reset`, as in Kafka: with
    /// `Latest`, to the end. Returns the new log start.
    /// `before` past the end offset is refused with [`Error::InvalidArgument`].
    pub fn delete_records(&self, name: &str, partition: u32, before: u64) -> Result<u64> {
        self.check_writable("delete records")?;
        let topic = self.inner.catalog.topic(name)?;
        let partition = topic.partition(partition)?;
        let end = partition.end_offset();
        if before > end {
            let reason = format!("offset {before} is past the end offset {end} of {}", partition.dir().display());
            return Err(Error::invalid("before", reason));
        }
        let deleted = partition.delete_before(before).map_err(|e| topic.partition_error(e));
        // Senders waiting for room in the topic's buffer look again.
        topic.space_freed();
        deleted?;
        Ok(partition.log_start_offset())
    }

    /// Runs one cleaner pass now, as the cleaner thread does on its own
    /// (every [`LogOptions::cleaner_interval`], and when woken): removes
    /// what retention, consumption and buffers allow, compacts compacted
    /// topics. Returns what it did.
    pub fn run_cleaner(&self) -> Result<CleanerReport> {
        self.inner.catalog.clean()
    }

    /// Partition `partition` of topic `name`, for reading.
    pub fn partition(&self, name: &str, partition: u32) -> Result<Arc<Partition>> {
        self.inner.catalog.topic(name)?.partition(partition)
    }

    /// What recovery found in each partition when it was opened:
    /// `(topic, partition, report)`.
    pub fn recovery_reports(&self) -> Vec<(String, u32, RecoveryReport)> {
        let mut reports = Vec::new();
        for name in self.list_topics() {
            let Ok(topic) = self.inner.catalog.topic(&name) else { continue };
            for (n, partition) in topic.partitions().iter().enumerate() {
                reports.push((name.clone(), n as u32, partition.recovery_report().clone()));
            }
        }
        reports
    }

    /// A producer sending into this log.
    pub fn producer(&self, config: ProducerConfig) -> Result<Producer> {
        self.inner.catalog.check_open()?;
        self.check_writable("produce")?;
        // The producer holds the log's state: the log stays open (and its
        // directory locked) while the producer lives, as documented.
        let owner: Arc<dyn std::any::Any + Send + Sync> = Arc::clone(&self.inner) as _;
        let producer = Producer::start(Arc::clone(&self.inner.catalog), config, owner)?;
        // Registered under the list's lock, the log checked open again: a
        // close that began meanwhile has drained the list already and would
        // not close (and join) this producer.
        let mut producers = self.inner.producers.lock();
        if let Err(closed) = self.inner.catalog.check_open() {
            drop(producers);
            producer.close();
            return Err(closed);
        }
        producers.push(producer.downgrade());
        Ok(producer)
    }

    /// A consumer reading from this log.
    /// On a read-only log, a consumer with a group id and auto-commit on is
    /// refused with [`Error::ReadOnly`] (it could never commit): turn
    /// `enable_auto_commit` off.
    pub fn consumer(&self, config: ConsumerConfig) -> Result<Consumer> {
        self.inner.catalog.check_open()?;
        if config.group_id.is_some() && config.enable_auto_commit {
            self.check_writable("auto-commit (set enable_auto_commit(false) on a read-only log)")?;
        }
        Consumer::new(Arc::clone(&self.inner.catalog), config)
    }

    /// Ids of the groups with committed offsets or live members, sorted.
    pub fn list_groups(&self) -> Result<Vec<String>> {
        self.inner.catalog.list_groups()
    }

    /// Members, assignment, committed offsets and lag of group `id`;
    /// [`Error::UnknownGroup`] if it has neither members nor offsets (and
    /// asking creates nothing).
    pub fn describe_group(&self, id: &str) -> Result<GroupDescription> {
        let group = self.inner.catalog.group(id)?;
        if !group.exists() {
            return Err(Error::UnknownGroup { group: id.to_string() });
        }
        // `refresh` brings a read-only partition up to date, and returns
        // the end offset of one this process owns.
        let end_offset = |tp: &TopicPartition| self.partition(&tp.topic, tp.partition).and_then(|p| p.refresh());
        Ok(group.describe(|tp| end_offset(tp).unwrap_or(0)))
    }

    /// A snapshot of the whole log, for a status endpoint or a metrics
    /// exporter: per partition, records and bytes appended since open,
    /// start, end and synced offsets, size on disk, segments and fdatasync
    /// latencies; per group, generation, members and lag; per producer,
    /// queue depth and buffered bytes. It reads counters and takes each
    /// lock for a lookup only — cheap enough to call every second (a group
    /// stored on disk is loaded on the first call). On a read-only log it
    /// first brings topics and partitions up to date with the owner's
    /// files (one read per partition), so ends and lag are the owner's.
    /// `Serialize` with the `serde` feature.
    ///
    /// ```
    /// # fn main() -> larder::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use larder::{Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};
    ///
    /// let log = Log::open(dir.path(), LogOptions::default())?;
    /// log.create_topic("events", TopicConfig::new(2))?;
    /// let producer = log.producer(ProducerConfig::default())?;
    /// producer.send_direct(&ProducerRecord::new("events", b"hello").partition(1))?;
    /// let stats = log.stats()?;
    /// let events = &stats.topics[0];
    /// assert_eq!((events.name.as_str(), events.partitions[1].records_appended), ("events", 1));
    /// assert_eq!(stats.producers[0].queued_records, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> Result<LogStats> {
        let catalog = &self.inner.catalog;
        catalog.check_open()?;
        if self.is_read_only() {
            self.catch_up_with_owner();
        }
        let topics = catalog
            .open_topics()
            .iter()
            .map(|topic| TopicStats {
                name: topic.name().to_string(),
                partitions: topic.partitions().iter().map(|p| p.stats()).collect(),
            })
            .collect();
        let mut groups = Vec::new();
        for id in catalog.list_groups()? {
            let group = catalog.group(&id)?;
            let end = |tp: &TopicPartition| self.partition(&tp.topic, tp.partition).map_or(0, |p| p.end_offset());
            groups.push(group_stats(group.describe(end)));
        }
        let producers = self.inner.producers.lock().clone();
        let producers = producers.iter().filter_map(Weak::upgrade).filter(|p| p.is_open()).map(|p| p.stats()).collect();
        Ok(LogStats { topics, groups, producers })
    }

    /// A read-only log's topics and partitions brought up to date with the
    /// owner's files, as `describe_topic` does: partitions no consumer
    /// watches are not followed in the background. A failure (a topic the
    /// owner is deleting) leaves that figure as last seen; the next lookup
    /// of it fails by name.
    fn catch_up_with_owner(&self) {
        let catalog = &self.inner.catalog;
        let _ = catalog.follow();
        for topic in catalog.open_topics() {
            for partition in topic.partitions() {
                let _ = partition.refresh();
            }
        }
    }

    /// Deletes group `id` and its committed offsets, as
    /// `kafka-consumer-groups --delete`: refused with
    /// [`Error::GroupNotEmpty`] while it has members, and
    /// [`Error::UnknownGroup`] if it stores nothing.
    pub fn delete_group(&self, id: &str) -> Result<()> {
        self.check_writable("delete a group")?;
        self.inner.catalog.group(id)?.delete()
    }

    /// Abandons the log as a crash would: no partition is sealed or synced,
    /// no clean-shutdown marker is written, the locks are released. What
    /// was appended stays in the OS page cache, as when the process is
    /// killed. Producers and consumers should be dropped first.
    #[cfg(feature = "fault-injection")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fault-injection")))]
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
    /// The last owner gone (every `Log` clone and every producer made from
    /// it): close every partition here and now (sealed, marked clean,
    /// unlocked), whoever else — a consumer — still holds a topic.
    fn drop(&mut self) {
        let _ = self.shut(Partition::shutdown);
    }
}

impl LogInner {
    /// Closes the log once: producers drained, the syncer joined, the
    /// catalog closed (each partition with `close_partition`), unlocked.
    fn shut(&self, close_partition: impl Fn(&Partition) -> Result<()>) -> Result<()> {
        // From here every call of the log's handles fails with `Closed`
        // (sends already queued are still appended and acknowledged).
        if !self.catalog.begin_close() {
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
        if let Some((stop, follower)) = self.follower.lock().take() {
            drop(stop);
            let _ = follower.join();
        }
        self.catalog.stop_cleaner();
        if let Some(cleaner) = self.cleaner.lock().take() {
            let _ = cleaner.join();
        }
        let closed = self.catalog.close(close_partition);
        self.lock.lock().take();
        closed
    }
}

/// Runs the log's cleaner until `Catalog::stop_cleaner`.
fn start_cleaner(catalog: Arc<Catalog>) -> Result<JoinHandle<()>> {
    let name = "larder-cleaner";
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || catalog.run_cleaner())
        .map_err(|e| Error::io(IoOp::SpawnThread, name, e))
}

/// Follows a read-only log's files until its stop channel disconnects:
/// the partitions consumers wait on every [`Log::FOLLOW_INTERVAL`] (a
/// refresh wakes them if records came), the topic list every
/// [`Log::TOPICS_INTERVAL`]. Polling rather than inotify: a refresh is one
/// `pread` of the active segment's tail, works on every file system
/// (inotify sees nothing of writes through a shared map on some), and needs
/// no new dependency.
fn start_follower(catalog: Arc<Catalog>) -> Result<(Sender<()>, JoinHandle<()>)> {
    let (stop, stopped): (Sender<()>, Receiver<()>) = crossbeam_channel::bounded(0);
    let name = "larder-follower";
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut topics_seen = Instant::now();
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(Log::FOLLOW_INTERVAL) {
                if topics_seen.elapsed() >= Log::TOPICS_INTERVAL {
                    // A failure (the log's directory gone) is met by the
                    // next lookup, which fails by name.
                    let _ = catalog.follow();
                    topics_seen = Instant::now();
                }
                for topic in catalog.open_topics() {
                    for partition in topic.partitions().iter().filter(|p| p.watchers().is_watched()) {
                        let _ = partition.refresh();
                    }
                }
            }
        })
        .map_err(|e| Error::io(IoOp::SpawnThread, name, e))?;
    Ok((stop, thread))
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
fn sync_due(topics: &Topics, last_sync: &mut BTreeMap<String, Instant>) -> Duration {
    let topics: Vec<_> = topics.read().values().cloned().collect();
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

/// A group's figures, from its description.
fn group_stats(description: GroupDescription) -> GroupStats {
    let partitions: Vec<PartitionLag> = description
        .offsets
        .into_iter()
        .map(|o| PartitionLag {
            topic: o.partition.topic,
            partition: o.partition.partition,
            committed: o.committed,
            end_offset: o.end_offset,
            lag: o.lag,
        })
        .collect();
    GroupStats {
        group_id: description.group_id,
        generation: description.generation,
        rebalancing: description.rebalancing,
        members: description.members.len(),
        total_lag: partitions.iter().map(|p| p.lag).sum(),
        partitions,
    }
}
