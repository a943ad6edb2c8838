//! Polling: a poll blocked on an empty partition is woken by an append
//! within milliseconds (not by a timer); the iterator ends after
//! `consumer_timeout` without data; `offsets_for_times` finds the first
//! offset at or after known timestamps; typed consumers deserialize.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use larder::serializer::StringSerializer;
use larder::{
    AutoOffsetReset, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, TopicPartition,
};
use larder::{TypedProducerRecord, TypedRecord};

fn log() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(2)).unwrap();
    (dir, log)
}

#[test]
fn a_blocked_poll_wakes_within_milliseconds_of_an_append() {
    let (_dir, log) = log();
    let mut consumer = log.consumer(ConsumerConfig::default().group_id("g")).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    assert!(consumer.poll(Duration::from_millis(10)).unwrap().is_empty());
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let mut wake_ms = Vec::new();
    for round in 0..20u32 {
        let sent_at = std::thread::scope(|scope| {
            let producer = producer.clone();
            let sender = scope.spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                let at = Instant::now();
                producer.send_direct(&ProducerRecord::new("t", b"wake").partition(round % 2)).unwrap();
                at
            });
            let records = consumer.poll(Duration::from_secs(10)).unwrap();
            let woke = Instant::now();
            assert_eq!(records.len(), 1);
            let sent = sender.join().unwrap();
            woke.duration_since(sent)
        });
        wake_ms.push(sent_at.as_secs_f64() * 1e3);
    }
    wake_ms.sort_by(f64::total_cmp);
    // Woken by the append, not by its 10 s timeout. The bounds are loose on
    // purpose (this machine is shared); speed lives in benches/consumer.rs.
    assert!(wake_ms[wake_ms.len() / 2] < 50.0, "median wake-up {:.2} ms", wake_ms[wake_ms.len() / 2]);
    assert!(wake_ms[wake_ms.len() - 1] < 2000.0, "slowest wake-up {:.2} ms", wake_ms[wake_ms.len() - 1]);
}

#[test]
fn the_iterator_ends_after_consumer_timeout_without_data() {
    let (_dir, log) = log();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..7u32 {
        producer.send_direct(&ProducerRecord::new("t", format!("{n}").as_bytes()).partition(n % 2)).unwrap();
    }
    let config = ConsumerConfig::default()
        .group_id("g")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .consumer_timeout(Duration::from_millis(100))
        .max_poll_records(3);
    let mut consumer = log.consumer(config).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    let started = Instant::now();
    let mut values: Vec<String> =
        consumer.iter().map(|r| String::from_utf8(r.unwrap().value().unwrap().to_vec()).unwrap()).collect();
    values.sort();
    assert_eq!(values, ["0", "1", "2", "3", "4", "5", "6"]);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[test]
fn offsets_for_times_against_known_timestamps() {
    let (_dir, log) = log();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for (n, ts) in [1_000i64, 2_000, 2_000, 3_500, 5_000].iter().enumerate() {
        producer.send_direct(&ProducerRecord::new("t", format!("{n}").as_bytes()).partition(0).timestamp(*ts)).unwrap();
    }
    let consumer = log.consumer(ConsumerConfig::default()).unwrap();
    let tp = TopicPartition::new("t", 0);
    let cases = [
        (0, Some(0)),
        (1_000, Some(0)),
        (1_001, Some(1)),
        (2_000, Some(1)),
        (3_000, Some(3)),
        (5_000, Some(4)),
        (5_001, None),
    ];
    for (ts, expected) in cases {
        let found = consumer.offsets_for_times(&HashMap::from([(tp.clone(), ts)])).unwrap();
        assert_eq!(found[&tp], expected, "timestamp {ts}");
    }
}

#[test]
fn typed_consumer_deserializes_keys_and_values() {
    let (_dir, log) = log();
    let producer =
        log.producer(ProducerConfig::default()).unwrap().with_serializers(StringSerializer, StringSerializer);
    producer.send_direct(&TypedProducerRecord::new("t", "hello").key("k")).unwrap();
    let mut consumer = log
        .consumer(ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest))
        .unwrap()
        .with_deserializers::<String, String, _, _>(StringSerializer, StringSerializer);
    let partition = larder::partitioner::partition_for_key(b"k", 2);
    consumer.consumer().assign(&[TopicPartition::new("t", partition)]).unwrap();
    let records: Vec<TypedRecord<String, String>> = consumer.poll(Duration::from_secs(1)).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].key.as_deref(), records[0].value.as_deref()), (Some("k"), Some("hello")));
    producer.producer().send_direct(&ProducerRecord::new("t", &[0xff, 0xfe]).partition(partition)).unwrap();
    let error = consumer.poll(Duration::from_secs(1));
    assert!(
        matches!(&error, Err(larder::Error::Deserialization { topic, offset: 1, field: "value", .. }) if topic == "t"),
        "{error:?}"
    );
}

#[test]
fn retention_under_a_consumer_resets_its_position_by_the_policy() {
    let (_dir, log) = log();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..20u32 {
        producer.send_direct(&ProducerRecord::new("t", format!("{n}").as_bytes()).partition(0)).unwrap();
    }
    let tp = TopicPartition::new("t", 0);
    let config = ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest).max_poll_records(5);
    let mut consumer = log.consumer(config).unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(consumer.poll(Duration::ZERO).unwrap().len(), 5);
    log.partition("t", 0).unwrap().delete_before(12).unwrap();
    let first = consumer.poll(Duration::from_millis(100)).unwrap().iter().next().map(|r| r.offset());
    assert_eq!(first, Some(12), "reset to the new log start");
}
