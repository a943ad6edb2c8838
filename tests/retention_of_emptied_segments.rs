//! On a `compact,delete` topic, a sealed segment that compaction emptied
//! (every offset a hole) is still judged by time retention: its header keeps
//! the newest timestamp of the records it replaced, so `retention_ms`
//! removes it, and everything after it, once that is old enough — and not
//! before.

use std::sync::Arc;
use std::time::Duration;

use larder::clock::ManualClock;
use larder::{CleanupPolicy, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

const T0: i64 = 1_700_000_000_000;

#[test]
fn retention_ms_stops_at_a_segment_compaction_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000));
    let options = LogOptions::default().clock(clock.clone()).cleaner_interval(Duration::from_secs(3600));
    let log = Log::open(dir.path(), options).unwrap();
    let config = TopicConfig::new(1)
        .segment_bytes(1024)
        .cleanup_policy(CleanupPolicy::CompactDelete)
        .min_cleanable_dirty_ratio(0.0)
        .retention_ms(60_000);
    log.create_topic("t", config).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..120i64 {
        let key = format!("k{}", n % 4);
        let record = ProducerRecord::new("t", b"value").key(key.as_bytes()).partition(0).timestamp(T0 + n);
        producer.send_direct(&record).unwrap();
    }
    producer.close();
    let partition = log.partition("t", 0).unwrap();
    let bases = partition.segment_base_offsets();
    assert!(bases.len() > 4, "{bases:?}");
    // Nothing is a minute old yet: compaction only. The first segments
    // hold no latest value of any key, and are left all holes.
    log.run_cleaner().unwrap();
    assert_eq!(partition.log_start_offset(), 0);
    assert!(partition.read(0).unwrap().offset() >= bases[1], "segment 0 emptied");

    // Every record is now far older than retention_ms: every sealed
    // segment goes (Kafka judges an empty segment by its file's time).
    clock.set(T0 + 10_000_000);
    // (The cleaner thread, woken by earlier rolls, may make this pass.)
    log.run_cleaner().unwrap();
    let active = *partition.segment_base_offsets().last().unwrap();
    assert_eq!(partition.log_start_offset(), active, "all sealed segments expired");
}
