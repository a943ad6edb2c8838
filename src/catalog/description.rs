//! A topic as `describe_topic` reports it.

use crate::catalog::config::TopicConfig;
use crate::partition::Partition;

/// Per-partition figures of a topic, as Kafka's `describe` gives them.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionDescription {
    /// The partition number.
    pub partition: u32,
    /// First offset still stored.
    pub log_start_offset: u64,
    /// Offset the next record gets.
    pub end_offset: u64,
    /// Bytes of valid log and index: what retention and a bounded buffer
    /// count.
    pub size_bytes: u64,
    /// Bytes the partition's files occupy on the file system (blocks
    /// allocated, including the active segment's space allocated ahead of
    /// the writer).
    pub disk_bytes: u64,
    /// Number of segments.
    pub segments: usize,
}

/// A topic and its partitions, as `describe_topic` reports them.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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

pub(crate) fn describe_partition(partition: u32, p: &Partition) -> PartitionDescription {
    PartitionDescription {
        partition,
        log_start_offset: p.log_start_offset(),
        end_offset: p.end_offset(),
        size_bytes: p.size_bytes(),
        disk_bytes: p.disk_bytes(),
        segments: p.segment_count(),
    }
}
