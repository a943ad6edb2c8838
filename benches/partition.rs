//! Partition log benchmarks: append (single, batches of 1000), sequential
//! and random reads, and reopen after a clean close and after a crash, each
//! beside a raw reference measured in the same run: the same framed bytes
//! (length + CRC32C + payload) written through a 1 MiB buffer to one file,
//! then read back by walking an mmap.
//!
//! `cargo bench --bench partition` (set LARDER_BENCH_QUICK=1 for a smoke run).

mod common;

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use common::{median_of, percentile, row, timed, timer_overhead_ns};
use larder::partition::{Partition, PartitionOptions};
use larder::record::NewRecord;

const REPEATS: usize = 5;

fn quick() -> bool {
    std::env::var_os("LARDER_BENCH_QUICK").is_some()
}

fn main() {
    let dir = tempfile::tempdir_in(std::env::var("LARDER_BENCH_DIR").unwrap_or_else(|_| "/tmp".into())).unwrap();
    println!("larder partition benchmarks (median of {REPEATS} runs; {})", machine());
    for value_bytes in [100usize, 1024] {
        let records = if quick() {
            100_000
        } else if value_bytes == 100 {
            2_000_000
        } else {
            500_000
        };
        println!("\n== {value_bytes} B values, {records} records ==");
        write_and_read(dir.path(), value_bytes, records);
    }
    println!("\n== random read by offset (100 B values) ==");
    let overhead = timer_overhead_ns();
    println!("(per-read timer overhead of {overhead} ns subtracted)");
    for records in [10_000u64, if quick() { 200_000 } else { 10_000_000 }] {
        random_reads(dir.path(), records, overhead);
    }
    println!("\n== reopen ==");
    reopen(dir.path(), if quick() { 64 << 20 } else { 1 << 30 });
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    format!("{} cores, {cpu}", std::thread::available_parallelism().map_or(0, |n| n.get()))
}

fn write_and_read(dir: &Path, value_bytes: usize, records: u64) {
    let value = vec![0xA5u8; value_bytes];
    let raw_path = dir.join("raw.bin");
    let (elapsed, raw_bytes) = median_of(REPEATS, || timed(|| raw_write(&raw_path, &value, records)));
    let raw_write_rate = row("raw: framed write + CRC, 1 MiB buffer", records, raw_bytes, elapsed, None);
    let (elapsed, _) = median_of(REPEATS, || timed(|| raw_read(&raw_path, true)));
    let raw_read_rate = row("raw: mmap walk + CRC check", records, raw_bytes, elapsed, None);
    let (elapsed, _) = median_of(REPEATS, || timed(|| raw_read(&raw_path, false)));
    row("raw: mmap walk, no CRC check", records, raw_bytes, elapsed, Some(raw_read_rate));
    std::fs::remove_file(&raw_path).unwrap();

    let part = dir.join("p");
    let (elapsed, bytes) = median_of(REPEATS, || {
        let _ = std::fs::remove_dir_all(&part);
        let partition = Partition::open(&part, PartitionOptions::default()).unwrap();
        let record = NewRecord::new(&value);
        let out = timed(|| {
            for _ in 0..records {
                black_box(partition.append(&record).unwrap());
            }
        });
        (out.0, partition.size_bytes())
    });
    row("larder: append one at a time", records, bytes, elapsed, Some(raw_write_rate));
    let (elapsed, bytes) = median_of(REPEATS, || {
        let _ = std::fs::remove_dir_all(&part);
        let partition = Partition::open(&part, PartitionOptions::default()).unwrap();
        let batch = vec![NewRecord::new(&value); 1000];
        let out = timed(|| {
            for _ in 0..records / 1000 {
                black_box(partition.append_batch(&batch).unwrap());
            }
        });
        (out.0, partition.size_bytes())
    });
    row("larder: append batches of 1000", records, bytes, elapsed, Some(raw_write_rate));
    let partition = Partition::open(&part, PartitionOptions::default()).unwrap();
    let (elapsed, _) = median_of(REPEATS, || {
        timed(|| {
            let mut sum = 0usize;
            for record in partition.iter_from(0) {
                sum += record.unwrap().value().map_or(0, <[u8]>::len);
            }
            assert_eq!(sum, records as usize * value_bytes);
        })
    });
    row("larder: sequential read, iter_from", records, bytes, elapsed, Some(raw_read_rate));
    let (elapsed, _) = median_of(REPEATS, || {
        timed(|| {
            let (mut offset, mut sum) = (0, 0usize);
            while offset < records {
                let batch = partition.read_batch(offset, 500).unwrap();
                for record in &batch {
                    sum += record.value().map_or(0, <[u8]>::len);
                }
                offset = batch.next_offset();
            }
            assert_eq!(sum, records as usize * value_bytes);
        })
    });
    row("larder: sequential read, read_batch(500)", records, bytes, elapsed, Some(raw_read_rate));
    drop(partition);
    std::fs::remove_dir_all(&part).unwrap();
}

