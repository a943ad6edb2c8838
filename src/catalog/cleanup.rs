//! How a topic gives disk back: Kafka's cleanup policies (`delete` by age
//! or size, `compact` to the latest record per key, both), larder's
//! retention until consumed, and a bounded buffer with a chosen behaviour
//! when it is full.

use crate::error::{Error, Result};
use crate::name::validate_name;

/// Which records a topic's cleaner removes (Kafka's `cleanup.policy`, plus
/// retention until consumed). Offsets never change: removed records leave
/// the log start higher, or holes a read steps over.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CleanupPolicy {
    /// Whole segments, oldest first, once older than `retention_ms` or
    /// while the partition is over `retention_bytes` (Kafka's `delete`).
    /// Without either limit nothing is removed.
    #[default]
    Delete,
    /// The latest record per key in the sealed segments; tombstones go
    /// after `delete_retention_ms` (Kafka's `compact`). Records need a key.
    Compact,
    /// Both: compacted, and whole segments removed by the retention limits
    /// (Kafka's `compact,delete`).
    CompactDelete,
    /// Whole segments, oldest first, once every group reading the topic
    /// has committed past them — or, if `groups` is not empty, every group
    /// named. A buffer in front of a database: records leave the disk only
    /// once they are in it. `retention_ms` / `retention_bytes`, if set, still
    /// remove older segments as a safety valve. With no group reading,
    /// nothing is removed.
    UntilConsumed {
        /// The groups that must have consumed a segment; empty means every
        /// group with a committed offset or a member for the topic.
        groups: Vec<String>,
    },
}

impl CleanupPolicy {
    /// Whether records are compacted to the latest per key.
    pub fn compacts(&self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }

    /// Whether retention limits delete whole segments.
    pub fn deletes(&self) -> bool {
        !matches!(self, CleanupPolicy::Compact)
    }
}

/// What a send does when its topic's buffer is full.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait up to the producer's `max_block` for consumers to commit and
    /// the cleaner to free space, then fail with `Error::BufferFull`.
    Block,
    /// Fail with `Error::BufferFull` at once.
    Reject,
    /// Make room by removing the oldest segments, consumed or not (as
    /// `retention_bytes` does).
    DropOldest,
}

/// A topic's cleanup settings, with Kafka's names and defaults.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CleanupConfig {
    pub(crate) policy: CleanupPolicy,
    /// Remove segments whose newest record is older than this.
    pub(crate) retention_ms: Option<u64>,
    /// Remove the oldest segments while a partition holds more than this.
    pub(crate) retention_bytes: Option<u64>,
    /// How long a compacted topic keeps a tombstone.
    pub(crate) delete_retention_ms: u64,
    /// A record younger than this is never compacted away.
    pub(crate) min_compaction_lag_ms: u64,
    /// Compact a partition once this share of its sealed log is records a
    /// later one for the same key replaces, in millionths.
    pub(crate) min_cleanable_dirty_ppm: u32,
    /// The most bytes the topic's partitions hold together, and what a send
    /// does when they are full.
    pub(crate) buffer: Option<(u64, WhenFull)>,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        CleanupConfig {
            policy: CleanupPolicy::Delete,
            retention_ms: None,
            retention_bytes: None,
            delete_retention_ms: DEFAULT_DELETE_RETENTION_MS,
            min_compaction_lag_ms: 0,
            min_cleanable_dirty_ppm: DEFAULT_MIN_CLEANABLE_DIRTY_PPM,
            buffer: None,
        }
    }
}

/// Kafka's `delete.retention.ms` default: one day.
pub(crate) const DEFAULT_DELETE_RETENTION_MS: u64 = 24 * 60 * 60 * 1000;
/// Kafka's `min.cleanable.dirty.ratio` default, 0.5, in millionths.
pub(crate) const DEFAULT_MIN_CLEANABLE_DIRTY_PPM: u32 = 500_000;
/// Most groups `UntilConsumed` may name.
pub(crate) const MAX_UNTIL_CONSUMED_GROUPS: usize = 64;

impl CleanupConfig {
    /// Checks every setting against its limit.
    pub(crate) fn validate(&self, max_duration_ms: u64) -> Result<()> {
        let durations = [
            ("retention_ms", self.retention_ms),
            ("delete_retention_ms", Some(self.delete_retention_ms)),
            ("min_compaction_lag_ms", Some(self.min_compaction_lag_ms)),
        ];
        for (name, ms) in durations {
            if ms.is_some_and(|ms| ms > max_duration_ms) {
                return Err(Error::invalid(name, format!("must be at most {max_duration_ms} ms")));
            }
        }
        if self.retention_bytes == Some(0) {
            return Err(Error::invalid("retention_bytes", "must be at least 1 byte"));
        }
        if self.min_cleanable_dirty_ppm > 1_000_000 {
            return Err(Error::invalid("min_cleanable_dirty_ratio", "must be in 0.0..=1.0"));
        }
        if let Some((0, _)) = self.buffer {
            return Err(Error::invalid("buffer_bytes", "must be at least 1 byte"));
        }
        if let CleanupPolicy::UntilConsumed { groups } = &self.policy {
            if groups.len() > MAX_UNTIL_CONSUMED_GROUPS {
                let reason = format!("{} groups named; at most {MAX_UNTIL_CONSUMED_GROUPS}", groups.len());
                return Err(Error::invalid("until_consumed", reason));
            }
            for group in groups {
                crate::group::validate_group_id(group)?;
            }
            let unique: std::collections::BTreeSet<&String> = groups.iter().collect();
            if unique.len() != groups.len() {
                return Err(Error::invalid("until_consumed", "a group is named twice"));
            }
        }
        if self.policy.compacts() && matches!(self.buffer, Some((_, WhenFull::DropOldest))) {
            return Err(Error::invalid("buffer_bytes", "DropOldest needs a policy that deletes segments"));
        }
        Ok(())
    }

