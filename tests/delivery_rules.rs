//! The consumer's delivery rules, as a kafka-python user's loop meets
//! them: a position moves only over records delivered to the application
//! (returned by `poll`, or yielded by an iterator), and commits — manual,
//! automatic, on close or drop — never cover more; nothing is committed
//! while a panic unwinds; a record that cannot be deserialized is reported
//! by topic, partition and offset after the good ones before it. Each test
//! checks the exact offsets a restarted member of the group gets.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use larder::serializer::StringSerializer;
use larder::{
    AutoOffsetReset, Consumer, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord, Rebalance,
    RebalanceListener, TopicConfig, TopicPartition,
};

fn log_with(records: u64) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..records {
        producer.send_direct(&ProducerRecord::new("t", n.to_string().as_bytes())).unwrap();
    }
    (dir, log)
}

fn group(id: &str) -> ConsumerConfig {
    ConsumerConfig::default().group_id(id).auto_offset_reset(AutoOffsetReset::Earliest)
}

fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

/// The offsets a fresh member of `id` reads first.
fn restart_reads(log: &Log, id: &str) -> Vec<u64> {
    let mut consumer = log.consumer(group(id).enable_auto_commit(false)).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    consumer.poll(Duration::from_millis(200)).unwrap().iter().map(|r| r.offset()).collect()
}

#[test]
fn breaking_out_of_the_iterator_leaves_the_position_on_the_next_record() {
    let (_dir, log) = log_with(10);
    let mut consumer = log.consumer(group("g").enable_auto_commit(false)).unwrap();
    consumer.assign(&[tp()]).unwrap();
    let first: Vec<u64> = consumer.iter().take(3).map(|r| r.unwrap().offset()).collect();
    assert_eq!(first, [0, 1, 2]);
    assert_eq!(consumer.position(&tp()).unwrap(), 3);
    let next = consumer.iter().next().unwrap().unwrap();
    assert_eq!(next.offset(), 3, "iteration resumes at offset 3");
}

#[test]
fn close_after_a_break_commits_only_what_was_yielded() {
    let (_dir, log) = log_with(10);
    let mut consumer = log.consumer(group("g")).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    for record in consumer.iter().take(3) {
        record.unwrap();
    }
    consumer.close().unwrap();
    assert_eq!(restart_reads(&log, "g"), (3..10).collect::<Vec<_>>());
}

#[test]
fn a_panicking_loop_commits_nothing_more() {
    let (_dir, log) = log_with(200);
    let config = group("g").max_poll_records(100);
    let mut committed_first = log.consumer(config.clone()).unwrap();
    committed_first.subscribe(&["t"]).unwrap();
    assert_eq!(committed_first.poll(Duration::from_secs(1)).unwrap().len(), 100);
    committed_first.commit().unwrap(); // 100 processed and committed
    drop(committed_first);
    let mut consumer = log.consumer(config).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let records = consumer.poll(Duration::from_secs(1)).unwrap();
        for (n, record) in records.iter().enumerate() {
            assert!(n < 10, "processing failed at record {}", record.offset());
        }
    }));
    assert!(crashed.is_err());
    // The consumer was dropped while unwinding: the 100 records the poll
    // returned were not committed, so the next member gets them all.
    assert_eq!(restart_reads(&log, "g"), (100..200).collect::<Vec<_>>());
}

#[test]
fn drop_without_close_commits_what_was_delivered() {
    let (_dir, log) = log_with(10);
    let mut consumer = log.consumer(group("g").max_poll_records(4)).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    assert_eq!(consumer.poll(Duration::from_secs(1)).unwrap().len(), 4);
    drop(consumer);
    assert_eq!(restart_reads(&log, "g"), (4..10).collect::<Vec<_>>());
}

