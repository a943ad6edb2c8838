//! `larder perf`: kafka-producer-perf-test and kafka-consumer-perf-test. A
//! progress line every `--reporting-interval` seconds (records/s, MB/s,
//! average and max latency), percentiles at the end from an HDR histogram,
//! and a progress bar on a terminal.

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use larder::{AutoOffsetReset, ConsumerConfig, Log, ProducerConfig, ProducerRecord, TopicConfig, TopicPartition};
use parking_lot::Mutex;

use super::args::{Acks, PerfCommand, PerfConsumeArgs, PerfProduceArgs};
use super::failure::Failure;
use super::open::{close, open, open_to_read, Create};

pub(crate) fn run(dir: &Path, command: PerfCommand) -> Result<(), Failure> {
    match command {
        PerfCommand::Produce(args) => produce(dir, &args),
        PerfCommand::Consume(args) => consume(dir, &args),
    }
}

/// What the sending threads share: counts for progress, the histogram of
/// send latencies in microseconds.
struct Shared {
    sent: AtomicU64,
    latencies: Mutex<Histogram<u64>>,
    /// Since the last progress line: records, latency sum and max (µs).
    window: Mutex<(u64, u64, u64)>,
}

fn produce(dir: &Path, args: &PerfProduceArgs) -> Result<(), Failure> {
    if args.threads == 0 || args.num_records == 0 {
        return Err(Failure::usage("--threads / --num-records", "must be at least 1"));
    }
    // A value's length is a u32 in a frame: a larger size is no record at
    // all (and no buffer could hold it).
    if u32::try_from(args.record_size).is_err() {
        return Err(Failure::usage("--record-size", format!("{} is more than a record can hold", args.record_size)));
    }
    let log = open(dir, Create::Yes)?;
    if let Err(larder::Error::UnknownTopic { .. }) = log.describe_topic(&args.topic) {
        log.create_topic(&args.topic, TopicConfig::new(args.threads as u32))?;
    }
    let partitions = log.describe_topic(&args.topic)?.partitions.len() as u32;
    let histogram = Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| Failure::Other(e.to_string()))?;
    let shared =
        Arc::new(Shared { sent: AtomicU64::new(0), latencies: Mutex::new(histogram), window: Mutex::new((0, 0, 0)) });
    let bar = progress_bar(args.num_records);
    let started = Instant::now();
    let result = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.threads)
            .map(|t| {
                let (log, shared) = (log.clone(), Arc::clone(&shared));
                scope.spawn(move || send_share(&log, args, t, partitions, &shared))
            })
            .collect();
        report_progress(args, &shared, &bar, started, || workers.iter().all(|w| w.is_finished()));
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(Failure::Other("a sender panicked".into()))))
            .collect::<Result<Vec<()>, Failure>>()
    });
    bar.finish_and_clear();
    result?;
    let elapsed = started.elapsed().as_secs_f64();
    let latencies = shared.latencies.lock();
    let mut out = std::io::stdout().lock();
    let records = args.num_records as f64;
    writeln!(
        out,
        "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
        args.num_records,
        records / elapsed,
        records * args.record_size as f64 / elapsed / 1e6,
        latencies.mean() / 1000.0,
        latencies.max() as f64 / 1000.0,
        ms(latencies.value_at_quantile(0.50)),
        ms(latencies.value_at_quantile(0.95)),
        ms(latencies.value_at_quantile(0.99)),
        ms(latencies.value_at_quantile(0.999)),
    )?;
    drop(latencies);
    close(log)
}

fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} records ({per_sec}, eta {eta})");
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

