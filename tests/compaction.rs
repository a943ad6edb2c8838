//! Log compaction (Kafka's `cleanup.policy=compact`) as Kafka's cleaner
//! tests exercise it: the latest value per key survives across many
//! segments, offsets never change and reads step over holes, tombstones
//! expire after `delete_retention_ms`, `min_compaction_lag_ms` protects
//! young records, a bounded key map compacts in several passes, compaction
//! races readers and appends, and a crash or power cut at any step of the
//! swap leaves the old segment or the new one, never a mix.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use larder::clock::ManualClock;
use larder::storage::fault::{Fault, FaultError, FileCall, SimStorage};
use larder::{
    AutoOffsetReset, CleanupPolicy, ConsumerConfig, Error, Log, LogOptions, ProducerConfig, ProducerRecord,
    TopicConfig, TopicPartition,
};

const T0: i64 = 1_700_000_000_000;

fn options(clock: &Arc<ManualClock>) -> LogOptions {
    LogOptions::default().clock(clock.clone()).cleaner_interval(Duration::from_secs(3600))
}

fn compacted_topic() -> TopicConfig {
    TopicConfig::new(1).segment_bytes(1024).cleanup_policy(CleanupPolicy::Compact).min_cleanable_dirty_ratio(0.0)
}

/// Sends `rounds` rounds of one record per key (`k0..k{keys}`), values
/// `"{key}={round}"`, stamped `T0 + offset`; returns the latest offset per key.
fn produce(log: &Log, keys: u32, rounds: u32) -> BTreeMap<String, u64> {
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let mut latest = BTreeMap::new();
    for round in 0..rounds {
        for key in 0..keys {
            let key = format!("k{key}");
            let value = format!("{key}={round}");
            let offset = log.partition("t", 0).unwrap().end_offset();
            let record = ProducerRecord::new("t", value.as_bytes()).key(key.as_bytes()).partition(0);
            let metadata = producer.send_direct(&record.timestamp(T0 + offset as i64)).unwrap();
            latest.insert(key, metadata.offset);
        }
    }
    producer.close();
    latest
}

/// Every record from the log start on, as (offset, key, value).
fn read_all(log: &Log) -> Vec<(u64, String, Option<String>)> {
    let partition = log.partition("t", 0).unwrap();
    let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
    partition
        .iter_from(partition.log_start_offset())
        .map(|r| {
            let r = r.unwrap();
            (r.offset(), text(r.key()).unwrap(), text(r.value()))
        })
        .collect()
}

/// What compaction must leave: offsets increasing, each record unchanged
/// at its offset, every key's latest record present, and in the sealed
/// part below `clean_end` no key twice.
fn assert_compacted(records: &[(u64, String, Option<String>)], latest: &BTreeMap<String, u64>, clean_end: u64) {
    assert!(records.windows(2).all(|w| w[0].0 < w[1].0), "offsets not increasing");
    let mut seen = HashMap::new();
    for (offset, key, _) in records.iter().filter(|r| r.0 < clean_end) {
        assert!(seen.insert(key.clone(), *offset).is_none(), "{key} twice below {clean_end}");
    }
    for (key, offset) in latest {
        let found = records.iter().find(|r| r.0 == *offset).unwrap_or_else(|| panic!("latest {key} at {offset} lost"));
        assert_eq!(&found.1, key);
    }
}

#[test]
fn compaction_keeps_the_latest_value_per_key_across_many_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000_000));
    let log = Log::open(dir.path(), options(&clock)).unwrap();
    log.create_topic("t", compacted_topic()).unwrap();
    let latest = produce(&log, 20, 30);
    let partition = log.partition("t", 0).unwrap();
    let segments = partition.segment_base_offsets();
    assert!(segments.len() > 10);
    let before: Vec<_> = (0..600)
        .map(|n| {
            let key = format!("k{}", n % 20);
            let value = format!("{key}={}", n / 20);
            (n, key, Some(value))
        })
        .collect();
    // (The cleaner, woken by each roll, may have compacted some already.)
    log.run_cleaner().unwrap();
    let after = read_all(&log);
    assert!(after.len() < 200, "{} records left", after.len());
    let active = *partition.segment_base_offsets().last().unwrap();
    assert_compacted(&after, &latest, active);
    // Nothing moved: each surviving record is the one that was there.
    for record in &after {
        assert!(before.contains(record), "{record:?} changed");
    }
    assert_eq!(partition.end_offset(), 600);
    assert_eq!(partition.segment_base_offsets(), segments, "segments keep their bases");
    // A second pass finds nothing dirty.
    assert_eq!(log.run_cleaner().unwrap().records_compacted, 0);

    // The same after a clean close and after a crash.
    log.close().unwrap();
    let log = Log::open(dir.path(), options(&clock)).unwrap();
    assert_eq!(read_all(&log), after);
    log.simulate_crash();
    let log = Log::open(dir.path(), options(&clock)).unwrap();
    assert_eq!(read_all(&log), after);
    assert_eq!(log.partition("t", 0).unwrap().end_offset(), 600);
}

