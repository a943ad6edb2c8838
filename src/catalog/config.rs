//! A topic's configuration (`TopicConfig`, `Durability`), its codec in
//! `topic.meta`, and Kafka's rule for names.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::partition::{segment_setters, PartitionOptions, SegmentConfig};
use crate::storage::{le, meta, Storage};

pub(crate) const META_FILE: &str = "topic.meta";
/// A `topic.meta` file: magic and version.
const META: meta::FileKind = meta::FileKind::new(b"LARDRTOP", 1);

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
    pub(crate) segments: SegmentConfig,
    pub(crate) durability: Durability,
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
    /// entry every 4 KiB, `Buffered`.
    pub fn new(partitions: u32) -> Self {
        TopicConfig { partitions, segments: SegmentConfig::default(), durability: Durability::Buffered }
    }

    segment_setters!();

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
        self.segments.validate()
    }

    /// How this topic's partitions are opened.
    pub(crate) fn partition_options(&self, storage: Arc<dyn Storage>) -> PartitionOptions {
        PartitionOptions { segments: self.segments, ..PartitionOptions::default() }.storage(storage)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut payload = [0u8; 40];
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
        meta::encode(&META, &payload)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<TopicConfig, String> {
        let payload = meta::decode(&META, bytes)?;
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
        let config = TopicConfig { partitions: le::u32_at(payload, 0), segments, durability };
        config.validate_fields().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips() {
        for durability in [Durability::Buffered, Durability::Interval(Duration::from_millis(250)), Durability::Sync] {
            let config = TopicConfig::new(6).segment_bytes(4096).segment_ms(60_000).durability(durability);
            assert_eq!(TopicConfig::decode(&config.encode()).unwrap(), config);
        }
    }
}