/// Thread `t`'s share of the records, paced to its share of `--throughput`.
fn send_share(log: &Log, args: &PerfProduceArgs, t: usize, partitions: u32, shared: &Shared) -> Result<(), Failure> {
    let producer = log.producer(ProducerConfig::default())?;
    let threads = args.threads as u64;
    let count = args.num_records / threads + u64::from((t as u64) < args.num_records % threads);
    let value: Vec<u8> = (0..args.record_size).map(|i| b'a' + (i % 26) as u8).collect();
    let partition = t as u32 % partitions;
    let handle = log.partition(&args.topic, partition)?;
    let per_second = (args.throughput > 0).then(|| args.throughput as f64 / args.threads as f64);
    let started = Instant::now();
    for n in 0..count {
        if let Some(rate) = per_second {
            let due = started + Duration::from_secs_f64(n as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let sent_at = Instant::now();
        producer.send_direct(&ProducerRecord::new(&args.topic, &value).partition(partition))?;
        if args.durability == Acks::Sync {
            handle.sync()?;
        }
        record(shared, sent_at.elapsed().as_micros() as u64);
    }
    producer.close();
    Ok(())
}

fn record(shared: &Shared, latency_us: u64) {
    let _ = shared.latencies.lock().record(latency_us.max(1));
    let mut window = shared.window.lock();
    window.0 += 1;
    window.1 += latency_us;
    window.2 = window.2.max(latency_us);
    drop(window);
    shared.sent.fetch_add(1, Ordering::Relaxed);
}

/// Prints a progress line every interval until every record is sent or
/// every sender stopped (one that fails stops early: its error is the
/// run's outcome).
fn report_progress(
    args: &PerfProduceArgs,
    shared: &Shared,
    bar: &ProgressBar,
    started: Instant,
    senders_done: impl Fn() -> bool,
) {
    let interval = Duration::from_secs(args.reporting_interval.max(1));
    let mut last = started;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let sent = shared.sent.load(Ordering::Relaxed);
        bar.set_position(sent);
        if sent >= args.num_records || senders_done() {
            return;
        }
        if last.elapsed() < interval {
            continue;
        }
        let (records, sum, max) = std::mem::take(&mut *shared.window.lock());
        let seconds = last.elapsed().as_secs_f64();
        last = Instant::now();
        let line = format!(
            "{records} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency.",
            records as f64 / seconds,
            (records as f64 * args.record_size as f64) / seconds / 1e6,
            sum as f64 / records.max(1) as f64 / 1000.0,
            max as f64 / 1000.0
        );
        bar.suspend(|| println!("{line}"));
    }
}

fn consume(dir: &Path, args: &PerfConsumeArgs) -> Result<(), Failure> {
    let log = open_to_read(dir)?;
    let partitions = log.describe_topic(&args.topic)?.partitions.len() as u32;
    let config = ConsumerConfig::default().auto_offset_reset(AutoOffsetReset::Earliest).max_poll_records(10_000);
    let mut consumer = log.consumer(config)?;
    let all: Vec<_> = (0..partitions).map(|p| TopicPartition::new(args.topic.clone(), p)).collect();
    consumer.assign(&all)?;
    let total = args.num_records.unwrap_or_else(|| all.iter().map(|tp| consumer.lag(tp).unwrap_or(0)).sum());
    let bar = progress_bar(total);
    let interval = Duration::from_secs(args.reporting_interval.max(1));
    let (started, mut last, mut last_count) = (Instant::now(), Instant::now(), 0u64);
    let (mut records, mut bytes) = (0u64, 0u64);
    while records < total {
        let batch = consumer.poll(Duration::from_millis(500))?;
        if batch.is_empty() {
            break;
        }
        for record in batch.iter() {
            records += 1;
            bytes += record.value().map_or(0, |v| v.len() as u64) + record.key().map_or(0, |k| k.len() as u64);
        }
        bar.set_position(records);
        if last.elapsed() >= interval {
            let seconds = last.elapsed().as_secs_f64();
            let line = format!(
                "{} records read, {:.1} records/sec",
                records - last_count,
                (records - last_count) as f64 / seconds
            );
            bar.suspend(|| println!("{line}"));
            (last, last_count) = (Instant::now(), records);
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let mb = bytes as f64 / 1e6;
    let mut out = std::io::stdout().lock();
    writeln!(out, "data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, seconds")?;
    writeln!(out, "{mb:.4}, {:.4}, {records}, {:.1}, {seconds:.3}", mb / seconds, records as f64 / seconds)?;
    drop(consumer);
    close(log)
}
