//! Typed records: a [`Serializer`] turns keys and values into bytes and a
//! [`Deserializer`] turns them back, as kafka-python's `key_serializer` /
//! `value_serializer` and `key_deserializer` / `value_deserializer` do.
//!
//! A [`TypedProducer`](crate::TypedProducer) sends [`TypedProducerRecord`](crate::TypedProducerRecord)s, which say everything
//! a [`ProducerRecord`](crate::ProducerRecord) can (key, partition, timestamp, headers) with a
//! typed key and value; it sends, with or without a callback, as the
//! [`Producer`](crate::Producer) does, and a failed serializer is an early outcome of the
//! send like any other, naming the topic and the field.
//!
//! ```
//! # fn main() -> larder::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! use larder::serializer::StringSerializer;
//! use larder::TypedProducerRecord;
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

use crate::error::{Error, Result};

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
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonSerializer;

#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
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
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<T: serde::de::DeserializeOwned> Deserializer<T> for JsonSerializer {
    fn deserialize(&self, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| Error::serialization(e.to_string()))
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
        assert!(matches!(bad, Err(Error::Serialization { .. })));
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1u8], 1);
        assert!(matches!(JsonSerializer.serialize(&bad), Err(Error::Serialization { .. })));
    }
}
