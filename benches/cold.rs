//! Cold-process benchmarks: each measurement runs in a child process of
//! its own (this binary re-run) on a fresh directory, as an application
//! meets larder — open, work, and the final sync inside the timed span —
//! beside a raw reference measured in the same run, interleaved with it:
//!
//! - raw write: frames of `length u32 | crc32c u32 | payload` through a
//!   1 MiB buffered `write`, one fdatasync at the end;
//! - raw read: walking an mmap of that file, every CRC checked; random
//!   reads keep the frames' positions in a `Vec`;
//! - raw durable acks: a writer thread writes every queued frame,
//!   fdatasyncs once and acknowledges them all (group commit).
//!
//! Reads run in a process started after the one that wrote (the page
//! cache stays warm, as after an application restart). Each row is the
//! median of `LARDER_BENCH_REPEATS` runs (default 5) with min..max, and
//! the ratio of the medians.
//!
//! `cargo bench --bench cold` (LARDER_BENCH_QUICK=1 for a smoke run;
//! LARDER_BENCH_DIR picks the disk, default /tmp; LARDER_BENCH_ONLY=name
//! runs the rows whose name contains it).

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use larder::partition::{Partition, PartitionOptions};
use larder::record::NewRecord;
use larder::{Durability, Log, LogOptions, ProducerConfig, ProducerRecord, TopicConfig};

const VALUE_BYTES: usize = 100;
const CHILD: &str = "--cold-child";

fn quick() -> bool {
    std::env::var_os("LARDER_BENCH_QUICK").is_some()
}

fn records() -> u64 {
    if quick() {
        100_000
    } else {
        1_000_000
    }
}

fn repeats() -> usize {
    std::env::var("LARDER_BENCH_REPEATS").ok().and_then(|r| r.parse().ok()).unwrap_or(if quick() { 3 } else { 5 })
}

/// One comparison: larder's workload and the raw reference for it, each a
/// child-process job; `setup` jobs run first, untimed, on the same
/// directory.
struct Row {
    name: &'static str,
    larder: &'static str,
    raw: &'static str,
    setup: &'static [&'static str],
    /// What one job counts: records, or acknowledgements.
    unit: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        name: "append one call per record + final sync",
        larder: "append",
        raw: "raw-write",
        setup: &[],
        unit: "rec",
    },
    Row {
        name: "append batches of 1000 + final sync",
        larder: "append-batch",
        raw: "raw-write",
        setup: &[],
        unit: "rec",
    },
    Row { name: "Producer::send per record, flush, sync", larder: "send", raw: "raw-write", setup: &[], unit: "rec" },
    Row {
        name: "sequential read after restart (CRC checked)",
        larder: "read",
        raw: "raw-read",
        setup: &["write-both"],
        unit: "rec",
    },
    Row {
        name: "random read, 100 K of 200 K records",
        larder: "random",
        raw: "raw-random",
        setup: &["write-both-small"],
        unit: "read",
    },
    Row {
        name: "durable acks, 4 threads, send_direct (Sync)",
        larder: "durable-send-4",
        raw: "raw-durable-4",
        setup: &[],
        unit: "ack",
    },
    Row {
        name: "durable acks, 4 threads, Partition::sync",
        larder: "durable-sync-4",
        raw: "raw-durable-4",
        setup: &[],
        unit: "ack",
    },
    Row {
        name: "durable acks, 64 threads, send_direct (Sync)",
        larder: "durable-send-64",
        raw: "raw-durable-64",
        setup: &[],
        unit: "ack",
    },
    Row {
        name: "durable acks, 64 threads, Partition::sync",
        larder: "durable-sync-64",
        raw: "raw-durable-64",
        setup: &[],
        unit: "ack",
    },
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == CHILD) {
        let (job, dir) = (&args[at + 1], Path::new(&args[at + 2]));
        let report = run_job(job, dir);
        println!("{CHILD} {} {} {}", report.elapsed.as_nanos(), report.count, report.p99_ns);
        return;
    }
    let base = PathBuf::from(std::env::var("LARDER_BENCH_DIR").unwrap_or_else(|_| "/tmp".into()));
    let only = std::env::var("LARDER_BENCH_ONLY").ok();
    println!(
        "larder cold-process benchmarks: {} records of {VALUE_BYTES} B, median of {} fresh processes (min..max)",
        records(),
        repeats()
    );
    println!("{:<46} {:>26} {:>26} {:>7}", "workload", "larder", "raw reference", "ratio");
    for row in ROWS.iter().filter(|r| only.as_deref().is_none_or(|o| r.name.contains(o) || r.larder.contains(o))) {
        let (mut larder, mut raw) = (Vec::new(), Vec::new());
        let mut p99 = Vec::new();
        for _ in 0..repeats() {
            // Interleaved, each on a fresh directory: drift of the machine
            // meets both sides alike.
            for (job, out) in [(row.raw, &mut raw), (row.larder, &mut larder)] {
                let dir = tempfile::tempdir_in(&base).unwrap();
                for setup in row.setup {
                    child(setup, dir.path());
                }
                let report = child(job, dir.path());
                out.push(report.count as f64 / report.elapsed.as_secs_f64());
                if job == row.larder && report.p99_ns > 0 {
                    p99.push(report.p99_ns);
                }
            }
        }
        let (l, r) = (Stats::of(&larder), Stats::of(&raw));
        let latency = if p99.is_empty() {
            String::new()
        } else {
            p99.sort_unstable();
            format!("  p99 {:.2} ms", p99[p99.len() / 2] as f64 / 1e6)
        };
        println!(
            "{:<46} {:>26} {:>26} {:>6.2}x{latency}",
            row.name,
            l.show(row.unit),
            r.show(row.unit),
            l.median / r.median
        );
    }
}

