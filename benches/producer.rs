//! Producer benchmarks (100 B records): direct and queued sends from one
//! thread, queued sends from 4 threads, and `Sync` durability with 1, 4, 16
//! and 64 concurrent senders (records/s, acknowledgement latency p50/p99),
//! beside two references measured in the same run: one thread doing write +
//! fdatasync per record, and the group-commit ideal — N records written in
//! one write, one fdatasync, then all N acknowledged.
//!
//! `cargo bench --bench producer` (LARDER_BENCH_QUICK=1 for a smoke run).

mod common;

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{median_of, percentile, row, timed};
use larder::{Durability, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

const REPEATS: usize = 3;
const VALUE: [u8; 100] = [0x42; 100];

fn quick() -> bool {
    std::env::var_os("LARDER_BENCH_QUICK").is_some()
}

fn main() {
    let base = std::env::var("LARDER_BENCH_DIR").unwrap_or_else(|_| "/tmp".into());
    let dir = tempfile::tempdir_in(base).unwrap();
    println!("larder producer benchmarks, 100 B values (median of {REPEATS} runs)");
    let records = if quick() { 200_000 } else { 2_000_000 };
    throughput(dir.path(), records);
    println!("\n== Sync durability: closed-loop senders, each waiting for its acknowledgement ==");
    let fsync = fsync_per_record(dir.path());
    for direct in [false, true] {
        for senders in [1usize, 4, 16, 64] {
            sync_senders(dir.path(), senders, fsync, direct);
        }
    }
}

fn fresh_log(dir: &Path, durability: Durability) -> Log {
    let _ = std::fs::remove_dir_all(dir);
    let log = Log::open(dir, LogOptions::default()).unwrap();
    log.create_topic("bench", TopicConfig::new(1).durability(durability)).unwrap();
    log
}

fn throughput(dir: &Path, records: u64) {
    let path = dir.join("throughput");
    let bytes = records * VALUE.len() as u64;
    for (name, threads, queued) in [
        ("one thread, send_direct", 1, false),
        ("one thread, send (queued) + flush", 1, true),
        ("4 threads, send (queued) + flush", 4, true),
    ] {
        let (elapsed, _) = median_of(REPEATS, || {
            let log = fresh_log(&path, Durability::Buffered);
            let producer = log.producer(ProducerConfig::default()).unwrap();
            timed(|| send_from_threads(&producer, records, threads, queued))
        });
        row(name, records, bytes, elapsed, None);
    }
}

/// Sends `records` 100 B records from `threads` threads, queued (then
/// flushed) or direct.
fn send_from_threads(producer: &larder::Producer, records: u64, threads: u64, queued: bool) {
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let producer = producer.clone();
            scope.spawn(move || {
                let record = ProducerRecord::new("bench", &VALUE);
                for _ in 0..records / threads {
                    if queued {
                        producer.send(&record).unwrap();
                    } else {
                        producer.send_direct(&record).unwrap();
                    }
                }
            });
        }
    });
    producer.flush().unwrap();
}

/// Median time of one write + fdatasync of a 108-byte frame.
fn fsync_per_record(dir: &Path) -> Duration {
    let rounds = if quick() { 200 } else { 2000 };
    let mut file = File::create(dir.join("fsync.bin")).unwrap();
    let frame = [0x11u8; 108];
    let mut samples: Vec<u64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            file.write_all(&frame).unwrap();
            file.sync_data().unwrap();
            t.elapsed().as_nanos() as u64
        })
        .collect();
    samples.sort_unstable();
    let total: u64 = samples.iter().sum();
    println!(
        "ref: write + fdatasync per record:       {:>9.0} rec/s   p50 {:>7.1} us  p99 {:>7.1} us",
        rounds as f64 / (total as f64 / 1e9),
        percentile(&samples, 50.0) as f64 / 1e3,
        percentile(&samples, 99.0) as f64 / 1e3
    );
    Duration::from_nanos(percentile(&samples, 50.0))
}

/// The group-commit ideal for `senders` closed-loop senders: write their
/// records in one write, one fdatasync, acknowledge all; repeat.
fn ideal(dir: &Path, senders: usize, rounds: usize) -> f64 {
    let mut file = File::create(dir.join("ideal.bin")).unwrap();
    let batch = vec![0x22u8; 108 * senders];
    let start = Instant::now();
    for _ in 0..rounds {
        file.write_all(&batch).unwrap();
        file.sync_data().unwrap();
    }
    (rounds * senders) as f64 / start.elapsed().as_secs_f64()
}

fn sync_senders(dir: &Path, senders: usize, fsync: Duration, direct: bool) {
    let duration = Duration::from_millis(if quick() { 500 } else { 3000 });
    let path = dir.join(format!("sync-{senders}"));
    let log = fresh_log(&path, Durability::Sync);
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let start = Instant::now();
    let latencies: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..senders)
            .map(|_| {
                let producer = producer.clone();
                scope.spawn(move || {
                    let record = ProducerRecord::new("bench", &VALUE);
                    let mut samples = Vec::new();
                    while start.elapsed() < duration {
                        let t = Instant::now();
                        let meta = if direct {
                            producer.send_direct(&record).unwrap()
                        } else {
                            producer.send(&record).unwrap().get().unwrap()
                        };
                        debug_assert_eq!(meta.durability, Durability::Sync);
                        samples.push(t.elapsed().as_nanos() as u64);
                    }
                    samples
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let elapsed = start.elapsed();
    let mut samples: Vec<u64> = latencies.into_iter().flatten().collect();
    samples.sort_unstable();
    let rate = samples.len() as f64 / elapsed.as_secs_f64();
    let ideal_rate = ideal(dir, senders, (rate / senders as f64 * 1.0).clamp(50.0, 5000.0) as usize);
    let p99 = percentile(&samples, 99.0);
    println!(
        "larder Sync {}, {senders:>2} senders: {rate:>9.0} rec/s  p50 {:>7.1} us  p99 {:>7.1} us (= {:.2}x one fdatasync) | ideal {ideal_rate:>9.0} rec/s -> {:.2}x ideal, {:.1}x fdatasync-per-record",
        if direct { "send_direct" } else { "send + get" },
        percentile(&samples, 50.0) as f64 / 1e3,
        p99 as f64 / 1e3,
        p99 as f64 / fsync.as_nanos() as f64,
        rate / ideal_rate,
        rate * fsync.as_secs_f64(),
    );
}
