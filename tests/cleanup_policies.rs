//! Kafka's retention and cleaner scenarios, written for larder's topics:
//! time retention judged by a clock the test moves, size retention,
//! retention until consumed with a slow and a fast group, a bounded buffer
//! (block, reject, drop the oldest) under a producer faster than its
//! consumer, `delete_records`, `alter_topic`, and the disk a partition
//! occupies.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use larder::clock::ManualClock;
use larder::record::NewRecord;
use larder::{
    AutoOffsetReset, CleanupPolicy, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord,
    TopicConfig, TopicPartition, WhenFull,
};

const T0: i64 = 1_700_000_000_000;

/// A log whose cleaner only runs when asked, judged by `clock`.
fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Log {
    let options = LogOptions::default().clock(clock.clone()).cleaner_interval(Duration::from_secs(3600));
    Log::open(dir, options).unwrap()
}

/// Sends `count` 100-byte records to partition 0 of `topic`, the n-th
/// stamped `T0 + n`, and returns the offsets.
fn fill(log: &Log, topic: &str, count: u64, first_ts: i64) -> Vec<u64> {
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let value = [7u8; 100];
    let offsets = (0..count)
        .map(|n| {
            let record = ProducerRecord::new(topic, &value).partition(0).timestamp(first_ts + n as i64);
            producer.send_direct(&record).unwrap().offset
        })
        .collect();
    producer.close();
    offsets
}

fn tp(topic: &str) -> TopicPartition {
    TopicPartition::new(topic, 0)
}

/// Every record from the log start on is there, at its offset.
fn assert_readable(log: &Log, topic: &str, start: u64, end: u64) {
    let partition = log.partition(topic, 0).unwrap();
    assert_eq!(partition.log_start_offset(), start);
    assert_eq!(partition.end_offset(), end);
    for offset in start..end {
        assert_eq!(partition.read(offset).unwrap().offset(), offset);
    }
}

fn commit(log: &Log, group: &str, topic: &str, offset: u64) {
    let mut consumer = log.consumer(ConsumerConfig::default().group_id(group)).unwrap();
    consumer.assign(&[tp(topic)]).unwrap();
    consumer.commit_offsets(&HashMap::from([(tp(topic), offset)])).unwrap();
    consumer.close().unwrap();
}

#[test]
fn time_retention_deletes_whole_sealed_segments_whose_newest_record_is_too_old() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open(dir.path(), &clock);
    log.create_topic("t", TopicConfig::new(1).segment_bytes(1024).retention_ms(60_000)).unwrap();
    fill(&log, "t", 100, T0);
    let partition = log.partition("t", 0).unwrap();
    let bases = partition.segment_base_offsets();
    assert!(bases.len() > 5);

    // Nothing is older than a minute yet.
    clock.set(T0 + 60_000);
    assert_eq!(log.run_cleaner().unwrap().segments_deleted, 0);
    assert_readable(&log, "t", 0, 100);

    // A segment goes once its newest record is older than the horizon, so
    // the first segment (records stamped T0 .. T0 + bases[1] - 1) goes
    // when the horizon passes T0 + bases[1] - 1, and not before.
    clock.set(T0 + 60_000 + bases[1] as i64 - 1);
    assert_eq!(log.run_cleaner().unwrap().segments_deleted, 0);
    clock.advance(1);
    let report = log.run_cleaner().unwrap();
    assert_eq!(report.segments_deleted, 1);
    assert!(report.bytes_freed > 0);
    assert_readable(&log, "t", bases[1], 100);

    // Far in the future: every sealed segment goes, the active one stays.
    clock.advance(1_000_000);
    log.run_cleaner().unwrap();
    let last = *bases.last().unwrap();
    assert_readable(&log, "t", last, 100);
    drop(partition);
    log.close().unwrap();

    // The new log start is durable; offsets carry on.
    let log = open(dir.path(), &clock);
    assert_readable(&log, "t", last, 100);
    assert_eq!(fill(&log, "t", 1, T0)[0], 100);
}

#[test]
fn size_retention_keeps_the_newest_segments_within_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open(dir.path(), &clock);
    log.create_topic("t", TopicConfig::new(1).segment_bytes(2048).retention_bytes(5_000)).unwrap();
    fill(&log, "t", 300, T0);
    // The cleaner, woken by each roll, keeps the partition near the limit
    // as it fills; a pass on demand finds the same state.
    log.run_cleaner().unwrap();
    let after = log.describe_topic("t").unwrap().partitions[0].clone();
    assert!(after.log_start_offset > 200, "{after:?}");
    // Kafka's rule: delete a segment only while what is left stays at or
    // above the limit; so what is left is below limit + one segment.
    assert!(after.size_bytes >= 5_000 && after.size_bytes < 5_000 + 2048 + 1024, "{after:?}");
    assert_readable(&log, "t", after.log_start_offset, 300);
    // A second pass finds nothing more to do.
    assert_eq!(log.run_cleaner().unwrap().segments_deleted, 0);
}