#[test]
fn reads_at_compacted_offsets_return_the_next_survivor_and_consumers_cross_holes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000_000));
    let log = Log::open(dir.path(), options(&clock)).unwrap();
    log.create_topic("t", compacted_topic()).unwrap();
    let latest = produce(&log, 5, 40);
    log.run_cleaner().unwrap();
    let after = read_all(&log);
    let partition = log.partition("t", 0).unwrap();
    let survivors: Vec<u64> = after.iter().map(|r| r.0).collect();
    for offset in 0..partition.end_offset() {
        let next = *survivors.iter().find(|&&s| s >= offset).unwrap();
        assert_eq!(partition.read(offset).unwrap().offset(), next, "read at {offset}");
        let batch = partition.read_batch(offset, 3).unwrap();
        assert_eq!(batch.first_offset(), next);
        let offsets: Vec<u64> = batch.iter().map(|r| r.offset()).collect();
        let expected: Vec<u64> = survivors.iter().copied().filter(|&s| s >= offset).take(offsets.len()).collect();
        assert_eq!(offsets, expected);
        assert!(batch.next_offset() > *offsets.last().unwrap());
    }
    // offsets_for_times names the first survivor at or after the time.
    for offset in [0, 7, 50, 120, 199] {
        let expected = *survivors.iter().find(|&&s| s >= offset).unwrap();
        assert_eq!(partition.offset_for_timestamp(T0 + offset as i64).unwrap(), Some(expected));
    }

    // A consumer from the beginning sees exactly the survivors, then lag 0.
    let config =
        ConsumerConfig::default().group_id("g").auto_offset_reset(AutoOffsetReset::Earliest).enable_auto_commit(false);
    let mut consumer = log.consumer(config).unwrap();
    let tp = TopicPartition::new("t", 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    let mut seen = Vec::new();
    while seen.len() < survivors.len() {
        seen.extend(consumer.poll(Duration::from_millis(100)).unwrap().iter().map(|r| r.offset()));
    }
    assert_eq!(seen, survivors);
    assert_eq!(consumer.position(&tp).unwrap(), 200);
    assert_eq!(consumer.lag(&tp).unwrap(), 0);
    consumer.commit().unwrap();
    assert_eq!(consumer.committed(&tp).unwrap(), Some(200));
    assert_eq!(latest.len(), 5);
}

#[test]
fn tombstones_delete_a_key_and_expire_after_delete_retention_ms() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000));
    let log = Log::open(dir.path(), options(&clock)).unwrap();
    log.create_topic("t", compacted_topic().delete_retention_ms(60_000)).unwrap();
    produce(&log, 10, 5);
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let partition = log.partition("t", 0).unwrap();
    for key in ["k3", "k7"] {
        let at = T0 + partition.end_offset() as i64;
        producer.send_direct(&ProducerRecord::tombstone("t", key.as_bytes()).partition(0).timestamp(at)).unwrap();
    }
    // More records after, so the tombstones are in sealed segments.
    let more = b"filler".repeat(10);
    for n in 0..40u64 {
        let at = T0 + partition.end_offset() as i64;
        let key = format!("f{n}");
        producer.send_direct(&ProducerRecord::new("t", &more).key(key.as_bytes()).partition(0).timestamp(at)).unwrap();
    }
    log.run_cleaner().unwrap();
    let keys = |records: &[(u64, String, Option<String>)]| {
        records.iter().filter(|r| r.1 == "k3" || r.1 == "k7").map(|r| r.2.clone()).collect::<Vec<_>>()
    };
    // The deleted keys' values are gone; their tombstones stay a while.
    assert_eq!(keys(&read_all(&log)), vec![None, None]);
    clock.advance(120_000);
    // Kafka's rule: a log is cleaned again once it has new (dirty) data.
    for n in 0..40u64 {
        let at = T0 + 120_000 + partition.end_offset() as i64;
        let key = format!("g{n}");
        producer.send_direct(&ProducerRecord::new("t", &more).key(key.as_bytes()).partition(0).timestamp(at)).unwrap();
    }
    log.run_cleaner().unwrap();
    assert_eq!(keys(&read_all(&log)), Vec::<Option<String>>::new(), "expired tombstones removed");
    assert!(read_all(&log).iter().any(|r| r.1 == "k4"), "other keys stay");
}

