//! A `PartitionIter` caches the segment of the last record it read. A
//! compaction swaps that segment out of the partition without retiring
//! it; a later truncation retires only the compacted replacement. The
//! iterator keeps reading the pre-compaction segment, and returns records
//! that the truncation removed instead of the ones appended after it.

use std::sync::Arc;
use std::time::Duration;

use larder::clock::ManualClock;
use larder::{CleanupPolicy, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

const T0: i64 = 1_700_000_000_000;

#[test]
fn iterator_reads_truncated_records_through_a_segment_compaction_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000_000));
    let options = LogOptions::default().clock(clock.clone()).cleaner_interval(Duration::from_secs(3600));
    let log = Log::open(dir.path(), options).unwrap();
    // Delete policy without limits: nothing is removed until the alter.
    let config = TopicConfig::new(1).segment_bytes(1024);
    log.create_topic("t", config.clone()).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..60u64 {
        let key = format!("k{}", n % 4);
        let value = format!("old{n}");
        let record =
            ProducerRecord::new("t", value.as_bytes()).key(key.as_bytes()).partition(0).timestamp(T0 + n as i64);
        producer.send_direct(&record).unwrap();
    }
    let partition = log.partition("t", 0).unwrap();
    let bases = partition.segment_base_offsets();
    assert!(bases.len() > 2, "{bases:?}");
    let first_end = bases[1];
    assert!(first_end > 6, "first segment holds {first_end} records");

    // The iterator reads offset 0: it now caches the first segment.
    let mut iter = partition.iter_from(0);
    assert_eq!(iter.next().unwrap().unwrap().offset(), 0);

    log.alter_topic("t", config.cleanup_policy(CleanupPolicy::Compact).min_cleanable_dirty_ratio(0.0)).unwrap();
    let report = log.run_cleaner().unwrap();
    let _ = report;
    // The first segment was compacted (each of its keys reappears later).
    assert!(partition.read(1).unwrap().offset() > 1, "offset 1 compacted away");

    // Truncate inside the first (compacted) segment, then append anew.
    let cut = 4;
    partition.truncate_to(cut).unwrap();
    for n in 0..10u64 {
        let value = format!("new{n}");
        let record = ProducerRecord::new("t", value.as_bytes()).key(b"k9").partition(0).timestamp(T0 + 100 + n as i64);
        assert_eq!(producer.send_direct(&record).unwrap().offset, cut + n);
    }
    producer.close();
    // The partition itself reads the new records.
    assert_eq!(partition.read(cut).unwrap().value(), Some(&b"new0"[..]));

    // The iterator must too: every record at or after the cut is a new one.
    let rest: Vec<(u64, String)> = iter
        .map(|r| r.unwrap())
        .map(|r| (r.offset(), String::from_utf8(r.value().unwrap().to_vec()).unwrap()))
        .collect();
    let stale: Vec<_> = rest.iter().filter(|(offset, value)| *offset >= cut && value.starts_with("old")).collect();
    assert!(stale.is_empty(), "the iterator returned truncated records: {stale:?} (all: {rest:?})");
}
