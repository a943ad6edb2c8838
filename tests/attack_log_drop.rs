//! `Log`'s documentation: "the directory stays locked until the last
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
