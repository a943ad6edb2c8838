//! Committed offsets across `delete_topic` and a topic created again
//! under the same name. `delete_topic` released the topic's name before it
//! removed the topic's committed offsets from every group. A topic created again under that
//! name in between, and a commit to it acknowledged as durable, is then
//! erased by the old deletion: the group loses an acknowledged commit and
//! falls back to `auto_offset_reset` (by default `Latest`, skipping
//! records it never delivered).

mod hooked;

use hooked::{Call, Hooked};
use larder::{ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, TopicPartition};

fn commit(log: &Log, group: &str, tp: &TopicPartition, offset: u64) -> larder::Result<()> {
    let mut consumer = log.consumer(ConsumerConfig::default().group_id(group).enable_auto_commit(false))?;
    consumer.assign(std::slice::from_ref(tp))?;
    consumer.commit_offsets(&[(tp.clone(), offset)].into())
}

fn committed(log: &Log, group: &str, tp: &TopicPartition) -> Option<u64> {
    log.consumer(ConsumerConfig::default().group_id(group)).unwrap().committed(tp).unwrap()
}

#[test]
fn a_commit_to_a_recreated_topic_survives_the_old_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Hooked::new();
    let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let tp = TopicPartition::new("t", 0);
    let producer = log.producer(ProducerConfig::default()).unwrap();
    producer.send_direct(&ProducerRecord::new("t", b"old")).unwrap();
    commit(&log, "g1", &tp, 1).unwrap();
    commit(&log, "g2", &tp, 1).unwrap();

    // Hold the deletion inside its removal of g1's offsets.
    let (entered, release) = storage.park_on(|call, path| call == Call::Write && path.ends_with("g1.offsets"));
    let deleter = {
        let log = log.clone();
        std::thread::spawn(move || log.delete_topic("t"))
    };
    entered.wait();
    // The topic is created anew under the name, used and committed to: while
    // the old deletion still runs if the name is free (it was), or once it
    // returned if the create waits for it.
    let creator = {
        let log = log.clone();
        std::thread::spawn(move || log.create_topic("t", TopicConfig::new(1)))
    };
    hooked::let_finish(&creator);
    let mut deleter = Some(deleter);
    if !creator.is_finished() {
        release.wait();
        deleter.take().unwrap().join().unwrap().unwrap();
    }
    creator.join().unwrap().unwrap();
    for _ in 0..3 {
        producer.send_direct(&ProducerRecord::new("t", b"new")).unwrap();
    }
    commit(&log, "g2", &tp, 2).unwrap();
    assert_eq!(committed(&log, "g2", &tp), Some(2));
    if let Some(deleter) = deleter {
        release.wait();
        deleter.join().unwrap().unwrap();
    }
    assert_eq!(committed(&log, "g2", &tp), Some(2), "the old deletion erased a commit to the new topic");
    assert_eq!(committed(&log, "g1", &tp), None, "the old topic's commit outlived it");
}

fn sync_topic_with_records(log: &Log, records: usize) {
    log.create_topic("t", TopicConfig::new(1).durability(larder::Durability::Sync)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for _ in 0..records {
        producer.send_direct(&ProducerRecord::new("t", b"v")).unwrap();
    }
}

/// A consumer that read a topic, then outlived its deletion without a
/// poll (a loop busy with the records, say), commits on close: that commit
/// must not land on the deleted topic's partition, where the topic created
/// again under the name would start from it and skip its first records.
#[test]
fn a_commit_after_delete_topic_does_not_outlive_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    sync_topic_with_records(&log, 5);
    let tp = TopicPartition::new("t", 0);
    let config = ConsumerConfig::default().group_id("g").auto_offset_reset(larder::AutoOffsetReset::Earliest);
    let mut consumer = log.consumer(config.clone()).unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(consumer.poll(std::time::Duration::from_millis(100)).unwrap().len(), 5);
    log.delete_topic("t").unwrap();
    let closed = consumer.close();
    assert_eq!(committed(&log, "g", &tp), None, "close after delete_topic ({closed:?}) committed to the deleted topic");

    sync_topic_with_records(&log, 5);
    let mut consumer = log.consumer(config).unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    let first = consumer.poll(std::time::Duration::from_millis(100)).unwrap().iter().next().map(|r| r.offset());
    assert_eq!(first, Some(0), "the topic created again starts from the old topic's commit");
}

/// A manual commit naming a deleted topic's partition is refused by name.
#[test]
fn commit_offsets_to_a_deleted_topic_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    sync_topic_with_records(&log, 5);
    let tp = TopicPartition::new("t", 0);
    let mut consumer = log.consumer(ConsumerConfig::default().group_id("g").enable_auto_commit(false)).unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    log.delete_topic("t").unwrap();
    let refused = consumer.commit_offsets(&[(tp.clone(), 3)].into());
    assert!(matches!(&refused, Err(larder::Error::TopicDeleted { topic }) if topic == "t"), "{refused:?}");
    assert_eq!(committed(&log, "g", &tp), None);
}
