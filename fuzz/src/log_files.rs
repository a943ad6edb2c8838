//! The driver of the log file targets (`topic.meta`, a group's offsets
//! log): restore a scenario's log, replace one file by the fuzzer's bytes
//! with their CRCs fixed up, open, check every partition and read the topic
//! with a consumer of the group; then append, commit, close, reopen and
//! check that both survived.

use std::collections::BTreeMap;
use std::path::Path;

use larder::{Error, Log};

use crate::check::{assert_typed_open_error, check_consumer, check_partition, ConsumerCheck, Expected};
use crate::fixup::{self, metadata};
use crate::input::{Input, ABSENT, SUBSCRIBE};
use crate::partition_files::replace;
use crate::records::Written;
use crate::scenario::{self, BuiltLog, GROUP, TOPIC};

/// Partition counts above this are brought down (modulo one more), so an
/// execution opens a handful of partitions, not thousands.
pub const PARTITIONS_MAX: u32 = 4;
/// `u32 partitions` in `topic.meta`.
const PARTITIONS_AT: usize = metadata::PREFIX_BYTES;
/// Generation of the record appended after recovery.
const AFTER_RECOVERY: u8 = 9;

/// The file a target replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFile {
    /// `topics/<topic>/topic.meta`.
    TopicMeta,
    /// `groups/<group>.offsets`.
    GroupOffsets,
}

impl LogFile {
    /// The file's path in the log directory.
    pub fn path(self) -> String {
        match self {
            LogFile::TopicMeta => format!("topics/{TOPIC}/topic.meta"),
            LogFile::GroupOffsets => format!("groups/{GROUP}.offsets"),
        }
    }

    /// The bytes after the fix-up.
    pub fn damage(self, input: &Input<'_>) -> Vec<u8> {
        let mut bytes = input.file.to_vec();
        match self {
            LogFile::TopicMeta => {
                limit_partitions(&mut bytes);
                fixup::metadata_file(&mut bytes, input.fixup);
            }
            LogFile::GroupOffsets => fixup::group_offsets_file(&mut bytes, input.fixup),
        }
        bytes
    }
}

/// Brings a partition count the topic would accept down to at most
/// `PARTITIONS_MAX` (counts larder must reject are left alone).
fn limit_partitions(bytes: &mut [u8]) {
    let Some(field) = bytes.get_mut(PARTITIONS_AT..PARTITIONS_AT + 4) else { return };
    let partitions = u32::from_le_bytes(field.try_into().unwrap());
    if (PARTITIONS_MAX + 1..=larder::TopicConfig::MAX_PARTITIONS).contains(&partitions) {
        field.copy_from_slice(&(partitions % (PARTITIONS_MAX + 1)).to_le_bytes());
    }
}

/// Runs one fuzz input against `file`.
pub fn run(data: &[u8], file: LogFile) {
    let Some(input) = Input::parse(data) else { return };
    let built = &scenario::logs()[input.scenario as usize % scenario::logs().len()];
    let dir = scenario::scratch_dir();
    built.snapshot.restore(dir.path());
    replace(&dir.path().join(file.path()), &file.damage(&input), input.has(ABSENT));
    let log = match Log::open(dir.path(), scenario::log_options()) {
        Ok(log) => log,
        Err(error) if file == LogFile::TopicMeta => return assert_typed_open_error(&error),
        Err(error) => panic!("open does not read group offsets, yet failed: {error}"),
    };
    if !log.list_topics().contains(&TOPIC.to_string()) {
        assert!(file == LogFile::TopicMeta && input.has(ABSENT), "topic lost: {:?}", log.list_topics());
        return;
    }
    let partitions = expected_partitions(&log, built);
    check_partitions(&log, &partitions, built);
    let check = ConsumerCheck { partitions: &partitions, group: Some(GROUP), subscribe: input.has(SUBSCRIBE) };
    let committed = match check_consumer(&log, &check) {
        Ok(committed) => committed,
        Err(error) => return assert_group_load_error(file, &error),
    };
    describe(&log);
    let partitions = append(&log, partitions);
    log.close().unwrap();
    reopen(dir.path(), built, &partitions, &committed);
}

/// The records each partition of the topic, as opened, must hold.
fn expected_partitions(log: &Log, built: &BuiltLog) -> Vec<Vec<Written>> {
    let count = log.describe_topic(TOPIC).unwrap().partitions.len();
    (0..count).map(|n| built.partitions.get(n).map(|h| h.records.clone()).unwrap_or_default()).collect()
}

fn check_partitions(log: &Log, partitions: &[Vec<Written>], built: &BuiltLog) {
    for (n, records) in partitions.iter().enumerate() {
        let partition = log.partition(TOPIC, n as u32).unwrap();
        let start = built.partitions.get(n).map_or(0, |h| h.log_start_offset);
        let expected = Expected {
            records,
            log_start_offset: Some(start),
            end_offset: Some(records.len() as u64),
            reads_may_fail: false,
            exact_time_lookup: true,
        };
        check_partition(&partition, &expected);
    }
}

/// A damaged offsets log may fail to load, with a typed error naming it;
/// nothing else may.
fn assert_group_load_error(file: LogFile, error: &Error) {
    assert!(
        file == LogFile::GroupOffsets && matches!(error, Error::Corrupt { .. }),
        "loading the group failed: {error:?}"
    );
}

fn describe(log: &Log) {
    assert!(log.list_groups().unwrap().contains(&GROUP.to_string()));
    let description = log.describe_group(GROUP).unwrap();
    let _ = format!("{description:?}");
}

/// Appends a record to partition 0 and reads it back. The topic's
/// `max_record_bytes` may now refuse it: then it must say so, exactly.
fn append(log: &Log, mut partitions: Vec<Vec<Written>>) -> Vec<Vec<Written>> {
    let Some(records) = partitions.first_mut() else { return partitions };
    let partition = log.partition(TOPIC, 0).unwrap();
    let end = partition.end_offset();
    let written = Written::for_offset(end, AFTER_RECOVERY);
    match written.append_to(&partition) {
        Ok(appended) => assert_eq!(appended.offset, end),
        Err(Error::RecordTooLarge { size_bytes, max_record_bytes }) => {
            assert_eq!(size_bytes, written.frame_bytes(), "RecordTooLarge names the frame's size");
            assert!(size_bytes > u64::from(max_record_bytes), "{size_bytes} bytes refused under {max_record_bytes}");
            return partitions;
        }
        Err(error) => panic!("append after recovery: {error:?}"),
    }
    written.assert_returned(end, &partition.read(end).unwrap().view().into());
    records.push(written);
    partitions
}

/// Reopens the closed log: the same partitions hold the same records, and
/// the group's last commit stands.
fn reopen(dir: &Path, built: &BuiltLog, partitions: &[Vec<Written>], committed: &BTreeMap<u32, u64>) {
    let log = Log::open(dir, scenario::log_options()).unwrap_or_else(|e| panic!("reopen after a clean close: {e}"));
    assert_eq!(log.describe_topic(TOPIC).unwrap().partitions.len(), partitions.len());
    check_partitions(&log, partitions, built);
    let consumer = log.consumer(larder::ConsumerConfig::default().group_id(GROUP).enable_auto_commit(false)).unwrap();
    for (&n, &offset) in committed {
        let tp = larder::TopicPartition::new(TOPIC, n);
        assert_eq!(consumer.committed(&tp).unwrap(), Some(offset), "commit of {tp:?} lost by a reopen");
    }
    drop(consumer);
    log.close().unwrap();
}