/// Writes `records` frames of `length u32 | crc32c u32 | payload`, the CRC
/// computed for each frame as any framing writer must (payloads differ in
/// real use; black_box keeps the compiler from hoisting it out of the loop).
fn raw_write(path: &Path, value: &[u8], records: u64) -> u64 {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    for _ in 0..records {
        let crc = crc32c::crc32c(black_box(value));
        out.write_all(&((value.len() + 8) as u32).to_le_bytes()).unwrap();
        out.write_all(&crc.to_le_bytes()).unwrap();
        out.write_all(value).unwrap();
    }
    out.flush().unwrap();
    records * (value.len() as u64 + 8)
}

fn raw_read(path: &Path, check_crc: bool) -> usize {
    let file = File::open(path).unwrap();
    // SAFETY: a benchmark reading a file nothing else writes.
    let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    let (mut at, mut sum) = (0usize, 0usize);
    while at + 8 <= map.len() {
        let len = u32::from_le_bytes(map[at..at + 4].try_into().unwrap()) as usize;
        let payload = &map[at + 8..at + len];
        if check_crc {
            let stored = u32::from_le_bytes(map[at + 4..at + 8].try_into().unwrap());
            assert_eq!(stored, crc32c::crc32c(payload));
        }
        sum += black_box(payload).len();
        at += len;
    }
    sum
}

fn random_reads(dir: &Path, records: u64, overhead_ns: u64) {
    let part = dir.join(format!("random-{records}"));
    let partition = Partition::open(&part, PartitionOptions::default()).unwrap();
    let value = [0x5Au8; 100];
    let batch = vec![NewRecord::new(&value); 1000];
    for _ in 0..records / 1000 {
        partition.append_batch(&batch).unwrap();
    }
    let mut state = 0x1234_5678_9ABC_DEF1u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % records
    };
    for offset in 0..records {
        black_box(partition.read(offset).unwrap()); // fault every page in once
    }
    let samples_wanted = 1_000_000;
    let (_, mut samples) = median_of(REPEATS, || {
        let mut samples = Vec::with_capacity(samples_wanted);
        let start = Instant::now();
        for _ in 0..samples_wanted {
            let offset = next();
            let t = Instant::now();
            let record = partition.read(offset).unwrap();
            black_box(record.value());
            samples.push((t.elapsed().as_nanos() as u64).saturating_sub(overhead_ns));
        }
        (start.elapsed(), samples)
    });
    samples.sort_unstable();
    let (elapsed, _) = median_of(REPEATS, || {
        timed(|| {
            for _ in 0..samples_wanted {
                black_box(partition.read(next()).unwrap());
            }
        })
    });
    let (size, segments) = (partition.size_bytes(), partition.segment_count());
    drop(partition); // a clean close cuts every log to its data
    let floor = raw_random_load_ns(&part, next_sample_seed(records), samples_wanted, overhead_ns);
    println!(
        "raw: one random 8-byte load from the same {:.3} GiB of logs:        p50 {:>4} ns  p99 {:>5} ns",
        size as f64 / (1u64 << 30) as f64,
        floor.0,
        floor.1
    );
    println!(
        "larder: random read, {records:>9} records in {} segment(s): p50 {:>4} ns  p99 {:>5} ns  ({:.1} ns/read untimed, {:.2} M reads/s)",
        segments,
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        elapsed.as_nanos() as f64 / samples_wanted as f64,
        samples_wanted as f64 / elapsed.as_secs_f64() / 1e6,
    );
    std::fs::remove_dir_all(&part).unwrap();
}

