//! kill -9 torture: the workload runs in a child process (this test binary
//! re-run) — three producer threads on a `Sync` topic (queued and direct),
//! one on a `Buffered` topic, a consumer group committing as it goes, small
//! segments so they roll — and is killed with SIGKILL at a random moment,
//! hundreds of times. After every kill the parent reopens the log without
//! repair and checks: every record acknowledged as synced is present, with
//! its bytes, at its acknowledged offset; offsets are dense; no record fails
//! its checks; each committed offset is at least the last commit that
//! returned Ok, and never past the end. A third topic is compacted while
//! it is written (a thread runs the cleaner in a loop, so kills land inside
//! compactions and their swaps): every record acknowledged there is present
//! at its offset with its bytes, or a later record of its key is; offsets
//! rise; and every record read is one that was sent.
//!
//! `cargo test --test crash_torture` runs 25 kills in a debug build (the
//! README's test command stays quick) and 200 in a release build (CI runs
//! `cargo test --release --all-features --test crash_torture`); the ignored
//! `ten_thousand_kills` runs 10 000 (`cargo test --release --all-features
//! --test crash_torture -- --ignored --nocapture`).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use larder::{
    CleanupPolicy, ConsumerConfig, Durability, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig,
    TopicPartition,
};

const DIR: &str = "LARDER_TORTURE_DIR";
const CYCLE: &str = "LARDER_TORTURE_CYCLE";
const CYCLES_PER_DIR: u64 = 25;

fn acks_dir(dir: &Path) -> PathBuf {
    dir.join("acks")
}

fn setup(dir: &Path) {
    let log = Log::open(dir.join("log"), LogOptions::default()).unwrap();
    log.create_topic("sync", TopicConfig::new(3).segment_bytes(2048).durability(Durability::Sync)).unwrap();
    log.create_topic("buffered", TopicConfig::new(2).segment_bytes(2048)).unwrap();
    let compacted =
        TopicConfig::new(2).segment_bytes(1024).cleanup_policy(CleanupPolicy::Compact).min_cleanable_dirty_ratio(0.0);
    log.create_topic("keyed", compacted).unwrap();
    log.close().unwrap();
    std::fs::create_dir_all(acks_dir(dir)).unwrap();
}

/// Totals over a run.
#[derive(Default, Debug)]
struct Totals {
    kills: u64,
    acknowledged_records_checked: u64,
    records_read: u64,
    commits_checked: u64,
    torn_records_cut: u64,
    keyed_acknowledged_checked: u64,
    keyed_superseded_and_gone: u64,
}

fn torture(kills: u64) {
    let mut totals = Totals::default();
    let mut rng = common::Rng::new(0x9E37_79B9_7F4A_7C15u64 ^ kills);
    let mut dir = None;
    for cycle in 0..kills {
        if cycle % CYCLES_PER_DIR == 0 {
            let fresh = tempfile::tempdir().unwrap();
            setup(fresh.path());
            dir = Some(fresh);
        }
        let dir = dir.as_ref().unwrap().path();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "torture_child", "--nocapture", "--include-ignored"])
            .env(DIR, dir)
            .env(CYCLE, cycle.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + rng.below(60)));
        child.kill().unwrap();
        child.wait().unwrap();
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(dir, &mut totals))) {
            eprintln!("kill -9 violation after kill {cycle} (seed {kills})");
            std::panic::resume_unwind(panic);
        }
    }
    println!("kill -9 torture: {totals:?}, violations: 0");
    if !cfg!(debug_assertions) {
        assert!(
            totals.keyed_superseded_and_gone > 0,
            "compaction never removed a record: the run tested nothing of it"
        );
    }
}

/// Lines `fields...` of every file in `dir` whose name starts with `prefix`;
/// a line cut by the kill is skipped (its acknowledgement never counted).
fn lines(dir: &Path, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_str().unwrap().starts_with(prefix) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            out.push(line.split_whitespace().map(str::to_string).collect());
        }
    }
    out
}

