//! A typed producer says everything an untyped one can — key or none,
//! partition, timestamp, headers, tombstones, callbacks, `try_send`,
//! `send_direct` — without a turbofish for a missing key or a key
//! serializer it never uses; a serializer that fails is an early outcome
//! naming the topic and the field, reaching the handle and the callback.

use std::sync::{Arc, Mutex};

use larder::serializer::{BytesSerializer, Serializer, StringSerializer};
use larder::TypedProducerRecord;
use larder::{Error, Log, LogOptions, ProducerConfig, TopicConfig};

fn open() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(3)).unwrap();
    (dir, log)
}

/// Strings, refusing the ones that say "bad".
struct Picky;

impl Serializer<str> for Picky {
    fn serialize(&self, value: &str) -> larder::Result<Vec<u8>> {
        match value {
            "bad" => Err(Error::serialization("\"bad\" is not allowed")),
            good => Ok(good.as_bytes().to_vec()),
        }
    }
}

#[test]
fn typed_records_carry_partition_timestamp_headers_and_callbacks() {
    let (_dir, log) = open();
    let producer =
        log.producer(ProducerConfig::default()).unwrap().with_serializers(StringSerializer, StringSerializer);
    let headers: [(&str, &[u8]); 2] = [("trace", b"42"), ("trace", b"43")];
    let record = TypedProducerRecord::new("t", "hello").key("k").partition(2).timestamp(1_234).headers(&headers);
    let delivered = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&delivered);
    let handle =
        producer.send_with_callback(&record, move |r| *slot.lock().unwrap() = Some(r.unwrap().clone())).unwrap();
    let meta = handle.get().unwrap();
    producer.producer().flush().unwrap();
    assert_eq!(delivered.lock().unwrap().as_ref(), Some(&meta));
    assert_eq!((meta.partition, meta.offset, meta.timestamp_ms), (2, 0, 1_234));
    assert_eq!((meta.serialized_key_size, meta.serialized_value_size), (1, 5));
    let stored = log.partition("t", 2).unwrap().read(0).unwrap();
    assert_eq!((stored.key(), stored.value()), (Some(&b"k"[..]), Some(&b"hello"[..])));
    assert_eq!(stored.headers().collect::<Vec<_>>(), headers);
    // No key and no turbofish: the producer's key type is known.
    let keyless = producer.try_send(&TypedProducerRecord::new("t", "no key").partition(2)).unwrap().get().unwrap();
    assert_eq!((keyless.offset, keyless.serialized_key_size), (1, -1));
    let direct = producer.send_direct(&TypedProducerRecord::new("t", "direct").partition(2)).unwrap();
    assert_eq!(direct.offset, 2);
    let owned = String::from("k");
    let tombstone = producer.send(&TypedProducerRecord::tombstone("t", owned.as_str())).unwrap().get().unwrap();
    assert_eq!(tombstone.serialized_value_size, -1);
    assert_eq!(tombstone.partition, larder::partitioner::partition_for_key(b"k", 3));
}

#[test]
fn a_producer_of_values_needs_no_key_serializer() {
    let (_dir, log) = open();
    let producer = log.producer(ProducerConfig::default()).unwrap().with_value_serializer(StringSerializer);
    let meta = producer.send(&TypedProducerRecord::new("t", "v")).unwrap().get().unwrap();
    assert_eq!(meta.serialized_key_size, -1);
    // Keys, when given, are raw bytes.
    let meta = producer.send_direct(&TypedProducerRecord::new("t", "v").key(b"raw")).unwrap();
    assert_eq!(meta.partition, larder::partitioner::partition_for_key(b"raw", 3));
    let bytes = log.producer(ProducerConfig::default()).unwrap().with_value_serializer(BytesSerializer);
    let value: &[u8] = &[1, 2, 3];
    assert_eq!(bytes.send_direct(&TypedProducerRecord::new("t", value)).unwrap().serialized_value_size, 3);
}

#[test]
fn a_failed_serializer_names_topic_and_field_and_reaches_handle_and_callback() {
    let (_dir, log) = open();
    let producer = log.producer(ProducerConfig::default()).unwrap().with_serializers(Picky, Picky);
    for (record, field) in [
        (TypedProducerRecord::new("t", "fine").key("bad"), "key"),
        (TypedProducerRecord::new("t", "bad").key("fine"), "value"),
        (TypedProducerRecord::new("t", "bad"), "value"),
    ] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let handle = producer
            .send_with_callback(&record, move |r| sink.lock().unwrap().push(r.unwrap_err().to_string()))
            .expect("a failed serializer is an outcome of the send, not an Err");
        assert!(handle.is_done());
        let error = handle.get().unwrap_err();
        assert!(
            matches!(&error, Error::Serialization { topic: Some(topic), field: f, reason }
                if topic == "t" && *f == field && reason == "\"bad\" is not allowed"),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("serialization of the {field} for topic \"t\" failed: \"bad\" is not allowed")
        );
        assert_eq!(*seen.lock().unwrap(), [error.to_string()], "the callback ran once, before send returned");
        for handle in [producer.send(&record).unwrap(), producer.try_send(&record).unwrap()] {
            assert_eq!(handle.get().unwrap_err().to_string(), error.to_string());
        }
        assert_eq!(producer.send_direct(&record).unwrap_err().to_string(), error.to_string());
    }
    let stored: u64 = log.describe_topic("t").unwrap().partitions.iter().map(|p| p.end_offset).sum();
    assert_eq!(stored, 0);
    let alone = Picky.serialize("bad").unwrap_err();
    assert!(matches!(&alone, Error::Serialization { topic: None, field: "", .. }));
    assert_eq!(alone.to_string(), "serialization failed: \"bad\" is not allowed");
    producer.producer().close();
    let closed = producer.send_with_callback(&TypedProducerRecord::new("t", "bad"), |_| panic!("no callback"));
    assert!(matches!(closed, Err(Error::Closed { what: "producer" })), "{closed:?}");
    let closed = producer.send_direct(&TypedProducerRecord::new("t", "bad"));
    assert!(matches!(closed, Err(Error::Closed { what: "producer" })), "{closed:?}");
}

#[cfg(feature = "serde")]
#[test]
fn json_values_with_string_keys() {
    #[derive(serde::Serialize)]
    struct Click {
        user: u32,
        page: &'static str,
    }
    let (_dir, log) = open();
    let producer = log
        .producer(ProducerConfig::default())
        .unwrap()
        .with_serializers(StringSerializer, larder::serializer::JsonSerializer);
    let click = Click { user: 7, page: "/" };
    let meta = producer.send(&TypedProducerRecord::new("t", &click).key("user-7")).unwrap().get().unwrap();
    let stored = log.partition("t", meta.partition).unwrap().read(meta.offset).unwrap();
    assert_eq!(stored.value(), Some(&br#"{"user":7,"page":"/"}"#[..]));
    assert_eq!(producer.send(&TypedProducerRecord::new("t", &click)).unwrap().get().unwrap().serialized_key_size, -1);
}