/// Median and spread of rates.
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(rates: &[f64]) -> Stats {
        let mut sorted = rates.to_vec();
        sorted.sort_by(f64::total_cmp);
        Stats { median: sorted[sorted.len() / 2], min: sorted[0], max: sorted[sorted.len() - 1] }
    }

    fn show(&self, unit: &str) -> String {
        let scale = |r: f64| if self.median >= 1e6 { format!("{:.2}", r / 1e6) } else { format!("{:.1}", r / 1e3) };
        let suffix = if self.median >= 1e6 { "M" } else { "K" };
        format!("{} ({}..{}) {suffix} {unit}/s", scale(self.median), scale(self.min), scale(self.max))
    }
}

/// What a child measured.
struct Report {
    elapsed: Duration,
    count: u64,
    /// 99th percentile latency of one acknowledgement, if measured.
    p99_ns: u64,
}

fn child(job: &str, dir: &Path) -> Report {
    let out =
        Command::new(std::env::current_exe().unwrap()).args([CHILD, job, dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{job}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with(CHILD)).unwrap_or_else(|| panic!("{job} printed {text}"));
    let fields: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().unwrap()).collect();
    Report { elapsed: Duration::from_nanos(fields[0]), count: fields[1], p99_ns: fields[2] }
}

fn run_job(job: &str, dir: &Path) -> Report {
    let n = records();
    let value = [0xA5u8; VALUE_BYTES];
    let plain = |elapsed, count| Report { elapsed, count, p99_ns: 0 };
    match job {
        "raw-write" => plain(timed(|| raw_write(&dir.join("raw.bin"), &value, n)), n),
        // The clean close after the timed span, as the raw side closes no file.
        "append" | "append-batch" => {
            let batch = if job == "append" { 1 } else { 1000 };
            let mut kept = None;
            let elapsed = timed(|| kept = Some(append(&dir.join("p"), n, batch)));
            drop(kept);
            plain(elapsed, n)
        }
        "send" => plain(timed(|| send(dir, n)), n),
        "write-both" | "write-both-small" => {
            let n = if job == "write-both" { n } else { 200_000 };
            raw_write(&dir.join("raw.bin"), &value, n);
            // Closed cleanly, as an application shutting down does.
            append(&dir.join("p"), n, 1000).close().unwrap();
            plain(Duration::from_nanos(1), 0)
        }
        "raw-read" => plain(timed(|| assert_eq!(raw_read(&dir.join("raw.bin")), n as usize * VALUE_BYTES)), n),
        "read" => plain(timed(|| assert_eq!(read(&dir.join("p")), n as usize * VALUE_BYTES)), n),
        "raw-random" => raw_random(&dir.join("raw.bin"), 100_000),
        "random" => random(&dir.join("p"), 100_000),
        _ => {
            let (kind, threads) = job.rsplit_once('-').unwrap();
            let threads: usize = threads.parse().unwrap();
            let acks = if quick() { 2_000 } else { 10_000 } * (threads as u64 / 16).max(1);
            match kind {
                "raw-durable" => raw_durable(&dir.join("raw.bin"), threads, acks),
                "durable-send" => durable_send(dir, threads, acks),
                "durable-sync" => durable_sync(&dir.join("p"), threads, acks),
                _ => panic!("unknown job {job}"),
            }
        }
    }
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn frame(value: &[u8]) -> ([u8; 8], u32) {
    let crc = crc32c::crc32c(black_box(value));
    let mut header = [0u8; 8];
    header[..4].copy_from_slice(&((value.len() + 8) as u32).to_le_bytes());
    header[4..].copy_from_slice(&crc.to_le_bytes());
    (header, crc)
}

/// Framed records through a 1 MiB buffer, one fdatasync at the end.
fn raw_write(path: &Path, value: &[u8], records: u64) {
    let file = File::create(path).unwrap();
    let mut out = BufWriter::with_capacity(1 << 20, &file);
    for _ in 0..records {
        let (header, _) = frame(value);
        out.write_all(&header).unwrap();
        out.write_all(value).unwrap();
    }
    out.flush().unwrap();
    drop(out);
    file.sync_data().unwrap();
}

fn map(path: &Path) -> memmap2::Mmap {
    let file = File::open(path).unwrap();
    // SAFETY: a benchmark reading a file nothing writes any more.
    unsafe { memmap2::Mmap::map(&file) }.unwrap()
}

fn checked_payload(map: &[u8], at: usize) -> (&[u8], usize) {
    let len = u32::from_le_bytes(map[at..at + 4].try_into().unwrap()) as usize;
    let payload = &map[at + 8..at + len];
    let stored = u32::from_le_bytes(map[at + 4..at + 8].try_into().unwrap());
    assert_eq!(stored, crc32c::crc32c(payload));
    (payload, len)
}

fn raw_read(path: &Path) -> usize {
    let map = map(path);
    let (mut at, mut sum) = (0, 0);
    while at + 8 <= map.len() {
        let (payload, len) = checked_payload(&map, at);
        sum += black_box(payload).len();
        at += len;
    }
    sum
}

fn random_offsets(records: u64, reads: usize) -> Vec<u64> {
    let mut state = 0x1234_5678_9ABC_DEF1u64;
    (0..reads)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % records
        })
        .collect()
}

