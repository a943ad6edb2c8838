//! Minimal reproductions of the bugs `tests/simulation.rs` found, each
//! reduced from a failing seed to the few calls that matter, kept as
//! regression tests: each asserts the correct behaviour, and failed before
//! its fix.

mod hooked;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use hooked::{Call, Hooked};
use larder::partition::{Partition, PartitionOptions};
use larder::record::NewRecord;
use larder::storage::fault::{Fault, FaultError, FaultStorage, FileCall, SimStorage};
use larder::{Durability, Error, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

/// Seed 34 (and 314, 456): a roll whose new segment cannot be created
/// leaves the new, empty `.log` behind and does not poison the partition;
/// appends go on in the old segment past the orphan's base offset, and the
/// next open, even after a clean close, fails with `Corrupt`.
/// Power-cut seeds per reproduction: few in a debug build (the README's
/// test command stays quick), all 32 in a release build, as CI runs them.
const SEEDS: u64 = if cfg!(debug_assertions) { 8 } else { 32 };

#[test]
fn a_failed_roll_leaves_no_orphan_segment_that_breaks_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(FaultStorage::new());
    let options = PartitionOptions::default().storage(storage.clone());
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    partition.append(&NewRecord::new(b"a")).unwrap();
    storage.fail_writes(true);
    assert!(partition.roll().is_err(), "writing the new segment's header fails");
    storage.fail_writes(false);
    // A failed write poisons: the partition refuses appends, and its close
    // reports it; either way, nothing it leaves may break the next open.
    let appended = partition.append(&NewRecord::new(b"b"));
    assert!(matches!(appended, Err(Error::Poisoned { .. })), "{appended:?}");
    let _ = partition.close();
    // Before the fix: Corrupt { "00000000000000000001.log", "segment starts at offset
    // 1 but the previous one ends at 2" }.
    let reopened = Partition::open(dir.path(), options).map(|p| p.end_offset());
    assert_eq!(reopened.unwrap(), 1);
}

/// The same orphan through a full disk: an append that needs a roll fails
/// with `DiskFull` (the new segment's header could not be written), the
/// partition is not poisoned, as `DiskFull` promises; the next append fits
/// the old segment; the log no longer opens.
#[test]
fn a_full_disk_during_a_roll_leaves_a_log_that_opens() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SimStorage::new());
    let options = PartitionOptions::default().segment_bytes(256).storage(storage.clone());
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    partition.append(&NewRecord::new(&[1; 100])).unwrap();
    storage.schedule(Fault { call: FileCall::Write, nth: 1, error: FaultError::NoSpace, sticky: false });
    let full = partition.append(&NewRecord::new(&[2; 30])).unwrap_err();
    assert!(matches!(full, Error::DiskFull { .. }), "{full}");
    partition.append(&NewRecord::new(&[3; 10])).unwrap();
    partition.close().unwrap();
    let reopened = Partition::open(dir.path(), options).map(|p| p.end_offset());
    assert_eq!(reopened.unwrap(), 2);
}

/// Seed 34, step 15: an ENOSPC from the directory sync of a roll poisons the
/// partition, yet the append reports `DiskFull`, which promises that
/// nothing stored changed and that appends succeed again once there is
/// room; every later append fails with `Poisoned` instead.
#[test]
fn disk_full_is_only_reported_when_appends_can_resume() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SimStorage::new());
    let options = PartitionOptions::default().segment_bytes(256).storage(storage.clone());
    let partition = Partition::open(dir.path(), options).unwrap();
    partition.append(&NewRecord::new(&[1; 100])).unwrap();
    storage.schedule(Fault { call: FileCall::SyncDir, nth: 1, error: FaultError::NoSpace, sticky: false });
    let error = partition.append(&NewRecord::new(&[2; 100])).unwrap_err();
    let poisoned = partition.is_poisoned();
    let next = partition.append(&NewRecord::new(&[3; 10]));
    // Before the fix: DiskFull, then the partition is poisoned and the next append
    // fails with Poisoned.
    assert!(!(matches!(error, Error::DiskFull { .. }) && poisoned), "{error}, then {next:?}");
}

