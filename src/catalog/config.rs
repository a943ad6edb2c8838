//! A topic's configuration (`TopicConfig`, `Durability`), its codec in
//! `topic.meta`, and Kafka's rule for names.

use std::sync::Arc;
use std::time::Duration;

use crate::catalog::cleanup::{CleanupConfig, CleanupPolicy, WhenFull};
use crate::catalog::topic::TopicEnv;
use crate::error::{Error, Result};
use crate::partition::{segment_setters, PartitionOptions, SegmentConfig};
use crate::storage::{le, meta};

pub(crate) const META_FILE: &str = "topic.meta";
/// A `topic.meta` file: magic and version. Version 2 adds the cleanup
/// settings after version 1's fields; version 1 files are read with the
/// default ones.
const META: meta::FileKind = meta::FileKind::reading_from(b"LARDRTOP", 2, 1);
/// Bytes of the fields version 1 stored.
const V1_PAYLOAD_BYTES: usize = 40;

/// When an appended record is made durable, per topic; in the spirit of
/// Kafka's `flush.messages` / `flush.ms`, with an honest name per level.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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

/// A topic's segment settings as [`TopicConfig::segment_limits`] reports
/// them (each set by the setter of the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentLimits {
    /// Bytes at which the active segment rolls.
    pub segment_bytes: u32,
    /// Age at which the active segment rolls, if set.
    pub segment_ms: Option<u64>,
    /// The largest record accepted, in bytes of its frame.
    pub max_record_bytes: u32,
    /// Log bytes between two time index entries.
    pub index_interval_bytes: u32,
}

/// How a topic is created and stored.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    pub(crate) partitions: u32,
    pub(crate) segments: SegmentConfig,
    pub(crate) durability: Durability,
    pub(crate) cleanup: CleanupConfig,
}

impl TopicConfig {
    /// Most partitions a topic may have.
    pub const MAX_PARTITIONS: u32 = 10_000;
    /// Longest topic name (Kafka's limit).
    pub const MAX_NAME_CHARS: usize = crate::name::MAX_NAME_CHARS;
    /// Longest duration a topic stores (`segment_ms`, an `Interval`), in
    /// milliseconds: what an `i64` of milliseconds holds, as Kafka's do.
    pub const MAX_DURATION_MS: u64 = i64::MAX as u64;

    /// A configuration with `partitions` partitions and the defaults:
    /// 1 GiB segments, no time-based roll, 1 MiB records, a time index
    /// entry every 4 KiB, `Buffered`, and nothing ever removed (the
    /// `Delete` policy with no retention limit).
    pub fn new(partitions: u32) -> Self {
        TopicConfig {
            partitions,
            segments: SegmentConfig::default(),
            durability: Durability::Buffered,
            cleanup: CleanupConfig::default(),
        }
    }

    segment_setters!();

    /// Sets the durability level.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Which records the cleaner removes (default `Delete`, which removes
    /// nothing until a retention limit is set).
    pub fn cleanup_policy(mut self, policy: CleanupPolicy) -> Self {
        self.cleanup.policy = policy;
        self
    }

    /// Removes whole segments whose newest record is older than this
    /// (Kafka's `retention.ms`; default: never). With `UntilConsumed`, a
    /// cap: older segments go even if not consumed.
    pub fn retention_ms(mut self, retention_ms: u64) -> Self {
        self.cleanup.retention_ms = Some(retention_ms);
        self
    }

    /// Removes the oldest segments while a partition holds more than this
    /// many bytes (Kafka's `retention.bytes`, per partition; default: no
    /// limit). With `UntilConsumed`, a cap, as `retention_ms`.
    pub fn retention_bytes(mut self, retention_bytes: u64) -> Self {
        self.cleanup.retention_bytes = Some(retention_bytes);
        self
    }

    /// How long a compacted topic keeps a tombstone (Kafka's
    /// `delete.retention.ms`; default one day).
    pub fn delete_retention_ms(mut self, delete_retention_ms: u64) -> Self {
        self.cleanup.delete_retention_ms = delete_retention_ms;
        self
    }

