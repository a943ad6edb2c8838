//! Realistic directories, written with larder's public API: partitions
//! (rolled segments, retention, truncation, clean close or crash) and logs
//! (a topic of several partitions and a group with commits). Each is built
//! once per process and kept as a [`Snapshot`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use larder::storage::fault::FaultStorage;
use larder::{ConsumerConfig, Durability, Log, LogOptions, TopicConfig, TopicPartition};
use larder::partition::{Partition, PartitionOptions};

use crate::records::Written;
use crate::snapshot::Snapshot;

/// Segment size of most scenarios: two to four records per segment.
pub const SMALL_SEGMENT_BYTES: u32 = 256;
/// Time index interval: an entry every record or two.
pub const INDEX_INTERVAL_BYTES: u32 = 64;
/// The topic of every log scenario.
pub const TOPIC: &str = "t";
/// The consumer group of every log scenario.
pub const GROUP: &str = "g";

/// What was appended to one partition, by offset, and where it starts.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The record stored at each offset (the latest, after a truncation).
    pub records: Vec<Written>,
    /// The log start offset the partition was left with.
    pub log_start_offset: u64,
}

impl History {
    /// Appends `count` records of `generation` at the partition's end.
    pub fn append(&mut self, partition: &Partition, count: u64, generation: u8) {
        for _ in 0..count {
            let offset = partition.end_offset();
            let written = Written::for_offset(offset, generation);
            assert_eq!(written.append_to(partition).unwrap().offset, offset);
            self.records.truncate(offset as usize);
            self.records.push(written);
        }
    }

    /// The offset the next append gets.
    pub fn end_offset(&self) -> u64 {
        self.records.len() as u64
    }
}

/// The file layer of every scenario and target: the real file system,
/// with fsync skipped (the targets simulate damaged files, not power loss).
pub fn storage() -> Arc<FaultStorage> {
    let storage = Arc::new(FaultStorage::new());
    storage.skip_syncs(true);
    storage
}

/// Where every execution writes its directory: memory (`/dev/shm`) where
/// there is one — it measured 6x more executions per second than a disk
/// here — else the system's temporary directory. An execution that
/// crashes leaves its directory behind; the prefix tells whose it is.
pub fn scratch_dir() -> tempfile::TempDir {
    let mut builder = tempfile::Builder::new();
    builder.prefix("larder-fuzz-");
    let memory = std::path::Path::new("/dev/shm");
    if memory.is_dir() {
        if let Ok(dir) = builder.tempdir_in(memory) {
            return dir;
        }
    }
    builder.tempdir().unwrap()
}

/// Options of a standalone partition with `segment_bytes` segments.
pub fn partition_options(segment_bytes: u32) -> PartitionOptions {
    PartitionOptions::default()
        .segment_bytes(segment_bytes)
        .index_interval_bytes(INDEX_INTERVAL_BYTES)
        .storage(storage())
}

/// Options of every log.
pub fn log_options() -> LogOptions {
    LogOptions::default().storage(storage())
}

/// A partition directory as a scenario left it.
#[derive(Debug)]
pub struct BuiltPartition {
    /// The scenario's name (seed file names use it).
    pub name: &'static str,
    /// The `segment_bytes` it was written with, and is opened with.
    pub segment_bytes: u32,
    /// Its files.
    pub snapshot: Snapshot,
    /// What it holds.
    pub history: History,
}

struct PartitionScenario {
    name: &'static str,
    segment_bytes: u32,
    steps: fn(Partition, &mut History),
}

const PARTITION_SCENARIOS: &[PartitionScenario] = &[
    PartitionScenario { name: "clean", segment_bytes: SMALL_SEGMENT_BYTES, steps: clean },
    PartitionScenario { name: "crash", segment_bytes: SMALL_SEGMENT_BYTES, steps: crash },
    PartitionScenario { name: "retention", segment_bytes: SMALL_SEGMENT_BYTES, steps: retention },
    PartitionScenario { name: "crash_after_roll", segment_bytes: SMALL_SEGMENT_BYTES, steps: crash_after_roll },
    PartitionScenario { name: "truncated", segment_bytes: SMALL_SEGMENT_BYTES, steps: truncated },
    PartitionScenario { name: "one_segment", segment_bytes: 4096, steps: one_segment },
    PartitionScenario { name: "empty", segment_bytes: SMALL_SEGMENT_BYTES, steps: empty },
    PartitionScenario { name: "many_records", segment_bytes: 1024, steps: many_records },
];

fn clean(partition: Partition, history: &mut History) {
    history.append(&partition, 10, 0);
    partition.close().unwrap();
}

fn crash(partition: Partition, history: &mut History) {
    history.append(&partition, 10, 0);
    partition.simulate_crash();
}

fn retention(partition: Partition, history: &mut History) {
    history.append(&partition, 10, 0);
    history.log_start_offset = partition.delete_before(5).unwrap();
    partition.close().unwrap();
}

fn crash_after_roll(partition: Partition, history: &mut History) {
    history.append(&partition, 10, 0);
    partition.roll().unwrap();
    partition.simulate_crash();
}

