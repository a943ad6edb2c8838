//! A record is appended and acknowledged (on a `Sync` topic, synced as
//! well) before its callback runs, whatever the topic's durability. Its
//! room in the topic's buffer must then be counted once, as stored bytes:
//! counted also as pending while the callback runs, a `DropOldest` buffer
//! the stored records fit drops the oldest segments, and a direct send
//! from the callback that fits the buffer is refused with `BufferFull`.

use std::sync::Arc;
use std::time::Duration;

use larder::{Durability, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, WhenFull};

fn drop_oldest_drops_nothing_while_a_callback_runs(durability: Durability) {
    let dir = tempfile::tempdir().unwrap();
    // Only the passes this test runs.
    let options = LogOptions::default().cleaner_interval(Duration::from_secs(3600));
    let log = Arc::new(Log::open(dir.path(), options).unwrap());
    let limit = 64 * 1024;
    let config =
        TopicConfig::new(1).durability(durability).segment_bytes(32 * 1024).buffer_bytes(limit, WhenFull::DropOldest);
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
    // The record is appended and acknowledged; a cleaner pass now (as the
    // cleaner thread may run one at any time) finds nothing over the bound.
    let report = log.run_cleaner();
    let start = log.partition("t", 0).unwrap().log_start_offset();
    release.send(()).unwrap();
    assert_eq!(handle.get().unwrap().offset, 100);
    let report = report.unwrap();
    assert_eq!((start, report.segments_deleted), (0, 0), "{durability:?}: {report:?}");
    let described = log.describe_topic("t").unwrap().partitions[0].clone();
    assert!(described.size_bytes <= limit, "{described:?}");
}

#[test]
fn a_sync_topics_drop_oldest_buffer_drops_nothing_while_an_acknowledged_records_callback_runs() {
    drop_oldest_drops_nothing_while_a_callback_runs(Durability::Sync);
}

#[test]
fn a_buffered_topics_drop_oldest_buffer_drops_nothing_while_an_acknowledged_records_callback_runs() {
    drop_oldest_drops_nothing_while_a_callback_runs(Durability::Buffered);
}

#[test]
fn an_interval_topics_drop_oldest_buffer_drops_nothing_while_an_acknowledged_records_callback_runs() {
    drop_oldest_drops_nothing_while_a_callback_runs(Durability::Interval(Duration::from_secs(3600)));
}

/// A direct send from the callback that fits the buffer goes through,
/// instead of being refused for room the acknowledged record holds twice
/// (in a callback, a send never waits for room).
fn a_direct_send_from_a_callback_finds_the_room(durability: Durability) {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions::default().cleaner_interval(Duration::from_secs(3600));
    let log = Log::open(dir.path(), options).unwrap();
    let limit = 64 * 1024;
    let config = TopicConfig::new(1).durability(durability).buffer_bytes(limit, WhenFull::Block);
    log.create_topic("t", config).unwrap();
    let producer = log.producer(ProducerConfig::default().max_block(Duration::from_secs(2))).unwrap();
    // 30 KiB sent and appended, then 20 KiB sent directly from its
    // callback: 50 KiB stored in a buffer of 64 KiB.
    let big = vec![2u8; 30 * 1024];
    let (sent, outcome) = crossbeam_channel::bounded(1);
    let again = producer.clone();
    let handle = producer
        .send_with_callback(&ProducerRecord::new("t", &big), move |result| {
            assert!(result.is_ok(), "{result:?}");
            sent.send(again.send_direct(&ProducerRecord::new("t", &[3u8; 20 * 1024]))).unwrap();
        })
        .unwrap();
    assert_eq!(handle.get().unwrap().offset, 0);
    let direct = outcome.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(direct.is_ok(), "{durability:?}: {direct:?}");
    producer.flush().unwrap();
    assert_eq!(log.partition("t", 0).unwrap().end_offset(), 2);
}

#[test]
fn a_direct_send_from_a_callback_finds_the_room_of_a_buffered_record() {
    a_direct_send_from_a_callback_finds_the_room(Durability::Buffered);
}

#[test]
fn a_direct_send_from_a_callback_finds_the_room_of_a_synced_record() {
    a_direct_send_from_a_callback_finds_the_room(Durability::Sync);
}
