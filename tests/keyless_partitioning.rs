//! Records without a key follow Kafka 3.3's uniform sticky partitioner: a
//! trickle (each record acknowledged before the next is sent, or sent
//! direct) spreads evenly over every partition, while a flood of queued
//! sends still lands in long runs per partition, spread evenly, and a run
//! ends once its frames reach `sticky_partition_bytes`.

mod common;

use std::collections::HashMap;

use larder::record::NewRecord;
use larder::{Log, LogOptions, Producer, ProducerConfig, ProducerRecord, TopicConfig};

fn open(partitions: u32, config: ProducerConfig) -> (tempfile::TempDir, Log, Producer) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(partitions)).unwrap();
    let producer = log.producer(config).unwrap();
    (dir, log, producer)
}

fn counts(partitions: impl IntoIterator<Item = u32>) -> HashMap<u32, usize> {
    let mut counts = HashMap::new();
    for partition in partitions {
        *counts.entry(partition).or_default() += 1;
    }
    counts
}

#[test]
fn a_trickle_of_acknowledged_sends_spreads_over_every_partition() {
    let (_dir, _log, producer) = open(6, ProducerConfig::default());
    let landed = (0..30).map(|_| producer.send(&ProducerRecord::new("t", b"v")).unwrap().get().unwrap().partition);
    let counts = counts(landed);
    assert_eq!(counts.len(), 6, "{counts:?}");
    assert!(counts.values().all(|&n| (3..=7).contains(&n)), "each partition within 5 ± 2: {counts:?}");
}

#[test]
fn direct_sends_are_batches_of_their_own_and_rotate() {
    let (_dir, _log, producer) = open(6, ProducerConfig::default());
    let landed: Vec<u32> =
        (0..30).map(|_| producer.send_direct(&ProducerRecord::new("t", b"v")).unwrap().partition).collect();
    let counts = counts(landed.iter().copied());
    assert_eq!(counts.len(), 6, "{landed:?}");
    assert!(counts.values().all(|&n| n == 5), "{counts:?}");
    assert!(landed.windows(2).all(|w| w[0] != w[1]), "never twice in a row: {landed:?}");
}

/// Where each of `sends` numbered records landed, read back from the log.
fn partition_of_each(log: &Log, partitions: u32, sends: usize) -> Vec<u32> {
    let mut partition_of = vec![u32::MAX; sends];
    for partition in 0..partitions {
        for record in log.partition("t", partition).unwrap().iter_from(0) {
            let record = record.unwrap();
            let value = record.value().unwrap();
            if value.len() != 100 {
                continue; // the gate that held the appender
            }
            let n = u64::from_le_bytes(value[..8].try_into().unwrap()) as usize;
            assert_eq!(partition_of[n], u32::MAX, "record {n} stored twice");
            partition_of[n] = partition;
        }
    }
    assert!(partition_of.iter().all(|&p| p < partitions), "every record stored once");
    partition_of
}

fn numbered(n: usize) -> [u8; 100] {
    let mut value = [0u8; 100];
    value[..8].copy_from_slice(&(n as u64).to_le_bytes());
    value
}

#[test]
fn a_flood_of_queued_sends_lands_in_long_runs_spread_evenly() {
    // The appender, held in a callback, takes no drain while the flood is
    // queued, so only the byte budget ends runs: each is as long as the
    // budget allows, and the runs go round every partition in turn.
    let (_dir, log, producer) = open(6, ProducerConfig::default());
    let gate = ProducerRecord::new("t", b"gate").partition(0);
    let (_held, release) = common::hold_appender(&producer, &gate);
    let sends = 30_000usize;
    for n in 0..sends {
        producer.send(&ProducerRecord::new("t", &numbered(n)).timestamp(0)).unwrap();
    }
    release.send(()).unwrap();
    producer.flush().unwrap();
    let frame = NewRecord::new(&[0; 100]).timestamp(0).frame_bytes().unwrap();
    let per_run = ProducerConfig::DEFAULT_STICKY_PARTITION_BYTES / frame;
    let partition_of = partition_of_each(&log, 6, sends);
    let expected: Vec<u32> = (0..sends).map(|n| ((n / per_run) % 6) as u32).collect();
    assert!(partition_of == expected, "runs of {per_run} records ({frame} B frames), round-robin");
}

#[test]
fn a_flood_racing_the_appender_spreads_evenly() {
    // How long the runs are depends on how often the appender drains (a
    // drain closes the run, as a batch does in Kafka); however it races,
    // every record is stored once and the partitions fill evenly.
    let (_dir, log, producer) = open(6, ProducerConfig::default());
    let sends = 100_000usize;
    for n in 0..sends {
        producer.send(&ProducerRecord::new("t", &numbered(n))).unwrap();
    }
    producer.flush().unwrap();
    let partition_of = partition_of_each(&log, 6, sends);
    let runs = 1 + partition_of.windows(2).filter(|w| w[0] != w[1]).count();
    let counts = counts(partition_of);
    println!("{runs} runs; per partition {counts:?}");
    let even = sends / 6;
    assert!(counts.values().all(|&n| n.abs_diff(even) <= even / 5), "spread within 20 %: {counts:?}");
}

#[test]
fn a_run_ends_when_its_frames_reach_the_byte_budget() {
    let frame = NewRecord::new(&[7; 100]).timestamp(0).frame_bytes().unwrap();
    assert_eq!(ProducerConfig::DEFAULT_STICKY_PARTITION_BYTES, 16 * 1024);
    let budget = 10 * frame + frame / 2;
    let (_dir, _log, producer) = open(3, ProducerConfig::default().sticky_partition_bytes(budget));
    // The appender, held in a callback, takes no drain meanwhile: only the
    // budget ends runs.
    let gate = ProducerRecord::new("t", b"gate").partition(0);
    let (_held, release) = common::hold_appender(&producer, &gate);
    let handles: Vec<_> =
        (0..60).map(|_| producer.send(&ProducerRecord::new("t", &[7; 100]).timestamp(0)).unwrap()).collect();
    release.send(()).unwrap();
    let landed: Vec<u32> = handles.iter().map(|h| h.get().unwrap().partition).collect();
    let expected: Vec<u32> = (0..60).map(|n| (n / 10) % 3).collect();
    assert_eq!(landed, expected, "runs of 10 records ({frame} B frames, {budget} B budget)");
}

#[test]
fn a_zero_byte_budget_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let error = log.producer(ProducerConfig::default().sticky_partition_bytes(0)).unwrap_err();
    assert!(matches!(error, larder::Error::InvalidArgument { name: "sticky_partition_bytes", .. }), "{error}");
}
