//! A log's lifecycle and its admin operations, failed at every step and
//! used after close: every handle of a closed log fails with
//! `Error::Closed` (and cannot overwrite what a newer opener stored),
//! `close` leaves no file open and no thread running, and `create_topic`,
//! `add_partitions` and `delete_topic` either happen whole or leave
//! nothing behind — a file layer fails the n-th call of each, for every n,
//! and the log must reopen with exactly the topics that were acknowledged.

mod hooked;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hooked::{open_files_under, Call, Hooked};
use larder::{
    ConsumerConfig, Durability, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, TopicPartition,
};

#[test]
fn every_handle_of_a_closed_log_fails_with_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    producer.send_direct(&ProducerRecord::new("t", b"before")).unwrap();
    let partition = log.partition("t", 0).unwrap();
    let tp = TopicPartition::new("t", 0);
    let mut consumer = log.consumer(ConsumerConfig::default().group_id("g")).unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    let other = log.clone();
    log.close().unwrap();

    let closed = |result: Result<(), Error>, what: &str| {
        assert!(matches!(result, Err(Error::Closed { .. })), "{what}: {result:?}");
    };
    closed(producer.send_direct(&ProducerRecord::new("t", b"late")).map(drop), "send_direct");
    closed(producer.send(&ProducerRecord::new("t", b"late")).map(drop), "send");
    closed(producer.flush(), "flush");
    closed(partition.read(0).map(drop), "partition read");
    closed(partition.append(&larder::record::NewRecord::new(b"late")).map(drop), "partition append");
    closed(partition.sync().map(drop), "partition sync");
    closed(consumer.poll(Duration::from_millis(10)).map(drop), "poll");
    closed(consumer.commit_offsets(&[(tp.clone(), 1)].into()), "commit");
    closed(consumer.committed(&tp).map(drop), "committed");
    closed(other.create_topic("u", TopicConfig::new(1)), "create_topic");
    closed(other.describe_topic("t").map(drop), "describe_topic");
    closed(other.producer(ProducerConfig::default()).map(drop), "producer");
    closed(other.consumer(ConsumerConfig::default()).map(drop), "consumer");
    closed(other.describe_group("g").map(drop), "describe_group");
    // Every other call that returns a Result, on every kind of handle.
    closed(partition.read_batch(partition.end_offset(), 10).map(drop), "partition read_batch at the end");
    closed(partition.read_batch(0, 10).map(drop), "partition read_batch");
    closed(partition.iter_from(0).next().unwrap().map(drop), "partition iter");
    closed(partition.offset_for_timestamp(0).map(drop), "partition offset_for_timestamp");
    closed(partition.roll(), "partition roll");
    closed(partition.flush(), "partition flush");
    closed(partition.truncate_to(0), "partition truncate_to");
    closed(partition.delete_before(1).map(drop), "partition delete_before");
    closed(consumer.position(&tp).map(drop), "position");
    closed(consumer.lag(&tp).map(drop), "lag");
    closed(consumer.seek(&tp, 0), "seek");
    closed(consumer.seek_to_end(&[]), "seek_to_end");
    closed(consumer.pause(std::slice::from_ref(&tp)), "pause");
    closed(consumer.commit(), "commit()");
    closed(consumer.beginning_offsets(std::slice::from_ref(&tp)).map(drop), "beginning_offsets");
    closed(consumer.offsets_for_times(&[(tp.clone(), 0)].into()).map(drop), "offsets_for_times");
    closed(consumer.assign(std::slice::from_ref(&tp)), "assign");
    closed(consumer.subscribe(&["t"]), "subscribe");
    closed(other.delete_topic("t"), "delete_topic");
    closed(other.add_partitions("t", 2), "add_partitions");
    closed(other.alter_topic("t", TopicConfig::new(1)), "alter_topic");
    closed(other.delete_records("t", 0, 1).map(drop), "delete_records");
    closed(other.run_cleaner().map(drop), "run_cleaner");
    closed(other.partition("t", 0).map(drop), "partition");
    closed(other.list_groups().map(drop), "list_groups");
    closed(other.delete_group("g"), "delete_group");
}

