//! A cleaner pass racing `delete_topic`. Compaction writes a segment's
//! `.cleaned` files into the partition's directory without the writer
//! lock; a deletion renaming the directory away meanwhile made the pass
//! fail with an I/O error (the files' directory is gone) — reported by
//! `run_cleaner` for a topic no longer there, as if the disk failed — and a
//! topic created again under the name would have had the old topic's
//! files written into its directory.

mod hooked;

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use hooked::{open_files_under, Call, Hooked};
use larder::clock::ManualClock;
use larder::{CleanupPolicy, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

/// A log (on `storage`) whose compacted topic "t" has sealed segments old
/// enough to compact, with the compaction's first cleaned log file parked
/// for the test to release.
fn parked_compaction(dir: &Path, storage: &Arc<Hooked>) -> (Log, Arc<Barrier>, Arc<Barrier>) {
    // Records are not old enough to compact until the clock moves: the
    // cleaner thread, woken by every roll, leaves them alone.
    let clock = Arc::new(ManualClock::new(0));
    let options =
        LogOptions::default().storage(storage.clone()).clock(clock.clone()).cleaner_interval(Duration::from_secs(3600));
    let log = Log::open(dir, options).unwrap();
    let config =
        TopicConfig::new(1).segment_bytes(1024).cleanup_policy(CleanupPolicy::Compact).min_cleanable_dirty_ratio(0.0);
    log.create_topic("t", config).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for n in 0..200u32 {
        let key = format!("k{}", n % 5);
        let record = ProducerRecord::new("t", b"some value").key(key.as_bytes()).timestamp(1_000 + i64::from(n));
        producer.send_direct(&record).unwrap();
    }
    producer.close();
    assert!(log.partition("t", 0).unwrap().segment_count() > 2);
    // Waits out a pass of the cleaner thread under way; none starts again.
    assert_eq!(log.run_cleaner().unwrap().partitions_compacted, 0);
    clock.set(1_000_000);
    let (entered, release) =
        storage.park_on(|call, path| call == Call::Create && path.to_string_lossy().ends_with(".log.cleaned"));
    (log, entered, release)
}

/// A pass of the cleaner on a thread of its own.
fn spawn_cleaner(log: &Log) -> std::thread::JoinHandle<larder::Result<larder::CleanerReport>> {
    let log = log.clone();
    std::thread::spawn(move || log.run_cleaner())
}

#[test]
fn a_compaction_racing_delete_topic_neither_fails_nor_writes_into_the_moved_directory() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Hooked::fast();
    let (log, entered, release) = parked_compaction(dir.path(), &storage);
    let cleaner = spawn_cleaner(&log);
    entered.wait();
    let deleter = {
        let log = log.clone();
        std::thread::spawn(move || log.delete_topic("t"))
    };
    // Let the deletion finish while the compaction is parked, if it does
    // not wait for it (then it is done within a few milliseconds).
    hooked::let_finish(&deleter);
    release.wait();
    let cleaned = cleaner.join().unwrap();
    let deleted = deleter.join().unwrap();
    storage.clear();
    assert!(deleted.is_ok(), "{deleted:?}");
    assert!(cleaned.is_ok(), "a cleaner pass racing delete_topic failed: {cleaned:?}");
    assert!(!dir.path().join("topics/t").exists(), "the deleted topic's directory was made again");
    log.close().unwrap();
    let reopened = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(reopened.list_topics(), Vec::<String>::new());
}

/// `Log::close` racing a compaction that `run_cleaner` runs: close returns
/// only once no file of the log is open or written.
#[test]
fn close_waits_for_a_compaction_under_way() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Hooked::fast();
    let (log, entered, release) = parked_compaction(dir.path(), &storage);
    let cleaner = spawn_cleaner(&log);
    entered.wait();
    let probe = log.clone();
    let closer = std::thread::spawn(move || log.close());
    while probe.list_groups().is_ok() {
        std::thread::yield_now();
    }
    // Let the close finish while the compaction is parked, if it does not
    // wait for it.
    hooked::let_finish(&closer);
    let open_at_close = closer.is_finished().then(|| open_files_under(dir.path()));
    release.wait();
    closer.join().unwrap().unwrap();
    let cleaned = cleaner.join().unwrap();
    assert_eq!(open_at_close.unwrap_or_default(), Vec::<String>::new(), "files open when close returned");
    assert!(matches!(cleaned, Ok(_) | Err(larder::Error::Closed { .. })), "{cleaned:?}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("topics/t/0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".cleaned") || name.contains(".swap"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
    drop(probe);
    let reopened = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(reopened.partition("t", 0).unwrap().end_offset(), 200);
}
