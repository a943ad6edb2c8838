//! Mirror in against a real Kafka-protocol broker (tansu): 100 000 keyed
//! records produced to a 3-partition Kafka topic (Kafka's murmur2
//! partitioner) are copied by a Kafka consumer group into a larder topic
//! the mirror creates: every record present once, each partition's order,
//! keys, values and timestamps kept (no headers: tansu 0.6 reads records
//! with headers back too slowly for 100 000; `kafka_mirror_out` checks them), partition numbers equal
//! (Kafka's murmur2 choice); the group's Kafka offsets committed to the
//! end. Skipped, saying so, without tansu.
#![cfg(all(feature = "kafka", feature = "cli"))]

mod kafka_util;

use std::time::{Duration, Instant};

use larder::mirror::{MirrorIn, MirrorInConfig};
use larder::partitioner::partition_for_key;
use larder::{Log, LogOptions};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use rdkafka::{Offset, TopicPartitionList};

use kafka_util::{client_config, create_kafka_topic, read_kafka, read_larder, unique, Broker};

const RECORDS: usize = 100_000;

/// Produces `count` keyed records to Kafka with Kafka's (Java client's)
/// partitioner: murmur2 of the key.
pub fn produce_to_kafka(brokers: &str, topic: &str, count: usize) {
    let producer: BaseProducer =
        client_config(brokers).set("partitioner", "murmur2_random").set("linger.ms", "20").create().unwrap();
    for n in 0..count {
        let (key, value) = (format!("sensor-{}", n % 3_000), format!("sample-{n}"));
        let mut record =
            BaseRecord::<String, String>::to(topic).key(&key).payload(&value).timestamp(1_700_000_000_000 + n as i64);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

#[test]
fn hundred_thousand_kafka_records_reach_larder_in_order_and_the_group_commits() {
    let Some(broker) = Broker::any("kafka_mirror_in") else { return };
    let topic = unique("mirror-in");
    create_kafka_topic(&broker.brokers, &topic, 3);
    produce_to_kafka(&broker.brokers, &topic, RECORDS);
    let group = unique("edge-copy");

    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let started = Instant::now();
    let mirror =
        MirrorIn::start(&log, MirrorInConfig::new(broker.brokers.clone(), group.clone()).topic(&topic)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let (mut assigned, mut first) = (None, None);
    loop {
        let stats = mirror.stats();
        assigned = assigned.or((!stats.partitions.is_empty()).then(|| started.elapsed()));
        first = first.or((stats.records > 0).then(|| started.elapsed()));
        if stats.records >= RECORDS as u64 {
            break;
        }
        assert!(stats.running, "the mirror stopped: {stats:?}");
        assert!(Instant::now() < deadline, "not copied: {stats:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let seconds = started.elapsed().as_secs_f64();
    let assigned = assigned.unwrap_or_default().as_secs_f64();
    let first = first.unwrap_or_default().as_secs_f64();
    println!(
        "mirrored {RECORDS} records in in {seconds:.2} s: partitions assigned after {assigned:.2} s, the first \
         batch after {first:.2} s, {:.0} records/s from the assignment",
        RECORDS as f64 / (seconds - assigned)
    );
    // Lag as the mirror reports it reaches zero once it looked again.
    std::thread::sleep(Duration::from_millis(1_500));
    let stats = mirror.stop().unwrap();
    assert_eq!((stats.records, stats.lag()), (RECORDS as u64, 0), "{stats:?}");
    assert_eq!(stats.partitions.len(), 3, "{stats:?}");

    assert_eq!(log.describe_topic(&topic).unwrap().partitions.len(), 3, "created with Kafka's count");
    let source = read_kafka(&broker.brokers, &topic, 3, Duration::from_secs(120));
    let copy = read_larder(&log, &topic);
    for (p, (source, copy)) in source.iter().zip(&copy).enumerate() {
        assert_eq!(source.len(), copy.len(), "partition {p}");
        assert!(!source.is_empty());
        // The same records, in the same order, at the same offsets.
        assert_eq!(source, copy, "partition {p}");
        for record in copy {
            assert_eq!(record.partition, partition_for_key(record.key.as_ref().unwrap(), 3));
        }
    }

    // The group's Kafka offsets: every partition committed to its end.
    let consumer: BaseConsumer = client_config(&broker.brokers).set("group.id", &group).create().unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..3 {
        list.add_partition(&topic, p);
    }
    let committed = consumer.committed_offsets(list, Duration::from_secs(10)).unwrap();
    for p in 0..3 {
        let offset = committed.find_partition(&topic, p).unwrap().offset();
        assert_eq!(offset, Offset::Offset(source[p as usize].len() as i64), "partition {p}");
    }
    log.close().unwrap();
}
