//! `alter_topic` racing `delete_topic` + `create_topic` of the same name:
//! the alteration holds the topic's name while it writes `topic.meta`, so
//! the deletion waits for it and the topic created afterwards is the new
//! one — never the new directory with the old topic's configuration (its
//! partition count), which would leave a log that no longer opens.

mod hooked;

use hooked::{Call, Hooked};
use larder::{Log, LogOptions, TopicConfig};

#[test]
fn alter_topic_racing_delete_and_create_never_writes_into_the_new_topic() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Hooked::fast();
    let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
    log.create_topic("t", TopicConfig::new(3)).unwrap();
    // Park the alteration as it writes the new topic.meta.
    let (entered, release) =
        storage.park_on(|call, path| call == Call::Create && path.ends_with("topics/t/topic.meta.tmp"));
    let alterer = {
        let log = log.clone();
        std::thread::spawn(move || log.alter_topic("t", TopicConfig::new(3).retention_ms(60_000)))
    };
    entered.wait();
    let replacer = {
        let log = log.clone();
        std::thread::spawn(move || log.delete_topic("t").and_then(|()| log.create_topic("t", TopicConfig::new(1))))
    };
    hooked::let_finish(&replacer);
    release.wait();
    let altered = alterer.join().unwrap();
    let replaced = replacer.join().unwrap();
    storage.clear();
    assert!(altered.is_ok() && replaced.is_ok(), "alter {altered:?}, delete and create {replaced:?}");

    let check = |log: &Log| {
        let described = log.describe_topic("t").unwrap();
        assert_eq!(described.partitions.len(), 1);
        assert_eq!(described.config.retention(), (None, None), "the new topic got the old topic's alteration");
    };
    check(&log);
    log.close().unwrap();
    check(&Log::open(dir.path(), LogOptions::default()).unwrap());
}