/// Seed 27: `add_partitions` fails at the sync of the topic directory
/// after renaming the new `topic.meta` into place. `Log::open` must not use
/// a `topic.meta` whose rename is not durable: a record acknowledged at
/// `Durability::Sync` in a partition the reopened log shows would be lost
/// when a power cut undid the rename.
#[test]
fn a_partition_that_took_synced_records_survives_a_power_cut() {
    for seed in 0..SEEDS {
        let dir = tempfile::tempdir().unwrap();
        let disk = Arc::new(SimStorage::new());
        let options = LogOptions::default().storage(disk.clone());
        let log = Log::open(dir.path(), options.clone()).unwrap();
        let config = TopicConfig::new(1).durability(Durability::Sync);
        log.create_topic("t", config.clone()).unwrap();
        // How many directory syncs growing a topic by one partition takes:
        // the last one makes the new topic.meta durable.
        log.create_topic("probe", config).unwrap();
        let before = disk.calls(FileCall::SyncDir);
        log.add_partitions("probe", 2).unwrap();
        let nth = disk.calls(FileCall::SyncDir) - before;
        disk.schedule(Fault { call: FileCall::SyncDir, nth, error: FaultError::Eio, sticky: false });
        assert!(log.add_partitions("t", 2).is_err());
        log.simulate_crash();

        // Whatever count the failed call left (the old metadata is written
        // back), a record acknowledged in any partition the reopened log
        // shows must survive a power cut.
        let log = Log::open(dir.path(), options.clone()).unwrap();
        let partitions = log.describe_topic("t").unwrap().partitions.len() as u32;
        let producer = log.producer(ProducerConfig::default()).unwrap();
        let meta = producer.send_direct(&ProducerRecord::new("t", b"synced").partition(partitions - 1)).unwrap();
        assert_eq!(meta.durability, Durability::Sync);
        drop(producer);
        log.simulate_crash();
        disk.power_cut(seed).unwrap();

        let log = Log::open(dir.path(), options).unwrap();
        let after = log.describe_topic("t").unwrap().partitions.len() as u32;
        assert_eq!(after, partitions, "power cut {seed} changed the partition count");
        let record = log.partition("t", partitions - 1).unwrap().read(0).unwrap();
        assert_eq!(record.value(), Some(&b"synced"[..]), "power cut {seed} lost a synced record");
    }
}

/// Seed 1605: `delete_topic` renames the topic's directory, then fails at
/// the directory sync. After a crash, an open removes the renamed directory
/// but fails at its own directory sync; the next open finds nothing left
/// to remove, syncs nothing, and shows the topic deleted. None of it is
/// durable: a power cut brings the topic back, though the log had already
/// shown it deleted (and a new topic of that name may have been created).
#[test]
fn a_topic_shown_deleted_stays_deleted_after_a_power_cut() {
    for seed in 0..SEEDS {
        let dir = tempfile::tempdir().unwrap();
        let disk = Arc::new(SimStorage::new());
        let options = LogOptions::default().storage(disk.clone());
        let log = Log::open(dir.path(), options.clone()).unwrap();
        log.create_topic("t", TopicConfig::new(1)).unwrap();
        disk.schedule(Fault { call: FileCall::SyncDir, nth: 1, error: FaultError::Eio, sticky: false });
        assert!(log.delete_topic("t").is_err(), "the rename is done, its directory sync fails");
        log.simulate_crash();
        disk.schedule(Fault { call: FileCall::SyncDir, nth: 1, error: FaultError::Eio, sticky: false });
        assert!(Log::open(dir.path(), options.clone()).is_err(), "removes the renamed directory, fails to sync");
        let log = Log::open(dir.path(), options.clone()).unwrap();
        assert!(log.list_topics().is_empty());
        log.simulate_crash();
        disk.power_cut(seed).unwrap();
        let log = Log::open(dir.path(), options).unwrap();
        // Before the fix: for some cuts, ["t"].
        assert!(log.list_topics().is_empty(), "power cut {seed} brought back {:?}", log.list_topics());
    }
}