#[test]
fn min_compaction_lag_protects_young_records_and_the_key_map_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = Log::open(dir.path(), options(&clock).cleaner_map_bytes(4096)).unwrap();
    log.create_topic("t", compacted_topic().min_compaction_lag_ms(100_000)).unwrap();
    let latest = produce(&log, 200, 3);
    // Records are stamped T0.. T0+600: none is 100 s old yet.
    assert_eq!(log.run_cleaner().unwrap().records_compacted, 0);
    clock.set(T0 + 100_600);
    // 4 KiB of key map holds ~100 keys: each pass compacts what it holds,
    // and repeated passes get to the whole log.
    let mut passes = 0;
    while log.run_cleaner().unwrap().partitions_compacted > 0 {
        passes += 1;
        assert!(passes < 100);
    }
    assert!(passes > 1, "the bounded map took several passes");
    let active = *log.partition("t", 0).unwrap().segment_base_offsets().last().unwrap();
    let after = read_all(&log);
    for (key, offset) in &latest {
        assert!(after.iter().any(|r| r.0 == *offset && &r.1 == key), "{key}");
    }
    assert!(after.iter().filter(|r| r.0 < active).count() < 600);
}

#[test]
fn truncation_into_a_compacted_segment_keeps_its_survivors_below_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000_000));
    let log = Log::open(dir.path(), options(&clock)).unwrap();
    log.create_topic("t", compacted_topic()).unwrap();
    produce(&log, 4, 60);
    log.run_cleaner().unwrap();
    let after = read_all(&log);
    let partition = log.partition("t", 0).unwrap();
    let cut = after[after.len() / 3].0 + 1;
    partition.truncate_to(cut).unwrap();
    assert_eq!(partition.end_offset(), cut);
    let expected: Vec<_> = after.iter().filter(|r| r.0 < cut).cloned().collect();
    assert_eq!(read_all(&log), expected);
    let producer = log.producer(ProducerConfig::default()).unwrap();
    assert_eq!(producer.send_direct(&ProducerRecord::new("t", b"v").key(b"k0").partition(0)).unwrap().offset, cut);
    drop(partition);
    log.simulate_crash();
    let log = Log::open(dir.path(), options(&clock)).unwrap();
    assert_eq!(read_all(&log).len(), expected.len() + 1);
}

#[test]
fn compaction_racing_readers_appends_and_truncation_loses_nothing_latest() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000_000_000));
    let log = Log::open(dir.path(), options(&clock)).unwrap();
    log.create_topic("t", compacted_topic()).unwrap();
    let latest = Arc::new(parking_lot::Mutex::new(produce(&log, 30, 10)));
    std::thread::scope(|scope| {
        let (log_w, latest_w) = (&log, &latest);
        scope.spawn(move || {
            let producer = log_w.producer(ProducerConfig::default()).unwrap();
            for n in 0..600u32 {
                let key = format!("k{}", n % 30);
                let value = format!("{key}=late{n}");
                let record = ProducerRecord::new("t", value.as_bytes()).key(key.as_bytes()).partition(0);
                let metadata = producer.send_direct(&record.timestamp(T0)).unwrap();
                latest_w.lock().insert(key, metadata.offset);
            }
        });
        scope.spawn(|| {
            for _ in 0..30 {
                log.run_cleaner().unwrap();
            }
        });
        scope.spawn(|| {
            // Readers hold records across swaps: the bytes stay valid.
            let partition = log.partition("t", 0).unwrap();
            for _ in 0..30 {
                let held: Vec<_> = partition.iter_from(0).map(|r| r.unwrap()).collect();
                assert!(held.windows(2).all(|w| w[0].offset() < w[1].offset()));
                for record in &held {
                    assert!(record.key().unwrap().starts_with(b"k"));
                    let value = String::from_utf8(record.value().unwrap().to_vec()).unwrap();
                    assert!(value.starts_with(std::str::from_utf8(record.key().unwrap()).unwrap()));
                }
            }
        });
    });
    log.run_cleaner().unwrap();
    let active = *log.partition("t", 0).unwrap().segment_base_offsets().last().unwrap();
    assert_compacted(&read_all(&log), &latest.lock(), active);
}