#[test]
fn an_undeserializable_record_comes_after_the_good_ones_with_its_address() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for value in [&b"a"[..], b"b", &[0xff], b"d"] {
        producer.send_direct(&ProducerRecord::new("t", value)).unwrap();
    }
    let mut typed = log
        .consumer(group("g").enable_auto_commit(false))
        .unwrap()
        .with_deserializers::<String, String, _, _>(StringSerializer, StringSerializer);
    typed.consumer().assign(&[tp()]).unwrap();
    let good: Vec<String> = typed.poll(Duration::from_secs(1)).unwrap().into_iter().filter_map(|r| r.value).collect();
    assert_eq!(good, ["a", "b"]);
    assert_eq!(typed.consumer().position(&tp()).unwrap(), 2, "the position is on the bad record");
    for _ in 0..2 {
        let error = typed.poll(Duration::from_secs(1)).unwrap_err();
        assert!(
            matches!(&error, Error::Deserialization { topic, partition: 0, offset: 2, field: "value", .. } if topic == "t"),
            "{error}"
        );
    }
    typed.consumer().seek(&tp(), 3).unwrap(); // log it and skip it
    let rest: Vec<String> = typed.poll(Duration::from_secs(1)).unwrap().into_iter().filter_map(|r| r.value).collect();
    assert_eq!(rest, ["d"]);

    // The typed iterator: the good records, then the error, then it ends.
    typed.consumer().seek(&tp(), 0).unwrap();
    let items: Vec<Result<u64, String>> =
        typed.iter().map(|r| r.map(|r| r.offset).map_err(|e| e.to_string())).collect();
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!((&items[0], &items[1]), (&Ok(0), &Ok(1)));
    assert!(items[2].as_ref().unwrap_err().contains("offset 2"));
    assert_eq!(typed.consumer().position(&tp()).unwrap(), 2);
}

#[test]
fn the_typed_iterator_honours_consumer_timeout() {
    let (_dir, log) = log_with(3);
    let config = group("g").consumer_timeout(Duration::from_millis(50));
    let mut typed =
        log.consumer(config).unwrap().with_deserializers::<String, String, _, _>(StringSerializer, StringSerializer);
    typed.consumer().subscribe(&["t"]).unwrap();
    let values: Vec<String> = typed.iter().map(|r| r.unwrap().value.unwrap()).collect();
    assert_eq!(values, ["0", "1", "2"]);
}

#[test]
fn subscribing_without_a_group_reads_every_partition_and_follows_the_topics() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let mut consumer = log.consumer(ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest)).unwrap();
    // KafkaConsumer("t"): no group, and the topic does not exist yet.
    consumer.subscribe(&["t"]).unwrap();
    assert!(consumer.poll(Duration::from_millis(10)).unwrap().is_empty());
    log.create_topic("t", TopicConfig::new(3)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for p in 0..3 {
        producer.send_direct(&ProducerRecord::new("t", b"v").partition(p)).unwrap();
    }
    assert_eq!(consumer.poll(Duration::from_secs(1)).unwrap().len(), 3);
    assert_eq!(consumer.assignment().len(), 3);
    log.add_partitions("t", 4).unwrap();
    producer.send_direct(&ProducerRecord::new("t", b"new").partition(3)).unwrap();
    let records = consumer.poll(Duration::from_secs(1)).unwrap();
    assert_eq!(records.iter().map(|r| (r.partition(), r.offset())).collect::<Vec<_>>(), [(3, 0)]);
    let error = consumer.commit().unwrap_err();
    assert!(matches!(error, Error::InvalidArgument { name: "group_id", .. }), "{error}");
}

#[test]
fn a_group_subscribed_to_a_topic_not_yet_created_reads_it_once_created() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let mut consumer = log.consumer(group("g")).unwrap();
    consumer.subscribe(&["later"]).unwrap();
    assert!(consumer.poll(Duration::from_millis(10)).unwrap().is_empty());
    assert!(consumer.assignment().is_empty());
    log.create_topic("later", TopicConfig::new(2)).unwrap();
    log.producer(ProducerConfig::default()).unwrap().send_direct(&ProducerRecord::new("later", b"v")).unwrap();
    let records = consumer.poll(Duration::from_secs(1)).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(consumer.assignment().len(), 2);
}

