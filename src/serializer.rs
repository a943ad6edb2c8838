//! Typed sends: a [`Serializer`] turns keys and values into bytes, as
//! kafka-python's `key_serializer` / `value_serializer` do.
//!
//! ```
//! # fn main() -> larder::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! use larder::serializer::StringSerializer;
//! use larder::{Log, LogOptions, ProducerConfig, TopicConfig};
//!
//! let log = Log::open(dir.path(), LogOptions::default())?;
//! log.create_topic("greetings", TopicConfig::new(1))?;
//! let producer = log.producer(ProducerConfig::default())?.with_serializers(StringSerializer, StringSerializer);
//! let meta = producer.send("greetings", Some("en"), "hello")?.get()?;
//! assert_eq!((meta.serialized_key_size, meta.serialized_value_size), (2, 5));
//! # Ok(())
//! # }
//! ```

use std::marker::PhantomData;

use crate::error::Result;
use crate::producer::{DeliveryHandle, Producer, ProducerRecord, RecordMetadata};

/// Turns a `T` into the bytes stored in a record.
pub trait Serializer<T: ?Sized>: Send + Sync {
    /// The bytes of `value`, or [`Error::Serialization`](crate::Error::Serialization).
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
        serde_json::to_vec(value).map_err(|e| crate::Error::Serialization { reason: e.to_string() })
    }
}

/// A [`Producer`] that serializes keys of type `K` and values of type `V`.
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
    /// Serializes `key` and `value` and queues them for `topic`.
    pub fn send(&self, topic: &str, key: Option<&K>, value: &V) -> Result<DeliveryHandle> {
        let (key, value) = self.serialize(key, value)?;
        self.producer.send(&record(topic, key.as_deref(), &value))
    }

    /// Serializes `key` and `value` and appends them in this thread.
    pub fn send_direct(&self, topic: &str, key: Option<&K>, value: &V) -> Result<RecordMetadata> {
        let (key, value) = self.serialize(key, value)?;
        self.producer.send_direct(&record(topic, key.as_deref(), &value))
    }

    /// The untyped producer underneath (for `flush`, `close`, raw sends).
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    fn serialize(&self, key: Option<&K>, value: &V) -> Result<(Option<Vec<u8>>, Vec<u8>)> {
        let key = key.map(|k| self.keys.serialize(k)).transpose()?;
        Ok((key, self.values.serialize(value)?))
    }
}

fn record<'a>(topic: &'a str, key: Option<&'a [u8]>, value: &'a [u8]) -> ProducerRecord<'a> {
    let record = ProducerRecord::new(topic, value);
    match key {
        Some(key) => record.key(key),
        None => record,
    }
}

impl Producer {
    /// This producer, serializing keys with `keys` and values with `values`.
    pub fn with_serializers<K: ?Sized, V: ?Sized, KS: Serializer<K>, VS: Serializer<V>>(
        self,
        keys: KS,
        values: VS,
    ) -> TypedProducer<K, V, KS, VS> {
        TypedProducer { producer: self, keys, values, _types: PhantomData }
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
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1u8], 1);
        assert!(matches!(JsonSerializer.serialize(&bad), Err(crate::Error::Serialization { .. })));
    }
}