    /// A record younger than this is never compacted away (Kafka's
    /// `min.compaction.lag.ms`; default 0).
    pub fn min_compaction_lag_ms(mut self, min_compaction_lag_ms: u64) -> Self {
        self.cleanup.min_compaction_lag_ms = min_compaction_lag_ms;
        self
    }

    /// Compacts a partition once this share of its sealed records has a
    /// later record for the same key (Kafka's `min.cleanable.dirty.ratio`,
    /// 0.0 to 1.0; default 0.5). Stored in millionths.
    pub fn min_cleanable_dirty_ratio(mut self, ratio: f64) -> Self {
        let ppm = (ratio * 1_000_000.0).round();
        // Out of range (or NaN) is refused by `validate`.
        self.cleanup.min_cleanable_dirty_ppm = if (0.0..=1_000_000.0).contains(&ppm) { ppm as u32 } else { u32::MAX };
        self
    }

    /// Bounds the bytes the topic's partitions hold together: a send that
    /// would pass `bytes` blocks, is refused, or makes room, as `when_full`
    /// says. Unconsumed records are never dropped unless `when_full` is
    /// [`WhenFull::DropOldest`].
    pub fn buffer_bytes(mut self, bytes: u64, when_full: WhenFull) -> Self {
        self.cleanup.buffer = Some((bytes, when_full));
        self
    }

    /// The cleanup policy.
    pub fn cleanup(&self) -> &CleanupPolicy {
        &self.cleanup.policy
    }

    /// The retention limits: `retention_ms` and `retention_bytes`, each if
    /// set.
    pub fn retention(&self) -> (Option<u64>, Option<u64>) {
        (self.cleanup.retention_ms, self.cleanup.retention_bytes)
    }

    /// The buffer bound and its behaviour, if set.
    pub fn buffer(&self) -> Option<(u64, WhenFull)> {
        self.cleanup.buffer
    }

    /// How segments are cut and records bounded.
    pub fn segment_limits(&self) -> SegmentLimits {
        let segments = &self.segments;
        SegmentLimits {
            segment_bytes: segments.segment_bytes,
            segment_ms: segments.segment_ms,
            max_record_bytes: segments.max_record_bytes,
            index_interval_bytes: segments.index_interval_bytes,
        }
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
        if !(1..=Self::MAX_PARTITIONS).contains(&self.partitions) {
            let reason = format!("{} is outside 1..={}", self.partitions, Self::MAX_PARTITIONS);
            return Err(Error::invalid("partitions", reason));
        }
        if let Durability::Interval(period) = self.durability {
            let whole_ms = period.subsec_nanos() % 1_000_000 == 0;
            if period < Duration::from_millis(1) || !whole_ms || period.as_millis() > Self::MAX_DURATION_MS as u128 {
                let reason =
                    format!("{period:?} is not a whole number of milliseconds in 1..={}", Self::MAX_DURATION_MS);
                return Err(Error::invalid("durability", reason));
            }
        }
        self.segments.validate()?;
        self.cleanup.validate(Self::MAX_DURATION_MS)
    }

