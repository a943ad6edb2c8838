//! A read-only log on a compacted topic: a reader opened after compaction
//! sees exactly what the owner reads (the latest record per key in the
//! compacted segments, holes stepped over by reads, batches, iterators and
//! consumers), and a reader opened before keeps reading genuine records —
//! the old segment it maps, or the compacted one once it looks again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use larder::clock::ManualClock;
use larder::{AutoOffsetReset, CleanupPolicy, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord};
use larder::{TopicConfig, TopicPartition};

const T0: i64 = 1_700_000_000_000;

fn produce(log: &Log, keys: u32, rounds: u32) {
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for round in 0..rounds {
        for key in 0..keys {
            let (key, value) = (format!("k{key}"), format!("k{key}={round}"));
            let record = ProducerRecord::new("t", value.as_bytes()).key(key.as_bytes()).partition(0);
            producer.send_direct(&record.timestamp(T0 + i64::from(round))).unwrap();
        }
    }
}

/// `(offset, value)` of every record from the start, through `iter_from`.
fn read_all(log: &Log) -> Vec<(u64, String)> {
    let partition = log.partition("t", 0).unwrap();
    partition.refresh().unwrap();
    let value = |r: &larder::record::Record| String::from_utf8(r.value().unwrap().to_vec()).unwrap();
    partition.iter_from(partition.log_start_offset()).map(|r| r.map(|r| (r.offset(), value(&r))).unwrap()).collect()
}

#[test]
fn a_reader_sees_what_the_owner_sees_of_a_compacted_topic() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000_000));
    let options = LogOptions::default().clock(clock).cleaner_interval(Duration::from_secs(3600));
    let owner = Log::open(dir.path(), options).unwrap();
    let config =
        TopicConfig::new(1).segment_bytes(1024).cleanup_policy(CleanupPolicy::Compact).min_cleanable_dirty_ratio(0.0);
    owner.create_topic("t", config).unwrap();
    produce(&owner, 10, 30);
    // The cleaner (woken by rolls) may compact from here on.
    let before = Log::open_read_only(dir.path()).unwrap();
    assert!(read_all(&before).len() <= 300);
    owner.run_cleaner().unwrap();
    let expected = read_all(&owner);
    assert!(expected.len() < 300, "the owner compacted");

    let after = Log::open_read_only(dir.path()).unwrap();
    assert_eq!(read_all(&after), expected, "a reader opened after compaction");
    // Reads at compacted offsets return the next survivor; batches cross holes.
    let partition = after.partition("t", 0).unwrap();
    let owned = owner.partition("t", 0).unwrap();
    for offset in 0..owned.end_offset() {
        assert_eq!(partition.read(offset).unwrap().offset(), owned.read(offset).unwrap().offset(), "read({offset})");
    }
    let mut consumer = after.consumer(ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest)).unwrap();
    consumer.assign(&[TopicPartition::new("t", 0)]).unwrap();
    let mut polled = Vec::new();
    for _ in 0..20 {
        polled.extend(consumer.poll(Duration::from_millis(50)).unwrap().iter().map(|r| r.offset()));
    }
    assert_eq!(polled, expected.iter().map(|(o, _)| *o).collect::<Vec<_>>(), "a consumer crosses the holes");

    // The reader opened before: every record it reads is genuine (the
    // latest value per key it returns is the owner's), old or compacted.
    let latest: BTreeMap<String, String> =
        read_all(&before).into_iter().map(|(_, v)| (v.split('=').next().unwrap().to_string(), v)).collect();
    let owner_latest: BTreeMap<String, String> =
        expected.into_iter().map(|(_, v)| (v.split('=').next().unwrap().to_string(), v)).collect();
    assert_eq!(latest, owner_latest);
    drop(consumer);
    before.close().unwrap();
    after.close().unwrap();
    owner.close().unwrap();

    // `larder verify` and `larder dump` know compacted segments too.
    use larder::inspect::{dump_file, verify_log, DumpOptions, Severity};
    let problems: Vec<_> =
        verify_log(dir.path()).unwrap().into_iter().filter(|f| f.severity == Severity::Problem).collect();
    assert!(problems.is_empty(), "{problems:?}");
    let options = DumpOptions { print_data: false, index_sanity_check: true };
    for entry in std::fs::read_dir(dir.path().join("topics/t/0")).unwrap() {
        let path = entry.unwrap().path();
        if matches!(path.extension().and_then(|e| e.to_str()), Some("log" | "idx")) {
            let dump = dump_file(&path, options).unwrap();
            assert!(
                dump.findings.iter().all(|f| f.severity != Severity::Problem),
                "{}: {:?}",
                path.display(),
                dump.findings
            );
        }
    }
}
