//! Consumer groups as Kafka users know them: a group reads from earliest;
//! `latest` sees only what comes after it joined; two groups each see every
//! record (publish-subscribe); three members of one group over six
//! partitions get two each and together see every record exactly once
//! (queue); explicit `assign` reads just the partitions named.

use std::collections::BTreeSet;
use std::time::Duration;

use larder::{
    AutoOffsetReset, Consumer, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig,
    TopicPartition,
};

fn log_with(partitions: u32, records: u32) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("events", TopicConfig::new(partitions)).unwrap();
    produce(&log, 0, records);
    (dir, log)
}

fn produce(log: &Log, from: u32, to: u32) {
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let partitions = log.describe_topic("events").unwrap().partitions.len() as u32;
    for n in from..to {
        producer
            .send_direct(&ProducerRecord::new("events", format!("event-{n}").as_bytes()).partition(n % partitions))
            .unwrap();
    }
}

fn group(log: &Log, id: &str, reset: AutoOffsetReset) -> Consumer {
    log.consumer(ConsumerConfig::default().group_id(id).auto_offset_reset(reset)).unwrap()
}

/// Polls until `want` records arrived (or 5 s passed); returns their values.
fn drain(consumer: &mut Consumer, want: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while seen.len() < want && std::time::Instant::now() < deadline {
        for record in consumer.poll(Duration::from_millis(50)).unwrap().iter() {
            seen.push(String::from_utf8(record.value().unwrap().to_vec()).unwrap());
        }
    }
    seen
}

fn sorted(values: Vec<String>) -> Vec<String> {
    let mut values = values;
    values.sort();
    values
}

fn events(range: std::ops::Range<u32>) -> Vec<String> {
    sorted(range.map(|n| format!("event-{n}")).collect())
}

#[test]
fn a_group_from_earliest_reads_everything_in_partition_order() {
    let (_dir, log) = log_with(3, 90);
    let mut consumer = group(&log, "loader", AutoOffsetReset::Earliest);
    consumer.subscribe(&["events"]).unwrap();
    let mut per_partition: Vec<Vec<u64>> = vec![Vec::new(); 3];
    let mut seen = Vec::new();
    while seen.len() < 90 {
        let records = consumer.poll(Duration::from_secs(1)).unwrap();
        assert!(!records.is_empty(), "stalled after {}", seen.len());
        for record in records.iter() {
            assert_eq!(record.topic(), "events");
            per_partition[record.partition() as usize].push(record.offset());
            seen.push(String::from_utf8(record.value().unwrap().to_vec()).unwrap());
        }
    }
    assert_eq!(sorted(seen), events(0..90));
    for offsets in per_partition {
        assert_eq!(offsets, (0..30).collect::<Vec<u64>>());
    }
    assert!(consumer.poll(Duration::from_millis(20)).unwrap().is_empty());
}

#[test]
fn latest_sees_only_records_produced_after_joining() {
    let (_dir, log) = log_with(3, 30);
    let mut consumer = group(&log, "fresh", AutoOffsetReset::Latest);
    consumer.subscribe(&["events"]).unwrap();
    assert!(consumer.poll(Duration::from_millis(50)).unwrap().is_empty());
    assert_eq!(consumer.assignment().len(), 3);
    produce(&log, 30, 45);
    assert_eq!(sorted(drain(&mut consumer, 15)), events(30..45));
}

#[test]
fn two_groups_each_see_every_record() {
    let (_dir, log) = log_with(4, 40);
    let mut a = group(&log, "indexer", AutoOffsetReset::Earliest);
    let mut b = group(&log, "archiver", AutoOffsetReset::Earliest);
    a.subscribe(&["events"]).unwrap();
    b.subscribe(&["events"]).unwrap();
    assert_eq!(sorted(drain(&mut a, 40)), events(0..40));
    assert_eq!(sorted(drain(&mut b, 40)), events(0..40));
}

#[test]
fn three_members_over_six_partitions_share_them_two_each() {
    let (_dir, log) = log_with(6, 600);
    let mut members: Vec<Consumer> = (0..3).map(|_| group(&log, "workers", AutoOffsetReset::Earliest)).collect();
    for member in &mut members {
        member.subscribe(&["events"]).unwrap();
    }
    let results: Vec<(Vec<TopicPartition>, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = members
            .iter_mut()
            .map(|member| {
                scope.spawn(move || {
                    let mut seen = Vec::new();
                    let deadline = std::time::Instant::now() + Duration::from_secs(5);
                    while std::time::Instant::now() < deadline && (seen.len() < 200 || member.assignment().len() != 2) {
                        for record in member.poll(Duration::from_millis(20)).unwrap().iter() {
                            seen.push(String::from_utf8(record.value().unwrap().to_vec()).unwrap());
                        }
                    }
                    (member.assignment(), seen)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all_partitions = BTreeSet::new();
    let mut all = Vec::new();
    for (assignment, seen) in results {
        assert_eq!(assignment.len(), 2, "{assignment:?}");
        all_partitions.extend(assignment);
        assert_eq!(seen.len(), 200, "two partitions of 100 each");
        all.extend(seen);
    }
    assert_eq!(all_partitions.len(), 6);
    assert_eq!(sorted(all), events(0..600), "every record exactly once");
    let described = log.describe_group("workers").unwrap();
    assert_eq!(described.members.len(), 3);
    assert!(described.members.iter().all(|m| m.assignment.len() == 2));
}

#[test]
fn assign_reads_exactly_the_named_partitions() {
    let (_dir, log) = log_with(6, 60);
    let mut consumer = log.consumer(ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest)).unwrap();
    let chosen: Vec<TopicPartition> = (0..6).filter(|p| p % 2 == 0).map(|p| TopicPartition::new("events", p)).collect();
    consumer.assign(&chosen).unwrap();
    assert_eq!(consumer.assignment(), chosen);
    let seen = drain(&mut consumer, 30);
    assert_eq!(sorted(seen), sorted((0..60).filter(|n| n % 6 % 2 == 0).map(|n| format!("event-{n}")).collect()));
    let error = consumer.commit().unwrap_err();
    assert!(matches!(error, larder::Error::InvalidArgument { name: "group_id", .. }), "{error}");
}

#[test]
fn added_partitions_are_rebalanced_to_the_group() {
    let (_dir, log) = log_with(2, 20);
    let mut consumer = group(&log, "g", AutoOffsetReset::Earliest);
    consumer.subscribe(&["events"]).unwrap();
    assert_eq!(sorted(drain(&mut consumer, 20)), events(0..20));
    log.add_partitions("events", 4).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 20..24u32 {
        producer.send_direct(&ProducerRecord::new("events", format!("event-{n}").as_bytes()).partition(n % 4)).unwrap();
    }
    assert_eq!(sorted(drain(&mut consumer, 4)), events(20..24));
    assert_eq!(consumer.assignment().len(), 4);
}
