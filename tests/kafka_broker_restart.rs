//! The broker goes away under a running mirror out: tansu is killed while a
//! producer keeps writing to larder, stays down for several seconds, and
//! is started again on its database. Throughout, larder accepts every
//! record; the cleaner, asked to run with retention "until consumed" by the
//! mirror's group, removes nothing Kafka does not have; the mirror reports
//! the outage (retries, the last error) and, once the broker is back,
//! drains the backlog. Kafka ends up with every record, each partition in
//! order from each restart point (at least once). Prints the backlog and
//! the time it took to drain. Skipped, saying so, without tansu.
#![cfg(all(feature = "kafka", feature = "cli"))]

mod kafka_util;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use larder::mirror::{MirrorOut, MirrorOutConfig};
use larder::partitioner::partition_for_key;
use larder::{CleanupPolicy, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, TopicPartition};

use kafka_util::{check_at_least_once, create_kafka_topic, read_kafka, unique, Broker, Seen};

const GROUP: &str = "to-central";
const BASE_MS: i64 = 1_700_000_000_000;

/// What the producer sent, per partition, in order (the cleaner may have
/// removed the start from larder by the end).
fn sent_records(count: u64) -> Vec<Vec<Seen>> {
    let mut partitions = vec![Vec::new(); 3];
    for n in 0..count {
        let (key, value) = (format!("device-{}", n % 97), format!("reading-{n}"));
        let p = partition_for_key(key.as_bytes(), 3);
        let offset = partitions[p as usize].len() as u64;
        partitions[p as usize].push(Seen {
            partition: p,
            offset,
            key: Some(key.into_bytes()),
            value: Some(value.into_bytes()),
            timestamp_ms: BASE_MS + n as i64,
            headers: Vec::new(),
        });
    }
    partitions
}

/// Keeps sending one keyed record about every 100 µs until `stop`.
fn keep_producing(log: Log, topic: String, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let producer = log.producer(ProducerConfig::default()).unwrap();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let (key, value) = (format!("device-{}", n % 97), format!("reading-{n}"));
            let record =
                ProducerRecord::new(&topic, value.as_bytes()).key(key.as_bytes()).timestamp(BASE_MS + n as i64);
            producer.send(&record).unwrap();
            n += 1;
            sent.store(n, Ordering::Relaxed);
            if n % 10 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        producer.flush().unwrap();
    })
}

/// The group's committed offset of every partition of `topic`.
fn committed(log: &Log, topic: &str) -> HashMap<u32, u64> {
    let group = log.describe_group(GROUP).unwrap();
    group.offsets.iter().filter(|o| o.partition.topic == topic).map(|o| (o.partition.partition, o.committed)).collect()
}

fn ends(log: &Log, topic: &str) -> HashMap<u32, u64> {
    (0..3).map(|p| (p, log.partition(topic, p).unwrap().end_offset())).collect()
}

#[test]
fn a_broker_outage_loses_nothing_and_the_backlog_drains() {
    let Some(mut broker) = Broker::own("kafka_broker_restart") else { return };
    let topic = unique("edge-events");
    create_kafka_topic(&broker.brokers, &topic, 3);
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let until_mirrored = CleanupPolicy::UntilConsumed { groups: vec![GROUP.into()] };
    log.create_topic(&topic, TopicConfig::new(3).segment_bytes(64 * 1024).cleanup_policy(until_mirrored)).unwrap();

    let config = MirrorOutConfig::new(broker.brokers.clone())
        .topic(&topic)
        .group_id(GROUP)
        .delivery_timeout(Duration::from_secs(2))
        .retry_backoff_max(Duration::from_millis(500));
    let mirror = MirrorOut::start(&log, config).unwrap();
    let (stop, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let producer = keep_producing(log.clone(), topic.clone(), Arc::clone(&stop), Arc::clone(&sent));

    std::thread::sleep(Duration::from_secs(2));
    assert!(mirror.stats().records > 0, "nothing mirrored before the outage: {:?}", mirror.stats());
    broker.stop();
    let down_at = Instant::now();
    std::thread::sleep(Duration::from_secs(6));

    // Down: larder kept accepting, the mirror says why it waits, and the
    // cleaner keeps everything Kafka may not have.
    let during = mirror.stats();
    assert!(mirror.is_running());
    assert!(during.retries > 0 && !during.connected, "the outage is not reported: {during:?}");
    assert!(during.lag() > 0, "{during:?}");
    log.run_cleaner().unwrap();
    let committed_now = committed(&log, &topic);
    for p in 0..3 {
        let start = log.partition(&topic, p).unwrap().log_start_offset();
        assert!(start <= committed_now.get(&p).copied().unwrap_or(0), "partition {p}: start {start} past the commit");
    }

    broker.restart();
    let restarted_at = Instant::now();
    let backlog_ends = ends(&log, &topic);
    let backlog = during.lag();
    let deadline = restarted_at + Duration::from_secs(120);
    loop {
        let done = committed(&log, &topic);
        if (0..3).all(|p| done.get(&p).copied().unwrap_or(0) >= backlog_ends[&p]) {
            break;
        }
        assert!(Instant::now() < deadline, "backlog not drained: {:?}\n{}", mirror.stats(), broker.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    let drained = restarted_at.elapsed();
    println!(
        "broker down {:.1} s; backlog at restart about {backlog} records; drained {:.2} s after the restart; {} retries",
        (restarted_at - down_at).as_secs_f64(),
        drained.as_secs_f64(),
        mirror.stats().retries
    );

    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while mirror.stats().lag() > 0 {
        assert!(Instant::now() < deadline, "not caught up: {:?}", mirror.stats());
        std::thread::sleep(Duration::from_millis(50));
    }
    mirror.stop().unwrap();

    // The segments Kafka has may go now.
    let removed = log.run_cleaner().unwrap();
    let total = sent.load(Ordering::Relaxed);
    let source = sent_records(total);
    let copy = read_kafka(&broker.brokers, &topic, 3, Duration::from_secs(60));
    let mut duplicates = 0;
    for p in 0..3 {
        assert_eq!(source[p].len() as u64, log.partition(&topic, p as u32).unwrap().end_offset());
        duplicates += check_at_least_once(&source[p], &copy[p], &format!("partition {p}"));
    }
    let tp = TopicPartition::new(topic.as_str(), 0);
    assert!(log.describe_group(GROUP).unwrap().offsets.iter().any(|o| o.partition == tp));
    println!("{total} records sent, {duplicates} sent twice; then the cleaner: {removed:?}");
    log.close().unwrap();
}