#[test]
fn retention_until_consumed_waits_for_the_slowest_reading_group() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open(dir.path(), &clock);
    let policy = CleanupPolicy::UntilConsumed { groups: Vec::new() };
    log.create_topic("t", TopicConfig::new(1).segment_bytes(1024).cleanup_policy(policy)).unwrap();
    fill(&log, "t", 100, T0);
    let bases = log.partition("t", 0).unwrap().segment_base_offsets();

    // No group reads the topic yet: nothing is removed, however old.
    clock.advance(10_000_000);
    assert_eq!(log.run_cleaner().unwrap().segments_deleted, 0);

    // (The slow group commits first: a group that has neither committed
    // nor joined does not read the topic yet.)
    commit(&log, "slow", "t", bases[2] + 1);
    commit(&log, "fast", "t", 100);
    log.run_cleaner().unwrap();
    // Only segments wholly below the slow group's commit are gone.
    assert_readable(&log, "t", bases[2], 100);

    commit(&log, "slow", "t", 100);
    log.run_cleaner().unwrap();
    assert_readable(&log, "t", *bases.last().unwrap(), 100);
}

#[test]
fn retention_until_consumed_by_named_groups_ignores_the_others_and_keeps_its_safety_valve() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open(dir.path(), &clock);
    let policy = CleanupPolicy::UntilConsumed { groups: vec!["db-loader".into()] };
    let config = TopicConfig::new(1).segment_bytes(1024).cleanup_policy(policy).retention_ms(3_600_000);
    log.create_topic("t", config).unwrap();
    fill(&log, "t", 100, T0);
    let bases = log.partition("t", 0).unwrap().segment_base_offsets();

    // A group not named commits everything: it does not count.
    commit(&log, "dashboard", "t", 100);
    assert_eq!(log.run_cleaner().unwrap().segments_deleted, 0);
    // The named group has not committed: nothing goes...
    commit(&log, "db-loader", "t", bases[1]);
    log.run_cleaner().unwrap();
    assert_readable(&log, "t", bases[1], 100);
    // ...until the safety valve: older than retention_ms goes anyway.
    clock.advance(2 * 3_600_000);
    log.run_cleaner().unwrap();
    assert_readable(&log, "t", *bases.last().unwrap(), 100);
}

#[test]
fn a_blocking_buffer_holds_a_fast_producer_to_what_a_slow_consumer_frees() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let options = LogOptions::default().clock(clock.clone()).cleaner_interval(Duration::from_millis(20));
    let log = Log::open(dir.path(), options).unwrap();
    let limit = 16 * 1024;
    let policy = CleanupPolicy::UntilConsumed { groups: Vec::new() };
    let config = TopicConfig::new(1).segment_bytes(2048).cleanup_policy(policy).buffer_bytes(limit, WhenFull::Block);
    log.create_topic("t", config).unwrap();
    let total = 1_000u64;

    let consumer_log = log.clone();
    let consumer = std::thread::spawn(move || {
        let config = ConsumerConfig::default()
            .group_id("g")
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .enable_auto_commit(false);
        // The consumer starts late, once the producer has filled half
        // the buffer (it blocks when the buffer is full, so this comes).
        let partition = consumer_log.partition("t", 0).unwrap();
        while partition.size_bytes() < limit / 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut consumer = consumer_log.consumer(config).unwrap();
        consumer.subscribe(&["t"]).unwrap();
        let mut seen = 0u64;
        while seen < total {
            let records = consumer.poll(Duration::from_millis(50)).unwrap();
            for record in records.iter() {
                assert_eq!(record.offset(), seen, "records in order, none lost");
                seen += 1;
            }
            consumer.commit().unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        consumer.close().unwrap();
    });

    let producer = log.producer(ProducerConfig::default().max_block(Duration::from_secs(60))).unwrap();
    let partition = log.partition("t", 0).unwrap();
    let value = [1u8; 100];
    let mut high = 0;
    for _ in 0..total {
        producer.send_direct(&ProducerRecord::new("t", &value).partition(0)).unwrap();
        high = high.max(partition.size_bytes());
        assert!(
            partition.size_bytes() <= limit,
            "{} bytes stored past the {limit}-byte buffer",
            partition.size_bytes()
        );
    }
    consumer.join().unwrap();
    assert!(high > limit / 2, "the buffer filled ({high} bytes)");
    assert_eq!(partition.end_offset(), total);
}

