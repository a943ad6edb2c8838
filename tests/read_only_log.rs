//! A whole log opened read-only beside its owner (in this process, so each
//! step is deterministic): topics the owner creates, grows and deletes are
//! followed; a consumer blocked in `poll` is woken by the owner's appends;
//! a cut below its position follows `auto_offset_reset`; committed offsets
//! are read for lag while every write — commit, produce, admin, cleaner —
//! fails with `Error::ReadOnly`; `stats` shows the owner's topics, ends
//! and lag as they are on disk; and after `close` every handle fails with
//! `Error::Closed`.

use std::time::{Duration, Instant};

use larder::{
    AutoOffsetReset, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig,
    TopicPartition,
};

fn send(log: &Log, topic: &str, partition: u32, values: std::ops::Range<u64>) {
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in values {
        let value = n.to_string();
        producer.send_direct(&ProducerRecord::new(topic, value.as_bytes()).partition(partition)).unwrap();
    }
}

fn values(records: &larder::ConsumerRecords) -> Vec<u64> {
    records.iter().map(|r| std::str::from_utf8(r.value().unwrap()).unwrap().parse().unwrap()).collect()
}

/// Polls until `want` values came, or the value 1009 (the last any test
/// sends), or 5 s passed.
fn poll_values(consumer: &mut larder::Consumer, want: usize) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while seen.len() < want && seen.last() != Some(&1009) && Instant::now() < deadline {
        seen.extend(values(&consumer.poll(Duration::from_millis(200)).unwrap()));
    }
    seen
}

#[test]
fn follows_topics_the_owner_creates_grows_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Log::open(dir.path(), LogOptions::default()).unwrap();
    owner.create_topic("a", TopicConfig::new(2)).unwrap();
    let reader = Log::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.list_topics(), ["a"]);

    // A topic created after the reader opened: a lookup finds it at once.
    owner.create_topic("b", TopicConfig::new(1).segment_bytes(4096)).unwrap();
    send(&owner, "b", 0, 0..300);
    let b = reader.describe_topic("b").unwrap();
    assert_eq!(b.partitions.len(), 1);
    assert_eq!(b.partitions[0].end_offset, 300);
    assert_eq!(b.config.segment_limits().segment_bytes, 4096);

    // Grown: the new partitions appear within the topic interval.
    owner.add_partitions("a", 4).unwrap();
    wait_for(|| reader.describe_topic("a").unwrap().partitions.len() == 4);

    // Deleted: gone from the list, and reads fail by name.
    let partition = reader.partition("b", 0).unwrap();
    owner.delete_topic("b").unwrap();
    wait_for(|| reader.list_topics() == ["a"]);
    assert!(matches!(reader.partition("b", 0), Err(Error::UnknownTopic { .. })));
    assert!(partition.read(0).is_err(), "a deleted topic's partition reads nothing");
    reader.close().unwrap();
    owner.close().unwrap();
}

fn wait_for(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met within 5 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_consumer_is_woken_by_appends_and_follows_rolls_and_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Log::open(dir.path(), LogOptions::default()).unwrap();
    owner.create_topic("t", TopicConfig::new(1).segment_bytes(4096)).unwrap();
    send(&owner, "t", 0, 0..100);
    let reader = Log::open_read_only(dir.path()).unwrap();
    let config = ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest).max_poll_records(1000);
    let mut consumer = reader.consumer(config).unwrap();
    let tp = TopicPartition::new("t", 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(poll_values(&mut consumer, 100), (0..100).collect::<Vec<_>>());

    // Blocked in poll, woken by the owner's append (the follower thread).
    let writer = {
        let owner = owner.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            send(&owner, "t", 0, 100..1000);
        })
    };
    let started = Instant::now();
    let first = consumer.poll(Duration::from_secs(5)).unwrap();
    assert!(!first.is_empty() && started.elapsed() < Duration::from_secs(4), "woken, not timed out");
    let mut seen = values(&first);
    seen.extend(poll_values(&mut consumer, 900 - seen.len()));
    assert_eq!(seen, (100..1000).collect::<Vec<_>>(), "every record once, in order, across rolls");
    writer.join().unwrap();
    assert!(reader.partition("t", 0).unwrap().segment_count() > 3);

    // The owner removes records past the consumer's position: once the
    // reader sees the new start (at its next look at the state file), the
    // consumer resets to it (earliest). Until then it may still read what
    // it had mapped: genuine records, in order, never a gap inside them.
    consumer.seek(&tp, 500).unwrap();
    let start = owner.delete_records("t", 0, 700).unwrap();
    send(&owner, "t", 0, 1000..1010);
    let after = poll_values(&mut consumer, 510);
    let stale = after.iter().take_while(|&&v| v < start).count();
    assert_eq!(after[..stale], (500..500 + stale as u64).collect::<Vec<_>>(), "a prefix from the position");
    assert_eq!(after[stale..], (start..1010).collect::<Vec<_>>(), "then the new start onwards");
    drop(consumer);
    reader.close().unwrap();
    owner.close().unwrap();
}

