//! The checks every partition and log opened from a damaged directory must
//! pass: every record returned by any read holds the offset it was read at
//! and exactly the bytes written there; offsets are dense between the log
//! start and end offsets; nothing panics; failures are typed errors.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use larder::{AutoOffsetReset, ConsumerConfig, Error, Log, TopicPartition};
use larder::partition::Partition;

use crate::records::Written;
use crate::scenario::TOPIC;

/// Batch sizes every partition is read with.
const BATCH_RECORDS: [usize; 3] = [1, 3, usize::MAX];
/// Records per consumer poll: small, so a log takes several polls.
const POLL_RECORDS: usize = 3;

/// What a partition opened from a damaged directory must show.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The record written at each offset.
    pub records: &'a [Written],
    /// The exact log start offset, when the damage cannot change it.
    pub log_start_offset: Option<u64>,
    /// The exact end offset, when the damage cannot lose records.
    pub end_offset: Option<u64>,
    /// A CRC-valid index may point anywhere, so a read in range may fail
    /// with [`Error::Corrupt`] (it must still never return wrong bytes).
    pub reads_may_fail: bool,
    /// `offset_for_timestamp` must find the first matching record; without
    /// it, any record it returns must still match.
    pub exact_time_lookup: bool,
}

/// Asserts that opening failed with an error a damaged file may cause.
pub fn assert_typed_open_error(error: &Error) {
    let typed = matches!(error, Error::Corrupt { .. } | Error::UnsupportedFile { .. } | Error::Io { .. });
    assert!(typed, "open failed with an error of the wrong kind: {error:?}");
}

/// Runs every check of [`Expected`] on `partition`.
pub fn check_partition(partition: &Partition, expected: &Expected<'_>) {
    let (start, end) = check_bounds(partition, expected);
    check_reads(partition, expected, start, end);
    check_out_of_range(partition, start, end);
    check_iter(partition, expected, start, end);
    for max_records in BATCH_RECORDS {
        check_batches(partition, expected, start, end, max_records);
    }
    check_time_lookups(partition, expected, start, end);
}

fn check_bounds(partition: &Partition, expected: &Expected<'_>) -> (u64, u64) {
    let (start, end) = (partition.log_start_offset(), partition.end_offset());
    assert!(start <= end, "log start offset {start} is past the end offset {end}");
    let written = expected.records.len() as u64;
    assert!(end <= written, "end offset {end} claims more than the {written} records written");
    if let Some(exact) = expected.log_start_offset {
        assert_eq!(start, exact, "log start offset");
    }
    if let Some(exact) = expected.end_offset {
        assert_eq!(end, exact, "end offset: records were lost");
    }
    (start, end)
}

/// Checks a read of `offset` (in range); whether it returned a record.
fn check_read(expected: &Expected<'_>, offset: u64, read: larder::Result<larder::record::Record>) -> bool {
    match read {
        Ok(record) => {
            expected.records[offset as usize].assert_returned(offset, &record.view().into());
            true
        }
        Err(error) => {
            assert_read_may_fail(expected, offset, &error);
            false
        }
    }
}

fn assert_read_may_fail(expected: &Expected<'_>, offset: u64, error: &Error) {
    let allowed = expected.reads_may_fail && matches!(error, Error::Corrupt { .. });
    assert!(allowed, "a read of offset {offset}, in range, failed: {error:?}");
}

fn check_reads(partition: &Partition, expected: &Expected<'_>, start: u64, end: u64) {
    for offset in start..end {
        check_read(expected, offset, partition.read(offset));
    }
}

fn check_out_of_range(partition: &Partition, start: u64, end: u64) {
    let mut outside = vec![end, end.saturating_add(1), u64::MAX];
    outside.extend(start.checked_sub(1));
    for offset in outside {
        let read = partition.read(offset);
        assert!(matches!(read, Err(Error::OffsetOutOfRange { .. })), "read of {offset} outside: {read:?}");
    }
    let batch = partition.read_batch(end, 10).unwrap();
    assert!(batch.is_empty() && batch.first_offset() == end, "batch at the end offset: {batch:?}");
}

/// `iter_from` yields one item per offset, in order, and ends after the
/// first error it yields (which must be one a read may give).
fn check_iter(partition: &Partition, expected: &Expected<'_>, start: u64, end: u64) {
    let limit = (end - start) as usize + 1;
    let items: Vec<_> = partition.iter_from(start).take(limit).collect();
    let failed = items.iter().position(Result::is_err);
    let yielded = failed.map_or(items.len(), |at| at + 1);
    assert_eq!(items.len(), yielded, "iter_from({start}) goes on after an error");
    if failed.is_none() {
        assert_eq!(items.len() as u64, end - start, "iter_from({start}) yields one item per offset");
    }
    for (offset, item) in (start..).zip(items) {
        check_read(expected, offset, item);
    }
}

fn check_batches(partition: &Partition, expected: &Expected<'_>, start: u64, end: u64, max_records: usize) {
    let mut offset = start;
    while offset < end {
        let batch = match partition.read_batch(offset, max_records) {
            Ok(batch) => batch,
            Err(error) => {
                assert_read_may_fail(expected, offset, &error);
                offset += 1;
                continue;
            }
        };
        assert_eq!(batch.first_offset(), offset, "batch read at {offset}");
        assert!((1..=max_records).contains(&batch.len()), "batch at {offset} of {} records", batch.len());
        assert_eq!(batch.next_offset(), offset + batch.len() as u64);
        for (at, view) in (offset..).zip(batch.iter()) {
            expected.records[at as usize].assert_returned(at, &view.into());
        }
        assert_eq!(batch.records().count(), batch.len());
        offset = batch.next_offset();
    }
}