    /// Encodes the settings after `topic.meta`'s version 1 fields.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let (kind, groups): (u32, &[String]) = match &self.policy {
            CleanupPolicy::Delete => (0, &[]),
            CleanupPolicy::Compact => (1, &[]),
            CleanupPolicy::CompactDelete => (2, &[]),
            CleanupPolicy::UntilConsumed { groups } => (3, groups),
        };
        let (buffer_bytes, when_full): (u64, u32) = match self.buffer {
            None => (u64::MAX, 0),
            Some((bytes, WhenFull::Block)) => (bytes, 1),
            Some((bytes, WhenFull::Reject)) => (bytes, 2),
            Some((bytes, WhenFull::DropOldest)) => (bytes, 3),
        };
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&self.retention_ms.unwrap_or(u64::MAX).to_le_bytes());
        out.extend_from_slice(&self.retention_bytes.unwrap_or(u64::MAX).to_le_bytes());
        out.extend_from_slice(&self.delete_retention_ms.to_le_bytes());
        out.extend_from_slice(&self.min_compaction_lag_ms.to_le_bytes());
        out.extend_from_slice(&self.min_cleanable_dirty_ppm.to_le_bytes());
        out.extend_from_slice(&when_full.to_le_bytes());
        out.extend_from_slice(&buffer_bytes.to_le_bytes());
        out.extend_from_slice(&(groups.len() as u32).to_le_bytes());
        for group in groups {
            out.extend_from_slice(&(group.len() as u16).to_le_bytes());
            out.extend_from_slice(group.as_bytes());
        }
    }

    /// Decodes what [`CleanupConfig::encode`] wrote, all of `bytes`.
    pub(crate) fn decode(bytes: &[u8]) -> Result<CleanupConfig, String> {
        let mut reader = Reader { bytes, at: 0 };
        let kind = reader.u32()?;
        let some = |value: u64| (value != u64::MAX).then_some(value);
        let retention_ms = some(reader.u64()?);
        let retention_bytes = some(reader.u64()?);
        let delete_retention_ms = reader.u64()?;
        let min_compaction_lag_ms = reader.u64()?;
        let min_cleanable_dirty_ppm = reader.u32()?;
        let when_full = reader.u32()?;
        let buffer_bytes = reader.u64()?;
        let groups = (0..reader.u32()?).map(|_| reader.name()).collect::<Result<Vec<_>, _>>()?;
        if reader.at != bytes.len() {
            return Err(format!("{} bytes after the cleanup settings", bytes.len() - reader.at));
        }
        let policy = match (kind, groups.is_empty()) {
            (0, true) => CleanupPolicy::Delete,
            (1, true) => CleanupPolicy::Compact,
            (2, true) => CleanupPolicy::CompactDelete,
            (3, _) => CleanupPolicy::UntilConsumed { groups },
            _ => return Err(format!("unknown cleanup policy {kind} (with {} groups)", groups.len())),
        };
        let buffer = match when_full {
            0 => None,
            1 => Some((buffer_bytes, WhenFull::Block)),
            2 => Some((buffer_bytes, WhenFull::Reject)),
            3 => Some((buffer_bytes, WhenFull::DropOldest)),
            other => return Err(format!("unknown buffer behaviour {other}")),
        };
        Ok(CleanupConfig {
            policy,
            retention_ms,
            retention_bytes,
            delete_retention_ms,
            min_compaction_lag_ms,
            min_cleanable_dirty_ppm,
            buffer,
        })
    }
}

/// Reads little-endian fields one after another, failing past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, len: usize) -> Result<&[u8], String> {
        let taken = self.bytes.get(self.at..self.at + len).ok_or("cleanup settings cut short")?;
        self.at += len;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(crate::storage::le::u32_at(self.take(4)?, 0))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(crate::storage::le::u64_at(self.take(8)?, 0))
    }

    fn name(&mut self) -> Result<String, String> {
        let len = crate::storage::le::u16_at(self.take(2)?, 0) as usize;
        let name = std::str::from_utf8(self.take(len)?).map_err(|_| "a group name is not UTF-8")?;
        validate_name(name).map_err(|e| e.to_string())?;
        Ok(name.to_string())
    }
}
