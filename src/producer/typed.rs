//! A producer that serializes keys and values ([`TypedProducer`]), with
//! records as expressive as [`ProducerRecord`].

use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::producer::{Callback, DeliveryHandle, Producer, ProducerRecord, RecordMetadata};
use crate::record::NewRecord;
use crate::serializer::{BytesSerializer, Serializer};

/// A record for a [`TypedProducer`]: a [`ProducerRecord`] whose key (of
/// type `K`) and value (of type `V`) the producer serializes at the send.
///
/// A record without a key says nothing about one — no `None::<&K>` to
/// spell out; a producer that never sends keys is made with
/// [`Producer::with_value_serializer`].
#[derive(Debug)]
pub struct TypedProducerRecord<'a, K: ?Sized, V: ?Sized> {
    /// The topic.
    pub topic: &'a str,
    /// An explicit partition; `None` lets the partitioner choose (see
    /// [`Producer`]).
    pub partition: Option<u32>,
    /// The key, if any.
    pub key: Option<&'a K>,
    /// The value; `None` for a tombstone.
    pub value: Option<&'a V>,
    /// Milliseconds since the Unix epoch; `None` stamps the send time.
    pub timestamp_ms: Option<i64>,
    /// Ordered `(name, value)` pairs, stored as they are.
    pub headers: &'a [(&'a str, &'a [u8])],
}

impl<K: ?Sized, V: ?Sized> Clone for TypedProducerRecord<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: ?Sized, V: ?Sized> Copy for TypedProducerRecord<'_, K, V> {}

impl<'a, K: ?Sized, V: ?Sized> TypedProducerRecord<'a, K, V> {
    /// A record of `value` for `topic`, without a key.
    pub fn new(topic: &'a str, value: &'a V) -> Self {
        TypedProducerRecord { topic, partition: None, key: None, value: Some(value), timestamp_ms: None, headers: &[] }
    }

    /// A tombstone for `key` in `topic`.
    pub fn tombstone(topic: &'a str, key: &'a K) -> Self {
        TypedProducerRecord { topic, partition: None, key: Some(key), value: None, timestamp_ms: None, headers: &[] }
    }

    /// Sets the key.
    pub fn key(mut self, key: &'a K) -> Self {
        self.key = Some(key);
        self
    }

    /// Sends to this partition.
    pub fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the timestamp in milliseconds since the Unix epoch.
    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    /// Sets the headers.
    pub fn headers(mut self, headers: &'a [(&'a str, &'a [u8])]) -> Self {
        self.headers = headers;
        self
    }
}

/// A [`Producer`] that serializes keys of type `K` and values of type `V`.
/// Its sends mirror the producer's, outcomes included: a serializer that
/// fails is an early outcome, reaching the handle and the callback as an
/// [`Error::Serialization`] naming the topic and the field.
pub struct TypedProducer<K: ?Sized, V: ?Sized, KS, VS> {
    producer: Producer,
    keys: KS,
    values: VS,
    _types: PhantomData<fn(&K, &V)>,
}

impl<K: ?Sized, V: ?Sized, KS, VS> std::fmt::Debug for TypedProducer<K, V, KS, VS> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedProducer").field("producer", &self.producer).finish()
    }
}

impl<K: ?Sized, V: ?Sized, KS: Serializer<K>, VS: Serializer<V>> TypedProducer<K, V, KS, VS> {
    /// Serializes `record` and queues it, as [`Producer::send`]: `Err`
    /// only if the producer is closed; a failed serializer completes the
    /// handle with [`Error::Serialization`].
    pub fn send(&self, record: &TypedProducerRecord<'_, K, V>) -> Result<DeliveryHandle> {
        self.enqueue(record, None, true)
    }

    /// Serializes `record` and queues it with `callback`, as
    /// [`Producer::send_with_callback`]: the callback runs exactly once,
    /// with a serialization failure too, unless this returns `Err`.
    pub fn send_with_callback(
        &self,
        record: &TypedProducerRecord<'_, K, V>,
        callback: impl FnOnce(Result<&RecordMetadata, &Error>) + Send + 'static,
    ) -> Result<DeliveryHandle> {
        self.enqueue(record, Some(Box::new(callback)), true)
    }

    /// Serializes `record` and queues it only if there is room now, as
    /// [`Producer::try_send`].
    pub fn try_send(&self, record: &TypedProducerRecord<'_, K, V>) -> Result<DeliveryHandle> {
        self.enqueue(record, None, false)
    }

    /// Serializes `record` and appends it in this thread, as
    /// [`Producer::send_direct`].
    pub fn send_direct(&self, record: &TypedProducerRecord<'_, K, V>) -> Result<RecordMetadata> {
        let serialized = self.serialize(record).map_err(|error| self.producer.check_open().err().unwrap_or(error))?;
        self.producer.send_direct(&serialized.record(record))
    }

    /// The untyped producer underneath (for `flush`, `close`, raw sends).
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    fn enqueue(
        &self,
        record: &TypedProducerRecord<'_, K, V>,
        callback: Option<Callback>,
        blocking: bool,
    ) -> Result<DeliveryHandle> {
        match self.serialize(record) {
            Ok(serialized) => self.producer.enqueue(&serialized.record(record), callback, blocking),
            Err(error) => self.producer.refuse(error, callback),
        }
    }

    fn serialize(&self, record: &TypedProducerRecord<'_, K, V>) -> Result<Serialized> {
        let key = record.key.map(|k| self.keys.serialize(k)).transpose();
        let key = key.map_err(|error| failed_in(error, record.topic, "key"))?;
        let value = record.value.map(|v| self.values.serialize(v)).transpose();
        let value = value.map_err(|error| failed_in(error, record.topic, "value"))?;
        Ok(Serialized { key, value })
    }
}

/// `error`, from the serializer of `field` in a send to `topic`, as an
/// [`Error::Serialization`] that names them.
fn failed_in(error: Error, topic: &str, field: &'static str) -> Error {
    let reason = match error {
        Error::Serialization { reason, .. } => reason,
        other => other.to_string(),
    };
    Error::Serialization { topic: Some(topic.to_string()), field, reason }
}

/// The serialized key and value of a typed record.
struct Serialized {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

impl Serialized {
    /// The untyped record: `typed` with these bytes.
    fn record<'a, K: ?Sized, V: ?Sized>(&'a self, typed: &TypedProducerRecord<'a, K, V>) -> ProducerRecord<'a> {
        let record = NewRecord {
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            timestamp_ms: typed.timestamp_ms,
            headers: typed.headers,
        };
        ProducerRecord { topic: typed.topic, partition: typed.partition, record }
    }
}

impl Producer {
    /// This producer, serializing keys with `keys` and values with `values`.
    /// The key type is inferred from the keys sent: a serializer for
    /// several types (`StringSerializer` takes `str` and `String`) whose
    /// producer never sends a key leaves it unknown — make that producer
    /// with [`Producer::with_value_serializer`] instead.
    pub fn with_serializers<K: ?Sized, V: ?Sized, KS: Serializer<K>, VS: Serializer<V>>(
        self,
        keys: KS,
        values: VS,
    ) -> TypedProducer<K, V, KS, VS> {
        TypedProducer { producer: self, keys, values, _types: PhantomData }
    }

    /// This producer, serializing values with `values`, for records without
    /// a key — or with raw byte keys (`&[u8]`), stored as they are.
    pub fn with_value_serializer<V: ?Sized, VS: Serializer<V>>(
        self,
        values: VS,
    ) -> TypedProducer<[u8], V, BytesSerializer, VS> {
        self.with_serializers(BytesSerializer, values)
    }
}
