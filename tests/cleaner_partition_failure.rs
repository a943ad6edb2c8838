//! A cleaner pass that fails on one partition of a topic still cleans the
//! topic's other partitions (Kafka's cleaner sets an uncleanable partition
//! aside and goes on): one partition's failure must not stop retention, or
//! compaction, everywhere else in its topic.

use std::sync::Arc;
use std::time::Duration;

use larder::clock::ManualClock;
use larder::{CleanupPolicy, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

const T0: i64 = 1_700_000_000_000;

#[test]
fn a_partition_the_cleaner_cannot_compact_does_not_stop_retention_of_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let options =
        LogOptions::default().clock(clock.clone()).cleaner_interval(Duration::from_secs(3600)).cleaner_map_bytes(4096);
    let log = Log::open(dir.path(), options).unwrap();
    let config =
        TopicConfig::new(2).cleanup_policy(CleanupPolicy::CompactDelete).retention_ms(60_000).segment_bytes(64 * 1024);
    log.create_topic("t", config).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    // Partition 0: segments of thousands of distinct keys, more than the
    // smallest key map holds, stamped half a minute before the pass (not
    // expired). Partition 1: one key, over and over, long expired.
    let now = T0 + 10_000_000;
    for n in 0..6_000u64 {
        let key = format!("k{n}");
        let record = ProducerRecord::new("t", b"v").key(key.as_bytes()).partition(0).timestamp(now - 30_000);
        producer.send_direct(&record).unwrap();
        let record = ProducerRecord::new("t", b"v").key(b"same").partition(1).timestamp(T0 + n as i64);
        producer.send_direct(&record).unwrap();
    }
    producer.close();
    let (p0, p1) = (log.partition("t", 0).unwrap(), log.partition("t", 1).unwrap());
    assert!(p0.segment_count() >= 3 && p1.segment_count() >= 3);

    clock.set(now);
    let error = log.run_cleaner().unwrap_err();
    assert!(matches!(error, Error::InvalidArgument { name: "cleaner_map_bytes", .. }), "{error}");
    assert_eq!(p0.log_start_offset(), 0);
    // Partition 1, after it, is cleaned all the same.
    assert_eq!(
        p1.log_start_offset(),
        *p1.segment_base_offsets().last().unwrap(),
        "partition 1's expired segments were kept because partition 0 failed"
    );
}