#[test]
fn a_full_buffer_fails_the_send_with_a_typed_error_after_max_block_or_at_once() {
    for when_full in [WhenFull::Block, WhenFull::Reject] {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let log = open(dir.path(), &clock);
        let policy = CleanupPolicy::UntilConsumed { groups: Vec::new() };
        let config = TopicConfig::new(1).segment_bytes(2048).cleanup_policy(policy).buffer_bytes(8 * 1024, when_full);
        log.create_topic("t", config).unwrap();
        let producer = log.producer(ProducerConfig::default().max_block(Duration::from_millis(50))).unwrap();
        let value = [1u8; 100];
        let mut acknowledged = 0u64;
        let error = loop {
            match producer.send_direct(&ProducerRecord::new("t", &value).partition(0)) {
                Ok(metadata) => {
                    assert_eq!(metadata.offset, acknowledged);
                    acknowledged += 1;
                }
                Err(error) => break error,
            }
        };
        match error {
            Error::BufferFull { topic, buffer_bytes, waited_ms } => {
                assert_eq!((topic.as_str(), buffer_bytes), ("t", 8 * 1024));
                match when_full {
                    WhenFull::Block => assert!(waited_ms >= 50, "waited {waited_ms} ms"),
                    _ => assert_eq!(waited_ms, 0),
                }
            }
            other => panic!("{when_full:?}: {other}"),
        }
        // Queued sends fail the same way, through the handle.
        let handle = producer.send(&ProducerRecord::new("t", &value).partition(0)).unwrap();
        assert!(matches!(handle.get(), Err(Error::BufferFull { .. })));
        // Nothing acknowledged was dropped to make room.
        assert_readable(&log, "t", 0, acknowledged);
        let size = log.describe_topic("t").unwrap().partitions[0].size_bytes;
        assert!(size <= 8 * 1024, "{size}");

        // Once a group consumes, the cleaner frees room and sends succeed.
        commit(&log, "g", "t", acknowledged);
        log.run_cleaner().unwrap();
        producer.send_direct(&ProducerRecord::new("t", &value).partition(0)).unwrap();
        producer.close();
    }
}

#[test]
fn a_buffer_that_drops_the_oldest_never_blocks_and_stays_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let options = LogOptions::default().clock(clock.clone()).cleaner_interval(Duration::from_millis(10));
    let log = Log::open(dir.path(), options).unwrap();
    let limit = 8 * 1024;
    log.create_topic("t", TopicConfig::new(1).segment_bytes(2048).buffer_bytes(limit, WhenFull::DropOldest)).unwrap();
    let producer = log.producer(ProducerConfig::default().max_block(Duration::ZERO)).unwrap();
    let value = [1u8; 100];
    for n in 0..2_000u64 {
        let metadata = producer.send_direct(&ProducerRecord::new("t", &value).partition(0)).unwrap();
        assert_eq!(metadata.offset, n);
    }
    log.run_cleaner().unwrap();
    let described = log.describe_topic("t").unwrap().partitions[0].clone();
    assert!(described.size_bytes <= limit, "{described:?}");
    assert!(described.log_start_offset > 1_500, "{described:?}");
    assert_readable(&log, "t", described.log_start_offset, 2_000);
}

#[test]
fn delete_records_advances_the_start_durably_and_consumers_below_it_reset() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open(dir.path(), &clock);
    log.create_topic("t", TopicConfig::new(2).segment_bytes(1024)).unwrap();
    fill(&log, "t", 100, T0);
    commit(&log, "behind", "t", 10);

    assert_eq!(log.delete_records("t", 0, 42).unwrap(), 42);
    assert_readable(&log, "t", 42, 100);
    assert!(matches!(log.partition("t", 0).unwrap().read(41), Err(Error::OffsetOutOfRange { .. })));
    // Back, or past the end: refused or a no-op, never a loss.
    assert_eq!(log.delete_records("t", 0, 5).unwrap(), 42);
    assert!(matches!(log.delete_records("t", 0, 101), Err(Error::InvalidArgument { name: "before", .. })));
    assert!(matches!(log.delete_records("t", 7, 1), Err(Error::UnknownPartition { .. })));
    assert!(matches!(log.delete_records("nope", 0, 1), Err(Error::UnknownTopic { .. })));
    assert_readable(&log, "t", 42, 100);

    // A group committed below the new start resets as configured.
    for (reset, expected) in [(AutoOffsetReset::Earliest, Some(42)), (AutoOffsetReset::Latest, None)] {
        let config = ConsumerConfig::default().group_id("behind").auto_offset_reset(reset).enable_auto_commit(false);
        let mut consumer = log.consumer(config).unwrap();
        consumer.assign(&[tp("t")]).unwrap();
        let records = consumer.poll(Duration::from_millis(100)).unwrap();
        assert_eq!(records.iter().next().map(|r| r.offset()), expected, "{reset:?}");
        consumer.close().unwrap();
    }
    log.close().unwrap();
    let log = open(dir.path(), &clock);
    assert_readable(&log, "t", 42, 100);
    assert_eq!(log.delete_records("t", 0, 100).unwrap(), 100);
    assert_readable(&log, "t", 100, 100);
}

