//! Mirror out against a real Kafka-protocol broker (tansu): 100 000 keyed
//! records over 3 partitions, read back from Kafka with a Kafka consumer:
//! every record present once, each partition's order kept, keys, values,
//! timestamps intact (tansu reads headers back too slowly for 100 000), each
//! record on the partition Kafka's murmur2 picks for its key; the mirror's
//! larder group committed every end offset. Then 5 000 records, each with a
//! header, from a 1-partition larder topic to a 3-partition Kafka topic
//! through `PartitionMapping::Murmur2`. Skipped, saying so, without tansu.
#![cfg(all(feature = "kafka", feature = "cli"))]

mod kafka_util;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use larder::mirror::{MirrorOut, MirrorOutConfig, PartitionMapping};
use larder::partitioner::partition_for_key;
use larder::{Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

use kafka_util::{create_kafka_topic, read_kafka, read_larder, unique, Broker};

const RECORDS: usize = 100_000;

/// Sends `count` keyed records, each with a timestamp of its own and every
/// `headers_every`-th with a header, from one thread (so each partition's
/// order is the send order).
fn produce(log: &Log, topic: &str, count: usize, headers_every: usize) {
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..count {
        let key = format!("user-{}", n % 5_000);
        let value = format!("event-{n}");
        let header = n.to_le_bytes();
        let headers = [("n", &header[..])];
        let record =
            ProducerRecord::new(topic, value.as_bytes()).key(key.as_bytes()).timestamp(1_700_000_000_000 + n as i64);
        // tansu 0.6 reads records with headers back so slowly (a debug
        // build: hours for 100 000) that the large run has none but the
        // first.
        let record = if n % headers_every == 0 { record.headers(&headers) } else { record };
        producer.send(&record).unwrap();
    }
    producer.flush().unwrap();
}

/// Waits until the mirror copied `count` records and has no lag.
fn wait_caught_up(mirror: &MirrorOut, count: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let stats = mirror.stats();
        if stats.records >= count && stats.lag() == 0 {
            return;
        }
        assert!(stats.running, "the mirror stopped: {:?}", stats.last_error);
        assert!(Instant::now() < deadline, "not caught up: {stats:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn hundred_thousand_keyed_records_reach_kafka_in_order_on_murmur2_partitions() {
    let Some(broker) = Broker::any("kafka_mirror_out") else { return };
    let topic = unique("mirror-out");
    create_kafka_topic(&broker.brokers, &topic, 3);
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic(&topic, TopicConfig::new(3)).unwrap();
    produce(&log, &topic, RECORDS, usize::MAX);

    let started = Instant::now();
    let config = MirrorOutConfig::new(broker.brokers.clone()).topic(&topic).group_id("to-kafka");
    let mirror = MirrorOut::start(&log, config).unwrap();
    wait_caught_up(&mirror, RECORDS as u64, Duration::from_secs(300));
    let seconds = started.elapsed().as_secs_f64();
    let stats = mirror.stop().unwrap();
    println!("mirrored {RECORDS} records out in {seconds:.2} s: {:.0} records/s", RECORDS as f64 / seconds);
    assert_eq!((stats.records, stats.lag(), stats.retries), (RECORDS as u64, 0, 0), "{stats:?}");

    let source = read_larder(&log, &topic);
    let reading = Instant::now();
    let copy = read_kafka(&broker.brokers, &topic, 3, Duration::from_secs(120));
    println!("read {RECORDS} records back from Kafka in {:.2} s", reading.elapsed().as_secs_f64());
    assert_eq!(copy.iter().map(Vec::len).sum::<usize>(), RECORDS, "every record, once");
    for (p, (source, copy)) in source.iter().zip(&copy).enumerate() {
        assert_eq!(source.len(), copy.len(), "partition {p}");
        for (s, c) in source.iter().zip(copy) {
            // Same order, same contents; the Kafka offset is the larder one
            // since both logs started empty.
            assert_eq!((s.key.as_ref(), s.value.as_ref(), s.offset), (c.key.as_ref(), c.value.as_ref(), c.offset));
            assert_eq!((&s.headers, s.timestamp_ms), (&c.headers, c.timestamp_ms), "{s:?}");
            assert_eq!(c.partition, partition_for_key(c.key.as_ref().unwrap(), 3), "Kafka's murmur2 choice");
        }
    }
    let group = log.describe_group("to-kafka").unwrap();
    for offset in &group.offsets {
        assert_eq!((offset.committed, offset.lag), (offset.end_offset, 0), "{offset:?}");
    }
    assert_eq!(group.offsets.len(), 3);
    log.close().unwrap();
}

#[test]
fn murmur2_mapping_spreads_one_partition_over_three_by_key() {
    // Every record has a header: on a broker of its own, so the other
    // tests' reads do not scan them.
    let Some(broker) = Broker::own_or_any("kafka_mirror_out") else { return };
    let topic = unique("mirror-out-murmur2");
    create_kafka_topic(&broker.brokers, &topic, 3);
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic(&topic, TopicConfig::new(1)).unwrap();
    produce(&log, &topic, 5_000, 1);

    let same = MirrorOutConfig::new(broker.brokers.clone()).topic(&topic);
    let refused = MirrorOut::start(&log, same).unwrap_err();
    assert!(matches!(refused, larder::Error::PartitionCountMismatch { partitions: 1, kafka_partitions: 3, .. }));

    let config =
        MirrorOutConfig::new(broker.brokers.clone()).topic(&topic).partition_mapping(PartitionMapping::Murmur2);
    let mirror = MirrorOut::start(&log, config).unwrap();
    wait_caught_up(&mirror, 5_000, Duration::from_secs(120));
    mirror.stop().unwrap();

    let source = &read_larder(&log, &topic)[0];
    let at: HashMap<&Option<Vec<u8>>, usize> = source.iter().enumerate().map(|(n, s)| (&s.value, n)).collect();
    let copy = read_kafka(&broker.brokers, &topic, 3, Duration::from_secs(60));
    assert_eq!(copy.iter().map(Vec::len).sum::<usize>(), 5_000);
    for (p, records) in copy.iter().enumerate() {
        assert!(!records.is_empty(), "partition {p} got no key");
        for record in records {
            assert_eq!(record.partition, partition_for_key(record.key.as_ref().unwrap(), 3));
        }
        // Each partition holds its keys' records in the larder order.
        let order: Vec<usize> = records.iter().map(|r| at[&r.value]).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "partition {p} out of order");
    }
    log.close().unwrap();
}