fn check(dir: &Path, totals: &mut Totals) {
    let log = Log::open(dir.join("log"), LogOptions::default()).expect("the log reopens without repair");
    totals.kills += 1;
    totals.torn_records_cut += log.recovery_reports().iter().map(|(_, _, r)| r.truncated_records).sum::<u64>();
    for fields in lines(&acks_dir(dir), "ack-") {
        let (partition, offset): (u32, u64) = (fields[0].parse().unwrap(), fields[1].parse().unwrap());
        let record = log.partition("sync", partition).unwrap().read(offset).unwrap_or_else(|e| {
            panic!("acknowledged sync/{partition}@{offset} is gone: {e}");
        });
        assert_eq!(record.value(), Some(fields[2].as_bytes()), "sync/{partition}@{offset} holds other bytes");
        totals.acknowledged_records_checked += 1;
    }
    for (topic, partitions) in [("sync", 3), ("buffered", 2)] {
        for p in 0..partitions {
            let stored = log.partition(topic, p).unwrap();
            let mut expected = stored.log_start_offset();
            for record in stored.iter_from(expected) {
                let record =
                    record.unwrap_or_else(|e| panic!("{topic}/{p} returned a record that fails its checks: {e}"));
                assert_eq!(record.offset(), expected, "{topic}/{p} offsets are not dense");
                expected += 1;
                totals.records_read += 1;
            }
            assert_eq!(expected, stored.end_offset());
        }
    }
    check_keyed(&log, dir, totals);
    let mut last_ok: BTreeMap<u32, u64> = BTreeMap::new();
    for fields in lines(&acks_dir(dir), "commit-") {
        last_ok.insert(fields[0].parse().unwrap(), fields[1].parse().unwrap());
    }
    let consumer = log.consumer(ConsumerConfig::default().group_id("g")).unwrap();
    for p in 0..2 {
        let committed = consumer.committed(&TopicPartition::new("buffered", p)).unwrap();
        let end = log.partition("buffered", p).unwrap().end_offset();
        if let Some(&ok) = last_ok.get(&p) {
            let committed = committed.unwrap_or_else(|| panic!("commit {ok} of buffered/{p} lost"));
            assert!(committed >= ok, "buffered/{p}: committed {committed} < acknowledged commit {ok}");
            totals.commits_checked += 1;
        }
        assert!(committed.unwrap_or(0) <= end, "buffered/{p}: committed {committed:?} past the end {end}");
    }
}

/// The compacted topic: offsets rise, every record is one that was sent
/// (its value names its key), and every acknowledged record is at its
/// offset or superseded by a later record of its key that is stored.
fn check_keyed(log: &Log, dir: &Path, totals: &mut Totals) {
    let mut stored: Vec<BTreeMap<u64, String>> = Vec::new();
    let mut latest: Vec<BTreeMap<String, u64>> = Vec::new();
    for p in 0..2 {
        let partition = log.partition("keyed", p).unwrap();
        let (mut values, mut latest_of) = (BTreeMap::new(), BTreeMap::new());
        let mut previous = None;
        for record in partition.iter_from(partition.log_start_offset()) {
            let record = record.unwrap_or_else(|e| panic!("keyed/{p} returned a record that fails its checks: {e}"));
            assert!(previous < Some(record.offset()), "keyed/{p}: offset {} after {previous:?}", record.offset());
            previous = Some(record.offset());
            let key = String::from_utf8(record.key().expect("every keyed record has a key").to_vec()).unwrap();
            let value = String::from_utf8(record.value().unwrap().to_vec()).unwrap();
            assert!(value.starts_with(&format!("{key}-")), "keyed/{p}@{}: {value} under key {key}", record.offset());
            latest_of.insert(key, record.offset());
            values.insert(record.offset(), value);
            totals.records_read += 1;
        }
        stored.push(values);
        latest.push(latest_of);
    }
    for fields in lines(&acks_dir(dir), "keyed-") {
        let (p, offset): (usize, u64) = (fields[0].parse().unwrap(), fields[1].parse().unwrap());
        let (key, value) = (&fields[2], &fields[3]);
        match stored[p].get(&offset) {
            Some(found) => assert_eq!(found, value, "keyed/{p}@{offset} holds other bytes"),
            None => {
                let later = latest[p].get(key).copied();
                assert!(
                    later > Some(offset),
                    "acknowledged keyed/{p}@{offset} (key {key}) is gone, and no later record of its key is stored"
                );
                totals.keyed_superseded_and_gone += 1;
            }
        }
        totals.keyed_acknowledged_checked += 1;
    }
}