/// Seed 12107: a group's offsets file is written by its first commit
/// (temporary file, rename, directory sync). When that directory sync
/// fails, the commit is not acknowledged; the next one must not go into a
/// file whose name is not durable, or a power cut undoes the rename and
/// loses an acknowledged commit (a consumer with `auto_offset_reset =
/// latest` would then skip records).
#[test]
fn an_acknowledged_commit_survives_a_power_cut_after_a_failed_group_load() {
    use larder::{ConsumerConfig, TopicPartition};
    use std::collections::HashMap;
    for seed in 0..SEEDS {
        let dir = tempfile::tempdir().unwrap();
        let disk = Arc::new(SimStorage::new());
        let options = LogOptions::default().storage(disk.clone());
        let log = Log::open(dir.path(), options.clone()).unwrap();
        log.create_topic("t", TopicConfig::new(1)).unwrap();
        log.partition("t", 0).unwrap().append(&NewRecord::new(b"r")).unwrap();
        disk.schedule(Fault { call: FileCall::SyncDir, nth: 1, error: FaultError::Eio, sticky: false });
        let config = ConsumerConfig::default().group_id("g").enable_auto_commit(false);
        let mut consumer = log.consumer(config).unwrap();
        let tp = TopicPartition::new("t", 0);
        consumer.assign(std::slice::from_ref(&tp)).unwrap();
        // The group's first commit writes its offsets file (temporary,
        // rename, directory sync): the sync fails, so it is not acknowledged.
        let first = consumer.commit_offsets(&HashMap::from([(tp.clone(), 1)]));
        assert!(first.is_err(), "the first commit fails at its directory sync");
        consumer.commit_offsets(&HashMap::from([(tp.clone(), 1)])).unwrap();
        drop(consumer);
        log.simulate_crash();
        disk.power_cut(seed).unwrap();

        let log = Log::open(dir.path(), options).unwrap();
        let consumer = log.consumer(ConsumerConfig::default().group_id("g")).unwrap();
        // Before the fix: for some cuts the offsets file is gone and this is None.
        assert_eq!(consumer.committed(&tp).unwrap(), Some(1), "power cut {seed} lost an acknowledged commit");
    }
}

/// Seed 10033: after a clean close and a reopen, the active segment keeps
/// the seal the close wrote into its `.idx`. A roll interrupted after it
/// created the next segment (here an injected EIO on the sync that seals
/// the old one; a crash at that moment leaves the same files), then a power
/// cut that drops what was appended since the reopen, leave that stale seal
/// matching the files again: recovery trusts the old segment as sealed,
/// sees the new one start past its end, and fails with `Corrupt` instead of
/// treating it as the interrupted roll docs/FORMAT.md says it handles
/// ("roll step 1: an empty last segment: kept (or recreated)").
#[test]
fn an_interrupted_roll_after_a_reopen_opens_without_repair() {
    for seed in 0..SEEDS {
        let dir = tempfile::tempdir().unwrap();
        let disk = Arc::new(SimStorage::new());
        let options = PartitionOptions::default().storage(disk.clone());
        let partition = Partition::open(dir.path(), options.clone()).unwrap();
        partition.append(&NewRecord::new(b"closed")).unwrap();
        partition.close().unwrap();
        let partition = Partition::open(dir.path(), options.clone()).unwrap();
        partition.append(&NewRecord::new(b"not synced")).unwrap();
        // Creating the new segment syncs its .log and .idx; the third sync
        // is the old segment's, sealing it.
        disk.schedule(Fault { call: FileCall::Sync, nth: 3, error: FaultError::Eio, sticky: false });
        assert!(partition.roll().is_err());
        partition.simulate_crash();
        disk.power_cut(seed).unwrap();
        // Before the fix: for some cuts, Corrupt { "00000000000000000002.log",
        // "segment starts at offset 2 but the previous one ends at 1" }.
        let reopened = Partition::open(dir.path(), options);
        let partition = reopened.unwrap_or_else(|e| panic!("power cut {seed}: {e}"));
        assert_eq!(partition.read(0).unwrap().value(), Some(&b"closed"[..]));
    }
}

