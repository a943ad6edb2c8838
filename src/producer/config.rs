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
    pub(crate) buffer_memory: u64,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            max_block: Self::DEFAULT_MAX_BLOCK,
            max_drain_records: Self::DEFAULT_MAX_DRAIN_RECORDS,
            sticky_partition_bytes: Self::DEFAULT_STICKY_PARTITION_BYTES,
            buffer_memory: Self::DEFAULT_BUFFER_MEMORY,
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

    /// Default [`ProducerConfig::buffer_memory`]: 32 MiB, Kafka's default.
    pub const DEFAULT_BUFFER_MEMORY: u64 = 32 << 20;

    /// Records the send queue holds before `send` blocks; beside it,
    /// [`ProducerConfig::buffer_memory`] bounds their bytes.
    pub fn queue_capacity(mut self, records: usize) -> Self {
        self.queue_capacity = records;
        self
    }

    /// Most bytes of records (their frames in the log: key, value, headers
    /// and 36 bytes of framing) queued and not yet written, before `send`
    /// blocks (Kafka's `buffer.memory`; default 32 MiB, at least 1). A send
    /// waits up to `max_block` for room, then fails with
    /// [`Error::BufferExhausted`]; a record larger than the whole bound
    /// fails at once. `send_direct` queues nothing, so it is not counted.
    pub fn buffer_memory(mut self, bytes: u64) -> Self {
        self.buffer_memory = bytes;
        self
    }

    /// How long `send` waits on a full queue or buffer before failing with
    /// [`Error::QueueFull`] or [`Error::BufferExhausted`] (Kafka's
    /// `max.block.ms`).
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
        if self.buffer_memory == 0 {
            return Err(Error::invalid("buffer_memory", "must be at least 1 byte"));
        }
        if self.sticky_partition_bytes == 0 {
            return Err(Error::invalid("sticky_partition_bytes", "must be at least 1 byte"));
        }
        Ok(())
    }
}
