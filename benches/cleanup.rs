//! Cleanup benchmarks, each measured in a fresh directory with the final
//! sync inside the timed span:
//! - compaction throughput (MB of log read per second) beside a raw copy of
//!   the same bytes (read, write, fsync) in the same run;
//! - the append rate of a topic with retention configured and its cleaner
//!   running, beside the same topic without retention;
//! - bytes on disk for 1, 1 000 and 1 000 000 records of 100 B.
//!
//! `cargo bench --bench cleanup` (LARDER_BENCH_QUICK=1 for a smoke run,
//! LARDER_BENCH_ONLY=compaction|append|footprint for one section).

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::timed;
use larder::clock::ManualClock;
use larder::{CleanupPolicy, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

const REPEATS: usize = 5;

fn quick() -> bool {
    std::env::var_os("LARDER_BENCH_QUICK").is_some()
}

fn bench_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(std::env::var("LARDER_BENCH_DIR").unwrap_or_else(|_| "/tmp".into())).unwrap()
}

fn main() {
    println!("larder cleanup benchmarks (median of {REPEATS} runs, with min..max)");
    // LARDER_BENCH_ONLY=compaction|append|footprint runs one section.
    let only = std::env::var("LARDER_BENCH_ONLY").ok();
    let runs = |section: &str| only.as_deref().is_none_or(|only| only == section);
    if runs("compaction") {
        compaction(if quick() { 100_000 } else { 2_000_000 });
    }
    if runs("append") {
        append_with_cleaner(if quick() { 100_000 } else { 2_000_000 });
    }
    if runs("footprint") {
        footprint(&[1, 1_000, 1_000_000]);
    }
}

fn spread(times: &mut [Duration]) -> (Duration, Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[0], times[times.len() - 1])
}

/// Fills a compacted topic with `records` of 100 B over 10 000 keys, then
/// times one cleaner pass; the raw reference copies the same log files.
fn compaction(records: u64) {
    println!("\n== compaction: {records} records of 100 B, 10 000 keys ==");
    let (mut larder_times, mut raw_times, mut bytes) = (Vec::new(), Vec::new(), 0u64);
    for _ in 0..REPEATS {
        let dir = bench_dir();
        let clock = Arc::new(ManualClock::new(1_000));
        let options = LogOptions::default().clock(clock.clone()).cleaner_interval(Duration::from_secs(3600));
        let log = Log::open(dir.path(), options).unwrap();
        // A lag the records never reach while producing keeps the
        // background cleaner from starting early.
        let config = TopicConfig::new(1)
            .segment_bytes(16 << 20)
            .cleanup_policy(CleanupPolicy::Compact)
            .min_compaction_lag_ms(1_000_000);
        log.create_topic("t", config).unwrap();
        let producer = log.producer(ProducerConfig::default()).unwrap();
        let value = [7u8; 100];
        for n in 0..records {
            let key = format!("key-{:05}", n % 10_000);
            producer.send(&ProducerRecord::new("t", &value).key(key.as_bytes()).timestamp(0)).unwrap();
        }
        producer.flush().unwrap();
        let partition = log.partition("t", 0).unwrap();
        partition.roll().unwrap();
        partition.sync().unwrap();
        bytes = log.describe_topic("t").unwrap().partitions[0].size_bytes;
        raw_times.push(raw_copy(&dir.path().join("topics/t/0"), &bench_dir()));
        clock.set(10_000_000);
        let start = Instant::now();
        let report = log.run_cleaner().unwrap();
        larder_times.push(start.elapsed());
        assert!(report.records_compacted > 0);
        log.close().unwrap();
    }
    let (larder, lmin, lmax) = spread(&mut larder_times);
    let (raw, rmin, rmax) = spread(&mut raw_times);
    let mb = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    println!("{:<36} {:>8.1} MB/s ({:.1}..{:.1})", "larder compaction", mb(larder), mb(lmax), mb(lmin));
    println!("{:<36} {:>8.1} MB/s ({:.1}..{:.1})", "raw copy of the log + fsync", mb(raw), mb(rmax), mb(rmin));
    println!("ratio to raw: {:.2}x", mb(larder) / mb(raw));
}

/// Reads every `.log` file of `from`, writes it to `to` and fsyncs it.
fn raw_copy(from: &Path, to: &tempfile::TempDir) -> Duration {
    let start = Instant::now();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "log") {
            let bytes = std::fs::read(entry.path()).unwrap();
            let mut file = std::fs::File::create(to.path().join(entry.file_name())).unwrap();
            file.write_all(&bytes).unwrap();
            file.sync_data().unwrap();
        }
    }
    start.elapsed()
}

/// The append rate with retention and a cleaner running every 10 ms
/// (nothing expires), beside the same topic without retention.
fn append_with_cleaner(records: u64) {
    println!("\n== append with a running cleaner: {records} records of 100 B ==");
    let mut reference = None;
    for (name, retention) in [("no retention (reference)", false), ("retention_ms + cleaner every 10 ms", true)] {
        let mut times: Vec<Duration> = (0..REPEATS)
            .map(|_| {
                let dir = bench_dir();
                let options = LogOptions::default().cleaner_interval(Duration::from_millis(10));
                let log = Log::open(dir.path(), options).unwrap();
                let config = TopicConfig::new(1);
                let config = if retention { config.retention_ms(24 * 3600 * 1000) } else { config };
                log.create_topic("t", config).unwrap();
                let producer = log.producer(ProducerConfig::default()).unwrap();
                let value = [7u8; 100];
                timed(|| {
                    for _ in 0..records {
                        producer.send(&ProducerRecord::new("t", &value)).unwrap();
                    }
                    producer.flush().unwrap();
                    log.partition("t", 0).unwrap().sync().unwrap();
                })
                .0
            })
            .collect();
        let (median, fastest, slowest) = spread(&mut times);
        let rate = |d: Duration| records as f64 / d.as_secs_f64() / 1e6;
        let ratio = reference.map_or(String::new(), |r: f64| format!("  {:.2}x the reference", rate(median) / r));
        println!("{name:<36} {:>8.2} M rec/s ({:.2}..{:.2}){ratio}", rate(median), rate(slowest), rate(fastest));
        reference.get_or_insert(rate(median));
    }
}

/// Bytes on disk (blocks allocated) of one partition holding `n` records.
fn footprint(counts: &[u64]) {
    println!("\n== disk footprint of one partition, 100 B records ==");
    for &n in counts {
        let dir = bench_dir();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        log.create_topic("t", TopicConfig::new(1)).unwrap();
        let producer = log.producer(ProducerConfig::default()).unwrap();
        for _ in 0..n {
            producer.send(&ProducerRecord::new("t", &[7u8; 100])).unwrap();
        }
        producer.flush().unwrap();
        let described = log.describe_topic("t").unwrap().partitions[0].clone();
        println!(
            "{n:>9} records: {:>12} bytes on disk, {:>12} bytes of data",
            described.disk_bytes, described.size_bytes
        );
    }
}
