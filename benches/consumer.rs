//! Consumer benchmarks (100 B values): one consumer draining a hot log
//! (records/s), end-to-end latency from a producer's send to the consumer's
//! poll without sync durability (p50/p99), and commit latency (p50/p99,
//! commits/s) beside one write + fdatasync measured in the same run.
//!
//! `cargo bench --bench consumer` (LARDER_BENCH_QUICK=1 for a smoke run).

mod common;

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{median_of, percentile, row, timed};
use larder::record::NewRecord;
use larder::{
    AutoOffsetReset, ConsumerConfig, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig, TopicPartition,
};

const REPEATS: usize = 5;

fn quick() -> bool {
    std::env::var_os("LARDER_BENCH_QUICK").is_some()
}

fn main() {
    let base = std::env::var("LARDER_BENCH_DIR").unwrap_or_else(|_| "/tmp".into());
    let dir = tempfile::tempdir_in(base).unwrap();
    println!("larder consumer benchmarks, 100 B values");
    drain(dir.path(), if quick() { 200_000 } else { 4_000_000 });
    end_to_end(dir.path(), if quick() { 2_000 } else { 20_000 });
    commits(dir.path(), if quick() { 200 } else { 2_000 });
}

fn drain(dir: &Path, records: u64) {
    let log = Log::open(dir.join("drain"), LogOptions::default()).unwrap();
    log.create_topic("hot", TopicConfig::new(4)).unwrap();
    let value = [7u8; 100];
    let batch = vec![NewRecord::new(&value); 1000];
    for p in 0..4 {
        let partition = log.partition("hot", p).unwrap();
        for _ in 0..records / 4000 {
            partition.append_batch(&batch).unwrap();
        }
    }
    let tps: Vec<TopicPartition> = (0..4).map(|p| TopicPartition::new("hot", p)).collect();
    let bytes = records * 100;
    for (name, by_batch) in [("consumer poll, batches()", true), ("consumer poll, iter() records", false)] {
        let (elapsed, _) = median_of(REPEATS, || {
            let config = ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest);
            let mut consumer = log.consumer(config).unwrap();
            consumer.assign(&tps).unwrap();
            timed(|| {
                let (mut seen, mut sum) = (0u64, 0usize);
                while seen < records {
                    let polled = consumer.poll(Duration::from_secs(1)).unwrap();
                    if by_batch {
                        for (_, _, batch) in polled.batches() {
                            sum += batch.iter().map(|r| r.value().map_or(0, <[u8]>::len)).sum::<usize>();
                            seen += batch.len() as u64;
                        }
                    } else {
                        for record in polled.iter() {
                            sum += record.value().map_or(0, <[u8]>::len);
                            seen += 1;
                        }
                    }
                }
                assert_eq!(sum as u64, bytes);
            })
        });
        row(name, records, bytes, elapsed, None);
    }
}

/// A producer thread sends one record every 100 µs carrying its send time;
/// a consumer blocked in poll measures when it got it.
fn end_to_end(dir: &Path, records: u32) {
    let log = Log::open(dir.join("e2e"), LogOptions::default()).unwrap();
    log.create_topic("live", TopicConfig::new(1)).unwrap();
    for queued in [false, true] {
        let producer = log.producer(ProducerConfig::default()).unwrap();
        let mut consumer = log.consumer(ConsumerConfig::default()).unwrap();
        consumer.assign(&[TopicPartition::new("live", 0)]).unwrap();
        consumer.seek_to_end(&[]).unwrap();
        let epoch = Instant::now();
        let mut samples: Vec<u64> = std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut value = [0u8; 100];
                for _ in 0..records {
                    let sent = epoch.elapsed().as_nanos() as u64;
                    value[..8].copy_from_slice(&sent.to_le_bytes());
                    let record = ProducerRecord::new("live", &value);
                    if queued {
                        producer.send(&record).unwrap();
                    } else {
                        producer.send_direct(&record).unwrap();
                    }
                    let until = Instant::now() + Duration::from_micros(100);
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                }
            });
            let mut samples = Vec::with_capacity(records as usize);
            while samples.len() < records as usize {
                for record in consumer.poll(Duration::from_secs(5)).unwrap().iter() {
                    let now = epoch.elapsed().as_nanos() as u64;
                    let sent = u64::from_le_bytes(record.value().unwrap()[..8].try_into().unwrap());
                    samples.push(now - sent);
                }
            }
            samples
        });
        samples.sort_unstable();
        println!(
            "end to end, {:<26} p50 {:>6.1} us  p99 {:>7.1} us  ({records} records, one every 100 us, Buffered)",
            if queued { "send (queued) -> poll:" } else { "send_direct -> poll:" },
            percentile(&samples, 50.0) as f64 / 1e3,
            percentile(&samples, 99.0) as f64 / 1e3
        );
    }
}

fn commits(dir: &Path, rounds: u64) {
    let mut file = File::create(dir.join("fsync.bin")).unwrap();
    let mut fsync: Vec<u64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            file.write_all(&[1u8; 64]).unwrap();
            file.sync_data().unwrap();
            t.elapsed().as_nanos() as u64
        })
        .collect();
    fsync.sort_unstable();
    let log = Log::open(dir.join("commits"), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(4)).unwrap();
    let mut consumer = log.consumer(ConsumerConfig::default().group_id("bench").enable_auto_commit(false)).unwrap();
    let tps: Vec<TopicPartition> = (0..4).map(|p| TopicPartition::new("t", p)).collect();
    consumer.assign(&tps).unwrap();
    let start = Instant::now();
    let mut latency: Vec<u64> = (0..rounds)
        .map(|n| {
            let offsets = tps.iter().map(|tp| (tp.clone(), n)).collect();
            let t = Instant::now();
            consumer.commit_offsets(&offsets).unwrap();
            t.elapsed().as_nanos() as u64
        })
        .collect();
    let per_second = rounds as f64 / start.elapsed().as_secs_f64();
    latency.sort_unstable();
    let (p50, p99, f50) = (percentile(&latency, 50.0), percentile(&latency, 99.0), percentile(&fsync, 50.0));
    println!(
        "ref: write + fdatasync:             p50 {:>6.1} us  p99 {:>7.1} us",
        f50 as f64 / 1e3,
        percentile(&fsync, 99.0) as f64 / 1e3
    );
    println!(
        "commit of 4 partitions (durable):   p50 {:>6.1} us  p99 {:>7.1} us  {per_second:>7.0} commits/s  = {:.2} fdatasyncs at p50",
        p50 as f64 / 1e3,
        p99 as f64 / 1e3,
        p50 as f64 / f50 as f64
    );
}
