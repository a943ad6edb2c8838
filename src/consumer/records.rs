//! What `poll` returns: records with the topic and partition they came
//! from, borrowing their bytes from the mapped segments.

use std::sync::Arc;

use crate::group::TopicPartition;

use crate::record::{Headers, Record};
use crate::segment::RecordBatch;

/// A record returned by `poll`: where it came from, and the record itself,
/// borrowing its bytes from the mapped segment.
#[derive(Clone, Debug)]
pub struct ConsumerRecord {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: u32,
    pub(crate) record: Record,
}

impl ConsumerRecord {
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// The offset.
    pub fn offset(&self) -> u64 {
        self.record.offset()
    }

    /// The timestamp in milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> i64 {
        self.record.timestamp_ms()
    }

    /// The key, if any.
    pub fn key(&self) -> Option<&[u8]> {
        self.record.key()
    }

    /// The value; `None` for a tombstone.
    pub fn value(&self) -> Option<&[u8]> {
        self.record.value()
    }

    /// The headers in order.
    pub fn headers(&self) -> Headers<'_> {
        self.record.headers()
    }
}

/// What one `poll` returned: a batch per partition it read from, and,
/// with [`ConsumerConfig::enable_partition_eof`](crate::ConsumerConfig::enable_partition_eof),
/// the partitions whose end it reached.
#[derive(Debug, Default)]
pub struct ConsumerRecords {
    pub(crate) batches: Vec<(Arc<str>, u32, RecordBatch)>,
    pub(crate) partition_eof: Vec<TopicPartition>,
}

impl ConsumerRecords {
    /// Records in all batches.
    pub fn len(&self) -> usize {
        self.batches.iter().map(|(_, _, b)| b.len()).sum()
    }

    /// Whether the poll returned no record (it may still report
    /// [`ConsumerRecords::partition_eof`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The partitions this poll reached the end of (confluent-kafka's
    /// `_PARTITION_EOF` events), with
    /// [`ConsumerConfig::enable_partition_eof`](crate::ConsumerConfig::enable_partition_eof)
    /// on: each is reported once when the consumer's position reaches the
    /// partition's end, and again only after more records were delivered
    /// from it (or it was sought). A poll with nothing to return but an
    /// end reached returns at once. Always empty when it is off, and for
    /// the iterators.
    pub fn partition_eof(&self) -> &[TopicPartition] {
        &self.partition_eof
    }

    /// The batches: `(topic, partition, records)`, for reading without any
    /// per-record handle.
    pub fn batches(&self) -> impl Iterator<Item = (&str, u32, &RecordBatch)> {
        self.batches.iter().map(|(t, p, b)| (t.as_ref(), *p, b))
    }

    /// Every record, partition by partition, in offset order.
    pub fn iter(&self) -> impl Iterator<Item = ConsumerRecord> + '_ {
        self.batches.iter().flat_map(|(topic, partition, batch)| {
            batch.records().map(move |record| ConsumerRecord {
                topic: Arc::clone(topic),
                partition: *partition,
                record,
            })
        })
    }
}