    /// How this topic's partitions are opened.
    pub(crate) fn partition_options(&self, env: &TopicEnv) -> PartitionOptions {
        let options =
            PartitionOptions { segments: self.segments, on_roll: Some(Arc::clone(&env.cleaner)), ..Default::default() };
        options.storage(Arc::clone(&env.storage))
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut payload = vec![0u8; V1_PAYLOAD_BYTES];
        le::put_u32(&mut payload, 0, self.partitions);
        le::put_u32(&mut payload, 4, self.segments.segment_bytes);
        le::put_u64(&mut payload, 8, self.segments.segment_ms.unwrap_or(0));
        le::put_u32(&mut payload, 16, self.segments.max_record_bytes);
        le::put_u32(&mut payload, 32, self.segments.index_interval_bytes);
        let (kind, period_ms) = match self.durability {
            Durability::Buffered => (0, 0),
            Durability::Interval(period) => (1, period.as_millis() as u64),
            Durability::Sync => (2, 0),
        };
        le::put_u32(&mut payload, 20, kind);
        le::put_u64(&mut payload, 24, period_ms);
        self.cleanup.encode(&mut payload);
        meta::encode(&META, &payload)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<TopicConfig, String> {
        let (version, payload) = meta::decode_versioned(&META, bytes)?;
        if payload.len() < V1_PAYLOAD_BYTES || (version == 1 && payload.len() != V1_PAYLOAD_BYTES) {
            return Err(format!("payload of {} bytes is too short for version {version}", payload.len()));
        }
        let cleanup = match version {
            1 => CleanupConfig::default(),
            _ => CleanupConfig::decode(&payload[V1_PAYLOAD_BYTES..])?,
        };
        let durability = match (le::u32_at(payload, 20), le::u64_at(payload, 24)) {
            (0, _) => Durability::Buffered,
            (1, ms) => Durability::Interval(Duration::from_millis(ms)),
            (2, _) => Durability::Sync,
            (kind, _) => return Err(format!("unknown durability kind {kind}")),
        };
        let segment_ms = Some(le::u64_at(payload, 8)).filter(|&ms| ms > 0);
        // Written as 0 by versions that did not store it: the default.
        let index_interval_bytes = Some(le::u32_at(payload, 32))
            .filter(|&bytes| bytes > 0)
            .unwrap_or(PartitionOptions::DEFAULT_INDEX_INTERVAL_BYTES);
        let segments = SegmentConfig {
            segment_bytes: le::u32_at(payload, 4),
            segment_ms,
            max_record_bytes: le::u32_at(payload, 16),
            index_interval_bytes,
        };
        let config = TopicConfig { partitions: le::u32_at(payload, 0), segments, durability, cleanup };
        config.validate_fields().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_settings_round_trip_and_version_1_reads_with_defaults() {
        let configs = [
            TopicConfig::new(2).retention_ms(1000).retention_bytes(1 << 20),
            TopicConfig::new(1).cleanup_policy(CleanupPolicy::Compact).delete_retention_ms(5).min_compaction_lag_ms(7),
            TopicConfig::new(1).cleanup_policy(CleanupPolicy::CompactDelete).min_cleanable_dirty_ratio(0.25),
            TopicConfig::new(3)
                .cleanup_policy(CleanupPolicy::UntilConsumed { groups: vec!["a".into(), "b-1".into()] })
                .buffer_bytes(4096, WhenFull::Block),
            TopicConfig::new(1).buffer_bytes(1, WhenFull::Reject),
            TopicConfig::new(1).retention_bytes(10).buffer_bytes(u64::MAX - 1, WhenFull::DropOldest),
        ];
        for config in configs {
            config.validate().unwrap();
            assert_eq!(TopicConfig::decode(&config.encode()).unwrap(), config);
        }
        // Version 1: the first 40 bytes of the payload, no cleanup settings.
        let v2 = TopicConfig::new(4).segment_bytes(4096).encode();
        let mut payload = v2[16..16 + V1_PAYLOAD_BYTES].to_vec();
        payload.truncate(V1_PAYLOAD_BYTES);
        let mut v1 = meta::encode(&META, &payload);
        v1[8] = 1;
        let crc_at = v1.len() - 4;
        let crc = crc32c::crc32c(&v1[..crc_at]);
        v1[crc_at..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(TopicConfig::decode(&v1).unwrap(), TopicConfig::new(4).segment_bytes(4096));
    }

    #[test]
    fn config_round_trips() {
        for durability in [Durability::Buffered, Durability::Interval(Duration::from_millis(250)), Durability::Sync] {
            let config = TopicConfig::new(6).segment_bytes(4096).segment_ms(60_000).durability(durability);
            assert_eq!(TopicConfig::decode(&config.encode()).unwrap(), config);
        }
    }
}