/// Seed 17301: `truncate_to` fails late (here removing the old time index)
/// after it already cut the log on disk. The partition is poisoned, but it
/// keeps reporting (and serving) the old end offset and the old synced
/// offset; a consumer positioned at that end commits it, the commit sees
/// nothing to sync and is acknowledged, and after a reopen the committed
/// offset is past the end of the log.
#[test]
fn a_commit_after_a_failed_truncation_is_never_past_the_end() {
    use larder::{ConsumerConfig, TopicPartition};
    use std::collections::HashMap;
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(SimStorage::new());
    let options = LogOptions::default().storage(disk.clone());
    let log = Log::open(dir.path(), options.clone()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let partition = log.partition("t", 0).unwrap();
    for value in [b"a", b"b", b"c", b"d"] {
        partition.append(&NewRecord::new(value)).unwrap();
    }
    partition.sync().unwrap();
    disk.schedule(Fault { call: FileCall::Remove, nth: 1, error: FaultError::Eio, sticky: false });
    assert!(partition.truncate_to(2).is_err());
    assert!(partition.is_poisoned());
    let tp = TopicPartition::new("t", 0);
    let mut consumer = log.consumer(ConsumerConfig::default().group_id("g").enable_auto_commit(false)).unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    let end = partition.end_offset();
    // Before the fix: Ok; the reported end (4) is gone from disk, and nothing checks.
    let committed = consumer.commit_offsets(&HashMap::from([(tp.clone(), end)]));
    drop((consumer, partition));
    log.simulate_crash();

    let log = Log::open(dir.path(), options).unwrap();
    let end_now = log.partition("t", 0).unwrap().end_offset();
    let consumer = log.consumer(ConsumerConfig::default().group_id("g")).unwrap();
    let stored = consumer.committed(&tp).unwrap();
    assert!(committed.is_err() || stored <= Some(end_now), "committed {stored:?} past the end {end_now} after reopen");
}

/// Seed 5235: `delete_topic` removes the topic from the running log before
/// renaming its directory; when the rename fails, the call returns the
/// error but the topic is gone from `list_topics` and sends, its
/// partitions are closed by whoever drops the last handle (ignoring their
/// errors), and the next open brings it back with all its records: the
/// failed call changed what it did not report.
#[test]
fn a_failed_delete_topic_leaves_the_topic_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(SimStorage::new());
    let log = Log::open(dir.path(), LogOptions::default().storage(disk.clone())).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    disk.schedule(Fault { call: FileCall::Rename, nth: 1, error: FaultError::Eio, sticky: false });
    assert!(log.delete_topic("t").is_err());
    // Before the fix: [] (and after a reopen, ["t"] again).
    assert_eq!(log.list_topics(), ["t"]);
}

/// Seed 6098: a batch larger than a whole segment, appended to an empty
/// active segment, makes the roll replace that segment with a larger one
/// at the same base offset: creating the new files truncates the `.log`
/// and `.idx` the active writer still has mapped. When writing the new
/// `.idx` header fails (a full disk: `DiskFull`, the partition is not
/// poisoned), the old writer stays active over an empty `.idx`, and the
/// next write through its map, here the seal of `close`, kills the process
/// with SIGBUS. Run in a child process, which the signal would kill.
#[test]
fn a_full_disk_while_replacing_an_empty_segment_does_not_crash_the_process() {
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "replace_empty_segment_child", "--include-ignored", "--nocapture"])
        .env("LARDER_FINDINGS_CHILD", "1")
        .output()
        .unwrap();
    // Before the fix: killed by SIGBUS (signal 7).
    assert!(child.status.success(), "the child died: {:?}", child.status);
}

#[test]
#[ignore = "run by a_full_disk_while_replacing_an_empty_segment_does_not_crash_the_process in a child process"]
fn replace_empty_segment_child() {
    if std::env::var_os("LARDER_FINDINGS_CHILD").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(SimStorage::new());
    let partition =
        Partition::open(dir.path(), PartitionOptions::default().segment_bytes(1024).storage(disk.clone())).unwrap();
    // The new segment's .log header is the first write, its .idx header the second.
    disk.schedule(Fault { call: FileCall::Write, nth: 2, error: FaultError::NoSpace, sticky: false });
    let big = vec![7u8; 4000];
    let full = partition.append_batch(&[NewRecord::new(&big), NewRecord::new(&big)]).unwrap_err();
    assert!(matches!(full, Error::DiskFull { .. }), "{full}");
    let _ = partition.close();
}

/// Seed 1148: a roll installs the new segment as the writer's, then seals
/// the old one; when that seal (or the directory sync after it) fails, the
/// partition is poisoned, but the writer is left on the new segment while
/// the segment list still ends with the old one. A `sync` already in
/// flight (past its poison check) then checks the partition's invariants
/// and panics in debug builds: "the writer's segment is not the last".
/// Every sync a roll makes is failed in turn, with a sync held in flight.
#[test]
fn a_sync_in_flight_during_a_failed_roll_does_not_panic() {
    for nth in 1..=8 {
        let dir = tempfile::tempdir().unwrap();
        let disk = Arc::new(SimStorage::new());
        let storage = Hooked::over(disk.clone());
        let options = PartitionOptions::default().segment_bytes(256).storage(storage.clone());
        let partition = Arc::new(Partition::open(dir.path(), options).unwrap());
        partition.append(&NewRecord::new(b"unsynced")).unwrap();
        // The first fdatasync of a `.log` is held until released.
        let (in_flight, release) =
            storage.park_on(|call, path| call == Call::Sync && path.extension().is_some_and(|e| e == "log"));
        let syncing = Arc::clone(&partition);
        let sync = std::thread::spawn(move || syncing.sync());
        in_flight.wait();
        disk.schedule(Fault { call: FileCall::Sync, nth, error: FaultError::Eio, sticky: false });
        let rolled = partition.roll();
        release.wait();
        // Before the fix, for the failures after the new segment is
        // installed: a panic, "the writer's segment is not the last".
        let synced = sync.join();
        assert!(synced.is_ok(), "sync {nth} of the roll failed ({rolled:?}); the sync in flight panicked");
    }
}