fn truncated(partition: Partition, history: &mut History) {
    history.append(&partition, 10, 0);
    partition.truncate_to(4).unwrap();
    history.records.truncate(4);
    history.append(&partition, 3, 1);
    partition.close().unwrap();
}

fn one_segment(partition: Partition, history: &mut History) {
    history.append(&partition, 6, 0);
    partition.close().unwrap();
}

/// Segments of many records, so each index has many entries; cut by a crash.
fn many_records(partition: Partition, history: &mut History) {
    history.append(&partition, 24, 0);
    partition.simulate_crash();
}

fn empty(partition: Partition, _: &mut History) {
    partition.close().unwrap();
}

/// Every partition scenario, built on first use.
pub fn partitions() -> &'static [BuiltPartition] {
    static BUILT: OnceLock<Vec<BuiltPartition>> = OnceLock::new();
    BUILT.get_or_init(|| PARTITION_SCENARIOS.iter().map(build_partition).collect())
}

fn build_partition(scenario: &PartitionScenario) -> BuiltPartition {
    let dir = scratch_dir();
    let partition = Partition::open(dir.path(), partition_options(scenario.segment_bytes)).unwrap();
    let mut history = History::default();
    (scenario.steps)(partition, &mut history);
    let snapshot = Snapshot::capture(dir.path());
    BuiltPartition { name: scenario.name, segment_bytes: scenario.segment_bytes, snapshot, history }
}

/// A log directory as a scenario left it.
#[derive(Debug)]
pub struct BuiltLog {
    /// The scenario's name.
    pub name: &'static str,
    /// Its files.
    pub snapshot: Snapshot,
    /// What each partition of [`TOPIC`] holds.
    pub partitions: Vec<History>,
    /// The offsets [`GROUP`] committed, by partition.
    pub committed: BTreeMap<u32, u64>,
}

struct LogScenario {
    name: &'static str,
    config: fn() -> TopicConfig,
    /// Records appended to each partition.
    records: &'static [u64],
    /// Commits of the group, in order: `(partition, offset)` pairs each.
    commits: &'static [&'static [(u32, u64)]],
    crash: bool,
}

const LOG_SCENARIOS: &[LogScenario] = &[
    LogScenario {
        name: "clean_sync",
        config: || TopicConfig::new(2).segment_bytes(SMALL_SEGMENT_BYTES).durability(Durability::Sync),
        records: &[8, 3],
        commits: &[&[(0, 3), (1, 1)], &[(0, 8)], &[(1, 3)]],
        crash: false,
    },
    LogScenario {
        name: "crash_interval",
        config: || {
            let interval = Durability::Interval(Duration::from_millis(250));
            TopicConfig::new(2).segment_bytes(SMALL_SEGMENT_BYTES).segment_ms(3_600_000).durability(interval)
        },
        records: &[5, 0],
        commits: &[&[(0, 2)]],
        crash: true,
    },
    LogScenario {
        name: "fresh_group",
        config: || TopicConfig::new(3).segment_bytes(512).max_record_bytes(4096),
        records: &[4, 1, 0],
        commits: &[],
        crash: false,
    },
];

/// Every log scenario, built on first use.
pub fn logs() -> &'static [BuiltLog] {
    static BUILT: OnceLock<Vec<BuiltLog>> = OnceLock::new();
    BUILT.get_or_init(|| LOG_SCENARIOS.iter().map(build_log).collect())
}

fn build_log(scenario: &LogScenario) -> BuiltLog {
    let dir = scratch_dir();
    let log = Log::open(dir.path(), log_options()).unwrap();
    log.create_topic(TOPIC, (scenario.config)()).unwrap();
    let mut partitions = Vec::new();
    for (n, &count) in scenario.records.iter().enumerate() {
        let mut history = History::default();
        history.append(&log.partition(TOPIC, n as u32).unwrap(), count, 0);
        partitions.push(history);
    }
    let committed = commit(&log, scenario);
    if scenario.crash {
        log.simulate_crash();
    } else {
        log.close().unwrap();
    }
    BuiltLog { name: scenario.name, snapshot: Snapshot::capture(dir.path()), partitions, committed }
}

/// Makes the scenario's commits (a group's first use writes its offsets
/// file even without any).
fn commit(log: &Log, scenario: &LogScenario) -> BTreeMap<u32, u64> {
    let config = ConsumerConfig::default().group_id(GROUP).enable_auto_commit(false);
    let mut consumer = log.consumer(config).unwrap();
    let all: Vec<TopicPartition> = (0..scenario.records.len() as u32).map(|n| TopicPartition::new(TOPIC, n)).collect();
    consumer.assign(&all).unwrap();
    let mut committed = BTreeMap::new();
    for commit in scenario.commits {
        let offsets: HashMap<TopicPartition, u64> =
            commit.iter().map(|&(n, offset)| (TopicPartition::new(TOPIC, n), offset)).collect();
        consumer.commit_offsets(&offsets).unwrap();
        committed.extend(commit.iter().copied());
    }
    committed
}
