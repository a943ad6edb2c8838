//! A truncation during a compaction pass: the pass has built its key map
//! ("a" is latest at its second record) when a truncation to below the
//! second record starts. The truncation waits for the pass to finish, so it
//! never sees half of one; what the pass removed stays removed (compaction
//! is not undone, as `Partition::truncate_to` documents), every record the
//! pass kept below the cut is there, and the log reopens as it was.

mod hooked;

use std::sync::Arc;
use std::time::Duration;

use hooked::{Call, Hooked};
use larder::clock::ManualClock;
use larder::{CleanupPolicy, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

const T0: i64 = 1_700_000_000_000;

#[test]
fn truncation_during_a_compaction_pass_keeps_the_only_value_of_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Hooked::fast();
    let clock = Arc::new(ManualClock::new(T0 + 1_000_000));
    let options =
        LogOptions::default().clock(clock.clone()).cleaner_interval(Duration::from_secs(3600)).storage(storage.clone());
    let log = Log::open(dir.path(), options).unwrap();
    let config = TopicConfig::new(1).segment_bytes(1024);
    log.create_topic("t", config.clone()).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let partition = log.partition("t", 0).unwrap();
    let send = |key: &str, value: &str, n: i64| {
        let record = ProducerRecord::new("t", value.as_bytes()).key(key.as_bytes()).partition(0).timestamp(T0 + n);
        producer.send_direct(&record).unwrap().offset
    };
    // Key "a" at offset 0, unique keys after it, over several segments.
    assert_eq!(send("a", "first", 0), 0);
    let mut n = 1;
    while partition.segment_count() < 4 {
        send(&format!("u{n}"), "x", n);
        n += 1;
    }
    // A second "a" in the fourth segment, which is then sealed.
    let second = send("a", "second", n);
    while partition.segment_count() < 5 {
        n += 1;
        send(&format!("u{n}"), "x", n);
    }
    let bases = partition.segment_base_offsets();
    assert!(second >= bases[3] && second < bases[4], "{second} in {bases:?}");

    // The first compaction (the cleaner thread's, woken by the alteration,
    // or run_cleaner's) parks as it writes segment 0's compacted log: its
    // key map is built.
    let (entered, release) = storage.park_on(|call, path| {
        call == Call::Create && path.file_name().is_some_and(|n| n == "00000000000000000000.log.cleaned")
    });
    log.alter_topic("t", config.cleanup_policy(CleanupPolicy::Compact).min_cleanable_dirty_ratio(0.0)).unwrap();
    let cleaner = {
        let log = log.clone();
        std::thread::spawn(move || log.run_cleaner())
    };
    entered.wait();
    let cut = bases[2] + 1;
    let truncator = {
        let partition = partition.clone();
        std::thread::spawn(move || partition.truncate_to(cut))
    };
    hooked::let_finish(&truncator);
    release.wait();
    truncator.join().unwrap().unwrap();
    cleaner.join().unwrap().unwrap();
    storage.clear();
    log.run_cleaner().unwrap();
    producer.close();

    assert_eq!(partition.end_offset(), cut);
    let read = |partition: &larder::partition::Partition| -> Vec<(u64, Vec<u8>)> {
        partition.iter_from(0).map(|r| r.unwrap()).map(|r| (r.offset(), r.key().unwrap().to_vec())).collect()
    };
    // The pass finished before the cut: the first "a" went (a later "a"
    // existed then); every unique key below the cut stays, at its offset.
    let expected: Vec<(u64, Vec<u8>)> = (1..cut).map(|n| (n, format!("u{n}").into_bytes())).collect();
    assert_eq!(read(&partition), expected);
    drop(partition);
    log.close().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(read(&log.partition("t", 0).unwrap()), expected);
}
