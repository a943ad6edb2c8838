//! The appender gives a record's room back (the producer's
//! `buffer_memory`, the topic's buffer) once it is done with the record,
//! just after its acknowledgement: not only once the whole drain, its
//! syncs, callbacks and flushes are through. (The topic's buffer during
//! callbacks: tests/room_during_callbacks.rs.)

mod common;

use std::time::Duration;

use larder::record::NewRecord;
use larder::{Durability, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

/// A callback of a `Sync` topic runs once the drain's records are appended
/// and synced: their room in `buffer_memory` is free by then, so a send
/// from the callback (which never waits) finds it.
#[test]
fn a_sync_topics_callback_sends_into_the_room_its_record_gave_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1).durability(Durability::Sync)).unwrap();
    let value = [7u8; 1000];
    let frame = (NewRecord::OVERHEAD_BYTES + value.len()) as u64;
    // Room for one record only.
    let producer = log.producer(ProducerConfig::default().buffer_memory(frame)).unwrap();
    let (sent, outcome) = crossbeam_channel::bounded(1);
    let again = producer.clone();
    let first = producer
        .send_with_callback(&ProducerRecord::new("t", &value), move |result| {
            assert!(result.is_ok(), "{result:?}");
            let buffered = again.stats().buffered_bytes;
            let second =
                again.send(&ProducerRecord::new("t", &value)).map(|handle| handle.is_done().then(|| handle.get()));
            sent.send((buffered, second)).unwrap();
        })
        .unwrap();
    assert_eq!(first.get().unwrap().offset, 0);
    let (buffered, second) = outcome.recv_timeout(Duration::from_secs(10)).unwrap();
    // Still holding the first record's room, the second send is refused.
    let refused = matches!(second, Ok(Some(Err(Error::BufferExhausted { .. }))));
    assert!(!refused, "buffered {buffered} of {frame} in the callback: {second:?}");
    assert_eq!(buffered, 0);
    producer.flush().unwrap();
    assert_eq!(log.partition("t", 0).unwrap().end_offset(), 2);
}

/// By the time a flush returns, every record sent before it is appended
/// and its room given back.
#[test]
fn buffered_bytes_are_zero_once_a_flush_returns() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(4)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let value = [5u8; 100];
    for round in 0..50 {
        for n in 0..2_000u32 {
            producer.send(&ProducerRecord::new("t", &value).partition(n % 4)).unwrap();
        }
        producer.flush().unwrap();
        let stats = producer.stats();
        assert_eq!((stats.queued_records, stats.buffered_bytes), (0, 0), "round {round}");
    }
}