fn next_sample_seed(records: u64) -> u64 {
    records.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
}

/// The memory floor of a random read: one dependent load at a random
/// position of every `.log` file of the partition (mapped as larder maps
/// them), timed like larder's reads. Returns (p50, p99) in ns.
fn raw_random_load_ns(part: &Path, mut state: u64, samples: usize, overhead_ns: u64) -> (u64, u64) {
    let maps: Vec<memmap2::Mmap> = std::fs::read_dir(part)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| {
            let file = File::open(p).unwrap();
            // SAFETY: a benchmark reading segment files; the partition only
            // appends past what this map reads.
            unsafe { memmap2::Mmap::map(&file) }.unwrap()
        })
        .collect();
    let mut sum = 0u64;
    for map in &maps {
        for page in (0..map.len()).step_by(4096) {
            sum = sum.wrapping_add(map[page] as u64); // fault every page in once
        }
    }
    let total: usize = maps.iter().map(|m| m.len() / 8).sum();
    let mut samples_ns = Vec::with_capacity(samples);
    for _ in 0..samples {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut slot = (state as usize ^ sum as usize & 1) % total;
        let map = maps.iter().find(|m| {
            let fits = slot < m.len() / 8;
            if !fits {
                slot -= m.len() / 8;
            }
            fits
        });
        let map = map.unwrap();
        let t = Instant::now();
        let word = u64::from_le_bytes(map[slot * 8..slot * 8 + 8].try_into().unwrap());
        black_box(word);
        samples_ns.push((t.elapsed().as_nanos() as u64).saturating_sub(overhead_ns));
    }
    samples_ns.sort_unstable();
    (percentile(&samples_ns, 50.0), percentile(&samples_ns, 99.0))
}

fn reopen(dir: &Path, target_bytes: u64) {
    let part = dir.join("reopen");
    let value = [0x33u8; 100];
    let batch = vec![NewRecord::new(&value); 1000];
    let partition = Partition::open(&part, PartitionOptions::default()).unwrap();
    while partition.size_bytes() < target_bytes {
        partition.append_batch(&batch).unwrap();
    }
    let (records, bytes) = (partition.end_offset(), partition.size_bytes());
    partition.close().unwrap();
    let (elapsed, _) = median_of(REPEATS, || {
        let (elapsed, partition) = timed(|| Partition::open(&part, PartitionOptions::default()).unwrap());
        assert_eq!(partition.end_offset(), records);
        assert!(partition.recovery_report().clean_shutdown);
        drop(partition); // a clean close, not timed
        (elapsed, ())
    });
    println!(
        "larder: reopen {:.2} GiB / {records} records after clean close: {:.2} ms",
        bytes as f64 / (1u64 << 30) as f64,
        elapsed.as_secs_f64() * 1e3
    );
    let (elapsed, _) = median_of(3, || {
        Partition::open(&part, PartitionOptions::default()).unwrap().simulate_crash();
        let (elapsed, partition) = timed(|| Partition::open(&part, PartitionOptions::default()).unwrap());
        assert_eq!(partition.end_offset(), records);
        assert_eq!(partition.recovery_report().segments_scanned, 1);
        drop(partition);
        (elapsed, ())
    });
    println!(
        "larder: reopen after a crash (active segment scanned, index rebuilt): {:.1} ms",
        elapsed.as_secs_f64() * 1e3
    );
    std::fs::remove_dir_all(&part).unwrap();
}