/// Seed 586: a consumer still holding a partition of a topic deleted since
/// its last poll commits its position; the commit is acknowledged and
/// stores an offset for the deleted topic, which `delete_topic` had just
/// removed. A topic created again under the name is then read from that
/// old offset, skipping its first records (Kafka refuses a commit of an
/// unknown topic).
#[test]
fn a_commit_after_its_topic_was_deleted_leaves_no_offset_behind() {
    use larder::{AutoOffsetReset, ConsumerConfig, TopicPartition};
    use std::collections::HashMap;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let append = |count: usize| {
        log.create_topic("t", TopicConfig::new(1)).unwrap();
        let partition = log.partition("t", 0).unwrap();
        for n in 0..count {
            partition.append(&NewRecord::new(format!("r{n}").as_bytes())).unwrap();
        }
        partition.sync().unwrap();
    };
    let tp = TopicPartition::new("t", 0);
    let config =
        ConsumerConfig::default().group_id("g").enable_auto_commit(false).auto_offset_reset(AutoOffsetReset::Earliest);
    append(5);
    let mut consumer = log.consumer(config.clone()).unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(consumer.poll(Duration::ZERO).unwrap().len(), 5);
    log.delete_topic("t").unwrap();
    // What was delivered of a deleted topic is gone with it: nothing to
    // commit (a commit naming it is refused by name).
    consumer.commit().unwrap();
    let named = consumer.commit_offsets(&HashMap::from([(tp.clone(), 5)]));
    drop(consumer);

    append(10);
    let mut reader = log.consumer(config).unwrap();
    reader.assign(std::slice::from_ref(&tp)).unwrap();
    // Before the fix: Some(5), and the poll starts at offset 5.
    assert_eq!(reader.committed(&tp).unwrap(), None);
    assert_eq!(reader.poll(Duration::ZERO).unwrap().len(), 10);
    assert!(matches!(&named, Err(Error::TopicDeleted { topic }) if topic == "t"), "{named:?}");
}

/// Seed 351: `add_partitions` racing `delete_topic`. The deletion renames
/// the topic's directory away while the growth is half-way; the growth
/// then creates its next partition's directory under the old name, which
/// brings back a directory `topics/t` without the topic's other
/// partitions (or without any `topic.meta`), and the next open refuses
/// the log by name. Here the growth is held as it is about to create its
/// second new partition while the deletion runs.
#[test]
fn a_growth_racing_a_deletion_leaves_a_log_that_opens() {
    let (dir, storage, options, log) = hooked_log_with_topic();
    let held = dir.path().join("topics").join("t").join("2");
    let (entered, release) = storage.park_on(move |call, path| call == Call::CreateDir && path == held);
    let growing = log.clone();
    let grow = std::thread::spawn(move || growing.add_partitions("t", 3));
    entered.wait();
    let deleting = log.clone();
    let delete = std::thread::spawn(move || deleting.delete_topic("t"));
    // Give the deletion time to run as far as it can while the growth is
    // held (after the fix it waits for the growth instead).
    hooked::let_finish(&delete);
    release.wait();
    let (grown, deleted) = (grow.join().unwrap(), delete.join().unwrap());
    log.close().unwrap();
    // Before the fix: Corrupt { "topics/t/0", "topic.meta names 3
    // partitions, but partition 0 is missing" }.
    let reopened = Log::open(dir.path(), options).map(|log| log.list_topics());
    let topics = reopened.unwrap_or_else(|e| panic!("add_partitions {grown:?}, delete_topic {deleted:?}: {e}"));
    assert!(deleted.is_ok() && topics.is_empty(), "add_partitions {grown:?}, delete_topic {deleted:?}: {topics:?}");
}