/// A crash — and then a power cut — at each step of a compaction: the log
/// reopens without repair, and holds either the compacted or the original
/// records of each segment, with every latest value.
#[test]
fn a_crash_at_any_step_of_the_swap_leaves_the_old_segment_or_the_new_one() {
    let mut steps = 0;
    for call in [FileCall::Create, FileCall::Write, FileCall::Sync, FileCall::Rename, FileCall::SyncDir] {
        for nth in 1..=14 {
            for power_cut in [false, true] {
                let disk = Arc::new(SimStorage::new());
                let clock = Arc::new(ManualClock::new(T0 + 1_000_000));
                let dir = tempfile::tempdir().unwrap();
                let open = || Log::open(dir.path(), options(&clock).storage(disk.clone())).unwrap();
                let log = open();
                log.create_topic("t", compacted_topic()).unwrap();
                let latest = produce(&log, 8, 25);
                log.partition("t", 0).unwrap().sync().unwrap();
                let before = read_all(&log);
                disk.schedule(Fault { call, nth, error: FaultError::Eio, sticky: true });
                let failed = log.run_cleaner().is_err();
                steps += usize::from(failed);
                disk.clear_faults();
                log.simulate_crash();
                if power_cut {
                    disk.power_cut(nth).unwrap();
                }
                let log = open();
                let after = read_all(&log);
                assert_compacted(&after, &latest, 0);
                for record in &after {
                    assert!(before.contains(record), "{call:?} #{nth}: {record:?} is not one of the originals");
                }
                assert_eq!(log.partition("t", 0).unwrap().end_offset(), 200, "{call:?} #{nth}");
                // And compaction completes from there.
                log.run_cleaner().unwrap();
                let active = *log.partition("t", 0).unwrap().segment_base_offsets().last().unwrap();
                assert_compacted(&read_all(&log), &latest, active);
            }
        }
    }
    assert!(steps > 20, "faults hit compaction steps ({steps})");
}

/// The key map counts distinct keys: two keys over segments of thousands of
/// records fit the smallest map. A dirty segment with more distinct keys
/// than the map holds fails the pass with a typed error naming the setting
/// (no pass could ever progress), and nothing is lost.
#[test]
fn the_key_map_counts_keys_not_records_and_a_map_too_small_is_an_error() {
    for (keys, fits) in [(2u64, true), (1_000, false)] {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(T0 + 1_000_000));
        let log = Log::open(dir.path(), options(&clock).cleaner_map_bytes(4096)).unwrap();
        log.create_topic("t", compacted_topic().segment_bytes(64 * 1024)).unwrap();
        let producer = log.producer(ProducerConfig::default()).unwrap();
        for n in 0..6_000u64 {
            let key = format!("k{}", n % keys);
            let record = ProducerRecord::new("t", b"v").key(key.as_bytes()).partition(0).timestamp(T0 + n as i64);
            producer.send_direct(&record).unwrap();
        }
        producer.close();
        let partition = log.partition("t", 0).unwrap();
        assert!(partition.segment_count() >= 3);
        let passed = log.run_cleaner();
        let left = read_all(&log);
        if fits {
            passed.unwrap();
            let active = *partition.segment_base_offsets().last().unwrap();
            assert!(left.iter().filter(|r| r.0 < active).count() <= 2, "{} left below {active}", left.len());
        } else {
            let error = passed.unwrap_err();
            assert!(matches!(error, Error::InvalidArgument { name: "cleaner_map_bytes", .. }), "{error}");
            assert_eq!(left.len(), 6_000, "nothing removed");
        }
        assert_eq!(partition.end_offset(), 6_000);
    }
}
