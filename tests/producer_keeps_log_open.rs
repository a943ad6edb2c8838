//! A producer keeps the log it was made from open. `Log`'s documentation: "the directory stays locked until the last
//! clone, and every producer made from it, is gone (or `Log::close` is
//! called)". Dropping the last `Log` handle while a producer is alive
//! closes everything at once instead: the producer's sends fail with
//! `Closed` and the directory can be opened by someone else meanwhile.

use larder::{Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

#[test]
fn a_producer_keeps_its_log_open_after_the_log_handle_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    drop(log);
    let sent = producer.send_direct(&ProducerRecord::new("t", b"v"));
    assert!(sent.is_ok(), "the producer of a dropped (not closed) log fails: {sent:?}");
    assert!(
        matches!(Log::open(dir.path(), LogOptions::default()), Err(larder::Error::Locked { .. })),
        "the directory was unlocked while a producer made from it is alive"
    );
}

#[test]
fn the_log_closes_when_its_last_producer_goes_after_the_log_handle() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    drop(log);
    producer.send(&ProducerRecord::new("t", b"queued")).unwrap();
    drop(producer); // drains the queue, then closes the log
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.partition("t", 0).unwrap().end_offset(), 1, "the queued send was lost");
}

#[test]
fn the_last_producer_dropped_in_its_own_callback_closes_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    drop(log);
    let (done, finished) = std::sync::mpsc::channel();
    let held = std::sync::Mutex::new(Some(producer.clone()));
    producer
        .send_with_callback(&ProducerRecord::new("t", b"v"), move |result| {
            assert!(result.is_ok());
            // The last handle goes on the appender thread.
            drop(held.lock().unwrap().take());
            done.send(()).unwrap();
        })
        .unwrap();
    drop(producer);
    finished.recv().unwrap();
    // Whichever handle went last closed the log before `done` was sent.
    let reopened = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(reopened.partition("t", 0).unwrap().end_offset(), 1);
}