#[test]
fn a_consumer_of_a_closed_log_cannot_overwrite_a_newer_commit() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..10u8 {
        producer.send_direct(&ProducerRecord::new("t", &[n])).unwrap();
    }
    drop(producer);
    log.partition("t", 0).unwrap().sync().unwrap();
    let tp = TopicPartition::new("t", 0);
    let mut old = log.consumer(ConsumerConfig::default().group_id("g").enable_auto_commit(false)).unwrap();
    old.assign(std::slice::from_ref(&tp)).unwrap();
    log.close().unwrap();

    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let mut new = log.consumer(ConsumerConfig::default().group_id("g").enable_auto_commit(false)).unwrap();
    new.assign(std::slice::from_ref(&tp)).unwrap();
    new.commit_offsets(&[(tp.clone(), 7)].into()).unwrap();
    assert!(matches!(old.commit_offsets(&[(tp.clone(), 4)].into()), Err(Error::Closed { .. })));
    drop(old);
    drop(new);
    log.close().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let consumer = log.consumer(ConsumerConfig::default().group_id("g")).unwrap();
    assert_eq!(consumer.committed(&tp).unwrap(), Some(7));
}

fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// Runs the calling test alone in a child process (this test binary run
/// again), so what it counts of the process — threads, open files — is
/// its own. Returns true in the child, which then does the work.
fn in_own_process(test: &str) -> bool {
    const CHILD: &str = "LARDER_LIFECYCLE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .status()
        .unwrap();
    assert!(status.success(), "{test} failed in its own process");
    false
}

