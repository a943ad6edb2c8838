//! Topic administration: invalid names are rejected by every entry point
//! (never turned into a path); list and describe reflect creates, deletes
//! and added partitions, across reopen; auto-creation on first send is off
//! unless asked for.

use std::time::Duration;

use larder::{Durability, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

const BAD_NAMES: [&str; 9] = ["", ".", "..", "a/b", "a\0b", "../x", "a b", "événement", "tab\tname"];

#[test]
fn invalid_names_are_rejected_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default().auto_create_topics(TopicConfig::new(1))).unwrap();
    let long = "x".repeat(250);
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for name in BAD_NAMES.iter().copied().chain([long.as_str()]) {
        let results = [
            log.create_topic(name, TopicConfig::new(1)).map(drop),
            log.describe_topic(name).map(drop),
            log.delete_topic(name).map(drop),
            log.add_partitions(name, 2).map(drop),
            producer.send_direct(&ProducerRecord::new(name, b"v")).map(drop),
        ];
        for result in results {
            assert!(matches!(result, Err(Error::InvalidName { .. })), "{name:?}: {result:?}");
        }
    }
    assert!(log.list_topics().is_empty());
    let entries: Vec<_> = std::fs::read_dir(dir.path().join("topics")).unwrap().collect();
    assert!(entries.is_empty(), "nothing was created on disk");
    log.create_topic(&"x".repeat(249), TopicConfig::new(1)).unwrap();
}

#[test]
fn list_and_describe_follow_creates_deletes_and_growth_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let orders = TopicConfig::new(2).segment_bytes(4096).durability(Durability::Interval(Duration::from_millis(200)));
    log.create_topic("orders", orders.clone()).unwrap();
    log.create_topic("clicks", TopicConfig::new(3)).unwrap();
    log.create_topic("doomed", TopicConfig::new(1)).unwrap();
    assert!(matches!(log.create_topic("orders", TopicConfig::new(1)), Err(Error::TopicExists { .. })));
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..100u32 {
        producer.send_direct(&ProducerRecord::new("orders", &[7; 100]).partition(n % 2)).unwrap();
    }
    log.add_partitions("orders", 4).unwrap();
    assert!(matches!(log.add_partitions("orders", 4), Err(Error::InvalidArgument { name: "partitions", .. })));
    assert!(matches!(log.add_partitions("orders", 3), Err(Error::InvalidArgument { name: "partitions", .. })));
    producer.send_direct(&ProducerRecord::new("orders", b"new").partition(3)).unwrap();
    log.delete_topic("doomed").unwrap();
    assert!(matches!(log.delete_topic("doomed"), Err(Error::UnknownTopic { .. })));
    let check = |log: &Log| {
        assert_eq!(log.list_topics(), vec!["clicks".to_string(), "orders".to_string()]);
        let described = log.describe_topic("orders").unwrap();
        assert_eq!(described.config.partitions(), 4);
        assert_eq!(described.config.durability_level(), Durability::Interval(Duration::from_millis(200)));
        let ends: Vec<u64> = described.partitions.iter().map(|p| p.end_offset).collect();
        assert_eq!(ends, vec![50, 50, 0, 1]);
        assert!(described.partitions[0].segments > 1, "4 KiB segments rolled");
        assert!(described.partitions[0].size_bytes > 50 * 100);
        assert_eq!(log.describe_topic("clicks").unwrap().partitions.len(), 3);
        assert!(matches!(log.describe_topic("doomed"), Err(Error::UnknownTopic { .. })));
    };
    check(&log);
    drop(producer);
    log.close().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    check(&log);
    assert!(!dir.path().join("topics").join("doomed").exists());
}

#[test]
fn auto_create_is_off_by_default_and_on_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let error = producer.send(&ProducerRecord::new("fresh", b"v")).unwrap().get().unwrap_err();
    assert!(matches!(&error, Error::UnknownTopic { topic } if topic == "fresh"), "{error}");
    drop(producer);
    log.close().unwrap();
    let log = Log::open(dir.path(), LogOptions::default().auto_create_topics(TopicConfig::new(3))).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    producer.send(&ProducerRecord::new("fresh", b"v")).unwrap().get().unwrap();
    assert_eq!(log.describe_topic("fresh").unwrap().partitions.len(), 3);
}