/// Seed 4 (and 5, 14, ...): after `Log::close`, `Partition::sync` on a
/// handle of a partition that a failed sync poisoned returns `Poisoned`,
/// where every call through a handle of a closed log returns `Closed`.
#[test]
fn a_sync_after_close_of_a_poisoned_partition_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(SimStorage::new());
    let log = Log::open(dir.path(), LogOptions::default().storage(disk.clone())).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let partition = log.partition("t", 0).unwrap();
    partition.append(&NewRecord::new(b"a")).unwrap();
    disk.schedule(Fault { call: FileCall::Sync, nth: 1, error: FaultError::Eio, sticky: false });
    assert!(partition.sync().is_err());
    assert!(partition.is_poisoned());
    let _ = log.close();
    let synced = partition.sync();
    // Before the fix: Poisoned.
    assert!(matches!(synced, Err(Error::Closed { .. })), "{synced:?}");
}

/// Seed 18: `delete_before` persists and publishes the new log start, then
/// removes the segments below it; when a removal fails with ENOSPC (which
/// poisons nothing) it reports `DiskFull`, whose documentation promises
/// that nothing stored changed, though the start has moved.
#[test]
fn delete_before_reports_disk_full_only_when_the_start_stayed() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SimStorage::new());
    let options = PartitionOptions::default().segment_bytes(256).storage(storage.clone());
    let partition = Partition::open(dir.path(), options).unwrap();
    for _ in 0..6 {
        partition.append(&NewRecord::new(&[7; 100])).unwrap();
    }
    let end = partition.end_offset();
    storage.schedule(Fault { call: FileCall::Remove, nth: 1, error: FaultError::NoSpace, sticky: false });
    let deleted = partition.delete_before(end);
    let start = partition.log_start_offset();
    // Before the fix: Err(DiskFull), with the start moved to `end`.
    assert!(!(matches!(deleted, Err(Error::DiskFull { .. })) && start != 0), "{deleted:?}; the start is now {start}");
}

/// Seed 17: `create_topic` renames the staged topic into place, then its
/// partitions fail to open (here every rename fails from then on: EMFILE,
/// sticky), and the cleanup, itself a rename, fails too: the call returns
/// the error, the running log does not list the topic, but it stays on
/// disk, complete, and the next open shows it.
#[test]
fn a_failed_create_topic_leaves_nothing_for_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(SimStorage::new());
    let options = LogOptions::default().storage(disk.clone());
    let log = Log::open(dir.path(), options.clone()).unwrap();
    // Rename 1 puts the staged topic.meta in place, rename 2 the staged
    // topic; from rename 3 on (a partition's state file, the cleanup)
    // every rename fails.
    disk.schedule(Fault { call: FileCall::Rename, nth: 3, error: FaultError::TooManyFiles, sticky: true });
    let created = log.create_topic("t", TopicConfig::new(1));
    disk.clear_faults();
    assert!(created.is_err());
    assert!(log.list_topics().is_empty());
    drop(log);
    let reopened = Log::open(dir.path(), options).unwrap();
    // Before the fix: ["t"].
    assert!(reopened.list_topics().is_empty(), "{:?}", reopened.list_topics());
}

/// Seed 4762: the cleaner's `delete_before` moved the log start durably,
/// then failed to remove one of the segments below it (ENOSPC, which
/// poisons nothing); a later deletion removed the segments after it. The
/// leftover then sits before a gap, and the next open, even after a clean
/// close, refuses the log ("segment starts at offset n but the previous
/// one ends at m"), though nothing below the log start is ever read.
#[test]
fn segments_left_below_the_log_start_do_not_break_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SimStorage::new());
    let options = PartitionOptions::default().segment_bytes(256).storage(storage.clone());
    let partition = Partition::open(dir.path(), options.clone()).unwrap();
    for _ in 0..12 {
        partition.append(&NewRecord::new(&[7; 100])).unwrap();
    }
    let mut bases: Vec<u64> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".log")?.parse().ok())
        .collect();
    bases.sort();
    assert!(bases.len() >= 4, "{bases:?}");
    // The second segment's `.log` is the fourth file removed.
    storage.schedule(Fault { call: FileCall::Remove, nth: 4, error: FaultError::NoSpace, sticky: false });
    assert!(partition.delete_before(bases[2]).is_err());
    partition.delete_before(bases[3]).unwrap();
    partition.close().unwrap();
    // Before the fix: Corrupt { "<bases[3]>.log", "segment starts at offset
    // <bases[3]> but the previous one ends at <bases[2]>" }.
    let reopened = Partition::open(dir.path(), options).unwrap();
    assert_eq!(reopened.log_start_offset(), bases[3]);
    assert_eq!(reopened.end_offset(), 12);
}

