//! Attacks on a read-only log: reader threads iterate, batch-read, look up
//! by time and consume while the owner appends, rolls, truncates, deletes
//! records, deletes and recreates the topic, and finally closes — for a
//! few hundred rounds. Every record a reader gets must be genuine (its
//! value names its own offset and a generation the owner wrote at that
//! offset), errors must be typed, nothing may panic, and after the reader
//! closes, every handle fails with `Error::Closed`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use larder::record::NewRecord;
use larder::{AutoOffsetReset, ConsumerConfig, Error, Log, LogOptions, TopicConfig, TopicPartition};

/// `offset:generation`, the value the owner writes.
fn value(offset: u64, generation: u64) -> String {
    format!("{offset}:{generation}")
}

/// Checks a record read at `offset` names it.
fn genuine(offset: u64, value: Option<&[u8]>) {
    let text = std::str::from_utf8(value.expect("a value")).expect("UTF-8");
    let (named, _generation) = text.split_once(':').expect("offset:generation");
    assert_eq!(named.parse::<u64>().unwrap(), offset, "a record read at {offset} holds {text}");
}

/// The errors a reader may meet while the owner changes things under it.
fn expected(error: &Error) -> bool {
    matches!(
        error,
        Error::OffsetOutOfRange { .. }
            | Error::UnknownTopic { .. }
            | Error::UnknownPartition { .. }
            | Error::TopicDeleted { .. }
            | Error::Closed { .. }
            | Error::Io { .. }
    )
}

fn owner_churns(log: &Log, stop: &AtomicBool, deadline: Instant) {
    let mut generation = 0;
    while Instant::now() < deadline {
        generation += 1;
        let Ok(partition) = log.partition("t", 0) else {
            log.create_topic("t", TopicConfig::new(1).segment_bytes(4096)).unwrap();
            continue;
        };
        let end = partition.end_offset();
        for offset in end..end + 200 {
            let text = value(offset, generation);
            partition.append(&NewRecord::new(text.as_bytes())).unwrap();
        }
        match generation % 7 {
            0 => partition.truncate_to(partition.log_start_offset().max(partition.end_offset() - 150)).unwrap(),
            1 | 4 => {
                let end = partition.end_offset();
                log.delete_records("t", 0, end.saturating_sub(300)).unwrap();
            }
            2 => partition.roll().unwrap(),
            5 if generation % 21 == 5 => {
                drop(partition);
                log.delete_topic("t").unwrap();
                log.create_topic("t", TopicConfig::new(1).segment_bytes(4096)).unwrap();
            }
            _ => {}
        }
    }
    stop.store(true, Ordering::Release);
}

fn reader_reads(reader: &Log, stop: &AtomicBool) -> u64 {
    let mut checked = 0;
    while !stop.load(Ordering::Acquire) {
        let partition = match reader.partition("t", 0) {
            Ok(partition) => partition,
            Err(error) => {
                assert!(expected(&error), "{error}");
                continue;
            }
        };
        let start = partition.log_start_offset();
        for record in partition.iter_from(start).take(500) {
            match record {
                Ok(record) => {
                    genuine(record.offset(), record.value());
                    checked += 1;
                }
                Err(error) => assert!(expected(&error), "{error}"),
            }
        }
        match partition.read_batch(partition.end_offset().saturating_sub(50), 100) {
            Ok(batch) => batch.iter().for_each(|r| genuine(r.offset(), r.value())),
            Err(error) => assert!(expected(&error), "{error}"),
        }
        if let Err(error) = partition.offset_for_timestamp(0) {
            assert!(expected(&error), "{error}");
        }
    }
    checked
}

fn consumer_reads(reader: &Log, stop: &AtomicBool) -> u64 {
    let config = ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest);
    let mut consumer = reader.consumer(config).unwrap();
    let mut checked = 0;
    while !stop.load(Ordering::Acquire) {
        if consumer.assignment().is_empty() {
            if let Err(error) = consumer.assign(&[TopicPartition::new("t", 0)]) {
                assert!(expected(&error), "{error}");
                continue;
            }
        }
        match consumer.poll(Duration::from_millis(20)) {
            Ok(records) => records.iter().for_each(|r| {
                genuine(r.offset(), r.value());
                checked += 1;
            }),
            Err(error) => {
                assert!(expected(&error), "{error}");
                consumer.unsubscribe();
            }
        }
    }
    checked
}

#[test]
fn readers_see_only_genuine_records_while_the_owner_churns_then_closes() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Log::open(dir.path(), LogOptions::default()).unwrap();
    owner.create_topic("t", TopicConfig::new(1).segment_bytes(4096)).unwrap();
    let reader = Log::open_read_only(dir.path()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(3);
    let (checked_reads, checked_polls) = std::thread::scope(|scope| {
        let reads = scope.spawn(|| reader_reads(&reader, &stop));
        let polls = scope.spawn(|| consumer_reads(&reader, &stop));
        owner_churns(&owner, &stop, deadline);
        (reads.join().unwrap(), polls.join().unwrap())
    });
    assert!(checked_reads > 1000 && checked_polls > 100, "the readers read ({checked_reads}, {checked_polls})");

    // The owner closes while a reader still holds a partition: the reader
    // keeps what it has, sees the closed owner's files; its own close ends it.
    let partition = reader.partition("t", 0).unwrap();
    owner.close().unwrap();
    let end = partition.refresh().unwrap();
    if end > partition.log_start_offset() {
        genuine(end - 1, partition.read(end - 1).unwrap().value());
    }
    let clone = reader.clone();
    reader.close().unwrap();
    assert!(matches!(partition.read(0), Err(Error::Closed { .. })));
    assert!(matches!(clone.partition("t", 0), Err(Error::Closed { .. })));
    assert!(matches!(clone.consumer(ConsumerConfig::default()), Err(Error::Closed { .. })));
    assert!(clone.list_topics().is_empty());
}