#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl RebalanceListener for Events {
    fn on_revoked(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> larder::Result<()> {
        self.0.lock().unwrap().push(format!("revoked {partitions:?}"));
        Ok(())
    }

    fn on_assigned(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> larder::Result<()> {
        self.0.lock().unwrap().push(format!("assigned {partitions:?}"));
        Ok(())
    }
}

#[test]
fn a_topic_deleted_under_its_consumers_is_revoked_reported_once_and_forgotten() {
    for config in [group("g"), ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest)] {
        let (_dir, log) = log_with(5);
        let events = Events::default();
        let mut consumer = log.consumer(config.clone().enable_auto_commit(false)).unwrap();
        consumer.subscribe_with_listener(&["t"], events.clone()).unwrap();
        assert_eq!(consumer.poll(Duration::from_secs(1)).unwrap().len(), 5);
        if config_has_group(&config) {
            consumer.commit().unwrap();
        }
        log.delete_topic("t").unwrap();
        let error = consumer.poll(Duration::from_millis(10)).unwrap_err();
        assert!(matches!(&error, Error::TopicDeleted { topic } if topic == "t"), "{error}");
        assert!(consumer.poll(Duration::from_millis(10)).unwrap().is_empty(), "reported once");
        assert!(consumer.assignment().is_empty());
        assert!(events.0.lock().unwrap().iter().any(|e| e.starts_with("revoked") && e.contains("\"t\"")));
        // Created again: picked up, from its start — not from the old commit.
        log.create_topic("t", TopicConfig::new(1)).unwrap();
        let producer = log.producer(ProducerConfig::default()).unwrap();
        producer.send_direct(&ProducerRecord::new("t", b"again")).unwrap();
        let records = consumer.poll(Duration::from_secs(1)).unwrap();
        assert_eq!(records.iter().map(|r| r.offset()).collect::<Vec<_>>(), [0]);
        if config_has_group(&config) {
            assert_eq!(consumer.committed(&tp()).unwrap(), None, "the old commit went with the topic");
        }
    }
}

fn config_has_group(config: &ConsumerConfig) -> bool {
    format!("{config:?}").contains("group_id: Some")
}

#[test]
fn an_assigned_topic_deleted_is_reported_once() {
    let (_dir, log) = log_with(5);
    let mut consumer = log.consumer(group("g")).unwrap();
    consumer.assign(&[tp()]).unwrap();
    assert_eq!(consumer.poll(Duration::from_secs(1)).unwrap().len(), 5);
    log.delete_topic("t").unwrap();
    assert!(matches!(consumer.poll(Duration::ZERO), Err(Error::TopicDeleted { .. })));
    assert!(consumer.poll(Duration::ZERO).unwrap().is_empty());
    assert!(consumer.assignment().is_empty());
}

#[test]
fn groups_exist_only_once_they_store_something_and_can_be_deleted() {
    let (dir, log) = log_with(3);
    let groups_dir = dir.path().join("groups");
    let count_files = || std::fs::read_dir(&groups_dir).unwrap().count();
    let error = log.describe_group("nobody").unwrap_err();
    assert!(matches!(&error, Error::UnknownGroup { group } if group == "nobody"), "{error}");
    let mut consumer = log.consumer(group("g")).unwrap();
    assert_eq!(count_files(), 0, "constructing a consumer stores nothing");
    assert!(log.list_groups().unwrap().is_empty());
    consumer.subscribe(&["t"]).unwrap();
    assert_eq!(log.list_groups().unwrap(), ["g"], "a live member makes the group");
    assert!(matches!(log.delete_group("g"), Err(Error::GroupNotEmpty { members: 1, .. })));
    consumer.poll(Duration::from_secs(1)).unwrap();
    consumer.commit().unwrap();
    assert_eq!(count_files(), 1);
    consumer.close().unwrap();
    assert_eq!(log.describe_group("g").unwrap().offsets[0].committed, 3);
    log.delete_group("g").unwrap();
    assert_eq!(count_files(), 0);
    assert!(matches!(log.describe_group("g"), Err(Error::UnknownGroup { .. })));
    assert!(matches!(log.delete_group("g"), Err(Error::UnknownGroup { .. })));
    assert_eq!(restart_reads(&log, "g"), [0, 1, 2], "a deleted group starts afresh");
}

#[test]
fn a_failed_on_assigned_is_retried_before_anything_is_fetched() {
    let (_dir, log) = log_with(5);
    let mut consumer = log.consumer(group("g").enable_auto_commit(false)).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    let mut attempts = 0;
    let mut listener = |consumer: &mut Consumer, event: Rebalance<'_>| {
        if let Rebalance::Assigned(partitions) = event {
            attempts += 1;
            if attempts == 1 {
                return Err(Error::InvalidArgument { name: "database", reason: "unreachable".into() });
            }
            for tp in partitions {
                consumer.seek(tp, 3)?; // where the database says to resume
            }
        }
        Ok(())
    };
    let error = consumer.poll_with(Duration::from_millis(10), &mut listener).unwrap_err();
    assert!(matches!(error, Error::InvalidArgument { name: "database", .. }), "{error}");
    let records = consumer.poll_with(Duration::from_secs(1), &mut listener).unwrap();
    assert_eq!(records.iter().map(|r| r.offset()).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(attempts, 2);
}
