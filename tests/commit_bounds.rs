//! What a commit may store. `commit()` stored each position as it was,
//! even one `seek` put outside the log: `commit_offsets` refused an offset
//! past the end, but `seek(past the end)` then `commit()` stored it, and
//! the group later skipped every record appended below it. `u64::MAX` is
//! the offsets file's "removed" marker, so committing it silently erased
//! the commit instead.
//!
//! Both are refused by name (`CommitPastEnd`); the automatic commits
//! leave such a partition's last commit as it was.

use std::time::Duration;

use larder::TopicPartition;
use larder::{AutoOffsetReset, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

fn setup() -> (tempfile::TempDir, Log, TopicPartition) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..5u8 {
        producer.send_direct(&ProducerRecord::new("t", &[n])).unwrap();
    }
    (dir, log, TopicPartition::new("t", 0))
}

fn consumer(log: &Log) -> larder::Consumer {
    let config = ConsumerConfig::default().group_id("g").enable_auto_commit(false);
    log.consumer(config.auto_offset_reset(AutoOffsetReset::Earliest)).unwrap()
}

#[test]
fn commit_after_a_seek_past_the_end_never_stores_an_offset_past_the_end() {
    let (_dir, log, tp) = setup();
    let mut c = consumer(&log);
    c.assign(std::slice::from_ref(&tp)).unwrap();
    let refused = c.commit_offsets(&[(tp.clone(), 100)].into());
    assert!(matches!(refused, Err(Error::CommitPastEnd { offset: 100, end_offset: 5, .. })), "{refused:?}");
    c.seek(&tp, 100).unwrap();
    let committed = c.commit();
    assert!(
        matches!(&committed, Err(Error::CommitPastEnd { topic, partition: 0, offset: 100, end_offset: 5 }) if topic == "t"),
        "{committed:?}"
    );
    let stored = c.committed(&tp).unwrap();
    assert!(
        stored.is_none_or(|offset| offset <= 5),
        "commit() after seek(100) returned {committed:?} and stored {stored:?}, past the end 5"
    );
}

#[test]
fn records_appended_below_a_committed_seek_target_are_delivered() {
    let (_dir, log, tp) = setup();
    let mut c = consumer(&log);
    c.assign(std::slice::from_ref(&tp)).unwrap();
    c.seek(&tp, 8).unwrap();
    let _ = c.commit();
    drop(c);
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 5..10u8 {
        producer.send_direct(&ProducerRecord::new("t", &[n])).unwrap();
    }
    let mut c = consumer(&log);
    c.assign(std::slice::from_ref(&tp)).unwrap();
    let records = c.poll(Duration::from_millis(100)).unwrap();
    let first = records.iter().next().map(|r| r.offset());
    assert!(first.is_some_and(|f| f <= 5), "records 5..8 were never delivered: the first polled is {first:?}");
}

#[test]
fn committing_u64_max_is_not_a_silent_erase() {
    let (_dir, log, tp) = setup();
    let mut c = consumer(&log);
    c.assign(std::slice::from_ref(&tp)).unwrap();
    c.commit_offsets(&[(tp.clone(), 3)].into()).unwrap();
    c.seek(&tp, u64::MAX).unwrap();
    let committed = c.commit();
    let stored = c.committed(&tp).unwrap();
    assert!(
        committed.is_err() || stored == Some(u64::MAX),
        "commit() of u64::MAX returned Ok but the committed offset is now {stored:?}"
    );
}

#[test]
fn an_automatic_commit_leaves_a_position_past_the_end_uncommitted() {
    let (_dir, log, tp) = setup();
    let config = ConsumerConfig::default().group_id("g").auto_offset_reset(AutoOffsetReset::Earliest);
    let mut c = log.consumer(config.clone()).unwrap();
    c.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(c.poll(Duration::from_millis(100)).unwrap().len(), 5);
    c.commit().unwrap();
    c.seek(&tp, 8).unwrap();
    c.close().unwrap();
    assert_eq!(log.consumer(config).unwrap().committed(&tp).unwrap(), Some(5));
}
