//! `Log::stats`, `Partition::stats` and `Producer::stats`: counters of
//! appends, offsets, sizes and fdatasyncs per partition, lag per group and
//! queue depth per producer, each checked against what the test did; and
//! stats taken while topics are deleted and the log closes return a
//! snapshot or `Closed`, never a panic or a hang.

mod common;

use std::time::Duration;

use larder::record::NewRecord;
use larder::{
    AutoOffsetReset, ConsumerConfig, Durability, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig,
};

#[test]
fn a_snapshot_counts_what_was_done() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("payments", TopicConfig::new(1).durability(Durability::Sync)).unwrap();
    log.create_topic("events", TopicConfig::new(2)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..5u32 {
        producer.send_direct(&ProducerRecord::new("events", b"0123456789").partition(n % 2)).unwrap();
    }
    producer.send(&ProducerRecord::new("payments", b"42")).unwrap().get().unwrap();
    let mut consumer = log
        .consumer(ConsumerConfig::default().group_id("loader").auto_offset_reset(AutoOffsetReset::Earliest))
        .unwrap();
    consumer.subscribe(&["events"]).unwrap();
    let mut read = 0;
    while read < 2 {
        read += consumer.poll(Duration::from_secs(60)).unwrap().len();
    }
    consumer.commit_offsets(&[(larder::TopicPartition::new("events", 0), 1)].into()).unwrap();

    let stats = log.stats().unwrap();
    let names: Vec<&str> = stats.topics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["events", "payments"]);
    let events = &stats.topics[0].partitions;
    let frame = (NewRecord::OVERHEAD_BYTES + 10) as u64;
    assert_eq!((events[0].partition, events[0].records_appended, events[0].bytes_appended), (0, 3, 3 * frame));
    assert_eq!((events[1].partition, events[1].records_appended, events[1].end_offset), (1, 2, 2));
    assert!(events.iter().all(|p| p.size_bytes > 0 && p.segments == 1 && !p.poisoned));
    let payments = &stats.topics[1].partitions[0];
    assert_eq!((payments.end_offset, payments.synced_offset), (1, 1));
    assert!(payments.syncs.count >= 1);
    assert!(payments.syncs.p50_us <= payments.syncs.p99_us && payments.syncs.p99_us <= payments.syncs.max_us);
    // The commit synced what it committed past: partition 0 is durable up to 1 at least.
    assert!(events[0].synced_offset >= 1);

    assert_eq!(stats.groups.len(), 1);
    let group = &stats.groups[0];
    assert_eq!((group.group_id.as_str(), group.members, group.rebalancing), ("loader", 1, false));
    assert_eq!(group.partitions.len(), 1);
    assert_eq!((group.partitions[0].committed, group.partitions[0].end_offset, group.partitions[0].lag), (1, 3, 2));
    assert_eq!(group.total_lag, 2);

    assert_eq!(stats.producers.len(), 1);
    let queue = &stats.producers[0];
    assert_eq!((queue.queued_records, queue.buffered_bytes), (0, 0));
    assert_eq!((queue.queue_capacity, queue.buffer_memory), (65_536, 32 << 20));
    consumer.close().unwrap();
    drop(producer);
    // A producer closed or dropped is not listed.
    assert!(log.stats().unwrap().producers.is_empty());
    // After close: the log refuses, a partition still held answers (its
    // counters as they were, no segment open), nothing panics.
    let held = log.partition("events", 0).unwrap();
    log.clone().close().unwrap();
    assert!(matches!(log.stats(), Err(Error::Closed { .. })));
    let after = held.stats();
    assert_eq!((after.records_appended, after.end_offset, after.segments), (3, 3, 0));
}

#[test]
fn producer_stats_show_what_is_queued_and_held() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let (first, release) = common::hold_appender(&producer, &ProducerRecord::new("t", b"first"));
    let queued: Vec<_> = (0..3).map(|_| producer.send(&ProducerRecord::new("t", b"v")).unwrap()).collect();
    let stats = producer.stats();
    assert_eq!(stats.queued_records, 3);
    let frame = |value: usize| (NewRecord::OVERHEAD_BYTES + value) as u64;
    assert_eq!(stats.buffered_bytes, frame(5) + 3 * frame(1));
    release.send(()).unwrap();
    first.get().unwrap();
    for handle in queued {
        handle.get().unwrap();
    }
    producer.flush().unwrap();
    let stats = producer.clone().stats();
    assert_eq!((stats.queued_records, stats.buffered_bytes), (0, 0));
}

#[test]
fn stats_raced_against_deletes_and_close_return_a_snapshot_or_closed() {
    for round in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        for n in 0..4 {
            log.create_topic(&format!("t{n}"), TopicConfig::new(2)).unwrap();
        }
        let reader = {
            let log = log.clone();
            std::thread::spawn(move || loop {
                match log.stats() {
                    Ok(stats) => assert!(stats.topics.len() <= 4),
                    Err(Error::Closed { .. }) => return,
                    Err(other) => panic!("round {round}: {other}"),
                }
            })
        };
        for n in 0..4 {
            log.delete_topic(&format!("t{n}")).unwrap();
        }
        log.close().unwrap();
        reader.join().unwrap();
    }
}