#[test]
fn close_returns_with_no_file_open_and_no_thread_running() {
    if !in_own_process("close_returns_with_no_file_open_and_no_thread_running") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let interval = Durability::Interval(Duration::from_millis(5));
    log.create_topic("t", TopicConfig::new(2).segment_bytes(1024).durability(interval)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..100u8 {
        producer.send(&ProducerRecord::new("t", &[n; 40])).unwrap();
    }
    producer.flush().unwrap();
    let mut consumer = log.consumer(ConsumerConfig::default().group_id("g")).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    let _partition = log.partition("t", 0).unwrap(); // a handle kept across close
    std::thread::sleep(Duration::from_millis(20)); // the syncer has run
    assert!(!open_files_under(dir.path()).is_empty());
    log.close().unwrap();
    assert_eq!(open_files_under(dir.path()), Vec::<String>::new(), "files still open after close");
    assert_eq!(threads_named("larder-"), 0, "threads still running after close");
}

/// From now on, fails the `fail_at`-th call through `storage` (counting
/// creates, writes, syncs, renames, directory creations and removals) with
/// EMFILE, then lets every call through again.
fn fail_nth_call(storage: &Hooked, fail_at: u64) {
    let calls = AtomicU64::new(0);
    storage.set(move |call, _| {
        let counted = !matches!(call, Call::Open | Call::Allocate | Call::SetLen);
        if counted && calls.fetch_add(1, Ordering::SeqCst) == fail_at {
            return Err(io::Error::from_raw_os_error(24));
        }
        Ok(())
    });
}

/// Runs `admin` on a log whose file layer fails its n-th call, for every n
/// until it succeeds; after each failure the log must still work, and
/// reopen (without repair) with exactly `before` or `after` topics.
fn fail_at_every_step(
    setup: impl Fn(&Log),
    admin: impl Fn(&Log) -> Result<(), Error>,
    topics_before: &[(&str, u32)],
    topics_after: &[(&str, u32)],
) -> u64 {
    for fail_at in 0.. {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        setup(&log);
        log.close().unwrap();
        let storage = Hooked::new();
        let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
        fail_nth_call(&storage, fail_at);
        let outcome = admin(&log);
        let expected = match &outcome {
            Ok(()) => topics_after,
            Err(error) => {
                assert!(matches!(error, Error::Io { .. }), "not a typed I/O error: {error}");
                topics_before
            }
        };
        assert_eq!(describe(&log), expected, "fail_at {fail_at}: in memory after {outcome:?}");
        drop(log);
        let log = Log::open(dir.path(), LogOptions::default())
            .unwrap_or_else(|e| panic!("fail_at {fail_at}: reopen after {outcome:?} failed: {e}"));
        assert_eq!(describe(&log), expected, "fail_at {fail_at}: on disk after {outcome:?}");
        let producer = log.producer(ProducerConfig::default()).unwrap();
        for (topic, partitions) in expected {
            for p in 0..*partitions {
                producer.send_direct(&ProducerRecord::new(topic, b"works").partition(p)).unwrap();
            }
        }
        if outcome.is_ok() {
            return fail_at;
        }
    }
    unreachable!()
}

fn describe(log: &Log) -> Vec<(&'static str, u32)> {
    let names: Vec<&'static str> = vec!["kept", "t"];
    names
        .into_iter()
        .filter_map(|name| log.describe_topic(name).ok().map(|d| (name, d.partitions.len() as u32)))
        .collect()
}

#[test]
fn create_topic_failing_at_any_step_leaves_nothing() {
    let steps = fail_at_every_step(
        |log| log.create_topic("kept", TopicConfig::new(1)).unwrap(),
        |log| log.create_topic("t", TopicConfig::new(3)),
        &[("kept", 1)],
        &[("kept", 1), ("t", 3)],
    );
    assert!(steps > 10, "only {steps} steps were failed");
}

#[test]
fn add_partitions_failing_at_any_step_keeps_the_old_count() {
    let steps = fail_at_every_step(
        |log| log.create_topic("t", TopicConfig::new(2)).unwrap(),
        |log| log.add_partitions("t", 4),
        &[("t", 2)],
        &[("t", 4)],
    );
    assert!(steps > 5, "only {steps} steps were failed");
}

#[test]
fn delete_topic_failing_at_any_step_keeps_or_deletes_it_whole() {
    for fail_at in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        log.create_topic("t", TopicConfig::new(2)).unwrap();
        log.producer(ProducerConfig::default()).unwrap().send_direct(&ProducerRecord::new("t", b"v")).unwrap();
        log.close().unwrap();
        let storage = Hooked::new();
        let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
        fail_nth_call(&storage, fail_at);
        let outcome = log.delete_topic("t");
        let in_memory = describe(&log);
        drop(log);
        let reopened = describe(&Log::open(dir.path(), LogOptions::default()).unwrap());
        match outcome {
            // Refused before anything changed: the topic is whole.
            Err(_) if in_memory == [("t", 2)] => assert_eq!(reopened, [("t", 2)], "fail_at {fail_at}"),
            // Renamed away (the cleanup after it may have failed): gone.
            _ => assert_eq!((in_memory, reopened), (vec![], vec![]), "fail_at {fail_at}"),
        }
    }
}

#[test]
fn a_failed_add_partitions_acknowledges_nothing_in_the_new_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(4)).unwrap();
    // A file where partition 5 goes: partition 4 can be made, 5 cannot.
    std::fs::write(dir.path().join("topics/t/5"), b"in the way").unwrap();
    assert!(log.add_partitions("t", 6).is_err());
    assert_eq!(log.describe_topic("t").unwrap().partitions.len(), 4);
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let error = producer.send_direct(&ProducerRecord::new("t", b"v").partition(4)).unwrap_err();
    assert!(matches!(error, Error::UnknownPartition { partition: 4, partitions: 4, .. }), "{error}");
    drop(producer);
    log.close().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.describe_topic("t").unwrap().partitions.len(), 4);
}

#[test]
fn a_topic_without_its_metadata_is_refused_by_name_and_repair_rebuilds_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(3)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for p in 0..3 {
        producer.send_direct(&ProducerRecord::new("t", b"precious").partition(p)).unwrap();
    }
    drop(producer);
    log.close().unwrap();
    std::fs::remove_file(dir.path().join("topics/t/topic.meta")).unwrap();
    let error = Log::open(dir.path(), LogOptions::default()).unwrap_err();
    assert!(error.to_string().contains("topic.meta"), "{error}");
    assert!(dir.path().join("topics/t/2").is_dir(), "refusing deleted data");
    let log = Log::open(dir.path(), LogOptions::default().repair(true)).unwrap();
    let description = log.describe_topic("t").unwrap();
    assert_eq!(description.partitions.iter().map(|p| p.end_offset).collect::<Vec<_>>(), [1, 1, 1]);
    assert_eq!(log.partition("t", 2).unwrap().read(0).unwrap().value(), Some(&b"precious"[..]));
}