fn check_time_lookups(partition: &Partition, expected: &Expected<'_>, start: u64, end: u64) {
    let stored = &expected.records[start as usize..end as usize];
    let mut targets: Vec<i64> = stored.iter().map(|r| r.timestamp_ms).collect();
    let oldest = targets.iter().min().copied().unwrap_or(0);
    let newest = targets.iter().max().copied().unwrap_or(0);
    targets.extend([i64::MIN, -1, 0, oldest - 1, newest + 1, i64::MAX]);
    for target in targets {
        check_time_lookup(partition, expected, start, end, target);
    }
}

fn check_time_lookup(partition: &Partition, expected: &Expected<'_>, start: u64, end: u64, target: i64) {
    let found = match partition.offset_for_timestamp(target) {
        Ok(found) => found,
        Err(error) => return assert_read_may_fail(expected, start, &error),
    };
    let first = (start..end).find(|&o| expected.records[o as usize].timestamp_ms >= target);
    if let Some(offset) = found {
        assert!((start..end).contains(&offset), "offset_for_timestamp({target}) = {offset}, outside [{start}, {end})");
        let timestamp = expected.records[offset as usize].timestamp_ms;
        assert!(timestamp >= target, "offset_for_timestamp({target}) = {offset}, whose timestamp is {timestamp}");
    }
    if expected.exact_time_lookup {
        assert_eq!(found, first, "offset_for_timestamp({target})");
    }
}

/// How a consumer reads the topic.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerCheck<'a> {
    /// What each partition holds (`log_start_offset..end_offset` as open).
    pub partitions: &'a [Vec<Written>],
    /// Read as a member of this group, using its committed offsets.
    pub group: Option<&'a str>,
    /// Subscribe (group membership) rather than assign.
    pub subscribe: bool,
}

/// Reads every partition of [`TOPIC`] to its end with a consumer, polling,
/// and checks each record; then commits the end offsets if in a group.
/// Returns the offsets committed, or the typed error of loading the
/// group.
pub fn check_consumer(log: &Log, check: &ConsumerCheck<'_>) -> larder::Result<BTreeMap<u32, u64>> {
    let mut config = ConsumerConfig::default()
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .max_poll_records(POLL_RECORDS);
    if let Some(group) = check.group {
        config = config.group_id(group);
    }
    let mut consumer = log.consumer(config)?;
    let all: Vec<TopicPartition> = (0..check.partitions.len() as u32).map(|n| TopicPartition::new(TOPIC, n)).collect();
    let mut next = first_positions(log, &consumer, &all);
    if check.subscribe {
        consumer.subscribe(&[TOPIC]).unwrap();
    } else {
        consumer.assign(&all).unwrap();
    }
    poll_to_end(&mut consumer, check, &mut next);
    for tp in &all {
        let end = log.partition(TOPIC, tp.partition).unwrap().end_offset();
        assert_eq!(next[&tp.partition], end, "the consumer read {tp:?} to its end");
        assert_eq!(consumer.position(tp).unwrap(), end, "position of {tp:?}");
    }
    check_offsets_for_times(log, &consumer, check, &all);
    if check.group.is_none() {
        return Ok(BTreeMap::new());
    }
    consumer.commit().unwrap();
    for tp in &all {
        assert_eq!(consumer.committed(tp).unwrap(), Some(next[&tp.partition]), "committed offset of {tp:?}");
    }
    Ok(next)
}

/// Where the consumer must start in each partition: the committed offset
/// if it lies in the log, else the log start (`Earliest`).
fn first_positions(log: &Log, consumer: &larder::Consumer, all: &[TopicPartition]) -> BTreeMap<u32, u64> {
    let mut positions = BTreeMap::new();
    for tp in all {
        let partition = log.partition(TOPIC, tp.partition).unwrap();
        let range = partition.log_start_offset()..=partition.end_offset();
        let committed = consumer.committed(tp).ok().flatten().filter(|o| range.contains(o));
        positions.insert(tp.partition, committed.unwrap_or(*range.start()));
    }
    positions
}

fn poll_to_end(consumer: &mut larder::Consumer, check: &ConsumerCheck<'_>, next: &mut BTreeMap<u32, u64>) {
    let records: usize = check.partitions.iter().map(Vec::len).sum();
    for _ in 0..records / POLL_RECORDS + check.partitions.len() + 2 {
        let polled = consumer.poll(Duration::ZERO).unwrap();
        if polled.is_empty() {
            return;
        }
        for record in polled.iter() {
            let at = next.get_mut(&record.partition()).expect("a record of an assigned partition");
            check.partitions[record.partition() as usize][*at as usize].assert_returned(*at, &(&record).into());
            *at += 1;
        }
    }
    panic!("polls kept returning records past the end");
}

fn check_offsets_for_times(log: &Log, consumer: &larder::Consumer, check: &ConsumerCheck<'_>, all: &[TopicPartition]) {
    for timestamp in [0, Written::for_offset(3, 0).timestamp_ms, i64::MAX] {
        let times: HashMap<TopicPartition, i64> = all.iter().map(|tp| (tp.clone(), timestamp)).collect();
        for (tp, found) in consumer.offsets_for_times(&times).unwrap() {
            let partition = log.partition(TOPIC, tp.partition).unwrap();
            let Some(offset) = found else { continue };
            assert!((partition.log_start_offset()..partition.end_offset()).contains(&offset));
            let written = &check.partitions[tp.partition as usize][offset as usize];
            assert!(written.timestamp_ms >= timestamp, "offsets_for_times({timestamp}) of {tp:?} = {offset}");
        }
    }
}