/// Seed 14384: `add_partitions` fails at the directory sync after renaming
/// the new `topic.meta` into place, and putting the old one back fails too,
/// so the new partition's directory is kept on disk (either file must
/// open). A second `add_partitions` to the same count then wipes that
/// directory as a leftover no metadata names, and fails before making it
/// again: the `topic.meta` in place names a partition that is gone, and the
/// next open refuses the log. Here the topic directory's syncs fail from
/// the second on (the first is the new partition's creation), and
/// `topic.meta.tmp`'s file syncs from the second on (the put-back's).
#[test]
fn a_growth_retried_after_a_failed_put_back_keeps_what_topic_meta_names() {
    let (dir, storage, options, log) = hooked_log_with_topic();
    // From the second on, the syncs of the topic's directory and the file
    // syncs of `topic.meta.tmp` fail (EIO).
    let topic_dir = dir.path().join("topics").join("t");
    let (dir_syncs, meta_syncs) = (AtomicU32::new(0), AtomicU32::new(0));
    storage.set(move |call, path| {
        let counter = match call {
            Call::SyncDir if path == topic_dir => &dir_syncs,
            Call::Sync if path.file_name().is_some_and(|n| n == "topic.meta.tmp") => &meta_syncs,
            _ => return Ok(()),
        };
        if counter.fetch_add(1, Ordering::SeqCst) >= 1 {
            return Err(hooked::eio());
        }
        Ok(())
    });
    let first = log.add_partitions("t", 2);
    let second = log.add_partitions("t", 2);
    storage.clear();
    log.simulate_crash();
    // Before the fix: Corrupt { "topics/t/1", "topic.meta names 2
    // partitions, but partition 1 is missing" }.
    let reopened = Log::open(dir.path(), options).map(|log| log.describe_topic("t").map(|d| d.partitions.len()));
    let count = reopened.unwrap_or_else(|e| panic!("add_partitions {first:?}, then {second:?}: {e}"));
    assert!(matches!(count, Ok(1 | 2)), "{count:?}");
}

/// Seed 21486: `delete_topic` renames the topic's directory away and then
/// fails at the directory sync, so the rename may not be durable; it goes
/// on to remove the topic's committed offsets from every group, durably. A
/// power cut then brings the topic back, without the acknowledged commits
/// of its partitions: a consumer of the group starts over by
/// `auto_offset_reset` (with `latest`, skipping records).
#[test]
fn a_failed_delete_topic_keeps_the_offsets_of_a_topic_a_power_cut_brings_back() {
    use larder::{ConsumerConfig, TopicPartition};
    use std::collections::HashMap;
    let mut came_back = 0;
    for seed in 0..32 {
        let dir = tempfile::tempdir().unwrap();
        let disk = Arc::new(SimStorage::new());
        let options = LogOptions::default().storage(disk.clone());
        let log = Log::open(dir.path(), options.clone()).unwrap();
        log.create_topic("t", TopicConfig::new(1)).unwrap();
        log.partition("t", 0).unwrap().append(&NewRecord::new(b"r")).unwrap();
        let tp = TopicPartition::new("t", 0);
        let mut consumer = log.consumer(ConsumerConfig::default().group_id("g").enable_auto_commit(false)).unwrap();
        consumer.assign(std::slice::from_ref(&tp)).unwrap();
        consumer.commit_offsets(&HashMap::from([(tp.clone(), 1)])).unwrap();
        drop(consumer);
        disk.schedule(Fault { call: FileCall::SyncDir, nth: 1, error: FaultError::Eio, sticky: false });
        assert!(log.delete_topic("t").is_err(), "the rename is done, its directory sync fails");
        log.simulate_crash();
        disk.power_cut(seed).unwrap();
        let log = Log::open(dir.path(), options).unwrap();
        if log.list_topics().is_empty() {
            continue;
        }
        came_back += 1;
        let consumer = log.consumer(ConsumerConfig::default().group_id("g")).unwrap();
        // Before the fix: None.
        assert_eq!(
            consumer.committed(&tp).unwrap(),
            Some(1),
            "power cut {seed} brought the topic back, not its offsets"
        );
    }
    assert!(came_back > 0, "no power cut brought the topic back");
}

