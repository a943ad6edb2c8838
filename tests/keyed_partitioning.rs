//! A keyed record without an explicit partition lands on Kafka's partition
//! for its key — `(murmur2(key) & 0x7fffffff) % partitions`, checked against
//! hashes from Kafka's own tests — for queued and direct sends alike; an
//! explicit partition wins, and one out of range is a typed error.

use larder::partitioner::{murmur2, partition_for_key};
use larder::{Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

/// Kafka's `Utils.murmur2` of each key, from its clients' UtilsTest.
const KAFKA_HASHES: [(&str, i32); 6] = [
    ("21", -973932308),
    ("foobar", -790332482),
    ("a-little-bit-long-string", -985981536),
    ("a-little-bit-longer-string", -1486304829),
    ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    ("abc", 479470107),
];

#[test]
fn keyed_records_land_on_kafkas_partition() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    for partitions in [1u32, 3, 6, 7] {
        let topic = format!("t{partitions}");
        log.create_topic(&topic, TopicConfig::new(partitions)).unwrap();
        let producer = log.producer(ProducerConfig::default()).unwrap();
        for (key, hash) in KAFKA_HASHES {
            assert_eq!(murmur2(key.as_bytes()), hash);
            let expected = (hash as u32 & 0x7fff_ffff) % partitions;
            assert_eq!(partition_for_key(key.as_bytes(), partitions), expected);
            let record = ProducerRecord::new(&topic, b"v").key(key.as_bytes());
            assert_eq!(producer.send_direct(&record).unwrap().partition, expected, "{key} direct");
            assert_eq!(producer.send(&record).unwrap().get().unwrap().partition, expected, "{key} queued");
            let stored = log.partition(&topic, expected).unwrap();
            let last = stored.read(stored.end_offset() - 1).unwrap();
            assert_eq!(last.key(), Some(key.as_bytes()));
        }
    }
}

#[test]
fn explicit_partition_wins_and_out_of_range_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(6)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let pinned = ProducerRecord::new("t", b"v").key(b"foobar").partition(5);
    assert_eq!(producer.send_direct(&pinned).unwrap().partition, 5);
    for bad in [6, 7, u32::MAX] {
        let record = ProducerRecord::new("t", b"v").partition(bad);
        let queued = producer.send(&record).unwrap().get().unwrap_err();
        for error in [producer.send_direct(&record).unwrap_err(), queued] {
            assert!(
                matches!(&error, Error::UnknownPartition { topic, partition, partitions: 6 } if topic == "t" && *partition == bad),
                "{error}"
            );
        }
    }
    let total: u64 = log.describe_topic("t").unwrap().partitions.iter().map(|p| p.end_offset).sum();
    assert_eq!(total, 1);
}
