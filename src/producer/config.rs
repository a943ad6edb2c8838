//! How a producer queues and batches.

use std::time::Duration;

use crate::error::{Error, Result};

/// How a producer queues and batches.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub(crate) queue_capacity: usize,
    pub(crate) max_block: Duration,
    pub(crate) max_drain_records: usize,
    pub(crate) sticky_partition_bytes: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            max_block: Self::DEFAULT_MAX_BLOCK,
            max_drain_records: Self::DEFAULT_MAX_DRAIN_RECORDS,
            sticky_partition_bytes: Self::DEFAULT_STICKY_PARTITION_BYTES,
        }
    }
}

impl ProducerConfig {
    /// Default capacity of the send queue, in records.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;
    /// Default longest wait of `send` on a full queue (Kafka's `max.block.ms`).
    pub const DEFAULT_MAX_BLOCK: Duration = Duration::from_secs(60);
    /// Default most records the appender takes from the queue at once.
    pub const DEFAULT_MAX_DRAIN_RECORDS: usize = 16_384;
    /// Default most bytes of frames a run of keyless records puts on one
    /// partition before the next partition's turn (Kafka's `batch.size`).
    pub const DEFAULT_STICKY_PARTITION_BYTES: usize = 16 * 1024;

    /// Records the send queue holds before `send` blocks (like Kafka's
    /// `buffer.memory`, counted in records).
    pub fn queue_capacity(mut self, records: usize) -> Self {
        self.queue_capacity = records;
        self
    }

    /// How long `send` waits on a full queue before failing with
    /// [`Error::QueueFull`] (Kafka's `max.block.ms`).
    pub fn max_block(mut self, max_block: Duration) -> Self {
        self.max_block = max_block;
        self
    }

    /// Most records the appender takes from the queue per drain.
    pub fn max_drain_records(mut self, records: usize) -> Self {
        self.max_drain_records = records;
        self
    }

    /// Most bytes of frames a run of keyless records puts on one partition
    /// before moving to the next (Kafka's `batch.size`, which bounds its
    /// sticky partitioner's runs the same way); a run also ends when the
    /// appender takes it from the queue. See [`Producer`](crate::Producer).
    pub fn sticky_partition_bytes(mut self, bytes: usize) -> Self {
        self.sticky_partition_bytes = bytes;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.queue_capacity == 0 {
            return Err(Error::invalid("queue_capacity", "must be at least 1 record"));
        }
        if self.max_drain_records == 0 {
            return Err(Error::invalid("max_drain_records", "must be at least 1 record"));
        }
        if self.sticky_partition_bytes == 0 {
            return Err(Error::invalid("sticky_partition_bytes", "must be at least 1 byte"));
        }
        Ok(())
    }
}