/// Kills in the default run: few in a debug build, CI's 200 in release.
const KILLS: u64 = if cfg!(debug_assertions) { 25 } else { 200 };

#[test]
fn kills_at_random() {
    torture(KILLS);
}

#[test]
#[ignore = "long: 10 000 kills"]
fn ten_thousand_kills() {
    torture(10_000);
}

/// Sends `record`, queued or direct by turns, and waits for it to be
/// acknowledged as synced.
fn producer_send(producer: &larder::Producer, record: &ProducerRecord<'_>, n: u64) -> larder::RecordMetadata {
    let meta =
        if n % 2 == 0 { producer.send(record).unwrap().get().unwrap() } else { producer.send_direct(record).unwrap() };
    assert_eq!(meta.durability, Durability::Sync);
    meta
}

/// Runs only as the child of the tests above: everything at once, until
/// killed.
#[test]
#[ignore = "run by the torture tests in a child process"]
fn torture_child() {
    let (Some(dir), Some(cycle)) = (std::env::var_os(DIR), std::env::var(CYCLE).ok()) else { return };
    let dir = PathBuf::from(dir);
    let log = Log::open(dir.join("log"), LogOptions::default()).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..3u32 {
            let (producer, dir, cycle) = (producer.clone(), dir.clone(), cycle.clone());
            scope.spawn(move || {
                let path = acks_dir(&dir).join(format!("ack-{cycle}-{thread}"));
                let mut acks = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
                for n in 0u64.. {
                    let value = format!("c{cycle}-t{thread}-{n}");
                    let record = ProducerRecord::new("sync", value.as_bytes()).partition((thread + n as u32) % 3);
                    let meta = producer_send(&producer, &record, n);
                    acks.write_all(format!("{} {} {value}\n", meta.partition, meta.offset).as_bytes()).unwrap();
                }
            });
        }
        let keyed = producer.clone();
        let (keyed_dir, keyed_cycle) = (dir.clone(), cycle.clone());
        scope.spawn(move || {
            let path = acks_dir(&keyed_dir).join(format!("keyed-{keyed_cycle}"));
            let mut acks = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
            // Acknowledged once appended (the topic is `Buffered`): a kill
            // of the process loses none of them.
            for batch in 0u64.. {
                let sent: Vec<_> = (batch * 32..batch * 32 + 32)
                    .map(|n| {
                        let key = format!("k{}", n % 17);
                        let value = format!("{key}-c{keyed_cycle}-{n}");
                        let record = ProducerRecord::new("keyed", value.as_bytes()).key(key.as_bytes());
                        (keyed.send(&record).unwrap(), key, value)
                    })
                    .collect();
                for (handle, key, value) in sent {
                    let meta = handle.get().unwrap();
                    acks.write_all(format!("{} {} {key} {value}\n", meta.partition, meta.offset).as_bytes()).unwrap();
                }
            }
        });
        let cleaning = &log;
        scope.spawn(move || loop {
            cleaning.run_cleaner().unwrap();
            std::thread::sleep(Duration::from_millis(1));
        });
        let buffered = producer.clone();
        scope.spawn(move || {
            for n in 0u64.. {
                buffered.send(&ProducerRecord::new("buffered", format!("b{n}").as_bytes())).unwrap();
                if n % 64 == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        });
        let (log, dir) = (&log, dir.clone());
        scope.spawn(move || {
            let path = acks_dir(&dir).join(format!("commit-{cycle}"));
            let mut commits = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
            let mut consumer = log.consumer(ConsumerConfig::default().group_id("g").enable_auto_commit(false)).unwrap();
            consumer.subscribe(&["buffered"]).unwrap();
            loop {
                consumer.poll(Duration::from_millis(20)).unwrap();
                consumer.commit().unwrap();
                let positions: String = consumer
                    .assignment()
                    .iter()
                    .map(|tp| format!("{} {}\n", tp.partition, consumer.committed(tp).unwrap().unwrap_or(0)))
                    .collect();
                commits.write_all(positions.as_bytes()).unwrap();
            }
        });
    });
}
