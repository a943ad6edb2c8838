//! A `poll` racing `delete_topic` must report the deletion as
//! `TopicDeleted` (issue 9: "poll reports it once with a typed error"),
//! never as `Closed { what: "partition" }`, which reads as "this log is
//! closed" to a loop that stops on `Closed`.
//!
//! `poll` looks for deleted topics first, then fetches: a deletion landing
//! between the two finds the partitions abandoned. A rebalance listener
//! that deletes the topic in `on_assigned` (run by `poll` between the
//! two) places the deletion there deterministically.

use std::time::Duration;

use larder::{
    AutoOffsetReset, Consumer, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord, Rebalance,
    TopicConfig,
};

fn log_with_records() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(2)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for p in 0..2 {
        for _ in 0..10 {
            producer.send_direct(&ProducerRecord::new("t", &[7; 100]).partition(p)).unwrap();
        }
    }
    (dir, log)
}

/// Polls once with a listener that deletes "t" when partitions arrive,
/// then polls again; returns both outcomes.
fn poll_deleting_on_assign(log: &Log, mut consumer: Consumer) -> Vec<Result<usize, Error>> {
    consumer.subscribe(&["t"]).unwrap();
    let deleter = log.clone();
    let mut listener = |_: &mut Consumer, event: Rebalance<'_>| {
        if let Rebalance::Assigned(partitions) = event {
            if !partitions.is_empty() {
                deleter.delete_topic("t").unwrap();
            }
        }
        Ok(())
    };
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(consumer.poll_with(Duration::ZERO, &mut listener).map(|records| records.len()));
    }
    outcomes
}

fn assert_reported_as_deleted(outcomes: &[Result<usize, Error>]) {
    for outcome in outcomes {
        match outcome {
            Ok(0) | Err(Error::TopicDeleted { .. }) => {}
            Ok(n) => panic!("{n} records of the deleted topic returned: {outcomes:?}"),
            Err(error) => panic!("poll racing delete_topic: {error:?} (all: {outcomes:?})"),
        }
    }
    let reported = outcomes.iter().filter(|o| matches!(o, Err(Error::TopicDeleted { .. }))).count();
    assert_eq!(reported, 1, "the deletion is reported once: {outcomes:?}");
}

#[test]
fn a_poll_racing_delete_topic_reports_topic_deleted_without_a_group() {
    let (_dir, log) = log_with_records();
    let config = ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest);
    let outcomes = poll_deleting_on_assign(&log, log.consumer(config).unwrap());
    assert_reported_as_deleted(&outcomes);
}

#[test]
fn a_poll_racing_delete_topic_reports_topic_deleted_in_a_group() {
    let (_dir, log) = log_with_records();
    let config = ConsumerConfig::default().group_id("g").auto_offset_reset(AutoOffsetReset::Earliest);
    let outcomes = poll_deleting_on_assign(&log, log.consumer(config).unwrap());
    assert_reported_as_deleted(&outcomes);
}
