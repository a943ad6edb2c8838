//! Typed records: a [`Serializer`] turns keys and values into bytes and a
//! [`Deserializer`] turns them back, as kafka-python's `key_serializer` /
//! `value_serializer` and `key_deserializer` / `value_deserializer` do.
//!
//! A [`TypedProducer`] sends [`TypedProducerRecord`]s, which say everything
//! a [`ProducerRecord`] can (key, partition, timestamp, headers) with a
//! typed key and value; it sends, with or without a callback, as the
//! [`Producer`] does, and a failed serializer is an early outcome of the
//! send like any other, naming the topic and the field.
//!
//! ```
//! # fn main() -> larder::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! use larder::serializer::{StringSerializer, TypedProducerRecord};
//! use larder::{Log, LogOptions, ProducerConfig, TopicConfig};
//!
//! let log = Log::open(dir.path(), LogOptions::default())?;
//! log.create_topic("greetings", TopicConfig::new(2))?;
//! let producer = log.producer(ProducerConfig::default())?;
//! let greetings = producer.clone().with_serializers(StringSerializer, StringSerializer);
//! let meta = greetings.send(&TypedProducerRecord::new("greetings", "hello").key("en"))?.get()?;
//! assert_eq!((meta.serialized_key_size, meta.serialized_value_size), (2, 5));
//! let headers: [(&str, &[u8]); 1] = [("lang", b"fr")];
//! let record = TypedProducerRecord::new("greetings", "bonjour").partition(1).timestamp(1_000).headers(&headers);
//! greetings.send_with_callback(&record, |result| assert_eq!(result.expect("stored").timestamp_ms, 1_000))?;
//! // Records without a key need no key serializer (keys, if any, are raw bytes).
//! let values = producer.with_value_serializer(StringSerializer);
//! let meta = values.send_direct(&TypedProducerRecord::new("greetings", "salut").partition(1))?;
//! assert_eq!((meta.partition, meta.serialized_key_size), (1, -1));
//! # Ok(())
//! # }
//! ```

use std::marker::PhantomData;

use crate::consumer::{Consumer, ConsumerRecord};
use crate::error::{Error, Result};
use crate::producer::{Callback, DeliveryHandle, Producer, ProducerRecord, RecordMetadata};
use crate::record::NewRecord;

/// Turns a `T` into the bytes stored in a record.
pub trait Serializer<T: ?Sized>: Send + Sync {
    /// The bytes of `value`, or [`Error::Serialization`] saying why not
    /// (built with [`Error::serialization`]).
    fn serialize(&self, value: &T) -> Result<Vec<u8>>;
}

/// Bytes as they are.
#[derive(Debug, Default, Clone, Copy)]
pub struct BytesSerializer;

impl Serializer<[u8]> for BytesSerializer {
    fn serialize(&self, value: &[u8]) -> Result<Vec<u8>> {
        Ok(value.to_vec())
    }
}

impl Serializer<Vec<u8>> for BytesSerializer {
    fn serialize(&self, value: &Vec<u8>) -> Result<Vec<u8>> {
        Ok(value.clone())
    }
}

/// Strings as their UTF-8 bytes.
#[derive(Debug, Default, Clone, Copy)]
pub struct StringSerializer;

impl Serializer<str> for StringSerializer {
    fn serialize(&self, value: &str) -> Result<Vec<u8>> {
        Ok(value.as_bytes().to_vec())
    }
}

impl Serializer<String> for StringSerializer {
    fn serialize(&self, value: &String) -> Result<Vec<u8>> {
        Ok(value.as_bytes().to_vec())
    }
}

/// Any `serde::Serialize` value as JSON (feature `serde`).
#[cfg(feature = "serde")]
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonSerializer;

#[cfg(feature = "serde")]
impl<T: serde::Serialize + ?Sized> Serializer<T> for JsonSerializer {
    fn serialize(&self, value: &T) -> Result<Vec<u8>> {
        serde_json::to_vec(value).map_err(|e| Error::serialization(e.to_string()))
    }
}

/// Turns stored bytes back into a `T`.
pub trait Deserializer<T>: Send {
    /// The `T` in `bytes`, or [`Error::Serialization`] saying why not.
    fn deserialize(&self, bytes: &[u8]) -> Result<T>;
}

impl Deserializer<Vec<u8>> for BytesSerializer {
    fn deserialize(&self, bytes: &[u8]) -> Result<Vec<u8>> {
        Ok(bytes.to_vec())
    }
}

impl Deserializer<String> for StringSerializer {
    fn deserialize(&self, bytes: &[u8]) -> Result<String> {
        String::from_utf8(bytes.to_vec()).map_err(|e| Error::serialization(e.to_string()))
    }
}

#[cfg(feature = "serde")]
impl<T: serde::de::DeserializeOwned> Deserializer<T> for JsonSerializer {
    fn deserialize(&self, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| Error::serialization(e.to_string()))
    }
}

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
    records: crate::consumer::ConsumerIter<'a>,
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

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;

    #[test]
    fn json_serializes_structs_and_reports_failures() {
        #[derive(serde::Serialize)]
        struct Click {
            user: u32,
            page: &'static str,
        }
        let bytes = JsonSerializer.serialize(&Click { user: 7, page: "/" }).unwrap();
        assert_eq!(bytes, br#"{"user":7,"page":"/"}"#);
        let back: serde_json::Value = JsonSerializer.deserialize(&bytes).unwrap();
        assert_eq!(back["user"], 7);
        let bad: Result<u32> = JsonSerializer.deserialize(b"{");
        assert!(matches!(bad, Err(crate::Error::Serialization { .. })));
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1u8], 1);
        assert!(matches!(JsonSerializer.serialize(&bad), Err(crate::Error::Serialization { .. })));
    }
}