fn raw_random(path: &Path, reads: usize) -> Report {
    let map = map(path);
    let mut positions = Vec::new();
    let mut at = 0;
    while at + 8 <= map.len() {
        positions.push(at);
        at += u32::from_le_bytes(map[at..at + 4].try_into().unwrap()) as usize;
    }
    let offsets = random_offsets(positions.len() as u64, reads);
    let elapsed = timed(|| {
        for &offset in &offsets {
            black_box(checked_payload(&map, positions[offset as usize]).0);
        }
    });
    Report { elapsed, count: reads as u64, p99_ns: 0 }
}

fn append(dir: &Path, records: u64, batch: usize) -> Partition {
    let partition = Partition::open(dir, PartitionOptions::default()).unwrap();
    let value = [0xA5u8; VALUE_BYTES];
    if batch == 1 {
        let record = NewRecord::new(&value);
        for _ in 0..records {
            black_box(partition.append(&record).unwrap());
        }
    } else {
        let records_batch = vec![NewRecord::new(&value); batch];
        for _ in 0..records / batch as u64 {
            black_box(partition.append_batch(&records_batch).unwrap());
        }
    }
    partition.sync().unwrap();
    partition
}

fn send(dir: &Path, records: u64) {
    let log = Log::open(dir.join("log"), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let value = [0xA5u8; VALUE_BYTES];
    for _ in 0..records {
        producer.send(&ProducerRecord::new("t", &value)).unwrap();
    }
    producer.flush().unwrap();
    log.partition("t", 0).unwrap().sync().unwrap();
}

fn read(dir: &Path) -> usize {
    let partition = Partition::open(dir, PartitionOptions::default()).unwrap();
    let (mut offset, mut sum) = (0, 0);
    while offset < partition.end_offset() {
        let batch = partition.read_batch(offset, 500).unwrap();
        for record in &batch {
            sum += black_box(record.value()).map_or(0, <[u8]>::len);
        }
        offset = batch.next_offset();
    }
    sum
}

fn random(dir: &Path, reads: usize) -> Report {
    let partition = Partition::open(dir, PartitionOptions::default()).unwrap();
    let offsets = random_offsets(partition.end_offset(), reads);
    let elapsed = timed(|| {
        for &offset in &offsets {
            black_box(partition.read(offset).unwrap());
        }
    });
    Report { elapsed, count: reads as u64, p99_ns: 0 }
}

/// `threads` threads each send `acks / threads` records, each waiting for
/// its own acknowledgement; returns the run with the p99 latency of one.
fn durable(threads: usize, acks: u64, op: impl Fn() + Sync) -> Report {
    let per_thread = acks / threads as u64;
    let latencies = Mutex::new(Vec::with_capacity(acks as usize));
    let elapsed = timed(|| {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let mut mine = Vec::with_capacity(per_thread as usize);
                    for _ in 0..per_thread {
                        let start = Instant::now();
                        op();
                        mine.push(start.elapsed().as_nanos() as u64);
                    }
                    latencies.lock().unwrap().extend(mine);
                });
            }
        })
    });
    let mut latencies = latencies.into_inner().unwrap();
    latencies.sort_unstable();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    Report { elapsed, count: per_thread * threads as u64, p99_ns: p99 }
}

