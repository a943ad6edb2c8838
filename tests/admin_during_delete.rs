//! Admin calls on one topic racing its `delete_topic`. `add_partitions`
//! looks the topic up, then opens its new partitions: a deletion in
//! between must not let it create the topic's directory again (a
//! directory with partitions but not partition 0 makes every later
//! `Log::open` fail), nor leave partitions open in a deleted topic.

mod hooked;

use std::path::Path;

use hooked::{Call, Hooked};
use larder::{Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

#[test]
fn add_partitions_racing_delete_topic_leaves_the_log_openable() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Hooked::new();
    let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    log.producer(ProducerConfig::default()).unwrap().send_direct(&ProducerRecord::new("t", b"v")).unwrap();
    // Park add_partitions as it creates the new partition's directory.
    let (entered, release) =
        storage.park_on(|call, path| call == Call::CreateDir && path.ends_with(Path::new("topics/t/1")));
    let grower = {
        let log = log.clone();
        std::thread::spawn(move || log.add_partitions("t", 2))
    };
    entered.wait();
    // The deletion either runs now, while the growth is parked in its file
    // work, or waits for it; either way the outcome must be sound.
    let deleter = {
        let log = log.clone();
        std::thread::spawn(move || log.delete_topic("t"))
    };
    // Let the deletion finish while the growth is parked, if it does not
    // wait for the growth (then it is done within a few milliseconds).
    hooked::let_finish(&deleter);
    release.wait();
    let grown = grower.join().unwrap();
    let deleted = deleter.join().unwrap();
    storage.clear();
    assert!(deleted.is_ok(), "delete_topic: {deleted:?} (add_partitions: {grown:?})");
    assert_eq!(log.list_topics(), Vec::<String>::new());
    log.close().unwrap();
    let reopened = Log::open(dir.path(), LogOptions::default());
    assert!(reopened.is_ok(), "after add_partitions ({grown:?}) raced delete_topic, open fails: {:?}", reopened.err());
    assert_eq!(reopened.unwrap().list_topics(), Vec::<String>::new(), "the deleted topic came back");
}
