//! What is sent ([`ProducerRecord`]) and what an acknowledgement says
//! ([`RecordMetadata`]).

use std::sync::Arc;

use crate::catalog::{Durability, Topic};
use crate::record::NewRecord;

/// A record to send: a topic, an optional partition, and the record itself,
/// borrowing its bytes (the queued path copies them once).
#[derive(Debug, Clone, Copy)]
pub struct ProducerRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// An explicit partition; `None` lets the partitioner choose (by key,
    /// as Kafka does, or by Kafka's uniform sticky rule without one).
    pub partition: Option<u32>,
    /// Key, value, timestamp (`None` stamps the send time) and headers.
    pub record: NewRecord<'a>,
}

impl<'a> ProducerRecord<'a> {
    /// A record of `value` for `topic`.
    pub fn new(topic: &'a str, value: &'a [u8]) -> Self {
        ProducerRecord { topic, partition: None, record: NewRecord::new(value) }
    }

    /// A tombstone for `key` in `topic`.
    pub fn tombstone(topic: &'a str, key: &'a [u8]) -> Self {
        ProducerRecord { topic, partition: None, record: NewRecord::tombstone(key) }
    }

    /// Sends to this partition.
    pub fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the key.
    pub fn key(self, key: &'a [u8]) -> Self {
        self.with(|r| r.key(key))
    }

    /// Sets the timestamp in milliseconds since the Unix epoch.
    pub fn timestamp(self, timestamp_ms: i64) -> Self {
        self.with(|r| r.timestamp(timestamp_ms))
    }

    /// Sets the headers.
    pub fn headers(self, headers: &'a [(&'a str, &'a [u8])]) -> Self {
        self.with(|r| r.headers(headers))
    }

    fn with(mut self, change: impl FnOnce(NewRecord<'a>) -> NewRecord<'a>) -> Self {
        self.record = change(self.record);
        self
    }

    pub(crate) fn stamped(&self, timestamp_ms: i64) -> NewRecord<'a> {
        NewRecord { timestamp_ms: Some(timestamp_ms), ..self.record }
    }
}

/// Where an acknowledged record was stored (Kafka's `RecordMetadata`).
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: u32,
    /// The record's offset in that partition.
    pub offset: u64,
    /// The record's timestamp as stored.
    pub timestamp_ms: i64,
    /// Bytes of the key, or -1 without one (as in Kafka).
    pub serialized_key_size: i32,
    /// Bytes of the value, or -1 for a tombstone (as in Kafka).
    pub serialized_value_size: i32,
    /// The durability level the record was acknowledged at: `Sync` means an
    /// fdatasync covered it before the acknowledgement.
    pub durability: Durability,
}

impl RecordMetadata {
    /// The metadata of a record stored at `offset` of `partition` of `topic`
    /// (with a key and value of those lengths), acknowledged at `durability`:
    /// the one place it is built.
    pub(crate) fn stored(
        topic: &Topic,
        partition: u32,
        offset: u64,
        timestamp_ms: i64,
        lengths: (Option<usize>, Option<usize>),
        durability: Durability,
    ) -> RecordMetadata {
        let (key_len, value_len) = lengths;
        RecordMetadata {
            topic: Arc::clone(topic.name()),
            partition,
            offset,
            timestamp_ms,
            serialized_key_size: key_len.map_or(-1, |len| len as i32),
            serialized_value_size: value_len.map_or(-1, |len| len as i32),
            durability,
        }
    }
}