/// Seed 40880: `create_topic` renamed its staged directory into place, its
/// first partition failed to open, and the cleanup renamed the directory to
/// `<name>~d` but could not sync that rename. The next open removes the
/// `~d` directory at once, without first making the rename durable; when
/// that removal fails part way (after the second partition's directory,
/// empty, is gone) and a power cut follows, the rename is undone but not
/// the removal: the topic is back under its name with a partition missing,
/// and every later open refuses the log.
#[test]
fn an_interrupted_removal_of_a_renamed_topic_leaves_a_log_that_opens() {
    for (seed, nth) in (0..96).map(|n| (n, 1 + n % 12)) {
        // On a tmpfs (as the simulation's disks are) a directory lists its
        // newest entries first: the empty partition 1 goes before 0's files.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
        let disk = Arc::new(SimStorage::new());
        // `create_topic` fails opening its partitions and then fails to
        // clean up durably: the first removal of a `.tix` file fails
        // (ENOSPC, as a new segment clears a stale time index), and so does
        // every sync of the topics directory after it.
        let storage = Hooked::over(disk.clone());
        let (topics, failed_removal) = (dir.path().join("topics"), AtomicBool::new(false));
        storage.set(move |call, path| {
            let no_space = match call {
                Call::SyncDir => path == topics && failed_removal.load(Ordering::SeqCst),
                Call::Remove => {
                    path.extension().is_some_and(|e| e == "tix") && !failed_removal.swap(true, Ordering::SeqCst)
                }
                _ => false,
            };
            if no_space {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            Ok(())
        });
        let log = Log::open(dir.path(), LogOptions::default().storage(storage)).unwrap();
        assert!(log.create_topic("t", TopicConfig::new(2)).is_err(), "partition 0 fails to open");
        log.simulate_crash();
        let options = LogOptions::default().storage(disk.clone());
        // The open removing `t~d` fails part way (or not, when it has
        // fewer files than that).
        disk.schedule(Fault { call: FileCall::Remove, nth, error: FaultError::Eio, sticky: false });
        let _ = Log::open(dir.path(), options.clone());
        disk.clear_faults();
        disk.power_cut(seed).unwrap();
        // Before the fix: for some cuts, Corrupt { "topics/t/1", "topic.meta
        // names 2 partitions, but partition 1 is missing" }.
        let topics = Log::open(dir.path(), options).map(|log| log.list_topics());
        let topics = topics.unwrap_or_else(|e| panic!("removal {nth} failed, power cut {seed}: {e}"));
        assert!(topics.is_empty() || topics == ["t"], "{topics:?}");
    }
}

/// Seed 1144: a consumer whose position is past its partition's end (a
/// truncation after its poll) commits after `Log::close`: the commit checks
/// its positions against the ends before it checks the log, and returns
/// `CommitPastEnd`, where every call through a handle of a closed log
/// returns `Closed`.
#[test]
fn a_commit_after_close_is_closed_whatever_the_positions() {
    use larder::{AutoOffsetReset, ConsumerConfig, TopicPartition};
    use std::collections::HashMap;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let partition = log.partition("t", 0).unwrap();
    partition.append(&NewRecord::new(b"r")).unwrap();
    let config =
        ConsumerConfig::default().group_id("g").enable_auto_commit(false).auto_offset_reset(AutoOffsetReset::Earliest);
    let mut consumer = log.consumer(config).unwrap();
    let tp = TopicPartition::new("t", 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(consumer.poll(Duration::ZERO).unwrap().len(), 1);
    partition.truncate_to(0).unwrap();
    drop(partition);
    log.close().unwrap();
    let committed = consumer.commit();
    // Before the fix: CommitPastEnd { offset: 1, end_offset: 0 }.
    assert!(matches!(committed, Err(Error::Closed { .. })), "{committed:?}");
    let named = consumer.commit_offsets(&HashMap::from([(tp, 1)]));
    assert!(matches!(named, Err(Error::Closed { .. })), "{named:?}");
}

/// A log on a hooked simulated disk, holding topic "t" of one partition.
fn hooked_log_with_topic() -> (tempfile::TempDir, Arc<Hooked>, LogOptions, Log) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Hooked::over(Arc::new(SimStorage::new()));
    let options = LogOptions::default().storage(storage.clone());
    let log = Log::open(dir.path(), options.clone()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    (dir, storage, options, log)
}
