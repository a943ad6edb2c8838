//! The appender gives a record's room back (the producer's
//! `buffer_memory`, the topic's buffer) once it is done with the record,
//! just after its acknowledgement: not only once the whole drain, its
//! syncs, callbacks and flushes are through.

mod common;

use std::sync::Arc;
use std::time::Duration;

use larder::record::NewRecord;
use larder::{Durability, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, WhenFull};

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

/// The topic's buffer counts a record either as sent and not appended or
/// as stored, never both: a `DropOldest` buffer that the appended records
/// fit must not drop anything, whenever the cleaner runs.
#[test]
fn a_drop_oldest_buffer_drops_nothing_while_an_appended_records_callback_runs() {
    let dir = tempfile::tempdir().unwrap();
    // Only the passes this test runs.
    let options = LogOptions::default().cleaner_interval(Duration::from_secs(3600));
    let log = Arc::new(Log::open(dir.path(), options).unwrap());
    let limit = 64 * 1024;
    let config = TopicConfig::new(1)
        .durability(Durability::Sync)
        .segment_bytes(32 * 1024)
        .buffer_bytes(limit, WhenFull::DropOldest);
    log.create_topic("t", config).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    // About 10 KiB of small records, then one of 30 KiB: 40 KiB stored in
    // a buffer of 64 KiB, nothing to drop.
    for _ in 0..100 {
        producer.send_direct(&ProducerRecord::new("t", &[1u8; 64])).unwrap();
    }
    let big = vec![2u8; 30 * 1024];
    let (entered, in_callback) = crossbeam_channel::bounded::<()>(1);
    let (release, released) = crossbeam_channel::bounded::<()>(0);
    let handle = producer
        .send_with_callback(&ProducerRecord::new("t", &big), move |result| {
            assert!(result.is_ok(), "{result:?}");
            entered.send(()).unwrap();
            let _ = released.recv();
        })
        .unwrap();
    in_callback.recv().unwrap();
    // The record is appended and synced; a cleaner pass now (as the
    // cleaner thread may run one at any time) finds nothing over the bound.
    let report = log.run_cleaner();
    let start = log.partition("t", 0).unwrap().log_start_offset();
    release.send(()).unwrap();
    assert_eq!(handle.get().unwrap().offset, 100);
    let report = report.unwrap();
    assert_eq!((start, report.segments_deleted), (0, 0), "{report:?}");
    let described = log.describe_topic("t").unwrap().partitions[0].clone();
    assert!(described.size_bytes <= limit, "{described:?}");
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

/// A `Sync` topic's callback runs once its drain's records are appended:
/// their room in the topic's buffer is stored bytes by then, not also
/// pending ones, so a direct send from the callback that fits the buffer
/// goes through at once. Counted twice, the send waits for room only the
/// appender running it could give back: out `max_block`, or for ever.
#[test]
fn a_direct_send_from_a_sync_topics_callback_does_not_wait_for_room_its_own_drain_holds() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions::default().cleaner_interval(Duration::from_secs(3600));
    let log = Log::open(dir.path(), options).unwrap();
    let limit = 64 * 1024;
    let config = TopicConfig::new(1).durability(Durability::Sync).buffer_bytes(limit, WhenFull::Block);
    log.create_topic("t", config).unwrap();
    let max_block = Duration::from_secs(2);
    let producer = log.producer(ProducerConfig::default().max_block(max_block)).unwrap();
    // 30 KiB sent and appended, then 20 KiB sent directly from its
    // callback: 50 KiB stored in a buffer of 64 KiB.
    let big = vec![2u8; 30 * 1024];
    let (sent, outcome) = crossbeam_channel::bounded(1);
    let again = producer.clone();
    let handle = producer
        .send_with_callback(&ProducerRecord::new("t", &big), move |result| {
            assert!(result.is_ok(), "{result:?}");
            let began = std::time::Instant::now();
            let direct = again.send_direct(&ProducerRecord::new("t", &[3u8; 20 * 1024]));
            sent.send((began.elapsed(), direct)).unwrap();
        })
        .unwrap();
    assert_eq!(handle.get().unwrap().offset, 0);
    let (took, direct) = outcome.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(direct.is_ok(), "after {took:?}: {direct:?}");
    assert!(took < max_block / 2, "{took:?}");
}
