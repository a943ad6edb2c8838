//! `subscribe_pattern`: a consumer, in a group or alone, reads every topic
//! whose whole name matches, follows topics created and deleted while it
//! runs (woken by the change, with revoke-then-assign callbacks), an
//! escaped character bounds a class range as itself, and a
//! bad pattern is a typed error that changes nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use larder::{
    AutoOffsetReset, Consumer, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord, Rebalance,
    TopicConfig, TopicPartition,
};

const HOUR: Duration = Duration::from_secs(3600);

fn setup() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    for topic in ["events.eu", "events-old", "audit"] {
        log.create_topic(topic, TopicConfig::new(1)).unwrap();
        log.producer(ProducerConfig::default()).unwrap().send_direct(&ProducerRecord::new(topic, b"v")).unwrap();
    }
    (dir, log)
}

fn earliest(group: Option<&str>) -> ConsumerConfig {
    let config = ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest);
    match group {
        Some(group) => config.group_id(group),
        None => config,
    }
}

fn topics_read(consumer: &mut Consumer, records: usize) -> Vec<String> {
    let mut topics = Vec::new();
    while topics.len() < records {
        topics.extend(consumer.poll(HOUR).unwrap().iter().map(|r| r.topic().to_string()));
    }
    topics.sort();
    topics
}

#[test]
fn a_group_member_follows_topics_created_and_deleted() {
    let (_dir, log) = setup();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&events);
    let mut consumer = log.consumer(earliest(Some("g"))).unwrap();
    consumer
        .subscribe_pattern_with_listener(r"events\..*", move |_: &mut Consumer, event: Rebalance<'_>| {
            let (kind, partitions) = match event {
                Rebalance::Revoked(p) => ("revoked", p),
                Rebalance::Assigned(p) => ("assigned", p),
            };
            let names: Vec<String> = partitions.iter().map(|tp| tp.topic.clone()).collect();
            seen.lock().unwrap().push(format!("{kind} {names:?}"));
            Ok(())
        })
        .unwrap();
    assert_eq!(consumer.subscription(), ["events.eu"]);
    assert_eq!(topics_read(&mut consumer, 1), ["events.eu"]);
    // A topic created while the consumer waits in poll wakes it.
    let creator = {
        let log = log.clone();
        std::thread::spawn(move || {
            log.create_topic("events.us", TopicConfig::new(1)).unwrap();
            log.producer(ProducerConfig::default())
                .unwrap()
                .send_direct(&ProducerRecord::new("events.us", b"v"))
                .unwrap();
        })
    };
    assert_eq!(topics_read(&mut consumer, 1), ["events.us"]);
    creator.join().unwrap();
    assert_eq!(consumer.subscription(), ["events.eu", "events.us"]);
    // What was read stays committed across the change of subscription.
    consumer.commit().unwrap();
    assert_eq!(consumer.committed(&TopicPartition::new("events.eu", 0)).unwrap(), Some(1));
    log.delete_topic("events.eu").unwrap();
    assert!(consumer.poll(Duration::ZERO).unwrap().is_empty());
    assert_eq!(consumer.subscription(), ["events.us"]);
    assert_eq!(consumer.assignment(), [TopicPartition::new("events.us", 0)]);
    let events = events.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            r#"assigned ["events.eu"]"#,
            r#"revoked ["events.eu"]"#,
            r#"assigned ["events.eu", "events.us"]"#,
            r#"revoked ["events.eu", "events.us"]"#,
            r#"assigned ["events.us"]"#,
        ]
    );
}

#[test]
fn without_a_group_every_matching_partition_is_read() {
    let (_dir, log) = setup();
    let mut consumer = log.consumer(earliest(None)).unwrap();
    consumer.subscribe_pattern("events.*|audit").unwrap();
    assert_eq!(topics_read(&mut consumer, 3), ["audit", "events-old", "events.eu"]);
    // Nothing matches yet: the consumer waits for a topic that will.
    let mut waiting = log.consumer(earliest(None)).unwrap();
    waiting.subscribe_pattern("later-[0-9]+").unwrap();
    assert!(waiting.subscription().is_empty());
    let creator = {
        let log = log.clone();
        std::thread::spawn(move || {
            log.create_topic("later-1", TopicConfig::new(2)).unwrap();
            let producer = log.producer(ProducerConfig::default()).unwrap();
            producer.send_direct(&ProducerRecord::new("later-1", b"v").partition(1)).unwrap();
        })
    };
    assert_eq!(topics_read(&mut waiting, 1), ["later-1"]);
    creator.join().unwrap();
    assert_eq!(waiting.assignment().len(), 2);
}

#[test]
fn a_bad_pattern_is_refused_and_keeps_the_subscription() {
    let (_dir, log) = setup();
    let mut consumer = log.consumer(earliest(Some("g"))).unwrap();
    consumer.subscribe(&["audit"]).unwrap();
    for bad in ["events(", "[a-", "x{2}", "(?i)x"] {
        let error = consumer.subscribe_pattern(bad).unwrap_err();
        assert!(matches!(error, Error::InvalidArgument { name: "pattern", .. }), "{error}");
    }
    assert_eq!(consumer.subscription(), ["audit"]);
    // A plain subscribe replaces a pattern, and an assign too.
    consumer.subscribe_pattern("events.*").unwrap();
    consumer.subscribe(&["audit"]).unwrap();
    log.create_topic("events.new", TopicConfig::new(1)).unwrap();
    assert!(consumer.poll(Duration::ZERO).is_ok());
    assert_eq!(consumer.subscription(), ["audit"]);
    consumer.assign(&[TopicPartition::new("audit", 0)]).unwrap();
    assert!(consumer.subscription().is_empty());
    log.close().unwrap();
    assert!(matches!(consumer.subscribe_pattern("x"), Err(Error::Closed { .. })));
}

#[test]
fn an_escaped_character_bounds_a_class_range_as_itself() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    for topic in ["x-", "x.", "x5", "xA", "x_"] {
        log.create_topic(topic, TopicConfig::new(1)).unwrap();
    }
    let mut consumer = log.consumer(earliest(None)).unwrap();
    // `\-` to `\.` is '-' (45) to '.' (46); `\.` to `9` is 46 to 57.
    consumer.subscribe_pattern(r"x[\--\.]").unwrap();
    assert_eq!(consumer.subscription(), ["x-", "x."]);
    consumer.subscribe_pattern(r"x[\.-9]").unwrap();
    assert_eq!(consumer.subscription(), ["x.", "x5"]);
    // A class such as `\d` bounds no range: refused by name.
    let error = consumer.subscribe_pattern(r"x[\d-z]").unwrap_err();
    assert!(matches!(error, Error::InvalidArgument { name: "pattern", .. }), "{error}");
}
