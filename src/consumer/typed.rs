//! A consumer that deserializes keys and values ([`TypedConsumer`]),
//! reporting a record it cannot deserialize by topic, partition and offset.

use std::marker::PhantomData;

use crate::consumer::{Consumer, ConsumerIter, ConsumerRecord};
use crate::error::{Error, Result};
use crate::serializer::Deserializer;

/// A consumed record with its key and value deserialized.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TypedRecord<K, V> {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The offset.
    pub offset: u64,
    /// The timestamp in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The key, if the record has one.
    pub key: Option<K>,
    /// The value; `None` for a tombstone.
    pub value: Option<V>,
}

/// A [`Consumer`] that deserializes keys into `K` and values into `V`.
pub struct TypedConsumer<K, V, KD, VD> {
    consumer: Consumer,
    keys: KD,
    values: VD,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V, KD, VD> std::fmt::Debug for TypedConsumer<K, V, KD, VD> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedConsumer").field("consumer", &self.consumer).finish()
    }
}

impl<K, V, KD: Deserializer<K>, VD: Deserializer<V>> TypedConsumer<K, V, KD, VD> {
    /// Polls as [`Consumer::poll`] and deserializes the records in order.
    /// At the first record that fails, the records before it are returned
    /// and positions are left on it (and on the first record of each
    /// partition after it); polling again then fails with
    /// [`Error::Deserialization`] naming its topic, partition and offset,
    /// until the caller seeks past it (Kafka's
    /// `RecordDeserializationException`).
    pub fn poll(&mut self, timeout: std::time::Duration) -> Result<Vec<TypedRecord<K, V>>> {
        let records = self.consumer.poll(timeout)?;
        let mut typed = Vec::with_capacity(records.len());
        let mut failed = None;
        for (topic, partition, batch) in &records.batches {
            if failed.is_some() {
                self.consumer.undeliver(topic, *partition, batch.first_offset());
                continue;
            }
            for record in batch.records() {
                let record = ConsumerRecord { topic: std::sync::Arc::clone(topic), partition: *partition, record };
                match self.typed(&record) {
                    Ok(record) => typed.push(record),
                    Err(error) => {
                        self.consumer.undeliver(topic, *partition, record.offset());
                        failed = Some(error);
                        break;
                    }
                }
            }
        }
        match failed {
            Some(error) if typed.is_empty() => Err(error),
            _ => Ok(typed),
        }
    }

    /// The records one at a time, each delivered (its position moved past
    /// it) when yielded; ends after `consumer_timeout` without a record. A
    /// record that fails to deserialize is yielded as
    /// [`Error::Deserialization`], with the position left on it, and ends
    /// the iteration: seek past it and iterate again.
    pub fn iter(&mut self) -> TypedIter<'_, K, V, KD, VD> {
        TypedIter {
            records: self.consumer.iter(),
            keys: &self.keys,
            values: &self.values,
            failed: false,
            _types: PhantomData,
        }
    }

    fn typed(&self, record: &ConsumerRecord) -> Result<TypedRecord<K, V>> {
        typed(&self.keys, &self.values, record)
    }

    /// The untyped consumer, for subscribing, seeking and committing.
    pub fn consumer(&mut self) -> &mut Consumer {
        &mut self.consumer
    }
}

/// Deserializes `record`, or names it in the error.
fn typed<K, V>(
    keys: &impl Deserializer<K>,
    values: &impl Deserializer<V>,
    record: &ConsumerRecord,
) -> Result<TypedRecord<K, V>> {
    let failed = |field: &'static str| {
        move |error: Error| Error::Deserialization {
            topic: record.topic().to_string(),
            partition: record.partition(),
            offset: record.offset(),
            field,
            reason: error.to_string(),
        }
    };
    Ok(TypedRecord {
        topic: record.topic().to_string(),
        partition: record.partition(),
        offset: record.offset(),
        timestamp_ms: record.timestamp_ms(),
        key: record.key().map(|k| keys.deserialize(k)).transpose().map_err(failed("key"))?,
        value: record.value().map(|v| values.deserialize(v)).transpose().map_err(failed("value"))?,
    })
}

/// Iterator over a [`TypedConsumer`]'s records, from [`TypedConsumer::iter`].
pub struct TypedIter<'a, K, V, KD, VD> {
    records: ConsumerIter<'a>,
    keys: &'a KD,
    values: &'a VD,
    failed: bool,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V, KD: Deserializer<K>, VD: Deserializer<V>> Iterator for TypedIter<'_, K, V, KD, VD> {
    type Item = Result<TypedRecord<K, V>>;

    fn next(&mut self) -> Option<Result<TypedRecord<K, V>>> {
        if self.failed {
            return None;
        }
        let (n, record) = match self.records.next_undelivered()? {
            Ok(next) => next,
            Err(error) => return Some(Err(error)),
        };
        let typed = typed(self.keys, self.values, &record);
        match &typed {
            Ok(_) => self.records.deliver(n, record.offset()),
            Err(_) => self.failed = true,
        }
        Some(typed)
    }
}

impl Consumer {
    /// This consumer, deserializing keys with `keys` and values with `values`.
    pub fn with_deserializers<K, V, KD: Deserializer<K>, VD: Deserializer<V>>(
        self,
        keys: KD,
        values: VD,
    ) -> TypedConsumer<K, V, KD, VD> {
        TypedConsumer { consumer: self, keys, values, _types: PhantomData }
    }
}
