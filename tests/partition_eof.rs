//! `enable_partition_eof`: a poll reports each partition whose end the
//! position reached, once per time it gets there (again only after more
//! records were delivered from it, or a seek); a poll with nothing but an
//! end to report returns at once; off by default, and never from paused
//! partitions.

use std::time::Duration;

use larder::{
    AutoOffsetReset, Consumer, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig,
    TopicPartition,
};

const HOUR: Duration = Duration::from_secs(3600);

fn setup(eof: bool) -> (tempfile::TempDir, Log, Consumer) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(2)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    for _ in 0..3 {
        producer.send_direct(&ProducerRecord::new("t", b"v").partition(0)).unwrap();
    }
    let config = ConsumerConfig::default()
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .max_poll_records(2)
        .enable_partition_eof(eof);
    let mut consumer = log.consumer(config).unwrap();
    consumer.assign(&[TopicPartition::new("t", 0), TopicPartition::new("t", 1)]).unwrap();
    (dir, log, consumer)
}

fn eofs(records: &larder::ConsumerRecords) -> Vec<u32> {
    let mut partitions: Vec<u32> = records.partition_eof().iter().map(|tp| tp.partition).collect();
    partitions.sort();
    partitions
}

#[test]
fn each_end_is_reported_once_per_time_it_is_reached() {
    let (_dir, log, mut consumer) = setup(true);
    // Partition 0 has 3 records, partition 1 none: the first poll fills
    // its two records from 0 and stops (an hour-long timeout: nothing
    // here waits for it).
    let first = consumer.poll(HOUR).unwrap();
    assert_eq!((first.len(), eofs(&first)), (2, vec![]));
    // The last record of 0 and both ends in one poll.
    let second = consumer.poll(HOUR).unwrap();
    assert_eq!((second.len(), eofs(&second)), (1, vec![0, 1]));
    // Nothing new: no record and no end to report, so the poll waits (a
    // zero timeout here).
    let third = consumer.poll(Duration::ZERO).unwrap();
    assert_eq!((third.len(), eofs(&third)), (0, vec![]));
    // A new record, delivered: its partition's end is reported again.
    let producer = log.producer(ProducerConfig::default()).unwrap();
    producer.send_direct(&ProducerRecord::new("t", b"w").partition(1)).unwrap();
    let fourth = consumer.poll(HOUR).unwrap();
    assert_eq!((fourth.len(), eofs(&fourth)), (1, vec![1]));
    // A seek back re-arms the report.
    consumer.seek(&TopicPartition::new("t", 0), 2).unwrap();
    let fifth = consumer.poll(HOUR).unwrap();
    assert_eq!((fifth.len(), eofs(&fifth)), (1, vec![0]));
    consumer.seek_to_end(&[]).unwrap();
    let sixth = consumer.poll(HOUR).unwrap();
    assert_eq!((sixth.len(), eofs(&sixth)), (0, vec![0, 1]));
}

#[test]
fn off_by_default_and_silent_for_paused_partitions() {
    let (_dir, _log, mut consumer) = setup(false);
    let mut polled = 0;
    while polled < 3 {
        let records = consumer.poll(HOUR).unwrap();
        assert!(records.partition_eof().is_empty());
        polled += records.len();
    }
    assert!(consumer.poll(Duration::ZERO).unwrap().partition_eof().is_empty());

    let (_dir, _log, mut consumer) = setup(true);
    consumer.pause(&[TopicPartition::new("t", 1)]).unwrap();
    let first = consumer.poll(HOUR).unwrap();
    assert_eq!((first.len(), eofs(&first)), (2, vec![]));
    consumer.resume(&[TopicPartition::new("t", 1)]).unwrap();
    let second = consumer.poll(HOUR).unwrap();
    assert_eq!((second.len(), eofs(&second)), (1, vec![0, 1]));
}

#[test]
fn the_iterator_never_stops_on_an_end() {
    let (_dir, _log, mut consumer) = setup(true);
    let yielded = consumer.iter().take(3).map(Result::unwrap).count();
    assert_eq!(yielded, 3);
}