#[test]
fn alter_topic_changes_the_policy_durably_and_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open(dir.path(), &clock);
    log.create_topic("t", TopicConfig::new(2).segment_bytes(1024)).unwrap();
    fill(&log, "t", 100, T0);
    clock.advance(1_000_000);
    assert_eq!(log.run_cleaner().unwrap().segments_deleted, 0, "no retention configured");

    let altered = TopicConfig::new(2).segment_bytes(1024).retention_ms(1_000);
    log.alter_topic("t", altered.clone()).unwrap();
    assert_eq!(log.describe_topic("t").unwrap().config, altered);
    // The alteration wakes the cleaner; with or without it, one pass later
    // only the active segment is left.
    log.run_cleaner().unwrap();
    let last = *log.partition("t", 0).unwrap().segment_base_offsets().last().unwrap();
    assert!(last > 0);
    assert_readable(&log, "t", last, 100);

    // The partition count is add_partitions' business, not alter's.
    assert!(matches!(
        log.alter_topic("t", TopicConfig::new(3)),
        Err(Error::InvalidArgument { name: "partitions", .. })
    ));
    assert!(matches!(log.alter_topic("nope", TopicConfig::new(1)), Err(Error::UnknownTopic { .. })));
    assert_eq!(log.describe_topic("t").unwrap().config, altered);
    log.close().unwrap();
    let log = open(dir.path(), &clock);
    assert_eq!(log.describe_topic("t").unwrap().config, altered);
}

#[test]
fn a_compacted_topic_refuses_records_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open(dir.path(), &clock);
    log.create_topic("c", TopicConfig::new(1).cleanup_policy(CleanupPolicy::Compact)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let error = producer.send_direct(&ProducerRecord::new("c", b"v")).unwrap_err();
    assert!(matches!(&error, Error::MissingKey { topic } if topic == "c"), "{error}");
    assert!(producer.send(&ProducerRecord::new("c", b"v")).unwrap().get().is_err());
    producer.send_direct(&ProducerRecord::new("c", b"v").key(b"k")).unwrap();
    assert_eq!(log.partition("c", 0).unwrap().end_offset(), 1);
    // The partition's own appends too, a batch as a whole; an explicit
    // partition the topic lacks is named first, as Kafka's producer does.
    let partition = log.partition("c", 0).unwrap();
    let error = partition.append(&NewRecord::new(b"v")).unwrap_err();
    assert!(matches!(&error, Error::MissingKey { topic } if topic == "c"), "{error}");
    let batch = [NewRecord::new(b"a").key(b"k"), NewRecord::new(b"b")];
    assert!(matches!(partition.append_batch(&batch), Err(Error::MissingKey { .. })));
    assert_eq!(partition.end_offset(), 1, "nothing of the refused batch was stored");
    let elsewhere = ProducerRecord::new("c", b"v").partition(7);
    assert!(matches!(producer.send_direct(&elsewhere), Err(Error::UnknownPartition { .. })));
    // Altered away from compaction, and back, across a reopen.
    log.alter_topic("c", TopicConfig::new(1)).unwrap();
    partition.append(&NewRecord::new(b"v")).unwrap();
    log.alter_topic("c", TopicConfig::new(1).cleanup_policy(CleanupPolicy::CompactDelete)).unwrap();
    assert!(matches!(partition.append(&NewRecord::new(b"v")), Err(Error::MissingKey { .. })));
    drop((partition, producer));
    log.close().unwrap();
    let log = open(dir.path(), &clock);
    let partition = log.partition("c", 0).unwrap();
    assert!(matches!(partition.append(&NewRecord::new(b"v")), Err(Error::MissingKey { .. })));
    partition.append(&NewRecord::new(b"v").key(b"k")).unwrap();
    assert_eq!(partition.end_offset(), 3);
}

#[test]
fn a_partition_holding_a_few_records_occupies_little_disk() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open(dir.path(), &clock);
    log.create_topic("t", TopicConfig::new(10)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..10 {
        producer.send_direct(&ProducerRecord::new("t", &[0u8; 100]).partition(n)).unwrap();
    }
    let described = log.describe_topic("t").unwrap();
    for partition in &described.partitions {
        assert!(partition.disk_bytes > 0 && partition.disk_bytes <= 1 << 20, "{partition:?}");
        assert!(partition.size_bytes < partition.disk_bytes, "{partition:?}");
    }
    // ...and grows with the data, not by the segment's full size.
    for _ in 0..1_000 {
        producer.send_direct(&ProducerRecord::new("t", &[0u8; 100]).partition(0)).unwrap();
    }
    let grown = log.describe_topic("t").unwrap().partitions[0].disk_bytes;
    assert!(grown <= 2 << 20, "{grown}");
}