#[test]
fn a_missing_partition_directory_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(3)).unwrap();
    log.close().unwrap();
    std::fs::remove_dir_all(dir.path().join("topics/t/1")).unwrap();
    let error = Log::open(dir.path(), LogOptions::default()).unwrap_err();
    assert!(matches!(&error, Error::Corrupt { path, .. } if path.ends_with("topics/t/1")), "{error}");
}

#[test]
fn configurations_read_back_exactly_what_was_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let refused = [
        TopicConfig::new(1).durability(Durability::Interval(Duration::from_micros(500))),
        TopicConfig::new(1).durability(Durability::Interval(Duration::from_micros(1500))),
        TopicConfig::new(1).durability(Durability::Interval(Duration::MAX)),
        TopicConfig::new(1).durability(Durability::Interval(Duration::ZERO)),
        TopicConfig::new(1).segment_ms(u64::MAX),
        TopicConfig::new(1).segment_ms(i64::MAX as u64 + 1),
        TopicConfig::new(0),
        TopicConfig::new(10_001),
    ];
    for (n, config) in refused.into_iter().enumerate() {
        let error = log.create_topic(&format!("t{n}"), config.clone()).unwrap_err();
        assert!(matches!(error, Error::InvalidArgument { .. }), "{config:?}: {error}");
    }
    let accepted = [
        TopicConfig::new(1).durability(Durability::Interval(Duration::from_millis(1))),
        TopicConfig::new(2).durability(Durability::Interval(Duration::from_millis(i64::MAX as u64))),
        TopicConfig::new(3).segment_ms(i64::MAX as u64).segment_bytes(128).max_record_bytes(64),
        TopicConfig::new(4).segment_bytes(i32::MAX as u32).durability(Durability::Sync),
    ];
    for (n, config) in accepted.iter().enumerate() {
        log.create_topic(&format!("a{n}"), config.clone()).unwrap();
    }
    log.close().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    for (n, config) in accepted.iter().enumerate() {
        assert_eq!(&log.describe_topic(&format!("a{n}")).unwrap().config, config);
    }
}

#[test]
fn names_at_their_limits_work_end_to_end_and_past_them_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let topic = "t".repeat(249);
    log.create_topic(&topic, TopicConfig::new(1)).unwrap();
    log.producer(ProducerConfig::default()).unwrap().send_direct(&ProducerRecord::new(&topic, b"v")).unwrap();
    log.delete_topic(&topic).unwrap();
    log.create_topic(&topic, TopicConfig::new(1)).unwrap();
    let group = "g".repeat(larder::ConsumerConfig::MAX_GROUP_ID_CHARS);
    let tp = TopicPartition::new(topic.clone(), 0);
    let mut consumer = log.consumer(ConsumerConfig::default().group_id(group.clone())).unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    consumer.commit_offsets(&[(tp.clone(), 0)].into()).unwrap();
    drop(consumer);
    assert_eq!(log.list_groups().unwrap(), std::slice::from_ref(&group));
    let error =
        log.consumer(ConsumerConfig::default().group_id("g".repeat(larder::ConsumerConfig::MAX_GROUP_ID_CHARS + 1)));
    assert!(matches!(error, Err(Error::InvalidName { .. })), "{error:?}");
    let error = log.create_topic(&"t".repeat(250), TopicConfig::new(1)).unwrap_err();
    assert!(matches!(error, Error::InvalidName { .. }), "{error}");
    log.close().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.list_topics(), [topic]);
}

#[test]
fn waiting_with_the_longest_timeouts_does_not_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default().max_block(Duration::MAX)).unwrap();
    let handle = producer.send(&ProducerRecord::new("t", b"v")).unwrap();
    assert_eq!(handle.wait(Duration::MAX).unwrap().offset, 0);
    producer.flush_timeout(Duration::MAX).unwrap();
}
