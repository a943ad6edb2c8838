//! Topics: a validated name, a configuration persisted in `topic.meta`, and
//! N partitions, each a [`Partition`] in `<topic>/<n>/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::error::{Error, IoOp, Result};
use crate::le;
use crate::meta;
use crate::partition::{Partition, PartitionOptions, DEFAULT_MAX_RECORD_BYTES, DEFAULT_SEGMENT_BYTES};
use crate::storage::Storage;

/// Longest topic name (Kafka's limit).
pub const MAX_NAME_CHARS: usize = 249;
/// Most partitions a topic may have.
pub const MAX_PARTITIONS: u32 = 10_000;
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
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            segment_ms: None,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
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

    fn validate(&self) -> Result<()> {
        if !(1..=MAX_PARTITIONS).contains(&self.partitions) {
            let reason = format!("{} is outside 1..={MAX_PARTITIONS}", self.partitions);
            return Err(Error::invalid("partitions", reason));
        }
        if let Durability::Interval(period) = self.durability {
            if period.is_zero() {
                return Err(Error::invalid("durability", "an Interval must be at least 1 ms"));
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
        config.validate().map_err(|e| e.to_string())?;
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
    deleted: std::sync::atomic::AtomicBool,
    dir: PathBuf,
    config: RwLock<TopicConfig>,
    partitions: RwLock<Vec<Arc<Partition>>>,
    storage: Arc<dyn Storage>,
}

impl Topic {
    /// Creates the topic's directory, metadata and partitions.
    pub(crate) fn create(dir: PathBuf, name: &str, config: TopicConfig, storage: Arc<dyn Storage>) -> Result<Topic> {
        config.validate()?;
        storage.create_dir_all(&dir).map_err(|e| Error::io(IoOp::CreateDirectory, &dir, e))?;
        let parent = dir.parent().unwrap_or(Path::new("."));
        storage.sync_dir(parent).map_err(|e| Error::io(IoOp::SyncDirectory, parent, e))?;
        meta::write_atomic(&*storage, &dir, META_FILE, &config.encode())?;
        Topic::open(dir, name, storage)
    }

    /// Opens an existing topic directory, recovering every partition.
    pub(crate) fn open(dir: PathBuf, name: &str, storage: Arc<dyn Storage>) -> Result<Topic> {
        let path = dir.join(META_FILE);
        let bytes =
            meta::read_if_exists(&path)?.ok_or_else(|| Error::corrupt(&path, 0, "topic metadata is missing"))?;
        let config = TopicConfig::decode(&bytes).map_err(|reason| Error::corrupt(&path, 0, reason))?;
        let options = config.partition_options(Arc::clone(&storage));
        let label = |n: u32| PartitionOptions { label: Some((Arc::from(name), n)), ..options.clone() };
        let partitions = (0..config.partitions)
            .map(|n| Partition::open(dir.join(n.to_string()), label(n)).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        let topic = Topic {
            name: name.into(),
            deleted: std::sync::atomic::AtomicBool::new(false),
            dir,
            config: RwLock::new(config),
            partitions: RwLock::new(partitions),
            storage,
        };
        Ok(topic)
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
        self.deleted.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether the topic was deleted.
    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.load(std::sync::atomic::Ordering::Acquire)
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
    /// new partitions are created first, then the metadata names them.
    pub(crate) fn add_partitions(&self, count: u32) -> Result<()> {
        let mut partitions = self.partitions.write();
        let current = partitions.len() as u32;
        if count <= current {
            let reason = format!("topic {:?} has {current} partitions; the count can only grow", self.name);
            return Err(Error::invalid("partitions", reason));
        }
        let mut config = self.config.read().clone();
        config.partitions = count;
        config.validate()?;
        let options = config.partition_options(Arc::clone(&self.storage));
        for n in current..count {
            let options = PartitionOptions { label: Some((Arc::clone(&self.name), n)), ..options.clone() };
            partitions.push(Arc::new(Partition::open(self.dir.join(n.to_string()), options)?));
        }
        meta::write_atomic(&*self.storage, &self.dir, META_FILE, &config.encode())?;
        *self.config.write() = config;
        Ok(())
    }

    /// The figures `describe_topic` reports.
    pub(crate) fn describe(&self) -> TopicDescription {
        let partitions = self.partitions().iter().enumerate().map(|(n, p)| describe_partition(n as u32, p)).collect();
        TopicDescription { name: self.name.to_string(), config: self.config(), partitions }
    }

    /// The topic's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
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
