//! A consumer whose position (or group's committed offset) falls below the
//! log start because records were deleted under it — `delete_records`, or
//! retention — continues with the oldest record still stored, as
//! `Log::delete_records` promises ("readers below it are moved up to it").
//! It used to be reset by `auto_offset_reset`, and with `Latest` (the
//! default) jumped to the end: every record still stored between the new
//! start and the end was skipped, never delivered.

use std::sync::Arc;
use std::time::Duration;

use larder::clock::ManualClock;
use larder::{
    AutoOffsetReset, Consumer, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig,
    TopicPartition,
};

fn log_with_records(options: LogOptions, config: TopicConfig, records: usize) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options).unwrap();
    log.create_topic("t", config).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..records {
        producer.send_direct(&ProducerRecord::new("t", format!("{n}").as_bytes()).timestamp(n as i64)).unwrap();
    }
    (dir, log)
}

fn first_polled(consumer: &mut Consumer) -> Option<u64> {
    consumer.poll(Duration::from_millis(100)).unwrap().iter().next().map(|r| r.offset())
}

fn reading(log: &Log, config: ConsumerConfig, position: u64) -> Consumer {
    let tp = TopicPartition::new("t", 0);
    let mut consumer = log.consumer(config).unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    consumer.seek(&tp, position).unwrap();
    consumer
}

#[test]
fn delete_records_under_a_consumer_moves_it_to_the_new_start() {
    let (_dir, log) = log_with_records(LogOptions::default(), TopicConfig::new(1), 10);
    // The default policy, Latest.
    let mut consumer = reading(&log, ConsumerConfig::default().max_poll_records(3), 0);
    assert_eq!(first_polled(&mut consumer), Some(0));
    assert_eq!(log.delete_records("t", 0, 5).unwrap(), 5);
    assert_eq!(first_polled(&mut consumer), Some(5), "records 5..10 were skipped");
}

#[test]
fn a_committed_offset_below_the_start_resumes_at_the_start() {
    let (_dir, log) = log_with_records(LogOptions::default(), TopicConfig::new(1), 10);
    let tp = TopicPartition::new("t", 0);
    let config = ConsumerConfig::default().group_id("g").enable_auto_commit(false);
    let mut consumer = reading(&log, config.clone(), 0);
    consumer.commit_offsets(&[(tp.clone(), 2)].into()).unwrap();
    drop(consumer);
    log.delete_records("t", 0, 5).unwrap();
    let mut consumer = log.consumer(config).unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(first_polled(&mut consumer), Some(5), "the group skipped records 5..10");
}

#[test]
fn retention_under_a_consumer_moves_it_to_the_new_start() {
    // Nothing is old yet: the cleaner (woken by every roll) removes nothing.
    let clock = Arc::new(ManualClock::new(0));
    let options = LogOptions::default().clock(clock.clone());
    let config = TopicConfig::new(1).segment_bytes(200).retention_ms(100);
    let (_dir, log) = log_with_records(options, config, 20);
    let mut consumer = reading(&log, ConsumerConfig::default().max_poll_records(1), 0);
    assert_eq!(first_polled(&mut consumer), Some(0));
    clock.set(1_000);
    let report = log.run_cleaner().unwrap();
    assert!(report.segments_deleted > 0, "{report:?}");
    let start = log.partition("t", 0).unwrap().log_start_offset();
    assert!(start > 1 && start < 20, "start {start}");
    assert_eq!(first_polled(&mut consumer), Some(start), "records {start}..20 were skipped");
}

#[test]
fn with_auto_offset_reset_none_a_deleted_position_is_an_error() {
    let (_dir, log) = log_with_records(LogOptions::default(), TopicConfig::new(1), 10);
    let mut consumer = reading(&log, ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::None), 2);
    log.delete_records("t", 0, 5).unwrap();
    let polled = consumer.poll(Duration::from_millis(10));
    assert!(matches!(polled, Err(Error::NoOffset { partition: 0, .. })), "{:?}", polled.map(|r| r.len()));
}