/// The group-commit writer: senders queue a frame and wait; the writer
/// takes everything queued, writes it, fdatasyncs once, acknowledges all.
fn raw_durable(path: &Path, threads: usize, acks: u64) -> Report {
    struct Queue {
        frames: Vec<u8>,
        queued: u64,
        durable: u64,
        done: bool,
    }
    let state =
        Arc::new((Mutex::new(Queue { frames: Vec::new(), queued: 0, durable: 0, done: false }), Condvar::new()));
    let writer = {
        let state = Arc::clone(&state);
        let mut file = File::create(path).unwrap();
        std::thread::spawn(move || {
            let (lock, cond) = &*state;
            loop {
                let mut queue = lock.lock().unwrap();
                while queue.frames.is_empty() && !queue.done {
                    queue = cond.wait(queue).unwrap();
                }
                if queue.frames.is_empty() {
                    return;
                }
                let (frames, upto) = (std::mem::take(&mut queue.frames), queue.queued);
                drop(queue);
                file.write_all(&frames).unwrap();
                file.sync_data().unwrap();
                lock.lock().unwrap().durable = upto;
                cond.notify_all();
            }
        })
    };
    let value = [0xA5u8; VALUE_BYTES];
    let report = durable(threads, acks, || {
        let (lock, cond) = &*state;
        let (header, _) = frame(&value);
        let mut queue = lock.lock().unwrap();
        queue.frames.extend_from_slice(&header);
        queue.frames.extend_from_slice(&value);
        queue.queued += 1;
        let mine = queue.queued;
        cond.notify_all();
        while queue.durable < mine {
            queue = cond.wait(queue).unwrap();
        }
    });
    state.0.lock().unwrap().done = true;
    state.1.notify_all();
    writer.join().unwrap();
    report
}

fn durable_send(dir: &Path, threads: usize, acks: u64) -> Report {
    let log = Log::open(dir.join("log"), LogOptions::default()).unwrap();
    log.create_topic("t", TopicConfig::new(1).durability(Durability::Sync)).unwrap();
    let producer = log.producer(ProducerConfig::default()).unwrap();
    let value = [0xA5u8; VALUE_BYTES];
    durable(threads, acks, || {
        let meta = producer.send_direct(&ProducerRecord::new("t", &value)).unwrap();
        debug_assert_eq!(meta.durability, Durability::Sync);
    })
}

fn durable_sync(dir: &Path, threads: usize, acks: u64) -> Report {
    let partition = Partition::open(dir, PartitionOptions::default()).unwrap();
    let value = [0xA5u8; VALUE_BYTES];
    durable(threads, acks, || {
        partition.append(&NewRecord::new(&value)).unwrap();
        partition.sync().unwrap();
    })
}
