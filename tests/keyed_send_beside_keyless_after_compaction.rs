//! A topic altered to compacted while records are queued refuses the
//! keyless ones with `MissingKey`; a record with a key queued beside them
//! (appended in the same batch) is appended all the same.

mod hooked;

use hooked::{Call, Hooked};
use larder::{CleanupPolicy, Durability, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

#[test]
fn a_keyed_record_queued_beside_a_keyless_one_is_appended_when_the_topic_becomes_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Hooked::new();
    let log = Log::open(dir.path(), LogOptions::default().storage(storage.clone())).unwrap();
    let config = TopicConfig::new(1).durability(Durability::Sync);
    log.create_topic("t", config.clone()).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();

    // The appender parks in the fdatasync of a first record, so the next
    // two queue up behind it and are drained together.
    let (entered, release) =
        storage.park_on(|call, path| call == Call::Sync && path.extension().is_some_and(|e| e == "log"));
    let first = producer.send(&ProducerRecord::new("t", b"first").key(b"a").partition(0)).unwrap();
    entered.wait();
    let keyed = producer.send(&ProducerRecord::new("t", b"keyed").key(b"b").partition(0)).unwrap();
    let keyless = producer.send(&ProducerRecord::new("t", b"keyless").partition(0)).unwrap();
    log.alter_topic("t", config.cleanup_policy(CleanupPolicy::Compact)).unwrap();
    release.wait();

    assert_eq!(first.get().unwrap().offset, 0);
    let refused = keyless.get();
    assert!(matches!(refused, Err(Error::MissingKey { .. })), "{refused:?}");
    let appended = keyed.get();
    assert_eq!(appended.as_ref().map(|m| m.offset).ok(), Some(1), "a record with a key was refused: {appended:?}");
    let partition = log.partition("t", 0).unwrap();
    assert_eq!(partition.read(1).unwrap().key(), Some(&b"b"[..]));
}