#[test]
fn bad_records_fail_at_send_and_leave_the_batch_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1).max_record_bytes(200)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let good = producer.send(&ProducerRecord::new("t", b"good")).unwrap();
    let big = [0u8; 300];
    let error = producer.send(&ProducerRecord::new("t", &big)).unwrap().get().unwrap_err();
    assert!(matches!(error, Error::RecordTooLarge { max_record_bytes: 200, .. }), "{error}");
    let error = producer.send(&ProducerRecord::new("t", b"v").timestamp(-5)).unwrap().get().unwrap_err();
    assert!(matches!(error, Error::InvalidTimestamp { timestamp_ms: -5 }), "{error}");
    let after = producer.send(&ProducerRecord::new("t", b"after")).unwrap();
    assert_eq!((good.get().unwrap().offset, after.get().unwrap().offset), (0, 1));
}

#[test]
fn create_topic_is_a_no_op_for_the_same_configuration_and_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let config = TopicConfig::new(2).segment_bytes(4096).durability(Durability::Sync);
    log.create_topic("orders", config.clone()).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    producer.send_direct(&ProducerRecord::new("orders", b"kept").partition(1)).unwrap();
    // The same declaration again, in this open and the next: nothing changes.
    log.create_topic("orders", config.clone()).unwrap();
    assert_eq!(log.partition("orders", 1).unwrap().end_offset(), 1);
    drop(producer);
    log.close().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("orders", config.clone()).unwrap();
    assert_eq!(log.partition("orders", 1).unwrap().end_offset(), 1);
    // Another partition count, or any other setting: refused, saying how.
    match log.create_topic("orders", TopicConfig::new(3)) {
        Err(Error::TopicExists { topic, reason }) => {
            assert_eq!(topic, "orders");
            assert!(reason.contains("2 partitions, not 3"), "{reason}");
        }
        other => panic!("expected TopicExists, got {other:?}"),
    }
    let error = log.create_topic("orders", config.clone().segment_bytes(8192)).unwrap_err();
    assert!(matches!(error, Error::TopicExists { .. }), "{error}");
    let reason = error.to_string();
    assert!(reason.contains("segment_bytes is 4096, not 8192") && !reason.contains("durability"), "{reason}");
    let error =
        log.create_topic("orders", config.clone().retention_ms(5).durability(Durability::Buffered)).unwrap_err();
    let reason = error.to_string();
    assert!(
        reason.contains("durability is Sync, not Buffered") && reason.contains("retention_ms is None, not Some(5)"),
        "{reason}"
    );
    // After a change, the changed configuration is the one that matches.
    log.add_partitions("orders", 3).unwrap();
    assert!(log.create_topic("orders", config.clone()).is_err());
    log.create_topic("orders", TopicConfig::new(3).segment_bytes(4096).durability(Durability::Sync)).unwrap();
    assert_eq!(log.list_topics(), ["orders"]);
}

#[test]
fn concurrent_creates_of_the_same_topic_all_succeed_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || log.create_topic("shared", TopicConfig::new(3)))
        })
        .collect();
    for thread in threads {
        thread.join().unwrap().unwrap();
    }
    assert_eq!(log.describe_topic("shared").unwrap().partitions.len(), 3);
}

/// A creation cut short after its directory moved into place still holds
/// `topic.creating`: it never returned, so nothing in it was acknowledged.
/// A read-only view does not show it, and the next open removes it.
#[test]
fn a_topic_still_marked_as_being_created_is_removed_by_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("done", TopicConfig::new(1)).unwrap();
    log.create_topic("cut", TopicConfig::new(2)).unwrap();
    log.close().unwrap();
    let cut = dir.path().join("topics").join("cut");
    assert!(!cut.join("topic.creating").exists(), "a finished creation leaves no marker");
    std::fs::File::create(cut.join("topic.creating")).unwrap();
    let viewer = Log::open_read_only(dir.path()).unwrap();
    assert_eq!(viewer.list_topics(), ["done"]);
    assert!(cut.exists(), "a read-only view removes nothing");
    drop(viewer);
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.list_topics(), ["done"]);
    assert!(!cut.exists());
    log.create_topic("cut", TopicConfig::new(3)).unwrap();
    assert_eq!(log.describe_topic("cut").unwrap().partitions.len(), 3);
}