#[test]
fn reads_committed_offsets_and_refuses_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Log::open(dir.path(), LogOptions::default()).unwrap();
    owner.create_topic("t", TopicConfig::new(1)).unwrap();
    send(&owner, "t", 0, 0..10);
    let config = ConsumerConfig::default().group_id("g").enable_auto_commit(false);
    let mut committer = owner.consumer(config.clone().auto_offset_reset(AutoOffsetReset::Earliest)).unwrap();
    committer.subscribe(&["t"]).unwrap();
    assert_eq!(poll_values(&mut committer, 10).len(), 10);
    committer.commit().unwrap();

    let reader = Log::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.list_groups().unwrap(), ["g"]);
    let described = reader.describe_group("g").unwrap();
    assert_eq!((described.offsets[0].committed, described.offsets[0].lag), (10, 0));
    // The owner commits less far back: the reader reads it again.
    send(&owner, "t", 0, 10..15);
    wait_for(|| reader.describe_group("g").unwrap().offsets[0].lag == 5);

    let read_only = |result: larder::Result<()>| matches!(result, Err(Error::ReadOnly { .. }));
    let mut consumer = reader.consumer(config.clone()).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    consumer.poll(Duration::from_millis(50)).unwrap();
    assert!(read_only(consumer.commit()), "commit");
    assert!(read_only(reader.consumer(config.enable_auto_commit(true)).map(drop)), "auto-commit consumer");
    assert!(read_only(reader.producer(ProducerConfig::default()).map(drop)), "producer");
    assert!(read_only(reader.create_topic("x", TopicConfig::new(1))), "create");
    assert!(read_only(reader.delete_topic("t")), "delete");
    assert!(read_only(reader.add_partitions("t", 2)), "add partitions");
    assert!(read_only(reader.alter_topic("t", TopicConfig::new(1).retention_ms(1))), "alter");
    assert!(read_only(reader.delete_records("t", 0, 5).map(drop)), "delete records");
    assert!(read_only(reader.delete_group("g")), "delete group");
    assert!(read_only(reader.run_cleaner().map(drop)), "cleaner");
    let partition = reader.partition("t", 0).unwrap();
    assert!(read_only(partition.append(&larder::record::NewRecord::new(b"x")).map(drop)), "append");
    assert!(read_only(partition.truncate_to(0)), "truncate");
    assert!(read_only(partition.sync().map(drop)), "sync");
    drop(consumer);

    // Nothing the reader did changed the owner's log.
    assert_eq!(owner.describe_topic("t").unwrap().partitions[0].end_offset, 15);
    assert_eq!(owner.describe_group("g").unwrap().offsets[0].committed, 10);
    reader.close().unwrap();
    drop(committer);
    owner.close().unwrap();
}

#[test]
fn stats_show_the_owners_topics_ends_and_lag_as_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Log::open(dir.path(), LogOptions::default()).unwrap();
    owner.create_topic("t", TopicConfig::new(1)).unwrap();
    let reader = Log::open_read_only(dir.path()).unwrap();
    // Appended, committed and created after the reader opened, with no
    // consumer of the reader's watching: only the files tell.
    send(&owner, "t", 0, 0..5);
    let config = ConsumerConfig::default().group_id("g").auto_offset_reset(AutoOffsetReset::Earliest);
    let mut consumer = owner.consumer(config.max_poll_records(2).enable_auto_commit(false)).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    assert_eq!(poll_values(&mut consumer, 2), [0, 1]);
    consumer.commit().unwrap();
    owner.create_topic("u", TopicConfig::new(1)).unwrap();
    let stats = reader.stats().unwrap();
    let names: Vec<&str> = stats.topics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["t", "u"]);
    assert_eq!(stats.topics[0].partitions[0].end_offset, 5);
    let lag = &stats.groups[0].partitions[0];
    assert_eq!((lag.committed, lag.end_offset, lag.lag), (2, 5, 3));
    assert_eq!(stats.groups[0].total_lag, owner.stats().unwrap().groups[0].total_lag);
}

#[test]
fn after_close_every_handle_fails_as_closed() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Log::open(dir.path(), LogOptions::default()).unwrap();
    owner.create_topic("t", TopicConfig::new(1)).unwrap();
    send(&owner, "t", 0, 0..5);
    let reader = Log::open_read_only(dir.path()).unwrap();
    let partition = reader.partition("t", 0).unwrap();
    let record = partition.read(3).unwrap();
    let mut consumer = reader.consumer(ConsumerConfig::default()).unwrap();
    consumer.assign(&[TopicPartition::new("t", 0)]).unwrap();
    let clone = reader.clone();
    reader.close().unwrap();

    assert!(matches!(partition.read(0), Err(Error::Closed { .. })));
    assert!(matches!(partition.refresh(), Err(Error::Closed { .. })));
    assert!(matches!(clone.partition("t", 0), Err(Error::Closed { .. })));
    assert!(matches!(consumer.poll(Duration::from_millis(10)), Err(Error::Closed { .. })));
    assert_eq!(record.value(), Some(&b"3"[..]), "a record read before close stays valid");
    // The owner was never disturbed, and it reopens as it was.
    send(&owner, "t", 0, 5..6);
    owner.close().unwrap();
    let owner = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(owner.partition("t", 0).unwrap().end_offset(), 6);
}

#[test]
fn a_directory_that_is_not_a_log_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    assert!(matches!(Log::open_read_only(&missing), Err(Error::InvalidArgument { .. })));
    assert!(matches!(Log::open_read_only(dir.path()), Err(Error::InvalidArgument { .. })));
    assert!(!missing.exists(), "nothing created");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing created");
}
