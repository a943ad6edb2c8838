//! "Handles complete in send order per partition, and so do their
//! callbacks" — also when a record of a queued batch is refused at append
//! time (the topic was altered to compacted after the send, so a keyless
//! record fails with `MissingKey`) and the batch is appended record by
//! record. On a `Sync` topic the appended records wait for the sync while
//! the refused one completes at once: its callback runs before the
//! callback of the record sent before it.

mod common;

use std::sync::{Arc, Mutex};

use larder::{CleanupPolicy, Durability, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

#[test]
fn a_record_refused_at_append_time_completes_after_the_records_sent_before_it_on_a_sync_topic() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let config = TopicConfig::new(1).durability(Durability::Sync);
    log.create_topic("t", config.clone()).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    // Held in a callback, the appender takes the next three together.
    let (_held, release) = common::hold_appender(&producer, &ProducerRecord::new("t", b"gate").key(b"g"));
    let order: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let mut handles = Vec::new();
    for (name, key) in [("first", Some(&b"a"[..])), ("keyless", None), ("third", Some(&b"c"[..]))] {
        let mut record = ProducerRecord::new("t", name.as_bytes()).partition(0);
        if let Some(key) = key {
            record = record.key(key);
        }
        let order = Arc::clone(&order);
        handles.push(producer.send_with_callback(&record, move |_| order.lock().unwrap().push(name)).unwrap());
    }
    log.alter_topic("t", config.cleanup_policy(CleanupPolicy::Compact)).unwrap();
    release.send(()).unwrap();
    producer.flush().unwrap();
    assert!(handles[0].get().is_ok() && handles[1].get().is_err() && handles[2].get().is_ok());
    assert_eq!(*order.lock().unwrap(), ["first", "keyless", "third"], "callbacks in send order");
}
