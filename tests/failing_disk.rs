//! A failed sync or write poisons the partition: that operation and every
//! later write fail with a typed error, reads still work, the rest of the
//! log keeps working, and reopening recovers to the last synced state. A
//! full disk fails the append with `DiskFull` naming the topic and
//! partition, damages nothing, and appends succeed again once space is back.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{append_values, assert_values, small};
use larder::partition::Partition;
use larder::record::NewRecord;
use larder::storage::fault::FaultStorage;
use larder::{Durability, Error, IoOp, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

#[test]
fn failed_sync_poisons_until_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (options, storage) = small(1 << 16);
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    append_values(&partition, 0, 10);
    storage.fail_syncs(true);
    let error = partition.sync().unwrap_err();
    assert!(
        matches!(&error, Error::Io { operation: IoOp::Sync, source, .. } if source.raw_os_error() == Some(5)),
        "{error}"
    );
    assert!(partition.is_poisoned());
    storage.fail_syncs(false);
    for attempt in [partition.append(&NewRecord::new(b"x")).map(drop), partition.sync().map(drop)] {
        assert!(matches!(attempt, Err(Error::Poisoned { .. })), "{attempt:?}");
    }
    assert_eq!(
        partition.truncate_to(5).unwrap_err().to_string(),
        Error::Poisoned { path: dir.path().into() }.to_string()
    );
    assert_values(&partition, 0, 10);
    assert!(matches!(partition.close(), Err(Error::Poisoned { .. })));
    let partition = Partition::open(dir.path(), options).unwrap();
    assert!(!partition.recovery_report().clean_shutdown);
    assert_values(&partition, 0, 10);
    append_values(&partition, 10, 12);
    partition.sync().unwrap();
}

#[test]
fn failed_sync_during_roll_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let (options, storage) = small(300);
    let partition = Partition::open(dir.path(), options).unwrap();
    append_values(&partition, 0, 3);
    storage.fail_syncs(true);
    let error = (3..50).find_map(|o| partition.append(&NewRecord::new(&common::value(o))).err()).unwrap();
    assert!(matches!(error, Error::Io { .. }), "{error}");
    assert!(partition.is_poisoned());
}

#[test]
fn full_disk_fails_appends_without_damage_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (options, storage) = small(400);
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    append_values(&partition, 0, 5);
    storage.fail_allocations(true);
    let mut next = 5;
    let error = loop {
        match partition
            .append(&NewRecord::new(&common::value(next)).key(&common::key(next)).timestamp(common::timestamp(next)))
        {
            Ok(appended) => {
                assert_eq!(appended.offset, next);
                next += 1;
            }
            Err(error) => break error,
        }
    };
    assert!(matches!(&error, Error::DiskFull { topic: None, partition: None, .. }), "{error}");
    assert!(!partition.is_poisoned());
    assert_values(&partition, 0, next);
    storage.fail_allocations(false);
    append_values(&partition, next, next + 20);
    partition.close().unwrap();
    let partition = Partition::open(dir.path(), options).unwrap();
    assert_values(&partition, 0, next + 20);
}

#[test]
fn failed_write_poisons_its_partition_only_and_reopen_recovers_the_synced_state() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(FaultStorage::new());
    let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
    log.create_topic("t", TopicConfig::new(2).durability(Durability::Sync)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for p in 0..2 {
        producer.send_direct(&ProducerRecord::new("t", b"before").partition(p)).unwrap();
    }
    // A large batch is written with one write call, which now fails.
    storage.fail_writes(true);
    let big = vec![7u8; 40 << 10];
    let batch = vec![NewRecord::new(&big); 2];
    let error = log.partition("t", 0).unwrap().append_batch(&batch).unwrap_err();
    assert!(matches!(&error, Error::Io { operation: IoOp::Write, .. }), "{error}");
    storage.fail_writes(false);
    let error = producer.send_direct(&ProducerRecord::new("t", b"after").partition(0)).unwrap_err();
    assert!(matches!(error, Error::Poisoned { .. }), "{error}");
    let meta =
        producer.send(&ProducerRecord::new("t", b"other").partition(1)).unwrap().wait(Duration::from_secs(5)).unwrap();
    assert_eq!(meta.offset, 1, "the other partition keeps working");
    drop(producer);
    assert!(log.close().is_err());
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let p0 = log.partition("t", 0).unwrap();
    assert_eq!(p0.end_offset(), 1);
    assert_eq!(p0.read(0).unwrap().value(), Some(&b"before"[..]));
    assert_eq!(log.partition("t", 1).unwrap().end_offset(), 2);
}

#[test]
fn full_disk_names_the_topic_and_partition_and_damages_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(FaultStorage::new());
    let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
    log.create_topic("orders", TopicConfig::new(2).segment_bytes(1024)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let record = |n: u32| format!("order-{n:04}").into_bytes();
    let mut sent = 0;
    storage.fail_allocations(true);
    let error = loop {
        match producer.send_direct(&ProducerRecord::new("orders", &record(sent)).partition(1)) {
            Ok(meta) => {
                assert_eq!(meta.offset, u64::from(sent));
                sent += 1;
            }
            Err(error) => break error,
        }
    };
    assert!(matches!(&error, Error::DiskFull { topic: Some(t), partition: Some(1), .. } if t == "orders"), "{error}");
    assert!(error.to_string().contains("topic \"orders\" partition 1"), "{error}");
    let queued = producer.send(&ProducerRecord::new("orders", b"queued").partition(1)).unwrap();
    assert!(matches!(queued.get(), Err(Error::DiskFull { .. })));
    storage.fail_allocations(false);
    let meta = producer.send_direct(&ProducerRecord::new("orders", &record(sent)).partition(1)).unwrap();
    assert_eq!(meta.offset, u64::from(sent), "appends go on where they stopped");
    let stored = log.partition("orders", 1).unwrap();
    let values: Vec<Vec<u8>> = stored.iter_from(0).map(|r| r.unwrap().value().unwrap().to_vec()).collect();
    assert_eq!(values, (0..=sent).map(record).collect::<Vec<_>>());
}
