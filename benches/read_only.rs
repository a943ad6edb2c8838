//! Readers never slow the owner: the owner's append rate (100 B values,
//! `send_direct` to 4 partitions) with no reader, then with two read-only
//! tailers in other processes (`Log::open_read_only`, each polling every
//! record as it comes), and how long after the owner's last append each
//! tailer had seen everything.
//!
//! `cargo bench --bench read_only` (LARDER_BENCH_QUICK=1 for a smoke run).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{median_of, row, timed};
use larder::TopicPartition;
use larder::{AutoOffsetReset, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

const REPEATS: usize = 3;
const PARTITIONS: u32 = 4;
/// Set in a tailer process: the log directory, and how many records to read.
const TAILER_DIR: &str = "LARDER_BENCH_TAILER_DIR";
const TAILER_RECORDS: &str = "LARDER_BENCH_TAILER_RECORDS";

fn quick() -> bool {
    std::env::var_os("LARDER_BENCH_QUICK").is_some()
}

fn main() {
    if let (Some(dir), Some(records)) = (std::env::var_os(TAILER_DIR), std::env::var_os(TAILER_RECORDS)) {
        return tail(Path::new(&dir), records.to_string_lossy().parse().unwrap());
    }
    let base = std::env::var("LARDER_BENCH_DIR").unwrap_or_else(|_| "/tmp".into());
    let dir = tempfile::tempdir_in(base).unwrap();
    let records = if quick() { 20_000 } else { 2_000_000 };
    println!("larder read-only tailers: the owner's append rate, 100 B values, {PARTITIONS} partitions");
    let (alone, _) = median_of(REPEATS, || run(dir.path(), records, 0));
    let alone_rate = row("owner alone", records, records * 100, alone, None);
    let (with_two, caught_up) = median_of(REPEATS, || run(dir.path(), records, 2));
    let with_rate = row("owner, two read-only tailers", records, records * 100, with_two, None);
    println!("with tailers / alone: {:.2}", with_rate / alone_rate);
    println!("tailers saw the last record {:.1} ms after it was appended (median run)", caught_up.as_secs_f64() * 1e3);
}

/// One run in a fresh log: `tailers` tailer processes attached (and ready)
/// before the owner appends `records`. Returns the owner's append time and
/// how long after its end the slowest tailer finished.
fn run(dir: &Path, records: u64, tailers: usize) -> (Duration, Duration) {
    let log_dir = dir.join("log");
    let _ = std::fs::remove_dir_all(&log_dir);
    let log = Log::open(&log_dir, LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(PARTITIONS)).unwrap();
    let mut children: Vec<Child> = (0..tailers).map(|_| spawn_tailer(&log_dir, records)).collect();
    // Each tailer prints a line once it is attached.
    for child in &mut children {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut line).unwrap();
    }
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let value = [7u8; 100];
    let (elapsed, ()) = timed(|| {
        for n in 0..records {
            producer.send_direct(&ProducerRecord::new("t", &value).partition((n % PARTITIONS as u64) as u32)).unwrap();
        }
    });
    let appended = Instant::now();
    for child in children {
        assert!(child.wait_with_output().unwrap().status.success(), "a tailer failed");
    }
    let caught_up = appended.elapsed();
    drop(producer);
    log.close().unwrap();
    (elapsed, if tailers == 0 { Duration::ZERO } else { caught_up })
}

fn spawn_tailer(dir: &Path, records: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(TAILER_DIR, dir)
        .env(TAILER_RECORDS, records.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A tailer process: reads every record of the log read-only as it comes.
fn tail(dir: &Path, records: u64) {
    let log = Log::open_read_only(dir).unwrap();
    let config = ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest).max_poll_records(5_000);
    let mut consumer = log.consumer(config).unwrap();
    let all: Vec<_> = (0..PARTITIONS).map(|p| TopicPartition::new("t", p)).collect();
    consumer.assign(&all).unwrap();
    println!("attached");
    let mut seen = 0;
    while seen < records {
        seen += consumer.poll(Duration::from_secs(10)).unwrap().len() as u64;
    }
}
